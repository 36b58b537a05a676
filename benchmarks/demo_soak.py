"""Soak test of the demo: many concurrent clients for a few thousand calls, the server's memory recorded throughout.

Usage (from the repository root):

    python benchmarks/demo_soak.py [--clients 32] [--calls 4096] [--calls-per-session 8] [--app-arg=--max-sessions --app-arg=64]
                                   [--out benchmarks/results/demo_soak.json]

`demo/app.py` is started once on loopback, with its own Gradio cache folder (`GRADIO_TEMP_DIR`, a
temporary folder). `--clients` threads, each with its own `gradio_client.Client`, call the public
endpoints in turn (the arguments of benchmarks/demo_latency.py; the endpoints with a seed get a new
seed per call, so the reconstruction and sampling outputs are all different, while the others repeat
identical outputs, as when several users look at the same thing). Every output file is downloaded
over HTTP and checked: the body must have the declared Content-Length and decode as an image.
Users come and go: each client is replaced by a new one (a new session for Gradio) every
`--calls-per-session` calls, since Gradio keeps some memory per session (see MAX_SESSIONS in
demo/app.py).

Recorded: the server's resident memory (VmRSS, split into anonymous memory and mapped files from
/proc/<pid>/status) every `--sample-every` calls, failed calls by kind, and the size of the cache
folder at the end. "Levels off" is judged on the anonymous memory: its growth per 1,000 calls over
the last half of the run, against the first half (after the warm-up pass that loads every model).

Linux only (/proc). Writes the JSON results and prints a summary.
"""

from __future__ import annotations

import argparse
import collections
import io
import itertools
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_latency import APP, endpoint_calls, first_call, load_average, start, stop  # noqa: E402

SEEDED = {"/reconstruct": 2, "/sample": 3, "/sample_digit": 3, "/sample_layers": 2, "/compare": 1}  # endpoint -> index of its seed argument


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of a process, in MB (from /proc/<pid>/status)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024  # kB -> MB
    return {"rss_mb": round(fields["VmRSS"], 1), "anon_mb": round(fields["RssAnon"], 1), "file_mb": round(fields["RssFile"], 1)}


def folder_size(folder: Path) -> dict[str, float]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"files": len(files), "mb": round(sum(p.stat().st_size for p in files) / 1e6, 2)}


def output_files(value: Any) -> list[dict[str, Any]]:
    """The file payloads (dicts with a url) in an endpoint's output."""
    if isinstance(value, dict):
        return [value] if value.get("url") and value.get("path") else []
    if isinstance(value, (list, tuple)):
        return [f for v in value for f in output_files(v)]
    return []


def check_download(http: Any, file: dict[str, Any]) -> None:
    """GET one output file: complete (the declared Content-Length) and a decodable image, else an exception.

    `http` must not keep connections alive between calls: the server closes an idle connection
    after 5 s (uvicorn's keep-alive timeout), and a request sent on it at that moment fails with a
    reset that says nothing about the demo (browsers retry such requests, httpx does not)."""
    from PIL import Image

    r = http.get(file["url"])
    r.raise_for_status()
    declared = int(r.headers["content-length"])
    if declared != len(r.content):
        raise ValueError(f"{len(r.content)} bytes received, {declared} declared")
    with Image.open(io.BytesIO(r.content)) as image:
        image.load()


def with_seed(api: str, call_args: tuple[Any, ...], seed: int) -> tuple[Any, ...]:
    if api not in SEEDED:
        return call_args
    i = SEEDED[api]
    return (*call_args[:i], seed, *call_args[i + 1 :])


def soak(
    url: str, pid: int, clients: int, calls: int, sample_every: int, drawing: Path, calls_per_session: int = 0
) -> dict[str, Any]:
    """`calls` calls from `clients` threads, each with its own client (all connected before the first call).

    With `calls_per_session` > 0 a thread closes its client after that many calls and connects a
    new one, a new session for the server, as when users come and go."""
    import httpx
    from gradio_client import Client, handle_file

    plan = list(endpoint_calls(handle_file, drawing, "default").items())
    counter = itertools.count()
    lock = threading.Lock()
    failures: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    samples: list[dict[str, Any]] = []
    done = [0]

    def record() -> None:
        samples.append({"calls": done[0], "seconds": round(time.perf_counter() - t0, 1), **memory_mb(pid)})

    def worker(client: Client) -> None:
        made = 0
        with httpx.Client(timeout=120, limits=httpx.Limits(max_keepalive_connections=0)) as http:
            while (i := next(counter)) < calls:
                api, call_args = plan[i % len(plan)]
                stage = "call"
                try:
                    if calls_per_session and made == calls_per_session:
                        stage, made = "connect", 0
                        client.close()
                        client = Client(url, verbose=False, download_files=False)
                        stage = "call"
                    made += 1
                    out = client.predict(*with_seed(api, call_args, i), api_name=api)
                    stage = "download"
                    for file in output_files(out):
                        check_download(http, file)
                except Exception as err:  # noqa: BLE001 - every failure is counted, the soak goes on
                    kind = f"{api} ({stage}): {type(err).__name__}"
                    with lock:
                        failures[kind] += 1
                        examples.setdefault(kind, str(err)[:300])
                with lock:
                    done[0] += 1
                    if done[0] % sample_every == 0:
                        record()
        client.close()

    connected = [Client(url, verbose=False, download_files=False) for _ in range(clients)]
    t0 = time.perf_counter()  # the clock starts with the calls
    threads = [threading.Thread(target=worker, args=(client,), daemon=True) for client in connected]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record()
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "samples": samples,
        "failed_calls": sum(failures.values()),
        "failures": dict(failures),
        "failure_examples": examples,
    }


def growth_per_1000(samples: list[dict[str, Any]], key: str) -> float:
    """Least-squares slope of `key` against the call count, in MB per 1,000 calls."""
    xs, ys = [s["calls"] for s in samples], [s[key] for s in samples]
    if len(xs) < 2:
        return float("nan")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else float("nan")


def summary(result: dict[str, Any]) -> str:
    s = result["soak"]["samples"]
    half = len(s) // 2
    first, last = growth_per_1000(s[: half + 1], "anon_mb"), growth_per_1000(s[half:], "anon_mb")
    start_mem, warm = result["memory_at_start"], result["memory_after_warmup"]
    lines = [
        f"{result['calls']} calls from {result['clients']} clients in {result['soak']['seconds']:.0f} s; "
        f"failed: {result['soak']['failed_calls']} {result['soak']['failures'] or ''}",
        f"RSS (MB): {start_mem['rss_mb']:.0f} at start, {warm['rss_mb']:.0f} after one call of each endpoint, "
        + ", ".join(f"{x['rss_mb']:.0f} after {x['calls']}" for x in s[:: max(1, len(s) // 8)])
        + f", {s[-1]['rss_mb']:.0f} at the end ({s[-1]['calls']} calls)",
        f"anonymous memory growth: {first:.1f} MB per 1,000 calls in the first half, {last:.1f} in the second half",
        f"Gradio cache folder at the end: {result['cache_folder']['files']} files, {result['cache_folder']['mb']} MB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=32, help="concurrent client threads (default 32)")
    p.add_argument("--calls", type=int, default=4096, help="calls in all (default 4096)")
    p.add_argument("--sample-every", type=int, default=128, help="record the memory every N calls (default 128)")
    p.add_argument(
        "--calls-per-session",
        type=int,
        default=8,
        help="calls a client makes before it is replaced by a new one, a new server session (default 8; 0: never)",
    )
    p.add_argument("--app", type=Path, default=APP, help="the app to soak (default demo/app.py; another copy to compare)")
    p.add_argument("--app-arg", action="append", default=[], help="extra argument for the app (repeatable)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "demo_soak.json")
    args = p.parse_args(argv)
    if not Path("/proc/self/status").is_file():
        raise SystemExit("demo_soak.py reads the server's memory from /proc: Linux only")
    if args.clients < 1 or args.calls < 1 or args.sample_every < 1 or args.calls_per_session < 0:
        raise SystemExit("--clients, --calls and --sample-every must be at least 1, --calls-per-session at least 0")

    from gradio_client import handle_file
    from PIL import Image, ImageDraw

    result: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/demo_soak.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "clients": args.clients,
        "calls": args.calls,
        "calls_per_session": args.calls_per_session,
        "load_before": load_average(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "gradio-cache"
        drawing = Path(tmp) / "drawing.png"
        image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
        ImageDraw.Draw(image).line([(140, 50), (130, 230)], fill=(0, 0, 0, 255), width=24)
        image.save(drawing)
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(cache)}
        proc, url = start([str(args.app), *args.app_arg], env)
        try:
            first_call(url, proc, "/drawing_to_image", ({"background": None, "layers": [], "composite": handle_file(drawing)},))
            result["memory_at_start"] = memory_mb(proc.pid)
            warm = soak(url, proc.pid, 1, len(endpoint_calls(handle_file, drawing, "default")), 10**9, drawing)
            result["memory_after_warmup"] = memory_mb(proc.pid)
            result["warmup_failures"] = warm["failures"]
            result["soak"] = soak(url, proc.pid, args.clients, args.calls, args.sample_every, drawing, args.calls_per_session)
            result["cache_folder"] = folder_size(cache)
        finally:
            stop(proc)
    s = result["soak"]["samples"]
    half = len(s) // 2
    result["anon_growth_mb_per_1000_calls"] = {
        "first_half": round(growth_per_1000(s[: half + 1], "anon_mb"), 2),
        "second_half": round(growth_per_1000(s[half:], "anon_mb"), 2),
    }
    result["load_after"] = load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

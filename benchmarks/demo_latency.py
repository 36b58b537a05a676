"""Latency of the demo's endpoints and its cold start, each against a bare Gradio baseline.

Usage (from the repository root, on an otherwise idle machine):

    python benchmarks/demo_latency.py [--calls 50] [--warmup 5] [--cold-runs 3] [--out benchmarks/results/demo_latency.json]

1. **Endpoint latency.** `demo/app.py --echo` is started once; it then also serves a hidden `/echo`
   endpoint (a Textbox that returns its input: a bare Gradio round trip through the same queue,
   server and client). Every endpoint is called `--calls` times with gradio_client over loopback,
   each call followed by an echo call, so both see the same machine load. Reported: p50 and p95 of
   the wall time of `Client.predict`, (a) until the response arrives (input files uploaded, queue,
   compute, output files written; the client does not fetch them: `download_files=False`), the
   ratio of its p50 to the echo's p50 (target <= 1.3), and (b) with the client also downloading
   every output file, one HTTP request each (what a script that reads the pictures pays).
   The clients of (a) and (b) are given one TLS context built up front (`ssl_verify=CONTEXT`,
   certificates still verified): gradio_client otherwise opens a new `httpx` client, and so loads
   the system's certificate store again, for every HTTP request it makes, even over plain http —
   about 40 ms each on this machine (measured below as `client_setup_ms`), paid once per call by
   the echo and once more per uploaded file by the image endpoints, which would swamp what the
   server does. (c) The same calls with a stock `Client(url)` are reported beside them. A streamed
   endpoint (`STREAMED`) is judged by its own time target, for the full run and the first update,
   not by the ratio, and the summary counts it apart from the others.
2. **Cold start.** Time from launching `python demo/app.py` until its first successful API call
   (`/sample` with the default model, which loads the model), against a bare Gradio app with one
   echo endpoint started the same way (`python <bare app> --port N`, first call `/echo`); the
   median of `--cold-runs` alternating runs (target <= 1.5x).

Writes the JSON results (with the machine's load average before and after) and prints Markdown tables;
`--write` also puts them into docs/demo.md, and `--render [--write]` redoes that from the saved JSON
without measuring (tests/test_benchmarks.py checks the page holds the tables of the saved results).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "demo" / "app.py"
DOC = ROOT / "docs" / "demo.md"  # holds the tables between <!-- demo-latency:start --> and <!-- demo-latency:end -->
EXAMPLES = ROOT / "demo" / "examples"
TARGET_LATENCY, TARGET_COLD = 1.3, 1.5
STREAMED = {"/repair": 1.0}  # generator endpoints: their target is the full run, in seconds (issue 20), and the first update too
CONTEXT = ssl.create_default_context()  # one TLS context for every request of the timed clients (see above)

BARE_APP = '''"""A bare Gradio app with one echo endpoint, launched like demo/app.py (baseline of the cold-start benchmark)."""
import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
import gradio as gr


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    args = p.parse_args()
    with gr.Blocks(analytics_enabled=False) as demo:
        box = gr.Textbox()
        box.submit(lambda text: text, box, box, api_name="echo")
    demo.queue(default_concurrency_limit=2)
    demo.launch(server_name=args.host, server_port=args.port, footer_links=["api"], mcp_server=False)


if __name__ == "__main__":
    main()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, *args, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def first_call(url: str, proc: subprocess.Popen, api_name: str, call_args: tuple[Any, ...], timeout: float = 180.0) -> None:
    """Poll until the server answers, then make one API call (raises if the process dies or times out)."""
    import httpx
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/gradio_api/info", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    Client(url, verbose=False).predict(*call_args, api_name=api_name)


def cold_start(runs: int, env: dict[str, str], default_model: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_app.py"
        bare.write_text(BARE_APP)
        times: dict[str, list[float]] = {"bare": [], "demo": []}
        for _ in range(runs):
            for name, script, api, call_args in (
                ("bare", bare, "/echo", ("hello",)),
                ("demo", APP, "/sample", (default_model, 36, 1.0, 0)),
            ):
                t0 = time.perf_counter()
                proc, url = start([str(script)], env)
                try:
                    first_call(url, proc, api, call_args)
                    times[name].append(time.perf_counter() - t0)
                finally:
                    stop(proc)
    bare_s, demo_s = statistics.median(times["bare"]), statistics.median(times["demo"])
    return {
        "bare_seconds": times["bare"],
        "demo_seconds": times["demo"],
        "bare_median_s": bare_s,
        "demo_median_s": demo_s,
        "ratio": demo_s / bare_s,
        "target": TARGET_COLD,
        "passed": demo_s / bare_s <= TARGET_COLD,
    }


def endpoint_calls(handle_file: Any, drawing: Path, default_model: str) -> dict[str, tuple[Any, ...]]:
    """Each endpoint with the arguments the page uses by default."""
    a, b = handle_file(EXAMPLES / "7_00000.png"), handle_file(EXAMPLES / "1_00002.png")
    return {
        "/drawing_to_image": ({"background": None, "layers": [], "composite": handle_file(drawing)},),
        "/reconstruct": (a, default_model, 0),
        "/sample": (default_model, 36, 1.0, 0),
        "/sample_digit": (3, 36, 1.0, 0),
        "/sample_layers": (6, 7, 0),
        "/interpolate": (b, a, default_model, 10, "spherical"),
        "/latent_map": ("latent2d",),
        "/manifold": ("latent2d", 15),
        "/decode_point": ("latent2d", 0.5, -0.5),
        "/compare": (25, 0),
        "/traverse": (a, default_model, 0, 3.0, 11),
        "/damage": (a, "top half", 0.5, 14, None, 0),
        "/repair": (a, "top half", 0.5, 14, None, 0, 100),
        "/compress": (7, 1, 8),
        "/compression_maps": (),
        "/classify": (a, 100),
        "/anomaly_score": (a,),
        "/anomaly_example": ("letters", 0),
    }


def client_setup_ms(url: str, repeats: int = 20) -> dict[str, float]:
    """Median time of one small HTTP GET made the way gradio_client makes it (a new `httpx` client each time), with the
    certificate store loaded anew (stock) and with a prebuilt TLS context; and on one kept-alive connection."""
    import httpx

    def median_ms(get: Any) -> float:
        get()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            get()
            times.append(time.perf_counter() - t)
        return 1000 * statistics.median(times)

    with httpx.Client() as kept:
        return {
            "new_client_stock_ms": median_ms(lambda: httpx.get(f"{url}/gradio_api/info")),
            "new_client_prebuilt_context_ms": median_ms(lambda: httpx.get(f"{url}/gradio_api/info", verify=CONTEXT)),
            "kept_alive_connection_ms": median_ms(lambda: kept.get(f"{url}/gradio_api/info")),
        }


def latency(calls: int, warmup: int, env: dict[str, str], default_model: str) -> dict[str, Any]:
    from gradio_client import Client, handle_file
    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as tmp:
        drawing = Path(tmp) / "drawing.png"
        image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
        ImageDraw.Draw(image).line([(140, 50), (130, 230)], fill=(0, 0, 0, 255), width=24)
        image.save(drawing)
        proc, url = start([str(APP), "--echo"], env)
        try:
            first_call(url, proc, "/echo", ("hello",))
            respond = Client(url, verbose=False, download_files=False, ssl_verify=CONTEXT)  # response only
            fetch = Client(url, verbose=False, download_files=tmp, ssl_verify=CONTEXT)  # response, then every output file
            stock = Client(url, verbose=False, download_files=False)  # a new TLS context per HTTP request
            results: dict[str, Any] = {}
            echo_all: list[float] = []
            setup = client_setup_ms(url)

            def timed(client: Any, call_args: tuple[Any, ...], api: str) -> float:
                t = time.perf_counter()
                client.predict(*call_args, api_name=api)
                return time.perf_counter() - t

            def first_update(client: Any, call_args: tuple[Any, ...], api: str) -> float:
                t = time.perf_counter()
                job = client.submit(*call_args, api_name=api)
                next(iter(job))  # the first streamed update
                first = time.perf_counter() - t
                job.result()
                return first

            for api, call_args in endpoint_calls(handle_file, drawing, default_model).items():
                for _ in range(warmup):
                    timed(respond, call_args, api), timed(fetch, call_args, api), timed(respond, ("hello",), "/echo")
                own, own_fetch, echo, own_stock, echo_stock = [], [], [], [], []
                for _ in range(calls):
                    own.append(timed(respond, call_args, api))
                    echo.append(timed(respond, ("hello",), "/echo"))
                    own_fetch.append(timed(fetch, call_args, api))
                    own_stock.append(timed(stock, call_args, api))
                    echo_stock.append(timed(stock, ("hello",), "/echo"))
                echo_all += echo
                results[api] = {
                    "p50_ms": 1000 * statistics.median(own),
                    "p95_ms": 1000 * percentile(own, 95),
                    "with_downloads_p50_ms": 1000 * statistics.median(own_fetch),
                    "with_downloads_p95_ms": 1000 * percentile(own_fetch, 95),
                    "echo_p50_ms": 1000 * statistics.median(echo),
                    "echo_p95_ms": 1000 * percentile(echo, 95),
                    "ratio_p50": statistics.median(own) / statistics.median(echo),
                    "with_downloads_ratio_p50": statistics.median(own_fetch) / statistics.median(echo),
                    "stock_client_p50_ms": 1000 * statistics.median(own_stock),
                    "stock_client_echo_p50_ms": 1000 * statistics.median(echo_stock),
                    "stock_client_ratio_p50": statistics.median(own_stock) / statistics.median(echo_stock),
                    "calls": calls,
                }
                results[api]["passed"] = results[api]["ratio_p50"] <= TARGET_LATENCY
                if api in STREAMED:  # the target is the full run (p50 above) and the first update, not the echo ratio
                    first = [first_update(respond, call_args, api) for _ in range(calls)]
                    results[api].update(first_update_p50_ms=1000 * statistics.median(first), target_full_run_s=STREAMED[api])
                    results[api]["passed"] = max(results[api]["p50_ms"], results[api]["first_update_p50_ms"]) <= 1000 * STREAMED[api]
        finally:
            stop(proc)
    return {
        "endpoints": results,
        "echo_p50_ms": 1000 * statistics.median(echo_all),
        "echo_p95_ms": 1000 * percentile(echo_all, 95),
        "client_setup_ms": setup,
        "target_ratio": TARGET_LATENCY,
    }


def markdown(result: dict[str, Any]) -> str:
    lat, cold = result["latency"], result["cold_start"]
    lines = [
        "| endpoint | p50 (ms) | p95 (ms) | echo p50 (ms) | p50 / echo | with downloads: p50 (ms) | p50 / echo "
        "| stock client: p50 (ms) | p50 / echo |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for api, r in lat["endpoints"].items():
        mark = "" if r["passed"] else " ✗"
        lines.append(
            f"| `{api}` | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['echo_p50_ms']:.1f} | {r['ratio_p50']:.2f}{mark} "
            f"| {r['with_downloads_p50_ms']:.1f} | {r['with_downloads_ratio_p50']:.2f} "
            f"| {r['stock_client_p50_ms']:.1f} | {r['stock_client_ratio_p50']:.2f} |"
        )
    stock_echo = statistics.median(r["stock_client_echo_p50_ms"] for r in lat["endpoints"].values())
    lines.append(f"| `/echo` (bare Gradio, all calls) | {lat['echo_p50_ms']:.1f} | {lat['echo_p95_ms']:.1f} | | 1.00 | | "
                 f"| {stock_echo:.1f} | 1.00 |")
    setup = lat["client_setup_ms"]
    lines += [
        "",
        f"One HTTP GET through a new `httpx` client, as gradio_client makes every request: {setup['new_client_stock_ms']:.1f} ms "
        f"(certificate store loaded anew), {setup['new_client_prebuilt_context_ms']:.1f} ms (prebuilt TLS context); "
        f"on a kept-alive connection: {setup['kept_alive_connection_ms']:.1f} ms.",
    ]
    if cold:
        lines += [
            "",
            "| cold start until the first API call | median (s) | runs (s) |",
            "|---|---:|---|",
            f"| bare Gradio app (`/echo`) | {cold['bare_median_s']:.2f} | {', '.join(f'{t:.2f}' for t in cold['bare_seconds'])} |",
            f"| `python demo/app.py` (`/sample`) | {cold['demo_median_s']:.2f} | {', '.join(f'{t:.2f}' for t in cold['demo_seconds'])} |",
            f"| ratio (target <= {cold['target']}) | {cold['ratio']:.2f} | |",
        ]
    # a streamed endpoint is judged against its own time target, not the echo ratio: it is not counted with the others
    plain = {api: r for api, r in lat["endpoints"].items() if "first_update_p50_ms" not in r}
    passed = sum(r["passed"] for r in plain.values())
    stock = [api for api, r in plain.items() if r["stock_client_ratio_p50"] > lat["target_ratio"]]
    summary = (f"**{passed} of {len(plain)} non-streamed endpoints** are within {lat['target_ratio']}× of the echo's p50 "
               f"(the target's measure). With a stock client, {len(plain) - len(stock)} of {len(plain)} are"
               + (f"; over it: {', '.join(f'`{api}`' for api in stock)}." if stock else "."))
    streamed = [f"`{api}` (streamed) runs in {r['p50_ms']:.0f} ms, its first update arrives in {r['first_update_p50_ms']:.0f} ms "
                f"(p50), so it {'meets' if r['passed'] else 'misses'} its own target of {1000 * r['target_full_run_s']:.0f} ms "
                f"for both" for api, r in lat["endpoints"].items() if "first_update_p50_ms" in r]
    if streamed:
        summary += " " + "; ".join(streamed) + "."
    if cold:
        summary += f" Cold start: {cold['ratio']:.2f}× the bare app's (target {cold['target']}×{'' if cold['passed'] else ', missed'})."
    lines += ["", summary, "",
              f"Load average before/after: {result['load_before']} / {result['load_after']} on {result['cpu_count']} CPUs."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=50, help="timed calls per endpoint (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per endpoint first (default 5)")
    p.add_argument("--cold-runs", type=int, default=3, help="cold starts of each app (default 3; 0 skips)")
    p.add_argument("--model", default="default", help="model for the endpoints with a selector (default: default)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "demo_latency.json")
    p.add_argument("--write", action="store_true", help=f"also put the tables into {DOC.relative_to(ROOT)}")
    p.add_argument("--render", action="store_true", help="measure nothing: print (and with --write, write) the tables of --out")
    args = p.parse_args(argv)
    if args.render:
        result = json.loads(args.out.read_text())
        print(markdown(result))
        if args.write:
            write_doc(result)
        return

    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    load_before = load_average()
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load_before} on {os.cpu_count()} CPUs: the numbers will be noisy", file=sys.stderr)
    result: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/demo_latency.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_before": load_before,
    }
    import gradio
    import gradio_client
    import torch

    result["versions"] = {"gradio": gradio.__version__, "gradio_client": gradio_client.__version__, "torch": torch.__version__}
    result["latency"] = latency(args.calls, args.warmup, env, args.model)
    result["cold_start"] = cold_start(args.cold_runs, env, args.model) if args.cold_runs > 0 else None
    result["load_after"] = load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    print(f"\nwrote {args.out}")
    if args.write:
        write_doc(result)


def write_doc(result: dict[str, Any]) -> None:
    """Replace the block between the demo-latency markers of docs/demo.md with the result's tables."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from docs_blocks import write_block

    write_block(DOC, "demo-latency", markdown(result))
    print(f"wrote the tables into {DOC}")


if __name__ == "__main__":
    main()

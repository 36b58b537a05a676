"""Many clients at once, all getting the same pictures: every call succeeds and every download is complete.

Sixteen threads, each with its own gradio_client, call endpoints whose outputs are identical from
call to call (same model, seed and settings, as when several users look at the same thing) and
download every output file right away over HTTP, loopback only. Two races used to break this:

- Gradio names a picture's cache file after its content and rewrote it in place on every request,
  so a download of a file that another request was rewriting ended short or empty (the server
  logged `h11 LocalProtocolError: Too much/little data for declared Content-Length`). Fixed by
  `widgets.CachedImage`, which writes each picture once, atomically.
- The interpolation's GIF went through a temporary-file rotation that kept the newest 64 files;
  two requests pruning at once failed with `No such file or directory`. Fixed by handing Gradio the
  GIF's bytes (no temporary files of the demo's own).

Bounded: 3 x THREADS x ROUNDS calls (768), and a deadline after which the threads stop. The rotation
race needed two interpolations pruning at once after the first 64: on the unfixed code 1 to 2% of
them failed, so the test makes 512; with the cache race, 5 to 18% of all calls failed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from demo_server import ROOT, THIRD_PARTY_WARNINGS, demo_module, demo_url, example
from gradio_client import Client, handle_file
from PIL import Image

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

THREADS = 16
ROUNDS = 16  # per thread: two interpolations and one other call each round
DEADLINE_S = 240.0  # the threads stop starting calls after this, however far they got
OTHERS = [  # (api, arguments, shape of the output picture); each call gives the same picture
    ("/sample", ("default", 16, 1.0, 0), (112, 112)),
    ("/decode_point", ("latent2d", 0.5, -0.5), (28, 28)),
    ("/manifold", ("latent2d", 15), (420, 420)),
    ("/sample_digit", (3, 9, 1.0, 0), (84, 84)),
]
STEPS = 2  # interpolation steps: a small GIF, so the calls are quick and many


def download(http: httpx.Client, file: dict[str, Any]) -> bytes:
    """The bytes of an output file, checked against the declared Content-Length.

    `http` opens a new connection per request: on a kept-alive one, a request can cross the server's
    closing of the idle connection (uvicorn's 5 s keep-alive timeout) and fail with a reset that
    says nothing about the demo (browsers retry such requests; httpx does not)."""
    r = http.get(file["url"])
    r.raise_for_status()
    declared = int(r.headers["content-length"])
    if len(r.content) != declared:
        raise AssertionError(f"{file['url']}: {len(r.content)} bytes received, {declared} declared")
    return r.content


def picture(data: bytes) -> tuple[str, np.ndarray, int]:
    """Format, first frame as gray levels and frame count of an encoded picture (raises if it does not decode)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.format, np.asarray(image.convert("L")), getattr(image, "n_frames", 1)


def test_identical_outputs_under_concurrent_load() -> None:
    url = demo_url()
    failures: Counter[str] = Counter()
    first_error: dict[str, str] = {}
    contents: dict[str, set[bytes]] = {}
    done = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + DEADLINE_S
    a, b = example(1), example(8)

    def check(api: str, files: list[dict[str, Any]], http: httpx.Client, shape: tuple[int, int] | None) -> None:
        for i, file in enumerate(files):
            data = download(http, file)
            fmt, pixels, frames = picture(data)
            if api == "/interpolate" and i == 1:
                assert fmt == "GIF" and frames == 2 * STEPS - 2, (fmt, frames)
            elif shape is not None:
                assert fmt == "PNG" and pixels.shape == shape, (fmt, pixels.shape)
            with lock:
                contents.setdefault(f"{api}[{i}]", set()).add(data)

    def call(client: Client, http: httpx.Client, api: str, args: tuple[Any, ...], shape: tuple[int, int] | None) -> None:
        stage = "call"
        try:
            out = client.predict(*args, api_name=api)
            stage = "download"
            check(api, [f for f in (out if isinstance(out, tuple) else (out,)) if isinstance(f, dict)], http, shape)
            with lock:
                done[api] += 1
        except Exception as err:  # noqa: BLE001 - every failure is collected and reported below
            kind = f"{api} ({stage}): {type(err).__name__}"
            with lock:
                failures[kind] += 1
                first_error.setdefault(kind, str(err)[:300])

    def worker(k: int) -> None:
        client = Client(url, verbose=False, download_files=False)
        with httpx.Client(timeout=120, limits=httpx.Limits(max_keepalive_connections=0)) as http:  # see download()
            for r in range(ROUNDS):
                if time.monotonic() > stop_at:
                    return
                interpolate = (handle_file(a), handle_file(b), "latent2d", STEPS, "linear")
                call(client, http, "/interpolate", interpolate, (28, 28 * STEPS))
                call(client, http, *OTHERS[(k + r) % len(OTHERS)])
                call(client, http, "/interpolate", interpolate, (28, 28 * STEPS))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S + 180)
    assert not any(t.is_alive() for t in threads), "calls still running long after the deadline"
    assert not failures, f"{sum(failures.values())} of {sum(failures.values()) + sum(done.values())} calls failed: " + "; ".join(
        f"{kind} x{n} ({first_error[kind]})" for kind, n in failures.items()
    )
    assert done["/interpolate"] >= THREADS * ROUNDS, done  # the deadline left enough calls to mean something
    # identical calls gave byte-identical files: no download saw another request's half-written file
    assert all(len(versions) == 1 for versions in contents.values()), {k: len(v) for k, v in contents.items()}


# -- the cache writes themselves (no server) -----------------------------------------------------
@pytest.fixture(scope="module")
def widgets():
    """demo/widgets.py, imported under the name the demo's own modules use."""
    return demo_module("widgets")


def test_cache_file_is_written_once_per_period_and_leaves_no_partial_files(widgets, tmp_path: Path, monkeypatch) -> None:
    now = [555 * widgets.CACHE_SECONDS / 2]  # the start of a period
    monkeypatch.setattr(widgets.time, "time", lambda: now[0])
    png = widgets.encode_picture(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28), "png")
    first = Path(widgets.cache_file(png, "png", tmp_path))
    assert first.read_bytes() == png and first.name == "image.png" and first.parent.parent == tmp_path
    mtime = first.stat().st_mtime_ns
    now[0] += widgets.CACHE_SECONDS / 2 - 1  # same period: the same file, not written again
    assert Path(widgets.cache_file(png, "png", tmp_path)) == first and first.stat().st_mtime_ns == mtime
    now[0] += 1  # next period: a new name, so a file handed out is never near the clean-up's age
    second = Path(widgets.cache_file(png, "png", tmp_path))
    assert second != first and second.read_bytes() == png
    assert Path(widgets.cache_file(b"GIF89a...", "gif", tmp_path)).suffix == ".gif"
    assert not list(tmp_path.rglob("*.partial"))


def test_cache_file_from_many_threads(widgets, tmp_path: Path) -> None:
    """Threads storing the same bytes at once all get the one complete file."""
    data = bytes(range(256)) * 4096  # 1 MB: a write that takes a while
    paths: list[str] = []

    def store() -> None:
        paths.append(widgets.cache_file(data, "png", tmp_path))

    threads = [threading.Thread(target=store) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and Path(paths[0]).read_bytes() == data
    assert not list(tmp_path.rglob("*.partial"))


# -- memory -------------------------------------------------------------------------------------
def test_tune_malloc_sets_the_options_the_environment_leaves_open() -> None:
    """In a fresh interpreter (it changes the process's allocator): all three options, or all but one set by the user."""
    code = "import json, serving; print(json.dumps(serving.tune_malloc()))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def run(extra: dict[str, str]) -> dict[str, int]:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "demo", env={**env, **extra}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    assert run({}) == {"M_ARENA_MAX": 2, "M_MMAP_THRESHOLD": 32 * 2**20, "M_TRIM_THRESHOLD": 32 * 2**20}
    assert run({"MALLOC_ARENA_MAX": "4"}) == {"M_MMAP_THRESHOLD": 32 * 2**20, "M_TRIM_THRESHOLD": 32 * 2**20}


def test_the_trimming_thread_hands_freed_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """`start_trimming` calls malloc_trim(0) on its period, in a daemon thread that a set event ends."""
    import ctypes

    serving = demo_module("serving")
    calls = []

    class Libc:
        def malloc_trim(self, pad: int) -> int:
            calls.append(pad)
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    thread = serving.start_trimming(0.01)
    assert thread is not None and thread.daemon and thread.name == "malloc-trim"
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.stop.set()
    thread.join(1)
    assert calls[:3] == [0, 0, 0] and not thread.is_alive()


def test_the_soak_benchmark_runs(tmp_path: Path) -> None:
    """benchmarks/demo_soak.py on a few calls (its own server), so the script cannot rot: memory recorded, nothing failed."""
    out = tmp_path / "soak.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "demo_soak.py"), "--clients", "4", "--calls", "24",
               "--calls-per-session", "5", "--sample-every", "8", "--out", str(out)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["soak"]["failed_calls"] == 0, result["soak"]["failure_examples"]
    assert [s["calls"] for s in result["soak"]["samples"]] == [8, 16, 24, 24]
    assert all(s["rss_mb"] > 100 and s["anon_mb"] > 0 for s in result["soak"]["samples"])
    assert result["cache_folder"]["files"] > 0 and "anonymous memory growth" in run.stdout

"""A Gradio app holding only the Train tab (demo/tabs/train.py) with tiny limits, run in a subprocess by the tests.

`python tests/train_server.py --port N` builds the tab around a `live.LiveTrainer` (one torch
thread, a view every 10 steps, at most 600 steps and 60 s per run, at most 4 runs waiting) and
serves it on 127.0.0.1, with a queue of `QUEUE_SIZE` events (the app's holds 64);
`train_server()` starts it on a free port and stops it when the `with` block ends. A subprocess,
as for the full demo (tests/demo_server.py): an in-process Gradio server leaves event loops and
sockets unclosed, which `filterwarnings = error` turns into errors, and a crash stays out of pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "tests" / "artifacts" / "train_server.log"  # ignored by git
START_TIMEOUT = 120.0
VIEW_EVERY, MAX_STEPS, MAX_SECONDS = 10, 600, 60.0
QUEUE_SIZE = 8  # Gradio's queue max_size, as demo/app.py sets one (64 there): small, so a test can fill it with few requests


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "demo"))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import gradio as gr
    import torch
    from handlers import Explorer
    from live import Limits, LiveTrainer
    from tabs.train import train_tab
    from widgets import CSS, offline_theme

    torch.set_num_threads(1)
    trainer = LiveTrainer(Explorer(), limits=Limits(view_every=VIEW_EVERY, max_steps=MAX_STEPS, max_seconds=MAX_SECONDS))
    with gr.Blocks(analytics_enabled=False, title="train tab") as blocks, gr.Tab("Train"):
        train_tab(trainer)
    blocks.queue(default_concurrency_limit=2, max_size=QUEUE_SIZE)
    blocks.launch(server_name="127.0.0.1", server_port=args.port, theme=offline_theme(), css=CSS, show_error=True,
                  footer_links=["api"], mcp_server=False)


@contextlib.contextmanager
def train_server() -> Iterator[str]:
    """The URL of a running train-tab server on a free port (stopped on exit)."""
    import httpx
    from demo_server import free_port

    port = free_port()
    LOG.parent.mkdir(exist_ok=True)
    with open(LOG, "w") as log:
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, __file__, "--port", str(port)]
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the train-tab server exited with code {proc.returncode}; see {LOG}")
                try:
                    if httpx.get(f"{url}/gradio_api/info", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the train-tab server did not answer within {START_TIMEOUT:.0f} s; see {LOG}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()

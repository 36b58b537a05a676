"""The Gradio demo, launched once per test session, shared by tests/test_demo_*.py.

`demo_url()` starts `python demo/app.py --port <free port>` in a subprocess the first time it is
called and returns the same URL afterwards (the process is stopped at exit). The demo test
modules wrap it in session-scoped fixtures; being one process, the server is launched once even
when several modules run. A subprocess is used rather than a thread so the tests exercise the
app exactly as users start it, and so a crash in the server cannot take pytest down with it.

Models: the shipped ones; set VAE_DEMO_MODELS_DIR to a folder of model folders to test others.

Docs: the demo is given a small stand-in for the built docs site (`fake_site`: one page per
Markdown file of docs/, laid out and titled as `mkdocs build` does, with the headings' anchors), so
the "Read more" links can be followed without building the real site, which takes minutes.
"""

from __future__ import annotations

import atexit
import html
import importlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "demo" / "app.py"
EXAMPLES = sorted((ROOT / "demo" / "examples").glob("*.png"))
LOG = ROOT / "tests" / "artifacts" / "demo_server.log"  # ignored by git
START_TIMEOUT = 120.0  # seconds; the machine may be busy training
DOCS = ROOT / "docs"
SITE_NAME = "vae-explorer"  # mkdocs.yml site_name: the theme titles every page "<page title> - <site_name>"

# Deprecations raised inside gradio_client / httpx / websockets, which this project cannot fix (none with the
# installed versions; listed so a client upgrade does not fail the demo tests under filterwarnings=error).
THIRD_PARTY_WARNINGS = [
    "ignore::DeprecationWarning:websockets.*",
    "ignore::DeprecationWarning:gradio_client.*",
    "ignore::DeprecationWarning:httpx.*",
]

_server: dict[str, object] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop() -> None:
    proc = _server.get("proc")
    if isinstance(proc, subprocess.Popen) and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log = _server.pop("log", None)
    if log is not None:
        log.close()  # type: ignore[attr-defined]


def site_path(page: Path) -> Path:
    """Where `mkdocs build` puts a docs/ Markdown page: index.md -> index.html, a/b.md -> a/b/index.html."""
    rel = page.relative_to(DOCS).with_suffix("")
    return rel.parent / "index.html" if rel.name == "index" else rel / "index.html"


def _prose(page: Path) -> list[str]:
    """The lines of a Markdown page outside fenced code blocks."""
    lines, fenced = [], False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def page_title(page: Path) -> str:
    """The HTML title the site gives a docs/ page: its first level-1 heading, then the site name."""
    heading = next((line[2:].strip() for line in _prose(page) if line.startswith("# ")), page.stem)
    return f"{heading} - {SITE_NAME}"


def heading_ids(page: Path) -> list[str]:
    """The anchors MkDocs gives the level-2 and -3 headings of a page (Python-Markdown's default toc slugify)."""
    from markdown.extensions.toc import slugify

    return [slugify(line.lstrip("#").strip(), "-") for line in _prose(page) if line.startswith(("## ", "### "))]


def fake_site(folder: Path) -> Path:
    """A stand-in for the built docs site in `folder`: one HTML page per docs/ Markdown page, with its title and anchors."""
    for page in sorted(DOCS.rglob("*.md")):
        out = folder / site_path(page)
        out.parent.mkdir(parents=True, exist_ok=True)
        title = html.escape(page_title(page))
        anchors = "".join(f'<h2 id="{a}">{a}</h2>' for a in heading_ids(page))
        out.write_text(f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>{anchors}</body></html>")
    return folder


def demo_url() -> str:
    """URL of the running demo (started on first use), serving `fake_site` under /docs."""
    if "url" in _server:
        return str(_server["url"])
    site = Path(tempfile.mkdtemp(prefix="vae-demo-site-"))
    atexit.register(shutil.rmtree, site, ignore_errors=True)
    fake_site(site)
    port = free_port()
    LOG.parent.mkdir(exist_ok=True)
    log = _server["log"] = open(LOG, "w")  # noqa: SIM115 - kept open for the server's lifetime, closed by _stop
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(APP), "--host", "127.0.0.1", "--port", str(port), "--docs-dir", str(site)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    _server["proc"] = proc
    atexit.register(_stop)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo exited with code {proc.returncode}; see {LOG}")
        try:
            if httpx.get(f"{url}/gradio_api/info", timeout=2).status_code == 200:
                _server["url"] = url
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    _stop()
    raise RuntimeError(f"the demo did not answer within {START_TIMEOUT:.0f} s; see {LOG}")


def example(digit: int, index: int = 0) -> Path:
    """The index-th shipped example PNG of a digit."""
    return [p for p in EXAMPLES if p.name.startswith(f"{digit}_")][index]


def demo_module(name: str) -> Any:
    """A module of demo/, imported as the demo's modules import each other (demo/ on sys.path while it loads)."""
    sys.path.insert(0, str(ROOT / "demo"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "demo"))


def png(size: tuple[int, int], mode: str = "RGBA") -> bytes:
    """A blank PNG file of `size` (width, height)."""
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


def pixels(path: str | Path) -> np.ndarray:
    """An image file as gray levels in [0, 1], shape (H, W)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def call_raw(url: str, api_name: str, body: str) -> tuple[str, str]:
    """POST a raw JSON body to /gradio_api/call/<api_name> (NaN and Infinity included, which gradio_client refuses
    to send) and return the final server-sent event and its data."""
    r = httpx.post(f"{url}/gradio_api/call/{api_name}", content=body, headers={"content-type": "application/json"}, timeout=30)
    if r.status_code != 200:
        return "http_error", f"{r.status_code} {r.text}"
    event_id = r.json()["event_id"]
    stream = httpx.get(f"{url}/gradio_api/call/{api_name}/{event_id}", timeout=60).text
    event, data = "", ""
    for line in stream.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
    return event, data

"""How the demo is served: the docs site under /docs, and the limits that keep the server's memory bounded under load.

- **Docs.** The "Read more" links of each tab go to the built MkDocs site (`mkdocs build` writes
  `site/`), which the app serves itself under /docs with relative links, so they work on any host,
  behind a proxy's path prefix and on a Space (scripts/build_space.py copies the site in). Without a
  built site they go to `--docs-url`; without either, they name the source pages under `docs/` and
  the page says how to get the site (`NO_DOCS`).
- **Memory.** Two things made the resident memory grow with the number of calls (measured with
  benchmarks/demo_soak.py, 32 clients, a new session every 8 calls): Gradio's per-session state,
  kept for up to 10,000 sessions by default (`MAX_SESSIONS`), and freed memory that glibc's
  allocator kept instead of returning it (`tune_malloc`, `start_trimming`).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path

from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount

DOCS_DIR = Path(__file__).resolve().parents[1] / "site"  # what `mkdocs build` writes (the repository's root, or a Space's)
DOCS_ROUTE = "docs"  # the built site is served under /docs/ (FastAPI's own docs page is off in Gradio apps)
NO_DOCS = (
    "📖 The documentation site is not available in this installation, so the links in each tab name its source pages "
    "(Markdown files under `docs/` in the repository). To serve it here under /docs, run `mkdocs build` in the repository "
    "and restart the demo; or start the demo with `--docs-url URL` (or `VAE_DEMO_DOCS_URL`) to link to a published copy."
)

# Gradio keeps, per session (a browser tab, a gradio_client.Client), a copy of the page's config holding the last value
# of every component the session used: about 0.5 MB here, mostly the latent-map plots; a session that trained a model
# in the Train tab also holds it in a gr.State (about 2 MB of weights). Sessions are dropped, oldest first, only beyond
# `state_session_capacity` (Gradio's default 10,000: gigabytes). What a dropped session loses: its gr.State values
# (Gradio does not call their delete callbacks then, so a trained model's download stays on disk until the server
# exits) and the component updates made for it; the slider ranges the tabs update are checked again by the handlers,
# so an idle user's next request still works.
MAX_SESSIONS = 256

# glibc's malloc options (mallopt numbers from <malloc.h>) and the values set by `tune_malloc`.
MALLOC_OPTIONS = {  # name: (mallopt parameter, value, environment variable that overrides it)
    "M_ARENA_MAX": (-8, 2, "MALLOC_ARENA_MAX"),
    "M_MMAP_THRESHOLD": (-3, 32 * 1024 * 1024, "MALLOC_MMAP_THRESHOLD_"),  # glibc's own upper limit, fixed from the start
    "M_TRIM_THRESHOLD": (-1, 32 * 1024 * 1024, "MALLOC_TRIM_THRESHOLD_"),  # the top of the heap too: `start_trimming` trims
}
TRIM_SECONDS = 20.0  # how often `start_trimming` hands freed memory back to the system


def built_site(docs_dir: Path | None) -> Path | None:
    """`docs_dir` if it holds a built MkDocs site (an index.html), else None."""
    return docs_dir if docs_dir is not None and (docs_dir / "index.html").is_file() else None


def docs_base(docs_dir: Path | None, docs_url: str) -> str:
    """Base of the docs links: the served site (relative `docs/`), else `docs_url`, else "" (no docs)."""
    if built_site(docs_dir) is not None:
        return f"{DOCS_ROUTE}/"  # relative to the page, so it also works under a proxy's path prefix
    return docs_url.rstrip("/") + "/" if docs_url.strip() else ""


def docs_routes(docs_dir: Path | None) -> list[Mount]:
    """The static route serving the built site under /docs (none when it is not built), for `launch(app_kwargs=...)`."""
    site = built_site(docs_dir)
    return [] if site is None else [Mount(f"/{DOCS_ROUTE}", app=StaticFiles(directory=site, html=True), name="vae-docs")]


def tune_malloc() -> dict[str, int]:
    """Set glibc's allocator for a server; the options set (none off glibc Linux).

    Every request allocates and frees tensors and buffers from one of the server's worker threads.
    By default glibc gives threads up to 8 arenas per core and raises its mmap threshold each time a
    large block is freed (up to 32 MB), after which large blocks come from the arenas, where freed
    ones stay: the resident memory crept up with the number of calls although the live objects did
    not (`malloc_trim` on a server after 2,048 calls gave back 160 MB). Two arenas bound that, and
    `start_trimming` hands what they keep free back to the system. The mmap threshold is fixed at
    glibc's upper limit, and so is the trim threshold: lower ones (128 kB was tried) map, fault in
    and unmap every tensor above them on every call (or give the top of the heap back after each
    request, to fault it in again on the next), which made the classifier of the comparison tab
    about four times slower in the server than in a bare process. Must run before the worker threads start. An
    option already set through its environment variable is left as it is.
    """
    if not sys.platform.startswith("linux"):
        return {}
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return {}
    done = {}
    for name, (option, value, env) in MALLOC_OPTIONS.items():
        if env not in os.environ and mallopt(option, value) == 1:  # mallopt returns 1 on success
            done[name] = value
    return done


def start_trimming(seconds: float = TRIM_SECONDS) -> threading.Thread | None:
    """A daemon thread that calls glibc's `malloc_trim(0)` every `seconds`: the memory the arenas hold free goes back
    to the system (madvise), so the resident memory follows what the requests use. None off glibc Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(seconds):
            trim(0)

    thread = threading.Thread(target=run, name="malloc-trim", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]  # set it to end the thread (tests)
    thread.start()
    return thread


__all__ = ["DOCS_DIR", "DOCS_ROUTE", "MAX_SESSIONS", "NO_DOCS", "TRIM_SECONDS", "built_site", "docs_base", "docs_routes",
           "start_trimming", "tune_malloc"]

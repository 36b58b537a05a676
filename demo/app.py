"""The vae-explorer Gradio demo: `python demo/app.py [--host HOST] [--port PORT]`.

Four groups of tabs, each built by a module of `tabs/`: **Explore** (one model at a time:
reconstruction, sampling, interpolation, latent space, traversal; `tabs/explore.py`), **Compare**
(autoencoder vs VAE; `tabs/compare.py`), **Use** (what a VAE is for; `tabs/use.py`) and **Train**
(live training; `tabs/train.py`). Every action is also a named API endpoint (see `docs/demo.md`).
All model work and preprocessing is done by the `vae` package through `handlers.Explorer` and
`live.LiveTrainer`; this file only makes the page, reads the arguments and launches. The model a
browser session trains in the Train tab is kept in its `gr.State` and offered in the Explore
tabs' model menus for that session only (`tabs/page.py`). The page loads nothing from the
internet: system fonts, no analytics, no version check.

Environment: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (host and port, as on a Hugging Face Space),
VAE_DEMO_DOCS_DIR (the built docs site to serve under /docs, default `site/` beside `demo/`),
VAE_DEMO_DOCS_URL (base URL of the documentation when no site is built), VAE_DEMO_MODELS_DIR
(extra model folders), VAE_DEMO_ECHO=1 (mount the hidden `/echo` endpoint used by
benchmarks/demo_latency.py).

How the app is served (the docs site under /docs for the "Read more" links, the memory limits)
is in `serving.py`.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import sys
import threading
from pathlib import Path

if __name__ == "__main__":
    # Start-up: no cyclic garbage collection while gradio and torch import (they allocate millions of
    # long-lived objects, and the collector would scan them again and again: ~0.5 s of the start).
    # main() freezes what start-up made and turns the collector back on.
    gc.disable()

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `import handlers` also when this file is imported by path
    sys.path.insert(0, str(HERE))
if importlib.util.find_spec("vae") is None and (HERE.parent / "vae").is_dir():  # a Space: the package is not installed
    sys.path.insert(0, str(HERE.parent))

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no telemetry, no version check

import gradio as gr
from handlers import MAX_IMAGE_SIDE, Explorer
from live import LiveTrainer, discard
from serving import DOCS_DIR, DOCS_ROUTE, MAX_SESSIONS, NO_DOCS, docs_base, docs_routes, start_trimming, tune_malloc
from tabs.compare import compare_tab
from tabs.explore import explore_tabs
from tabs.page import Page
from tabs.train import train_tab
from tabs.use import use_tabs
from widgets import CACHE_SECONDS, CSS, offline_theme

CONCURRENCY = 2  # jobs run at once per endpoint; the models are small and the CPU is shared


def build_app(explorer: Explorer, docs_base: str = "", echo: bool = False, trainer: LiveTrainer | None = None) -> gr.Blocks:
    """The Blocks app with its queue configured (not launched); `docs_base` as for `Page`; `trainer`: the Train
    tab's (None: a `LiveTrainer(explorer)` with the default limits)."""
    trainer = trainer or LiveTrainer(explorer)
    with gr.Blocks(title="vae-explorer", analytics_enabled=False, delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as demo:
        trained = gr.State(None, delete_callback=discard)  # the session's model from the Train tab, read by the Explore tabs
        page = Page(explorer, docs_base, trained)
        gr.Markdown(
            "# vae-explorer\nVariational autoencoders on MNIST, live: explore the shipped models (reconstruct, sample, "
            "interpolate, map and traverse their latent spaces), compare an autoencoder with a VAE, put them to use, and "
            f"train one yourself. Images up to {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} pixels. " + page.link("demo.md", "How to read this demo")
        )
        if not docs_base:
            gr.Markdown(NO_DOCS, elem_id="no-docs")
        missing = explorer.missing_models()
        if missing:
            gr.Markdown(
                f"⚠️ Not available in this installation: {', '.join(f'`{m}`' for m in missing)}. "
                "Tabs using them show an error; choose another model where there is a selector."
            )
        with gr.Tab("Explore"):
            explore_tabs(page)
        with gr.Tab("Compare") as tab:
            compare_tab(page, tab)
        with gr.Tab("Use"):
            use_tabs(page)
        with gr.Tab("Train"):
            train = train_tab(trainer, page, state=trained)
        page.offer_trained(train.runs)
        if echo:
            hidden = gr.Textbox(visible=False)
            hidden.submit(explorer.echo, hidden, hidden, api_name="echo", api_visibility="undocumented")
    # max_size counts the events waiting under every endpoint; the Train tab's runs wait in the trainer's own line instead
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def warm_up(trainer: LiveTrainer) -> None:
    """The Train tab's one-time costs (`LiveTrainer.warm_up`), paid in a background thread at launch. A failure is
    reported, not raised: the first run then pays them, or says what is missing."""
    try:
        trainer.warm_up()
    except Exception as err:  # noqa: BLE001 - a warning on the console; the server serves on
        print(f"warning: the Train tab's warm-up failed: {err}", file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(description="The vae-explorer Gradio demo.")
    p.add_argument(
        "--host",
        default=env.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (default $GRADIO_SERVER_NAME or 127.0.0.1)",
    )
    p.add_argument(
        "--port", type=int, default=int(env.get("GRADIO_SERVER_PORT", "7860")), help="port (default $GRADIO_SERVER_PORT or 7860)"
    )
    p.add_argument(
        "--docs-dir",
        type=Path,
        default=Path(env.get("VAE_DEMO_DOCS_DIR") or DOCS_DIR),
        help=f"built documentation site served under /{DOCS_ROUTE} for the tab links (default $VAE_DEMO_DOCS_DIR or "
        "site/ beside demo/, what `mkdocs build` writes)",
    )
    p.add_argument(
        "--docs-url",
        default=env.get("VAE_DEMO_DOCS_URL", ""),
        help="base URL of a published documentation site, linked to when --docs-dir holds no built site "
        "(default $VAE_DEMO_DOCS_URL)",
    )
    p.add_argument(
        "--models-dir",
        type=Path,
        default=env.get("VAE_DEMO_MODELS_DIR") or None,
        help="folder of model folders that override shipped models by name",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per request (default 1; requests run in parallel)")
    p.add_argument(
        "--max-sessions",
        type=int,
        default=env.get("VAE_DEMO_MAX_SESSIONS") or str(MAX_SESSIONS),  # a string default goes through `type`: clear errors
        help=f"sessions whose state Gradio keeps in memory, the oldest dropped first (default $VAE_DEMO_MAX_SESSIONS or "
        f"{MAX_SESSIONS}; about half a megabyte each, and 2 MB more for a session that trained a model in the Train tab)",
    )
    p.add_argument(
        "--echo",
        action="store_true",
        default=env.get("VAE_DEMO_ECHO") == "1",
        help="mount the hidden /echo endpoint (benchmarks)",
    )
    args = p.parse_args(argv)
    if args.max_sessions < 1:
        p.error(f"--max-sessions must be at least 1, not {args.max_sessions}")
    return args


def main(argv: list[str] | None = None) -> None:
    import torch

    args = parse_args(argv)
    tune_malloc()  # before any worker thread starts
    start_trimming()
    torch.set_num_threads(max(1, args.threads))
    explorer = Explorer(models_dir=args.models_dir)
    trainer = LiveTrainer(explorer)
    for name in explorer.missing_models():
        print(f"warning: model {name!r} is not available; the tabs that use it will show an error", file=sys.stderr)
    try:
        demo = build_app(explorer, docs_base=docs_base(args.docs_dir, args.docs_url), echo=args.echo, trainer=trainer)
    finally:
        # Start-up objects (modules, the page) live as long as the server: move them out of the
        # collector's reach, so collections during requests scan only what requests make (a full
        # collection over everything took 100-250 ms, seen as latency spikes).
        gc.freeze()
        gc.enable()
    threading.Thread(target=warm_up, args=(trainer,), name="train-warm-up", daemon=True).start()  # while the server starts
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        theme=offline_theme(),
        css=CSS,
        footer_links=["api", "settings"],
        allowed_paths=[str(explorer.examples_dir)],
        show_error=True,
        max_file_size="20mb",
        mcp_server=False,
        state_session_capacity=args.max_sessions,
        # Extra routes go to the FastAPI app Gradio creates (its documented `app_kwargs`), before Gradio's own.
        app_kwargs={"routes": docs_routes(args.docs_dir)},
    )


if __name__ == "__main__":
    main()

"""The vae-explorer Gradio demo: `python demo/app.py [--host HOST] [--port PORT]`.

Six tabs, one builder function each; every action is also a named API endpoint (see
`docs/demo.md`). All model work and preprocessing is done by the `vae` package through
`handlers.Explorer`; this file only lays out widgets and wires events. The page loads nothing
from the internet: system fonts, no analytics, no version check.

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
from pathlib import Path
from typing import Any

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
from handlers import CONDITIONAL_MODEL, IMAGE_MODELS, MAP_MODELS, MAX_IMAGE_SIDE, SAMPLING_MODELS, Explorer
from serving import DOCS_DIR, DOCS_ROUTE, MAX_SESSIONS, NO_DOCS, docs_base, docs_routes, tune_malloc
from widgets import (
    CACHE_SECONDS,
    CSS,
    DIGIT_COLORS,
    CachedImage,
    CheckedDropdown,
    CheckedNumber,
    CheckedRadio,
    DigitSketchpad,
    checked_slider,
    digit_upload,
    offline_theme,
)

MAX_SEED = 2**31 - 1
CONCURRENCY = 2  # jobs run at once per endpoint; the models are small and the CPU is shared


class Page:
    """What every tab builder needs: the handlers, the docs base URL and the example files.

    `docs_base` is a URL ending in "/" ("docs/" for the site served by the app), or "" when there
    are no docs to link to: the links then name the source Markdown page instead.
    """

    def __init__(self, explorer: Explorer, docs_base: str) -> None:
        self.explorer = explorer
        self.docs_base = docs_base
        self.examples = explorer.example_paths()
        self.drawing_endpoint_done = False

    def link(self, page: str, text: str) -> str:
        """A Markdown link to a docs page (`theory/elbo.md#anchor`) under the docs base, or its source file's name."""
        path, _, anchor = page.partition("#")
        if not self.docs_base:
            return f"{text} (`docs/{path}`)"
        url = self.docs_base + path.removesuffix(".md") + "/" + (f"#{anchor}" if anchor else "")
        return f"[{text}]({url})"

    def intro(self, text: str, *pages: tuple[str, str]) -> None:
        links = " · ".join(self.link(page, label) for page, label in pages)
        gr.Markdown(f"{text}  \nRead more: {links}", elem_classes="tab-intro")

    def example(self, digit: int) -> str | None:
        """The first example PNG of a digit (names start with the digit)."""
        return next((p for p in self.examples if Path(p).name.startswith(f"{digit}_")), None)

    def digit_input(
        self, label: str, digit: int, key: str, draw_open: bool = False, all_examples: bool = False
    ) -> tuple[gr.Image, gr.Examples | None, gr.EventListener]:
        """An image slot for a digit (upload, example picker, or a drawing copied in with a button); elem_ids start with `key`."""
        image = digit_upload(
            value=self.example(digit),
            label=label,
            sources=["upload", "clipboard"],
            height=180,
            elem_classes="pixelated",
            elem_id=f"{key}-image",
        )
        examples = None
        if self.examples:  # one per digit (all of them in the reconstruction tab); each costs start-up time
            shown = self.examples if all_examples else self.examples[:10]
            examples = gr.Examples(
                [[p] for p in shown],
                inputs=image,
                label="Test-set examples: click one",
                examples_per_page=10,
                api_visibility="private",
                elem_id=f"{key}-examples",
            )
        with gr.Accordion("Draw a digit", open=draw_open):
            sketch = DigitSketchpad(
                type="pil",
                image_mode="L",
                canvas_size=(280, 280),
                fixed_canvas=True,
                layers=False,
                label="Sketchpad",
                brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                transforms=(),
                elem_id=f"{key}-sketch",
            )
            use = gr.Button("Use this drawing", elem_id=f"{key}-use-drawing")
        public = not self.drawing_endpoint_done
        self.drawing_endpoint_done = True
        drawn = use.click(
            self.explorer.drawing_to_image,
            sketch,
            image,
            api_name="drawing_to_image" if public else f"drawing_to_{label.lower().replace(' ', '_')}",
            api_visibility="public" if public else "private",
        )
        return image, examples, drawn


def _last_dimension(page: Page, name: str) -> int:
    """The largest latent index of model `name` (0 when it is not installed; the range then follows the chosen model)."""
    try:
        return page.explorer.model(name, IMAGE_MODELS).config.latent_dim - 1
    except gr.Error:
        return 0


def pixel_image(label: str, height: int, elem_id: str, format: str = "png", **kwargs: Any) -> CachedImage:
    """An output picture drawn with sharp pixels (28x28 digits scaled up), written atomically (see CachedImage)."""
    return CachedImage(label=label, format=format, elem_classes="pixelated", height=height, elem_id=elem_id, **kwargs)


def model_dropdown(choices: tuple[str, ...], value: str, label: str = "model") -> gr.Dropdown:
    return CheckedDropdown(list(choices), value=value, label=label, info="shipped model", interactive=True)


def seed_number(value: int = 0) -> gr.Number:
    return CheckedNumber(value, label="seed", precision=0, minimum=0, maximum=MAX_SEED)


def reconstruction_tab(page: Page, tab: gr.Tab) -> None:
    page.intro(
        "Encode a digit, decode it again, and see how sure the encoder is about each latent dimension. "
        "The negative ELBO measures how unusual the input is to the model (higher = less like the training digits).",
        ("theory/elbo.md", "the ELBO"),
        ("theory/likelihoods.md", "likelihoods"),
        ("demo.md#reconstruction", "this tab"),
    )
    with gr.Row():
        with gr.Column(scale=1):
            image, examples, drawn = page.digit_input(
                "Digit (upload, example or drawing)", 7, "recon", draw_open=True, all_examples=True
            )
            model = model_dropdown(IMAGE_MODELS, "default")
            seed = seed_number()
            button = gr.Button("Reconstruct", variant="primary", elem_id="recon-button")
        with gr.Column(scale=2):
            with gr.Row():
                seen = pixel_image("Input as the model sees it (28×28)", 180, "recon-seen")
                mean = pixel_image("Reconstruction (decoder mean)", 180, "recon-mean")
            samples = pixel_image("Stochastic reconstructions: decodes of z ~ q(z|x)", 110, "recon-samples")
            posterior = gr.LinePlot(
                x="dimension",
                y="value",
                color="quantity",
                label="Posterior q(z|x): mean and standard deviation per latent dimension",
                x_title="latent dimension",
                y_title="value",
                height=240,
                elem_id="recon-posterior",
                elem_classes="legend-below",
            )
            score = gr.Number(None, label="Anomaly score (nats)", interactive=False, elem_id="recon-score")
            reading = gr.Markdown(elem_id="recon-reading")
    inputs, outputs = [image, model, seed], [seen, mean, samples, posterior, score, reading]
    run = page.explorer.reconstruct
    button.click(run, inputs, outputs, api_name="reconstruct")
    image.upload(run, inputs, outputs, api_name="reconstruct_on_upload", api_visibility="private")
    drawn.success(run, inputs, outputs, api_name="reconstruct_on_drawing", api_visibility="private")
    model.input(run, inputs, outputs, api_name="reconstruct_on_model", api_visibility="private")
    if examples is not None:
        examples.load_input_event.then(run, inputs, outputs, api_name="reconstruct_on_example", api_visibility="private")


def sampling_tab(page: Page, tab: gr.Tab) -> None:
    page.intro(
        "Decode codes drawn from the model's prior p(z): N(0, I), or for default a learned mixture of Gaussians. A temperature "
        "below 1 shrinks the codes towards the origin (for the mixture, towards its components' centres): cleaner but less "
        "varied digits. The conditional VAE draws the digit you ask for.",
        ("theory/elbo.md", "the ELBO"),
        ("theory/cvae.md", "conditional VAE"),
        ("theory/priors.md", "learned priors"),
        ("demo.md#random-sampling", "this tab"),
    )
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Unconditional samples**")
            model = model_dropdown(SAMPLING_MODELS, "default")
            n = checked_slider(1, 64, 36, step=1, label="number of samples")
            temperature = checked_slider(0.0, 2.0, 1.0, step=0.05, label="temperature")
            seed = seed_number()
            button = gr.Button("Sample", variant="primary", elem_id="sample-button")
            grid = pixel_image("Samples", 360, "sample-grid")
        with gr.Column():
            gr.Markdown(f"**Conditional samples** (model `{CONDITIONAL_MODEL}`)")
            digit = checked_slider(0, 9, 3, step=1, label="digit")
            n_c = checked_slider(1, 64, 36, step=1, label="number of samples")
            temperature_c = checked_slider(0.0, 2.0, 1.0, step=0.05, label="temperature")
            seed_c = seed_number()
            button_c = gr.Button("Sample this digit", variant="primary", elem_id="sample-digit-button")
            grid_c = pixel_image("Samples of one digit", 360, "sample-digit-grid")
    button.click(page.explorer.sample, [model, n, temperature, seed], grid, api_name="sample")
    button_c.click(page.explorer.sample_digit, [digit, n_c, temperature_c, seed_c], grid_c, api_name="sample_digit")


def interpolation_tab(page: Page, tab: gr.Tab) -> None:
    page.intro(
        "Walk in latent space from one digit's code to another's and decode every step. Spherical interpolation suits a "
        "Gaussian prior: in D dimensions almost all prior mass lies near the sphere of radius √D, and a straight line cuts "
        "through the low-norm interior that the decoder rarely saw, while the great-circle path keeps a typical norm.",
        ("theory/kl.md", "the prior and the KL"),
        ("demo.md#latent-interpolation", "this tab"),
    )
    with gr.Row():
        with gr.Column():
            image_a, _, _ = page.digit_input("First digit", 1, "interp-a")
        with gr.Column():
            image_b, _, _ = page.digit_input("Second digit", 7, "interp-b")
    with gr.Row():
        model = model_dropdown(IMAGE_MODELS, "default")
        steps = checked_slider(2, 32, 10, step=1, label="steps")
        method = CheckedRadio(["spherical", "linear"], value="spherical", label="interpolation")
    button = gr.Button("Interpolate", variant="primary", elem_id="interp-button")
    with gr.Row():
        strip = pixel_image("Decoded path (first = decode of the first digit's code, last = the second's)", 140, "interp-strip", scale=3)
        gif = pixel_image("Animation", 140, "interp-gif", format="gif", scale=1)
    button.click(page.explorer.interpolate, [image_a, image_b, model, steps, method], [strip, gif], api_name="interpolate")


def latent_space_tab(page: Page, tab: gr.Tab) -> None:
    page.intro(
        "A 2-D latent space can be seen whole: where the test digits land (posterior means), what the decoder draws across "
        "the prior (a grid of equal prior mass), and what it draws at any point you pick with the sliders. "
        "latent2d-beta0.5 and latent2d-beta4 are the same VAE trained with the KL term weighted by β = 0.5 and 4.",
        ("theory/autoencoders.md", "autoencoders"),
        ("theory/kl.md", "the KL term"),
        ("theory/beta.md", "β-VAE"),
        ("demo.md#latent-space", "this tab"),
    )
    with gr.Row():
        model = model_dropdown(MAP_MODELS, "latent2d", label="model (2-D latent space)")
        show = gr.Button("Show map and grid", variant="primary", elem_id="map-button")
    with gr.Row():
        scatter = gr.ScatterPlot(
            x="z1",
            y="z2",
            color="digit",
            label="Test digits at their codes",
            height=420,
            scale=3,
            elem_id="map-scatter",
            color_map=DIGIT_COLORS,
            elem_classes="legend-below",
        )
        with gr.Column(scale=2):
            n = checked_slider(2, 25, 15, step=1, label="grid size")
            grid = pixel_image("Decoded grid (rows: z2 from high to low; columns: z1 from low to high)", 360, "map-grid")
    with gr.Row():
        z1 = checked_slider(-4, 4, 0.0, step=0.05, label="z1", limits=(-1e6, 1e6))
        z2 = checked_slider(-4, 4, 0.0, step=0.05, label="z2", limits=(-1e6, 1e6))
        with gr.Column():
            point = pixel_image("Decode of (z1, z2)", 200, "map-point")
            decode = gr.Button("Decode point", elem_id="point-button")
    ex = page.explorer
    show.click(ex.latent_map, model, scatter, api_name="latent_map").then(ex.manifold, [model, n], grid, api_name="manifold")
    opened = tab.select(ex.latent_map, model, scatter, api_name="latent_map_on_tab", api_visibility="private")
    opened.then(ex.manifold, [model, n], grid, api_name="manifold_on_tab", api_visibility="private")
    decode.click(ex.decode_point, [model, z1, z2], point, api_name="decode_point")
    n.release(ex.manifold, [model, n], grid, api_name="manifold_on_release", api_visibility="private")
    for i, slider in enumerate((z1, z2)):
        slider.input(
            ex.decode_point,
            [model, z1, z2],
            point,
            api_name=f"decode_point_live_{i}",
            api_visibility="private",
            trigger_mode="always_last",
        )

    def rescale(name: str) -> tuple[dict, dict]:  # slider ranges follow the selected model's codes
        limit = ex.code_range(name)
        return gr.update(minimum=-limit, maximum=limit), gr.update(minimum=-limit, maximum=limit)

    changed = model.input(rescale, model, [z1, z2], api_name="rescale_sliders", api_visibility="private")
    changed.then(ex.latent_map, model, scatter, api_name="latent_map_on_model", api_visibility="private").then(
        ex.manifold, [model, n], grid, api_name="manifold_on_model", api_visibility="private"
    )


def comparison_tab(page: Page, tab: gr.Tab) -> None:
    page.intro(
        "The same networks trained as a plain autoencoder (ae2d) and as a VAE (latent2d). The VAE's random codes come from "
        "its prior; the autoencoder has none, so its codes are drawn uniformly over the region its test codes occupy: "
        "most land on the few digits its space stretches out, and its gaps decode to whatever lies nearest.",
        ("theory/autoencoders.md", "autoencoders"),
        ("theory/kl.md", "the KL term"),
        ("demo.md#autoencoder-vs-vae", "this tab"),
    )
    with gr.Row():
        n = checked_slider(1, 64, 25, step=1, label="random codes")
        seed = seed_number()
        button = gr.Button("Draw random codes", variant="primary", elem_id="compare-button")
    with gr.Row():
        with gr.Column():
            ae_map = gr.ScatterPlot(
                x="z1",
                y="z2",
                color="digit",
                label="Autoencoder (ae2d): codes",
                height=380,
                elem_id="compare-ae-map",
                color_map=DIGIT_COLORS,
                elem_classes="legend-below",
            )
            ae_grid = pixel_image("Autoencoder: decodes of codes drawn uniformly over its region", 300, "compare-ae-grid")
        with gr.Column():
            vae_map = gr.ScatterPlot(
                x="z1",
                y="z2",
                color="digit",
                label="VAE (latent2d): codes",
                height=380,
                elem_id="compare-vae-map",
                color_map=DIGIT_COLORS,
                elem_classes="legend-below",
            )
            vae_grid = pixel_image("VAE: decodes of codes drawn from the prior N(0, I)", 300, "compare-vae-grid")
    note = gr.Markdown(elem_id="compare-note")
    outputs = [ae_map, vae_map, ae_grid, vae_grid, note]
    button.click(page.explorer.compare, [n, seed], outputs, api_name="compare")
    tab.select(page.explorer.compare, [n, seed], outputs, api_name="compare_on_tab", api_visibility="private")


def traversal_tab(page: Page, tab: gr.Tab) -> None:
    page.intro(
        "Encode a digit, then sweep one latent dimension from −span to +span while the others stay fixed, to see what "
        "that dimension controls (slant, width, stroke...). A β-VAE trades reconstruction for more separated factors.",
        ("theory/beta.md", "β-VAE"),
        ("theory/reparameterization.md", "the latent code"),
        ("demo.md#latent-traversal", "this tab"),
    )
    with gr.Row():
        with gr.Column(scale=1):
            image, _, _ = page.digit_input("Digit", 2, "traverse")
        with gr.Column(scale=2):
            model = model_dropdown(IMAGE_MODELS, "default")
            dimension = checked_slider(
                0, _last_dimension(page, "default"), 0, step=1, label="dimension", limits=(0, 4095),
                info="index of the latent dimension to vary",
            )
            span = checked_slider(0.5, 5.0, 3.0, step=0.1, label="span")
            steps = checked_slider(3, 21, 11, step=1, label="steps")
            button = gr.Button("Traverse", variant="primary", elem_id="traverse-button")
            strip = pixel_image("Decodes along the dimension (left: −span, right: +span)", 120, "traverse-strip")
            top = pixel_image("The same sweep for the dimensions this digit uses most (one row each, listed below)", 300, "traverse-top")
            note = gr.Markdown(elem_id="traverse-note")

    def fit_dimension(name: str) -> dict:  # the slider's range follows the selected model's latent size
        return gr.update(maximum=page.explorer.model(name, IMAGE_MODELS).config.latent_dim - 1, value=0)

    model.input(fit_dimension, model, dimension, api_name="fit_dimension", api_visibility="private")
    button.click(page.explorer.traverse, [image, model, dimension, span, steps], [strip, top, note], api_name="traverse")


def build_app(explorer: Explorer, docs_base: str = "", echo: bool = False) -> gr.Blocks:
    """The Blocks app with its queue configured (not launched); `docs_base` as for `Page`."""
    page = Page(explorer, docs_base)
    with gr.Blocks(title="vae-explorer", analytics_enabled=False, delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as demo:
        gr.Markdown(
            "# vae-explorer\nVariational autoencoders on MNIST, live: reconstruct, sample, interpolate and explore latent spaces. "
            f"Images up to {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} pixels. " + page.link("demo.md", "How to read this demo")
        )
        if not docs_base:
            gr.Markdown(NO_DOCS, elem_id="no-docs")
        missing = explorer.missing_models()
        if missing:
            gr.Markdown(
                f"⚠️ Not available in this installation: {', '.join(f'`{m}`' for m in missing)}. "
                "Tabs using them show an error; choose another model where there is a selector."
            )
        tabs = [
            ("Reconstruction", reconstruction_tab),
            ("Random sampling", sampling_tab),
            ("Latent interpolation", interpolation_tab),
            ("Latent space", latent_space_tab),
            ("Autoencoder vs VAE", comparison_tab),
            ("Latent traversal", traversal_tab),
        ]
        for title, build in tabs:
            with gr.Tab(title) as tab:
                build(page, tab)
        if echo:
            hidden = gr.Textbox(visible=False)
            hidden.submit(explorer.echo, hidden, hidden, api_name="echo", api_visibility="undocumented")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


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
        f"{MAX_SESSIONS}; about half a megabyte each)",
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
    torch.set_num_threads(max(1, args.threads))
    explorer = Explorer(models_dir=args.models_dir)
    for name in explorer.missing_models():
        print(f"warning: model {name!r} is not available; the tabs that use it will show an error", file=sys.stderr)
    try:
        demo = build_app(explorer, docs_base=docs_base(args.docs_dir, args.docs_url), echo=args.echo)
    finally:
        # Start-up objects (modules, the page) live as long as the server: move them out of the
        # collector's reach, so collections during requests scan only what requests make (a full
        # collection over everything took 100-250 ms, seen as latency spikes).
        gc.freeze()
        gc.enable()
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

"""The "Explore" group: one model at a time, as sub-tabs (reconstruction, sampling, interpolation, latent space, traversal).

`explore_tabs(page)` builds the sub-tabs inside the caller's `gr.Tab("Explore")`. Every model
menu is made by `page.model_menu`, so it also offers the model this session trained (see
`tabs/page.py`), and every handler that takes a menu gets the session's `gr.State` (`page.trained`)
as its last input. Named API endpoints: `/drawing_to_image`, `/reconstruct`, `/sample`,
`/sample_digit`, `/interpolate`, `/latent_map`, `/manifold`, `/decode_point`, `/traverse`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from handlers import CONDITIONAL_MODEL, HIERARCHICAL_MODEL, IMAGE_MODELS, MAP_MODELS, SAMPLING_MODELS
from widgets import CheckedRadio, checked_slider

from tabs.page import Page, code_map, last_dimension, pixel_image, seed_number


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
            model = page.model_menu(IMAGE_MODELS, "default", "recon-model")
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
    inputs, outputs = [image, model, seed, page.trained], [seen, mean, samples, posterior, score, reading]
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
        "varied digits. The hierarchical model draws both of its layers. The conditional VAE draws the digit you ask for.",
        ("theory/elbo.md", "the ELBO"),
        ("theory/cvae.md", "conditional VAE"),
        ("theory/priors.md", "learned priors"),
        ("demo.md#random-sampling", "this tab"),
    )
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Unconditional samples**")
            model = page.model_menu(SAMPLING_MODELS, "default", "sample-model", prior=True)
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
    button.click(page.explorer.sample, [model, n, temperature, seed, page.trained], grid, api_name="sample")
    button_c.click(page.explorer.sample_digit, [digit, n_c, temperature_c, seed_c], grid_c, api_name="sample_digit")
    with gr.Row():
        with gr.Column():
            gr.Markdown(
                f"**Two layers** (model `{HIERARCHICAL_MODEL}`): each row is one top code z₂ drawn from the prior p(z₂). "
                "The first picture of a row decodes the lower code z₁ at the mean of p(z₁ | z₂), the others draw "
                "z₁ ~ p(z₁ | z₂): what stays along a row is the top layer's, what changes is the lower layer's. "
                f"Read more: {page.link('theory/hierarchical.md', 'hierarchical VAEs')}"
            )
            rows = checked_slider(1, 8, 6, step=1, label="top codes (rows)")
            draws = checked_slider(1, 9, 7, step=1, label="lower codes per row")
            seed_l = seed_number()
            button_l = gr.Button("Sample both layers", variant="primary", elem_id="sample-layers-button")
        with gr.Column():
            grid_l = pixel_image("Rows share a top code", 360, "sample-layers-grid")
    button_l.click(page.explorer.sample_layers, [rows, draws, seed_l], grid_l, api_name="sample_layers")


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
        model = page.model_menu(IMAGE_MODELS, "default", "interp-model")
        steps = checked_slider(2, 32, 10, step=1, label="steps")
        method = CheckedRadio(["spherical", "linear"], value="spherical", label="interpolation")
    button = gr.Button("Interpolate", variant="primary", elem_id="interp-button")
    with gr.Row():
        strip = pixel_image("Decoded path (first = decode of the first digit's code, last = the second's)", 140, "interp-strip", scale=3)
        gif = pixel_image("Animation", 140, "interp-gif", format="gif", scale=1)
    inputs = [image_a, image_b, model, steps, method, page.trained]
    button.click(page.explorer.interpolate, inputs, [strip, gif], api_name="interpolate")


def latent_space_tab(page: Page, tab: gr.Tab) -> None:
    page.intro(
        "A 2-D latent space can be seen whole: where the test digits land (posterior means), what the decoder draws across "
        "the prior (a grid of equal prior mass), and what it draws at any point you pick with the sliders. "
        "latent2d-beta0.5 and latent2d-beta4 are the same VAE trained with the KL term weighted by β = 0.5 and 4. "
        "A model trained here with a larger code is shown through its first two dimensions (the others at the prior's mean).",
        ("theory/autoencoders.md", "autoencoders"),
        ("theory/kl.md", "the KL term"),
        ("theory/beta.md", "β-VAE"),
        ("demo.md#latent-space", "this tab"),
    )
    with gr.Row():
        model = page.model_menu(MAP_MODELS, "latent2d", "map-model", label="model (2-D latent space)")
        show = gr.Button("Show map and grid", variant="primary", elem_id="map-button")
    with gr.Row():
        scatter = code_map("Test digits at their codes", 420, "map-scatter", scale=3)
        with gr.Column(scale=2):
            n = checked_slider(2, 25, 15, step=1, label="grid size")
            grid = pixel_image("Decoded grid (rows: z2 from high to low; columns: z1 from low to high)", 360, "map-grid")
    with gr.Row():
        z1 = checked_slider(-4, 4, 0.0, step=0.05, label="z1", limits=(-1e6, 1e6))
        z2 = checked_slider(-4, 4, 0.0, step=0.05, label="z2", limits=(-1e6, 1e6))
        with gr.Column():
            point = pixel_image("Decode of (z1, z2)", 200, "map-point")
            decode = gr.Button("Decode point", elem_id="point-button")
    ex, trained = page.explorer, page.trained
    shown, gridded = [model, trained], [model, n, trained]
    show.click(ex.latent_map, shown, scatter, api_name="latent_map").then(ex.manifold, gridded, grid, api_name="manifold")
    opened = tab.select(ex.latent_map, shown, scatter, api_name="latent_map_on_tab", api_visibility="private")
    opened.then(ex.manifold, gridded, grid, api_name="manifold_on_tab", api_visibility="private")
    decode.click(ex.decode_point, [model, z1, z2, trained], point, api_name="decode_point")
    n.release(ex.manifold, gridded, grid, api_name="manifold_on_release", api_visibility="private")
    for i, slider in enumerate((z1, z2)):
        slider.input(
            ex.decode_point,
            [model, z1, z2, trained],
            point,
            api_name=f"decode_point_live_{i}",
            api_visibility="private",
            trigger_mode="always_last",
        )

    def rescale(name: str, session_model: Any) -> tuple[dict, dict]:  # slider ranges follow the selected model's codes
        limit = ex.code_range(name, session_model)
        return gr.update(minimum=-limit, maximum=limit), gr.update(minimum=-limit, maximum=limit)

    changed = model.input(rescale, shown, [z1, z2], api_name="rescale_sliders", api_visibility="private")
    changed.then(ex.latent_map, shown, scatter, api_name="latent_map_on_model", api_visibility="private").then(
        ex.manifold, gridded, grid, api_name="manifold_on_model", api_visibility="private"
    )


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
            model = page.model_menu(IMAGE_MODELS, "default", "traverse-model")
            dimension = checked_slider(
                0, last_dimension(page, "default"), 0, step=1, label="dimension", limits=(0, 4095),
                info="index of the latent dimension to vary",
            )
            span = checked_slider(0.5, 5.0, 3.0, step=0.1, label="span")
            steps = checked_slider(3, 21, 11, step=1, label="steps")
            button = gr.Button("Traverse", variant="primary", elem_id="traverse-button")
            strip = pixel_image("Decodes along the dimension (left: −span, right: +span)", 120, "traverse-strip")
            top = pixel_image("The same sweep for the dimensions this digit uses most (one row each, listed below)", 300, "traverse-top")
            note = gr.Markdown(elem_id="traverse-note")

    def fit_dimension(name: str, session_model: Any) -> dict:  # the slider's range follows the selected model's latent size
        return gr.update(maximum=page.explorer.resolve(name, session_model, IMAGE_MODELS).model.config.latent_dim - 1, value=0)

    model.input(fit_dimension, [model, page.trained], dimension, api_name="fit_dimension", api_visibility="private")
    inputs = [image, model, dimension, span, steps, page.trained]
    button.click(page.explorer.traverse, inputs, [strip, top, note], api_name="traverse")


SUB_TABS = (
    ("Reconstruction", reconstruction_tab),
    ("Random sampling", sampling_tab),
    ("Latent interpolation", interpolation_tab),
    ("Latent space", latent_space_tab),
    ("Latent traversal", traversal_tab),
)


def explore_tabs(page: Page) -> None:
    """The Explore sub-tabs, built inside the caller's `gr.Tab("Explore")`."""
    for title, build in SUB_TABS:
        with gr.Tab(title) as tab:
            build(page, tab)


__all__ = ["SUB_TABS", "explore_tabs"]

"""The "Use" tab group: what a VAE is for, in four sub-tabs (issue 20).

`use_tabs(page)` builds them inside the caller's `gr.Tab("Use")`; the endpoints are the methods of
[`uses.Uses`][], built around `page.explorer`. Named API endpoints:

- **Denoise & inpaint**: `/damage` (the damaged digit and a note), `/repair` (a generator: the damaged
  digit, one pass, PCA, mean image, pseudo-Gibbs and Metropolis-within-Gibbs, the chains streamed
  every few steps, and a status with each repair's cross-entropy against the undamaged digit);
- **Compress**: `/compress` (a stored test digit reconstructed by PCA, the autoencoder and the VAE
  from a code of size D, the curves with D marked, the numbers), `/compression_maps` (the 2-D codes);
- **Few labels**: `/classify` (class probabilities from VAE codes and from raw pixels, the recorded accuracies);
- **Anomaly**: `/anomaly_score` (an image's score and verdict), `/anomaly_example` (the same for a
  generated out-of-distribution input).

Every value is checked on the server (the widgets of `widgets.py`, and again in `uses.Uses`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr
from sketchpad import DigitSketchpad, PendingDrawing
from uses import CURVE_COLORS, DAMAGES, DEFAULT_STEPS, MAX_REPAIR_STEPS, MAX_SEED, SQUARE_SIZES, Uses
from widgets import (
    DIGIT_COLORS,
    CachedImage,
    CheckedDropdown,
    CheckedNumber,
    CheckedRadio,
    checked_slider,
)

if TYPE_CHECKING:
    from tabs.page import Page

CODE_SIZES = [2, 4, 8, 16, 32, 64]  # shown before the asset is read (build_app must not fail when it is missing)
LABEL_BUDGETS = [100, 600, 1000, 3000]
OOD_KINDS = {
    "letters": "a letter", "symbols": "a symbol", "noise": "uniform noise", "blank": "a blank image",
    "near_blank": "a near-blank image (1-6 lit pixels)", "inverted": "an inverted digit", "rotated": "a rotated digit",
    "shifted": "a shifted digit", "two_digits": "two digits in one picture",
}


class MaskPainter(DigitSketchpad):
    """The mask painter: a sketchpad whose files are checked on every request (headers only) but decoded only for the
    damage "painted mask", which `uses_repair.painted_mask` decodes (`PendingDrawing`); most damages ignore it. An
    untouched value (None) is passed on."""

    def preprocess(self, payload: Any) -> PendingDrawing | None:
        return None if payload is None else self.pending(payload)


def picture(label: str, elem_id: str, height: int = 150, **kwargs: Any) -> CachedImage:
    """An output digit with sharp pixels (as app.py's `pixel_image`)."""
    return CachedImage(label=label, format="png", elem_classes="pixelated", height=height, elem_id=elem_id, **kwargs)


def seed_number() -> CheckedNumber:
    return CheckedNumber(0, label="seed", precision=0, minimum=0, maximum=MAX_SEED)


def private(api_name: str) -> dict[str, Any]:
    return {"api_name": api_name, "api_visibility": "private"}


def repair_tab(page: Page, uses: Uses) -> None:
    page.intro(
        "Damage a digit, then repair it. Noise hides which pixels are wrong, so only reconstructions apply; a mask says which "
        "pixels are missing, and the repairs keep every observed pixel exactly. One pass encodes the holed digit once; the chains "
        "re-encode their own completion step by step (pseudo-Gibbs), or accept a step only by the Metropolis-Hastings rule (MwG).",
        ("uses/imputation.md", "imputation"),
        ("uses/imputation.md#noise", "noise"),
    )
    with gr.Row():
        with gr.Column(scale=1):
            image, examples, drawn = page.digit_input("Digit to damage", 4, "repair")
            damage = CheckedDropdown(list(DAMAGES), value="top half", label="damage", interactive=True)
            strength = checked_slider(0.0, 1.0, 0.5, step=0.05, label="strength", info="noise level, or the fraction of random pixels erased")
            square = checked_slider(*SQUARE_SIZES, 14, step=1, label="square size", info="side of the centred square, in pixels")
            steps = checked_slider(1, MAX_REPAIR_STEPS, DEFAULT_STEPS, step=1, label="chain steps")
            seed = seed_number()
            with gr.Accordion("Paint a mask (damage: painted mask)", open=False):
                painter = MaskPainter(
                    type="numpy", image_mode="RGBA", format="png", canvas_size=(280, 280), fixed_canvas=True, layers=False, sources=(),
                    transforms=(), label="Paint over the pixels to erase",
                    brush=gr.Brush(default_size=20, colors=["#e15759"], color_mode="fixed"), elem_id="repair-painter",
                )
                load = gr.Button("Paint on this digit", elem_id="repair-paint-on-digit")
            with gr.Row():
                damage_button = gr.Button("Damage", elem_id="repair-damage-button")
                repair_button = gr.Button("Repair", variant="primary", elem_id="repair-button")
        with gr.Column(scale=2):
            with gr.Row():
                damaged = picture("Damaged (missing in red)", "repair-damaged")
                one_pass = picture("One pass", "repair-one-pass")
                pca = picture("PCA", "repair-pca")
            with gr.Row():
                mean = picture("Mean image", "repair-mean")
                gibbs = picture("Pseudo-Gibbs chain", "repair-pseudo-gibbs")
                mwg = picture("MwG chain", "repair-mwg")
            status = gr.Markdown(elem_id="repair-status")
    inputs = [image, damage, strength, square, painter, seed]
    damage_button.click(uses.damage, inputs, [damaged, status], api_name="damage")
    repair_button.click(uses.repair, [*inputs, steps], [damaged, one_pass, pca, mean, gibbs, mwg, status], api_name="repair")
    load.click(uses.painter, image, painter, **private("paint_on_digit"))
    image.upload(uses.damage, inputs, [damaged, status], **private("damage_on_upload"))
    drawn.success(uses.damage, inputs, [damaged, status], **private("damage_on_drawing"))
    damage.input(uses.damage, inputs, [damaged, status], **private("damage_on_kind"))
    if examples is not None:
        examples.load_input_event.then(uses.damage, inputs, [damaged, status], **private("damage_on_example"))


def compress_tab(page: Page, uses: Uses, tab: gr.Tab) -> None:
    page.intro(
        "Squeeze a test digit into a code of D numbers and back: PCA (the best linear code), a plain autoencoder and a VAE of "
        "the same networks. The curves are the mean reconstruction error (BCE, nats per digit) on the 10,000 test digits.",
        ("uses/compression.md", "compression"),
        ("uses/compression.md#bits-per-digit", "bits per digit"),
    )
    try:
        sizes = uses.compression_dims()
    except gr.Error:  # the asset is missing: the tab answers with the error when used
        sizes = CODE_SIZES
    with gr.Row():
        digit = checked_slider(0, 9, 7, step=1, label="digit")
        which = checked_slider(1, 10, 1, step=1, label="example of that digit", info="the first 10 test digits of each class are stored")
        size = CheckedRadio(sizes, value=8 if 8 in sizes else sizes[0], label="code size D")
        button = gr.Button("Compress", variant="primary", elem_id="compress-button")
    with gr.Row():
        target = picture("Test digit (binarized)", "compress-input")
        images = [picture(f"{name} from D numbers", f"compress-{key}") for key, name in (("pca", "PCA"), ("ae", "Autoencoder"), ("vae", "VAE"))]
    with gr.Row():
        curves = gr.LinePlot(
            x="log2_D", y="BCE", color="method", color_map=CURVE_COLORS, height=300,
            x_title="log₂ D: code size D = 2, 4, 8, 16, 32, 64 at 1 to 6", y_title="BCE (nats per digit)",
            label="Reconstruction error against code size (test set); the black line marks the chosen D",
            elem_id="compress-curves", elem_classes="legend-below", scale=1,
        )
        numbers = gr.Markdown(elem_id="compress-numbers")
    with gr.Accordion("The 2-D codes side by side", open=False):
        show = gr.Button("Show the 2-D maps", elem_id="compress-maps-button")
        with gr.Row():
            maps = [
                gr.ScatterPlot(x="z1", y="z2", color="digit", color_map=DIGIT_COLORS, height=320, label=f"{name}: 2-D codes",
                               elem_id=f"compress-map-{key}", elem_classes="legend-below")
                for key, name in (("pca", "PCA"), ("ae", "Autoencoder"), ("vae", "VAE"))
            ]
    inputs, outputs = [digit, which, size], [target, *images, curves, numbers]
    button.click(uses.compress, inputs, outputs, api_name="compress")
    show.click(uses.compression_maps, None, maps, api_name="compression_maps")
    tab.select(uses.compress, inputs, outputs, **private("compress_on_tab"))
    size.input(uses.compress, inputs, outputs, **private("compress_on_size"))
    for i, slider in enumerate((digit, which)):
        slider.release(uses.compress, inputs, outputs, **private(f"compress_on_slider_{i}"))


def few_labels_tab(page: Page, uses: Uses) -> None:
    page.intro(
        "Freeze the encoder and read a digit off its code with a linear classifier fitted on only a few labelled digits. "
        "On the 784 raw pixels the same classifier does worse at every budget measured: with 3,000 labels it stays below what "
        "the codes reach with 600.",
        ("uses/features.md", "features for a classifier"),
        ("uses/features.md#classify-your-own-digit", "the shipped classifiers"),
    )
    try:
        budgets = uses.label_budgets()
    except gr.Error:
        budgets = LABEL_BUDGETS
    with gr.Row():
        with gr.Column(scale=1):
            image, examples, drawn = page.digit_input("Digit to classify", 3, "classify")
            n = CheckedRadio(budgets, value=budgets[0], label="number of labels", info="labelled training digits, balanced over the classes")
            button = gr.Button("Classify", variant="primary", elem_id="classify-button")
        with gr.Column(scale=2):
            with gr.Row():
                seen = picture("Input as the model sees it", "classify-seen")
                codes = gr.Label(num_top_classes=3, label="On VAE codes (32 numbers)", elem_id="classify-codes")
                pixels = gr.Label(num_top_classes=3, label="On raw pixels (784 numbers)", elem_id="classify-pixels")
            accuracy = gr.Markdown(elem_id="classify-accuracy")
    inputs, outputs = [image, n], [seen, codes, pixels, accuracy]
    button.click(uses.classify, inputs, outputs, api_name="classify")
    image.upload(uses.classify, inputs, outputs, **private("classify_on_upload"))
    drawn.success(uses.classify, inputs, outputs, **private("classify_on_drawing"))
    n.input(uses.classify, inputs, outputs, **private("classify_on_labels"))
    if examples is not None:
        examples.load_input_event.then(uses.classify, inputs, outputs, **private("classify_on_example"))


def anomaly_tab(page: Page, uses: Uses) -> None:
    page.intro(
        "Score an input by how hard the VAE finds it to explain (its negative ELBO, in nats) and turn the score into a verdict "
        "with a threshold set on test digits. Try your own drawing, or inputs the model never saw: letters, noise, inverted digits.",
        ("uses/anomaly.md", "anomaly detection"),
        ("uses/anomaly.md#where-the-likelihood-fails", "where it fails"),
    )
    try:
        kinds = [k for k in uses.ood_kinds() if k in OOD_KINDS] or list(OOD_KINDS)
    except gr.Error:
        kinds = list(OOD_KINDS)
    with gr.Row():
        with gr.Column(scale=1):
            image, examples, drawn = page.digit_input("Image to score", 8, "anomaly")
            button = gr.Button("Score this image", variant="primary", elem_id="anomaly-button")
            with gr.Group():
                kind = CheckedDropdown([(OOD_KINDS[k], k) for k in kinds], value=kinds[0], label="or generate an input unlike the digits",
                                       interactive=True)
                seed = seed_number()
                generate = gr.Button("Generate and score", elem_id="anomaly-example-button")
        with gr.Column(scale=2):
            with gr.Row():
                seen = picture("Input as the model sees it", "anomaly-seen")
                score = gr.Number(None, label="Anomaly score: negative ELBO (nats)", interactive=False, elem_id="anomaly-score")
            reading = gr.Markdown(elem_id="anomaly-reading")
    outputs = [seen, score, reading]
    button.click(uses.anomaly_score, image, outputs, api_name="anomaly_score")
    generate.click(uses.anomaly_example, [kind, seed], outputs, api_name="anomaly_example")
    image.upload(uses.anomaly_score, image, outputs, **private("anomaly_score_on_upload"))
    drawn.success(uses.anomaly_score, image, outputs, **private("anomaly_score_on_drawing"))
    if examples is not None:
        examples.load_input_event.then(uses.anomaly_score, image, outputs, **private("anomaly_score_on_example"))


def use_tabs(page: Page) -> None:
    """Build the four Use sub-tabs (call inside a `gr.Tab`); their endpoints share one `uses.Uses` around `page.explorer`."""
    uses = Uses(page.explorer)
    with gr.Tab("Denoise & inpaint"):
        repair_tab(page, uses)
    with gr.Tab("Compress") as tab:
        compress_tab(page, uses, tab)
    with gr.Tab("Few labels"):
        few_labels_tab(page, uses)
    with gr.Tab("Anomaly"):
        anomaly_tab(page, uses)

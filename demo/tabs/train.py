"""The "Train" tab: choose the loss terms, β, the latent size, the data and the length of a run; press Train and watch.

`train_tab(trainer, page, state)` lays out the widgets inside the caller's `gr.Tab` and wires the
events to a [`live.LiveTrainer`][]; it returns a [`TrainTab`][] whose `state` holds the session's
trained model (a `live.TrainedModel`, or None) for other tabs to use (the app passes the state its
Explore tabs read, and chains the offer of the model in their menus on `runs`). Named API endpoints:

- `/train` (a generator: one update every few hundred steps), `/stop_training`;
- `/preset_reconstruction_only`, `/preset_kl_only`, `/preset_both`: a preset's objective, β and
  latent size (the buttons then start training with them and the other settings as they are).

The training events have no concurrency limit and so never wait in Gradio's queue: the trainer
keeps its own line (one run per server at a time, whichever button started it; a few others wait
their turn and see their place in the status line; more are refused, see `live.py`). Waiting in
Gradio's queue would count against its `max_size`, which every endpoint of the app shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
from handlers import TRAINED
from live import OBJECTIVES, SHIPPED, LiveTrainer, Settings, discard
from widgets import DIGIT_COLORS, CachedImage, CheckedNumber, CheckedRadio, checked_slider

PRESET_LABELS = {
    "reconstruction_only": "Reconstruction term only (autoencoder)",
    "kl_only": "KL term only",
    "both": "Both terms (VAE)",
}


@dataclass(frozen=True)
class TrainTab:
    """What the app needs from the tab.

    Attributes:
        state: the session's `live.TrainedModel` (None until a run ends); dropped with the session.
        runs: the events that train (the Train button's, then each preset's), to chain `.then(...)` on.
    """

    state: gr.State
    runs: list[Any]


def _preset(trainer: LiveTrainer, key: str) -> Callable[..., tuple[Any, ...]]:
    def set_preset(request: gr.Request) -> tuple[Any, ...]:
        return trainer.preset(key, request)

    set_preset.__name__ = f"preset_{key}"
    return set_preset


def train_tab(trainer: LiveTrainer, page: Any | None = None, state: gr.State | None = None) -> TrainTab:
    """Build the tab's widgets and events (call inside a `gr.Tab`); `page.intro(text, *links)` writes the intro if given.

    `state`: the session's `gr.State` the trained model goes to (None: a new one, made here).
    """
    lim, default = trainer.limits, Settings()
    intro = (
        "Train a small network here and watch it learn: every few hundred steps the map of test digits at their codes, "
        "the decoded grid over the prior, reconstructions, samples and the loss curves are redrawn. The reconstruction "
        "term alone gives an autoencoder (separated clusters with gaps), the KL term alone pulls every code onto the prior, "
        f"both give a VAE. One run at a time per server (up to {lim.max_waiting} others wait their turn); at most "
        f"{lim.max_steps:,} steps and {lim.max_seconds:.0f} s per run. The model is kept for this browser session: "
        f"“{TRAINED}” in the model menus of the Explore tabs."
    )
    if page is not None:
        page.intro(intro, ("theory/autoencoders.md", "autoencoders"), ("theory/elbo.md", "the ELBO"), ("theory/beta.md", "β-VAE"),
                   ("demo.md#train", "this tab"))
    else:
        gr.Markdown(intro, elem_classes="tab-intro")
    sources = trainer.sources()
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("**Presets**: the three loss-term pictures (β = 1, a 2-D code), one click each")
            presets = {key: gr.Button(label, size="sm", elem_id=f"train-preset-{key}") for key, label in PRESET_LABELS.items()}
            objective = CheckedRadio(list(OBJECTIVES), value=default.objective, label="objective", elem_id="train-objective")
            beta = checked_slider(0, lim.max_beta, default.beta, step=0.05, label="β (KL weight)", elem_id="train-beta",
                                  info="no effect on an autoencoder")
            latent = checked_slider(2, lim.max_latent_dim, default.latent_dim, step=1, label="latent size", elem_id="train-latent",
                                    info="the map shows the first two dimensions")
            data = CheckedRadio(sources, value=SHIPPED, label="training data", elem_id="train-data",
                                info="a balanced 10,000-digit subset shipped with the demo, or the MNIST training set")
            images = checked_slider(lim.min_images, trainer.max_images(SHIPPED), min(default.images, trainer.max_images(SHIPPED)),
                                    step=100, label="training images", elem_id="train-images",
                                    limits=(lim.min_images, lim.max_images))
            epochs = checked_slider(1, lim.max_epochs, default.epochs, step=1, label="epochs", elem_id="train-epochs")
            seed = CheckedNumber(default.seed, label="seed", precision=0, minimum=0, maximum=lim.max_seed, elem_id="train-seed")
            with gr.Row():
                start = gr.Button("Train", variant="primary", elem_id="train-button")
                stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
            note = gr.Markdown(elem_id="train-note")
            download = gr.DownloadButton("Download the trained model (.zip)", value=None, elem_id="train-download")
        with gr.Column(scale=3):
            status = gr.Markdown("Press **Train** or a preset.", elem_id="train-status")
            with gr.Row():
                scatter = gr.ScatterPlot(x="z1", y="z2", color="digit", label="Test digits at their codes (z1, z2)", height=400,
                                         scale=3, color_map=DIGIT_COLORS, elem_id="train-map", elem_classes="legend-below")
                grid = CachedImage(label="Decoded grid over the prior (rows: z2 high to low; columns: z1 low to high)", format="png",
                                   elem_classes="pixelated", height=360, scale=2, elem_id="train-grid")
            with gr.Row():
                reconstructions = CachedImage(label="Test digits (top) and their reconstructions (bottom)", format="png",
                                              elem_classes="pixelated", height=110, elem_id="train-reconstructions")
                samples = CachedImage(label="Decodes of fixed random codes z ~ N(0, I)", format="png", elem_classes="pixelated",
                                      height=110, elem_id="train-samples")
            with gr.Row():
                losses = gr.LinePlot(x="step", y="value", color="term", label="Loss terms (nats per image, on gray levels)", height=240,
                                     x_title="step", y_title="nats per image", elem_id="train-losses", elem_classes="legend-below")
                kl = gr.LinePlot(x="step", y="value", color="term", label="KL term (nats per image)", height=240,
                                 x_title="step", y_title="nats per image", elem_id="train-kl", elem_classes="legend-below")
    if state is None:
        state = gr.State(None, delete_callback=discard)

    settings = [objective, beta, latent, data, images, epochs, seed]
    inputs, outputs = [*settings, state], [status, scatter, grid, reconstructions, samples, losses, kl, download, state]
    # No Gradio limit: every training request starts at once, and the trainer runs one at a time, lets a few wait (their
    # place shows in the status) and refuses the rest with a clear error, so waiting runs never fill the app's queue.
    training: dict[str, Any] = {"concurrency_limit": None, "show_progress": "full", "show_progress_on": status}
    runs = [start.click(trainer.train, inputs, outputs, api_name="train", **training)]
    stop.click(trainer.stop, None, note, api_name="stop_training")
    for key, button in presets.items():
        chosen = button.click(_preset(trainer, key), None, [objective, beta, latent], api_name=f"preset_{key}")
        runs.append(chosen.then(trainer.train, inputs, outputs, api_name=f"train_{key}", api_visibility="private", **training))

    def fit_images(source: str, n: int) -> dict:  # the image slider's range follows the data source
        most = trainer.max_images(source)
        return gr.update(maximum=most, value=min(n, most))

    data.input(fit_images, [data, images], images, api_name="fit_training_images", api_visibility="private")
    return TrainTab(state=state, runs=runs)


__all__ = ["TrainTab", "train_tab"]

r"""What a live training run is: its settings and their server-side limits, the loss-term presets, and its result.

The three objectives are the terms of the loss, one network for all three (`HIDDEN`):

| objective | model | loss per image |
|---|---|---|
| reconstruction only | `kind="ae"` (plain autoencoder) | $-\log p(x \mid z)$, $z = \text{enc}(x)$ |
| KL only | `kind="vae"`, `reconstruction_weight=0` | $\beta\,\mathrm{KL}(q(z \mid x) \,\Vert\, p(z))$ |
| both | `kind="vae"` | $-\log p(x \mid z) + \beta\,\mathrm{KL}$ (the β-ELBO) |

[`Settings`][] turns the tab's choices into the package's `ModelConfig` and `TrainConfig`; the result of
a run, a [`TrainedModel`][], is what the browser session keeps (its `gr.State`), with the model's
files written by `vae.save_model` and zipped for the download ([`save`][]).
"""

from __future__ import annotations

import math
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import vae

HIDDEN = (256, 256)  # encoder widths (the decoder mirrors them): one network for every objective
LEARNING_RATE = 3e-3  # constant, Adam
BATCH_SIZE = 64
# Train on gray levels (the pytorch/examples recipe): the 2-D map forms in fewer steps than with dynamic binarization
# (compare `python benchmarks/live_training.py --skip-served` with `--binarize dynamic`); the reconstruction term is
# then the Bernoulli cross-entropy of the gray levels, not comparable with the shipped models' binarized numbers.
BINARIZE = "none"
TRAIN_POOL = 50_000  # training images drawn on: the last 10,000 of MNIST's 60,000 are the validation split
ARCHIVE = "trained_model.zip"

BOTH, RECONSTRUCTION_ONLY, KL_ONLY = "both (VAE)", "reconstruction only (autoencoder)", "KL only"
OBJECTIVES = (BOTH, RECONSTRUCTION_ONLY, KL_ONLY)
SHIPPED, DATA_ROOT = "shipped subset", "MNIST in the data root"


@dataclass(frozen=True)
class Limits:
    """The server-side caps of a live run, and of the runs waiting for it; every request is checked against them.

    Attributes:
        max_beta: the largest KL weight β (from 0).
        max_latent_dim: the largest latent size (from 2; the map shows the first two dimensions).
        min_images, max_images: the number of training images (with the shipped subset, at most its size).
        max_epochs: passes over the training images.
        max_steps: optimisation steps of one run (epochs × ⌈images / batch⌉): a longer run is refused.
        max_seconds: wall time of one run: training stops there, keeping what it learned.
        view_every: steps between two views.
        max_seed: the largest seed.
        max_waiting: runs that may wait while one trains (one per browser session); more are refused at once.
    """

    max_beta: float = 10.0
    max_latent_dim: int = 8
    min_images: int = 100
    max_images: int = TRAIN_POOL
    max_epochs: int = 50
    max_steps: int = 8_000
    max_seconds: float = 60.0
    view_every: int = 200
    max_seed: int = 2**31 - 1
    max_waiting: int = 4


@dataclass(frozen=True)
class Settings:
    """One run's checked settings (see [`LiveTrainer.check`][])."""

    objective: str = BOTH
    beta: float = 1.0
    latent_dim: int = 2
    data: str = SHIPPED
    images: int = 10_000
    epochs: int = 20
    seed: int = 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.images / BATCH_SIZE)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def model_config(self) -> vae.ModelConfig:
        kind = "ae" if self.objective == RECONSTRUCTION_ONLY else "vae"
        return vae.ModelConfig(kind=kind, latent_dim=self.latent_dim, hidden=HIDDEN)

    def train_config(self) -> vae.TrainConfig:
        # KL only: the reconstruction term is weighted 0 (still computed and shown); an autoencoder has no KL term.
        return vae.TrainConfig(epochs=self.epochs, batch_size=BATCH_SIZE, lr=LEARNING_RATE, beta=self.beta, seed=self.seed,
                               reconstruction_weight=0.0 if self.objective == KL_ONLY else 1.0, train_size=self.images,
                               binarize=BINARIZE)


PRESETS = {  # the three loss-term pictures (issue 21, section 3): the objective, beta = 1 and a 2-D code
    "reconstruction_only": (RECONSTRUCTION_ONLY, 1.0, 2),
    "kl_only": (KL_ONLY, 1.0, 2),
    "both": (BOTH, 1.0, 2),
}


@dataclass
class TrainedModel:
    """What a browser session keeps of its last live run (the value of the tab's `gr.State`).

    Attributes:
        model: the trained network, in eval mode on the CPU (an `Autoencoder` for reconstruction only).
        settings: the run's settings.
        history: the per-epoch records `vae.train` returned (a stopped run's partial epoch is not recorded).
        steps: optimisation steps taken.
        seconds: training wall time.
        ending: "finished", "stopped" (Stop) or "time limit".
        folder: holds `trained_model.zip`, `vae.save_model`'s files (unzipped, a folder `vae.load` reads).
        stats: what the other tabs computed about this model over the shipped test digits (codes, map, typical
            scores), kept here, with the session, rather than in the shipped models' caches (`handlers.Explorer.resolve`).
    """

    model: vae.EncoderDecoder
    settings: Settings
    history: list[dict[str, Any]]
    steps: int
    seconds: float
    ending: str
    folder: Path
    stats: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def archive(self) -> Path:
        """The download: model.safetensors, config.json and metrics.json in one zip."""
        return self.folder / ARCHIVE

    @property
    def name(self) -> str:
        """A short description for menus: "live VAE, 2-D, β = 1, 3,140 steps"."""
        s = self.settings
        what = {BOTH: "VAE", RECONSTRUCTION_ONLY: "autoencoder", KL_ONLY: "VAE, KL only"}[s.objective]
        beta = "" if s.objective == RECONSTRUCTION_ONLY else f", β = {s.beta:g}"
        return f"live {what}, {s.latent_dim}-D{beta}, {self.steps:,} steps"

    def discard(self) -> None:
        """Delete the files (the session ended, or a newer run replaced this one)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def discard(value: Any) -> None:
    """`gr.State(delete_callback=discard)`: delete a session's files when Gradio drops its state."""
    if isinstance(value, TrainedModel):
        value.discard()


def save(model: vae.EncoderDecoder, settings: Settings, history: list[dict[str, Any]], seconds: float, folder: Path) -> Path:
    """`folder/trained_model.zip`: the files `vae.save_model` writes (model.safetensors, config.json, metrics.json); `folder`.

    metrics.json holds the live settings, the `TrainConfig` and the per-epoch history.
    """
    metrics = {"live_training": asdict(settings), "train_config": vae.config.to_dict(settings.train_config()),
               "seconds": seconds, "history": history}
    saved = vae.save_model(model, folder / "model", metrics)
    with zipfile.ZipFile(folder / ARCHIVE, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(saved.iterdir()):
            archive.write(path, path.name)
    shutil.rmtree(saved)  # the zip is what is handed out; the model itself stays in memory
    return folder


__all__ = ["BOTH", "DATA_ROOT", "KL_ONLY", "OBJECTIVES", "PRESETS", "RECONSTRUCTION_ONLY", "SHIPPED", "Limits", "Settings",
           "TrainedModel", "discard", "save"]

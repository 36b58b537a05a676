r"""One view of a live training run: the pictures and curves the Train tab shows every few hundred steps.

[`draw`][] turns the network being trained into a [`LiveView`][]: the shipped test digits at their
codes (the first two dimensions), coloured by digit, and the decoded grid over the prior, both made
by the Latent space tab's own helpers (`widgets.map_value`, `handlers.grid_codes`); a fixed row of
test digits and their reconstructions; decodes of fixed random codes; and the loss curves. Every view holds the whole run so far, so a client that
misses one loses nothing.

How recognisable the map is, as a number: the **5-NN accuracy** of the codes, the share of test
digits 1,000-1,999 of the shipped subset whose 5 nearest neighbours among digits 0-999 (in the
first two code dimensions) mostly have their label ([`knn_accuracy`][]). The shipped 2-D VAE
`latent2d` scores about 0.74; an untrained network about 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from handlers import TRAINED, grid_codes
from widgets import PlotValue, map_value, plot_value, tile

import vae

if TYPE_CHECKING:
    from live_run import Settings, TrainedModel

GRID_SIZE = 15  # the decoded grid is GRID_SIZE x GRID_SIZE, as the Latent space tab's default
NUM_SAMPLES = 20  # decodes of fixed random codes, two rows of ten
KNN_K = 5
KNN_REFERENCE = 1000  # test digits 0-999 are the neighbours, 1000-1999 are scored
CURVE_EVERY = 20  # steps averaged into one point of the loss curves
REFERENCE_MODEL = "latent2d"  # the shipped 2-D VAE whose map the live one is compared with
ENDINGS = {
    "untrained": "**Untrained network** (random weights): step 0 of {total:,}. Training starts now.",
    "training": "**Training**: step {step:,} of {total:,} (epoch {epoch} of {epochs}), {seconds:.1f} s.",
    "finished": "**Finished**: {step:,} steps ({epochs} epochs) in {seconds:.1f} s.",
    "stopped": "**Stopped** after {step:,} of {total:,} steps ({seconds:.1f} s).",
    "time limit": "**Stopped at the time limit** after {step:,} of {total:,} steps ({seconds:.1f} s).",
}


@dataclass
class Curves:
    """The loss terms of a run, averaged over windows of CURVE_EVERY steps: points (step, term, nats per image)."""

    points: list[tuple[int, str, float]] = field(default_factory=list)
    _sums: dict[str, float] = field(default_factory=dict)
    _count: int = 0

    def add(self, step: int, terms: dict[str, float]) -> None:
        """Record one step's terms (`loss`, `reconstruction`, `kl`, each averaged over its batch)."""
        for k, v in terms.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        if (step + 1) % CURVE_EVERY == 0:
            names = {"reconstruction": "reconstruction", "kl": "KL", "loss": "total"}
            self.points += [(step + 1, names.get(k, k), v / self._count) for k, v in self._sums.items()]
            self._sums, self._count = {}, 0

    def latest(self) -> dict[str, float]:
        """The last window's averages ({} before the first window ends)."""
        if not self.points:
            return {}
        step = self.points[-1][0]
        return {term: value for s, term, value in self.points if s == step}

    def plot(self, terms: tuple[str, ...]) -> PlotValue:
        """A LinePlot value of `terms` against the step, grouped by term.

        Before the first window ends, one empty point (value None) per term: Gradio's plot keeps the
        series (and colours) of the first value it shows, so every term must be in it.
        """
        rows: list[tuple[int, str, float | None]] = sorted((p for p in self.points if p[1] in terms), key=lambda p: terms.index(p[1]))
        rows = rows or [(0, term, None) for term in terms]
        columns = {"step": [r[0] for r in rows], "value": [r[2] for r in rows], "term": [r[1] for r in rows]}
        return plot_value(columns, mark="line")


@dataclass(frozen=True)
class LiveView:
    """What the tab shows at one moment of a run.

    Attributes:
        step, epoch, total_steps: steps taken (0: the untrained network), the current epoch, steps of the full run.
        seconds: training wall time so far.
        knn_accuracy: the 5-NN accuracy of the map (see the module docstring).
        map: ScatterPlot value: columns z1, z2, digit.
        grid, reconstructions, samples: uint8 pictures (H, W).
        losses, kl: LinePlot values: columns step, value, term (reconstruction and total; KL).
        status: a Markdown line.
        result: the finished run's model, on the last view only.
    """

    step: int
    epoch: int
    total_steps: int
    seconds: float
    knn_accuracy: float
    map: PlotValue
    grid: np.ndarray
    reconstructions: np.ndarray
    samples: np.ndarray
    losses: PlotValue
    kl: PlotValue
    status: str
    result: TrainedModel | None = None

    def outputs(self) -> tuple[Any, ...]:
        """The values of the tab's outputs, in order: status, map, grid, reconstructions, samples, losses, KL."""
        return self.status, self.map, self.grid, self.reconstructions, self.samples, self.losses, self.kl


def knn_accuracy(codes: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of digits KNN_REFERENCE.. whose KNN_K nearest among the first KNN_REFERENCE (first two dimensions) share their label."""
    z = codes[:, :2].double()  # (N, 2): what the map shows
    if not torch.isfinite(z).all():
        return 0.0
    predicted = vae.knn_predict(z[:KNN_REFERENCE], labels[:KNN_REFERENCE], z[KNN_REFERENCE:], k=KNN_K)
    return float((predicted == labels[KNN_REFERENCE:]).double().mean())


def first_of_each_digit(labels: torch.Tensor) -> torch.Tensor:
    """Positions of the first 0, 1, ..., 9: (10,)."""
    return torch.stack([torch.nonzero(labels == d)[0, 0] for d in range(10)])


def draw(model: vae.EncoderDecoder, settings: Settings, test: vae.MNIST, step: int, epoch: int, seconds: float, curves: Curves,
         reference: float | None, phase: str, result: TrainedModel | None = None) -> LiveView:
    """The view of `model` (in eval mode, without gradients) after `step` steps; `phase` is a key of ENDINGS."""
    codes = model.embed(test.images)  # (N, D) posterior means (an autoencoder's codes)
    accuracy = knn_accuracy(codes, test.labels)
    picks = test.images[first_of_each_digit(test.labels)]  # (10, 1, 28, 28)
    fixed = vae.sample_prior(NUM_SAMPLES, model.config.latent_dim, generator=torch.Generator().manual_seed(settings.seed))  # (S, D)
    grid = tile(vae.decode_images(model, grid_codes(model, codes, GRID_SIZE)), GRID_SIZE)
    reconstructions = tile(torch.cat([picks, model.reconstruct(picks)]), 10)  # row 1: digits, row 2: reconstructions
    samples = tile(vae.decode_images(model, fixed), 10)
    status = ENDINGS[phase].format(step=step, total=settings.total_steps, epoch=epoch, epochs=settings.epochs, seconds=seconds)
    terms = curves.latest()
    if terms:
        kl = f", KL {terms['KL']:.2f}" if "KL" in terms else ""
        status += f" Loss {terms['total']:.1f} nats per image (reconstruction {terms['reconstruction']:.1f}{kl}; on gray levels)."
    compare = f" (the shipped {REFERENCE_MODEL}: {reference:.0%})" if reference is not None else ""
    status += f" Map: {accuracy:.0%} of test digits sit among mostly their own digit{compare}."
    if result is not None:
        status += (f" The model is kept for this browser session: choose “{TRAINED}” in the model menus of the Explore tabs "
                   "to explore it, or download it below.")
    return LiveView(
        step=step,
        epoch=epoch,
        total_steps=settings.total_steps,
        seconds=seconds,
        knn_accuracy=accuracy,
        map=map_value(codes, test.labels),
        grid=grid,
        reconstructions=reconstructions,
        samples=samples,
        losses=curves.plot(("reconstruction", "total")),
        kl=curves.plot(("KL",)),
        status=status,
        result=result,
    )


__all__ = ["CURVE_EVERY", "GRID_SIZE", "REFERENCE_MODEL", "Curves", "LiveView", "draw", "knn_accuracy"]

r"""The Use › Denoise and inpaint tab's endpoints: damage a digit, then repair it, the chains' repairs streamed.

[`Repairs`][] damages a digit (a mask: a half, a centred square, random pixels or one painted on it;
or noise: `vae.make_mask`, `vae.add_noise`) and repairs it with the baselines (one pass through the
model, PCA at the size `benchmarks/imputation.py` chose on validation digits, the mean image;
`vae.impute`) and the two Markov chains (pseudo-Gibbs and Metropolis-within-Gibbs; `vae.impute_steps`),
whose pictures are streamed every few steps, each scored by its cross-entropy against the undamaged digit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from sketchpad import PendingDrawing
from uses_assets import MAX_SEED, UseAssets, bce_per_pixel, picture
from widgets import check_choice, check_number, to_uint8

import vae

# damage name -> ("mask", make_mask kind) or ("noise", add_noise kind); "painted" is the painter's layer
DAMAGES = {
    "top half": ("mask", "top"), "bottom half": ("mask", "bottom"), "left half": ("mask", "left"),
    "right half": ("mask", "right"), "centred square": ("mask", "square"), "random pixels": ("mask", "random"),
    "painted mask": ("mask", "painted"), "gaussian noise": ("noise", "gaussian"),
    "salt-and-pepper noise": ("noise", "salt_pepper"), "bit flips": ("noise", "flip"),
}
SQUARE_SIZES = (2, 26)  # the centred square's side, in pixels (make_mask needs some pixels observed)
MAX_REPAIR_STEPS, DEFAULT_STEPS = 200, 100  # the benchmark's chains ran 100 steps
BASELINES, CHAINS = ("one_pass", "pca", "mean"), ("pseudo_gibbs", "mwg")
METHOD_NAMES = {"one_pass": "one pass", "pca": "PCA", "mean": "mean image", "pseudo_gibbs": "pseudo-Gibbs", "mwg": "MwG"}
MAX_UPDATES = 10  # streamed updates of the chains' pictures per repair, after the first (the chains run every step)
PAINT_COVERAGE = 0.25  # a 28x28 pixel is missing when at least this much of its cell in the painter is painted
MISSING_RGB = (225, 87, 89)  # missing pixels in the damaged picture


@dataclass(frozen=True)
class Damage:
    """A digit and its damage: `clean` as the model sees it, `damaged`, and `mask` (True = missing; None for noise). (1, 1, 28, 28) each."""

    clean: torch.Tensor
    damaged: torch.Tensor
    mask: torch.Tensor | None
    name: str


@dataclass(frozen=True)
class RepairState:
    """One streamed update: the step, and the repairs so far by method (1, 1, 28, 28) each; MwG's acceptance rate."""

    step: int
    steps: int
    repairs: dict[str, torch.Tensor]
    acceptance: float


def damaged_picture(d: Damage) -> np.ndarray:
    """The damaged digit; missing pixels in red: (28, 28) or (28, 28, 3) uint8."""
    gray = picture(d.damaged)
    if d.mask is None:
        return gray
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgb[d.mask[0, 0].numpy()] = MISSING_RGB
    return rgb


def painted_mask(painted: Any) -> torch.Tensor:
    """The painter's layers (RGBA arrays, painted where alpha > 0) as a mask (1, 28, 28) bool, or a gr.Error.

    `painted` is the painter's value, or a `PendingDrawing` (what the page's painter passes on), decoded here.
    """
    if isinstance(painted, PendingDrawing):
        painted = painted.decode()
    layers = [layer for layer in (painted.get("layers") or []) if layer is not None] if isinstance(painted, dict) else []
    if not layers:
        raise gr.Error("the painted mask is empty: press 'Paint on this digit', paint over the pixels to erase, then try again")
    alpha: np.ndarray | None = None
    for layer in layers:
        a = np.asarray(layer)
        if a.ndim != 3 or a.shape[2] != 4:
            raise gr.Error(f"a painted layer must be an RGBA picture (H, W, 4), not an array of shape {a.shape}")
        if alpha is not None and a.shape[:2] != alpha.shape:
            raise gr.Error(f"the painted layers differ in size ({alpha.shape[1]}×{alpha.shape[0]} and {a.shape[1]}×{a.shape[0]})")
        alpha = a[..., 3] if alpha is None else np.maximum(alpha, a[..., 3])
    assert alpha is not None
    h, w = alpha.shape
    if h != w or h < 28:
        raise gr.Error(f"the painted mask must be a square picture of at least 28×28 pixels (it is shrunk onto the digit), not {w}×{h}")
    coverage = np.asarray(Image.fromarray(alpha.astype(np.uint8)).resize((28, 28), Image.Resampling.BOX))  # (28, 28)
    return torch.from_numpy(coverage >= PAINT_COVERAGE * 255)[None]


class Repairs(UseAssets):
    """The endpoints of the Denoise and inpaint tab (`damage`, `repair`, the painter's `painter`)."""

    def pca(self, k: int | None = None) -> vae.PCA:
        """The shipped PCA (vae/assets/pca_mnist.safetensors, 150 components), or its top k."""

        def load() -> vae.PCA:
            path = self._asset("pca_mnist.safetensors")
            with safe_open(str(path), "pt") as f:
                shape = tuple(json.loads((f.metadata() or {}).get("shape", "[1, 28, 28]")))
            t = load_file(str(path))
            return vae.PCA(t["mean"], t["components"], t["explained_variance"], t["total_variance"].item(), shape)

        full = self._lazy("pca", load)
        if k is None:
            return full
        return vae.PCA(full.mean, full.components[:k], full.explained_variance[:k], full.total_variance, full.shape)

    def pca_size(self, damage: str, strength: float) -> tuple[int, str]:
        """The PCA size the imputation benchmark chose on validation digits for the most similar damage, and that damage's name."""
        result = self._result("imputation")
        kind, spec = DAMAGES[damage]
        if kind == "noise":
            entries = {n: r for n, r in result["noise"].items() if r["kind"] == ("gaussian" if spec == "gaussian" else "flip")}
            name = min(entries, key=lambda n: abs(entries[n]["strength"] - strength))
            return int(entries[name]["selection"]["pca"]["k"]), name
        masks = result["masks"]
        if spec == "random":
            randoms = {n: r for n, r in masks.items() if r["spec"]["kind"] == "random"}
            name = min(randoms, key=lambda n: abs(randoms[n]["spec"]["fraction"] - strength))
        else:  # halves and painted masks: the top half's choice; the square: the square's
            name = next(n for n, r in masks.items() if r["spec"]["kind"] == ("square" if spec == "square" else "top"))
        return int(masks[name]["selection"]["pca"]["k"]), name

    def damage_tensors(self, image: Any, damage: str, strength: float, square: int, painted: Any, seed: int) -> Damage:
        """The digit and its damage, checked: noise of a kind and strength, or a mask (a half, a square, random pixels, painted)."""
        check_choice(damage, "damage", list(DAMAGES))
        strength = check_number(strength, "strength", 0.0, 1.0)
        square = check_number(square, "square size", *SQUARE_SIZES, integer=True)
        seed = check_number(seed, "seed", 0, MAX_SEED, integer=True)
        x = self.explorer._digit(image, "digit")[None]  # (1, 1, 28, 28) as the model sees it
        generator = torch.Generator().manual_seed(seed)
        kind, spec = DAMAGES[damage]
        mask = painted_mask(painted)[None] if spec == "painted" else None  # (1, 1, 28, 28); a gr.Error of its own
        try:
            if kind == "noise":
                return Damage(x, vae.add_noise(x, spec, strength, generator), None, damage)
            if mask is not None:
                vae.check_mask(x, mask)  # a mask over every pixel is refused here
            else:
                mask = vae.make_mask(spec, 1, tuple(x.shape[1:]), fraction=strength, size=square, generator=generator)
        except ValueError as err:  # the package's message says what to change
            raise gr.Error(f"{damage}: {err}") from None
        return Damage(x, torch.where(mask, 0.0, x), mask, damage)

    def damage(self, image: Any, damage: str, strength: float, square: int, painted: Any, seed: int) -> tuple[np.ndarray, str]:
        """The damaged digit (missing pixels in red) and what was done to it."""
        d = self.damage_tensors(image, damage, strength, square, painted, seed)
        if d.mask is None:
            note = f"{damage} of strength {strength:g}: which pixels were hit is not known, so only reconstructions apply."
        else:
            note = f"{damage}: {int(d.mask.sum())} of {d.mask.numel()} pixels missing (in red); the others are kept exactly."
        return damaged_picture(d), note

    def repair_states(
        self, image: Any, damage: str, strength: float, square: int, painted: Any, seed: int, steps: int
    ) -> tuple[Damage, str, Iterator[RepairState]]:
        """The damage, a note on the PCA size, and the repairs step by step (the arguments are checked before the first step)."""
        d = self.damage_tensors(image, damage, strength, square, painted, seed)
        steps = check_number(steps, "steps", 1, MAX_REPAIR_STEPS, integer=True)
        model = self.model()
        k, like = self.pca_size(damage, float(strength))
        pca = self.pca(k)
        with torch.no_grad():
            if d.mask is None:  # noise: reconstructions of the noisy digit (the chains need a mask)
                repairs = {"one_pass": model.reconstruct(d.damaged), "pca": pca.reconstruct(d.damaged).clamp(0, 1).float(),
                           "mean": self.pca().mean.float().view_as(d.clean)}
            else:
                repairs = {m: vae.impute(pca if m != "one_pass" else model, d.damaged, d.mask, m) for m in BASELINES}
        note = f"PCA with k = {k} components (the size chosen on validation digits for “{like}” in benchmarks/imputation.py)"
        if d.mask is None:
            return d, note, iter([RepairState(1, 1, repairs, 1.0)])
        chains = [vae.impute_steps(model, d.damaged, d.mask, m, steps, torch.Generator().manual_seed(seed))
                  for m in CHAINS]

        def states() -> Iterator[RepairState]:
            for pg, mwg in zip(*chains):
                yield RepairState(pg.step, steps, {**repairs, "pseudo_gibbs": pg.estimate, "mwg": mwg.estimate}, float(mwg.acceptance[0]))

        return d, note, states()

    def repair(self, image: Any, damage: str, strength: float, square: int, painted: Any, seed: int, steps: int) -> Iterator[tuple[Any, ...]]:
        """Stream the repairs: damaged, one pass, PCA, mean, pseudo-Gibbs, MwG pictures and a status; the chains' pictures every few steps."""
        d, note, states = self.repair_states(image, damage, strength, square, painted, seed, steps)
        every = max(1, math.ceil(int(steps) / MAX_UPDATES))
        scores: dict[str, float] = {}  # cross-entropy of each repair; the baselines' are computed once
        for s in states:
            first = not scores
            if not (first or s.step % every == 0 or s.step == s.steps):
                continue
            scores.update({m: bce_per_pixel(d.clean, r, d.mask) for m, r in s.repairs.items() if first or m in CHAINS})
            status = self._repair_status(d, s, scores, note)
            if d.mask is None:
                yield damaged_picture(d), *(picture(s.repairs[m]) for m in BASELINES), None, None, status
            elif first:
                yield damaged_picture(d), *(picture(s.repairs[m]) for m in (*BASELINES, *CHAINS)), status
            else:  # only the chains change
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), *(picture(s.repairs[m]) for m in CHAINS), status

    @staticmethod
    def _repair_status(d: Damage, s: RepairState, scores: dict[str, float], note: str) -> str:
        listed = " · ".join(f"{METHOD_NAMES[m]} **{v:.3f}**" for m, v in scores.items())
        where = "every pixel (noise)" if d.mask is None else f"the {int(d.mask.sum())} missing pixels"
        head = "Noise: the chains need a mask, so only reconstructions apply." if d.mask is None else (
            f"**Step {s.step} of {s.steps}.** MwG accepted {s.acceptance:.0%} of its proposals so far.")
        return (f"{head}  \nCross-entropy against the undamaged digit over {where}, nats per pixel (lower is better): {listed}.  \n"
                f"{note}. One digit is noisy evidence: benchmarks/imputation.py measures the methods on 10,000.")

    def painter(self, image: Any) -> dict[str, Any]:
        """The painter's value: the digit as the model sees it, 10x larger, to paint the missing pixels on."""
        x = self.explorer._digit(image, "digit")
        big = np.asarray(Image.fromarray(to_uint8(x)[0]).resize((280, 280), Image.Resampling.NEAREST).convert("RGB"))
        return {"background": big, "layers": [], "composite": big}


__all__ = ["DAMAGES", "DEFAULT_STEPS", "MAX_REPAIR_STEPS", "SQUARE_SIZES", "Damage", "RepairState", "Repairs", "damaged_picture",
           "painted_mask"]

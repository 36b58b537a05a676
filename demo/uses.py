r"""The "Use" tabs' endpoints: repair a damaged digit, compress it, classify it with few labels, flag anomalies.

[`Uses`][] wraps a `handlers.Explorer` (its shipped models, test digits and input checks) and the assets the
benchmarks write for the demo: `vae/assets/pca_mnist.safetensors` (the PCA baseline),
`compression_demo.safetensors` (stored PCA / autoencoder / VAE reconstructions at each code size D),
`few_label_classifiers.safetensors` (logistic regressions on `default`'s latent means) and
`anomaly_verdict.json` (a threshold at a stated false-positive rate, with the AUROC per kind of input), and
the recorded results in `benchmarks/results/*.json`. Everything is loaded on first use and cached, so a
request only runs the model on one digit. All math is the package's: `vae.add_noise`, `vae.make_mask`,
`vae.impute_steps`, `vae.missing_log_likelihood`, `vae.latent_features`, `vae.log_likelihood`.
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from widgets import PlotValue, check_choice, check_number, plot_value, to_uint8

import vae

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(vae.__file__).resolve().parent / "assets"
RESULTS = ROOT / "benchmarks" / "results"
OOD_SCRIPT = ROOT / "benchmarks" / "ood_inputs.py"
MODEL = "default"
MAX_SEED = 2**31 - 1
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
EPS = 1e-6  # the probabilities' clamp of vae.missing_log_likelihood
CURVE_COLORS = {"PCA": "#4e79a7", "autoencoder": "#f28e2b", "VAE": "#e15759", "chosen D": "#000000"}
COMPRESSION_METHODS = {"pca": "PCA", "ae": "autoencoder", "vae": "VAE"}
MAP_THIN = 2  # the 2-D maps show every 2nd of the 2,000 digits (the same shape at half the payload)
FEATURE_ROWS = ("default latent means", "PCA 32", "latent2d latent means", "PCA 2", "raw pixels")


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


def picture(x: torch.Tensor) -> np.ndarray:
    """(1, 1, 28, 28) in [0, 1] -> uint8 (28, 28)."""
    return to_uint8(x)[0]


def damaged_picture(d: Damage) -> np.ndarray:
    """The damaged digit; missing pixels in red: (28, 28) or (28, 28, 3) uint8."""
    gray = picture(d.damaged)
    if d.mask is None:
        return gray
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgb[d.mask[0, 0].numpy()] = MISSING_RGB
    return rgb


def painted_mask(painted: Any) -> torch.Tensor:
    """The painter's layers (RGBA arrays, painted where alpha > 0) as a mask (1, 28, 28) bool, or a gr.Error."""
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


def bce_per_pixel(target: torch.Tensor, probs: torch.Tensor, mask: torch.Tensor | None, eps: float = EPS) -> float:
    r"""Cross-entropy of `target` under `probs`, nats per pixel: over the missing pixels (`mask`), or all of them (None)."""
    if mask is not None:
        return -vae.missing_log_likelihood(target, probs, mask, eps).item() / int(mask.sum())
    logits = torch.logit(probs.double().clamp(eps, 1.0 - eps))  # the clamped probabilities as Bernoulli logits
    return -vae.bernoulli_log_likelihood(target.double(), logits).item() / target[0].numel()


class Uses:
    """The endpoints of the Use tabs; `explorer` supplies the models, the test digits and the input checks."""

    def __init__(self, explorer: Any, assets: Path = ASSETS, results: Path = RESULTS, ood_script: Path = OOD_SCRIPT) -> None:
        self.explorer = explorer
        self.assets, self.results, self.ood_script = assets, results, ood_script
        self._lock = threading.Lock()  # guards the two dicts
        self._cache: dict[str, Any] = {}
        self._computing: dict[str, threading.Lock] = {}  # one lock per key: a slow value does not hold up the others

    def _lazy(self, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()` once per key; concurrent first requests wait for it (fitting a classifier must not run twice at once)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._computing.setdefault(key, threading.Lock())
        with lock:  # values depend on others without cycles (a classifier's accuracy on its classifier, ...): no deadlock
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = compute()
            with self._lock:
                self._cache[key] = value
            return value

    def _result(self, name: str) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            path = self.results / f"{name}.json"
            if not path.is_file():
                raise gr.Error(f"the recorded results {path.name} are missing from this installation: run `python benchmarks/{name}.py`")
            return json.loads(path.read_text())

        return self._lazy(f"results/{name}", load)

    def _asset(self, name: str) -> Path:
        path = self.assets / name
        if not path.is_file():
            raise gr.Error(f"the demo asset vae/assets/{name} is missing from this installation (see docs/uses/index.md to make it)")
        return path

    def model(self) -> vae.VAE:
        return self.explorer.model(MODEL)

    # -- 1. denoise and inpaint ----------------------------------------------------------------------
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

    # -- 2. compression ------------------------------------------------------------------------------
    def compression(self) -> dict[str, torch.Tensor]:
        return self._lazy("compression", lambda: load_file(str(self._asset("compression_demo.safetensors"))))

    def compression_dims(self) -> list[int]:
        return [int(d) for d in self.compression()["dims"]]

    def _curves(self) -> PlotValue:
        def compute() -> PlotValue:
            curves = self._result("compression")["curves"]
            # x is log2 D (a number): Gradio sums the rows of a line plot that share a nominal x, which would hide the marker
            rows = [(math.log2(d), curves[m][str(d)]["bce"], name) for m, name in COMPRESSION_METHODS.items() for d in self.compression_dims()]
            return plot_value({"log2_D": [r[0] for r in rows], "BCE": [r[1] for r in rows], "method": [r[2] for r in rows]}, mark="line")

        return self._lazy("curves", compute)

    def reconstructions(self, pos: int, d: int) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, float]]]:
        """Stored digit `pos` (binarized, (1, 1, 28, 28)) and, per method, its reconstruction from d numbers and its BCE in nats.

        The BCE clamps the probabilities as the benchmark did: PCA's at the eps it chose on validation digits, the networks' at 1e-6.
        """
        t, col = self.compression(), self.compression_dims().index(d)
        curves = self._result("compression")["curves"]
        target = t["inputs"][pos].float().div(255).view(1, 1, 28, 28)
        out = {}
        for m in COMPRESSION_METHODS:
            recon = t[m][col, pos].float().div(255).view(1, 1, 28, 28)
            out[m] = (recon, bce_per_pixel(target, recon, None, curves[m][str(d)].get("eps", EPS)) * target.numel())
        return target, out

    def compress(self, digit: int, which: int, d: int) -> tuple[Any, ...]:
        """A stored test digit, its PCA / autoencoder / VAE reconstructions from a code of size d, the curves and the numbers."""
        t = self.compression()
        digit = check_number(digit, "digit", 0, 9, integer=True)
        which = check_number(which, "example", 1, 10, integer=True)
        d = check_choice(d, "code size D", self.compression_dims())
        positions = torch.nonzero(t["labels"] == digit).flatten()
        if which > positions.numel():
            raise gr.Error(f"example must be from 1 to {positions.numel()} for digit {digit}, not {which}")
        pos = int(positions[which - 1])
        target, recons = self.reconstructions(pos, d)
        result = self._result("compression")
        curves, bits = result["curves"], result["bits"]
        rows = []
        for m, (_, bce) in recons.items():
            r = curves[m][str(d)]
            code = f"{d} numbers" + (f"; rate KL = {r['rate_kl']:.1f} nats = {r['rate_kl'] / math.log(2):.1f} bits on average" if m == "vae" else "")
            rows.append(f"| {COMPRESSION_METHODS[m]} | {bce:.1f} | {r['bce']:.1f} | {code} |")
        base = self._curves()
        marker = {"log2_D": [math.log2(d)] * 2, "BCE": [0.0, max(row[1] for row in base["data"])], "method": ["chosen D"] * 2}  # a vertical line
        plot = {**base, "data": base["data"] + plot_value(marker, "line")["data"]}
        text = "\n".join([
            f"Test digit #{int(t['indices'][pos])} (a {digit}), binarized, from a code of **D = {d}** numbers.", "",
            "| method | this digit: BCE (nats) | test set: mean BCE (nats per digit) | the code |", "| --- | ---: | ---: | --- |", *rows, "",
            (f"As a lossless code, `default` (D = 32) needs **{bits['default_test_nll_bits']:.1f} bits** per binarized test digit "
             f"(its test NLL), against {bits['raw_bits']} raw bits; PNG takes {bits['per_digit_bits']['png']:.0f} and gzip "
             f"{bits['per_digit_bits']['gzip']:.0f} bits for one digit alone."),
        ])
        return picture(target), *(picture(r) for r, _ in recons.values()), plot, text

    def compression_maps(self) -> tuple[PlotValue, PlotValue, PlotValue]:
        """The 2-D codes of PCA, the autoencoder and the VAE of the demo's test digits, coloured by digit."""

        def compute() -> tuple[PlotValue, ...]:
            t = self.compression()
            order = torch.argsort(t["map_labels"], stable=True)[::MAP_THIN]  # digit order: so is the legend
            labels = [str(int(v)) for v in t["map_labels"][order]]
            return tuple(plot_value({"z1": t[f"map_{m}"][order, 0].tolist(), "z2": t[f"map_{m}"][order, 1].tolist(), "digit": labels},
                                    mark="point") for m in COMPRESSION_METHODS)

        return self._lazy("maps", compute)

    # -- 3. few labels -------------------------------------------------------------------------------
    def label_budgets(self) -> list[int]:
        def read() -> list[int]:
            with safe_open(str(self._asset("few_label_classifiers.safetensors")), "pt") as f:
                return sorted({int(k.split(".")[0].removeprefix("n")) for k in f.keys() if k.startswith("n")})  # noqa: SIM118 - not a dict

        return self._lazy("budgets", read)

    def classifiers(self, n: int) -> tuple[vae.LinearClassifier, vae.LinearClassifier]:
        """The shipped classifiers for n labels: one on `default`'s latent means, one on raw pixels.

        Both were fitted by `benchmarks/few_labels.py --write-demo` (the first draw of n labelled digits, the
        weight decay chosen on validation) and are read from the asset, never fitted here.
        """
        stored = self._lazy("few_labels", lambda: load_file(str(self._asset("few_label_classifiers.safetensors"))))
        fields = ("weight", "bias", "shift", "scale")
        if f"pixels.n{n}.weight" not in stored:
            raise gr.Error("the raw-pixel classifiers are missing from vae/assets/few_label_classifiers.safetensors: "
                           "run `python benchmarks/few_labels.py --write-demo`")
        codes = vae.LinearClassifier(*(stored[f"n{n}.{f}"] for f in fields))
        return codes, vae.LinearClassifier(*(stored[f"pixels.n{n}.{f}"] for f in fields))

    def subset_accuracy(self, n: int) -> tuple[float, float]:
        """Accuracy of the two classifiers of `classifiers(n)` on the demo's 2,000 shipped test digits."""

        def compute() -> tuple[float, float]:
            images, labels = self.explorer.subset()
            codes, pixels = self.classifiers(n)
            features = self._lazy("subset codes", lambda: vae.latent_features(self.model(), images))
            return tuple((c.predict(f) == labels).double().mean().item() for c, f in ((codes, features), (pixels, images.flatten(1))))

        return self._lazy(f"subset accuracy/{n}", compute)

    def recorded_accuracy(self, n: int) -> dict[str, dict[str, float]]:
        """From few_labels.json: per feature set, logistic and k-NN mean and std over the draws; the shipped classifier's own."""
        result = self._result("few_labels")["results"]
        out = {name: {f"{c}_{s}": result[name][c][str(n)][s] for c in ("logistic", "knn") for s in ("mean", "std")}
               for name in FEATURE_ROWS if name in result}
        for name in ("default latent means", "raw pixels"):
            out[name]["shipped"] = result[name]["logistic"][str(n)]["demo_classifier_accuracy"]
        return out

    def classify(self, image: Any, n: int) -> tuple[np.ndarray, dict[str, float], dict[str, float], str]:
        """The digit as seen, the class probabilities from VAE codes and from raw pixels, and the measured accuracies."""
        n = check_choice(n, "number of labels", self.label_budgets())
        x = self.explorer._digit(image, "digit")[None]  # (1, 1, 28, 28)
        codes, pixels = self.classifiers(n)
        p_codes = torch.softmax(codes.logits(vae.latent_features(self.model(), x)), 1)[0]  # (10,)
        p_pixels = torch.softmax(pixels.logits(x.flatten(1)), 1)[0]
        acc, (live_codes, live_pixels) = self.recorded_accuracy(n), self.subset_accuracy(n)
        draws = self._result("few_labels")["draws"]
        ref = self._result("few_labels")["reference"]
        rows = [f"| {name} | {100 * r['logistic_mean']:.1f} ± {100 * r['logistic_std']:.1f} | {100 * r['knn_mean']:.1f} ± {100 * r['knn_std']:.1f} |"
                for name, r in acc.items()]
        text = "\n".join([
            f"VAE codes say **{int(p_codes.argmax())}** ({p_codes.max():.0%}); raw pixels say **{int(p_pixels.argmax())}** ({p_pixels.max():.0%}).", "",
            f"Test accuracy (%) with **{n} labels**, mean ± std over {draws} balanced draws (benchmarks/few_labels.py):", "",
            "| features | logistic regression | k-NN |", "| --- | ---: | ---: |", *rows, "",
            (f"The classifiers used here (draw 0) on the 10,000 test digits: VAE codes **{100 * acc['default latent means']['shipped']:.2f}%**, "
             f"raw pixels **{100 * acc['raw pixels']['shipped']:.2f}%**; on the demo's 2,000 test digits: VAE codes {100 * live_codes:.1f}%, "
             f"raw pixels {100 * live_pixels:.1f}%. Reference: "
             f"{ref['method']}, {100 * ref['accuracy']:.2f}% with {ref['n_labels']} labels (Kingma et al., 2014)."),
        ])
        labels = [str(i) for i in range(10)]
        return picture(x), dict(zip(labels, p_codes.tolist())), dict(zip(labels, p_pixels.tolist())), text

    # -- 4. anomaly ----------------------------------------------------------------------------------
    def verdict_record(self) -> dict[str, Any]:
        return self.explorer.verdict_record()

    def verdict(self, score: float) -> tuple[bool, str]:
        """Anomalous when the score exceeds the recorded threshold (`handlers.Explorer.verdict`); a sentence saying so."""
        return self.explorer.verdict(score)

    def ood(self) -> Any:
        """benchmarks/ood_inputs.py, the generator of the benchmark's out-of-distribution inputs, and its font list."""

        def load() -> Any:
            if not self.ood_script.is_file():
                raise gr.Error("the out-of-distribution generator benchmarks/ood_inputs.py is not in this installation; score your own image instead")
            spec = importlib.util.spec_from_file_location("ood_inputs", self.ood_script)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module, module.font_files()

        return self._lazy("ood", load)

    def ood_kinds(self) -> list[str]:
        return list(self.verdict_record()["kinds"])

    def anomaly_score(self, image: Any) -> tuple[np.ndarray, float, str]:
        """An image as the model sees it, its anomaly score (negative ELBO, nats) and the verdict with the evidence."""
        return self._anomaly(self.explorer._digit(image, "image")[None], None)

    def anomaly_example(self, kind: str, seed: int) -> tuple[np.ndarray, float, str]:
        """The same for a generated out-of-distribution input of one kind (benchmarks/ood_inputs.py), as the benchmark scored them."""
        check_choice(kind, "kind", self.ood_kinds())
        seed = check_number(seed, "seed", 0, MAX_SEED, integer=True)
        module, fonts = self.ood()
        x = module.make_ood(kind, 1, seed, digits=self.explorer.subset()[0], fonts=fonts)  # (1, 1, 28, 28), not re-centred
        return self._anomaly(x, kind)

    def score(self, x: torch.Tensor) -> float:
        """The recorded call: minus the k-sample ELBO estimate of the gray-level image, nats (higher = more unusual)."""
        v = self.verdict_record()
        return -vae.log_likelihood(self.model(), x, k=int(v["k"]), batch_size=100)[1].item()

    def _anomaly(self, x: torch.Tensor, kind: str | None) -> tuple[np.ndarray, float, str]:
        v = self.verdict_record()
        score = self.score(x)
        typical = self.explorer.typical(self.explorer.resolve(MODEL, None, (MODEL,)))  # the same score of 1,000 shipped test digits
        _, said = self.verdict(score)
        rows = [(f"| **{k.replace('_', ' ')}** | **{e['auroc']:.3f}** | **{e['detected']:.1%}** |" if k == kind else
                 f"| {k.replace('_', ' ')} | {e['auroc']:.3f} | {e['detected']:.1%} |") for k, e in v["kinds"].items()]
        text = "\n".join([
            f"**Negative ELBO: {score:.1f} nats**, {said}. {typical.percentile(score):.0f}% of {len(typical.scores):,} shipped test digits score lower.", "",
            (f"The score is minus a {v['k']}-sample estimate of the ELBO of the gray-level image as the model sees it: roughly how many "
             "nats the model needs to explain it. Higher means harder to explain; it is not a probability of being an anomaly. How well "
             "it tells test digits from 1,000 inputs of each kind (benchmarks/anomaly.py; AUROC 0.5 is chance, below 0.5 the score "
             "points the wrong way):"), "",
            "| kind of input | AUROC | flagged at this threshold |", "| --- | ---: | ---: |", *rows, "",
            ("Known failures: **simple inputs get a high likelihood** (a blank or near-blank image needs few nats, so it scores *lower* "
             "than digits: Nalisnick et al., 2019), and digit-like inputs (the letters O, l, S, Z; a 0, 1 or 8 turned upside down) are "
             "hard for any score of one image."),
        ])
        return picture(x), round(score, 3), text


__all__ = ["DAMAGES", "Damage", "RepairState", "Uses", "bce_per_pixel", "painted_mask"]

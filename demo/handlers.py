r"""The demo's endpoints: widget values in, pictures and numbers out; all model work is done by `vae`.

Each public method of [`Explorer`][] is one named API endpoint. It checks what depends on the
model (a dimension index, a code range), converts widget values to tensors, calls the package
(`vae.to_mnist`, `model.encode`, `vae.latent.*`, `vae.log_likelihood`, ...) and converts the
result back to pictures. Models, the shipped test subset and per-model statistics are loaded on
first use and cached, so the app starts in a few seconds.

**Which model.** A model menu's value is a shipped model's name or `TRAINED`, the model this browser
session trained in the Train tab (kept in the session's `gr.State`, a `live_run.TrainedModel`, which
the endpoints receive as their last argument). [`Explorer.resolve`][] turns the two into a
[`Chosen`][] model, the only way the endpoints get one: names are checked on the server, `TRAINED`
without a trained model is a clear error, and the statistics of the session's model are cached with
it (dropped with the session), never under a shipped model's name.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from live_run import TrainedModel
from safetensors.torch import load_file
from widgets import RANDOM_CODE, PlotValue, check_choice, gif_bytes, map_value, plot_value, tile, to_uint8, with_rows

import vae
from vae.preprocess import MAX_IMAGE_SIDE

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
VERDICT_FILE = Path(vae.__file__).resolve().parent / "assets" / "anomaly_verdict.json"  # benchmarks/anomaly.py --write-demo
SUBSET_FILE = "test_subset.safetensors"
BETA_MODELS = ("latent2d-beta0.5", "latent2d-beta4")  # latent2d (beta = 1) trained with KL weights 0.5 and 4
MODEL_NAMES = ("default", "latent2d", *BETA_MODELS, "ae2d", "cvae")
IMAGE_MODELS = ("default", "latent2d", *BETA_MODELS, "ae2d")  # unconditional models that encode a picture
SAMPLING_MODELS = ("default", "latent2d", *BETA_MODELS)  # unconditional VAEs: the prior is meaningful
MAP_MODELS = ("latent2d", *BETA_MODELS, "ae2d")  # 2-D codes, drawn as a map
CONDITIONAL_MODEL = "cvae"
TRAINED = "trained here"  # the menus' value for the session's model from the Train tab
NUM_STOCHASTIC = 8  # stochastic reconstructions shown per input
SCORE_K = 16  # posterior samples per image for the negative-ELBO estimate (input and test digits alike)
TYPICAL_DIGITS = 1000  # test digits behind the typical range of the score
TOP_DIMENSIONS = 5  # dimensions shown in the traversal grid
COMPARE_BOX = (0.005, 0.995)  # quantiles of the autoencoder codes bounding its random codes
COMPARE_THIN = 2  # the comparison maps show every 2nd shipped test digit (1,000 per map, each digit halved alike)


@dataclass(frozen=True)
class Typical:
    """The anomaly score over shipped test digits: sorted scores and their 5th/50th/95th percentiles."""

    scores: np.ndarray
    low: float
    median: float
    high: float

    def percentile(self, score: float) -> float:
        """Percent of the test digits scoring below `score`."""
        return 100.0 * float(np.searchsorted(self.scores, score)) / len(self.scores)


@dataclass(frozen=True)
class Chosen:
    """The model one request uses (made by [`Explorer.resolve`][]).

    Attributes:
        name: the menu value, a shipped model's name or TRAINED (for messages).
        model: the network, in eval mode.
        stats: where its statistics over the shipped test digits are cached (codes, map, typical scores): the
            explorer's store for that name for a shipped model, the `TrainedModel`'s own for the session's model.
    """

    name: str
    model: vae.EncoderDecoder
    stats: dict[str, Any]


def unfit(trained: TrainedModel, prior: bool) -> str | None:
    """Why the session's trained model cannot serve a tab, or None if it can; `prior`: the tab samples from the prior."""
    if prior and not trained.model.config.is_variational:
        return ("the model trained here is an autoencoder (reconstruction term only): it has no prior to sample from; "
                "train a VAE (both terms, or the KL term only) or choose a shipped model")
    return None


def grid_codes(model: vae.EncoderDecoder, codes: torch.Tensor, n: int) -> torch.Tensor:
    """The n x n grid of equal prior mass over the first two dimensions, the others at 0 (the prior's mean): (n*n, D).

    An autoencoder has no prior: the grid is laid over a Gaussian fit of its test codes `codes` (N, D)
    (mean + std * grid), so it covers the region they occupy, the other dimensions at their mean.
    """
    z = torch.zeros(n * n, model.config.latent_dim)  # (n*n, D)
    z[:, :2] = vae.manifold_grid(n)  # (n*n, 2)
    if not model.config.is_variational:
        z = codes.mean(0) + codes.std(0) * z
    return z


def point_code(model: vae.EncoderDecoder, codes: torch.Tensor, z1: float, z2: float) -> torch.Tensor:
    """The code (z1, z2) in the first two dimensions, the others as in `grid_codes` (0, or the autoencoder's mean): (1, D)."""
    z = torch.zeros(1, model.config.latent_dim) if model.config.is_variational else codes.mean(0, keepdim=True).clone()
    z[0, 0], z[0, 1] = z1, z2
    return z


class Explorer:
    """Model registry, caches and the endpoint functions of the demo.

    Args:
        models_dir: optional folder of model folders named like the shipped models
            (`<models_dir>/default/model.safetensors`, ...); a name found there wins over the
            shipped model of the same name. None: shipped models only.
        examples_dir: folder holding the example PNGs and `test_subset.safetensors`.
    """

    def __init__(self, models_dir: Path | None = None, examples_dir: Path = EXAMPLES_DIR) -> None:
        self.models_dir = models_dir
        self.examples_dir = examples_dir
        self._lock = threading.Lock()
        self._models: dict[str, vae.VAE] = {}
        self._data: dict[str, Any] = {}  # the test subset, the classifier
        self._stats: dict[str, dict[str, Any]] = {}  # per shipped model: see Chosen.stats

    # -- models and data --------------------------------------------------------------------
    def _source(self, name: str) -> str | Path | None:
        if self.models_dir is not None and (self.models_dir / name).is_dir():
            return self.models_dir / name
        return name if name in vae.available_models() else None

    def missing_models(self) -> list[str]:
        """Names of the demo's models that are neither shipped nor in `models_dir`."""
        return [name for name in MODEL_NAMES if self._source(name) is None]

    def model(self, name: str, allowed: tuple[str, ...] = MODEL_NAMES) -> vae.VAE:
        """The loaded model `name` (cached), or a gr.Error saying why it is not available."""
        check_choice(name, "model", list(allowed))
        with self._lock:
            if name not in self._models:
                source = self._source(name)
                if source is None:
                    raise gr.Error(
                        f"model {name!r} is not available in this installation (shipped models: "
                        f"{', '.join(vae.available_models()) or 'none'}); choose another model"
                    )
                try:
                    self._models[name] = vae.load(source)
                except vae.CheckpointError as err:
                    raise gr.Error(f"model {name!r} could not be loaded: {err}") from None
            return self._models[name]

    def resolve(self, name: Any, trained: Any, allowed: tuple[str, ...], prior: bool = False) -> Chosen:
        """The model a menu value names: one of the shipped models `allowed`, or TRAINED, the session's model.

        `trained` is the session's `gr.State` value (a `TrainedModel`, or None until a run ends): every
        browser session and every API client has its own, so a session is never served another's model.
        `prior`: the tab samples from the prior (an autoencoder does not fit). Anything else is a gr.Error
        saying what to choose, or to train a model first.
        """
        check_choice(name, "model", [*allowed, TRAINED])
        if name != TRAINED:
            model = self.model(name, allowed)
            with self._lock:
                return Chosen(name, model, self._stats.setdefault(name, {}))
        if not isinstance(trained, TrainedModel):
            raise gr.Error(f"there is no model {TRAINED!r} in this browser session yet: train one in the Train tab first "
                           "(it is kept for this session only), or choose a shipped model")
        if (reason := unfit(trained, prior)) is not None:
            raise gr.Error(reason)
        return Chosen(TRAINED, trained.model, trained.stats)

    @staticmethod
    def offers(trained: Any, prior: bool = False) -> bool:
        """Whether a menu offers the session's model: there is one, and it fits the tab (see `resolve`)."""
        return isinstance(trained, TrainedModel) and unfit(trained, prior) is None

    def _cached(self, key: str, compute: Any, store: dict[str, Any] | None = None) -> Any:
        """`store[key]` (the explorer's data by default), computed on first use."""
        store = self._data if store is None else store
        with self._lock:
            if key in store:
                return store[key]
        value = compute()  # outside the lock: may take a second; a duplicate computation is harmless
        with self._lock:
            return store.setdefault(key, value)

    def subset(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The shipped test digits: images (N, 1, 28, 28) in [0, 1] and labels (N,)."""

        def load() -> tuple[torch.Tensor, torch.Tensor]:
            path = self.examples_dir / SUBSET_FILE
            if not path.is_file():
                raise gr.Error(f"the test subset {path} is missing: run scripts/make_demo_examples.py")
            data = load_file(str(path))
            return data["images"].unsqueeze(1).float() / 255.0, data["labels"].long()

        return self._cached("subset", load)

    def example_paths(self) -> list[str]:
        """The example PNGs (`<digit>_<test index>.png`) for the pickers: one of each digit, then the next of each, ..."""
        paths = sorted(self.examples_dir.glob("*.png"))
        rank = {p: sum(q.name[0] == p.name[0] for q in paths[:i]) for i, p in enumerate(paths)}
        return [str(p) for p in sorted(paths, key=lambda p: (rank[p], p.name))]

    def codes(self, chosen: Chosen) -> torch.Tensor:
        """Where the shipped test digits sit in the latent space of a model: (N, D)."""
        model = chosen.model

        def compute() -> torch.Tensor:
            images, labels = self.subset()
            with torch.no_grad():
                return model.embed(images, labels if model.config.is_conditional else None)

        return self._cached("codes", compute, chosen.stats)

    def typical(self, chosen: Chosen) -> Typical:
        """The anomaly score of `TYPICAL_DIGITS` shipped test digits under a model."""

        def compute() -> Typical:
            images = self.subset()[0][:: max(1, len(self.subset()[0]) // TYPICAL_DIGITS)][:TYPICAL_DIGITS]
            scores = np.sort(self._score(chosen.model, images).numpy())
            return Typical(scores, *(float(np.percentile(scores, q)) for q in (5, 50, 95)))

        return self._cached("typical", compute, chosen.stats)

    def verdict_record(self) -> dict[str, Any]:
        """vae/assets/anomaly_verdict.json (benchmarks/anomaly.py): the model, score, threshold, its false-positive rate, AUROCs."""

        def load() -> dict[str, Any]:
            if not VERDICT_FILE.is_file():
                raise gr.Error(f"{VERDICT_FILE.name} is missing from this installation: run `python benchmarks/anomaly.py --write-demo`")
            return json.loads(VERDICT_FILE.read_text())

        return self._cached("verdict", load)

    def verdict(self, score: float) -> tuple[bool, str]:
        """Anomalous when the score exceeds the recorded threshold; a sentence saying so and at what false-positive rate."""
        v = self.verdict_record()
        flagged = score > v["threshold"]
        side = "above" if flagged else "at or below"
        word = "**unusual: flagged as an anomaly**" if flagged else "**passes as a digit**"
        return flagged, (f"{side} the threshold of {v['threshold']:.1f} nats: {word} (the threshold flags "
                         f"{v['measured_test_fpr']:.1%} of the 10,000 test digits, a false-positive rate of {v['false_positive_rate']:.0%})")

    def _score(self, model: vae.VAE, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO in nats per image (VAE) or reconstruction error -log p(x | z) (autoencoder): (B,)."""
        if model.config.is_variational:
            _, elbo = vae.log_likelihood(model, x, k=SCORE_K, batch_size=100)  # (B,); its own seeded generator: no lock
            return -elbo
        with torch.no_grad():
            return -model.log_px(x, model.decode(model.embed(x)))

    @staticmethod
    def _digit(path: Any, name: str = "image") -> torch.Tensor:
        """An uploaded file as the model sees it, (1, 28, 28), or a gr.Error."""
        if not isinstance(path, str) or not path:
            raise gr.Error(f"{name}: expected an image file, got {type(path).__name__}")
        try:
            return vae.to_mnist(path)
        except vae.ImageError as err:
            raise gr.Error(f"{name}: {err}") from None

    # -- 1. reconstruction ------------------------------------------------------------------
    def drawing_to_image(self, sketch: dict[str, Any]) -> Any:
        """The sketchpad's drawing as a picture for the image inputs (checked: not empty, not too large)."""
        composite = sketch.get("composite") if isinstance(sketch, dict) else None
        if composite is None:
            raise gr.Error("the drawing is empty: draw a digit first")
        try:
            vae.to_mnist(composite)  # raises for an empty or unusable drawing
        except vae.ImageError as err:
            raise gr.Error(f"drawing: {err}") from None
        return composite

    def reconstruct(self, image: str, model_name: str, seed: int, trained: Any = None) -> tuple[Any, ...]:
        """Input as the model sees it, reconstruction, stochastic reconstructions, posterior plot, score, reading."""
        chosen = self.resolve(model_name, trained, IMAGE_MODELS)
        model = chosen.model
        x = self._digit(image)[None]  # (1, 1, 28, 28)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            mu, logvar = model.encode(x)  # (1, D) each; an autoencoder's logvar is -inf (a point)
            if model.config.is_variational:
                z = model.reparameterize(mu.expand(NUM_STOCHASTIC, -1), logvar.expand(NUM_STOCHASTIC, -1), generator)  # (S, D)
            else:  # an autoencoder's code is a point: every "sample" is the code itself
                z = mu.expand(NUM_STOCHASTIC, -1)  # (S, D)
            samples = vae.decode_images(model, z)  # (S, 1, 28, 28)
            mean = vae.decode_images(model, mu)  # (1, 1, 28, 28) decoder mean at the posterior mean
        score = float(self._score(model, x)[0])
        typical = self.typical(chosen)
        std = (0.5 * logvar[0]).exp()  # (D,)
        d = mu.shape[1]
        posterior = plot_value(
            {
                "dimension": list(range(d)) * 2,
                "value": mu[0].tolist() + std.tolist(),
                "quantity": ["mean μ"] * d + ["std σ"] * d,
            },
            mark="line",
        )
        what = "negative ELBO" if model.config.is_variational else "reconstruction error −log p(x|z)"
        rank = typical.percentile(score)
        if score > typical.high:
            verdict = "**unusual** for this model"
        elif score < typical.low:
            verdict = "easier than most test digits for this model (simple shapes such as 1s score lowest)"
        else:
            verdict = "typical of test digits"
        reading = (
            f"**{what}: {score:.1f} nats** — {verdict}: {rank:.0f}% of {len(typical.scores)} shipped test digits score lower "
            f"(their middle 90% lies between {typical.low:.1f} and {typical.high:.1f} nats, median {typical.median:.1f}). "
            "Higher means the model finds the input harder to explain: scribbles, letters or several digits in one picture score high."
        )
        if chosen.name == self.verdict_record()["model"]:  # the model the anomaly benchmark measured
            reading += " " + self.evidence(score)
        return to_uint8(x)[0], to_uint8(mean)[0], tile(samples, NUM_STOCHASTIC), posterior, round(score, 3), reading

    def evidence(self, score: float) -> str:
        """The verdict at the recorded threshold, with how well this score told test digits from other inputs (AUROC)."""
        v = self.verdict_record()
        kinds = v["kinds"]
        mean = sum(e["auroc"] for e in kinds.values()) / len(kinds)
        best, worst = max(kinds, key=lambda k: kinds[k]["auroc"]), min(kinds, key=lambda k: kinds[k]["auroc"])
        return (f"Verdict: {self.verdict(score)[1]}. Measured on 1,000 inputs of each of {len(kinds)} kinds, this score tells "
                f"test digits from them with a mean AUROC of {mean:.2f} ({best.replace('_', ' ')}: {kinds[best]['auroc']:.2f}; "
                f"{worst.replace('_', ' ')}: {kinds[worst]['auroc']:.2f}, simple inputs get a *higher* likelihood than digits). "
                "The Use › Anomaly tab shows every kind.")

    # -- 2. sampling ------------------------------------------------------------------------
    def sample(self, model_name: str, n: int, temperature: float, seed: int, trained: Any = None) -> np.ndarray:
        """A grid of n decoded samples from the model's prior (z = temperature * eps for the standard normal)."""
        model = self.resolve(model_name, trained, SAMPLING_MODELS, prior=True).model
        z = model.prior.sample(n, temperature, torch.Generator().manual_seed(seed))  # (n, D)
        return tile(vae.decode_images(model, z), math.ceil(math.sqrt(n)))

    def sample_digit(self, digit: int, n: int, temperature: float, seed: int) -> np.ndarray:
        """A grid of n samples of one digit from the conditional VAE."""
        model = self.model(CONDITIONAL_MODEL)
        z = model.prior.sample(n, temperature, torch.Generator().manual_seed(seed))  # (n, D)
        y = torch.full((n,), digit, dtype=torch.long)  # (n,)
        return tile(vae.decode_images(model, z, y), math.ceil(math.sqrt(n)))

    # -- 3. interpolation -------------------------------------------------------------------
    def interpolate(
        self, image_a: str, image_b: str, model_name: str, steps: int, method: str, trained: Any = None
    ) -> tuple[np.ndarray, bytes]:
        """Decoded path between the posterior means of two digits: a strip and an animated GIF (its bytes).

        The GIF is handed to its output component as bytes, which stores them in Gradio's cache
        itself (`widgets.CachedImage`): no temporary file of the demo's own, so nothing to rotate
        or clean up. (The former rotation, which kept the newest 64 files, failed under load: two
        requests pruning at once, one stat()ed a file the other had just deleted.)
        """
        model = self.resolve(model_name, trained, IMAGE_MODELS).model
        x = torch.stack([self._digit(image_a, "first digit"), self._digit(image_b, "second digit")])  # (2, 1, 28, 28)
        with torch.no_grad():
            z0, z1 = model.embed(x)  # (D,) each
        path = (vae.slerp if method == "spherical" else vae.lerp)(z0, z1, steps)  # (steps, D)
        frames = vae.decode_images(model, path)  # (steps, 1, 28, 28)
        return tile(frames, steps), gif_bytes(frames)

    # -- 4. latent space --------------------------------------------------------------------
    def _map_model(self, name: str, trained: Any = None) -> Chosen:
        """A model for the map: a shipped 2-D one, or the session's (of any latent size: its first two dimensions)."""
        chosen = self.resolve(name, trained, MAP_MODELS)
        d = chosen.model.config.latent_dim
        if d != 2 and chosen.name != TRAINED:
            raise gr.Error(f"model {name!r} has a {d}-D latent space; the map needs 2-D codes")
        return chosen

    def code_range(self, name: str, trained: Any = None) -> float:
        """Half-width of a square that holds the test codes (first two dimensions) of a map model (at least 4, the prior's range)."""
        chosen = self._map_model(name, trained)
        return max(4.0, math.ceil(float(self.codes(chosen)[:, :2].abs().max()) * 1.1))

    def _map_plot(self, chosen: Chosen) -> PlotValue:
        """The shipped test digits at their codes, in digit order (so the legend is too); cached per model."""
        return self._cached("map", lambda: map_value(self.codes(chosen), self.subset()[1]), chosen.stats)

    def latent_map(self, model_name: str, trained: Any = None) -> PlotValue:
        """The shipped test digits at their codes (posterior means; the first two dimensions), coloured by digit."""
        return self._map_plot(self._map_model(model_name, trained))

    def manifold(self, model_name: str, n: int, trained: Any = None) -> np.ndarray:
        """Decodes of an n x n grid of codes of equal prior mass (inverse normal CDF), over the first two dimensions.

        For an autoencoder, which has no prior, the grid is laid over a Gaussian fit of its test
        codes (mean + std * grid), so it covers the region its codes occupy (`grid_codes`).
        """
        chosen = self._map_model(model_name, trained)
        return tile(vae.decode_images(chosen.model, grid_codes(chosen.model, self.codes(chosen), n)), n)

    def decode_point(self, model_name: str, z1: float, z2: float, trained: Any = None) -> np.ndarray:
        """The decoder mean at the code (z1, z2) (other dimensions of a larger code: see `point_code`)."""
        chosen = self._map_model(model_name, trained)
        limit = self.code_range(model_name, trained)
        for name, value in (("z1", z1), ("z2", z2)):
            if abs(value) > limit:
                raise gr.Error(f"{name} must be from {-limit:g} to {limit:g} for model {model_name!r}, not {value:g}")
        z = point_code(chosen.model, self.codes(chosen), z1, z2)  # (1, D)
        return to_uint8(vae.decode_images(chosen.model, z))[0]

    # -- 5. autoencoder vs VAE --------------------------------------------------------------
    def classifier(self) -> Any:
        """The package's shipped MNIST classifier (loaded once), which names the digits in random decodes."""
        from vae.classifier import load_classifier

        return self._cached("classifier", load_classifier)

    def _compare_map(self, chosen: Chosen) -> PlotValue:
        """The map of `_map_plot` with every COMPARE_THIN-th digit: two maps are sent per comparison, and
        Gradio walks every value of an output (looking for files) before sending it; 1,000 points per
        map show the same shape at half the cost."""
        full = self._map_plot(chosen)
        return self._cached("compare map", lambda: {**full, "data": full["data"][::COMPARE_THIN]}, chosen.stats)

    def compare(self, n: int, seed: int) -> tuple[PlotValue, PlotValue, np.ndarray, np.ndarray, str]:
        """n random codes for ae2d and latent2d, on each model's map and decoded, and the digits a classifier sees in them.

        The VAE's random codes come from its prior N(0, I). The autoencoder has no prior: its codes are
        drawn uniformly over the region its test codes occupy (the middle 99% of each axis).
        """
        generator = torch.Generator().manual_seed(seed)
        maps, grids, images = [], [], []
        for name in ("ae2d", "latent2d"):
            chosen = self._map_model(name)
            model = chosen.model
            if model.config.is_variational:
                z = model.prior.sample(n, 1.0, generator)  # (n, 2) from the prior
            else:
                codes = self.codes(chosen)  # (N, 2)
                low, high = (torch.quantile(codes, q, dim=0) for q in COMPARE_BOX)  # (2,) each
                z = low + (high - low) * torch.rand(n, 2, generator=generator)  # (n, 2) uniform in the box
            points = {"z1": z[:, 0].tolist(), "z2": z[:, 1].tolist(), "digit": [RANDOM_CODE] * n}
            maps.append(with_rows(self._compare_map(chosen), points))
            images.append(vae.decode_images(model, z))  # (n, 1, 28, 28)
            grids.append(tile(images[-1], math.ceil(math.sqrt(n))))
        digits = self.classifier().predict(torch.cat(images))[0]  # (2n,) both models in one batch
        counts = [torch.bincount(digits[:n], minlength=10), torch.bincount(digits[n:], minlength=10)]  # (10,) each

        def summary(c: torch.Tensor) -> str:
            return ", ".join(f"{d}×{int(c[d])}" for d in range(10) if c[d] > 0)

        top3 = [100.0 * float(c.sort(descending=True).values[:3].sum()) / n for c in counts]
        note = (
            f"Digits the package's classifier sees in the decodes: autoencoder {summary(counts[0])}; VAE {summary(counts[1])}. "
            f"The three most frequent digits make up **{top3[0]:.0f}%** of the autoencoder's decodes and **{top3[1]:.0f}%** "
            "of the VAE's (10 digits in equal shares would give 30%): most of the autoencoder's space belongs to the few "
            "digits stretched along its arms, while the VAE's prior gives every digit a share."
        )
        return maps[0], maps[1], grids[0], grids[1], note

    # -- 6. traversal -----------------------------------------------------------------------
    def traverse(
        self, image: str, model_name: str, dimension: int, span: float, steps: int, trained: Any = None
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """Decodes of the digit's code with one dimension set to evenly spaced values in [-span, span]; the same for
        the dimensions the digit uses most (rows of a grid); a note naming them."""
        chosen = self.resolve(model_name, trained, IMAGE_MODELS)
        model = chosen.model
        d = model.config.latent_dim
        if not 0 <= dimension < d:
            raise gr.Error(
                f"dimension must be a whole number from 0 to {d - 1} for model {model_name!r} ({d} latent dimensions), not {dimension}"
            )
        x = self._digit(image)[None]  # (1, 1, 28, 28)
        with torch.no_grad():
            mu, logvar = model.encode(x)  # (1, D) each
        values = torch.linspace(-span, span, steps)  # (steps,)
        if model.config.is_variational:
            # KL of each dimension on its own from N(0, 1) (a learned prior has no per-dimension KL): a batch of 1-D posteriors.
            kl = vae.gaussian_kl(mu[0][:, None], logvar[0][:, None])  # (D,)
            top = torch.argsort(kl, descending=True)[: min(TOP_DIMENSIONS, d)].tolist()
            used = ", ".join(f"z{i} ({kl[i]:.1f} nats)" for i in top)
            note = (
                f"Rows of the grid, the dimensions this digit uses most (largest KL from N(0, 1)): {used}. "
                "Dimensions with a KL near 0 are ignored by the encoder and change little when traversed."
            )
        else:
            spread = self.codes(chosen).std(0)  # (D,) an autoencoder has no KL: rank by the spread of its test codes
            top = torch.argsort(spread, descending=True)[: min(TOP_DIMENSIONS, d)].tolist()
            note = (
                f"Rows of the grid: z{', z'.join(map(str, top))}. An autoencoder has no prior: values outside the range "
                "its codes occupy decode to arbitrary shapes."
            )
        codes = torch.cat([vae.traverse(mu[0], i, values) for i in [dimension, *top]])  # ((1 + len(top)) * steps, D)
        frames = vae.decode_images(model, codes)  # (..., 1, 28, 28)
        note += f" Dimension z{dimension} of this digit's code is {mu[0, dimension]:.2f}."
        return tile(frames[:steps], steps), tile(frames[steps:], steps), note

    @staticmethod
    def echo(text: Any) -> Any:
        """Returns its input: the baseline of the latency benchmark (only mounted when asked for)."""
        return text


__all__ = ["MAX_IMAGE_SIDE", "MODEL_NAMES", "TRAINED", "Chosen", "Explorer", "grid_codes", "point_code", "unfit"]

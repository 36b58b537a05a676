r"""The demo's Explore and Compare endpoints: widget values in, pictures and numbers out; all model work is done by `vae`.

Each public method of [`Explorer`][] is one named API endpoint. It checks what depends on the
model (a dimension index, a code range), converts widget values to tensors, calls the package
(`vae.to_mnist`, `model.encode`, `vae.latent.*`, `vae.log_likelihood`, ...) and converts the
result back to pictures. What the endpoints work on comes from the classes it builds on:
`registry.Registry` (the models, resolved from a menu value with `Explorer.resolve`, the shipped
test subset and per-model statistics, loaded on first use and cached, so the app starts in a few
seconds) and `scoring.Scoring` (the anomaly score, its typical range and the recorded verdict).
The names the tabs import (`TRAINED`, the model tuples, `Chosen`, ...) are re-exported here.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import numpy as np
import torch
from registry import (
    CONDITIONAL_MODEL,
    HIERARCHICAL_MODEL,
    IMAGE_MODELS,
    MAP_MODELS,
    MODEL_NAMES,
    SAMPLING_MODELS,
    TRAINED,
    Chosen,
    unfit,
)
from scoring import Scoring
from widgets import RANDOM_CODE, PlotValue, gif_bytes, map_value, plot_value, tile, to_uint8, with_rows

import vae
from vae.preprocess import MAX_IMAGE_SIDE

NUM_STOCHASTIC = 8  # stochastic reconstructions shown per input
TOP_DIMENSIONS = 5  # dimensions shown in the traversal grid
COMPARE_BOX = (0.005, 0.995)  # quantiles of the autoencoder codes bounding its random codes
COMPARE_THIN = 2  # the comparison maps show every 2nd shipped test digit (1,000 per map, each digit halved alike)


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


class Explorer(Scoring):
    """The endpoint functions of the demo's Explore and Compare tabs.

    `Explorer(models_dir, examples_dir)`: the models and data of [`registry.Registry`][] (its arguments), with the
    anomaly score of [`scoring.Scoring`][]; the Use tabs' `uses.Uses` is built around one.
    """

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
        reading = self.reading(chosen, score)
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
        return to_uint8(x)[0], to_uint8(mean)[0], tile(samples, NUM_STOCHASTIC), posterior, round(score, 3), reading

    # -- 2. sampling ------------------------------------------------------------------------
    def sample(self, model_name: str, n: int, temperature: float, seed: int, trained: Any = None) -> np.ndarray:
        """A grid of n decoded samples from the model's prior (z = temperature * eps for the standard normal; both
        layers of a hierarchical VAE, z2 and then z1 given z2)."""
        model = self.resolve(model_name, trained, SAMPLING_MODELS, prior=True).model
        return tile(vae.sample_images(model, n, temperature, torch.Generator().manual_seed(seed)), math.ceil(math.sqrt(n)))

    def sample_digit(self, digit: int, n: int, temperature: float, seed: int) -> np.ndarray:
        """A grid of n samples of one digit from the conditional VAE."""
        model = self.model(CONDITIONAL_MODEL)
        y = torch.full((n,), digit, dtype=torch.long)  # (n,)
        return tile(vae.sample_images(model, n, temperature, torch.Generator().manual_seed(seed), y), math.ceil(math.sqrt(n)))

    def sample_layers(self, rows: int, draws: int, seed: int) -> np.ndarray:
        """What each layer of the hierarchical VAE holds: a grid whose rows each share one top code z2 ~ p(z2); a row's
        first picture decodes z1 at the mean of p(z1 | z2), the next `draws` draw z1 ~ p(z1 | z2)."""
        grid = self.model(HIERARCHICAL_MODEL).sample_rows(rows, draws, torch.Generator().manual_seed(seed))  # (R, 1 + D, C, H, W)
        return tile(grid.flatten(0, 1).cpu(), draws + 1)

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


__all__ = ["CONDITIONAL_MODEL", "HIERARCHICAL_MODEL", "IMAGE_MODELS", "MAP_MODELS", "MAX_IMAGE_SIDE", "MODEL_NAMES", "SAMPLING_MODELS", "TRAINED", "Chosen",
           "Explorer", "grid_codes", "point_code", "unfit"]

r"""Damaged images and their repair: noise, masks, and missing-pixel imputation.

An image is split by a boolean **mask** (True = missing) into observed pixels $x_o$ and missing
pixels $x_m$. Imputation is conditional inference: the best guess of $x_m$ is the posterior
predictive $p(x_m \mid x_o) = \int p(x_m \mid z)\, p(z \mid x_o)\, dz$, which a VAE does not give in
closed form. [`impute`][vae.impute.impute] offers five answers (`method=`):

- `"one_pass"`: fill the missing pixels with 0 (MNIST's background), encode, decode at the
  posterior mean. One network pass; the encoder never saw a half-erased digit, so it is biased.
- `"pseudo_gibbs"` (Rezende et al., 2014): a Markov chain that alternates
  $z_t \sim q(z \mid x_o, x_m^{(t-1)})$ and $x_m^{(t)} \sim p(x_m \mid z_t)$, the observed pixels
  held fixed. It converges to the right answer only if the encoder were the exact posterior.
- `"mwg"`, Metropolis-within-Gibbs (Mattei & Frellsen, 2018): the same chain, but the proposal
  $z' \sim q(z \mid x_t)$, $x_t = (x_o, x_m^{(t-1)})$, is accepted with probability
  $\min(1, \rho_t)$ (below), otherwise $z_t = z_{t-1}$.
- `"pca"`: the linear baseline. The PCA coefficients are fitted by least squares to the observed
  pixels only, $c = \arg\min_c \lVert x_o - \bar x_o - U_o c \rVert^2$, and $x_m = \bar x_m + U_m c$
  (clamped to [0, 1]). The model is a [`PCA`][vae.linear.PCA] fitted on training images.
- `"mean"`: the trivial baseline, $x_m$ = the mean training image (a `PCA`'s `mean`, or a tensor).

The Metropolis-Hastings ratio of MwG is

$$
\rho_t = \frac{p(x_t \mid z')\, p(z')}{p(x_t \mid z_{t-1})\, p(z_{t-1})}\,
         \frac{q(z_{t-1} \mid x_t)}{q(z' \mid x_t)},
$$

with the decoder's likelihood of the whole current completion $x_t$ (observed pixels and the current
draw of the missing ones) and the model's prior `model.prior.log_prob`. It is an exact
Metropolis-Hastings step for $p(z \mid x_t) \propto p(x_t \mid z)\, p(z)$, and drawing
$x_m \sim p(x_m \mid z)$ is an exact Gibbs step, so the chain's stationary distribution is the true
$p(z, x_m \mid x_o)$ of the decoder and prior, whatever the encoder's errors; the encoder only sets
how fast it mixes.

The chains draw the missing pixels from the decoder (binary pixels for the Bernoulli decoder of the
shipped models, which were trained on binarized digits; for a Gaussian decoder, the mean plus noise
clamped to [0, 1]). Their estimate of $\mathbb E[x_m \mid x_o]$, for binary pixels the probability of
ink $p(x_m = 1 \mid x_o)$, is the average over the steps after `burn_in` of the decoder means
$\mathbb E[x_m \mid z_t]$ (a Rao-Blackwellised Monte Carlo average: smoother than averaging the draws).
MwG's correction is exact in the limit of many steps, but when proposals are rarely accepted it
mixes slowly, and in a fixed number of steps the biased pseudo-Gibbs chain can land closer.

**A hierarchical VAE** ([`HierarchicalVAE`][vae.hierarchical.HierarchicalVAE]) is imputed through its
top layer: `encode` is $q(z_2 \mid x)$ and `decode(z2)` puts $z_1$ at the mean of $p(z_1 \mid z_2)$. Its
pseudo-Gibbs chain alternates $z_2 \sim q(z_2 \mid x_t)$ and $x_m \sim p(x_m \mid \bar z_1(z_2), z_2)$, a
well-defined chain but, like pseudo-Gibbs itself, not one whose stationary distribution is the model's
$p(x_m \mid x_o)$ (the decoder's distribution at the mean $z_1$ is not the marginal over $z_1$); one pass
decodes the posterior mean of $z_2$ the same way. MwG is refused for it: its ratio would need
$p(x \mid z_2) = \int p(x \mid z_1, z_2)\, p(z_1 \mid z_2)\, dz_1$, which the chain does not compute, so it
would not be exact.

**Observed pixels are returned unchanged, bit for bit**; whatever the input holds at missing
pixels (even NaN) is never read. [`impute_steps`][vae.impute.impute_steps] yields every step, for
streaming. [`missing_log_likelihood`][vae.impute.missing_log_likelihood] scores an imputation.

Shape key: B batch, C, H, W image (MNIST: 1, 28, 28), P = C * H * W pixels, D latent size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

from . import draws
from .hierarchical import HierarchicalVAE
from .linear import PCA
from .models import VAE, Autoencoder, EncoderDecoder
from .objectives import gaussian_log_density

NOISE_KINDS = ("gaussian", "salt_pepper", "flip")
MASK_KINDS = ("top", "bottom", "left", "right", "square", "random")
METHODS = ("one_pass", "pseudo_gibbs", "mwg", "pca", "mean")
ITERATIVE_METHODS = ("pseudo_gibbs", "mwg")
MAX_STEPS = 1000  # the most chain steps impute accepts (a demo sets its own, smaller limit)
LSTSQ_CHUNK = 256  # images per batched least-squares solve in the PCA baseline


# -- corruption ----------------------------------------------------------------------------------
def _check_images(x: torch.Tensor, what: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise ValueError(f"{what} must be a floating-point tensor of images (B, C, H, W) in [0, 1]")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{what} must have shape (B, C, H, W) with B >= 1, not {tuple(x.shape)}")


def _check_strength(strength: float, what: str = "strength") -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= 1.0:
        raise ValueError(f"{what} must be a number in [0, 1], not {strength!r}")
    return float(strength)


def add_noise(x: torch.Tensor, kind: str, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A noisy copy of images x (B, C, H, W) in [0, 1]; the result stays in [0, 1].

    Every kind takes a `strength` in [0, 1] (0 returns x unchanged):

    - `"gaussian"`: $\tilde x = \operatorname{clamp}(x + s\,\varepsilon, 0, 1)$, $\varepsilon \sim \mathcal N(0, 1)$
      per pixel: s is the standard deviation, in units of the full gray range.
    - `"salt_pepper"`: each pixel, with probability s, is replaced by 0 or 1 (each with probability 1/2).
    - `"flip"`: each pixel, with probability s, becomes $1 - x$ (a bit flip for binary images).

    Raises:
        ValueError: an unknown kind, a strength outside [0, 1], or x not a batch of images in [0, 1].
    """
    _check_images(x)
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {', '.join(NOISE_KINDS)}")
    s = _check_strength(strength)
    if not (torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        raise ValueError("x must hold finite gray levels in [0, 1]")
    if kind == "gaussian":
        eps = draws.randn(x.shape, x, generator)  # (B, C, H, W)
        return (x + s * eps).clamp(0.0, 1.0)
    hit = draws.rand(x.shape, x, generator) < s  # (B, C, H, W) corrupted pixels
    if kind == "flip":
        return torch.where(hit, 1.0 - x, x)
    salt = draws.rand(x.shape, x, generator) < 0.5  # 1 (salt) or 0 (pepper)
    return torch.where(hit, salt.to(x.dtype), x)


def make_mask(
    kind: str, n: int = 1, image_shape: tuple[int, int, int] = (1, 28, 28), *, fraction: float = 0.5, size: int = 14,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Masks of missing pixels (True = missing) for n images: -> (n, C, H, W) bool.

    - `"top"`, `"bottom"`, `"left"`, `"right"`: that half of the image (H // 2 rows or W // 2 columns).
    - `"square"`: a centred `size` x `size` square.
    - `"random"`: for each image independently, exactly round(fraction * P) pixels chosen uniformly at
      random (seeded by `generator`), so a fixed seed gives fixed masks.

    Raises:
        ValueError: an unknown kind, n < 1, a fraction or size that would leave no missing or no observed pixel.
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, not {n!r}")
    c, h, w = image_shape
    mask = torch.zeros(n, c, h, w, dtype=torch.bool)
    if kind == "top":
        mask[:, :, : h // 2] = True
    elif kind == "bottom":
        mask[:, :, h - h // 2 :] = True
    elif kind == "left":
        mask[:, :, :, : w // 2] = True
    elif kind == "right":
        mask[:, :, :, w - w // 2 :] = True
    elif kind == "square":
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= min(h, w) or size * size * c >= c * h * w:
            raise ValueError(f"size must be an integer from 1 to {min(h, w)} that leaves some pixels observed, not {size!r}")
        top, left = (h - size) // 2, (w - size) // 2
        mask[:, :, top : top + size, left : left + size] = True
    else:
        p = c * h * w
        count = round(_check_strength(fraction, "fraction") * p)
        if not 1 <= count <= p - 1:
            raise ValueError(
                f"fraction {fraction} leaves {count} of {p} pixels missing; it must leave at least one missing and one observed"
            )
        order = torch.rand(n, p, generator=generator).argsort(dim=1)  # a uniform random permutation per image
        mask.view(n, p).scatter_(1, order[:, :count], True)
    if not mask.flatten(1).any(1).all() or mask.flatten(1).all(1).any():
        raise ValueError(f"a {kind} mask of an image of shape {image_shape} would be empty or full")
    return mask


def check_mask(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mask expanded to x's shape, after checking it; raises ValueError with what to fix.

    A mask is a bool tensor (True = missing) of shape (B, C, H, W) like x, or (C, H, W) for the same
    mask on every image. Every image must have at least one missing and one observed pixel.
    """
    _check_images(x)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        dtype = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(
            f"the mask must be a torch.bool tensor (True = missing pixel), not {dtype}; use mask.bool() or mask > 0.5"
        )
    if mask.shape == x.shape[1:]:
        mask = mask.expand_as(x)
    if mask.shape != x.shape:
        raise ValueError(
            f"the mask has shape {tuple(mask.shape)}; it must match the images {tuple(x.shape)} or one image {tuple(x.shape[1:])}"
        )
    missing = mask.flatten(1).sum(1)  # (B,)
    for i in range(x.shape[0]):
        if missing[i] == 0:
            raise ValueError(f"the mask of image {i} is empty: no pixel is missing, so there is nothing to impute")
        if missing[i] == mask[i].numel():
            raise ValueError(f"the mask of image {i} is full: every pixel is missing, so nothing is observed to condition on")
    observed = x[~mask]
    if not (torch.isfinite(observed).all() and observed.min() >= 0 and observed.max() <= 1):
        raise ValueError("the observed pixels of x must be finite gray levels in [0, 1]")
    return mask.to(x.device)


# -- imputation ----------------------------------------------------------------------------------
class ImputationStep(NamedTuple):
    """One step of an imputation, as [`impute_steps`][vae.impute.impute_steps] yields it.

    Attributes:
        step: 1 for the first step, up to `steps`.
        estimate: the imputation so far (B, C, H, W): observed pixels exactly as given, missing pixels
            the estimated probability of ink (for a chain: the average over the steps after burn-in,
            or the current step's probabilities while still burning in).
        sample: the chain's current state (B, C, H, W): observed pixels as given, missing pixels the
            binary sample $x_m^{(t)}$; for the non-iterative methods, equal to `estimate`.
        acceptance: fraction of proposals accepted so far per image (B,); MwG only, 1.0 otherwise.
    """

    step: int
    estimate: torch.Tensor
    sample: torch.Tensor
    acceptance: torch.Tensor


def _check_args(model: object, x: torch.Tensor, mask: torch.Tensor, method: str, steps: int, burn_in: int) -> torch.Tensor:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an integer from 1 to {MAX_STEPS}, not {steps!r}")
    if isinstance(burn_in, bool) or not isinstance(burn_in, int) or not 0 <= burn_in < steps:
        raise ValueError(f"burn_in must be an integer from 0 to steps - 1 = {steps - 1}, not {burn_in!r}")
    mask = check_mask(x, mask)
    if method in ("one_pass", *ITERATIVE_METHODS):
        if not isinstance(model, EncoderDecoder):
            raise ValueError(f"method {method!r} needs a VAE (e.g. vae.load('default')), not {type(model).__name__}")
        if tuple(x.shape[1:]) != tuple(model.config.image_shape):
            raise ValueError(f"the model expects images of shape {model.config.image_shape}, not {tuple(x.shape[1:])}")
        if method == "mwg" and isinstance(model, Autoencoder):
            raise ValueError(
                "method 'mwg' needs a VAE's densities; a plain autoencoder has none (use 'one_pass' or 'pseudo_gibbs')"
            )
        if method == "mwg" and isinstance(model, HierarchicalVAE):
            raise ValueError(
                "method 'mwg' is exact for a one-layer VAE only: a hierarchical VAE's p(x | z2) integrates over z1, which "
                "the chain's ratio does not, so it would not target the model's posterior (use 'pseudo_gibbs' or 'one_pass')"
            )
    elif isinstance(model, PCA):  # "pca", or "mean" with the PCA's mean
        if tuple(model.shape) != tuple(x.shape[1:]):
            raise ValueError(f"the PCA was fitted on examples of shape {model.shape}, not {tuple(x.shape[1:])}")
    elif method == "pca":
        raise ValueError(f"method 'pca' needs a vae.PCA fitted on training images (vae.fit_pca), not {type(model).__name__}")
    elif not isinstance(model, torch.Tensor):
        raise ValueError(f"method 'mean' needs a vae.PCA (its mean) or a mean image tensor (C, H, W), not {type(model).__name__}")
    elif model.numel() != x[0].numel():
        raise ValueError(f"the mean image has {model.numel()} pixels; the images have {x[0].numel()}")
    elif not (torch.isfinite(model).all() and model.min() >= 0 and model.max() <= 1):
        raise ValueError("the mean image must hold finite gray levels in [0, 1]")
    return mask


def _pca_fill(pca: PCA, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""$\bar x + U c$ with c fitted by least squares to the observed pixels, clamped to [0, 1]: (B, C, H, W)."""
    b = x.shape[0]
    observed = (~mask).reshape(b, -1).double()  # (B, P) 1 at observed pixels
    target = torch.where(mask, 0.0, x).reshape(b, -1).double() - pca.mean  # (B, P)
    basis = pca.components.T  # U, (P, k)
    out = []
    for start in range(0, b, LSTSQ_CHUNK):
        o = observed[start : start + LSTSQ_CHUNK]  # zeroing the missing rows drops them from the least squares
        a = o.unsqueeze(2) * basis  # (b', P, k)
        coef = torch.linalg.lstsq(a, (o * target[start : start + LSTSQ_CHUNK]).unsqueeze(2)).solution  # (b', k, 1)
        out.append(pca.mean + (basis @ coef).squeeze(2))  # (b', P)
    return torch.cat(out).clamp(0.0, 1.0).reshape(x.shape)


def _chain(
    model: EncoderDecoder, x: torch.Tensor, mask: torch.Tensor, steps: int, burn_in: int, metropolis: bool,
    generator: torch.Generator | None, y: torch.Tensor | None,
) -> Iterator[ImputationStep]:
    """The pseudo-Gibbs chain, with the Metropolis-Hastings correction on z when `metropolis`."""
    b = x.shape[0]
    state = torch.where(mask, 0.0, x).float()  # x_t: missing pixels start at 0, (B, C, H, W)
    total = torch.zeros_like(state)  # sum of the decoder means E[x_m | z_t] over the steps after burn-in
    accepted = torch.zeros(b)
    z_prev = out_prev = None
    for t in range(1, steps + 1):
        mu, logvar = model.encode(state, y)  # q(z | x_t), (B, D) each
        # proposal z' ~ q(z | x_t), (B, D); an autoencoder's code is a point (its chain is pseudo-Gibbs without z noise)
        z = model.reparameterize(mu, logvar, generator) if isinstance(model, VAE) else mu
        out = model.decode(z, y)  # the parameters of p(x | z'): logits (or Gaussian means), (B, C, H, W)
        if metropolis and z_prev is not None:  # a VAE: `_check_args` refuses MwG for an autoencoder
            # log rho = [log p(x_t|z') + log p(z') - log q(z'|x_t)] - [the same at z_{t-1}]; x_t includes x_m^(t-1)
            log_w_new = model.log_px(state, out) + model.prior.log_prob(z) - gaussian_log_density(z, mu, logvar)
            log_w_old = model.log_px(state, out_prev) + model.prior.log_prob(z_prev) - gaussian_log_density(z_prev, mu, logvar)
            log_u = draws.rand((b,), x, generator).log()  # accept when log u < log rho
            accept = log_u < log_w_new - log_w_old  # (B,)
            z = torch.where(accept.unsqueeze(1), z, z_prev)
            out = torch.where(accept.view(b, 1, 1, 1), out, out_prev)
            accepted += accept.float().cpu()
        else:  # the first step (z_0 from the encoder) and every pseudo-Gibbs step
            accepted += 1.0
        draw = model.likelihood.sample(out, generator)  # x ~ p(x | z_t): binary for a Bernoulli decoder
        state = torch.where(mask, draw, x.float())  # only the missing pixels move
        mean = model.likelihood.mean(out)  # E[x | z_t] in [0, 1]: the probabilities of ink, (B, C, H, W)
        if t > burn_in:
            total += mean
        current = total / (t - burn_in) if t > burn_in else mean
        z_prev, out_prev = z, out
        yield ImputationStep(t, torch.where(mask, current.to(x.dtype), x), torch.where(mask, state.to(x.dtype), x), accepted / t)


def impute_steps(
    model: EncoderDecoder | PCA | torch.Tensor, x: torch.Tensor, mask: torch.Tensor, method: str = "pseudo_gibbs", steps: int = 50,
    generator: torch.Generator | None = None, burn_in: int = 0, y: torch.Tensor | None = None,
) -> Iterator[ImputationStep]:
    r"""Impute step by step: yields an [`ImputationStep`][vae.impute.ImputationStep] after every step.

    The chains (`"pseudo_gibbs"`, `"mwg"`) yield `steps` steps; the other methods yield one. The
    arguments are checked before the first step, so a bad one raises at the call, not mid-stream.
    See [`impute`][vae.impute.impute] for the arguments.
    """
    mask = _check_args(model, x, mask, method, steps, burn_in)
    return _steps(model, x, mask, method, steps, generator, burn_in, y)


@torch.no_grad()  # on a generator function, torch disables gradients around each step only, not between them
def _steps(
    model: EncoderDecoder | PCA | torch.Tensor, x: torch.Tensor, mask: torch.Tensor, method: str, steps: int,
    generator: torch.Generator | None, burn_in: int, y: torch.Tensor | None,
) -> Iterator[ImputationStep]:
    if method in ITERATIVE_METHODS:
        assert isinstance(model, EncoderDecoder)
        was_training = model.training
        model.eval()  # for the whole stream; restored when it ends or is closed
        try:
            yield from _chain(model, x, mask, steps, burn_in, method == "mwg", generator, y)
        finally:
            model.train(was_training)
        return
    if method == "one_pass":
        assert isinstance(model, EncoderDecoder)
        was_training = model.training
        model.eval()
        fill = model.reconstruct(torch.where(mask, 0.0, x).float(), y)  # decoder mean at the posterior mean
        model.train(was_training)
    elif method == "pca":
        assert isinstance(model, PCA)
        fill = _pca_fill(model, x, mask)
    else:  # "mean": a PCA's mean, or a given mean image
        mean = model.mean if isinstance(model, PCA) else model
        fill = mean.reshape(1, *x.shape[1:]).expand_as(x)
    estimate = torch.where(mask, fill.to(device=x.device, dtype=x.dtype), x)
    yield ImputationStep(1, estimate, estimate, torch.ones(x.shape[0]))


def impute(
    model: EncoderDecoder | PCA | torch.Tensor, x: torch.Tensor, mask: torch.Tensor, method: str = "pseudo_gibbs", steps: int = 50,
    generator: torch.Generator | None = None, burn_in: int = 0, y: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Fill in the missing pixels of images: x (B, C, H, W), mask (B, C, H, W) or (C, H, W) -> (B, C, H, W).

    ```python
    model = vae.load("default")
    mask = vae.make_mask("top", n=x.shape[0])               # the top half is missing
    repaired = vae.impute(model, x, mask, method="pseudo_gibbs", steps=50, generator=torch.Generator().manual_seed(0))
    ```

    Args:
        model: a VAE for `"one_pass"`, `"pseudo_gibbs"` and `"mwg"`; a [`PCA`][vae.linear.PCA] fitted on
            training images for `"pca"`; for `"mean"`, a `PCA` (its mean) or a mean image (C, H, W).
        x: images with values in [0, 1] at the observed pixels (missing pixels are never read).
        mask: bool, True = missing; every image needs at least one missing and one observed pixel.
        method: one of `"one_pass"`, `"pseudo_gibbs"`, `"mwg"`, `"pca"`, `"mean"` (see the module docstring).
        steps: chain steps, 1 to `MAX_STEPS` (1000); ignored by the non-iterative methods, but checked.
        generator: seeds the chains' samples, for repeatable imputations.
        burn_in: chain steps left out of the average (0 to steps - 1).
        y: digit labels (B,) for a conditional VAE.

    Returns:
        The completed images: observed pixels bit for bit as in x, missing pixels the estimated
        probability of ink in [0, 1] (score them with [`missing_log_likelihood`][vae.impute.missing_log_likelihood]).

    Raises:
        ValueError: an unknown method, steps or burn_in out of range, a mask of the wrong dtype or
            shape, an empty or full mask, observed pixels outside [0, 1], or a model that does not fit the method.
    """
    last = None
    for last in impute_steps(model, x, mask, method, steps, generator, burn_in, y):
        pass
    assert last is not None
    return last.estimate


def missing_log_likelihood(target: torch.Tensor, imputed: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    r"""Bernoulli log-likelihood of the true missing pixels under the imputed probabilities, per image (nats).

    $$
    \log p(x_m) = \sum_{i \in m} x_i \log \hat p_i + (1 - x_i) \log (1 - \hat p_i),
    \qquad \hat p_i \in [\epsilon, 1 - \epsilon],
    $$

    summed over the missing pixels only (higher is better; minus it is the BCE). The probabilities are
    clamped to $[\epsilon, 1 - \epsilon]$ so that a baseline's hard 0 or 1 costs a finite $-\log \epsilon$.
    Shapes: target, imputed (B, C, H, W), mask as for [`impute`][vae.impute.impute] -> (B,).
    """
    mask = check_mask(target, mask)
    if imputed.shape != target.shape:
        raise ValueError(f"imputed has shape {tuple(imputed.shape)}, the target {tuple(target.shape)}")
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5), not {eps}")
    p = imputed.double().clamp(eps, 1.0 - eps)
    t = target.double()
    per_pixel = t * p.log() + (1.0 - t) * (-p).log1p()  # (B, C, H, W)
    return torch.where(mask, per_pixel, 0.0).flatten(1).sum(1)


__all__ = [
    "ImputationStep",
    "MAX_STEPS",
    "add_noise",
    "check_mask",
    "impute",
    "impute_steps",
    "make_mask",
    "missing_log_likelihood",
]

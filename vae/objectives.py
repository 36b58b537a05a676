r"""Objectives as pure functions: KL divergences, log-likelihoods, the ELBO and the IWAE bound.

Every function takes tensors and returns tensors; none holds state or calls a model. The
derivations are on the [theory pages](../theory/elbo.md); each docstring gives the equation it
computes and the page that derives it.

**Reductions.** Per-example functions sum over pixels (for log-likelihoods) or over latent
dimensions (for KL divergences) and return one value per example, shape `(B,)`. Only
[`elbo`][vae.objectives.elbo] averages over the batch, and says so.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL divergence of a diagonal Gaussian from the standard normal prior, in closed form.

    $$
    \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
    = \frac12 \sum_{j=1}^{D} \left(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\right)
    $$

    Derived step by step in [the KL page](../theory/kl.md#diagonal-gaussian-against-the-standard-normal).
    The value is >= 0 and is 0 only when mu = 0 and sigma = 1.

    Args:
        mu: posterior means, shape (B, D).
        logvar: posterior log-variances log sigma^2, shape (B, D).

    Returns:
        KL per example, summed over the D latent dimensions: shape (B,).
    """
    # 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def gaussian_kl_between(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    r"""KL divergence between two diagonal Gaussians, KL(q || p), in closed form.

    $$
    \mathrm{KL}(q\,\|\,p) = \frac12 \sum_{j=1}^{D} \left(
    \log\frac{\sigma_{p,j}^2}{\sigma_{q,j}^2}
    + \frac{\sigma_{q,j}^2 + (\mu_{q,j} - \mu_{p,j})^2}{\sigma_{p,j}^2} - 1 \right)
    $$

    Derived in [the KL page](../theory/kl.md#two-diagonal-gaussians). With mu_p = 0 and
    logvar_p = 0 it equals [`gaussian_kl`][vae.objectives.gaussian_kl].

    Args:
        mu_q, logvar_q: mean and log-variance of q, shape (B, D).
        mu_p, logvar_p: mean and log-variance of p, broadcastable to (B, D).

    Returns:
        KL per example, summed over latent dimensions: shape (B,).
    """
    var_ratio = (logvar_q - logvar_p).exp()  # sigma_q^2 / sigma_p^2
    mean_term = (mu_q - mu_p).pow(2) / logvar_p.exp()  # (mu_q - mu_p)^2 / sigma_p^2
    return 0.5 * (var_ratio + mean_term - 1.0 - (logvar_q - logvar_p)).sum(dim=-1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Log-likelihood of pixels in [0, 1] under independent Bernoulli distributions given by logits.

    $$
    \log p(x \mid z) = \sum_{i} x_i \log \sigma(\ell_i) + (1 - x_i) \log\big(1 - \sigma(\ell_i)\big)
    $$

    with $\ell$ the decoder's logits and $\sigma$ the logistic sigmoid; this is minus the binary
    cross-entropy, computed stably from the logits. For gray levels x in (0, 1) it is the
    "continuous Bernoulli without its normaliser" that the pytorch/examples VAE uses; it is a true
    log-probability only for binary x (see [likelihoods](../theory/likelihoods.md)).

    Args:
        x: targets in [0, 1], shape (B, ...).
        logits: decoder logits, same shape as x.

    Returns:
        Log-likelihood per example, summed over all pixels: shape (B,).
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    r"""Log-likelihood of x under independent Gaussians N(mean, sigma^2), summed over pixels.

    $$
    \log p(x \mid z) = -\frac12 \sum_{i=1}^{N} \left( \frac{(x_i - \mu_i)^2}{\sigma^2}
    + \log \sigma^2 + \log 2\pi \right)
    $$

    With sigma = 1 (`logvar=0`) this is the MSE case:
    $\log p(x\mid z) = -\tfrac12 \lVert x - \mu \rVert^2 - \tfrac N2 \log 2\pi$, i.e. minus half the
    summed squared error minus the constant N/2 log 2 pi (= 720.4 nats for N = 784 pixels), which
    does not change gradients but does change the reported number. See
    [likelihoods](../theory/likelihoods.md#gaussian-and-the-mse).

    Args:
        x: targets, shape (B, ...).
        mean: decoder means, same shape.
        logvar: log sigma^2, a float or a tensor broadcastable to x.

    Returns:
        Log-likelihood per example: shape (B,).
    """
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    per_pixel = (x - mean).pow(2) / logvar.exp() + logvar + LOG_2PI
    return -0.5 * per_pixel.expand_as(x).flatten(1).sum(dim=1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor | float = 0.0, logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    r"""Log-density of z under a diagonal Gaussian, summed over the last dimension.

    $$
    \log \mathcal N(z; \mu, \operatorname{diag}\sigma^2)
    = -\frac12 \sum_{j=1}^{D} \left( \frac{(z_j - \mu_j)^2}{\sigma_j^2} + \log \sigma_j^2 + \log 2\pi \right)
    $$

    The defaults give the standard normal prior log p(z).

    Args:
        z: points, shape (..., D).
        mu, logvar: broadcastable to z.

    Returns:
        Log-density, shape (...,).
    """
    mu = torch.as_tensor(mu, dtype=z.dtype, device=z.device)
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + LOG_2PI).sum(dim=-1)


class ElboTerms(NamedTuple):
    """The terms of the (beta-weighted) negative ELBO, each in nats.

    With `reduction="mean"` every field is a scalar averaged over the batch; with
    `reduction="none"` every field has shape (B,).

    Attributes:
        loss: the quantity to minimise, `reconstruction + beta * kl`.
        reconstruction: minus the expected log-likelihood, -log p(x | z) at the sampled z.
        kl: KL(q(z|x) || p(z)), in closed form for the standard normal prior (an estimate for a learned one).
        elbo: the unweighted bound, `-(reconstruction + kl)` at the sampled z (its expectation is a lower bound on log p(x)).
    """

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor
    elbo: torch.Tensor


def elbo(
    x: torch.Tensor,
    logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
    reduction: str = "mean",
    kl: torch.Tensor | None = None,
    log_px: torch.Tensor | None = None,
) -> ElboTerms:
    r"""The evidence lower bound with a diagonal Gaussian posterior (and a Bernoulli decoder unless `log_px` is given).

    $$
    \mathcal L_\beta(x) = \mathbb E_{q(z\mid x)}[\log p(x \mid z)]
    - \beta\, \mathrm{KL}\big(q(z \mid x)\,\|\,p(z)\big)
    $$

    The expectation is estimated with the one z that produced `logits` (the reparameterized
    sample), the KL in closed form with [`gaussian_kl`][vae.objectives.gaussian_kl] unless `kl` is
    given (a learned prior has no closed form; see [`MixturePrior`][vae.priors.MixturePrior]), and
    $\log p(x \mid z)$ as [`bernoulli_log_likelihood`][vae.objectives.bernoulli_log_likelihood] of the
    logits unless `log_px` is given (a Gaussian decoder: see
    [`GaussianLikelihood`][vae.nets.GaussianLikelihood]). Derived in
    [the ELBO page](../theory/elbo.md); beta is discussed in [beta-VAE](../theory/beta.md).

    **Reduction:** the log-likelihood is summed over pixels and the KL over latent dimensions, so
    each image contributes one number in nats; these are then averaged over the batch
    (`reduction="mean"`) or returned per image (`reduction="none"`). Averaging over pixels
    instead would silently change the effective beta by a factor of 784.

    Args:
        x: targets in [0, 1], shape (B, C, H, W).
        logits: Bernoulli logits from the decoder, shape (B, C, H, W).
        mu, logvar: posterior parameters, shape (B, D).
        beta: weight of the KL term in `loss` (the `elbo` field always uses 1).
        reduction: `"mean"` over the batch or `"none"`.
        kl: KL(q || p) per example, shape (B,), for a prior other than N(0, I) (None: closed form).
        log_px: log p(x | z) per example, shape (B,), for a decoder other than Bernoulli (None: the
            Bernoulli log-likelihood of x under `logits`, which are then the only use of x and logits).

    Returns:
        [`ElboTerms`][vae.objectives.ElboTerms] with loss, reconstruction, kl and elbo.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', not {reduction!r}")
    if log_px is None:
        log_px = bernoulli_log_likelihood(x, logits)  # (B,) summed over pixels
    reconstruction = -log_px  # (B,)
    if kl is None:
        kl = gaussian_kl(mu, logvar)  # (B,) summed over latent dimensions, >= 0
    terms = ElboTerms(reconstruction + beta * kl, reconstruction, kl, -(reconstruction + kl))
    if reduction == "mean":  # mean over the batch
        terms = ElboTerms(*(t.mean() for t in terms))
    return terms


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    r"""The importance-weighted bound from k log importance weights per example.

    $$
    \mathcal L_k(x) = \log \frac1k \sum_{i=1}^{k} w_i, \qquad
    w_i = \frac{p(x \mid z_i)\, p(z_i)}{q(z_i \mid x)}, \quad z_i \sim q(z \mid x)
    $$

    computed stably as `logsumexp(log w) - log k`. For k = 1 its expectation is the ELBO; it
    increases with k and tends to log p(x) (Burda et al., 2016). See
    [the IWAE page](../theory/iwae.md).

    Args:
        log_weights: log w_i, shape (B, k).

    Returns:
        The bound per example, shape (B,).
    """
    k = log_weights.shape[-1]
    return torch.logsumexp(log_weights, dim=-1) - math.log(k)

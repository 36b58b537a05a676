r"""Two Monte Carlo estimators of the gradient of an expectation, to compare their variance.

The quantity is the gradient of $F(\mu, \sigma) = \mathbb E_{z \sim \mathcal N(\mu, \sigma^2)}[f(z)]$
with respect to the parameters of the distribution that the samples come from, the problem
every VAE meets when it differentiates $\mathbb E_{q_\phi(z\mid x)}[\log p_\theta(x \mid z)]$
with respect to $\phi$. Both estimators average single-sample estimates; they return those
single-sample estimates, so their mean is the estimate and their variance is the variance of
one sample (divide by N for the variance of the mean).

- [`pathwise_gradient`][vae.estimators.pathwise_gradient] writes $z = \mu + \sigma\varepsilon$
  and differentiates through $f$ (the reparameterization trick; needs a differentiable $f$).
- [`score_function_gradient`][vae.estimators.score_function_gradient] multiplies $f(z)$ by the
  gradient of $\log \mathcal N(z; \mu, \sigma^2)$ (REINFORCE; needs only values of $f$).

Both are unbiased. For smooth $f$ the pathwise estimator usually has a much lower variance;
the comparison is derived and measured in
[the reparameterization page](../theory/reparameterization.md#comparing-the-variance).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch

Function = Callable[[torch.Tensor], torch.Tensor]


class GradientSamples(NamedTuple):
    r"""Single-sample estimates of $\partial F / \partial \mu$ and $\partial F / \partial \sigma$.

    Attributes:
        d_mu: one estimate of the derivative with respect to mu per sample, shape (N,).
        d_sigma: one estimate of the derivative with respect to sigma per sample, shape (N,).
    """

    d_mu: torch.Tensor
    d_sigma: torch.Tensor

    def mean(self) -> tuple[float, float]:
        """The Monte Carlo estimates: the averages of the single-sample estimates (d_mu, d_sigma)."""
        return self.d_mu.mean().item(), self.d_sigma.mean().item()

    def variance(self) -> tuple[float, float]:
        """The variance of one single-sample estimate (d_mu, d_sigma); the mean of N has 1/N of it."""
        return self.d_mu.var().item(), self.d_sigma.var().item()


def _noise(num_samples: int, sigma: float, generator: torch.Generator | None) -> torch.Tensor:
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2 to estimate a variance, not {num_samples}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, not {sigma}")
    device = None if generator is None else generator.device  # a generator draws on its own device
    return torch.randn(num_samples, generator=generator, dtype=torch.float64, device=device)  # eps ~ N(0, 1), (N,)


def pathwise_gradient(
    f: Function, mu: float, sigma: float, num_samples: int, generator: torch.Generator | None = None
) -> GradientSamples:
    r"""The pathwise (reparameterization) estimator of the gradient of $\mathbb E_{\mathcal N(\mu, \sigma^2)}[f(z)]$.

    With $z = \mu + \sigma \varepsilon$ and $\varepsilon \sim \mathcal N(0, 1)$ the expectation is
    over a distribution that does not depend on the parameters, so the gradient moves inside:

    $$
    \frac{\partial}{\partial \mu} \mathbb E[f(z)] = \mathbb E_\varepsilon\big[f'(\mu + \sigma\varepsilon)\big],
    \qquad
    \frac{\partial}{\partial \sigma} \mathbb E[f(z)] = \mathbb E_\varepsilon\big[f'(\mu + \sigma\varepsilon)\,\varepsilon\big].
    $$

    $f'$ is computed by autograd, exactly as a VAE's backward pass does through
    [`VAE.reparameterize`][vae.models.VAE.reparameterize]. Derived in
    [the reparameterization page](../theory/reparameterization.md#the-pathwise-estimator).

    Args:
        f: a differentiable function applied elementwise to a float64 tensor of samples, (N,) -> (N,).
        mu: mean of the sampling distribution.
        sigma: standard deviation, > 0.
        num_samples: number N of single-sample estimates, >= 2.
        generator: seeds the noise, for repeatable estimates; the estimates are on its device (default: torch's).

    Returns:
        [`GradientSamples`][vae.estimators.GradientSamples]: N estimates of each derivative.
    """
    eps = _noise(num_samples, sigma, generator)  # (N,)
    z = (mu + sigma * eps).requires_grad_(True)  # (N,) the reparameterized samples
    (df_dz,) = torch.autograd.grad(f(z).sum(), z)  # f'(z_n) for every sample: the samples are independent
    # dz/dmu = 1 and dz/dsigma = eps, so the chain rule gives f'(z) and f'(z) * eps
    return GradientSamples(df_dz.detach(), (df_dz * eps).detach())


def score_function_gradient(
    f: Function,
    mu: float,
    sigma: float,
    num_samples: int,
    generator: torch.Generator | None = None,
    baseline: float = 0.0,
) -> GradientSamples:
    r"""The score-function (REINFORCE, likelihood-ratio) estimator of the same gradient.

    It uses $\nabla_\theta\, \mathbb E_{p_\theta}[f(z)] = \mathbb E_{p_\theta}[f(z)\, \nabla_\theta \log p_\theta(z)]$
    with the score of $\mathcal N(\mu, \sigma^2)$ written with $\varepsilon = (z - \mu)/\sigma$:

    $$
    \frac{\partial \log p}{\partial \mu} = \frac{\varepsilon}{\sigma},
    \qquad
    \frac{\partial \log p}{\partial \sigma} = \frac{\varepsilon^2 - 1}{\sigma}.
    $$

    Only values of $f$ are needed (no derivative), which is why it also works for discrete
    latent variables. A constant `baseline` $b$ subtracted from $f$ keeps the estimator unbiased,
    because the score has expectation zero, and can reduce its variance. Derived in
    [the reparameterization page](../theory/reparameterization.md#the-score-function-estimator).

    Args:
        f: a function applied elementwise to a float64 tensor of samples, (N,) -> (N,).
        mu: mean of the sampling distribution.
        sigma: standard deviation, > 0.
        num_samples: number N of single-sample estimates, >= 2.
        generator: seeds the noise, for repeatable estimates; the estimates are on its device (default: torch's).
        baseline: the constant b in $(f(z) - b)\, \nabla \log p(z)$.

    Returns:
        [`GradientSamples`][vae.estimators.GradientSamples]: N estimates of each derivative.
    """
    eps = _noise(num_samples, sigma, generator)  # (N,)
    with torch.no_grad():
        weight = f(mu + sigma * eps) - baseline  # f(z) - b, (N,)
    # score of N(mu, sigma^2) at z = mu + sigma * eps: d/dmu = eps / sigma, d/dsigma = (eps^2 - 1) / sigma
    return GradientSamples(weight * eps / sigma, weight * (eps.pow(2) - 1.0) / sigma)


__all__ = ["GradientSamples", "pathwise_gradient", "score_function_gradient"]

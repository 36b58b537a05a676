"""The two gradient estimators in vae.estimators against gradients known in closed form.

For z ~ N(mu, sigma^2) the expectations below have closed forms, so their derivatives with
respect to mu and sigma are an independent check of both Monte Carlo estimators:

- E[z^2] = mu^2 + sigma^2
- E[sin z] = sin(mu) exp(-sigma^2 / 2)
- E[exp(z)] = exp(mu + sigma^2 / 2)
"""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch

import vae
from vae.estimators import GradientSamples, pathwise_gradient, score_function_gradient

N = 200_000


def _square_grad(mu: float, sigma: float) -> tuple[float, float]:
    return 2 * mu, 2 * sigma


def _sin_grad(mu: float, sigma: float) -> tuple[float, float]:
    damp = math.exp(-(sigma**2) / 2)
    return math.cos(mu) * damp, -sigma * math.sin(mu) * damp


def _exp_grad(mu: float, sigma: float) -> tuple[float, float]:
    value = math.exp(mu + sigma**2 / 2)
    return value, sigma * value


CASES: list[tuple[str, Callable[[torch.Tensor], torch.Tensor], Callable[[float, float], tuple[float, float]]]] = [
    ("square", lambda z: z.pow(2), _square_grad),
    ("sin", torch.sin, _sin_grad),
    ("exp", torch.exp, _exp_grad),
]
PARAMS = [(0.0, 1.0), (1.0, 0.5), (-0.7, 1.3)]


def _assert_unbiased(samples: GradientSamples, exact: tuple[float, float]) -> None:
    """Each mean within 5 standard errors of the exact derivative (a false alarm has odds ~1e-6)."""
    for estimates, target in zip(samples, exact):
        stderr = estimates.std().item() / math.sqrt(estimates.numel())
        assert abs(estimates.mean().item() - target) < 5 * stderr + 1e-9, (estimates.mean().item(), target, stderr)


@pytest.mark.parametrize("mu,sigma", PARAMS)
@pytest.mark.parametrize("name,f,grad", CASES, ids=[c[0] for c in CASES])
def test_pathwise_is_unbiased(name: str, f, grad, mu: float, sigma: float) -> None:
    samples = pathwise_gradient(f, mu, sigma, N, torch.Generator().manual_seed(1))
    _assert_unbiased(samples, grad(mu, sigma))


@pytest.mark.parametrize("mu,sigma", PARAMS)
@pytest.mark.parametrize("name,f,grad", CASES, ids=[c[0] for c in CASES])
def test_score_function_is_unbiased(name: str, f, grad, mu: float, sigma: float) -> None:
    samples = score_function_gradient(f, mu, sigma, N, torch.Generator().manual_seed(2))
    _assert_unbiased(samples, grad(mu, sigma))


@pytest.mark.parametrize("mu,sigma", [(0.0, 1.0), (1.0, 0.5), (1.0, 0.1)])
@pytest.mark.parametrize("name,f,grad", CASES, ids=[c[0] for c in CASES])
def test_pathwise_has_lower_variance_for_smooth_f(name: str, f, grad, mu: float, sigma: float) -> None:
    """f varies slowly on the scale of sigma: the pathwise estimator wins, by far for small sigma."""
    path = pathwise_gradient(f, mu, sigma, N, torch.Generator().manual_seed(3)).variance()
    score = score_function_gradient(f, mu, sigma, N, torch.Generator().manual_seed(3)).variance()
    assert path[0] < score[0] and path[1] < score[1], (path, score)


def test_score_function_can_win_when_f_wiggles_on_the_scale_of_sigma() -> None:
    """Not a theorem: for sin z with sigma = 2, f' = cos z is as large as f and the pathwise
    estimator has the larger variance (see Mohamed et al. 2020). The docs say so."""
    path = pathwise_gradient(torch.sin, 0.0, 2.0, N, torch.Generator().manual_seed(3)).variance()
    score = score_function_gradient(torch.sin, 0.0, 2.0, N, torch.Generator().manual_seed(3)).variance()
    assert path[0] > score[0] and path[1] > score[1], (path, score)


def test_known_single_sample_variances() -> None:
    """For f(z) = z^2 both variances have closed forms; check the estimators reproduce them.

    Pathwise: d_mu = 2z, Var = 4 sigma^2; d_sigma = 2 z eps, Var = 4 (mu^2 + 2 sigma^2).
    Score function: d_mu = z^2 eps / sigma, Var = E[z^4 eps^2] / sigma^2 - (2 mu)^2, with
    E[z^4 eps^2] = mu^4 + 18 mu^2 sigma^2 + 15 sigma^4 (moments of the standard normal).
    """
    mu, sigma = 1.0, 0.5
    path = pathwise_gradient(lambda z: z.pow(2), mu, sigma, 400_000, torch.Generator().manual_seed(4)).variance()
    score = score_function_gradient(lambda z: z.pow(2), mu, sigma, 400_000, torch.Generator().manual_seed(4)).variance()
    assert path[0] == pytest.approx(4 * sigma**2, rel=0.02)
    assert path[1] == pytest.approx(4 * (mu**2 + 2 * sigma**2), rel=0.02)
    expected = (mu**4 + 18 * mu**2 * sigma**2 + 15 * sigma**4) / sigma**2 - (2 * mu) ** 2
    assert score[0] == pytest.approx(expected, rel=0.05)


def test_baseline_keeps_the_mean_and_lowers_the_variance() -> None:
    mu, sigma = 1.0, 0.5
    plain = score_function_gradient(torch.exp, mu, sigma, N, torch.Generator().manual_seed(5))
    centred = score_function_gradient(torch.exp, mu, sigma, N, torch.Generator().manual_seed(5), baseline=math.exp(mu + sigma**2 / 2))
    _assert_unbiased(centred, _exp_grad(mu, sigma))
    assert centred.variance()[0] < plain.variance()[0] and centred.variance()[1] < plain.variance()[1]


def test_shapes_dtype_and_repeatability() -> None:
    a = pathwise_gradient(torch.sin, 0.3, 0.8, 1000, torch.Generator().manual_seed(6))
    b = pathwise_gradient(torch.sin, 0.3, 0.8, 1000, torch.Generator().manual_seed(6))
    assert a.d_mu.shape == a.d_sigma.shape == (1000,)
    assert a.d_mu.dtype == torch.float64 and not a.d_mu.requires_grad
    assert torch.equal(a.d_mu, b.d_mu) and torch.equal(a.d_sigma, b.d_sigma)
    mean, var = a.mean(), a.variance()
    assert len(mean) == len(var) == 2 and all(isinstance(v, float) for v in (*mean, *var))


@pytest.mark.parametrize("estimator", [pathwise_gradient, score_function_gradient])
def test_rejects_bad_arguments(estimator) -> None:
    with pytest.raises(ValueError, match="sigma"):
        estimator(torch.sin, 0.0, 0.0, 10)
    with pytest.raises(ValueError, match="num_samples"):
        estimator(torch.sin, 0.0, 1.0, 1)


def test_exported_from_the_package() -> None:
    assert vae.pathwise_gradient is pathwise_gradient
    assert vae.score_function_gradient is score_function_gradient
    assert vae.GradientSamples is GradientSamples
    assert {"pathwise_gradient", "score_function_gradient", "GradientSamples"} <= set(vae.__all__)

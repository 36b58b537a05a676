"""Objectives against independent computations: torch.distributions, Monte Carlo, a tractable model.

Every formula in `vae.objectives` is checked against something that does not share its code:
closed forms against `torch.distributions` and Monte Carlo estimates, and the ELBO <= IWAE_k <=
log p(x) chain on a linear-Gaussian latent model whose marginal likelihood is exact.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from vae import VAE
from vae.objectives import (
    bernoulli_log_likelihood,
    elbo,
    gaussian_kl,
    gaussian_kl_between,
    gaussian_log_density,
    gaussian_log_likelihood,
    iwae_bound,
)

DTYPE = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _posterior_params(batch: int = 6, dim: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    mu = torch.randn(batch, dim, generator=g, dtype=DTYPE)  # (B, D)
    logvar = torch.randn(batch, dim, generator=g, dtype=DTYPE).clamp(-2, 2)  # (B, D)
    return mu, logvar


# -- KL divergences --------------------------------------------------------------------------------
def test_gaussian_kl_matches_torch_distributions() -> None:
    mu, logvar = _posterior_params()
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = kl_divergence(q, p).sum(dim=-1)  # (B,)
    got = gaussian_kl(mu, logvar)
    assert got.shape == (mu.shape[0],)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_gaussian_kl_matches_monte_carlo() -> None:
    mu, logvar = _posterior_params(batch=3, dim=3)
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.sample((200_000,))  # (S, B, D)
    log_ratio = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(dim=-1)  # (S, B)
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(z.shape[0])
    assert ((gaussian_kl(mu, logvar) - estimate).abs() < 5 * stderr + 1e-3).all()


def test_gaussian_kl_is_nonnegative_and_zero_only_at_the_prior() -> None:
    g = _gen(1)
    mu = 3 * torch.randn(10_000, 5, generator=g, dtype=DTYPE)
    logvar = 4 * torch.randn(10_000, 5, generator=g, dtype=DTYPE)
    assert (gaussian_kl(mu, logvar) >= 0).all()
    zero = torch.zeros(2, 5, dtype=DTYPE)
    assert torch.equal(gaussian_kl(zero, zero), torch.zeros(2, dtype=DTYPE))
    for delta_mu, delta_logvar in [(1e-3, 0.0), (0.0, 1e-3), (0.0, -1e-3), (-0.5, 0.2)]:
        mu1, lv1 = zero.clone(), zero.clone()
        mu1[:, 2] += delta_mu
        lv1[:, 4] += delta_logvar
        assert (gaussian_kl(mu1, lv1) > 0).all()


def test_gaussian_kl_between_reduces_to_gaussian_kl_and_matches_torch() -> None:
    mu, logvar = _posterior_params()
    zeros = torch.zeros_like(mu)
    torch.testing.assert_close(gaussian_kl_between(mu, logvar, zeros, zeros), gaussian_kl(mu, logvar), rtol=1e-12, atol=1e-12)
    scalar_zero = torch.tensor(0.0, dtype=DTYPE)  # broadcast prior parameters
    torch.testing.assert_close(gaussian_kl_between(mu, logvar, scalar_zero, scalar_zero), gaussian_kl(mu, logvar))
    mu_p, logvar_p = _posterior_params(seed=7)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(mu_p, (0.5 * logvar_p).exp())).sum(-1)
    torch.testing.assert_close(gaussian_kl_between(mu, logvar, mu_p, logvar_p), expected, rtol=1e-10, atol=1e-10)
    # KL(q || q) = 0 and KL is not symmetric
    assert torch.allclose(gaussian_kl_between(mu, logvar, mu, logvar), torch.zeros(mu.shape[0], dtype=DTYPE))
    assert not torch.allclose(gaussian_kl_between(mu, logvar, mu_p, logvar_p), gaussian_kl_between(mu_p, logvar_p, mu, logvar))


def test_gaussian_kl_between_matches_monte_carlo() -> None:
    mu_q, logvar_q = _posterior_params(batch=2, dim=3, seed=3)
    mu_p, logvar_p = _posterior_params(batch=2, dim=3, seed=4)
    q, p = Normal(mu_q, (0.5 * logvar_q).exp()), Normal(mu_p, (0.5 * logvar_p).exp())
    z = q.sample((200_000,))
    log_ratio = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # (S, B)
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(z.shape[0])
    assert ((gaussian_kl_between(mu_q, logvar_q, mu_p, logvar_p) - estimate).abs() < 5 * stderr + 1e-3).all()


# -- log-likelihoods and densities ------------------------------------------------------------------
def test_bernoulli_log_likelihood_matches_torch_distributions() -> None:
    g = _gen(2)
    logits = 4 * torch.randn(5, 1, 28, 28, generator=g, dtype=DTYPE)
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.3, dtype=DTYPE), generator=g)
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    got = bernoulli_log_likelihood(x, logits)
    assert got.shape == (5,)
    torch.testing.assert_close(got, expected)
    # gray levels: x log sigma(l) + (1 - x) log(1 - sigma(l)), written out independently
    gray = torch.rand(5, 1, 28, 28, generator=g, dtype=DTYPE)
    p = torch.sigmoid(logits)
    written_out = (gray * p.log() + (1 - gray) * (1 - p).log()).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(gray, logits), written_out)


def test_bernoulli_log_likelihood_is_stable_for_extreme_logits() -> None:
    logits = torch.tensor([[200.0, -200.0, 200.0, -200.0]])
    x = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    got = bernoulli_log_likelihood(x, logits)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, torch.tensor([-400.0]))


def test_gaussian_log_likelihood_matches_torch_distributions() -> None:
    g = _gen(3)
    x = torch.rand(4, 1, 28, 28, generator=g, dtype=DTYPE)
    mean = torch.rand(4, 1, 28, 28, generator=g, dtype=DTYPE)
    for logvar in (0.0, -1.3, torch.full((1, 28, 28), 0.7, dtype=DTYPE)):
        std = torch.as_tensor(logvar, dtype=DTYPE).mul(0.5).exp()
        expected = Normal(mean, std).log_prob(x).flatten(1).sum(1)
        torch.testing.assert_close(gaussian_log_likelihood(x, mean, logvar), expected)


def test_gaussian_log_likelihood_mse_case_constant() -> None:
    g = _gen(4)
    x = torch.rand(3, 1, 28, 28, generator=g, dtype=DTYPE)
    mean = torch.rand(3, 1, 28, 28, generator=g, dtype=DTYPE)
    n = 784
    sse = (x - mean).pow(2).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean), -0.5 * sse - n / 2 * math.log(2 * math.pi))
    # the constant is N/2 log 2 pi = 720.4 nats for 784 pixels, as the docstring says
    assert gaussian_log_likelihood(x, x)[0].item() == pytest.approx(-720.4, abs=0.1)


def test_gaussian_log_density_matches_torch_distributions() -> None:
    g = _gen(5)
    z = torch.randn(7, 3, 4, generator=g, dtype=DTYPE)  # (..., D)
    mu, logvar = torch.randn(3, 4, generator=g, dtype=DTYPE), torch.randn(3, 4, generator=g, dtype=DTYPE)
    cov = torch.diag_embed(logvar.exp())
    torch.testing.assert_close(gaussian_log_density(z, mu, logvar), MultivariateNormal(mu, cov).log_prob(z))
    torch.testing.assert_close(gaussian_log_density(z), Normal(0.0, 1.0).log_prob(z).sum(-1))
    assert gaussian_log_density(z).shape == (7, 3)


# -- the reparameterization trick ----------------------------------------------------------------
def test_reparameterized_gradient_matches_analytic_gradient_of_a_quadratic() -> None:
    r"""f(z) = sum_j a_j z_j^2 + c_j z_j has E f = sum a (mu^2 + sigma^2) + c mu, so
    dE/dmu = 2 a mu + c and dE/dlogvar = a sigma^2."""
    torch.manual_seed(0)
    mu = torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE, requires_grad=True)
    logvar = torch.tensor([0.0, -1.0, 0.8], dtype=DTYPE, requires_grad=True)
    a = torch.tensor([1.0, -0.5, 0.3], dtype=DTYPE)
    c = torch.tensor([0.2, 1.0, -1.5], dtype=DTYPE)
    n = 200_000
    z = VAE.reparameterize(mu.expand(n, 3), logvar.expand(n, 3))  # (n, 3)
    (a * z.pow(2) + c * z).sum(1).mean().backward()
    with torch.no_grad():
        torch.testing.assert_close(mu.grad, 2 * a * mu + c, atol=0.03, rtol=0)
        torch.testing.assert_close(logvar.grad, a * logvar.exp(), atol=0.03, rtol=0)
        assert torch.allclose(z.mean(0), mu, atol=0.02)
        assert torch.allclose(z.var(0), logvar.exp(), rtol=0.02)


def test_reparameterize_is_reproducible_and_exact_for_a_point_mass() -> None:
    mu, logvar = _posterior_params()
    z1 = VAE.reparameterize(mu, logvar, _gen(3))
    z2 = VAE.reparameterize(mu, logvar, _gen(3))
    assert torch.equal(z1, z2) and z1.shape == mu.shape
    assert torch.equal(VAE.reparameterize(mu, torch.full_like(logvar, float("-inf"))), mu)


# -- ELBO ------------------------------------------------------------------------------------------
def test_elbo_terms_and_reductions() -> None:
    g = _gen(6)
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.2, dtype=DTYPE), generator=g)
    logits = torch.randn(4, 1, 28, 28, generator=g, dtype=DTYPE)
    mu, logvar = _posterior_params(batch=4, dim=3)
    per = elbo(x, logits, mu, logvar, beta=0.5, reduction="none")
    rec = -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(per.reconstruction, rec)
    torch.testing.assert_close(per.kl, kl)
    torch.testing.assert_close(per.loss, rec + 0.5 * kl)
    torch.testing.assert_close(per.elbo, -(rec + kl))  # the bound itself is always unweighted
    mean = elbo(x, logits, mu, logvar, beta=0.5)
    for m, p in zip(mean, per):
        assert m.shape == () and torch.allclose(m, p.mean())
    with pytest.raises(ValueError, match="reduction"):
        elbo(x, logits, mu, logvar, reduction="sum")


# -- IWAE ------------------------------------------------------------------------------------------
def test_iwae_bound_matches_naive_computation() -> None:
    log_w = torch.randn(5, 7, generator=_gen(8), dtype=DTYPE) * 3  # (B, k)
    naive = torch.log(torch.exp(log_w).mean(dim=1))
    torch.testing.assert_close(iwae_bound(log_w), naive)
    torch.testing.assert_close(iwae_bound(log_w[:, :1]), log_w[:, 0])  # k = 1: the weight itself


def test_iwae_bound_is_stable_for_huge_log_weights() -> None:
    small = torch.randn(3, 50, generator=_gen(9), dtype=DTYPE)
    naive = torch.log(torch.exp(small).mean(dim=1))
    for offset in (-1e4, 1e4, -1e6):
        got = iwae_bound(small + offset)
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, naive + offset, rtol=0, atol=1e-8 * abs(offset))
    # float32 too, as used in training
    got32 = iwae_bound(small.float() - 1e4)
    assert torch.isfinite(got32).all()
    torch.testing.assert_close(got32.double(), naive - 1e4, rtol=0, atol=0.01)
    # a zero weight (log w = -inf) is ignored; all zero weights give -inf, not NaN
    with_zero = torch.tensor([[0.0, float("-inf")]], dtype=DTYPE)
    torch.testing.assert_close(iwae_bound(with_zero), torch.tensor([math.log(0.5)], dtype=DTYPE))
    assert iwae_bound(torch.full((1, 3), float("-inf"))).item() == float("-inf")


class LinearGaussian:
    r"""p(z) = N(0, I_D), p(x | z) = N(W z + b, s^2 I_N): log p(x) = log N(x; b, W W^T + s^2 I) exactly.

    The exact posterior is N(Sigma W^T (x - b) / s^2, Sigma) with Sigma = (I + W^T W / s^2)^{-1}.
    """

    def __init__(self, latent: int = 2, observed: int = 4, s: float = 0.6, seed: int = 0) -> None:
        g = _gen(seed)
        self.W = torch.randn(observed, latent, generator=g, dtype=DTYPE)  # (N, D)
        self.b = torch.randn(observed, generator=g, dtype=DTYPE)  # (N,)
        self.logvar_x = math.log(s * s)
        self.s2 = s * s
        self.D, self.N = latent, observed

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.W @ self.W.T + self.s2 * torch.eye(self.N, dtype=DTYPE)
        return MultivariateNormal(self.b, cov).log_prob(x)  # (B,)

    def posterior(self, x: torch.Tensor) -> MultivariateNormal:
        precision = torch.eye(self.D, dtype=DTYPE) + self.W.T @ self.W / self.s2
        sigma = torch.linalg.inv(precision)
        mean = (x - self.b) @ self.W @ sigma / self.s2  # (B, D)
        return MultivariateNormal(mean, sigma.expand(x.shape[0], self.D, self.D))

    def log_weights(self, x: torch.Tensor, mu_q: torch.Tensor, logvar_q: torch.Tensor, shape: tuple[int, ...],
                    g: torch.Generator) -> torch.Tensor:
        """log p(x|z) + log p(z) - log q(z|x) for z ~ q = N(mu_q, diag exp(logvar_q)): (*shape, B)."""
        eps = torch.randn(*shape, *mu_q.shape, generator=g, dtype=DTYPE)
        z = mu_q + (0.5 * logvar_q).exp() * eps  # (*shape, B, D)
        log_px_z = gaussian_log_density(x, z @ self.W.T + self.b, self.logvar_x)
        return log_px_z + gaussian_log_density(z) - gaussian_log_density(z, mu_q, logvar_q)


def test_elbo_iwae_and_exact_log_likelihood_on_a_linear_gaussian_model() -> None:
    model = LinearGaussian()
    g = _gen(10)
    x = torch.randn(3, model.N, generator=g, dtype=DTYPE) * 1.5  # (B, N)
    log_px = model.log_marginal(x)  # (B,) exact
    post = model.posterior(x)
    # a deliberately imperfect diagonal q: shifted mean, wider and uncorrelated
    mu_q = post.mean + 0.4
    logvar_q = post.covariance_matrix.diagonal(dim1=-2, dim2=-1).log() + 0.5
    q_full = MultivariateNormal(mu_q, torch.diag_embed(logvar_q.exp()))
    gap = kl_divergence(q_full, post)  # log p(x) - ELBO = KL(q || p(z|x)) > 0
    assert (gap > 0.1).all()

    # ELBO = E_q[log w]: Monte Carlo against log p(x) - KL(q || posterior)
    lw = model.log_weights(x, mu_q, logvar_q, (400_000,), g)  # (S, B)
    elbo_mc, elbo_se = lw.mean(0), lw.std(0) / math.sqrt(lw.shape[0])
    assert ((elbo_mc - (log_px - gap)).abs() < 5 * elbo_se).all()

    # E[IWAE_k] for k = 1, 4, 32, 256, each averaged over R independent replicas
    bounds, stderrs = [], []
    for k, replicas in [(1, 100_000), (4, 50_000), (32, 8000), (256, 1500)]:
        log_w = model.log_weights(x, mu_q, logvar_q, (replicas, k), g).permute(0, 2, 1)  # (R, B, k)
        per_replica = iwae_bound(log_w.reshape(-1, k)).view(replicas, -1)  # (R, B)
        bounds.append(per_replica.mean(0))
        stderrs.append(per_replica.std(0) / math.sqrt(replicas))
    # IWAE_1 has the ELBO as its expectation
    assert ((bounds[0] - elbo_mc).abs() < 5 * (stderrs[0] + elbo_se)).all()
    # ELBO <= IWAE_1 <= IWAE_4 <= ... <= log p(x), strictly increasing in k
    for lo, hi, se_lo, se_hi in zip(bounds, bounds[1:], stderrs, stderrs[1:]):
        assert (hi - lo > 3 * (se_lo + se_hi)).all()
    assert (bounds[-1] <= log_px + 3 * stderrs[-1]).all()
    # ... and it approaches log p(x): the remaining gap is a small fraction of the ELBO's gap
    assert ((log_px - bounds[-1]) < 0.1 * gap).all()
    assert ((log_px - bounds[-1]).abs() < 0.06).all()


def test_iwae_with_the_exact_posterior_is_exact_for_every_k() -> None:
    """With q = p(z | x) every weight equals p(x), so IWAE_k = ELBO = log p(x) for any sample."""
    model = LinearGaussian(latent=1, observed=3, seed=2)
    x = torch.randn(4, model.N, generator=_gen(11), dtype=DTYPE)
    post = model.posterior(x)
    mu_q = post.mean
    logvar_q = post.covariance_matrix.diagonal(dim1=-2, dim2=-1).log()  # D = 1: the diagonal is exact
    log_w = model.log_weights(x, mu_q, logvar_q, (16,), _gen(12)).T  # (B, k)
    torch.testing.assert_close(log_w, model.log_marginal(x)[:, None].expand_as(log_w))
    torch.testing.assert_close(iwae_bound(log_w), model.log_marginal(x))


def test_elbo_uses_a_given_log_likelihood_instead_of_the_bernoulli_one() -> None:
    """A Gaussian decoder passes its own log p(x | z): the logits are then unused, the KL and the weighting unchanged."""
    g = _gen(7)
    x = torch.rand(4, 1, 28, 28, generator=g, dtype=DTYPE)
    mean = torch.rand(4, 1, 28, 28, generator=g, dtype=DTYPE)
    mu, logvar = _posterior_params(batch=4, dim=3)
    log_px = Normal(mean, 0.2).log_prob(x).flatten(1).sum(1)  # (B,)
    per = elbo(x, torch.full_like(x, float("nan")), mu, logvar, beta=2.0, reduction="none", log_px=log_px)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(per.reconstruction, -log_px)
    torch.testing.assert_close(per.loss, -log_px + 2.0 * kl)
    torch.testing.assert_close(per.elbo, log_px - kl)

"""PCA and probabilistic PCA: Eckart-Young, the linear autoencoder, the PPCA likelihood and its tight ELBO."""

from __future__ import annotations

import pytest
import torch

from vae import PPCA, fit_pca, fit_ppca


def _data(n: int = 400, p: int = 10, seed: int = 0) -> torch.Tensor:
    """Correlated Gaussian data with spread-out variances and a non-zero mean: (n, p), float64."""
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(p, p, generator=g, dtype=torch.float64) * torch.linspace(0.2, 3.0, p, dtype=torch.float64)
    return torch.randn(n, p, generator=g, dtype=torch.float64) @ mixing.T + torch.randn(p, generator=g, dtype=torch.float64)


def _covariance_eigenvalues(x: torch.Tensor) -> torch.Tensor:
    """The eigenvalues of the divisor-N covariance, descending, computed independently (torch.cov, eigvalsh)."""
    return torch.linalg.eigvalsh(torch.cov(x.T, correction=0)).flip(0)


@pytest.mark.parametrize("n, p", [(400, 10), (8, 20)])  # eigh of the covariance (N >= P) and the SVD (N < P)
def test_reconstruction_error_is_the_sum_of_discarded_eigenvalues(n: int, p: int) -> None:
    """Eckart-Young: the mean squared error of the rank-k projection equals sum_{j > k} lambda_j."""
    x = _data(n, p)
    eig = _covariance_eigenvalues(x)
    for k in range(1, min(n, p)):
        pca = fit_pca(x, k)
        error = (x - pca.reconstruct(x)).pow(2).sum(1).mean().item()
        torch.testing.assert_close(error, eig[k:].sum().item(), rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(pca.residual_variance, eig[k:].sum().item(), rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(pca.explained_variance, eig[:k], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(pca.components @ pca.components.T, torch.eye(k, dtype=torch.float64), atol=1e-10, rtol=0)
        torch.testing.assert_close(pca.explained_variance_ratio.sum().item(), (eig[:k].sum() / eig.sum()).item())


def test_a_linear_autoencoder_trained_by_gradient_descent_does_not_beat_pca() -> None:
    x, k = _data().float(), 3
    pca_error = fit_pca(x, k).residual_variance
    torch.manual_seed(0)
    encoder, decoder = torch.nn.Linear(x.shape[1], k), torch.nn.Linear(k, x.shape[1])
    opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=3e-2)
    for _ in range(500):
        opt.zero_grad()
        loss = (decoder(encoder(x)) - x).pow(2).sum(1).mean()  # the same measure: squared error per example
        loss.backward()
        opt.step()
    with torch.no_grad():
        ae_error = (decoder(encoder(x)) - x).pow(2).sum(1).mean().item()
    assert ae_error >= pca_error * (1 - 1e-4)  # never better than the optimum (float32 rounding aside)
    assert ae_error <= pca_error * 1.01  # and training gets there, so the bound is the minimum, not a loose one


def test_pca_keeps_the_shape_it_was_fitted_on() -> None:
    images = torch.rand(50, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    pca = fit_pca(images, 5)
    codes = pca.encode(images)
    assert codes.shape == (50, 5) and pca.decode(codes).shape == (50, 1, 4, 4) and pca.shape == (1, 4, 4)
    full = fit_pca(images, 16)  # every component: the reconstruction is exact
    torch.testing.assert_close(full.reconstruct(images), images.double(), atol=1e-10, rtol=0)
    assert fit_pca(images, 5).components.equal(pca.components)  # the sign convention makes fits reproducible


def test_ppca_log_likelihood_matches_a_multivariate_normal() -> None:
    x = _data()
    for k in (1, 3, 7):
        ppca = fit_ppca(x, k)
        covariance = ppca.weight @ ppca.weight.T + ppca.noise_variance * torch.eye(x.shape[1], dtype=torch.float64)
        reference = torch.distributions.MultivariateNormal(ppca.mean, covariance_matrix=covariance).log_prob(x)
        torch.testing.assert_close(ppca.log_prob(x), reference, rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(ppca.covariance(), covariance)


def test_ppca_is_the_maximum_likelihood_solution() -> None:
    """Tipping & Bishop's closed form: sigma^2 = mean of the discarded eigenvalues, and no nearby model is more likely."""
    x, k = _data(), 3
    ppca = fit_ppca(x, k)
    eig = _covariance_eigenvalues(x)
    torch.testing.assert_close(ppca.noise_variance, eig[k:].mean().item(), rtol=1e-9, atol=0)
    # W^T W = Lambda_k - sigma^2 I: the columns are orthogonal with those squared lengths
    torch.testing.assert_close(ppca.weight.T @ ppca.weight, torch.diag(eig[:k] - eig[k:].mean()), atol=1e-8, rtol=1e-8)
    best = ppca.log_likelihood(x)
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        noise = 0.05 * torch.randn(ppca.weight.shape, generator=g, dtype=torch.float64)
        nudged_w = PPCA(ppca.mean, ppca.weight + noise, ppca.noise_variance, ppca.shape)
        assert nudged_w.log_likelihood(x) < best
    for factor in (0.9, 1.1):
        assert PPCA(ppca.mean, ppca.weight, ppca.noise_variance * factor, ppca.shape).log_likelihood(x) < best
    assert PPCA(ppca.mean + 0.05, ppca.weight, ppca.noise_variance, ppca.shape).log_likelihood(x) < best


def test_ppca_elbo_is_tight_with_the_exact_posterior() -> None:
    """The linear-Gaussian VAE: with q = p(z | x) the ELBO is log p(x); any other Gaussian q gives less."""
    x = _data()[:50]
    ppca = fit_ppca(_data(), 3)
    torch.testing.assert_close(ppca.elbo(x), ppca.log_prob(x), rtol=1e-10, atol=1e-9)
    means, cov = ppca.posterior(x)
    assert cov.shape == (3, 3) and means.shape == (50, 3)
    assert (ppca.elbo(x, (means + 0.1, cov)) < ppca.log_prob(x)).all()
    assert (ppca.elbo(x, (means, 2 * cov)) < ppca.log_prob(x)).all()
    # the posterior by Bayes' rule for the Gaussian, computed from the joint covariance of (z, x)
    c = ppca.covariance()
    torch.testing.assert_close(means, (x - ppca.mean) @ torch.linalg.solve(c, ppca.weight), rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(cov, torch.eye(3, dtype=torch.float64) - ppca.weight.T @ torch.linalg.solve(c, ppca.weight))
    assert ppca.decode(means).shape == (50, 10)


def test_bad_inputs_get_clear_errors() -> None:
    x = _data()
    cases = [
        (lambda: fit_pca(x, 0), "n_components must be an integer from 1 to 10"),
        (lambda: fit_pca(x, 11), "n_components must be an integer from 1 to 10"),
        (lambda: fit_pca(x, 2.0), "n_components must be an integer"),
        # 5 examples span at most 5 directions: not 10 components (there were 5 rows of components and 10 variances)
        (lambda: fit_pca(torch.rand(5, 20), 10), r"from 1 to 5 \(at most the number of examples \(5\) and of features \(20\)\)"),
        (lambda: fit_ppca(x, 10), "n_components must be an integer from 1 to 9"),
        (lambda: fit_pca(torch.empty(0, 5), 1), "the data is empty"),
        (lambda: fit_pca(torch.ones(5), 1), r"must have shape \(N, P\)"),
        (lambda: fit_pca(torch.full((4, 3), float("nan")), 1), "NaN or infinite"),
        (lambda: fit_pca(x.numpy(), 1), "must be a torch.Tensor"),
        (lambda: fit_ppca(torch.randn(20, 2, dtype=torch.float64) @ torch.randn(2, 6, dtype=torch.float64), 2), "rank <= 2"),
        (lambda: fit_pca(x, 2).encode(torch.ones(3, 4)), "fitted on 10 features per example, not 4"),
        (lambda: fit_pca(x, 2).decode(torch.ones(3, 4)), r"codes must have shape \(N, 2\)"),
        (lambda: fit_ppca(x, 2).log_prob(torch.ones(3, 4)), "10 features per example, not 4"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()

"""Active units and the ELBO gap tools (vae/diagnostics.py), each against an independent computation."""

from __future__ import annotations

import math

import pytest
import torch

import vae
from vae import ModelConfig, build_model


def _model(latent_dim: int = 2, prior_components: int = 0, seed: int = 0) -> vae.VAE:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(latent_dim=latent_dim, hidden=(32,), prior_components=prior_components))
    return model.eval()


def _images(n: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(seed))


def test_posterior_statistics_are_the_variance_of_the_means_and_the_mean_of_the_variances() -> None:
    model, x = _model(latent_dim=4), _images(30)
    activity, variance = vae.posterior_statistics(model, x, batch_size=7)  # batches that do not divide 30
    with torch.no_grad():
        mu, logvar = model.encode(x)
    assert activity.dtype == torch.float64 and activity.shape == (4,)
    torch.testing.assert_close(activity, ((mu.double() - mu.double().mean(0)) ** 2).mean(0))
    torch.testing.assert_close(variance, logvar.double().exp().mean(0))


def test_a_dimension_the_encoder_ignores_is_inactive() -> None:
    model, x = _model(latent_dim=3), _images(40)
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]  # outputs (mu, logvar), (B, 2D)
    with torch.no_grad():  # the mean of dimension 1 no longer depends on the image
        last.weight[1].zero_()
    activity, _ = vae.posterior_statistics(model, x)
    assert activity[1] < 1e-12 < activity[0] and activity[2] > 1e-12
    assert (activity > vae.diagnostics.ACTIVE_THRESHOLD).sum() <= 2


def test_prior_variance_by_the_law_of_total_variance() -> None:
    assert torch.equal(vae.prior_variance(_model(latent_dim=3)), torch.ones(3, dtype=torch.float64))
    model = _model(latent_dim=2, prior_components=2)
    with torch.no_grad():
        model.prior.means.copy_(torch.tensor([[-1.0, 0.0], [3.0, 2.0]]))
        model.prior.logvars.copy_(torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 0.0]]))
        model.prior.logits.copy_(torch.tensor([0.0, math.log(3.0)]))  # weights 1/4, 3/4
    # by hand: dimension 0 has mean -1/4 + 9/4 = 2, E z^2 = (1 + 1)/4 + (0.25 + 9) * 3/4; dimension 1 likewise
    expected = torch.tensor([(2 / 4 + 9.25 * 3 / 4) - 2.0**2, (4 / 4 + 5 * 3 / 4) - 1.5**2], dtype=torch.float64)
    torch.testing.assert_close(vae.prior_variance(model), expected)
    draws = model.prior.sample(200_000, generator=torch.Generator().manual_seed(0)).double()
    torch.testing.assert_close(draws.var(0), expected, rtol=0.02, atol=0.0)


def test_gaussian_elbo_of_the_encoder_is_the_mean_log_weight() -> None:
    """E_q[log p(x|z) + log p(z) - log q(z|x)] = the mean of the importance log-weights, estimated independently."""
    model, x = _model(), _images(4)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        ours = vae.gaussian_elbo(model, x, mu, logvar, 4000, torch.Generator().manual_seed(0))
        log_w = vae.evaluation.chunked_log_weights(model, x, 4000, generator=torch.Generator().manual_seed(1))  # (B, k)
    torch.testing.assert_close(ours, log_w.mean(dim=1), rtol=0, atol=0.5)


def test_optimised_posteriors_have_a_better_elbo_and_leave_the_model_alone() -> None:
    model, x = _model(), _images(6)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        mu, logvar = model.encode(x)
    mu_o, logvar_o = vae.optimise_posteriors(model, x, steps=40, samples=8, lr=0.05)
    assert mu_o.shape == mu.shape and not mu_o.requires_grad
    with torch.no_grad():
        g = torch.Generator().manual_seed(3)
        e_enc = vae.gaussian_elbo(model, x, mu, logvar, 2000, g)
        e_opt = vae.gaussian_elbo(model, x, mu_o, logvar_o, 2000, torch.Generator().manual_seed(3))
    assert (e_opt > e_enc - 0.05).all() and (e_opt - e_enc).mean() > 0.1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the decoder and prior stayed fixed
    assert all(p.requires_grad for p in model.parameters())  # and trainable, as they were


def test_quadrature_is_exact_when_the_decoder_ignores_z() -> None:
    """With p(x|z) = p(x) for every z, log p(x) = log p(x|z) exactly: the grid over the prior's bulk must give it."""
    model, x = _model(), _images(3)
    first = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)][0]
    with torch.no_grad():
        first.weight.zero_()
        exact = model.log_px(x, model.decode(torch.zeros(3, 2)))
    prior = (torch.zeros(3, 2), torch.zeros(3, 2))  # the standard normal prior as the "posterior" to span
    torch.testing.assert_close(vae.quadrature_log_px(model, x, [prior]), exact, rtol=0, atol=1e-3)


def test_the_grid_tools_refuse_a_latent_space_that_is_not_2d() -> None:
    model, x = _model(latent_dim=3), _images(2)
    with pytest.raises(ValueError, match="needs a 2-D latent space; this model has 3"):
        vae.quadrature_log_px(model, x, [(torch.zeros(2, 3), torch.zeros(2, 3))])
    with pytest.raises(ValueError, match="needs a 2-D latent space"):
        vae.coarse_modes(model, x)


def test_coarse_modes_find_the_best_grid_point() -> None:
    model, x = _model(), _images(2)
    modes = vae.coarse_modes(model, x, points=9, span=2.0)
    a = torch.linspace(-2, 2, 9)
    grid = torch.cartesian_prod(a, a)  # (81, 2)
    with torch.no_grad():
        for image, mode in zip(x, modes):
            joint = model.log_px(image.expand(81, -1, -1, -1), model.decode(grid)) + model.prior.log_prob(grid)
            assert torch.equal(mode, grid[joint.argmax()])

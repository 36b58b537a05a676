"""Priors: the mixture's density, sampling and KL estimate checked numerically against direct computations."""

from __future__ import annotations

import math

import pytest
import torch

import vae
from vae.objectives import gaussian_kl, gaussian_log_density
from vae.priors import MixturePrior, StandardNormalPrior


def _mixture(components: int = 3, dim: int = 4, seed: int = 0) -> MixturePrior:
    torch.manual_seed(seed)
    prior = MixturePrior(dim, components)
    with torch.no_grad():  # away from the near-standard initialisation, so every parameter matters
        prior.means.normal_(0, 2)
        prior.logvars.uniform_(-1.5, 1.0)
        prior.logits.normal_()
    return prior


def test_mixture_log_prob_is_the_weighted_sum_of_component_densities() -> None:
    prior = _mixture()
    z = torch.randn(2, 7, 4) * 3  # (..., D) with two batch dimensions
    weights = prior.logits.softmax(0)  # (K,)
    direct = sum(weights[k] * gaussian_log_density(z, prior.means[k], prior.logvars[k]).exp() for k in range(3)).log()
    assert prior.log_prob(z).shape == (2, 7)
    assert torch.allclose(prior.log_prob(z), direct, atol=1e-4)


def test_mixture_density_integrates_to_one() -> None:
    """In 1-D, the trapezoidal integral of exp(log p) over a wide interval is 1."""
    prior = _mixture(components=4, dim=1)
    z = torch.linspace(-30, 30, 200_001).unsqueeze(1)  # (N, 1)
    assert torch.trapezoid(prior.log_prob(z).exp(), z[:, 0]).item() == pytest.approx(1.0, abs=1e-4)


def test_one_standard_component_is_the_standard_normal() -> None:
    prior = MixturePrior(5, 1)
    with torch.no_grad():
        prior.means.zero_()
    z = torch.randn(100, 5)
    assert torch.allclose(prior.log_prob(z), StandardNormalPrior(5).log_prob(z), atol=1e-5)


def test_a_new_mixture_starts_close_to_the_standard_normal() -> None:
    """Fine-tuning a trained model with a new mixture prior starts near where the model was."""
    torch.manual_seed(0)
    z = torch.randn(5000, 32)
    difference = MixturePrior(32, 500).log_prob(z) - StandardNormalPrior(32).log_prob(z)
    assert difference.mean().abs().item() < 1.0 and difference.std().item() < 1.0


def test_mixture_samples_follow_the_weights_and_components() -> None:
    prior = MixturePrior(2, 2)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-10.0, 0.0], [10.0, 5.0]]))
        prior.logvars.copy_(torch.tensor([[0.0, 0.0], [math.log(4.0), math.log(0.25)]]))
        prior.logits.copy_(torch.tensor([0.0, math.log(3.0)]))  # weights 1/4, 3/4
    z = prior.sample(40_000, generator=torch.Generator().manual_seed(0))
    right = z[:, 0] > 0
    assert right.float().mean().item() == pytest.approx(0.75, abs=0.01)
    assert z[right].mean(0).tolist() == pytest.approx([10.0, 5.0], abs=0.05)
    assert z[right].std(0).tolist() == pytest.approx([2.0, 0.5], rel=0.03)
    assert z[~right].std(0).tolist() == pytest.approx([1.0, 1.0], rel=0.03)
    cold = prior.sample(50, temperature=0.0, generator=torch.Generator().manual_seed(1))
    assert all(any(torch.equal(row, m) for m in prior.means.detach()) for row in cold)  # temperature 0: the means
    assert torch.equal(z, prior.sample(40_000, generator=torch.Generator().manual_seed(0)))  # seeded


@pytest.mark.parametrize("bad", [dict(n=0), dict(n=3, temperature=-1.0), dict(n=3, temperature=math.nan)])
def test_sampling_refuses_bad_arguments(bad: dict) -> None:
    for prior in (_mixture(), StandardNormalPrior(4)):
        with pytest.raises(ValueError, match="n must be|temperature"):
            prior.sample(**bad)


def test_mixture_kl_estimate_is_unbiased() -> None:
    """The mean of the one-sample estimate log q(z) - log p(z) over many z ~ q equals the exact KL, which for a
    one-component standard mixture is the closed form."""
    prior = MixturePrior(3, 1)
    with torch.no_grad():
        prior.means.zero_()
    mu, logvar = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[-0.5, 0.3, -2.0]])
    torch.manual_seed(0)
    z = vae.VAE.reparameterize(mu.expand(200_000, 3), logvar.expand(200_000, 3))
    estimate = prior.kl(z, mu, logvar).mean().item()
    assert estimate == pytest.approx(gaussian_kl(mu, logvar).item(), abs=0.02)
    assert torch.equal(StandardNormalPrior(3).kl(z[:1], mu, logvar), gaussian_kl(mu, logvar))


def test_a_model_with_a_mixture_prior_uses_it_in_both_bounds_and_round_trips(tmp_path) -> None:
    config = vae.ModelConfig(latent_dim=4, hidden=(16,), prior_components=3)
    torch.manual_seed(0)
    model = vae.build_model(config).eval()
    x = torch.rand(6, 1, 28, 28).bernoulli()
    torch.manual_seed(1)
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu.expand(5, *mu.shape), logvar.expand(5, *logvar.shape))  # (5, 6, 4): the draws below
    old_prior = model.prior.log_prob(z).detach()
    torch.manual_seed(1)
    before = model.log_importance_weights(x, 5)  # (6, 5)
    with torch.no_grad():
        model.prior.means.add_(1.0)
    torch.manual_seed(1)
    after = model.log_importance_weights(x, 5)
    assert torch.allclose(after - before, (model.prior.log_prob(z) - old_prior).T, atol=1e-4)  # only log p(z) moved
    torch.manual_seed(2)
    terms = model(x)  # the ELBO's KL is the mixture's estimate at the sampled z, not the closed form
    torch.manual_seed(2)
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar)
    assert terms.kl.item() == pytest.approx(model.prior.kl(z, mu, logvar).mean().item(), rel=1e-5)
    vae.save_model(model, tmp_path / "m")
    loaded = vae.load(tmp_path / "m")
    assert loaded.config.prior_components == 3
    assert torch.equal(loaded.prior.means, model.prior.means) and torch.equal(loaded.prior.logits, model.prior.logits)


def test_prior_components_are_validated() -> None:
    with pytest.raises(vae.ConfigError, match="prior_components"):
        vae.ModelConfig(prior_components=-1)
    with pytest.raises(vae.ConfigError, match="autoencoder has no prior"):
        vae.ModelConfig(kind="ae", prior_components=4)
    with pytest.raises(vae.ConfigError, match="prior_lr"):
        vae.TrainConfig(prior_lr=0.0)


def test_the_standard_priors_device_marker_is_not_saved() -> None:
    """The standard prior keeps an empty buffer only to know its device (for sampling there): it is not part of the
    weights, so a model's weights file is the same as before it existed and old files load strictly."""
    prior = StandardNormalPrior(4)
    assert prior.state_dict() == {} and list(prior.parameters()) == []
    model = vae.build_model(vae.ModelConfig(latent_dim=4, hidden=(8,)))
    assert not any(key.startswith("prior.") for key in model.state_dict())

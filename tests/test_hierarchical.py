"""The hierarchical VAE (`kind="hvae"`): its bound on a linear-Gaussian model where log p(x) is exact, IWAE and
DReG, shapes, the top layer's tools, saving and loading, training and resume, and refused configs.

The exact case: z2 ~ N(0, 1), z1 | z2 ~ N(A z2 + a, S1), x | z1, z2 ~ N(W z1 + V z2 + b, sigma^2 I), with the
model's networks replaced by linear maps (its ELBO and weights are assembled by the model's own code).
Then p(x) is a Gaussian, and the model's posterior can be set to the exact one (W with orthogonal
columns makes the posterior covariance of z1 given z2 diagonal). Shape key: B batch, k importance samples.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal, kl_divergence

import vae
from vae import MNIST, ConfigError, ModelConfig, TrainConfig
from vae.hierarchical import HierarchicalTerms, HierarchicalVAE
from vae.objectives import iwae_bound
from vae.optimization import training_loss

SIGMA = 0.5  # the decoder's standard deviation
A, A0, LOGVAR1 = torch.tensor([[1.5], [-0.7]]), torch.tensor([0.3, -0.2]), torch.tensor([-0.4, 0.2])  # p(z1 | z2)
W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, -1.0]])  # orthogonal columns: W^T W = diag(2, 5)
V = torch.tensor([[0.5], [0.0], [-0.4], [0.3]])  # the decoder's direct path from z2
B0 = torch.tensor([0.1, 0.0, -0.3, 0.2])
X = torch.tensor([[0.9, -1.2, 0.4, 0.8]])  # one image of 4 pixels, (1, 4)
TINY = ModelConfig(kind="hvae", image_shape=(1, 2, 2), latent_dim=1, lower_latent_dim=2, hidden=(8,), lower_hidden=(8,),
                   likelihood="gaussian", decoder_std=SIGMA)


class Flat(nn.Module):
    """The linear encoder: the pixels themselves are the features, (B, 1, 2, 2) -> (B, 4)."""

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return x.flatten(1)


class LinearPosterior(nn.Module):
    """q(z1 | x, z2) as one linear map of (h, z2): (B, 4), (..., B, 1) -> (..., B, 4) = (mu1, logvar1)."""

    def __init__(self, from_x: torch.Tensor, from_z: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.from_x = linear(from_x, bias)
        self.from_z = nn.Linear(1, 4, bias=False)
        with torch.no_grad():
            self.from_z.weight.copy_(from_z)

    def forward(self, h: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return self.from_x(h) + self.from_z(z2)


def linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


def exact_marginal() -> MultivariateNormal:
    """p(x) = N(W a + b, (W A + V)(W A + V)^T + W S1 W^T + sigma^2 I), computed from the matrices alone (float64)."""
    w, a, a0, s1 = W.double(), A.double(), A0.double(), LOGVAR1.double().exp()
    c = w @ a + V.double()  # cov(x, z2), (4, 1)
    cov = c @ c.T + w @ torch.diag(s1) @ w.T + SIGMA**2 * torch.eye(4, dtype=torch.float64)
    return MultivariateNormal(w @ a0 + B0.double(), cov)


def exact_posterior(x: torch.Tensor) -> MultivariateNormal:
    """p(z2, z1 | x) (in that order), by conditioning the joint Gaussian of (z2, z1, x) on x (float64)."""
    w, a, a0, s1 = W.double(), A.double(), A0.double(), LOGVAR1.double().exp()
    mean = torch.cat([torch.zeros(1, dtype=torch.float64), a0, w @ a0 + B0.double()])  # (7,)
    # (z2, z1, x) = L (z2, e1, e0) + mean, with e1 ~ N(0, S1), e0 ~ N(0, sigma^2 I)
    lin = torch.zeros(7, 7, dtype=torch.float64)
    lin[0, 0] = 1.0
    lin[1:3, 0:1], lin[1:3, 1:3] = a, torch.eye(2, dtype=torch.float64)
    lin[3:, 0:1], lin[3:, 1:3], lin[3:, 3:] = w @ a + V.double(), w, torch.eye(4, dtype=torch.float64)
    noise = torch.diag(torch.cat([torch.ones(1, dtype=torch.float64), s1, torch.full((4,), SIGMA**2, dtype=torch.float64)]))
    cov = lin @ noise @ lin.T
    czz, czx, cxx = cov[:3, :3], cov[:3, 3:], cov[3:, 3:]
    gain = czx @ torch.linalg.inv(cxx)
    return MultivariateNormal(mean[:3] + gain @ (x.double().flatten() - mean[3:]), czz - gain @ czx.T)


def linear_model(exact: bool = True, seed: int = 0) -> HierarchicalVAE:
    """The tiny model with linear networks: the generative part as above, the posterior exact (or perturbed)."""
    torch.manual_seed(seed)
    model = vae.build_model(TINY)
    assert isinstance(model, HierarchicalVAE)
    model.encoder = Flat()
    model.decoder.net = linear(torch.cat([W, V], dim=1), B0)  # the decoder reads (z1, z2) side by side
    zeros = torch.zeros(2, 1)
    model.top_down = linear(torch.cat([A, zeros]), torch.cat([A0, LOGVAR1]))  # mu_p = A z2 + a, logvar_p = log S1
    # p(z1 | z2, x): precision P = S1^-1 + W^T W / sigma^2 (diagonal), mean P^-1 (S1^-1 (A z2 + a) + W^T (x - V z2 - b) / sigma^2)
    s1_inv = (-LOGVAR1).exp()  # (2,)
    precision = s1_inv + torch.diag(W.T @ W) / SIGMA**2  # (2,)
    from_x = (W.T / SIGMA**2) / precision[:, None]  # (2, 4)
    from_z = (s1_inv[:, None] * A - W.T @ V / SIGMA**2) / precision[:, None]  # (2, 1)
    offset = (s1_inv * A0 - W.T @ B0 / SIGMA**2) / precision  # (2,)
    model.lower_posterior = LinearPosterior(torch.cat([from_x, torch.zeros(2, 4)]), torch.cat([from_z, torch.zeros(2, 1)]),
                                            torch.cat([offset, -precision.log()]))
    # q(z2 | x) = p(z2 | x) = N(c^T cov_x^-1 (x - m_x), 1 - c^T cov_x^-1 c), c = cov(x, z2) = W A + V
    marginal = exact_marginal()
    c = (W.double() @ A.double() + V.double()).T  # (1, 4)
    gain = (c @ torch.linalg.inv(marginal.covariance_matrix)).float()  # (1, 4)
    var = (1 - gain.double() @ c.T).float().flatten()
    model.upper_posterior = linear(torch.cat([gain, torch.zeros(1, 4)]), torch.cat([-gain @ marginal.mean.float(), var.log()]))
    if not exact:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in (*model.upper_posterior.parameters(), *model.lower_posterior.from_x.parameters()):
                p.add_(0.3 * torch.randn(p.shape, generator=g))
            model.lower_posterior.from_z.weight[:2].add_(0.3 * torch.randn(2, 1, generator=g))  # logvar1 stays free of z2
    return model.eval()


def image(n: int = 1) -> torch.Tensor:
    return X.view(1, 1, 2, 2).expand(n, 1, 2, 2)  # (n, 1, 2, 2) copies of the one image


# -- the bound against the exact log p(x) ------------------------------------------------------------
def test_with_the_exact_posterior_every_weight_is_log_px() -> None:
    """q = p(z | x): log w = log p(x) for every sample, so the ELBO and every IWAE bound equal the exact log p(x)."""
    model = linear_model()
    log_px = exact_marginal().log_prob(X.double().flatten()).item()
    with torch.no_grad():
        log_w = model.log_importance_weights(image(), 200, generator=torch.Generator().manual_seed(0))  # (1, 200)
        elbo = model(image(20_000), generator=torch.Generator().manual_seed(1)).elbo.item()
    assert log_w.shape == (1, 200)
    assert torch.allclose(log_w, torch.full_like(log_w, log_px), atol=1e-4)
    assert elbo == pytest.approx(log_px, abs=0.03)  # one-sample reconstruction + closed-form KLs: unbiased, not constant


def test_the_elbo_equals_log_px_minus_the_kl_from_the_true_posterior() -> None:
    r"""For a perturbed q: ELBO = log p(x) - KL(q(z2, z1 | x) || p(z2, z1 | x)), both Gaussians in closed form.

    q's joint is read off the model's posterior at two values of z2 (its mean is linear in z2); the
    ELBO from the model (its weights' mean, and `forward`'s one-sample terms) is a Monte Carlo average.
    """
    model = linear_model(exact=False)
    with torch.no_grad():
        h, mu2, logvar2 = model.bottom_up(image())
        mu2, logvar2 = mu2[0].double(), logvar2[0].double()
        at = [[t.double() for t in model.lower_posterior_params(h, torch.tensor([[v]]))] for v in (0.0, 1.0)]  # (1, 2) each
        slope, offset, var1 = at[1][0][0] - at[0][0][0], at[0][0][0], at[0][1][0].exp()  # z1 | z2 ~ N(slope z2 + offset, var1)
        v2 = logvar2.exp()
        mean = torch.cat([mu2, slope * mu2 + offset])
        cov = torch.zeros(3, 3, dtype=torch.float64)
        cov[0, 0], cov[0, 1:], cov[1:, 0] = v2[0], slope * v2[0], slope * v2[0]
        cov[1:, 1:] = torch.outer(slope, slope) * v2[0] + torch.diag(var1)
        exact_elbo = (exact_marginal().log_prob(X.double().flatten()) - kl_divergence(MultivariateNormal(mean, cov),
                                                                                      exact_posterior(X))).item()
        log_w = model.log_importance_weights(image(), 200_000, generator=torch.Generator().manual_seed(0))[0]  # (k,)
        terms = model(image(200_000), generator=torch.Generator().manual_seed(1))
    gap = exact_marginal().log_prob(X.double().flatten()).item() - exact_elbo
    assert gap > 0.1  # the perturbation matters, so a missing term would show
    stderr = (log_w.std() / log_w.numel() ** 0.5).item()
    assert log_w.mean().item() == pytest.approx(exact_elbo, abs=4 * stderr + 1e-4)
    assert terms.elbo.item() == pytest.approx(exact_elbo, abs=max(4 * stderr, 0.01))
    assert terms.elbo.item() == pytest.approx(-(terms.reconstruction + terms.kl_z1 + terms.kl_z2).item(), abs=1e-3)


def test_iwae_is_above_the_elbo_and_rises_with_k_towards_log_px() -> None:
    model = linear_model(exact=False)
    log_px = exact_marginal().log_prob(X.double().flatten()).item()
    with torch.no_grad():
        elbo = model(image(100_000), generator=torch.Generator().manual_seed(5)).elbo.item()
        per_image = [iwae_bound(model.log_importance_weights(image(4_000), k, generator=torch.Generator().manual_seed(k)))
                     for k in (1, 4, 16, 64, 256)]  # (4000,) each: independent estimates of the k-sample bound
    bounds = [b.mean().item() for b in per_image]
    stderr = (per_image[0].std() / per_image[0].numel() ** 0.5).item()
    assert bounds[0] == pytest.approx(elbo, abs=4 * stderr)  # one sample: an estimate of the ELBO
    assert all(b > elbo for b in bounds[1:])
    assert all(later > earlier for earlier, later in itertools.pairwise(bounds))
    assert bounds[-1] <= log_px + 0.01 and log_px - bounds[-1] < 0.3 * (log_px - bounds[0])  # most of the gap is closed


def test_iwae_rises_with_k_on_a_randomly_initialised_bernoulli_model() -> None:
    torch.manual_seed(0)
    model = vae.build_model(ModelConfig(kind="hvae", latent_dim=3, lower_latent_dim=5, hidden=(32,), lower_hidden=(16,))).eval()
    x = torch.bernoulli(torch.full((50, 1, 28, 28), 0.2), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        elbo = model(x.repeat(20, 1, 1, 1), generator=torch.Generator().manual_seed(0)).elbo.item()
        bounds = [iwae_bound(model.log_importance_weights(x, k, generator=torch.Generator().manual_seed(1))).mean().item()
                  for k in (1, 5, 25, 125)]
    assert all(later > earlier for earlier, later in itertools.pairwise(bounds))
    assert bounds[0] == pytest.approx(elbo, abs=1.0) and bounds[1] > elbo


# -- DReG ---------------------------------------------------------------------------------------------
def _gradients(model: HierarchicalVAE, dreg: bool, k: int, n: int, seed: int) -> dict[str, torch.Tensor]:
    model.zero_grad()
    x = image(n)
    if dreg:
        loss, _ = model.iwae_dreg_loss(x, k, generator=torch.Generator().manual_seed(seed))
    else:
        loss = -iwae_bound(model.log_importance_weights(x, k, generator=torch.Generator().manual_seed(seed))).mean()
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def test_dreg_has_the_iwae_gradient_in_expectation_and_the_same_model_gradient_per_sample() -> None:
    """The model's gradient (decoder, p(z1 | z2)) is the same estimate either way (same noise); the posterior's
    agree on average over many samples (DReG's is far less noisy)."""
    model = linear_model(exact=False, seed=1)
    k, n = 4, 40_000
    dreg, iwae = _gradients(model, True, k, n, seed=0), _gradients(model, False, k, n, seed=0)
    for name in ("decoder.net.weight", "decoder.net.bias", "top_down.weight", "top_down.bias"):  # the model's
        assert torch.allclose(dreg[name], iwae[name], rtol=1e-4, atol=1e-5), name
    # the reparameterized IWAE gradient of the posterior is noisy: average it over more samples
    iwae_mean = {name: torch.stack([_gradients(model, False, k, n, seed=s)[name] for s in range(1, 5)]).mean(0)
                 for name in ("upper_posterior.weight", "lower_posterior.from_x.weight", "lower_posterior.from_z.weight")}
    for name, reference in iwae_mean.items():
        error = (dreg[name] - reference).norm() / reference.norm()
        assert error < 0.1, (name, error.item())


# -- shapes and the top layer --------------------------------------------------------------------------
@pytest.mark.parametrize("config", [
    ModelConfig(kind="hvae", latent_dim=3, lower_latent_dim=5, hidden=(32, 16), lower_hidden=(16,)),
    ModelConfig(kind="hvae", latent_dim=2, lower_latent_dim=4, hidden=(16,), lower_hidden=(8, 8), prior_components=3),
    ModelConfig(kind="hvae", arch="conv", latent_dim=2, lower_latent_dim=4, hidden=(16,), lower_hidden=(8,), channels=4),
], ids=["mlp", "mlp-mixture", "conv"])
def test_shapes_and_the_top_layer(config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = vae.build_model(config)
    b, k, d2, d1 = 3, 5, config.latent_dim, config.lower_latent_dim
    x = torch.bernoulli(torch.full((b, 1, 28, 28), 0.3))
    h, mu2, logvar2 = model.bottom_up(x)
    assert h.shape == (b, config.hidden[-1]) and mu2.shape == logvar2.shape == (b, d2)
    assert [t.shape for t in model.lower_posterior_params(h, torch.randn(k, b, d2))] == [(k, b, d1), (k, b, d1)]
    assert [t.shape for t in model.encode(x)] == [(b, d2), (b, d2)] and model.embed(x).shape == (b, d2)
    assert [t.shape for t in model.lower_prior(torch.randn(k, b, d2))] == [(k, b, d1), (k, b, d1)]
    assert model.decode(torch.randn(b, d2)).shape == (b, 1, 28, 28) and model.decode_lower(torch.randn(b, d1), torch.randn(b, d2)).shape == (b, 1, 28, 28)
    recon = model.reconstruct(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    assert model.prior.sample(4).shape == (4, d2) and model.sample_images(4).shape == (4, 1, 28, 28)
    assert model.log_importance_weights(x, k).shape == (b, k)
    terms = model(x)
    assert isinstance(terms, HierarchicalTerms) and all(t.shape == () and torch.isfinite(t) for t in terms)
    assert terms.kl_z1 >= 0 and terms.kl.item() == pytest.approx((terms.kl_z1 + terms.kl_z2).item(), rel=1e-5)
    loss, bound = model.iwae_dreg_loss(x, k)
    assert bound.shape == (b,) and loss.item() == pytest.approx(-bound.mean().item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_samples_and_sampling_are_repeatable_with_a_generator() -> None:
    model = vae.build_model(ModelConfig(kind="hvae", latent_dim=2, lower_latent_dim=3, hidden=(16,), lower_hidden=(8,))).eval()
    a, b = (model.sample_images(5, generator=torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b)
    x = torch.rand(2, 1, 28, 28).round()
    w1, w2 = (model.log_importance_weights(x, 4, generator=torch.Generator().manual_seed(4)) for _ in range(2))
    assert torch.equal(w1, w2)


def test_ancestral_samples_draw_the_lower_layer_given_the_top_one() -> None:
    """`sample_lower` decodes z1 = mu_p(z2) + temperature * sigma_p(z2) * eps; `sample_images` is it at z2 ~ p(z2), and
    `vae.sample_images` dispatches to it (a one-layer VAE's decodes prior codes, as before)."""
    model = vae.build_model(ModelConfig(kind="hvae", latent_dim=2, lower_latent_dim=3, hidden=(16,), lower_hidden=(8,))).eval()
    z2 = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    mu, logvar = model.lower_prior(z2)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
    expected = torch.sigmoid(model.decode_lower(mu + 0.5 * (0.5 * logvar).exp() * eps, z2))  # a Bernoulli decoder's mean
    assert torch.allclose(model.sample_lower(z2, 0.5, torch.Generator().manual_seed(1)), expected, atol=1e-6)
    assert torch.allclose(model.sample_lower(z2, 0.0), torch.sigmoid(model.decode(z2)), atol=1e-6)  # z1 at its mean
    one = model.sample_images(6, 0.7, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)
    assert torch.equal(one, model.sample_lower(model.prior.sample(6, 0.7, g), 0.7, g))
    assert torch.equal(vae.sample_images(model, 6, 0.7, torch.Generator().manual_seed(2)), one)
    flat = vae.build_model(ModelConfig(kind="vae", latent_dim=2, hidden=(16,))).eval()
    z = flat.prior.sample(6, 0.7, torch.Generator().manual_seed(2))
    assert torch.equal(vae.sample_images(flat, 6, 0.7, torch.Generator().manual_seed(2)), vae.decode_images(flat, z))


def test_rows_share_a_top_code_and_start_at_the_lower_layers_mean() -> None:
    model = vae.build_model(ModelConfig(kind="hvae", latent_dim=2, lower_latent_dim=3, hidden=(16,), lower_hidden=(8,),
                                        prior_components=3)).eval()
    grid = model.sample_rows(4, 5, torch.Generator().manual_seed(0))
    assert grid.shape == (4, 6, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    z2 = model.prior.sample(4, 1.0, g)
    assert torch.allclose(grid[:, 0], torch.sigmoid(model.decode(z2)), atol=1e-6)
    expected = model.sample_lower(z2.repeat_interleave(5, 0), 1.0, g).view(4, 5, 1, 28, 28)  # row r: 5 draws at z2[r]
    assert torch.equal(grid[:, 1:], expected)
    assert not torch.equal(grid[0, 1], grid[0, 2])  # the lower layer is drawn
    with pytest.raises(ValueError, match="draws must be at least 1"):
        model.sample_rows(2, 0)


def test_the_beta_weight_applies_to_both_kl_terms() -> None:
    model = linear_model(exact=False)
    t1, t0 = (model(image(10), beta=b, generator=torch.Generator().manual_seed(0)) for b in (1.0, 0.25))
    assert t0.loss.item() == pytest.approx((t0.reconstruction + 0.25 * (t0.kl_z1 + t0.kl_z2)).item(), rel=1e-5)
    assert t1.elbo.item() == pytest.approx(t0.elbo.item(), rel=1e-6)  # the bound itself is unweighted


# -- saving, training, refusals --------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path: Path) -> None:
    config = ModelConfig(kind="hvae", latent_dim=3, lower_latent_dim=5, hidden=(32,), lower_hidden=(16, 8), prior_components=4)
    torch.manual_seed(0)
    model = vae.build_model(config)
    vae.save_model(model, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["lower_hidden"] == [16, 8]
    loaded = vae.load(tmp_path / "m")
    assert isinstance(loaded, HierarchicalVAE) and loaded.config == config
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    x = torch.rand(3, 1, 28, 28).round()
    model.eval()
    assert torch.equal(model.log_importance_weights(x, 6, generator=torch.Generator().manual_seed(0)),
                       loaded.log_importance_weights(x, 6, generator=torch.Generator().manual_seed(0)))
    # the weights of another config are refused with the reason
    other = dataclasses.replace(config, lower_latent_dim=6)
    (tmp_path / "m" / "config.json").write_text(json.dumps(dataclasses.asdict(other)))
    with pytest.raises(vae.CheckpointError, match="do not match its config.json"):
        vae.load(tmp_path / "m")


@pytest.fixture(scope="module")
def splits(mnist_test) -> tuple[MNIST, MNIST]:
    images, labels = mnist_test.images, mnist_test.labels
    return MNIST(images[200:520], labels[200:520]), MNIST(images[:100], labels[:100])


HVAE_SMALL = ModelConfig(kind="hvae", latent_dim=3, lower_latent_dim=6, hidden=(32,), lower_hidden=(16,), prior_components=5)


def test_training_steps_and_resume_equal_uninterrupted_training(splits, tmp_path: Path) -> None:
    """Each objective trains it; a DReG run in bf16 stopped after one epoch and resumed ends where the straight run ends."""
    x = splits[0].images[:16].round()
    for config in (TrainConfig(warmup_epochs=1.0), TrainConfig(objective="iwae", iwae_k=4),
                   TrainConfig(objective="iwae", iwae_k=4, iwae_gradient="dreg")):
        terms = training_loss(vae.build_model(HVAE_SMALL), x, splits[0].labels[:16], config, beta=0.5)
        assert torch.isfinite(terms["loss"])
    settings = TrainConfig(epochs=2, batch_size=64, lr=3e-3, objective="iwae", iwae_k=4, iwae_gradient="dreg",
                           precision="bf16", val_size=64, lr_schedule="cosine")
    options = {"device": "cpu", "progress": False, "grids": False}
    straight = vae.train(HVAE_SMALL, settings, tmp_path / "straight", *splits, **options)
    stop = {"callback": lambda progress: progress.epoch_end, "callback_every": 1}  # stop once the first epoch is saved
    assert len(vae.train(HVAE_SMALL, settings, tmp_path / "resumed", *splits, **options, **stop)) == 1
    resumed = vae.train(HVAE_SMALL, settings, tmp_path / "resumed", *splits, resume=True, **options)
    assert [r["epoch"] for r in resumed] == [1, 2] and "val_loss" in resumed[-1]
    assert resumed[-1]["val_loss"] == straight[-1]["val_loss"] and resumed[-1]["test_loss"] == straight[-1]["test_loss"]
    a, b = vae.load(tmp_path / "straight"), vae.load(tmp_path / "resumed")
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


@pytest.mark.parametrize(("fields", "message"), [
    ({"lower_latent_dim": 0}, "lower_latent_dim must be a positive integer, not 0"),
    ({"lower_hidden": ()}, r"lower_hidden must be a non-empty list of positive integers, not \(\)"),
    ({"lower_hidden": (16, 0)}, "lower_hidden must be a non-empty list of positive integers"),
    ({"kind": "hierarchical"}, "kind must be one of 'vae', 'ae', 'cvae', 'hvae'"),
])
def test_bad_config_values_are_refused_with_the_reason(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**{"kind": "hvae", **fields})


def test_misuse_is_refused_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="built from a config of kind 'hvae', not 'vae'"):
        HierarchicalVAE(ModelConfig())
    model = vae.build_model(HVAE_SMALL)
    x = torch.rand(2, 1, 28, 28).round()
    with pytest.raises(ValueError, match="not one Gaussian"):
        model.log_importance_weights(x, 3, posterior=(torch.zeros(2, 3), torch.zeros(2, 3)))
    from vae.cli import main

    status = main(["train", "--out", str(tmp_path / "run"), "--kind", "hvae", "--lower-latent-dim", "0"])
    assert status == 2 and "lower_latent_dim must be a positive integer, not 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()

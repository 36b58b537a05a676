"""Building models and running them: shapes for every kind and body, loss terms, importance weights, dropout.

Shape key: B batch, D latent size, k importance samples.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae import VAE, Autoencoder, ModelConfig, build_model, num_parameters
from vae.config import ConfigError
from vae.objectives import iwae_bound

B, K = 3, 5

CONFIGS = [
    pytest.param(ModelConfig(kind="vae", arch="mlp", latent_dim=2, hidden=(32,)), id="vae-mlp-d2"),
    pytest.param(ModelConfig(kind="vae", arch="mlp", latent_dim=7, hidden=(32, 16)), id="vae-mlp-d7-two-layers"),
    pytest.param(ModelConfig(kind="vae", arch="conv", latent_dim=2, hidden=(32,), channels=4), id="vae-conv-mlpdecoder-d2"),
    pytest.param(ModelConfig(kind="vae", arch="conv", decoder="conv", latent_dim=5, hidden=(32,), channels=4),
                 id="vae-conv-convdecoder-d5"),
    pytest.param(ModelConfig(kind="cvae", arch="mlp", latent_dim=2, hidden=(32,)), id="cvae-mlp-d2"),
    pytest.param(ModelConfig(kind="cvae", arch="conv", decoder="conv", latent_dim=3, hidden=(16,), channels=4),
                 id="cvae-conv-d3"),
    pytest.param(ModelConfig(kind="ae", arch="mlp", latent_dim=2, hidden=(32,)), id="ae-mlp-d2"),
    pytest.param(ModelConfig(kind="ae", arch="conv", decoder="conv", latent_dim=4, hidden=(16,), channels=4), id="ae-conv-d4"),
    pytest.param(ModelConfig(kind="vae", arch="conv", decoder="conv", latent_dim=3, hidden=(16,), channels=4,
                             image_shape=(3, 16, 12)), id="vae-conv-rgb-16x12"),
    pytest.param(ModelConfig(kind="vae", arch="mlp", latent_dim=3, hidden=(16,), image_shape=(2, 5, 7)), id="vae-mlp-2x5x7"),
]


def _batch(config: ModelConfig, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(torch.full((B, *config.image_shape), 0.3), generator=g)  # (B, C, H, W)
    y = torch.randint(0, config.num_classes, (B,), generator=g) if config.is_conditional else None
    return x, y


@pytest.mark.parametrize("config", CONFIGS)
def test_shapes(config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_model(config)
    x, y = _batch(config)
    d = config.latent_dim
    mu, logvar = model.encode(x, y)
    assert mu.shape == (B, d) and logvar.shape == (B, d)
    assert model.embed(x, y).shape == (B, d)
    z = torch.randn(B, d)
    logits = model.decode(z, y)
    assert logits.shape == (B, *config.image_shape)
    recon = model.reconstruct(x, y)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1 and not recon.requires_grad
    terms = model(x, y)
    assert all(t.shape == () and torch.isfinite(t) for t in terms)
    terms.loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    if config.is_variational:
        log_w = model.log_importance_weights(x, K, y)
        assert log_w.shape == (B, K) and torch.isfinite(log_w).all()
        assert terms.kl > 0
    else:
        with pytest.raises(TypeError, match="autoencoder"):
            model.log_importance_weights(x, K, y)


def test_build_model_classes_and_parameter_count() -> None:
    assert type(build_model(ModelConfig(kind="vae"))) is VAE
    assert type(build_model(ModelConfig(kind="cvae"))) is VAE  # a VAE with a condition
    assert type(build_model(ModelConfig(kind="ae"))) is Autoencoder
    # the pytorch/examples VAE: 784-400-(20, 20) encoder, 20-400-784 decoder
    expected = (784 * 400 + 400) + (400 * 40 + 40) + (20 * 400 + 400) + (400 * 784 + 784)
    assert num_parameters(build_model(ModelConfig(arch="mlp", hidden=(400,), latent_dim=20))) == expected == 652_824


def test_conditional_vae_without_labels_is_a_clear_error() -> None:
    config = ModelConfig(kind="cvae", latent_dim=2, hidden=(16,))
    model = build_model(config)
    x, _ = _batch(config)
    for call in (lambda: model(x), lambda: model.encode(x), lambda: model.decode(torch.zeros(B, 2)),
                 lambda: model.log_importance_weights(x, 2), lambda: model.reconstruct(x)):
        with pytest.raises(ValueError, match="conditional VAE needs the digit labels"):
            call()


def test_conditional_vae_uses_the_label() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden=(16,)))
    z = torch.zeros(2, 2)
    logits = model.decode(z, torch.tensor([3, 7]))
    assert not torch.allclose(logits[0], logits[1])


def test_log_importance_weights_match_a_direct_computation() -> None:
    """log w = log p(x|z) + log p(z) - log q(z|x), recomputed one sample at a time with torch.distributions.

    Uses a conditional model so that the labels must line up with the right samples.
    """
    torch.manual_seed(0)
    config = ModelConfig(kind="cvae", latent_dim=3, hidden=(16,))
    model = build_model(config).double()
    x, y = _batch(config)
    x = x.double()
    torch.manual_seed(123)
    log_w = model.log_importance_weights(x, K, y)  # (B, k)
    torch.manual_seed(123)  # the same noise: reparameterize draws eps of shape (k, B, D)
    eps = torch.randn(K, B, config.latent_dim, dtype=torch.float64)
    with torch.no_grad():
        mu, logvar = model.encode(x, y)
        std = (0.5 * logvar).exp()
        for i in range(K):
            for b in range(B):
                z = mu[b] + std[b] * eps[i, b]  # (D,)
                logits = model.decode(z[None], y[b : b + 1])[0]
                expected = (
                    Bernoulli(logits=logits).log_prob(x[b]).sum()
                    + Normal(0.0, 1.0).log_prob(z).sum()
                    - Normal(mu[b], std[b]).log_prob(z).sum()
                )
                torch.testing.assert_close(log_w[b, i], expected)


def _grads(model: VAE, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("prior_components", [0, 3], ids=["normal-prior", "mixture-prior"])
def test_dreg_gradient_matches_its_formula_on_the_same_noise(prior_components: int) -> None:
    """With the noise fixed: the loss is minus the IWAE bound; decoder and prior get the IWAE gradient; the encoder
    gets sum_i w~_i^2 d log w_i / dz_i dz_i / dphi, computed here with a second graph and no hook."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=3, hidden=(16,), image_shape=(1, 4, 4), prior_components=prior_components)).double()
    x = torch.bernoulli(torch.full((B, 1, 4, 4), 0.4, dtype=torch.float64), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(7)
    loss, bound = model.iwae_dreg_loss(x, K)
    dreg = _grads(model, loss)
    torch.manual_seed(7)  # the same noise
    iwae = iwae_bound(model.log_importance_weights(x, K))  # (B,)
    torch.testing.assert_close(loss, -iwae.mean())
    torch.testing.assert_close(bound, iwae.detach())
    reparam = _grads(model, -iwae.mean())

    torch.manual_seed(7)  # the reference: log q with its parameters held fixed, squared weights as constants
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu.expand(K, *mu.shape), logvar.expand(K, *logvar.shape))  # (k, B, D)
    log_w = model._log_weights(x, z, None, mu.detach(), logvar.detach())  # (B, k)
    squared = torch.softmax(log_w, dim=1).detach() ** 2
    encoder = {name: p for name, p in model.named_parameters() if name.startswith("encoder.")}
    expected = dict(zip(encoder, torch.autograd.grad(-(squared * log_w).sum(1).mean(), list(encoder.values()))))

    names = [name for name, _ in model.named_parameters()]
    assert any(n.startswith("prior.") for n in names) == bool(prior_components)
    for name in names:
        if name in expected:
            torch.testing.assert_close(dreg[name], expected[name])
            assert not torch.allclose(dreg[name], reparam[name])  # a different estimator of the encoder's gradient
        else:
            torch.testing.assert_close(dreg[name], reparam[name])


def test_dreg_gradient_is_unbiased_with_less_variance() -> None:
    """Over many draws, DReG's mean encoder gradient equals the IWAE bound's (within 4 standard errors), and its
    spread is smaller: the reason to use it."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,), image_shape=(1, 3, 3))).double()
    x = torch.bernoulli(torch.full((2, 1, 3, 3), 0.5, dtype=torch.float64), generator=torch.Generator().manual_seed(2))
    x = x.repeat(100, 1, 1, 1)  # 100 independent replicas of each image per draw
    head = model.encoder.net[-1].weight  # the layer that outputs mu and logvar
    estimates: dict[str, list[torch.Tensor]] = {"reparam": [], "dreg": []}
    torch.manual_seed(3)
    for _ in range(60):
        model.zero_grad(set_to_none=True)
        (-iwae_bound(model.log_importance_weights(x, 8)).mean()).backward()
        estimates["reparam"].append(head.grad.flatten().clone())
        model.zero_grad(set_to_none=True)
        model.iwae_dreg_loss(x, 8)[0].backward()
        estimates["dreg"].append(head.grad.flatten().clone())
    reparam, dreg = torch.stack(estimates["reparam"]), torch.stack(estimates["dreg"])  # (draws, P)
    stderr = ((reparam.var(0) + dreg.var(0)) / reparam.shape[0]).sqrt()
    assert ((reparam.mean(0) - dreg.mean(0)).abs() <= 4 * stderr + 1e-12).all()
    assert dreg.var(0).sum() < 0.5 * reparam.var(0).sum()


def test_low_precision_runs_only_the_networks_in_bfloat16() -> None:
    """With `low_precision` set, log w moves from float32 only as much as the decoder's bfloat16 logits move
    log p(x | z): the prior and the densities, whose large terms cancel, stay in float32."""
    from vae.objectives import bernoulli_log_likelihood

    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=8, hidden=(256, 256), prior_components=20))
    with torch.no_grad():
        model.prior.means.mul_(20.0)  # large, cancelling terms in the mixture's matrix products
    x = torch.bernoulli(torch.full((B, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(1))
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu.expand(K, *mu.shape), logvar.expand(K, *logvar.shape)).detach()  # (k, B, D)
    full = model._log_weights(x, z, None, mu, logvar)  # (B, k)
    logits = model.decode(z.flatten(0, 1))
    model.low_precision = True
    low = model._log_weights(x, z, None, mu, logvar)
    low_logits = model.decode(z.flatten(0, 1))
    low_mu, _ = model.encode(x)
    assert low.dtype == low_logits.dtype == low_mu.dtype == torch.float32
    assert not torch.equal(low_logits, logits) and not torch.equal(low_mu, mu)  # the networks did run in bfloat16
    target = x.expand(K, *x.shape).flatten(0, 1)
    moved = (bernoulli_log_likelihood(target, low_logits) - bernoulli_log_likelihood(target, logits)).view(K, B).T
    torch.testing.assert_close(low - full, moved, atol=1e-3, rtol=0)
    assert (low - full).abs().mean() < 0.2  # and the decoder's share is small
    model.low_precision = False
    torch.testing.assert_close(model._log_weights(x, z, None, mu, logvar), full, atol=0, rtol=0)


def test_vae_forward_is_a_one_sample_elbo() -> None:
    """Averaged over many draws, -loss of forward approaches the mean importance log weight (both E_q log w)."""
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=2, hidden=(16,))
    model = build_model(config)
    x, _ = _batch(config)
    n = 4000
    with torch.no_grad():
        forward = model(x.repeat(n, 1, 1, 1)).elbo  # mean over n copies of the batch: n one-sample ELBOs each
        log_w = model.log_importance_weights(x, n)  # (B, n)
    stderr = log_w.std().item() / (B * n) ** 0.5  # of either average
    assert forward.item() == pytest.approx(log_w.mean().item(), abs=5 * 2**0.5 * stderr)
    with torch.no_grad():
        beta_half = model(x, beta=0.5)
    torch.testing.assert_close(beta_half.loss, beta_half.reconstruction + 0.5 * beta_half.kl)


def test_autoencoder_is_deterministic_with_no_kl() -> None:
    torch.manual_seed(0)
    config = ModelConfig(kind="ae", latent_dim=2, hidden=(16,))
    model = build_model(config)
    x, _ = _batch(config)
    mu, logvar = model.encode(x)
    assert torch.isneginf(logvar).all()
    t1, t2 = model(x), model(x)
    assert torch.equal(t1.loss, t2.loss) and t1.kl.item() == 0.0
    torch.testing.assert_close(t1.elbo, -t1.reconstruction)
    expected = -Bernoulli(logits=model.decode(mu)).log_prob(x).flatten(1).sum(1).mean()
    torch.testing.assert_close(t1.reconstruction, expected)


def test_target_argument_changes_what_is_reconstructed() -> None:
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=2, hidden=(16,))
    model = build_model(config)
    x, _ = _batch(config)
    torch.manual_seed(1)
    a = model(x, target=1 - x)
    torch.manual_seed(1)
    b = model(x)
    assert torch.equal(a.kl, b.kl) and not torch.equal(a.reconstruction, b.reconstruction)


def test_decoder_dropout_acts_only_while_training() -> None:
    """Dropout on the decoder's hidden units: same parameters, stochastic in train(), identical in eval()."""
    config = ModelConfig(latent_dim=3, hidden=(64, 32))
    torch.manual_seed(0)
    plain, dropped = build_model(config), build_model(config, decoder_dropout=0.5)
    assert dropped.load_state_dict(plain.state_dict()) is not None  # strict: the same parameter names
    z = torch.randn(4, 3)
    dropped.eval()
    assert torch.equal(dropped.decode(z), plain.decode(z))
    dropped.train()
    seen = []  # (input, output) of the decoder's last activation slot: ReLU, then dropout
    dropped.decoder.net[3].register_forward_hook(lambda module, args, out: seen.append((args[0], out)))
    first, second = dropped.decode(z), dropped.decode(z)
    assert not torch.equal(first, second) and not torch.equal(first, plain.decode(z))
    pre, out = seen[0]
    active = pre > 0  # units the ReLU lets through
    zeroed = (out == 0) & active
    assert 0.3 < zeroed.sum() / active.sum() < 0.7  # about half of the live units dropped
    assert torch.allclose(out[active & ~zeroed], 2 * pre[active & ~zeroed])  # survivors scaled by 1 / (1 - p)
    assert not any(isinstance(m, torch.nn.Dropout) for m in dropped.encoder.modules())  # the encoder is untouched


def test_decoder_dropout_needs_an_mlp_decoder() -> None:
    with pytest.raises(ConfigError, match="MLP decoder"):
        build_model(ModelConfig(arch="conv", decoder="conv", latent_dim=2, hidden=(16,), channels=4), decoder_dropout=0.1)


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "gan"}, {"arch": "rnn"}, {"latent_dim": 0}, {"hidden": ()}, {"hidden": (0,)}, {"channels": 0},
     {"arch": "conv", "image_shape": (1, 30, 30)}, {"kind": "cvae", "num_classes": 1}, {"image_shape": (28, 28)},
     {"image_shape": (1, 0, 28)}],
)
def test_invalid_model_configs_are_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ModelConfig(**kwargs)


# -- the decoder likelihood: Bernoulli, Gaussian with a fixed or a learned variance -----------------------
GAUSSIANS = [pytest.param("gaussian", id="fixed-sigma"), pytest.param("gaussian_learned", id="learned-sigma")]


def _gray(config: ModelConfig, seed: int = 0) -> torch.Tensor:
    return torch.rand(B, *config.image_shape, generator=torch.Generator().manual_seed(seed))  # (B, C, H, W) gray levels


@pytest.mark.parametrize("likelihood", GAUSSIANS)
def test_gaussian_log_importance_weights_match_torch_distributions(likelihood: str) -> None:
    """log w = log N(x; decoder mean, sigma^2) + log p(z) - log q(z|x), one sample at a time with torch.distributions."""
    torch.manual_seed(0)
    config = ModelConfig(kind="cvae", latent_dim=3, hidden=(16,), likelihood=likelihood, decoder_std=0.3)
    model = build_model(config).double()
    if likelihood == "gaussian_learned":
        with torch.no_grad():
            model.likelihood.logvar.fill_(-1.7)  # away from its start, so the test sees the parameter, not the config
    sigma = 0.3 if likelihood == "gaussian" else math.exp(-1.7 / 2)
    x, y = _gray(config).double(), torch.tensor([3, 1, 4])
    torch.manual_seed(123)
    log_w = model.log_importance_weights(x, K, y)  # (B, k)
    torch.manual_seed(123)
    eps = torch.randn(K, B, config.latent_dim, dtype=torch.float64)
    with torch.no_grad():
        mu, logvar = model.encode(x, y)
        std = (0.5 * logvar).exp()
        for i in range(K):
            for b in range(B):
                z = mu[b] + std[b] * eps[i, b]  # (D,)
                mean = model.decode(z[None], y[b : b + 1])[0]  # the decoder's output is the mean itself
                expected = (
                    Normal(mean, sigma).log_prob(x[b]).sum()
                    + Normal(0.0, 1.0).log_prob(z).sum()
                    - Normal(mu[b], std[b]).log_prob(z).sum()
                )
                torch.testing.assert_close(log_w[b, i], expected)


def test_fixed_sigma_elbo_is_minus_the_squared_error_over_two_sigma_squared_minus_the_kl() -> None:
    r"""ELBO = -||x - x_hat||^2 / (2 sigma^2) - KL - N/2 log(2 pi sigma^2), on the same sample z; so beta = 2 sigma^2 on the MSE."""
    sigma = 0.25
    config = ModelConfig(latent_dim=4, hidden=(32,), likelihood="gaussian", decoder_std=sigma)
    torch.manual_seed(0)
    model = build_model(config).double()
    x = _gray(config).double()
    n = config.num_pixels
    torch.manual_seed(5)
    per = model(x, beta=0.3)
    torch.manual_seed(5)  # the same noise
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, dtype=torch.float64)
        sse = (x - model.decode(z)).pow(2).flatten(1).sum(1)  # (B,) squared error of the decoder mean
        kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)  # (B,)
    const = -n / 2 * math.log(2 * math.pi * sigma**2)
    torch.testing.assert_close(per.elbo, (-sse / (2 * sigma**2) - kl + const).mean())
    torch.testing.assert_close(per.reconstruction, (sse / (2 * sigma**2) - const).mean())
    torch.testing.assert_close(per.loss, per.reconstruction + 0.3 * per.kl)
    # times 2 sigma^2, the loss is the squared error plus a KL weight 2 sigma^2, up to a constant
    torch.testing.assert_close(2 * sigma**2 * (per.reconstruction + per.kl), (sse + 2 * sigma**2 * kl).mean() - 2 * sigma**2 * const)
    assert not list(model.likelihood.parameters()) and "likelihood.logvar" not in model.state_dict()  # sigma is fixed


def test_learned_variance_gets_its_maximum_likelihood_gradient() -> None:
    r"""d(-log p)/d log sigma^2 = sum_i (1 - (x_i - mu_i)^2 / sigma^2) / 2, averaged over the batch; and it is saved with the weights."""
    config = ModelConfig(kind="ae", latent_dim=3, hidden=(16,), likelihood="gaussian_learned", decoder_std=0.5)
    torch.manual_seed(0)
    model = build_model(config).double()
    assert model.likelihood.logvar.requires_grad and model.likelihood.std == pytest.approx(0.5)
    assert "likelihood.logvar" in model.state_dict() and "likelihood.logvar" in dict(model.named_parameters())
    x = _gray(config).double()
    loss = model(x).loss  # an autoencoder: no noise, so the residuals below are the ones in the loss
    loss.backward()
    with torch.no_grad():
        residual2 = (x - model.decode(model.embed(x))).pow(2).flatten(1).sum(1)  # (B,)
        expected = (0.5 * (config.num_pixels - residual2 / 0.25)).mean()
    torch.testing.assert_close(model.likelihood.logvar.grad, expected)
    assert model.likelihood.logvar.grad.abs() > 1  # a real signal


def test_the_decoder_mean_and_draws_of_each_likelihood() -> None:
    """Bernoulli: sigmoid of the logits and binary draws; Gaussian: the output itself (clamped to [0, 1]) and mean + sigma * eps."""
    z = torch.randn(B, 3, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    bernoulli = build_model(ModelConfig(latent_dim=3, hidden=(16,)))
    logits = bernoulli.decode(z)
    torch.testing.assert_close(bernoulli.decoder_mean(z), torch.sigmoid(logits))
    draw = bernoulli.decoder_sample(z, generator=torch.Generator().manual_seed(1))
    assert set(draw.unique().tolist()) <= {0.0, 1.0}
    torch.manual_seed(0)
    gaussian = build_model(ModelConfig(latent_dim=3, hidden=(16,), likelihood="gaussian", decoder_std=0.2))
    with torch.no_grad():
        gaussian.decoder.net[-1].bias.copy_(torch.linspace(-0.5, 1.5, 784))  # means below 0 and above 1
    mean = gaussian.decode(z)
    assert mean.min() < 0 and mean.max() > 1
    torch.testing.assert_close(gaussian.decoder_mean(z), mean.clamp(0, 1))  # the mean, not sigmoid(mean)
    from vae import decode_images

    torch.testing.assert_close(decode_images(gaussian, z), mean.detach().clamp(0, 1))  # what `vae sample` and the demo show
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(gaussian.decoder_sample(z, generator=torch.Generator().manual_seed(1)), (mean + 0.2 * eps).clamp(0, 1))
    x = torch.rand(B, 1, 28, 28)
    recon = gaussian.reconstruct(x)
    torch.testing.assert_close(recon, gaussian.decode(gaussian.embed(x)).clamp(0, 1))
    assert 0 <= recon.min() and recon.max() <= 1


@pytest.mark.parametrize("likelihood", GAUSSIANS)
def test_gaussian_dreg_gradient_reaches_every_parameter(likelihood: str) -> None:
    """The DReG loss goes through the Gaussian likelihood too: its value is minus the bound, a learned sigma gets a gradient."""
    config = ModelConfig(latent_dim=3, hidden=(16,), likelihood=likelihood)
    torch.manual_seed(0)
    model = build_model(config)
    x = _gray(config)
    torch.manual_seed(1)
    loss, bound = model.iwae_dreg_loss(x, K)
    torch.manual_seed(1)
    torch.testing.assert_close(bound, iwae_bound(model.log_importance_weights(x, K)).detach())
    torch.testing.assert_close(loss, -bound.mean())
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert (likelihood == "gaussian_learned") == any(name == "likelihood.logvar" for name, _ in model.named_parameters())


# -- one model family: a VAE with an optional condition, an autoencoder without the variational parts ------
def test_an_autoencoder_has_no_variational_parts() -> None:
    """Each method is meaningful or absent: an autoencoder's code is a point, so it has no prior, no posterior samples and
    no bound; asking for one is an AttributeError (hasattr is False) and a TypeError that says why."""
    import vae

    ae = build_model(ModelConfig(kind="ae", latent_dim=2, hidden=(16,)))
    model = build_model(ModelConfig(latent_dim=2, hidden=(16,)))
    for name in ("prior", "reparameterize", "log_importance_weights", "iwae_dreg_loss"):
        assert hasattr(model, name) and not hasattr(ae, name), name
        with pytest.raises(vae.NotVariationalError, match=f"an autoencoder has no {name}: its code is a point"):
            getattr(ae, name)
    assert isinstance(ae, vae.EncoderDecoder) and not isinstance(ae, VAE) and isinstance(model, vae.EncoderDecoder)
    assert not any(key.startswith("prior.") for key in ae.state_dict())
    shipped = vae.load("ae2d")  # the shipped weights load unchanged
    assert type(shipped) is Autoencoder and not hasattr(shipped, "prior")


def test_a_conditional_vae_is_a_vae_with_a_condition() -> None:
    cvae = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden=(16,)))
    assert type(cvae) is VAE and cvae.config.is_conditional
    assert cvae.encoder.net[0].in_features == 784 + 10 and cvae.decoder.net[0].in_features == 2 + 10


def test_precision_runs_the_networks_in_bfloat16_inside_its_block_only() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=4, hidden=(64,)))
    z = torch.randn(3, 4)
    full = model.decode(z)
    with model.precision("bf16"):
        assert model.low_precision
        low = model.decode(z)
        with model.precision("fp32"):
            torch.testing.assert_close(model.decode(z), full, atol=0, rtol=0)
        assert model.low_precision
    assert low.dtype == torch.float32 and not torch.equal(low, full) and not model.low_precision
    with pytest.raises(RuntimeError, match="inside"), model.precision("bf16"):
        raise RuntimeError("inside")
    assert not model.low_precision  # restored on the way out, whatever happened inside


def test_a_generator_draws_the_posterior_samples_on_its_own_device() -> None:
    """A CPU generator draws the noise on the CPU and moves it, so a seed gives the same samples on every device."""
    mu = torch.zeros(2, 5, device="meta")
    z = VAE.reparameterize(mu, mu, torch.Generator().manual_seed(0))
    assert z.device.type == "meta" and z.shape == (2, 5)
    cpu = VAE.reparameterize(torch.zeros(2, 5), torch.zeros(2, 5), torch.Generator().manual_seed(0))
    torch.testing.assert_close(cpu, torch.randn(2, 5, generator=torch.Generator().manual_seed(0)))

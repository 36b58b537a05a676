"""Building models and running them: shapes for every kind and body, loss terms, importance weights, dropout.

Shape key: B batch, D latent size, k importance samples.
"""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from vae import VAE, Autoencoder, ConditionalVAE, ModelConfig, build_model, num_parameters
from vae.config import ConfigError

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
    assert type(build_model(ModelConfig(kind="cvae"))) is ConditionalVAE
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

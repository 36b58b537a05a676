"""What training minimises and how: the KL warm-up and learning-rate schedules, the batch loss, the optimizer.

Pure values and one forward pass of a tiny MLP: no data, no training run (the schedules applied
during training are checked in `tests/test_train.py`).
"""

from __future__ import annotations

import math

import pytest
import torch

import vae
from vae import ConfigError, ModelConfig, TrainConfig
from vae.optimization import build_optimizer, kl_weight, learning_rate, set_learning_rate, training_loss

SMALL_MODEL = ModelConfig(latent_dim=4, hidden=(32,))


# -- schedules -------------------------------------------------------------------------------------
def test_kl_warmup_values() -> None:
    config = TrainConfig(beta=2.0, warmup_epochs=2.0)
    spe = 10
    assert kl_weight(config, 0, spe) == 0.0
    assert kl_weight(config, 5, spe) == pytest.approx(0.5)  # a quarter of the way: beta / 4
    assert kl_weight(config, 10, spe) == pytest.approx(1.0)
    assert kl_weight(config, 20, spe) == 2.0 and kl_weight(config, 1000, spe) == 2.0
    assert kl_weight(TrainConfig(beta=0.7), 0, spe) == 0.7  # no warm-up: beta from the first step
    assert kl_weight(TrainConfig(warmup_epochs=0.5), 3, 12) == pytest.approx(0.5)  # fractional epochs


def test_cosine_and_constant_learning_rate_values() -> None:
    config = TrainConfig(lr=1e-3, lr_schedule="cosine", min_lr_ratio=0.1)
    total = 100
    assert learning_rate(config, 0, total) == pytest.approx(1e-3)
    assert learning_rate(config, 50, total) == pytest.approx(0.55e-3)  # halfway: the mean of peak and floor
    assert learning_rate(config, 25, total) == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + math.cos(math.pi / 4)))
    assert learning_rate(config, 100, total) == pytest.approx(1e-4) and learning_rate(config, 150, total) == pytest.approx(1e-4)
    lrs = [learning_rate(config, s, total) for s in range(total + 1)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert learning_rate(TrainConfig(lr=3e-4), 77, total) == 3e-4
    assert learning_rate(TrainConfig(lr=1e-3, lr_schedule="cosine"), 100, 100) == pytest.approx(0.0, abs=1e-12)


def test_learning_rate_warmup_values() -> None:
    """A linear rise over the first lr_warmup_steps steps, multiplying the schedule, which still spans the run."""
    cosine = TrainConfig(lr=1e-3, lr_schedule="cosine", min_lr_ratio=0.1)
    warm = TrainConfig(lr=1e-3, lr_schedule="cosine", min_lr_ratio=0.1, lr_warmup_steps=10)
    total = 100
    assert learning_rate(warm, 0, total) == pytest.approx(0.1 * learning_rate(cosine, 0, total))
    assert learning_rate(warm, 4, total) == pytest.approx(0.5 * learning_rate(cosine, 4, total))
    for step in (9, 10, 50, 100):
        assert learning_rate(warm, step, total) == learning_rate(cosine, step, total)
    assert learning_rate(TrainConfig(lr=3e-4, lr_warmup_steps=4), 1, total) == pytest.approx(1.5e-4)  # constant
    lrs = [learning_rate(warm, s, total) for s in range(10)]
    assert lrs == sorted(set(lrs))  # rising at every step
    with pytest.raises(ConfigError, match="lr_warmup_steps"):
        TrainConfig(lr_warmup_steps=-1)


# -- the loss of a batch ---------------------------------------------------------------------------
def test_the_weighted_loss_is_its_formula_on_the_same_noise() -> None:
    torch.manual_seed(0)
    model = vae.build_model(SMALL_MODEL)
    x = torch.rand(8, 1, 28, 28).bernoulli()
    y = torch.zeros(8, dtype=torch.long)
    torch.manual_seed(1)
    weighted = training_loss(model, x, y, TrainConfig(reconstruction_weight=0.25, beta=2.0), beta=2.0)
    torch.manual_seed(1)
    plain = training_loss(model, x, y, TrainConfig(beta=2.0), beta=2.0)
    torch.testing.assert_close(plain["loss"], plain["reconstruction"] + 2.0 * plain["kl"])
    torch.testing.assert_close(weighted["loss"], 0.25 * plain["reconstruction"] + 2.0 * plain["kl"])


# -- the optimizer ---------------------------------------------------------------------------------
def test_a_learned_prior_gets_its_own_learning_rate() -> None:
    """The networks step at the scheduled lr, a learned prior at lr * prior_lr / lr; Adam's beta2 is the config's."""
    model = vae.build_model(ModelConfig(latent_dim=4, hidden=(32,), prior_components=3))
    optimizer = build_optimizer(model, TrainConfig(lr=1e-3, prior_lr=1e-2, adam_beta2=0.95))
    networks, prior = optimizer.param_groups
    assert {id(p) for p in prior["params"]} == {id(p) for name, p in model.named_parameters() if name.startswith("prior.")}
    assert len(networks["params"]) + len(prior["params"]) == len(list(model.parameters()))
    assert optimizer.defaults["betas"] == (0.9, 0.95)
    set_learning_rate(optimizer, 5e-4)  # a scheduled value
    assert networks["lr"] == 5e-4 and prior["lr"] == pytest.approx(5e-3)
    (plain,) = build_optimizer(vae.build_model(SMALL_MODEL), TrainConfig(lr=1e-3)).param_groups  # no prior to learn
    assert plain["lr"] == 1e-3 and plain["lr_scale"] == 1.0

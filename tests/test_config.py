"""Configs: frozen, validated, and a lossless JSON round trip (the config.json beside the weights)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from vae import ConfigError, ModelConfig, TrainConfig
from vae.config import from_dict, load_model_config, save_json, to_dict


@pytest.mark.parametrize(
    "config",
    [ModelConfig(), ModelConfig(kind="cvae", arch="conv", decoder="conv", latent_dim=2, hidden=(512, 256), channels=8),
     TrainConfig(), TrainConfig(epochs=3, lr_schedule="cosine", min_lr_ratio=0.05, warmup_epochs=1.5, objective="iwae",
                                iwae_k=8, binarize="none", train_size=100, grad_clip=5.0)],
)
def test_json_round_trip(tmp_path: Path, config) -> None:
    path = tmp_path / "config.json"
    save_json(path, to_dict(config))
    assert not (tmp_path / "config.json.tmp").exists()
    restored = from_dict(type(config), json.loads(path.read_text()))
    assert restored == config and hash(restored) == hash(config)
    if isinstance(config, ModelConfig):
        assert load_model_config(path) == config
        save_json(path, {"model": to_dict(config)})  # the nested form is accepted too
        assert load_model_config(path) == config


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().latent_dim = 3  # type: ignore[misc]
    assert ModelConfig().num_pixels == 784
    assert ModelConfig(kind="cvae").is_conditional and not ModelConfig(kind="ae").is_variational


@pytest.mark.parametrize(
    "kwargs",
    [{"epochs": 0}, {"batch_size": 0}, {"lr": 0.0}, {"lr": float("nan")}, {"lr_schedule": "step"}, {"beta": -1.0},
     {"warmup_epochs": -1.0}, {"objective": "vi"}, {"iwae_k": 0}, {"binarize": "static"}, {"train_size": 0}],
)
def test_invalid_train_configs_are_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(**kwargs)


def test_unknown_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown TrainConfig keys \['epoch'\]; known keys are"):
        from_dict(TrainConfig, {"epoch": 3})

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
                                iwae_k=8, binarize="none", train_size=100, grad_clip=5.0),
     TrainConfig(objective="iwae", iwae_k=64, iwae_gradient="dreg", prior_lr=1e-3, precision="bf16")],
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
     {"warmup_epochs": -1.0}, {"objective": "vi"}, {"iwae_k": 0}, {"binarize": "static"}, {"train_size": 0},
     {"epochs": 2.5}, {"epochs": True}, {"batch_size": "128"}, {"iwae_k": 8.0}, {"seed": -1}, {"seed": None},
     {"lr": "1e-3"}, {"beta": float("inf")}, {"min_lr_ratio": 1.5}, {"min_lr_ratio": None}, {"grad_clip": 0.0},
     {"grad_clip": "5"}, {"train_size": 10.5}, {"eval_batch_size": 0}, {"decoder_dropout": 1.0},
     {"decoder_dropout": -0.1}, {"decoder_dropout": float("nan")}, {"iwae_gradient": "score"},
     {"iwae_gradient": "dreg"}, {"iwae_gradient": "dreg", "objective": "elbo"}, {"precision": "fp16"},
     {"precision": None}],
)
def test_invalid_train_configs_are_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(**kwargs)


def test_unknown_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown TrainConfig keys \['epoch'\]; known keys are"):
        from_dict(TrainConfig, {"epoch": 3})


@pytest.mark.parametrize(
    "data",
    [{"latent_dim": 2.0}, {"latent_dim": True}, {"hidden": 512}, {"hidden": [512, "a"]}, {"hidden": []}, {"channels": "32"},
     {"channels": 0}, {"num_classes": 2.5}, {"image_shape": [1, 28]}, {"image_shape": "1x28x28"}, {"kind": ["vae"]},
     {"arch": None}],
)
def test_malformed_model_configs_are_refused_clearly(data: dict) -> None:
    """Whatever shape a hand-edited or corrupted config.json has, the error is a ConfigError naming the field."""
    with pytest.raises(ConfigError) as caught:
        from_dict(ModelConfig, data)
    assert next(iter(data)) in str(caught.value)


@pytest.mark.parametrize("content", ["[1, 2, 3]", '{"model": [1, 2]}', '{"model": "vae"}', '"vae"', "null"])
def test_config_files_that_are_not_objects(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="JSON object"):
        load_model_config(path)


# -- the decoder likelihood and the validation split ------------------------------------------------
def test_config_files_without_a_likelihood_load_as_bernoulli(tmp_path: Path) -> None:
    """Every config.json written before the field existed (all the shipped ones) is a Bernoulli decoder, as before."""
    from vae.checkpoint import PRETRAINED_DIR

    old = {"kind": "vae", "arch": "mlp", "latent_dim": 2, "hidden": [16], "channels": 32, "decoder": "mlp",
           "image_shape": [1, 28, 28], "num_classes": 10}
    path = tmp_path / "config.json"
    save_json(path, old)
    config = load_model_config(path)
    assert config.likelihood == "bernoulli" and not config.is_gaussian
    shipped = sorted(PRETRAINED_DIR.glob("*/config.json"))
    assert shipped
    for file in shipped:
        assert load_model_config(file).likelihood == "bernoulli"
    gaussian = ModelConfig(likelihood="gaussian_learned", decoder_std=0.3)
    save_json(path, to_dict(gaussian))
    assert load_model_config(path) == gaussian and gaussian.is_gaussian


def test_train_configs_without_a_validation_split_load_unchanged() -> None:
    assert TrainConfig().val_size == 0
    assert from_dict(TrainConfig, {"epochs": 3}).val_size == 0  # a state.json from before the field
    assert TrainConfig(val_size=10_000, train_size=50_000).val_size == 10_000


@pytest.mark.parametrize(
    "kwargs, message",
    [({"likelihood": "laplace"}, "likelihood must be one of 'bernoulli', 'gaussian', 'gaussian_learned'"),
     ({"likelihood": "gaussian", "decoder_std": 0.0}, "decoder_std must be positive"),
     ({"likelihood": "gaussian", "decoder_std": -0.1}, "decoder_std must be positive"),
     ({"decoder_std": float("nan")}, "decoder_std must be a finite number"),
     ({"decoder_std": "0.1"}, "decoder_std must be a finite number")],
)
def test_invalid_likelihoods_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("value", [-1, 2.5, "10", None, True])
def test_invalid_validation_sizes_are_refused(value) -> None:
    with pytest.raises(ConfigError, match="val_size must be an integer >= 0"):
        TrainConfig(val_size=value)


# -- validation driven by the fields ------------------------------------------------------------------
@pytest.mark.parametrize("cls", [ModelConfig, TrainConfig])
def test_every_field_is_checked_from_its_type(cls) -> None:
    """No field escapes validation: a value of the wrong type is refused for every field, naming it, and each
    `Literal` field accepts exactly the values its type lists (read with typing.get_args: one place per value)."""
    from vae.config import choices

    for field in dataclasses.fields(cls):
        with pytest.raises(ConfigError, match=f"^{field.name} must "):
            cls(**{field.name: object()})
        try:
            allowed = choices(cls, field.name)
        except TypeError:
            continue
        for value in allowed:
            kwargs = {field.name: value}
            if (cls, field.name, value) == (TrainConfig, "iwae_gradient", "dreg"):
                kwargs["objective"] = "iwae"
            assert getattr(cls(**kwargs), field.name) == value
        with pytest.raises(ConfigError, match=f"{field.name} must be one of {', '.join(map(repr, allowed))}"):
            cls(**{field.name: "no-such-value"})


def test_json_lines_round_trip(tmp_path: Path) -> None:
    from vae.config import read_jsonl, write_jsonl

    path = tmp_path / "history.jsonl"
    assert read_jsonl(path) == []
    write_jsonl(path, [{"epoch": 1, "loss": 1.5}])
    write_jsonl(path, [{"epoch": 2, "loss": 1.25}], append=True)
    assert read_jsonl(path) == [{"epoch": 1, "loss": 1.5}, {"epoch": 2, "loss": 1.25}]
    assert path.read_text() == '{"epoch": 1, "loss": 1.5}\n{"epoch": 2, "loss": 1.25}\n'
    write_jsonl(path, [{"epoch": 1}])
    assert read_jsonl(path) == [{"epoch": 1}]


def test_a_gaussian_decoder_on_bits_and_an_autoencoder_without_its_term_are_refused() -> None:
    from vae.config import check_run

    check_run(ModelConfig(), TrainConfig())
    with pytest.raises(ConfigError, match="train it with binarize 'none'"):
        check_run(ModelConfig(likelihood="gaussian"), TrainConfig())
    with pytest.raises(ConfigError, match="leaves nothing to train"):
        check_run(ModelConfig(kind="ae"), TrainConfig(reconstruction_weight=0.0))
    check_run(ModelConfig(), TrainConfig(reconstruction_weight=0.0))  # a VAE: the KL term alone


def test_an_iwae_step_too_large_for_memory_is_refused_with_the_batch_that_fits() -> None:
    from vae.config import MAX_IWAE_PIXELS, check_run

    check_run(ModelConfig(), TrainConfig(objective="iwae", iwae_k=256, batch_size=128))  # the shipped default's largest stage
    check_run(ModelConfig(), TrainConfig(objective="iwae", iwae_k=512, batch_size=128))  # 65,536 images: the limit itself
    assert MAX_IWAE_PIXELS == 65_536 * 784
    with pytest.raises(ConfigError, match=r"--iwae-k 1000 with --batch-size 128 decodes 128,000 images per step.* "
                                          r"Lower --batch-size to 65 or less"):
        check_run(ModelConfig(), TrainConfig(objective="iwae", iwae_k=1000, batch_size=128))
    with pytest.raises(ConfigError, match=r"more than the 16,384 images of 56 x 56 pixels allowed. Lower --batch-size to 16"):
        check_run(ModelConfig(image_shape=(1, 56, 56)), TrainConfig(objective="iwae", iwae_k=1000, batch_size=128))
    with pytest.raises(ConfigError, match="Lower --iwae-k to 65,536 or less"):
        check_run(ModelConfig(), TrainConfig(objective="iwae", iwae_k=100_000, batch_size=1))
    check_run(ModelConfig(), TrainConfig(iwae_k=100_000, batch_size=128))  # the ELBO draws one sample whatever iwae_k says


def test_a_damaged_json_lines_file_names_the_file_and_the_line(tmp_path: Path) -> None:
    from vae.config import read_jsonl

    path = tmp_path / "history.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2, "loss')
    with pytest.raises(ConfigError, match=r"history.jsonl, line 2, is not valid JSON .*truncated or corrupted"):
        read_jsonl(path)
    path.write_text('{"epoch": 1}\n[2]\n')
    with pytest.raises(ConfigError, match="history.jsonl, line 2, must hold a JSON object"):
        read_jsonl(path)

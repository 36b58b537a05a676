"""Frozen dataclass configs for models and training, stored as JSON beside the weights.

A [`ModelConfig`][vae.ModelConfig] fully describes the network that a weights file belongs to, so
`config.json` + `model.safetensors` is all that [`vae.load`][vae.load] needs. A
[`TrainConfig`][vae.TrainConfig] describes one training run; it is recorded in every checkpoint so a
run can be resumed or repeated exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

ModelKind = Literal["vae", "ae", "cvae"]
Architecture = Literal["mlp", "conv"]
Likelihood = Literal["bernoulli", "gaussian", "gaussian_learned"]
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned")

T = TypeVar("T", "ModelConfig", "TrainConfig")


class ConfigError(ValueError):
    """A config file or value that cannot describe a valid model or run."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_ints(config: Any, names: tuple[str, ...], minimum: int) -> None:
    for name in names:
        value = getattr(config, name)
        if not _is_int(value) or value < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}, not {value!r}")


def _check_numbers(config: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if not _is_number(value) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, not {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    r"""Everything needed to rebuild a model.

    Attributes:
        kind: `"vae"` (variational autoencoder), `"ae"` (plain deterministic autoencoder with the same
            networks) or `"cvae"` (conditional VAE: the one-hot label is fed to encoder and decoder).
        arch: `"mlp"` (fully connected) or `"conv"` (convolutional encoder, fully connected or
            convolutional decoder, see `decoder`).
        latent_dim: size D of the latent code z; any D >= 1 (2 gives a plottable latent space).
        hidden: widths of the fully connected hidden layers (MLP encoder and decoder; the decoder
            uses them in reverse order). For `arch="conv"` only the last width is used, as the size
            of the layer between the convolutions and the code.
        channels: base channel count of the convolutional layers (`arch="conv"`).
        decoder: `"mlp"` or `"conv"`; which body the decoder uses when `arch="conv"`. An MLP decoder
            is much cheaper to evaluate thousands of times per image (importance sampling).
        image_shape: (C, H, W) of the data; MNIST is (1, 28, 28).
        num_classes: number of labels for a conditional VAE (ignored otherwise).
        prior_components: the prior p(z): 0 for the fixed standard normal N(0, I), K >= 1 for a
            learned mixture of K diagonal Gaussians (see [`MixturePrior`][vae.priors.MixturePrior]).
        likelihood: the decoder's distribution p(x | z), part of the model's density:
            `"bernoulli"` (the decoder outputs logits; for binary pixels, the default and the choice
            of every config written before this field existed), `"gaussian"` (the decoder outputs
            means; a fixed standard deviation `decoder_std` on every pixel: the MSE objective) or
            `"gaussian_learned"` (the same, with one learned log-variance shared by all pixels,
            starting at `decoder_std`). See [`GaussianLikelihood`][vae.nets.GaussianLikelihood] and
            [likelihoods](../theory/likelihoods.md). A Gaussian decoder is a density on gray levels:
            it trains and is evaluated on them, and its numbers are not comparable with a Bernoulli
            model's on binarized digits.
        decoder_std: the standard deviation sigma of a Gaussian decoder (its initial value for
            `"gaussian_learned"`); unused by a Bernoulli decoder. With a fixed sigma the objective is
            $-\lVert x - \hat x \rVert^2 / (2\sigma^2) - \mathrm{KL}$ + const, a KL weight of $2\sigma^2$ on the MSE.
    """

    kind: ModelKind = "vae"
    arch: Architecture = "mlp"
    latent_dim: int = 20
    hidden: tuple[int, ...] = (400,)
    channels: int = 32
    decoder: Architecture = "mlp"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    prior_components: int = 0
    likelihood: Likelihood = "bernoulli"
    decoder_std: float = 0.1

    def __post_init__(self) -> None:
        if self.kind not in ("vae", "ae", "cvae"):
            raise ConfigError(f"kind must be 'vae', 'ae' or 'cvae', not {self.kind!r}")
        if self.arch not in ("mlp", "conv") or self.decoder not in ("mlp", "conv"):
            raise ConfigError(f"arch and decoder must be 'mlp' or 'conv', not {self.arch!r}/{self.decoder!r}")
        if not _is_int(self.latent_dim) or self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be a positive integer, not {self.latent_dim!r}")
        if not isinstance(self.hidden, tuple) or not self.hidden or any(not _is_int(h) or h < 1 for h in self.hidden):
            raise ConfigError(f"hidden must be a non-empty list of positive integers, not {self.hidden!r}")
        _check_ints(self, ("channels", "num_classes"), 1)
        _check_ints(self, ("prior_components",), 0)
        if self.prior_components and self.kind == "ae":
            raise ConfigError("a plain autoencoder has no prior: prior_components must be 0 for kind 'ae'")
        if (not isinstance(self.image_shape, tuple) or len(self.image_shape) != 3
                or any(not _is_int(s) or s < 1 for s in self.image_shape)):
            raise ConfigError(f"image_shape must be three positive integers (C, H, W), not {self.image_shape!r}")
        c, h, w = self.image_shape
        if self.arch == "conv" and (h % 4 or w % 4):
            raise ConfigError(f"the conv architecture needs H and W divisible by 4, got {self.image_shape}")
        if self.kind == "cvae" and self.num_classes < 2:
            raise ConfigError("a conditional VAE needs num_classes >= 2")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {', '.join(map(repr, LIKELIHOODS))}, not {self.likelihood!r}")
        _check_numbers(self, ("decoder_std",))
        if not self.decoder_std > 0:
            raise ConfigError(f"decoder_std must be positive, not {self.decoder_std!r}")

    @property
    def num_pixels(self) -> int:
        """C * H * W, the number of pixels (variables of the decoder's distribution) per image."""
        c, h, w = self.image_shape
        return c * h * w

    @property
    def is_conditional(self) -> bool:
        return self.kind == "cvae"

    @property
    def is_variational(self) -> bool:
        return self.kind in ("vae", "cvae")

    @property
    def is_gaussian(self) -> bool:
        """A Gaussian decoder (fixed or learned variance): a density on gray levels, not a probability of bits."""
        return self.likelihood != "bernoulli"


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        epochs: number of passes over the training set.
        batch_size: images per optimisation step.
        lr: peak learning rate of Adam.
        lr_schedule: `"constant"` or `"cosine"` (cosine decay to `lr * min_lr_ratio` over the run).
        min_lr_ratio: final learning rate as a fraction of `lr` for the cosine schedule.
        beta: weight of the KL term in the objective (beta-VAE; 1 is the ELBO).
        warmup_epochs: the KL weight rises linearly from 0 to `beta` over this many epochs
            (KL warm-up, measured in steps; 0 disables it).
        objective: `"elbo"` or `"iwae"` (importance-weighted bound with `iwae_k` samples).
        iwae_k: samples per image for the IWAE training objective.
        iwae_gradient: how the IWAE objective's gradient is estimated: `"reparam"` (differentiate the
            bound) or `"dreg"` (the doubly reparameterized estimator, which gives the encoder a gradient
            whose signal does not fade as `iwae_k` grows; see
            [`VAE.iwae_dreg_loss`][vae.models.VAE.iwae_dreg_loss]). Both have the same expectation.
        binarize: `"dynamic"` (a fresh Bernoulli sample of every image at every step) or `"none"`
            (train on the gray levels in [0, 1], as the pytorch/examples recipe does).
        seed: seeds initialisation, shuffling, binarization and the reparameterization noise.
        train_size: use only the first N training images (None: all of them but the validation split).
        val_size: hold out the **last** N images of the training set as a validation split (0: none).
            They are never trained on: training uses the first `train_size` of the images before
            them. The per-epoch validation loss (`val_loss`, next to `test_loss` in history.jsonl)
            and `vae evaluate --split val` score them, so models can be chosen without the test
            set. The last 10,000 of MNIST's 60,000 is the split of Larochelle and Murray's binarized
            MNIST (50,000 / 10,000), and its ten digits are balanced (915 to 1,090 each).
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        decoder_dropout: dropout probability on the hidden layers of the MLP decoder while
            training (0: none). It regularises a decoder that overfits; evaluation, sampling and
            the saved weights are unaffected (dropout is off in `eval()` mode).
        prior_lr: peak learning rate of a learned prior's parameters (None: `lr`); it follows the
            same schedule. A prior fine-tuned onto a trained model needs a larger step than the
            networks.
        precision: `"fp32"`, or `"bf16"` to run the encoder and decoder networks in bfloat16 while
            training (mixed precision: the weights, the optimizer, the densities, the prior and the
            bounds stay float32; evaluation is always float32). Several times faster on a CPU with
            bfloat16 matrix units (AMX) or a recent GPU; measured by `python benchmarks/precision.py`.
        eval_batch_size: batch size for the per-epoch test loss.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine"] = "constant"
    min_lr_ratio: float = 0.0
    beta: float = 1.0
    warmup_epochs: float = 0.0
    objective: Literal["elbo", "iwae"] = "elbo"
    iwae_k: int = 1
    iwae_gradient: Literal["reparam", "dreg"] = "reparam"
    binarize: Literal["dynamic", "none"] = "dynamic"
    seed: int = 0
    train_size: int | None = None
    val_size: int = 0
    grad_clip: float | None = None
    decoder_dropout: float = 0.0
    prior_lr: float | None = None
    precision: Literal["fp32", "bf16"] = "fp32"
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        _check_ints(self, ("epochs", "batch_size", "iwae_k", "eval_batch_size"), 1)
        _check_ints(self, ("seed", "val_size"), 0)
        _check_numbers(self, ("lr", "min_lr_ratio", "beta", "warmup_epochs", "decoder_dropout"))
        if self.train_size is not None:
            _check_ints(self, ("train_size",), 1)
        if self.prior_lr is not None:
            _check_numbers(self, ("prior_lr",))
            if not self.prior_lr > 0:
                raise ConfigError(f"prior_lr must be positive, not {self.prior_lr!r}")
        if self.grad_clip is not None:
            _check_numbers(self, ("grad_clip",))
            if not self.grad_clip > 0:
                raise ConfigError(f"grad_clip must be positive, not {self.grad_clip!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio must lie in [0, 1], not {self.min_lr_ratio!r}")
        if not 0 <= self.decoder_dropout < 1:
            raise ConfigError(f"decoder_dropout must lie in [0, 1), not {self.decoder_dropout!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, not {self.lr!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"lr_schedule must be 'constant' or 'cosine', not {self.lr_schedule!r}")
        if not self.beta >= 0 or not self.warmup_epochs >= 0:
            raise ConfigError("beta and warmup_epochs must be >= 0")
        if self.objective not in ("elbo", "iwae") or self.iwae_k < 1:
            raise ConfigError("objective must be 'elbo' or 'iwae' and iwae_k >= 1")
        if self.iwae_gradient not in ("reparam", "dreg"):
            raise ConfigError(f"iwae_gradient must be 'reparam' or 'dreg', not {self.iwae_gradient!r}")
        if self.iwae_gradient == "dreg" and self.objective != "iwae":
            raise ConfigError("iwae_gradient 'dreg' estimates the IWAE bound's gradient: it needs objective 'iwae'")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be 'fp32' or 'bf16', not {self.precision!r}")
        if self.binarize not in ("dynamic", "none"):
            raise ConfigError(f"binarize must be 'dynamic' or 'none', not {self.binarize!r}")
        if self.train_size is not None and self.train_size < 1:
            raise ConfigError("train_size must be positive")


def to_dict(config: ModelConfig | TrainConfig) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(config)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config from a dict, refusing unknown keys with a clear message."""
    if not isinstance(data, dict):
        raise ConfigError(f"a {cls.__name__} must be a JSON object of fields, not {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys {unknown}; known keys are {sorted(names)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**values)
    except TypeError as err:
        raise ConfigError(f"invalid {cls.__name__}: {err}") from err


def save_json(path: str | Path, data: dict[str, Any]) -> None:
    """Write `data` as indented JSON, atomically (write a temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file such as history.jsonl, one per non-empty line ([] if the file is missing)."""
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def load_model_config(path: str | Path) -> ModelConfig:
    """Read a `config.json`, with a clear error for a missing or malformed file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no config file at {path}: a model folder holds config.json and model.safetensors") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); the file may be truncated or corrupted") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object of ModelConfig fields")
    data = data.get("model", data)
    return from_dict(ModelConfig, data)


__all__ = ["ConfigError", "ModelConfig", "TrainConfig", "from_dict", "to_dict"]

"""Frozen dataclass configs for models and training, stored as JSON beside the weights.

A [`ModelConfig`][vae.ModelConfig] fully describes the network that a weights file belongs to, so
`config.json` + `model.safetensors` is all that [`vae.load`][vae.load] needs. A
[`TrainConfig`][vae.TrainConfig] describes one training run; it is recorded in every checkpoint so a
run can be resumed or repeated exactly.

**One place per option.** Each field is declared once, with [`option`][vae.config.option]: its
type (a `Literal` lists the allowed values), its default, the range of its values and its
command-line help. [`check_fields`][vae.config.check_fields] validates every field from its type
and range, and `vae train` builds its options from the same fields (`vae.cli`), so a new training
option is one line here plus its use in the training loop. Rules that tie fields together (an
autoencoder has no prior, DReG needs the IWAE objective) are written out in `__post_init__`, and
those between a model and a run in [`check_run`][vae.config.check_run].
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

ModelKind = Literal["vae", "ae", "cvae", "hvae"]
Architecture = Literal["mlp", "conv"]
Likelihood = Literal["bernoulli", "gaussian", "gaussian_learned"]
Objective = Literal["elbo", "iwae"]
Precision = Literal["fp32", "bf16"]
Dataset = Literal["mnist", "fashion-mnist", "kmnist", "emnist-balanced", "emnist-byclass", "emnist-bymerge",
                  "emnist-digits", "emnist-letters", "emnist-mnist", "images"]  # see vae.datasets

T = TypeVar("T", "ModelConfig", "TrainConfig")


class ConfigError(ValueError):
    """A config file or value that cannot describe a valid model or run."""


def option(
    default: Any, help: str, *, at_least: float | None = None, above: float | None = None,
    at_most: float | None = None, below: float | None = None, flag: str | None = None, cli: bool = True,
) -> Any:
    """A config field: its default, the range of its values and its command-line help, in one place.

    Args:
        default: the value when none is given (also the value of every config written before the field existed).
        help: one line for `vae train --help` (the default is appended there).
        at_least, above, at_most, below: bounds of a number, inclusive (`at_least`, `at_most`) or
            exclusive (`above`, `below`); for a tuple of integers, `at_least` bounds every entry.
        flag: the command-line flag, when it is not `--` + the name with dashes.
        cli: False for a field that `vae train` does not set.
    """
    bounds = {"at_least": at_least, "above": above, "at_most": at_most, "below": below}
    metadata = {"help": help, "flag": flag, "cli": cli, **{k: v for k, v in bounds.items() if v is not None}}
    return dataclasses.field(default=default, metadata=metadata)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _range(meta: typing.Mapping[str, Any]) -> tuple[str, typing.Callable[[float], bool]]:
    """What the bounds of a number say ("be positive", "lie in [0, 1)") and a test of a value against them."""
    lower = ("[", meta["at_least"]) if "at_least" in meta else ("(", meta["above"]) if "above" in meta else None
    upper = ("]", meta["at_most"]) if "at_most" in meta else (")", meta["below"]) if "below" in meta else None
    if lower and upper:
        text = f"lie in {lower[0]}{lower[1]:g}, {upper[1]:g}{upper[0]}"
    elif lower:
        text = "be positive" if lower == ("(", 0) else f"be {'>=' if lower[0] == '[' else '>'} {lower[1]:g}"
    else:
        text = f"be {'<=' if upper[0] == ']' else '<'} {upper[1]:g}" if upper else ""

    def inside(value: float) -> bool:
        above_lower = lower is None or (value >= lower[1] if lower[0] == "[" else value > lower[1])
        below_upper = upper is None or (value <= upper[1] if upper[0] == "]" else value < upper[1])
        return above_lower and below_upper

    return text, inside


def _check_value(name: str, value: Any, hint: Any, meta: typing.Mapping[str, Any]) -> None:
    """Refuse a value that its field's type and bounds do not allow, naming the field and what it must be."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):  # `X | None`: None, or a valid X
        if value is None:
            return
        hint = next(a for a in args if a is not type(None))
        origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, args))}, not {value!r}")
    if origin is tuple:
        minimum = meta.get("at_least")
        entries = "positive integers" if minimum == 1 else f"integers >= {minimum}" if minimum is not None else "integers"
        variable = args[-1] is Ellipsis
        if (not isinstance(value, tuple) or (len(value) < 1 if variable else len(value) != len(args))
                or any(not _is_int(v) or (minimum is not None and v < minimum) for v in value)):
            what = f"a non-empty list of {entries}" if variable else f"{len(args)} {entries}"
            raise ConfigError(f"{name} must be {what}, not {value!r}")
        return
    if hint is int:  # integers take a lower bound only
        minimum = meta.get("at_least")
        if not _is_int(value) or (minimum is not None and value < minimum):
            what = "a positive integer" if minimum == 1 else f"an integer{f' >= {minimum}' if minimum is not None else ''}"
            raise ConfigError(f"{name} must be {what}, not {value!r}")
        return
    if hint is float:
        text, inside = _range(meta)
        if not _is_number(value):
            raise ConfigError(f"{name} must be a finite number, not {value!r}")
        if not inside(value):
            raise ConfigError(f"{name} must {text}, not {value!r}")
        return
    raise TypeError(f"no check for the type {hint!r} of {name}")  # a new kind of field: add its check here


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_fields(config: ModelConfig | TrainConfig) -> None:
    """Validate every field of a config from its type (a `Literal` lists its values) and the bounds its `option` gives.

    Raises:
        ConfigError: naming the first field whose value is not allowed, and what it must be.
    """
    hints = _hints(type(config))
    for field in dataclasses.fields(config):
        _check_value(field.name, getattr(config, field.name), hints[field.name], field.metadata)


def choices(cls: type, name: str) -> tuple[Any, ...]:
    """The allowed values of a `Literal` field, read from its type: `choices(TrainConfig, "objective")` -> ("elbo", "iwae")."""
    hint = _hints(cls)[name]
    if get_origin(hint) is not Literal:
        raise TypeError(f"{cls.__name__}.{name} is not a field with a fixed set of values")
    return get_args(hint)


@dataclass(frozen=True)
class ModelConfig:
    r"""Everything needed to rebuild a model.

    Attributes:
        kind: `"vae"` (variational autoencoder), `"ae"` (plain deterministic autoencoder with the same
            networks), `"cvae"` (conditional VAE: the one-hot label is fed to encoder and decoder) or `"hvae"`
            (a hierarchical VAE with two stochastic layers, see [`HierarchicalVAE`][vae.hierarchical.HierarchicalVAE]).
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
        lower_latent_dim: `kind="hvae"` only: the size of the lower stochastic layer $z_1$; `latent_dim` is
            the size of the top layer $z_2$, the one the prior, `encode` and the latent tools work on (see
            [`HierarchicalVAE`][vae.hierarchical.HierarchicalVAE]).
        lower_hidden: `kind="hvae"` only: the hidden widths of the networks between $z_1$ and $z_2$ (the
            bottom-up path to $q(z_2 \mid x)$ and the top-down $p(z_1 \mid z_2)$, in reverse order).
    """

    kind: ModelKind = option("vae", "vae, plain autoencoder (ae), conditional vae (cvae) or hierarchical vae with two "
                                    "stochastic layers (hvae)")
    arch: Architecture = option("mlp", "encoder/decoder body")
    latent_dim: int = option(20, "latent size D", at_least=1)
    hidden: tuple[int, ...] = option((400,), "hidden layer widths", at_least=1)
    channels: int = option(32, "base channels of the conv layers", at_least=1)
    decoder: Architecture = option("mlp", "decoder body when --arch conv")
    image_shape: tuple[int, int, int] = option((1, 28, 28), "(C, H, W) of the data", at_least=1, cli=False)
    num_classes: int = option(10, "labels of a conditional VAE", at_least=1, cli=False)
    prior_components: int = option(0, "0: standard normal prior; K: a learned mixture of K Gaussians "
                                       "(may be added with --init-from)", at_least=0)
    likelihood: Likelihood = option("bernoulli", "decoder p(x|z): bernoulli on binarized digits, gaussian with a fixed "
                                                 "--decoder-std (the MSE objective, KL weight 2 sigma^2), or gaussian_learned "
                                                 "(one learned variance); a Gaussian trains on gray levels (--binarize none)")
    decoder_std: float = option(0.1, "sigma of a Gaussian decoder (its starting value for gaussian_learned)", above=0)
    lower_latent_dim: int = option(64, "size of the lower stochastic layer z1 of an hvae (--latent-dim is its top layer z2)",
                                   at_least=1)
    lower_hidden: tuple[int, ...] = option((256,), "hidden widths of the networks between z1 and z2 of an hvae", at_least=1)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.prior_components and self.kind == "ae":
            raise ConfigError("a plain autoencoder has no prior: prior_components must be 0 for kind 'ae'")
        c, h, w = self.image_shape
        if self.arch == "conv" and (h % 4 or w % 4):
            raise ConfigError(f"the conv architecture needs H and W divisible by 4, got {self.image_shape}")
        if self.kind == "cvae" and self.num_classes < 2:
            raise ConfigError("a conditional VAE needs num_classes >= 2")

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
        return self.kind in ("vae", "cvae", "hvae")

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
        lr_warmup_steps: the learning rate rises linearly over this many first steps, to the schedule's
            value (0: none). It lets a large batch take a large peak learning rate.
        beta: weight of the KL term in the objective (beta-VAE; 1 is the ELBO).
        reconstruction_weight: weight of the reconstruction term in the ELBO objective (1 is the
            ELBO). 0 trains the KL term alone, which pulls every posterior onto the prior (the
            "KL only" picture of what each term does); it needs `objective="elbo"`.
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
            bounds stay float32; evaluation is always float32). Faster where the matrix products
            have bfloat16 units: 1.3-1.8x for IWAE steps on a CPU with AVX-512 bfloat16, 3.4-4.9x with
            AMX (`python benchmarks/precision.py`, the performance page).
        adam_implementation: how torch runs the Adam update: `"default"` (torch's own choice: a loop
            over the parameters on a CPU) or `"fused"` (one kernel for all of them, `fused=True`:
            cheaper on a CPU, where the update is a large part of a small model's step, and equal to
            the default up to float rounding). `benchmarks/train_speed.py`'s fast run uses it.
        adam_beta2: Adam's decay rate of its squared-gradient average (torch's default 0.999). A
            shorter memory (0.99) adapts the step sizes sooner, which helps a run of a few epochs.
        eval_batch_size: batch size for the per-epoch test loss.
        dataset: the images trained on (and, by `vae evaluate`, scored): `"mnist"`, another 28 x 28 dataset in
            MNIST's file format, or `"images"`, a folder of your own (see [`vae.datasets`][vae.datasets]).
    """

    epochs: int = option(10, "epochs (may be raised when resuming)", at_least=1)
    batch_size: int = option(128, "images per optimisation step", at_least=1)
    lr: float = option(1e-3, "peak learning rate of Adam", above=0)
    lr_schedule: Literal["constant", "cosine"] = option("constant", "learning-rate schedule")
    min_lr_ratio: float = option(0.0, "final lr / peak lr for the cosine schedule", at_least=0, at_most=1)
    lr_warmup_steps: int = option(0, "steps of linear learning-rate warm-up (0: none)", at_least=0)
    beta: float = option(1.0, "KL weight", at_least=0)
    reconstruction_weight: float = option(1.0, "weight of the reconstruction term (0: the KL term alone)", at_least=0)
    warmup_epochs: float = option(0.0, "epochs of linear KL warm-up from 0 to beta", at_least=0, flag="--warmup")
    objective: Objective = option("elbo", "training objective: the ELBO or the IWAE bound")
    iwae_k: int = option(1, "samples per image for --objective iwae", at_least=1)
    iwae_gradient: Literal["reparam", "dreg"] = option("reparam", "gradient estimator for --objective iwae: reparam or "
                                                                  "dreg (doubly reparameterized)")
    binarize: Literal["dynamic", "none"] = option("dynamic", "dynamic binarization or gray levels")
    seed: int = option(0, "seeds initialisation, shuffling, binarization and noise", at_least=0)
    train_size: int | None = option(None, "use only the first N training images", at_least=1)
    val_size: int = option(0, "hold out the last N training images as a validation split, never trained on; its loss "
                              "is recorded every epoch. Choose models on it, not on the test set", at_least=0)
    grad_clip: float | None = option(None, "clip the global gradient norm to this value", above=0)
    decoder_dropout: float = option(0.0, "dropout on the MLP decoder's hidden layers while training", at_least=0, below=1)
    prior_lr: float | None = option(None, "peak learning rate of a learned prior (default: --lr)", above=0)
    precision: Precision = option("fp32", "bf16: run the networks in bfloat16 while training, the rest in float32")
    adam_implementation: Literal["default", "fused"] = option("default", "Adam's implementation: default (torch's "
                                                                         "choice) or fused (one kernel; faster on CPU)")
    adam_beta2: float = option(0.999, "Adam's beta2, the decay of its squared-gradient average", above=0, below=1)
    eval_batch_size: int = option(1000, "batch size of the per-epoch test and validation loss", at_least=1)
    dataset: Dataset = option("mnist", "the images: mnist, fashion-mnist, kmnist, emnist-<split> (28x28 IDX files under "
                                       "--data-root) or images (the image folder --data-root, at --image-size)")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.iwae_gradient == "dreg" and self.objective != "iwae":
            raise ConfigError("iwae_gradient 'dreg' estimates the IWAE bound's gradient: it needs objective 'iwae'")
        if self.reconstruction_weight != 1 and self.objective != "elbo":
            raise ConfigError("reconstruction_weight weighs a term of the ELBO: it needs objective 'elbo' "
                              "(the IWAE bound has no separate terms)")


MAX_IWAE_PIXELS = 2**16 * 784
"""The most decoded pixels an IWAE training step may hold (iwae_k * batch_size images, each with its gradient):
65,536 MNIST images, twice the 32,768 of the shipped `default`'s k = 256 stage."""


def check_run(model: ModelConfig, train: TrainConfig) -> None:
    """Refuse a training config that cannot train this model (before anything is written or read).

    Raises:
        ConfigError: an autoencoder with the IWAE objective or without its reconstruction term, a Gaussian
            decoder on binarized digits, or an IWAE step that would decode more than
            [`MAX_IWAE_PIXELS`][vae.config.MAX_IWAE_PIXELS] pixels at once (iwae_k * batch_size images).
    """
    if train.objective == "iwae" and train.iwae_k * train.batch_size * model.num_pixels > MAX_IWAE_PIXELS:
        most = MAX_IWAE_PIXELS // model.num_pixels  # images per step
        fix = (f"lower --batch-size to {most // train.iwae_k} or less (the same bound, more steps per epoch)"
               if most >= train.iwae_k else f"lower --iwae-k to {most:,} or less")
        raise ConfigError(f"--iwae-k {train.iwae_k} with --batch-size {train.batch_size} decodes "
                          f"{train.iwae_k * train.batch_size:,} images per step, all held in memory with their gradients: "
                          f"more than the {most:,} images of {model.image_shape[1]} x {model.image_shape[2]} pixels "
                          f"allowed. {fix[0].upper()}{fix[1:]}")
    if model.kind == "ae" and train.objective == "iwae":
        raise ConfigError("an autoencoder cannot be trained with the IWAE objective (it has no posterior)")
    if model.kind == "ae" and train.reconstruction_weight == 0:
        raise ConfigError("an autoencoder's only loss is its reconstruction term: reconstruction_weight 0 leaves nothing "
                          "to train (the KL term alone needs a vae)")
    if model.is_gaussian and train.binarize != "none":
        raise ConfigError(f"a Gaussian decoder (likelihood {model.likelihood!r}) is a density on gray levels: "
                          "train it with binarize 'none' (--binarize none), not on binarized digits")


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
    """The records of a JSON-lines file such as history.jsonl, one per non-empty line ([] if the file is missing).

    Raises:
        ConfigError: a line that is not a JSON object (naming the file and the line).
    """
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}, line {number}, is not valid JSON ({err}); the file may be truncated or "
                              "corrupted: restore it from a copy") from None
        if not isinstance(record, dict):
            raise ConfigError(f"{path}, line {number}, must hold a JSON object")
        records.append(record)
    return records


def write_jsonl(path: str | Path, records: typing.Iterable[dict[str, Any]], append: bool = False) -> None:
    """Write records as JSON lines, one per line: the file's new content, or added to its end with `append`.

    The one writer of history.jsonl (with [`read_jsonl`][vae.config.read_jsonl], its one reader).
    """
    with Path(path).open("a" if append else "w") as f:
        f.writelines(json.dumps(record) + "\n" for record in records)


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


__all__ = ["MAX_IWAE_PIXELS", "ConfigError", "ModelConfig", "TrainConfig", "check_fields", "check_run", "choices", "from_dict", "option", "to_dict"]

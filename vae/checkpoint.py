"""Saving and loading: safetensors weights + `config.json` (+ `metrics.json`), never pickles.

A *model folder* holds `model.safetensors` and `config.json`, and usually `metrics.json`.
[`load`][vae.load] accepts such a folder, a training run folder (whose latest checkpoint is in
`checkpoint/`), or the name of a model shipped in `vae/pretrained/` (see
[`available_models`][vae.available_models]).

A training checkpoint adds `optimizer.safetensors` and `state.json` to the same folder, and is
written atomically: the files go to a temporary folder that then replaces the previous checkpoint
with a rename, so an interruption leaves either the old or the new checkpoint, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .config import ConfigError, ModelConfig, load_model_config, save_json, to_dict
from .models import VAE, Autoencoder, EncoderDecoder, build_model

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
WEIGHTS, CONFIG, METRICS = "model.safetensors", "config.json", "metrics.json"
OPTIMIZER, STATE = "optimizer.safetensors", "state.json"
CHECKPOINT_DIR = "checkpoint"


class CheckpointError(RuntimeError):
    """A model folder or checkpoint that cannot be loaded: missing, truncated, corrupted or mismatched."""


def available_models() -> list[str]:
    """Names of the pretrained models shipped inside the package (loadable offline with `load(name)`)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / WEIGHTS).is_file())


def resolve_model_dir(path_or_name: str | os.PathLike[str]) -> Path:
    """The folder holding `model.safetensors` for a path, a run folder or a shipped model's name.

    A run folder's model is its checkpoint's whenever it has one (`checkpoint/state.json`), even if
    the folder also holds a model of its own: the checkpoint is what training writes.
    """
    path = Path(path_or_name).expanduser()
    if path.is_dir():
        if (path / CHECKPOINT_DIR / STATE).is_file():
            return path / CHECKPOINT_DIR
        if (path / WEIGHTS).is_file():
            return path
        if (path / CHECKPOINT_DIR / WEIGHTS).is_file():
            return path / CHECKPOINT_DIR
        raise CheckpointError(f"{path} holds no {WEIGHTS}: a model folder holds {WEIGHTS} and {CONFIG}")
    if str(path_or_name) in available_models():
        return PRETRAINED_DIR / str(path_or_name)
    raise CheckpointError(
        f"no model folder at {path} and no shipped model named {str(path_or_name)!r}; "
        f"shipped models: {', '.join(available_models()) or 'none'}"
    )


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, turning every failure into a CheckpointError that says what to do."""
    if not path.is_file():
        raise CheckpointError(f"missing file {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({err}); it may be truncated or corrupted: "
            "re-download or re-train it (pickled .pt/.pth files are not accepted)"
        ) from None


def load_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Copy weights into `model`, explaining any mismatch with its config."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"missing {missing[:5]}")
        if unexpected:
            details.append(f"unexpected {unexpected[:5]}")
        if wrong:
            details.append("shape mismatch " + ", ".join(f"{k}: file {tuple(tensors[k].shape)} vs config {tuple(own[k].shape)}" for k in wrong[:5]))
        raise CheckpointError(f"the weights in {source} do not match its config.json ({'; '.join(details)})")
    model.load_state_dict(tensors)


def load_config(path_or_name: str | os.PathLike[str]) -> ModelConfig:
    """The config of a saved model (a model folder, a run folder or a shipped name), without reading its weights.

    Raises:
        CheckpointError: no such model, or a missing or malformed `config.json`.
    """
    folder = resolve_model_dir(path_or_name)
    try:
        return load_model_config(folder / CONFIG)
    except ConfigError as err:
        raise CheckpointError(str(err)) from None


def load(path_or_name: str | os.PathLike[str], device: str | torch.device = "cpu") -> VAE | Autoencoder:
    """A ready model (eval mode) from a model folder, a run folder or a shipped model's name.

    ```python
    import vae
    model = vae.load("default")          # shipped with the package, offline
    images = model.reconstruct(x)        # x: (B, 1, 28, 28) in [0, 1]
    ```

    Raises:
        CheckpointError: missing, truncated or corrupted files, or weights that do not match the config.
    """
    folder = resolve_model_dir(path_or_name)
    model = build_model(load_config(folder))
    load_state(model, read_tensors(folder / WEIGHTS), folder / WEIGHTS)
    return model.to(device).eval()


def weights_sha256(path_or_name: str | os.PathLike[str]) -> str:
    """The SHA-256 of the `model.safetensors` a model name or folder resolves to: which weights a result measured."""
    folder = resolve_model_dir(path_or_name)
    return hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()


def load_metrics(path_or_name: str | os.PathLike[str]) -> dict[str, Any]:
    """The `metrics.json` beside a model's weights ({} when there is none)."""
    path = resolve_model_dir(path_or_name) / METRICS
    return read_json(path) if path.is_file() else {}


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON object from a run's or model's record, with a clear error for a missing or damaged file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"cannot read {path} ({err}); the file may be truncated or corrupted") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return data


def write_tensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file with the permissions of any other new file (`save_file` makes it private, 0600)."""
    Path(path).write_bytes(save(tensors, metadata))


def save_model(model: EncoderDecoder, folder: str | os.PathLike[str], metrics: dict[str, Any] | None = None) -> Path:
    """Write `model.safetensors`, `config.json` (and `metrics.json`) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS + ".tmp")
    write_tensors(state, tmp)
    tmp.replace(folder / WEIGHTS)
    save_json(folder / CONFIG, to_dict(model.config))
    if metrics is not None:
        save_json(folder / METRICS, metrics)
    return folder


# -- optimizer state ------------------------------------------------------------------------------
def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state into tensors (for safetensors) and JSON-ready hyperparameters."""
    sd = optimizer.state_dict()
    tensors = {
        f"state.{idx}.{key}": torch.as_tensor(value).detach().cpu().contiguous()
        for idx, entry in sd["state"].items()
        for key, value in entry.items()
    }
    return tensors, {"param_groups": sd["param_groups"]}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Inverse of [`optimizer_tensors`][vae.checkpoint.optimizer_tensors]."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


# -- training checkpoints -------------------------------------------------------------------------
def write_checkpoint(run_dir: Path, model: EncoderDecoder, optimizer: torch.optim.Optimizer, state: dict[str, Any], metrics: dict[str, Any]) -> Path:
    """Atomically replace `run_dir/checkpoint/` with the current model, optimizer and state."""
    final = run_dir / CHECKPOINT_DIR
    tmp, old = run_dir / ".checkpoint.tmp", run_dir / ".checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp, metrics)
    opt_tensors, opt_meta = optimizer_tensors(optimizer)
    write_tensors(opt_tensors, tmp / OPTIMIZER)
    save_json(tmp / STATE, {**state, "optimizer": opt_meta})
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def recover_checkpoint(run_dir: Path) -> Path | None:
    """The latest complete checkpoint folder of a run, undoing a rename that an interruption cut short."""
    final, old = run_dir / CHECKPOINT_DIR, run_dir / ".checkpoint.old"
    if not final.exists() and old.exists():
        old.rename(final)
    return final if (final / STATE).is_file() else None


def read_checkpoint(folder: Path) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """Config, model tensors, optimizer tensors and state of a training checkpoint."""
    try:
        config = load_model_config(folder / CONFIG)
        state = json.loads((folder / STATE).read_text())
    except (ConfigError, json.JSONDecodeError, OSError) as err:
        raise CheckpointError(f"cannot resume from {folder}: {err}") from None
    if not isinstance(state, dict) or not isinstance(state.get("optimizer"), dict) or "param_groups" not in state["optimizer"]:
        raise CheckpointError(f"cannot resume from {folder}: its {STATE} holds no optimizer state (optimizer.param_groups); "
                              "the file is damaged: restore it from a copy, or start a new run")
    return config, read_tensors(folder / WEIGHTS), read_tensors(folder / OPTIMIZER), state

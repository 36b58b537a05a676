r"""Where a training run starts: a new run, the checkpoint of a run to resume, or a saved model to fine-tune.

[`resume_or_init`][vae.start.resume_or_init] decides it from the JSON records alone (no data, no
weights read), so the command line checks a run before it writes its records or loads anything;
[`vae.train`][vae.training.train] calls it again with the configs it was given, so each mistake
has one error. The [`Start`][vae.start.Start] it returns then loads the starting weights (and,
resuming, the optimizer's state) into the freshly built model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .checkpoint import (
    CHECKPOINT_DIR,
    CONFIG,
    METRICS,
    WEIGHTS,
    CheckpointError,
    load,
    load_config,
    load_state,
    read_checkpoint,
    recover_checkpoint,
    resolve_model_dir,
    restore_optimizer,
)
from .config import ConfigError, ModelConfig, TrainConfig, check_run
from .models import EncoderDecoder
from .movie import SNAPSHOTS, has_snapshots
from .records import HISTORY, CheckpointState


@dataclass(frozen=True)
class Start:
    """Where a training run starts, decided from the records alone (no weights read yet).

    Attributes:
        model_config: the model to train.
        train_config: the run's training config.
        epoch: epochs already done (the checkpoint's, when resuming; else 0).
        checkpoint: the checkpoint folder to resume from.
        init_from: the model folder whose weights start a fine-tuning run.
    """

    model_config: ModelConfig
    train_config: TrainConfig
    epoch: int = 0
    checkpoint: Path | None = None
    init_from: Path | None = None

    def restore(self, model: EncoderDecoder, optimizer: torch.optim.Optimizer) -> None:
        """Load the starting weights into a freshly built model (and, when resuming, the optimizer's state)."""
        device = next(model.parameters()).device
        if self.checkpoint is not None:
            _, weights, optimizer_tensors, state = read_checkpoint(self.checkpoint)
            load_state(model, {k: v.to(device) for k, v in weights.items()}, self.checkpoint)
            restore_optimizer(optimizer, optimizer_tensors, state["optimizer"])
        elif self.init_from is not None:
            start = load(self.init_from, device=device)
            new_prior = start.config.prior_components == 0 and self.model_config.prior_components > 0
            model.load_state_dict(start.state_dict(), strict=not new_prior)  # a new learned prior keeps its initialisation


def resume_or_init(
    out_dir: str | os.PathLike[str] | None, model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
    *, resume: bool = False, init_from: str | os.PathLike[str] | None = None, epochs: int | None = None,
) -> Start:
    """Where a training run starts: a new run, the checkpoint of a run to resume, or a saved model to fine-tune.

    Reads only JSON records, so the command line can check a run before it loads any data or weights;
    [`vae.train`][vae.training.train] calls it again with the configs it was given.

    Args:
        out_dir: the run folder (None: a run in memory, which cannot be resumed).
        model_config, train_config: the configs to train with. Resuming, either may be None: the
            checkpoint's is used (with `epochs`, if given); given, they must equal the checkpoint's
            (only `epochs` may grow). A new run needs `train_config`; with `init_from`,
            `model_config` defaults to the starting model's.
        resume: continue `out_dir/checkpoint/`.
        init_from: start a new run from this saved model's weights (a model folder, run folder or
            shipped name): fine-tuning. Its config must equal `model_config`, except that a standard
            normal prior may become a learned one.
        epochs: resuming without a `train_config`, the new number of epochs.

    Raises:
        CheckpointError: resuming without a checkpoint, a new run into a folder that holds one (or a
            model, or another run's history or snapshots: see
            [`check_new_run_folder`][vae.start.check_new_run_folder]), or an unknown or damaged
            starting model.
        ConfigError: configs that differ from the checkpoint's or the starting model's, or a training
            config that cannot train the model ([`check_run`][vae.config.check_run]).
    """
    out = None if out_dir is None else Path(out_dir)
    if resume:
        if out is None:
            raise ConfigError("resuming needs the run folder to resume from (out_dir)")
        checkpoint = recover_checkpoint(out)
        if checkpoint is None:
            raise CheckpointError(f"--resume: no checkpoint in {out / CHECKPOINT_DIR} to resume from")
        saved_model, state = load_config(checkpoint), CheckpointState.load(checkpoint)
        if model_config is not None and model_config != saved_model:
            raise ConfigError(f"--resume: the model config differs from the checkpoint's ({saved_model})")
        if train_config is None:
            train_config = replace(state.train_config, epochs=state.train_config.epochs if epochs is None else epochs)
        elif replace(state.train_config, epochs=train_config.epochs) != train_config:
            raise ConfigError(f"--resume: the training config differs from the checkpoint's ({state.train_config}); "
                              "only epochs may change")
        return Start(saved_model, train_config, state.epoch, checkpoint=checkpoint)
    if out is not None and recover_checkpoint(out) is not None:
        raise CheckpointError(f"{out} already holds a checkpoint: pass --resume to continue it, or choose another --out")
    if out is not None:
        check_new_run_folder(out)
    if train_config is None:
        raise ConfigError("a new training run needs its training config")
    start_dir = None
    if init_from is not None:
        start_dir = resolve_model_dir(init_from)
        start_config = load_config(start_dir)
        model_config = start_config if model_config is None else model_config
        new_prior = start_config.prior_components == 0 and start_config == replace(model_config, prior_components=0)
        if start_config != model_config and not new_prior:
            raise ConfigError(f"--init-from: {init_from} is a {start_config}, not the {model_config} to train "
                              "(of the model options only a standard normal prior may change, to a learned one)")
    if model_config is None:
        raise ConfigError("a new training run needs its model config (or a model to start from)")
    check_run(model_config, train_config)
    return Start(model_config, train_config, init_from=start_dir)


def check_new_run_folder(out: Path) -> None:
    """Refuse a new run's folder that is a file, or that holds records a new run would overwrite or hide.

    A new run rewrites `history.jsonl`, drops the snapshots and overwrites `command.json`, and the
    weights of a model folder (`model.safetensors`, `config.json`) would hide the run's own
    checkpoint from [`vae.load`][vae.load]. So a folder holding a model (an exported model, the
    starting model of `--init-from`) or the history or snapshots of a run whose checkpoint is gone is
    refused. A folder whose only records are those of a run that never finished an epoch
    (`command.json`, `start.json`, no history) holds nothing to lose: the same command starts it again.

    Raises:
        ConfigError: `out` is a file.
        CheckpointError: `out` holds a model or run records but no checkpoint.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder: give the folder the run should write into")
    if not out.is_dir():
        return
    model = [name for name in (WEIGHTS, CONFIG, METRICS) if (out / name).is_file()]
    if model:
        raise CheckpointError(f"{out} is a model folder ({', '.join(model)}), not a run's: a new run there would overwrite "
                              "its records and its weights would hide the run's. Choose another --out (to fine-tune "
                              f"this model: --init-from {out} --out NEW_FOLDER)")
    records = [HISTORY] if (out / HISTORY).is_file() and (out / HISTORY).read_text().strip() else []
    records += [f"{SNAPSHOTS}/"] if has_snapshots(out) else []
    if records:
        raise CheckpointError(f"{out} holds a run's {' and '.join(records)} but no checkpoint ({out / CHECKPOINT_DIR}) to "
                              "resume: a new run there would erase them. Choose another --out")


__all__ = [
    "Start",
    "check_new_run_folder",
    "resume_or_init",
]

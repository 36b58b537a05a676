r"""The training run: KL warm-up, a learning-rate schedule, atomic per-epoch checkpoints, exact resume, a progress hook.

[`train`][vae.training.train] reads as the run it performs: decide where the run starts
([`resume_or_init`][vae.start.resume_or_init]), hold the validation split out, build the model and
its optimizer ([`vae.optimization`][vae.optimization]), then run the epochs, each its steps and its
end-of-epoch record ([`vae.epochs`][vae.epochs]).

Determinism: every source of randomness in epoch e (shuffling, dynamic binarization and the
reparameterization noise) is seeded from `(seed, e)` at the start of the epoch, so a run resumed
from the checkpoint of epoch e continues exactly as the uninterrupted run would (on the same
device and thread count), with no random-number-generator state to save. The noise (and decoder
dropout) come from torch's global generator, so run one training per process at a time; the
evaluations use their own generators ([`vae.evaluation`][vae.evaluation]) and a progress callback
runs with the global generator's state saved and restored, so neither changes the run.

With a run folder, every epoch writes a checkpoint, a line of `history.jsonl`, an image grid and,
if asked, a training-movie snapshot into it ([`vae.epochs`][vae.epochs] lists the files).
Without one (`out_dir=None`) the run stays in memory: the same epochs and records, no files (see
[`vae.runs`][vae.runs] for what a run folder holds). With `log_dir`, the records and grids also go
to TensorBoard ([`vae.tensorboard`][vae.tensorboard]).

Inside a process group ([`vae.distributed`][vae.distributed], `torchrun ... -m vae train`) the same
loop runs in every process on its shard of every global batch, under DistributedDataParallel; only
rank 0 writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import distributed
from .config import ConfigError, ModelConfig, TrainConfig
from .data import MNIST
from .datasets import check_labels
from .epochs import Loop, TrainingProgress, train_epoch
from .models import build_model
from .optimization import build_optimizer, training_loss
from .runs import Run
from .start import resume_or_init


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(name: str = "auto") -> torch.device:
    """`"auto"` picks CUDA, then Apple MPS, then the CPU; any other name is passed to torch.

    Raises:
        ConfigError: an unknown device, or a CUDA or MPS device this machine (or this torch build) does not have.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda or mps") from err
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r}: CUDA is not available here (no GPU, or a torch built without CUDA); "
                              "use --device cpu, or auto to take the best device there is")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r}: this machine has {count} CUDA device(s), numbered 0 to {count - 1}")
    elif device.type == "mps" and not _mps_available():
        raise ConfigError(f"device {name!r}: Apple's MPS is not available here (it needs an Apple-silicon Mac); "
                          "use --device cpu, or auto to take the best device there is")
    return device


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    out_dir: str | Path | None,
    train_data: MNIST,
    test_data: MNIST,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    grids: bool = True,
    init_from: str | Path | None = None,
    callback: Callable[[TrainingProgress], bool | None] | None = None,
    callback_every: int = 100,
    snapshots: bool = False,
    log_dir: str | Path | None = None,
    epoch_lines: bool | None = None,
) -> list[dict[str, Any]]:
    """Train a model, recording every epoch: with a run folder, a checkpoint, a history line and a grid.

    Args:
        model_config: the network to train.
        train_config: the run's hyperparameters.
        out_dir: the run folder (created if needed), or None to train in memory: no checkpoints,
            history file or grids (the model is the callback's).
        train_data, test_data: in-memory MNIST splits (see [`load_mnist`][vae.data.load_mnist]). With
            `train_config.val_size = N` the last N images of `train_data` are held out as the
            validation split and never trained on.
        device: `"auto"`, `"cpu"`, `"cuda"` or `"mps"`.
        resume: continue from `out_dir/checkpoint/` (the configs must match; only `epochs` may grow).
        progress: show a tqdm progress bar with the live loss.
        grids: save the per-epoch image grid.
        init_from: start from the weights of this saved model (a model folder, run folder or shipped
            name) instead of a random initialization: fine-tuning. Its config must equal `model_config`
            (a standard normal prior may become a learned one). Ignored when resuming (the checkpoint
            holds the weights).
        callback: called with a [`TrainingProgress`][vae.epochs.TrainingProgress] after every
            `callback_every`-th step and at the end of every epoch (once the epoch is recorded). It
            runs with torch's random state saved and restored, so what it draws does not change the
            run. Returning True stops training cleanly after that step: the epochs finished so far
            are recorded (and checkpointed), a partial epoch is not, and a run folder can be resumed.
        callback_every: steps between calls (at least 1).
        snapshots: keep a snapshot of every epoch for the training movie in `out_dir/snapshots/`
            (see [`vae.movie`][vae.movie]). A run folder that holds snapshots keeps taking them when
            resumed, whatever this says; the snapshots of epochs after the resumed checkpoint are dropped.
        log_dir: also write every epoch's record and grid images as TensorBoard events into this
            folder (see [`vae.tensorboard`][vae.tensorboard]; the run folder itself is a good choice).
        epoch_lines: print a line with the epoch's losses as each epoch ends (None: when `progress`).
            `vae train --no-progress` keeps them, for logs of runs in the background.

    Inside a process group ([`vae.distributed.setup`][vae.distributed.setup]; `torchrun`) every
    process calls `train` with the same arguments: `train_config.batch_size` is then the global
    batch, each process trains on its shard of it, only rank 0 writes files and shows progress, and
    every process returns the same history. The callback runs in every process, with that
    process's own step terms; training stops when any process's callback asks.

    Returns:
        The per-epoch metrics of the whole run (including epochs before a resume).

    Raises:
        TrainingDiverged: on a NaN or infinite loss; the previous epoch's checkpoint stays in place.
        ConfigError, CheckpointError: see [`resume_or_init`][vae.start.resume_or_init] and
            [`training_splits`][vae.training.training_splits] (sizes the data cannot hold).
        DataError: a conditional model given labels beyond its `num_classes` (checked before anything is written).
        DistributedError: another process of the group crashed or stopped answering.
    """
    if callback_every < 1:
        raise ConfigError(f"callback_every must be a positive number of steps, not {callback_every!r}")
    if snapshots and out_dir is None:
        raise ConfigError("snapshots are kept in the run folder: give out_dir, or train in memory without snapshots")
    group = distributed.current()  # None: one process
    # rank 0 checks and sets up the run folder (a resumed history trimmed) first, then the others read it
    with distributed.lost_processes(group, "starting"), distributed.main_first(group):
        start = resume_or_init(out_dir, model_config, train_config, resume=resume, init_from=init_from)
        train_data, val_data = training_splits(train_data, test_data, model_config, train_config)
        dev = resolve_device(device) if group is None else group.device
        torch.manual_seed(train_config.seed)
        model = build_model(model_config, train_config.decoder_dropout).to(dev)
        optimizer = build_optimizer(model, train_config)
        start.restore(model, optimizer)
        main = group is None or group.is_main
        loop = Loop(model, optimizer, train_config, train_data, dev, _run_folder(out_dir), callback, callback_every,
                    progress and main, grids, group=group, main=main,
                    lines=main and (progress if epoch_lines is None else epoch_lines))
        loop.prepare(start.epoch, test_data, val_data, snapshots)
    with distributed.lost_processes(group, "training"):
        loop.loss = distributed.data_parallel(model, lambda m, x, y, beta: training_loss(m, x, y, train_config, beta), group)
        if main and log_dir is not None:
            loop.tensorboard = _open_tensorboard(log_dir, model_config, train_config)
        try:
            for epoch in range(start.epoch, train_config.epochs):
                if train_epoch(loop, epoch):
                    break
        finally:
            if loop.tensorboard is not None:
                loop.tensorboard.close()
    return loop.history


def _open_tensorboard(log_dir: str | Path, model_config: ModelConfig, train_config: TrainConfig) -> Any:
    from .tensorboard import TensorBoardLog

    log = TensorBoardLog(log_dir)
    log.log_configs(model_config, train_config)
    return log


def _run_folder(out_dir: str | Path | None) -> Run | None:
    """The run folder's records, the folder created if needed (None: training in memory)."""
    if out_dir is None:
        return None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return Run.load(out_dir)


def training_splits(train_data: MNIST, test_data: MNIST, model_config: ModelConfig,
                    train_config: TrainConfig) -> tuple[MNIST, MNIST]:
    """The images a run trains on and its validation split, once the data is checked against the run (nothing is written).

    `vae train` calls it before it writes the run's records, [`train`][vae.training.train] again.

    Raises:
        ConfigError: `train_size` and `val_size` that the training images cannot hold, or no image left to train on.
        DataError: a conditional model given labels beyond its `num_classes` (they would stop the run mid-epoch).
    """
    train, val = _validation_split(train_data, train_config)
    if len(train) == 0:
        raise ConfigError("there are no training images to train on")
    if model_config.is_conditional:
        for split in (train, val, test_data):
            check_labels(split, model_config.num_classes, train_config.dataset)
    return train, val


def _validation_split(train_data: MNIST, config: TrainConfig) -> tuple[MNIST, MNIST]:
    """The images to train on (the first `train_size` before the validation split) and the split (the last `val_size`)."""
    if config.val_size == 0:
        if config.train_size is not None and config.train_size > len(train_data):
            raise ConfigError(f"train_size {config.train_size:,} is more than the {len(train_data):,} training images: "
                              f"choose at most {len(train_data):,}, or leave it out to train on all of them")
        return train_data.subset(config.train_size), train_data.subset(0)  # no split: an empty one
    try:
        rest, val = train_data.split_off(config.val_size)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if config.train_size is not None and config.train_size > len(rest):
        raise ConfigError(f"train_size {config.train_size:,} + val_size {config.val_size:,} is more than the "
                          f"{len(train_data):,} training images: the validation split is the last val_size, and "
                          f"training uses the first train_size of the {len(rest):,} before it")
    return rest.subset(config.train_size), val


__all__ = [
    "resolve_device",
    "train",
    "training_splits",
]

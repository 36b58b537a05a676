r"""The epochs of a training run: the optimisation steps, then the epoch's record, with the progress callback.

[`vae.train`][vae.training.train] gathers what its epochs share into a [`Loop`][vae.epochs.Loop]
and calls [`train_epoch`][vae.epochs.train_epoch] for each epoch: the steps (`_steps`: seed the
epoch, shuffle, binarize, [`training_loss`][vae.optimization.training_loss] at the scheduled KL
weight and learning rate of [`vae.optimization`][vae.optimization], backward, clip, step), then the
end-of-epoch bookkeeping (`_end_epoch`), each in its own function below. A loss that is not finite
stops the run with [`TrainingDiverged`][vae.epochs.TrainingDiverged]; the callback is given a
[`TrainingProgress`][vae.epochs.TrainingProgress].

With a run folder, every epoch writes into it:

- `checkpoint/` — `model.safetensors`, `config.json`, `metrics.json`, `optimizer.safetensors`,
  `state.json`, replaced atomically (see [`vae.checkpoint`][vae.checkpoint]);
- one line of `history.jsonl` with the epoch's metrics: the training averages, the test loss and,
  with `val_size > 0`, the loss on the validation split held out of the training set (`val_loss`,
  `val_reconstruction`, `val_kl`), the number to choose models and stopping epochs on;
- `grids/epoch_XXXX.png` — test digits, their reconstructions and samples from fixed prior codes;
- with `snapshots=True` (`vae train --snapshots`), `snapshots/epoch_XXXX.safetensors` — what the
  training movie's frame of the epoch shows (see [`vae.movie`][vae.movie]), written before the
  checkpoint; a resumed run that has them keeps taking them.

Without one the epochs keep the same records in memory and write nothing (see
[`vae.runs`][vae.runs] for what a run folder holds). With a TensorBoard log, the records and grids
also go to it ([`vae.tensorboard`][vae.tensorboard]).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from . import distributed
from .checkpoint import write_checkpoint
from .config import TrainConfig
from .data import MNIST, binarize, binarized_test_set
from .evaluation import average_loss
from .latent import sample_prior
from .models import VAE, EncoderDecoder, num_parameters
from .movie import MAP_DIGITS, MovieInputs, has_snapshots, keep_snapshots, take_snapshot, write_snapshot
from .optimization import kl_weight, learning_rate, set_learning_rate, training_loss
from .records import CheckpointState
from .runs import Run


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def grid_rows(
    model: EncoderDecoder, images: torch.Tensor, labels: torch.Tensor, z: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Test images (n, C, H, W), their reconstructions (n, C, H, W) and the samples decoded from the fixed codes z (m, C, H, W)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        y = labels.to(device) if model.config.is_conditional else None
        recon = model.reconstruct(images.to(device), y).cpu()
        sample_y = (torch.arange(z.shape[0]) % model.config.num_classes).to(device) if model.config.is_conditional else None
        samples = model.decoder_mean(z.to(device), sample_y).cpu()
    model.train(was_training)
    return images, recon, samples


def save_grid(model: EncoderDecoder, images: torch.Tensor, labels: torch.Tensor, z: torch.Tensor, path: Path) -> None:
    """Rows: test digits, their reconstructions, then decoded samples from the fixed codes z ([`grid_rows`][vae.epochs.grid_rows])."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(grid_rows(model, images, labels, z)), str(path), nrow=images.shape[0], padding=1, pad_value=0.5)


@dataclass(frozen=True)
class TrainingProgress:
    """What a training callback is given (see `callback` in [`train`][vae.training.train]).

    Attributes:
        step: the index of the step just taken in the whole run, from 0 (as
            [`kl_weight`][vae.optimization.kl_weight] and [`learning_rate`][vae.optimization.learning_rate] count).
        epoch: the epoch it belongs to, from 1.
        steps_per_epoch: optimisation steps per epoch.
        total_steps: steps of the whole run.
        terms: the step's loss terms, each averaged over its batch (`loss`, and `reconstruction` and
            `kl`, or `iwae`), as floats.
        beta: the step's KL weight.
        lr: the step's learning rate.
        history: the records of the epochs finished so far (at the end of an epoch, including it).
        model: the model being trained, as it trains: in train mode (and, mid-epoch with
            `precision="bf16"`, its networks in bfloat16). Look at it inside
            [`evaluating`][vae.epochs.TrainingProgress.evaluating].
    """

    step: int
    epoch: int
    steps_per_epoch: int
    total_steps: int
    terms: dict[str, float]
    beta: float
    lr: float
    history: list[dict[str, Any]]
    model: EncoderDecoder

    @property
    def epoch_end(self) -> bool:
        """Whether the step was its epoch's last (its record is then the last of `history`)."""
        return (self.step + 1) % self.steps_per_epoch == 0

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[EncoderDecoder]:
        """The model in eval mode (no dropout), in float32 and without gradients, for pictures and scores; restored after.

        ```python
        def show(p: vae.TrainingProgress) -> None:
            with p.evaluating() as model:
                codes = model.embed(test_images)  # (N, D)
        ```
        """
        was_training = self.model.training
        self.model.eval()
        try:
            with self.model.precision("fp32"), torch.no_grad():
                yield self.model
        finally:
            self.model.train(was_training)


@dataclass
class Loop:
    """What the epochs of one [`train`][vae.training.train] call share: the model, its optimizer and data, the run
    folder's records, the callback, and what [`prepare`][vae.epochs.Loop.prepare] fixes before the first epoch."""

    model: EncoderDecoder
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    data: MNIST  # the images trained on
    device: torch.device
    run: Run | None  # the run folder's records (None: in memory)
    callback: Callable[[TrainingProgress], bool | None] | None
    callback_every: int
    progress: bool
    grids: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    scored: dict[str, MNIST] = field(default_factory=dict)  # "test", "val": what the per-epoch losses score
    grid: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # test digits, their labels, fixed prior codes
    movie: MovieInputs | None = None  # what the snapshots are made from (None: no snapshots)
    started: float = 0.0  # perf_counter() at the run's wall-clock 0 (earlier when resumed)
    group: distributed.Group | None = None  # the process group (None: one process)
    main: bool = True  # whether this process writes the run's files (rank 0, or the only process)
    lines: bool = False  # print a line per epoch (this process's; rank 0's only under torchrun)
    loss: Callable[..., dict[str, torch.Tensor]] | None = None  # (x, y, beta) -> terms: training_loss, through DDP in a group
    tensorboard: Any = None  # a vae.tensorboard.TensorBoardLog (None: no events)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.data) / self.config.batch_size)

    def prepare(self, epoch: int, test: MNIST, val: MNIST, snapshots: bool = False) -> None:
        """The history (and snapshots) so far, the fixed images the epochs score and draw, and the wall clock."""
        if self.run is not None and not self.main:  # the others read what rank 0 kept; they write nothing
            self.history = [r for r in self.run.history if r["epoch"] <= epoch]
        else:
            self.history = self.run.keep_epochs(epoch) if self.run is not None else []
        if self.run is not None:
            if self.main:
                keep_snapshots(self.run.folder, epoch)
            snapshots = snapshots or has_snapshots(self.run.folder)  # a run that takes them keeps taking them
        bits = self.config.binarize == "dynamic"  # one fixed binarization of the scored images
        self.scored = {name: MNIST(binarized_test_set(split) if bits else split.images, split.labels) for name, split in
                       (("test", test), ("val", val))}
        codes = torch.Generator().manual_seed(self.config.seed)
        z = (self.model.prior.sample(30, generator=codes) if isinstance(self.model, VAE)  # (30, D)
             else sample_prior(30, self.model.config.latent_dim, generator=codes, device=self.device))  # no prior: N(0, I)
        self.grid = (self.scored["test"].images[:10], test.labels[:10], z)
        if snapshots and self.run is not None:
            self.movie = MovieInputs(self.scored["test"].images[:MAP_DIGITS], test.labels[:MAP_DIGITS], z)
        self.started = time.perf_counter() - (self.history[-1]["wall_seconds"] if self.history else 0.0)


def train_epoch(loop: Loop, epoch: int) -> bool:
    """One epoch: its steps, then its record. True when the callback asked to stop."""
    started = time.perf_counter()
    stopped, sums, last = _steps(loop, epoch)
    if stopped:
        return True
    sums = distributed.sum_over_processes(sums, loop.group)  # each process summed its own shard's terms
    _end_epoch(loop, epoch, sums, last, time.perf_counter() - started)
    return _report(loop, last)


def _steps(loop: Loop, epoch: int) -> tuple[bool, dict[str, float], TrainingProgress]:
    """The optimisation steps of one epoch: whether the callback stopped them, the terms summed over images, the last step."""
    from tqdm import tqdm  # the plain bar: tqdm.auto needs ipywidgets inside notebooks

    config, model, data = loop.config, loop.model, loop.data
    spe, n = loop.steps_per_epoch, len(data)
    total = spe * config.epochs
    generator = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))  # shuffling and binarization
    torch.manual_seed(distributed.rank_seed(_epoch_seed(config.seed, epoch), loop.group))  # reparameterization noise (and dropout)
    order = torch.randperm(n, generator=generator)
    sums: dict[str, float] = {}
    model.train()
    bar = tqdm(range(spe), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not loop.progress, leave=False)
    with model.precision(config.precision):  # the networks only; the test loss, grids and saved model are float32
        for i in bar:
            step = epoch * spe + i
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            x = data.images[idx]  # (B, C, H, W) gray levels: the global batch
            if config.binarize == "dynamic":
                x = binarize(x, generator)  # the whole batch, in every process: the same bits as in one process
            part, count, weight = distributed.shard(len(idx), loop.group)  # this process's share (all of it in one process)
            x, y = x[part].to(loop.device), data.labels[idx][part].to(loop.device)
            beta, lr = kl_weight(config, step, spe), learning_rate(config, step, total)
            set_learning_rate(loop.optimizer, lr)
            terms = loop.loss(x, y, beta) if loop.loss is not None else training_loss(model, x, y, config, beta)
            _check_finite(loop, terms["loss"], epoch, i)
            loop.optimizer.zero_grad(set_to_none=True)
            # weight N n_r / B: DDP's average of the processes' gradients is the global batch's mean (vae.distributed.shard)
            (terms["loss"] if weight == 1 else terms["loss"] * weight).backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            loop.optimizer.step()
            values = {k: v.item() for k, v in terms.items()}
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v * count
            last = TrainingProgress(step, epoch + 1, spe, total, values, beta, lr, loop.history, model)
            if i % 20 == 0:
                bar.set_postfix(loss=f"{values['loss']:.2f}", beta=f"{beta:.2f}")
            if i < spe - 1 and (step + 1) % loop.callback_every == 0 and _report(loop, last):
                bar.close()
                return True, sums, last
    bar.close()
    return False, sums, last


def _check_finite(loop: Loop, loss: torch.Tensor, epoch: int, i: int) -> None:
    if not torch.isfinite(loss):
        kept = f"The last good checkpoint (epoch {epoch}) is kept in {loop.run.folder / 'checkpoint'}. " if loop.run else ""
        raise TrainingDiverged(f"the loss became {loss.item()} at epoch {epoch + 1}, step {i + 1}; training stopped. "
                               f"{kept}Try a lower --lr, --grad-clip, or a longer --warmup.")


def _end_epoch(loop: Loop, epoch: int, sums: dict[str, float], last: TrainingProgress, seconds: float) -> None:
    """Score the epoch's model, record it (history, checkpoint, grid) and print a line."""
    config, model = loop.config, loop.model
    test, val = loop.scored["test"], loop.scored["val"]
    evaluation = average_loss(model, test.images, test.labels, config.eval_batch_size, loop.device)
    validation = average_loss(model, val.images, val.labels, config.eval_batch_size, loop.device) if len(val) else {}
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        **{f"train_{k}": v / len(loop.data) for k, v in sums.items()},
        **{f"val_{k}": v for k, v in validation.items()},
        "test_loss": evaluation["loss"],
        "test_reconstruction": evaluation["reconstruction"],
        "test_kl": evaluation["kl"],
        "beta": last.beta,
        "lr": last.lr,
        "epoch_seconds": seconds,
        "wall_seconds": time.perf_counter() - loop.started,
    }
    loop.history.append(record)
    if loop.run is not None and loop.main:
        if loop.movie is not None:  # before the checkpoint: every checkpointed epoch has its snapshot
            write_snapshot(loop.run.folder, take_snapshot(model, loop.movie, epoch + 1))
        state = CheckpointState(epoch + 1, config, num_parameters(model))
        write_checkpoint(loop.run.folder, model, loop.optimizer, state.to_dict(), record)
        loop.run.append_epoch(record)
        if loop.grids and loop.grid is not None:
            save_grid(model, *loop.grid, loop.run.folder / "grids" / f"epoch_{epoch + 1:04d}.png")
    if loop.tensorboard is not None and loop.grid is not None:
        loop.tensorboard.log_epoch(record, grid_rows(model, *loop.grid))
    if loop.lines:
        val_text = f"val -ELBO {record['val_loss']:.2f}  " if validation else ""
        line = (f"epoch {epoch + 1}/{config.epochs}: train loss {record['train_loss']:.2f}  {val_text}test -ELBO "
                f"{record['test_loss']:.2f} (rec {record['test_reconstruction']:.2f}, KL {record['test_kl']:.2f})  {seconds:.1f}s")
        if loop.progress:  # above the progress bar
            from tqdm import tqdm

            tqdm.write(line)
        else:  # a log: one line as each epoch ends
            print(line, flush=True)


def _report(loop: Loop, last: TrainingProgress) -> bool:
    """Call the callback, if any, with torch's random state saved and restored; True when it (in any process) asks to stop."""
    if loop.callback is None:
        return distributed.any_process(False, loop.group)  # every process takes part, whether or not it has a callback
    fork = torch.random.fork_rng(devices=[]) if loop.device.type == "cpu" else torch.random.fork_rng(device_type=loop.device.type)
    with fork:
        stop = bool(loop.callback(replace(last, history=list(loop.history))))
    return distributed.any_process(stop, loop.group)


__all__ = [
    "Loop",
    "TrainingDiverged",
    "TrainingProgress",
    "grid_rows",
    "save_grid",
    "train_epoch",
]

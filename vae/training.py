r"""The training loop: KL warm-up, a learning-rate schedule, atomic per-epoch checkpoints, exact resume, a progress hook.

[`train`][vae.training.train] reads as the run it performs: decide where the run starts
([`resume_or_init`][vae.runs.resume_or_init]), build the model and optimizer, then for every
epoch the steps and the end-of-epoch bookkeeping, each in its own function below.

Determinism: every source of randomness in epoch e (shuffling, dynamic binarization and the
reparameterization noise) is seeded from `(seed, e)` at the start of the epoch, so a run resumed
from the checkpoint of epoch e continues exactly as the uninterrupted run would (on the same
device and thread count), with no random-number-generator state to save. The noise (and decoder
dropout) come from torch's global generator, so run one training per process at a time; the
evaluations use their own generators ([`vae.evaluation`][vae.evaluation]) and a progress callback
runs with the global generator's state saved and restored, so neither changes the run.

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

Without one (`out_dir=None`) the run stays in memory: the same epochs and records, no files (see
[`vae.runs`][vae.runs] for what a run folder holds). With `log_dir`, the records and grids also go
to TensorBoard ([`vae.tensorboard`][vae.tensorboard]).

Inside a process group ([`vae.distributed`][vae.distributed], `torchrun ... -m vae train`) the same
loop runs in every process on its shard of every global batch, under DistributedDataParallel; only
rank 0 writes.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from . import distributed
from .checkpoint import write_checkpoint
from .config import ConfigError, ModelConfig, TrainConfig
from .data import MNIST, binarize, binarized_test_set
from .evaluation import average_loss
from .latent import sample_prior
from .models import VAE, EncoderDecoder, build_model, num_parameters
from .movie import MAP_DIGITS, MovieInputs, has_snapshots, keep_snapshots, take_snapshot, write_snapshot
from .objectives import iwae_bound
from .runs import CheckpointState, Run, resume_or_init


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def resolve_device(name: str = "auto") -> torch.device:
    """`"auto"` picks CUDA, then Apple MPS, then the CPU; any other name is passed to torch."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda or mps") from err


def kl_weight(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    r"""The KL weight at a step: $\beta \min(1, \text{step} / (\text{warmup\_epochs} \cdot \text{steps per epoch}))$."""
    if config.warmup_epochs <= 0:
        return config.beta
    return config.beta * min(1.0, step / (config.warmup_epochs * steps_per_epoch))


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    r"""The learning rate at a step: constant, or cosine decay from `lr` to `lr * min_lr_ratio`.

    With `lr_warmup_steps` = W > 0, that value times $\min(1, (\text{step} + 1) / W)$: a linear rise over the
    first W steps (the cosine still spans the whole run).
    """
    if config.lr_schedule == "constant":
        lr = config.lr
    else:
        progress = min(1.0, step / max(1, total_steps))
        floor = config.lr * config.min_lr_ratio
        lr = floor + 0.5 * (config.lr - floor) * (1.0 + math.cos(math.pi * progress))
    if config.lr_warmup_steps > 0:
        lr *= min(1.0, (step + 1) / config.lr_warmup_steps)
    return lr


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def training_loss(
    model: EncoderDecoder, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, beta: float,
) -> dict[str, torch.Tensor]:
    r"""The loss to minimise on one batch, with its terms, each averaged over the batch.

    - `objective="elbo"`: $w \cdot \text{reconstruction} + \beta \cdot \mathrm{KL}$, the negative
      ELBO for $w$ = `reconstruction_weight` = 1 (terms `loss`, `reconstruction`, `kl`); an
      autoencoder's is its reconstruction term ($\mathrm{KL} = 0$);
    - `objective="iwae"`: minus the k-sample bound (terms `loss`, `iwae`), its gradient the bound's
      own or, with `iwae_gradient="dreg"`, the doubly reparameterized estimator
      ([`VAE.iwae_dreg_loss`][vae.models.VAE.iwae_dreg_loss]).

    The noise comes from torch's global generator; the networks run in the model's precision
    (see [`EncoderDecoder.precision`][vae.models.EncoderDecoder.precision]). `y` (B,) is used by a
    conditional model only.
    """
    y = y if model.config.is_conditional else None
    if isinstance(model, VAE) and config.objective == "iwae":
        if config.iwae_gradient == "dreg":
            loss, bound = model.iwae_dreg_loss(x, config.iwae_k, y)
            return {"loss": loss, "iwae": bound.mean()}
        bound = iwae_bound(model.log_importance_weights(x, config.iwae_k, y)).mean()  # mean over the batch of the k-sample bound
        return {"loss": -bound, "iwae": bound}
    terms = model(x, y, beta=beta) if isinstance(model, VAE) else model(x, y)
    weight = config.reconstruction_weight  # 1: the (beta-)ELBO's own loss, exactly
    loss = terms.loss if weight == 1 else weight * terms.reconstruction + beta * terms.kl
    return {"loss": loss, "reconstruction": terms.reconstruction, "kl": terms.kl}


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
    """Rows: test digits, their reconstructions, then decoded samples from the fixed codes z ([`grid_rows`][vae.training.grid_rows])."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(grid_rows(model, images, labels, z)), str(path), nrow=images.shape[0], padding=1, pad_value=0.5)


@dataclass(frozen=True)
class TrainingProgress:
    """What a training callback is given (see `callback` in [`train`][vae.training.train]).

    Attributes:
        step: the index of the step just taken in the whole run, from 0 (as
            [`kl_weight`][vae.training.kl_weight] and [`learning_rate`][vae.training.learning_rate] count).
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
            [`evaluating`][vae.training.TrainingProgress.evaluating].
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
        callback: called with a [`TrainingProgress`][vae.training.TrainingProgress] after every
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

    Inside a process group ([`vae.distributed.setup`][vae.distributed.setup]; `torchrun`) every
    process calls `train` with the same arguments: `train_config.batch_size` is then the global
    batch, each process trains on its shard of it, only rank 0 writes files and shows progress, and
    every process returns the same history. The callback runs in every process, with that
    process's own step terms; training stops when any process's callback asks.

    Returns:
        The per-epoch metrics of the whole run (including epochs before a resume).

    Raises:
        TrainingDiverged: on a NaN or infinite loss; the previous epoch's checkpoint stays in place.
        ConfigError, CheckpointError: see [`resume_or_init`][vae.runs.resume_or_init].
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
        train_data, val_data = _validation_split(train_data, train_config)
        if len(train_data) == 0:
            raise ConfigError("there are no training images to train on")
        dev = resolve_device(device) if group is None else group.device
        torch.manual_seed(train_config.seed)
        model = build_model(model_config, train_config.decoder_dropout).to(dev)
        optimizer = torch.optim.Adam(_param_groups(model, train_config), lr=train_config.lr, **_adam_options(train_config))
        start.restore(model, optimizer)
        main = group is None or group.is_main
        loop = _Loop(model, optimizer, train_config, train_data, dev, _run_folder(out_dir), callback, callback_every,
                     progress and main, grids, group=group, main=main)
        loop.prepare(start.epoch, test_data, val_data, snapshots)
    with distributed.lost_processes(group, "training"):
        loop.loss = distributed.data_parallel(model, lambda m, x, y, beta: training_loss(m, x, y, train_config, beta), group)
        if main and log_dir is not None:
            loop.tensorboard = _open_tensorboard(log_dir, model_config, train_config)
        try:
            for epoch in range(start.epoch, train_config.epochs):
                if _train_epoch(loop, epoch):
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


@dataclass
class _Loop:
    """What the epochs of one `train` call share."""

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


def _train_epoch(loop: _Loop, epoch: int) -> bool:
    """One epoch: its steps, then its record. True when the callback asked to stop."""
    started = time.perf_counter()
    stopped, sums, last = _steps(loop, epoch)
    if stopped:
        return True
    sums = distributed.sum_over_processes(sums, loop.group)  # each process summed its own shard's terms
    _end_epoch(loop, epoch, sums, last, time.perf_counter() - started)
    return _report(loop, last)


def _steps(loop: _Loop, epoch: int) -> tuple[bool, dict[str, float], TrainingProgress]:
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
            for group in loop.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)  # checkpoints before prior_lr have no scale
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


def _check_finite(loop: _Loop, loss: torch.Tensor, epoch: int, i: int) -> None:
    if not torch.isfinite(loss):
        kept = f"The last good checkpoint (epoch {epoch}) is kept in {loop.run.folder / 'checkpoint'}. " if loop.run else ""
        raise TrainingDiverged(f"the loss became {loss.item()} at epoch {epoch + 1}, step {i + 1}; training stopped. "
                               f"{kept}Try a lower --lr, --grad-clip, or a longer --warmup.")


def _end_epoch(loop: _Loop, epoch: int, sums: dict[str, float], last: TrainingProgress, seconds: float) -> None:
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
    if loop.progress:
        from tqdm import tqdm

        val_text = f"val -ELBO {record['val_loss']:.2f}  " if validation else ""
        tqdm.write(f"epoch {epoch + 1}: train loss {record['train_loss']:.2f}  {val_text}test -ELBO {record['test_loss']:.2f} "
                   f"(rec {record['test_reconstruction']:.2f}, KL {record['test_kl']:.2f})  {seconds:.1f}s")


def _report(loop: _Loop, last: TrainingProgress) -> bool:
    """Call the callback, if any, with torch's random state saved and restored; True when it (in any process) asks to stop."""
    if loop.callback is None:
        return distributed.any_process(False, loop.group)  # every process takes part, whether or not it has a callback
    fork = torch.random.fork_rng(devices=[]) if loop.device.type == "cpu" else torch.random.fork_rng(device_type=loop.device.type)
    with fork:
        stop = bool(loop.callback(replace(last, history=list(loop.history))))
    return distributed.any_process(stop, loop.group)


def _validation_split(train_data: MNIST, config: TrainConfig) -> tuple[MNIST, MNIST]:
    """The images to train on (the first `train_size` before the validation split) and the split (the last `val_size`)."""
    if config.val_size == 0:
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


def _adam_options(config: TrainConfig) -> dict[str, Any]:
    """`torch.optim.Adam`'s options beyond torch's defaults: `fused=True` for `"fused"`, `betas` for another beta2."""
    options: dict[str, Any] = {"fused": True} if config.adam_implementation == "fused" else {}
    if config.adam_beta2 != 0.999:
        options["betas"] = (0.9, config.adam_beta2)
    return options


def _param_groups(model: EncoderDecoder, config: TrainConfig) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: the networks at `lr`, a learned prior at `prior_lr` (each `lr_scale` times
    the scheduled learning rate)."""
    networks = [p for name, p in model.named_parameters() if not name.startswith("prior.")]
    prior = [p for name, p in model.named_parameters() if name.startswith("prior.")]
    groups = [{"params": networks, "lr_scale": 1.0}]
    if prior:
        groups.append({"params": prior, "lr_scale": (config.prior_lr or config.lr) / config.lr})
    return groups

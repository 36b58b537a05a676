r"""The training loop: KL warm-up, a learning-rate schedule, atomic per-epoch checkpoints, exact resume.

Determinism: every source of randomness in epoch e (shuffling, dynamic binarization and the
reparameterization noise) is seeded from `(seed, e)` at the start of the epoch, so a run resumed
from the checkpoint of epoch e continues exactly as the uninterrupted run would (on the same
device and thread count), with no random-number-generator state to save.

Every epoch writes, into the run folder:

- `checkpoint/` — `model.safetensors`, `config.json`, `metrics.json`, `optimizer.safetensors`,
  `state.json`, replaced atomically (see [`vae.checkpoint`][vae.checkpoint]);
- one line of `history.jsonl` with the epoch's metrics: the training averages, the test loss and,
  with `val_size > 0`, the loss on the validation split held out of the training set (`val_loss`,
  `val_reconstruction`, `val_kl`), the number to choose models and stopping epochs on;
- `grids/epoch_XXXX.png` — test digits, their reconstructions and samples from fixed prior codes
  (assemble a training movie with e.g. `ffmpeg -i grids/epoch_%04d.png movie.gif`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch

from .checkpoint import CheckpointError, load, load_state, read_checkpoint, recover_checkpoint, restore_optimizer, write_checkpoint
from .config import ConfigError, ModelConfig, TrainConfig, from_dict, read_jsonl, to_dict
from .data import MNIST, binarize, binarized_test_set
from .models import VAE, build_model, num_parameters
from .objectives import iwae_bound

HISTORY = "history.jsonl"


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
    """The learning rate at a step: constant, or cosine decay from `lr` to `lr * min_lr_ratio`."""
    if config.lr_schedule == "constant":
        return config.lr
    progress = min(1.0, step / max(1, total_steps))
    floor = config.lr * config.min_lr_ratio
    return floor + 0.5 * (config.lr - floor) * (1.0 + math.cos(math.pi * progress))


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def training_loss(model: VAE, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, beta: float) -> dict[str, torch.Tensor]:
    """The loss to minimise on one batch, with its terms (each averaged over the batch)."""
    if config.objective == "iwae" and config.iwae_gradient == "dreg":
        loss, bound = model.iwae_dreg_loss(x, config.iwae_k, y if model.config.is_conditional else None)
        return {"loss": loss, "iwae": bound.mean()}
    if config.objective == "iwae":
        log_w = model.log_importance_weights(x, config.iwae_k, y if model.config.is_conditional else None)  # (B, k)
        bound = iwae_bound(log_w).mean()  # mean over the batch of the k-sample bound
        return {"loss": -bound, "iwae": bound}
    terms = model(x, y if model.config.is_conditional else None, beta=beta)
    return {"loss": terms.loss, "reconstruction": terms.reconstruction, "kl": terms.kl}


@torch.no_grad()
def test_loss(model: VAE, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device, seed: int = 0) -> dict[str, float]:
    """Negative ELBO (one posterior sample per image) and its terms, averaged over the test images."""
    was_training = model.training
    model.eval()
    fork = torch.random.fork_rng(devices=[]) if device.type == "cpu" else torch.random.fork_rng()
    with fork:
        torch.manual_seed(seed)
        totals = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0}
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            terms = model(x, y if model.config.is_conditional else None)
            n = x.shape[0]
            totals["loss"] += terms.loss.item() * n
            totals["reconstruction"] += terms.reconstruction.item() * n
            totals["kl"] += terms.kl.item() * n
    model.train(was_training)
    return {k: v / images.shape[0] for k, v in totals.items()}


def save_grid(model: VAE, images: torch.Tensor, labels: torch.Tensor, z: torch.Tensor, path: Path) -> None:
    """Rows: test digits, their reconstructions, then decoded samples from the fixed codes z."""
    from torchvision.utils import save_image

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        y = labels.to(device) if model.config.is_conditional else None
        recon = model.reconstruct(images.to(device), y).cpu()
        sample_y = (torch.arange(z.shape[0]) % model.config.num_classes).to(device) if model.config.is_conditional else None
        samples = model.decoder_mean(z.to(device), sample_y).cpu()
    model.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat([images, recon, samples]), str(path), nrow=images.shape[0], padding=1, pad_value=0.5)


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    out_dir: str | Path,
    train_data: MNIST,
    test_data: MNIST,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    grids: bool = True,
    stop_after: int | None = None,
    on_batch: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
    init_from: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Train a model, writing a checkpoint, a history line and a grid after every epoch.

    Args:
        model_config: the network to train.
        train_config: the run's hyperparameters.
        out_dir: the run folder (created if needed).
        train_data, test_data: in-memory MNIST splits (see [`load_mnist`][vae.data.load_mnist]). With
            `train_config.val_size = N` the last N images of `train_data` are held out as the
            validation split and never trained on.
        device: `"auto"`, `"cpu"`, `"cuda"` or `"mps"`.
        resume: continue from `out_dir/checkpoint/` (the configs must match; only `epochs` may grow).
        progress: show a tqdm progress bar with the live loss.
        grids: save the per-epoch image grid.
        stop_after: stop after this many epochs in this call (for tests of resuming).
        on_batch: called with (global step, loss terms) after every step (for tests and logging).
        init_from: start from the weights of this saved model (a model folder, run folder or shipped
            name) instead of a random initialization: fine-tuning. Its config must equal `model_config`.
            Ignored when resuming (the checkpoint already holds the weights).

    Returns:
        The per-epoch metrics of the whole run (including epochs before a resume).

    Raises:
        TrainingDiverged: on a NaN or infinite loss; the previous epoch's checkpoint stays in place.
    """
    from tqdm import tqdm  # the plain bar: tqdm.auto needs ipywidgets inside notebooks

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    if model_config.kind == "ae" and train_config.objective == "iwae":
        raise ConfigError("an autoencoder cannot be trained with the IWAE objective (it has no posterior)")
    if model_config.is_gaussian and train_config.binarize != "none":
        raise ConfigError(f"a Gaussian decoder (likelihood {model_config.likelihood!r}) is a density on gray levels: "
                          "train it with binarize 'none' (--binarize none), not on binarized digits")
    train_data, val_data = _validation_split(train_data, train_config)

    torch.manual_seed(train_config.seed)
    model = build_model(model_config, train_config.decoder_dropout).to(dev)
    optimizer = torch.optim.Adam(_param_groups(model, train_config), lr=train_config.lr)
    history: list[dict[str, Any]] = []
    start_epoch = 0

    checkpoint = recover_checkpoint(out)
    if resume:
        if checkpoint is None:
            raise CheckpointError(f"--resume: no checkpoint in {out}/checkpoint to resume from")
        saved_model, weights, opt_tensors, state = read_checkpoint(checkpoint)
        saved_train = from_dict(TrainConfig, state["train_config"])
        if saved_model != model_config:
            raise ConfigError(f"--resume: the model config differs from the checkpoint's ({saved_model})")
        if replace(saved_train, epochs=train_config.epochs) != train_config:
            raise ConfigError(f"--resume: the training config differs from the checkpoint's ({saved_train}); only epochs may change")
        load_state(model, {k: v.to(dev) for k, v in weights.items()}, checkpoint)
        restore_optimizer(optimizer, opt_tensors, state["optimizer"])
        start_epoch = state["epoch"]
        history = _read_history(out / HISTORY, start_epoch)
    elif checkpoint is not None:
        raise CheckpointError(f"{out} already holds a checkpoint: pass --resume to continue it, or choose another --out")
    elif init_from is not None:
        start = load(init_from, device=dev)
        new_prior = start.config.prior_components == 0 and start.config == replace(model_config, prior_components=0)
        if start.config != model_config and not new_prior:
            raise ConfigError(f"--init-from: {init_from} is a {start.config}, not the {model_config} to train "
                              "(of the model options only a standard normal prior may change, to a learned one)")
        model.load_state_dict(start.state_dict(), strict=not new_prior)  # a new learned prior keeps its initialisation

    test_bits = binarized_test_set(test_data) if train_config.binarize == "dynamic" else test_data.images
    val_bits = binarized_test_set(val_data) if train_config.binarize == "dynamic" else val_data.images  # one fixed binarization
    grid_images, grid_labels = test_bits[:10], test_data.labels[:10]
    grid_z = model.prior.sample(30, generator=torch.Generator().manual_seed(train_config.seed))  # (30, D)

    n = len(train_data)
    steps_per_epoch = math.ceil(n / train_config.batch_size)
    total_steps = steps_per_epoch * train_config.epochs
    last_epoch = train_config.epochs if stop_after is None else min(train_config.epochs, start_epoch + stop_after)
    run_start = time.perf_counter() - (history[-1]["wall_seconds"] if history else 0.0)

    for epoch in range(start_epoch, last_epoch):
        epoch_start = time.perf_counter()
        model.train()
        gen = torch.Generator().manual_seed(_epoch_seed(train_config.seed, epoch))
        torch.manual_seed(_epoch_seed(train_config.seed, epoch))  # reparameterization noise
        order = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        model.low_precision = train_config.precision == "bf16"  # the networks only; see VAE._run
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{train_config.epochs}", disable=not progress, leave=False)
        for i in bar:
            step = epoch * steps_per_epoch + i
            idx = order[i * train_config.batch_size : (i + 1) * train_config.batch_size]
            x = train_data.images[idx]  # (B, 1, 28, 28) gray levels
            if train_config.binarize == "dynamic":
                x = binarize(x, gen)
            x, y = x.to(dev), train_data.labels[idx].to(dev)
            beta = kl_weight(train_config, step, steps_per_epoch)
            lr = learning_rate(train_config, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)  # checkpoints before prior_lr have no scale
            terms = training_loss(model, x, y, train_config, beta)
            loss = terms["loss"]
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, step {i + 1}; training stopped. "
                    f"The last good checkpoint (epoch {epoch}) is kept in {out / 'checkpoint'}. "
                    "Try a lower --lr, --grad-clip, or a longer --warmup."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if train_config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
            optimizer.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.item() * x.shape[0]
            if on_batch is not None:
                on_batch(step, terms)
            if i % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.2f}", beta=f"{beta:.2f}")
        bar.close()
        model.low_precision = False  # the per-epoch test loss, the grids and the saved model are float32
        seconds = time.perf_counter() - epoch_start
        evaluation = test_loss(model, test_bits, test_data.labels, train_config.eval_batch_size, dev)
        validation = test_loss(model, val_bits, val_data.labels, train_config.eval_batch_size, dev) if len(val_data) else {}
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            **{f"train_{k}": v / n for k, v in sums.items()},
            **{f"val_{k}": v for k, v in validation.items()},
            "test_loss": evaluation["loss"],
            "test_reconstruction": evaluation["reconstruction"],
            "test_kl": evaluation["kl"],
            "beta": beta,
            "lr": lr,
            "epoch_seconds": seconds,
            "wall_seconds": time.perf_counter() - run_start,
        }
        history.append(record)
        state = {
            "epoch": epoch + 1,
            "train_config": to_dict(train_config),
            "parameters": num_parameters(model),
        }
        write_checkpoint(out, model, optimizer, state, record)
        with (out / HISTORY).open("a") as f:
            f.write(json.dumps(record) + "\n")
        if grids:
            save_grid(model, grid_images, grid_labels, grid_z, out / "grids" / f"epoch_{epoch + 1:04d}.png")
        if progress:
            val = f"val -ELBO {record['val_loss']:.2f}  " if validation else ""
            tqdm.write(
                f"epoch {epoch + 1}: train loss {record['train_loss']:.2f}  {val}test -ELBO {record['test_loss']:.2f} "
                f"(rec {record['test_reconstruction']:.2f}, KL {record['test_kl']:.2f})  {seconds:.1f}s"
            )
    return history


def _validation_split(train_data: MNIST, config: TrainConfig) -> tuple[MNIST, MNIST]:
    """The images to train on (the first `train_size` of those before the validation split) and the split (the last `val_size`)."""
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


def _param_groups(model: VAE, config: TrainConfig) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: the networks at `lr`, a learned prior at `prior_lr` (each `lr_scale` times
    the scheduled learning rate)."""
    networks = [p for name, p in model.named_parameters() if not name.startswith("prior.")]
    prior = list(model.prior.parameters())
    groups = [{"params": networks, "lr_scale": 1.0}]
    if prior:
        groups.append({"params": prior, "lr_scale": (config.prior_lr or config.lr) / config.lr})
    return groups


def _read_history(path: Path, epochs: int) -> list[dict[str, Any]]:
    """The first `epochs` lines of history.jsonl, rewriting the file without any later lines."""
    if not path.is_file():
        return []
    kept = [r for r in read_jsonl(path) if r["epoch"] <= epochs]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return kept

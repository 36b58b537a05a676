r"""Data-parallel training over several processes: torchrun's process group, the sharded batches, one writer.

`torchrun --nproc_per_node=N -m vae train ...` starts N copies of the command, one per process
(per GPU, or per group of CPU cores), and tells each its place through environment variables
(`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`). [`setup`][vae.distributed.setup]
reads them and joins the process group: **NCCL** between CUDA GPUs, **gloo** between CPU processes.
Training then runs PyTorch's [DistributedDataParallel](https://pytorch.org/docs/stable/notes/ddp.html)
(DDP): every process holds the same model, computes the gradient on its own images, and DDP
averages the gradients over the processes before every optimizer step, so the models stay equal.

What each process does, step by step ([`vae.training`][vae.training] calls the helpers below):

- **The same permutation, its own shard.** Every process draws the epoch's permutation from the
  same `(seed, epoch)` generator, cuts the same global batch of `batch_size` images out of it,
  binarizes the whole batch with the same generator, and keeps its contiguous share
  ([`shard`][vae.distributed.shard]): the N shards of a step are the global batch, each image once.
- **The global batch's mean.** A process's loss is the mean over its shard of $n_r$ images; it is
  scaled by $N n_r / B$ before the backward pass, so DDP's average of the N gradients,
  $\frac1N \sum_r \frac{N n_r}{B} \nabla \bar\ell_r = \frac1B \sum_{i \in \text{batch}} \nabla \ell_i$,
  is the gradient of the global batch's mean loss, as in one process, also when the last batch of an
  epoch does not split evenly. `batch_size` and `lr` therefore mean the same on any number of
  processes: `--batch-size` is the **global** batch, each process computes about `batch_size / N`.
- **Noise per process.** The reparameterization noise (and decoder dropout) come from torch's
  global generator, seeded from `(seed, epoch, rank)`; rank 0's seed is a one-process run's, so
  a one-process run is unchanged, and a resumed run continues exactly (for the same N).
- **One writer.** Only rank 0 ([`is_main`][vae.distributed.is_main]) writes: checkpoints,
  `history.jsonl`, grids, snapshots, TensorBoard events, the command record, the progress bar.
  Every process evaluates the test loss itself (the models are equal, the evaluation draws from its
  own generator), so all of them return the same history.
- **No hang.** Every collective operation has a timeout (`--dist-timeout`, default
  [`DEFAULT_TIMEOUT_SECONDS`][vae.distributed.DEFAULT_TIMEOUT_SECONDS]); a process that crashes
  or stops answering ends the others with a [`DistributedError`][vae.distributed.DistributedError]
  that says so, and torchrun stops the whole job.

Without torchrun's variables (or with `WORLD_SIZE=1`) nothing here is used: one process trains as
it always did. See [Scaling up](../scaling.md).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

DEFAULT_TIMEOUT_SECONDS = 300.0
"""How long a process waits for the others in any collective operation before giving up (seconds)."""
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
RANK_SEED_STRIDE = 1_000_000_007  # rank r's noise seed is the one-process seed + r * stride: no overlap with other epochs'


class DistributedError(RuntimeError):
    """A distributed run that cannot start or cannot go on: a bad setup, or a process that crashed or stopped answering."""


@dataclass(frozen=True)
class Group:
    """This process's place in a running process group of several processes.

    Attributes:
        rank: this process, 0 to `world_size - 1`; rank 0 writes the run's files.
        world_size: the number of processes N.
        local_rank: this process on its machine (its GPU index with NCCL).
        backend: `"gloo"` (CPUs) or `"nccl"` (CUDA GPUs).
        device: where this process trains.
        timeout: seconds any collective operation waits for the others.
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    timeout: float

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_current: Group | None = None


def launched_by_torchrun(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment describes a process group of more than one process (torchrun's variables)."""
    env = os.environ if environ is None else environ
    return all(env.get(name) for name in TORCHRUN_VARIABLES) and _int(env, "WORLD_SIZE") > 1


def _int(env: Any, name: str) -> int:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        raise DistributedError(f"the environment variable {name} must be an integer, not {env.get(name)!r}; start the "
                               "processes with torchrun (e.g. `torchrun --nproc_per_node=2 -m vae train ...`)") from None


def choose_backend(device: torch.device) -> str:
    """The process group's backend for a device: NCCL between CUDA GPUs, gloo between CPU processes."""
    if device.type == "cuda":
        return "nccl"
    if device.type == "cpu":
        return "gloo"
    raise DistributedError(f"distributed training runs on CPUs (gloo) or CUDA GPUs (NCCL), not on {device.type!r}: "
                           "pass --device cpu (or cuda)")


def _device(name: str, local_rank: int) -> torch.device:
    """The device of a process: `"auto"` is its own GPU (LOCAL_RANK) when CUDA is there, else the CPU (never MPS)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise DistributedError(f"unknown device {name!r}: use auto, cpu or cuda") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DistributedError("--device cuda, but CUDA is not available to this process")
        device = torch.device("cuda", local_rank if device.index is None else device.index)
    return device


def setup(device: str = "auto", timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Group | None:
    """Join the process group torchrun describes; None (and nothing done) for a single process.

    Reads `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR` and `MASTER_PORT`, picks the device
    (`"auto"`: GPU `LOCAL_RANK` if CUDA is available, else the CPU) and its backend
    ([`choose_backend`][vae.distributed.choose_backend]), and calls
    `torch.distributed.init_process_group` with `timeout` seconds for every collective. Pair it
    with [`teardown`][vae.distributed.teardown], or use [`session`][vae.distributed.session].

    Raises:
        DistributedError: a device gloo and NCCL do not serve (MPS), missing CUDA, bad variables, or
            processes that do not all arrive within the timeout.
    """
    global _current
    if not launched_by_torchrun():
        return None
    if not (timeout > 0):
        raise DistributedError(f"the distributed timeout must be a positive number of seconds, not {timeout!r}")
    import torch.distributed as dist

    env = os.environ
    rank, world, local = _int(env, "RANK"), _int(env, "WORLD_SIZE"), _int(env, "LOCAL_RANK") if env.get("LOCAL_RANK") else 0
    dev = _device(device, local)
    backend = choose_backend(dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    try:
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout))
    except Exception as err:  # DistStoreError, RuntimeError, ValueError: the rendezvous failed
        raise DistributedError(f"process {rank} of {world} could not join the process group at "
                               f"{env.get('MASTER_ADDR')}:{env.get('MASTER_PORT')} within {timeout:g} s ({err})") from err
    _current = Group(rank, world, local, backend, dev, timeout)
    return _current


def teardown() -> None:
    """Leave the process group [`setup`][vae.distributed.setup] joined (nothing for a single process)."""
    global _current
    if _current is None:
        return
    import torch.distributed as dist

    _current = None
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def session(device: str = "auto", timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Iterator[Group | None]:
    """[`setup`][vae.distributed.setup] for the block, then [`teardown`][vae.distributed.teardown]:

    ```python
    with vae.distributed.session() as group:  # None without torchrun
        vae.train(model_config, train_config, "runs/big", train_data, test_data)
    ```
    """
    group = setup(device, timeout)
    try:
        yield group
    finally:
        teardown()


def current() -> Group | None:
    """The process group this process joined with [`setup`][vae.distributed.setup] (None: a single process)."""
    return _current


def is_main() -> bool:
    """True on rank 0 and in a single process: the process that writes files and prints."""
    return _current is None or _current.is_main


def rank_seed(seed: int, group: Group | None) -> int:
    """The seed of this process's noise: `seed` itself on rank 0 (and in one process), distinct on every other rank."""
    return seed if group is None else seed + group.rank * RANK_SEED_STRIDE


def shard(batch: int, group: Group | None) -> tuple[slice, int, float]:
    r"""This process's share of a global batch of `batch` images: the positions it keeps, how many, and its loss weight.

    The batch is cut into N contiguous pieces whose sizes differ by at most one (`torch.tensor_split`),
    so the N shards hold every image of the batch once. The weight $N n_r / B$ makes DDP's average of
    the N gradients the gradient of the batch's mean loss (module docstring). A process whose piece
    is empty (a last batch of fewer than N images) keeps one image with weight 0 and count 0: it still
    joins the gradient average, adding nothing.

    Returns:
        (positions, count, weight): `(slice(None), batch, 1.0)` in a single process.
    """
    if group is None:
        return slice(None), batch, 1.0
    base, extra = divmod(batch, group.world_size)
    start = group.rank * base + min(group.rank, extra)
    count = base + (1 if group.rank < extra else 0)
    if count == 0:
        return slice(0, 1), 0, 0.0
    return slice(start, start + count), count, group.world_size * count / batch


class _Objective(nn.Module):
    """The training loss as a module's forward, so that DDP's forward (which prepares the gradient averaging) runs it."""

    def __init__(self, model: nn.Module, loss: Callable[..., dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, *args: Any) -> dict[str, torch.Tensor]:
        return self.loss(self.model, *args)


def data_parallel(
    model: nn.Module, loss: Callable[..., dict[str, torch.Tensor]], group: Group | None,
) -> Callable[..., dict[str, torch.Tensor]]:
    """`loss(model, *args)` as a function of `*args`; with a group, run by DistributedDataParallel.

    DDP broadcasts rank 0's parameters at once (every process starts from the same model) and then
    averages the gradients of every backward pass over the processes. The loss's terms are this
    process's own (its shard's means). Buffers are not broadcast at every step: the models here
    have none that training changes.
    """
    if group is None:
        return lambda *args: loss(model, *args)
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    device_ids = [group.device.index] if group.device.type == "cuda" else None
    # no buffer broadcast before every forward (torch >= 2.14 names the option forward_sync_buffers)
    no_sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters \
        else "broadcast_buffers"
    ddp = DistributedDataParallel(_Objective(model, loss), device_ids=device_ids, **{no_sync: False})
    return lambda *args: ddp(*args)


def sum_over_processes(values: dict[str, float], group: Group | None) -> dict[str, float]:
    """Each value summed over the processes (the same keys on every process; unchanged in a single process)."""
    if group is None or not values:
        return values
    import torch.distributed as dist

    keys = sorted(values)
    total = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=group.device)
    dist.all_reduce(total)
    return dict(zip(keys, total.tolist()))


def any_process(flag: bool, group: Group | None) -> bool:
    """Whether any process says True (every process calls it at the same step); the flag itself in a single process."""
    if group is None:
        return flag
    import torch.distributed as dist

    value = torch.tensor([1.0 if flag else 0.0], device=group.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(group: Group | None) -> None:
    """Wait until every process gets here (nothing in a single process)."""
    if group is None:
        return
    import torch.distributed as dist

    if group.device.type == "cuda":
        dist.barrier(device_ids=[group.device.index])
    else:
        dist.barrier()


@contextlib.contextmanager
def main_first(group: Group | None) -> Iterator[None]:
    """Run the block on rank 0 first, then on the others: rank 0 sets the run folder up before they read it."""
    if group is not None and not group.is_main:
        barrier(group)
    try:
        yield
    finally:
        if group is not None and group.is_main:
            barrier(group)


@contextlib.contextmanager
def lost_processes(group: Group | None, what: str) -> Iterator[None]:
    """Turn the failure of a collective operation (a peer that crashed or did not answer) into a DistributedError."""
    if group is None:
        yield
        return
    import torch.distributed as dist

    try:
        yield
    except RuntimeError as err:  # DistError (DistBackendError, ...) or, from autograd's hooks, a plain RuntimeError
        if not isinstance(err, dist.DistError) and not (type(err) is RuntimeError and _looks_like_peer_failure(err)):
            raise  # the package's own errors (TrainingDiverged, DataError, ...) and everything else go through unchanged
        raise DistributedError(
            f"process {group.rank} of {group.world_size} lost contact with the others while {what} ({_first_line(err)}). "
            f"Another process crashed or stopped answering for more than {group.timeout:g} s (--dist-timeout): see its "
            "output above for the cause. The checkpoint of the last finished epoch is kept; resume with the same "
            "command and --resume.") from err


def _looks_like_peer_failure(err: BaseException) -> bool:
    """A RuntimeError from gloo or NCCL about a peer (autograd re-raises the backend's errors as plain RuntimeErrors)."""
    text = str(err).lower()
    return any(word in text for word in ("gloo", "nccl", "connection", "timed out", "timeout", "peer", "socket", "broken pipe"))


def _first_line(err: BaseException) -> str:
    line = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
    return line[:300]


__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DistributedError",
    "Group",
    "any_process",
    "barrier",
    "choose_backend",
    "current",
    "data_parallel",
    "is_main",
    "launched_by_torchrun",
    "lost_processes",
    "main_first",
    "rank_seed",
    "session",
    "setup",
    "shard",
    "sum_over_processes",
    "teardown",
]

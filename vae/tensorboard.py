r"""TensorBoard events of a training run: the per-epoch losses, the schedule and the image grids.

`vae train --tensorboard` writes the events into the run folder, next to `history.jsonl`
(`--log-dir DIR` writes them into DIR instead), so `tensorboard --logdir runs/` shows every run
under its folder's name. Each epoch e (the global step) adds:

| tag | value |
| --- | --- |
| `loss/train`, `loss/val`, `loss/test` | the epoch's `train_loss`, `val_loss`, `test_loss` of `history.jsonl` |
| `reconstruction/...`, `kl/...`, `iwae/...` | the other terms, named the same way (`test_kl` is `kl/test`) |
| `schedule/lr`, `schedule/beta` | the learning rate and the KL weight at the epoch's last step |
| `time/epoch_seconds`, `time/wall_seconds` | how long the epoch took, and the run so far |
| `images/reconstructions` | ten test images (first row) and their reconstructions (second row) |
| `images/samples` | decoded samples from the thirty fixed prior codes of the run's grids |

and, once per `train` call, `config/model` and `config/train`: the configs as JSON text. The numbers
are those of `history.jsonl`, never recomputed; an epoch is logged once its checkpoint is written,
so a resumed run (a new event file in the same folder) continues the same curves. Only rank 0 of a
distributed run writes ([`vae.distributed`][vae.distributed]).

TensorBoard is an optional dependency: `pip install "vae-explorer[tensorboard]"`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

SPLITS = ("train", "val", "test")
SCHEDULE = ("lr", "beta")
TIMES = ("epoch_seconds", "wall_seconds")


class TensorBoardMissing(ImportError):
    """`--tensorboard` without the tensorboard package."""


def scalar_tag(key: str) -> str | None:
    """The TensorBoard tag of a history.jsonl key: `test_kl` -> `kl/test`, `lr` -> `schedule/lr` (None: not logged)."""
    split, _, term = key.partition("_")
    if split in SPLITS and term:
        return f"{term}/{split}"
    if key in SCHEDULE:
        return f"schedule/{key}"
    if key in TIMES:
        return f"time/{key}"
    return None


class TensorBoardLog:
    """A run's TensorBoard event file, written once per epoch.

    Args:
        log_dir: the folder of the events (created if needed).
    """

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # torch's module imports tensorboard
            raise TensorBoardMissing("--tensorboard needs the tensorboard package: pip install \"vae-explorer[tensorboard]\" "
                                     "(or pip install tensorboard)") from err
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.log_dir))

    def log_configs(self, model_config: Any, train_config: Any) -> None:
        """The model and training configs as JSON text (`config/model`, `config/train`)."""
        from .config import to_dict

        for name, config in (("model", model_config), ("train", train_config)):
            text = json.dumps(to_dict(config), indent=2)
            self.writer.add_text(f"config/{name}", f"```\n{text}\n```", 0)

    def log_epoch(self, record: dict[str, Any], grid: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> None:
        """One epoch's record (a history.jsonl line) as scalars, and its grid images, at step `record["epoch"]`.

        Args:
            record: the epoch's record.
            grid: (originals, reconstructions, samples), each (n, C, H, W) in [0, 1] (see
                [`grid_rows`][vae.epochs.grid_rows]); None: no images.
        """
        from torchvision.utils import make_grid

        epoch = int(record["epoch"])
        for key, value in record.items():
            tag = scalar_tag(key)
            if tag is not None and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag, value, epoch)
        if grid is not None:
            originals, reconstructions, samples = grid
            pairs = torch.cat([originals, reconstructions])  # (2n, C, H, W): originals, then their reconstructions
            self.writer.add_image("images/reconstructions", make_grid(pairs, nrow=originals.shape[0], padding=1, pad_value=0.5), epoch)
            self.writer.add_image("images/samples", make_grid(samples, nrow=originals.shape[0], padding=1, pad_value=0.5), epoch)
        self.writer.flush()  # on disk at once: an interrupted run keeps its finished epochs

    def close(self) -> None:
        self.writer.close()


__all__ = ["TensorBoardLog", "TensorBoardMissing", "scalar_tag"]

"""MNIST as in-memory tensors, with dynamic and fixed-seed stochastic binarization.

The data root comes from an argument, else the `VAE_DATA_ROOT` environment variable, else
`./data`. It is read with `torchvision.datasets.MNIST(root, download=False)`, which expects::

    <root>/MNIST/raw/train-images-idx3-ubyte
    <root>/MNIST/raw/train-labels-idx1-ubyte
    <root>/MNIST/raw/t10k-images-idx3-ubyte
    <root>/MNIST/raw/t10k-labels-idx1-ubyte

Nothing is downloaded unless `download=True` is passed (the `--download` flag of the CLI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

DATA_ROOT_ENV = "VAE_DATA_ROOT"
TEST_BINARIZATION_SEED = 0
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataError(RuntimeError):
    """The dataset is missing, incomplete or unreadable."""


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: the argument, else `$VAE_DATA_ROOT`, else `./data`."""
    if root is None:
        root = os.environ.get(DATA_ROOT_ENV) or "data"
    return Path(root).expanduser()


def _layout_message(root: Path) -> str:
    files = "\n".join(f"    {root / 'MNIST' / 'raw' / name}" for name in RAW_FILES)
    return (
        f"Expected the four MNIST files (uncompressed IDX, as torchvision stores them):\n{files}\n"
        f"Point --data-root (or the {DATA_ROOT_ENV} environment variable) at the folder that holds "
        "MNIST/raw/, or pass --download to fetch it (needs internet)."
    )


@dataclass(frozen=True)
class MNIST:
    """One split of MNIST held in memory.

    Attributes:
        images: gray levels in [0, 1], shape (N, 1, 28, 28), float32.
        labels: digits 0-9, shape (N,), int64.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, n: int | None) -> MNIST:
        """The first n examples (all when n is None)."""
        return self if n is None else MNIST(self.images[:n], self.labels[:n])


def load_mnist(train: bool, root: str | os.PathLike[str] | None = None, download: bool = False) -> MNIST:
    """Load the training (60,000) or test (10,000) split into memory.

    Raises:
        DataError: when the files are missing, incomplete or unreadable; the message names the
            expected layout and how to fix it.
    """
    from torchvision.datasets import MNIST as TorchvisionMNIST  # heavy import, only when loading

    path = resolve_data_root(root)
    if not download:
        raw = path / "MNIST" / "raw"
        missing = [name for name in RAW_FILES if not (raw / name).is_file()]
        if missing:
            raise DataError(f"MNIST not found under {path} (missing: {', '.join(missing)}).\n{_layout_message(path)}")
    try:
        ds = TorchvisionMNIST(root=str(path), train=train, download=download)
        images, labels = ds.data, ds.targets
    except Exception as err:  # torchvision raises RuntimeError or ValueError on bad files
        raise DataError(
            f"could not read MNIST under {path}; a file may be truncated or corrupted ({err}).\n{_layout_message(path)}"
        ) from err
    expected = 60000 if train else 10000
    if images.shape != (expected, 28, 28) or labels.shape != (expected,):
        raise DataError(
            f"MNIST under {path} is incomplete: {tuple(images.shape)} images, expected ({expected}, 28, 28).\n"
            + _layout_message(path)
        )
    return MNIST(images.unsqueeze(1).float().div_(255.0), labels.long())


def binarize(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A stochastic binarization: each pixel is 1 with probability equal to its gray level."""
    return torch.bernoulli(images, generator=generator)


def binarized_test_set(test: MNIST, seed: int = TEST_BINARIZATION_SEED) -> torch.Tensor:
    """The test images binarized once with a fixed seed, so every evaluation sees the same bits."""
    return binarize(test.images, torch.Generator().manual_seed(seed))

"""MNIST as in-memory tensors, with dynamic and fixed-seed stochastic binarization.

The data root comes from an argument, else the `VAE_DATA_ROOT` environment variable, else a
per-user cache folder, `$XDG_CACHE_HOME/vae-explorer/data` or `~/.cache/vae-explorer/data`
([`default_data_root`][vae.data.default_data_root]). This is the one definition: the command line,
the tests, the docs build and the scripts all resolve the root here, so they share one copy of
MNIST whatever the working directory. It is read with
`torchvision.datasets.MNIST(root, download=False)`, which expects::

    <root>/MNIST/raw/train-images-idx3-ubyte
    <root>/MNIST/raw/train-labels-idx1-ubyte
    <root>/MNIST/raw/t10k-images-idx3-ubyte
    <root>/MNIST/raw/t10k-labels-idx1-ubyte

Nothing is downloaded unless asked: [`download_mnist`][vae.data.download_mnist] (`vae data download`),
`download=True` (the `--download` flag of `vae train` and `vae evaluate`), or the test suite when it
finds no MNIST at the default root.
"""

from __future__ import annotations

import contextlib
import operator
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from . import draws

DATA_ROOT_ENV = "VAE_DATA_ROOT"
DATA_ROOT_HELP = "folder holding MNIST/raw/ (default: $VAE_DATA_ROOT, else ~/.cache/vae-explorer/data; `vae data` shows it)"
DOWNLOAD_TIMEOUT_SECONDS = 60  # per network operation: an unreachable mirror fails instead of hanging
TEST_BINARIZATION_SEED = 0
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# The uncompressed IDX sizes: a header (16 bytes for images, 8 for labels), then one byte per pixel or label.
RAW_BYTES = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}


class DataError(RuntimeError):
    """The dataset is missing, incomplete or unreadable."""


def default_data_root() -> Path:
    """The data root when neither an argument nor `$VAE_DATA_ROOT` gives one: a per-user cache folder.

    `$XDG_CACHE_HOME/vae-explorer/data` when `XDG_CACHE_HOME` is an absolute path (the XDG rule),
    else `~/.cache/vae-explorer/data`, the convention torch and Hugging Face also follow on every
    platform. Unlike `./data` it does not depend on the working directory, so one download serves
    the command line, the tests, the docs build and the notebooks.
    """
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "vae-explorer" / "data"


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: the argument, else `$VAE_DATA_ROOT`, else [`default_data_root()`][vae.data.default_data_root]."""
    if root is None:
        root = os.environ.get(DATA_ROOT_ENV) or default_data_root()
    return Path(root).expanduser()


def missing_files(root: str | os.PathLike[str]) -> list[str]:
    """The names of the four raw MNIST files that are not under `<root>/MNIST/raw/`."""
    raw = Path(root) / "MNIST" / "raw"
    return [name for name in RAW_FILES if not (raw / name).is_file()]


def raw_file_problems(root: str | os.PathLike[str]) -> dict[str, str]:
    """What is wrong with each raw file that is missing or does not have its IDX size (a cheap check, no read)."""
    raw = Path(root) / "MNIST" / "raw"
    problems = {}
    for name in RAW_FILES:
        if not (raw / name).is_file():
            problems[name] = "missing"
        elif (size := (raw / name).stat().st_size) != RAW_BYTES[name]:
            problems[name] = f"{size:,} bytes, expected {RAW_BYTES[name]:,} (truncated or not MNIST)"
    return problems


def _layout_message(root: Path) -> str:
    files = "\n".join(f"    {root / 'MNIST' / 'raw' / name}" for name in RAW_FILES)
    return (
        f"Expected the four MNIST files (uncompressed IDX, as torchvision stores them):\n{files}\n"
        f"Point --data-root (or the {DATA_ROOT_ENV} environment variable) at the folder that holds "
        "MNIST/raw/, or run `vae data download` (or pass --download) to fetch it (needs internet)."
    )


def _fetch_with_torchvision(folder: Path) -> None:
    """Download the four files into `<folder>/MNIST/raw/` with torchvision (it checks each archive's MD5)."""
    import socket

    from torchvision.datasets import MNIST as TorchvisionMNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    try:
        TorchvisionMNIST(root=str(folder), train=True, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _download_failed(path: Path, err: BaseException) -> str:
    reason = " ".join(str(err).split())[:500] or "no detail"  # torchvision lists every mirror it tried
    return (
        f"could not download MNIST into {path} ({type(err).__name__}: {reason}).\n"
        "The download needs internet access (torchvision fetches the four files from its mirrors). "
        "Check the connection and try again; offline, copy the four uncompressed files from a machine that "
        f"has them into {path / 'MNIST' / 'raw'}/, or point --data-root (or {DATA_ROOT_ENV}) at a folder that holds "
        "MNIST/raw/. `vae data` shows where MNIST is looked for."
    )


def download_mnist(
    root: str | os.PathLike[str] | None = None, fetch: Callable[[Path], None] | None = None
) -> Path:
    """Fetch MNIST into the data root, verify it, and return the root.

    Nothing is fetched when the four files are already there and read as MNIST. Otherwise they are
    downloaded into a temporary folder inside the root, read back as the 60,000 training and 10,000
    test images, and only then moved into `<root>/MNIST/raw/` (the compressed archives are not
    kept), so a failed or interrupted download never leaves a half-written file where
    [`load_mnist`][vae.data.load_mnist] looks.

    Args:
        root: the data root (default: [`resolve_data_root()`][vae.data.resolve_data_root]).
        fetch: puts the four raw files under `<folder>/MNIST/raw/` of the folder it is given; the
            default downloads them with torchvision (tests pass a fake, never the network).

    Raises:
        DataError: the download failed (for example offline; the message says what to do) or the
            downloaded files do not read as MNIST.
    """
    path = resolve_data_root(root)
    if not missing_files(path):
        try:
            load_mnist(True, path)
            load_mnist(False, path)
            return path
        except DataError:
            pass  # present but unreadable: fetch it again
    fetch = fetch or _fetch_with_torchvision
    created = [folder for folder in (path, *path.parents) if not folder.exists()]  # removed again if it fails
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the data root {path} ({err}); choose another with --data-root or {DATA_ROOT_ENV}") from err
    try:
        _fetch_and_install(path, fetch)
    except BaseException:
        for folder in created:  # the deepest first; a folder that is not empty stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return path


def _fetch_and_install(path: Path, fetch: Callable[[Path], None]) -> None:
    """Fetch into a staging folder inside `path`, read the files back, then move them into `path/MNIST/raw/`."""
    with tempfile.TemporaryDirectory(prefix=".mnist-download-", dir=path) as tmp:
        staging = Path(tmp)
        try:
            fetch(staging)
        except Exception as err:  # URLError, TimeoutError, RuntimeError (every mirror failed), ...
            raise DataError(_download_failed(path, err)) from err
        try:
            load_mnist(True, staging)
            load_mnist(False, staging)
        except DataError as err:
            raise DataError(f"the downloaded MNIST files do not verify, so nothing was put into {path}:\n{err}") from err
        raw = path / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name in RAW_FILES:
            os.replace(staging / "MNIST" / "raw" / name, raw / name)


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
        """The first n examples (all when n is None; all there are when n is larger). Raises ValueError for a negative n."""
        if n is None:
            return self
        if not hasattr(n, "__index__") or operator.index(n) < 0:  # an integer (numpy's too), not a float
            raise ValueError(f"a subset takes a number of examples >= 0, not {n!r}")
        return MNIST(self.images[:n], self.labels[:n])

    def split_off(self, n: int) -> tuple[MNIST, MNIST]:
        """The examples before the last n, and the last n (a validation split held out of a training set).

        `n = 0` gives (self, an empty split). Raises ValueError unless 0 <= n < len(self), so some
        examples are left to train on.
        """
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < len(self):
            raise ValueError(f"a validation split of {n!r} images leaves none of the {len(self):,} to train on: "
                             f"choose a val_size from 0 to {len(self) - 1:,}")
        cut = len(self) - n
        return MNIST(self.images[:cut], self.labels[:cut]), MNIST(self.images[cut:], self.labels[cut:])


def load_mnist(train: bool, root: str | os.PathLike[str] | None = None, download: bool = False) -> MNIST:
    """Load the training (60,000) or test (10,000) split into memory.

    Raises:
        DataError: when the files are missing, incomplete or unreadable; the message names the
            expected layout and how to fix it.
    """
    from torchvision.datasets import MNIST as TorchvisionMNIST  # heavy import, only when loading

    path = resolve_data_root(root)
    if download and missing_files(path):
        download_mnist(path)
    if missing := missing_files(path):
        raise DataError(f"MNIST not found under {path} (missing: {', '.join(missing)}).\n{_layout_message(path)}")
    try:
        ds = TorchvisionMNIST(root=str(path), train=train, download=False)
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
    """A stochastic binarization: each pixel is 1 with probability equal to its gray level.

    A generator on another device than the images draws there (see `vae.draws`)."""
    return draws.bernoulli(images, generator)


def binarized_test_set(test: MNIST, seed: int = TEST_BINARIZATION_SEED) -> torch.Tensor:
    """The test images binarized once with a fixed seed, so every evaluation sees the same bits."""
    return binarize(test.images, torch.Generator().manual_seed(seed))

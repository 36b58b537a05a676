r"""Other datasets than MNIST: Fashion-MNIST, KMNIST and EMNIST in MNIST's file format, and a folder of your own images.

`vae train --dataset NAME` (the [`TrainConfig.dataset`][vae.TrainConfig] field, recorded in every
checkpoint, so `--resume` and `vae evaluate` find the same images again) picks the images:

| `--dataset` | images | classes | files under `--data-root` |
| --- | --- | --- | --- |
| `mnist` (default) | 28 x 28 digits | 10 | `MNIST/raw/` ([`vae.data`][vae.data]) |
| `fashion-mnist` | 28 x 28 clothes (Zalando) | 10 | `FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte` |
| `kmnist` | 28 x 28 cursive Japanese (Kuzushiji) | 10 | `KMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte` |
| `emnist-<split>` | 28 x 28 handwritten letters and digits | 10 to 62 | `EMNIST/raw/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte` |
| `images` | your images, any size | one per subfolder | the folder itself (below) |

The EMNIST splits are `balanced`, `byclass`, `bymerge`, `digits`, `letters` and `mnist` (as in
torchvision); `letters` labels run from 1 to 26 (class 0 is unused, as in the files). The IDX files
are read by torchvision's own readers, uncompressed or gzipped (`.gz`, as the datasets' sites
ship them: they are read without being unpacked into the folder). EMNIST's files store every image
transposed; they are transposed back, so letters stand upright. Nothing is downloaded unless asked
(`--download`, or `download=True`): torchvision then fetches the files into the layout above.

**A folder of images** (`--dataset images --data-root FOLDER --image-size S`): every image (PNG,
JPEG, BMP, GIF, TIFF, WebP) is converted to gray levels, cropped to a centred square and resized
to S x S ([`load_image_folder`][vae.datasets.load_image_folder]). With `FOLDER/train/` and
`FOLDER/test/` those are the splits; otherwise a fixed-seed tenth of the images (at least one) is
the test split. Each subfolder of a split is a class (sorted by name); images directly in it are
class 0 of a dataset without classes. The MLP networks take any size; the conv networks any H and W
divisible by 4 (two stride-2 convolutions: 28, 32, 64, ...).
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .data import MNIST, DataError, resolve_data_root

EMNIST_SPLITS = ("balanced", "byclass", "bymerge", "digits", "letters", "mnist")
EMNIST_CLASSES = {"balanced": 47, "byclass": 62, "bymerge": 47, "digits": 10, "letters": 27, "mnist": 10}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TEST_FRACTION = 0.1  # of a folder without train/ and test/: the test split
SPLIT_SEED = 0


@dataclass(frozen=True)
class IdxDataset:
    """A 28 x 28 dataset in MNIST's IDX file format, read through torchvision.

    Attributes:
        name: the `--dataset` name.
        folder: torchvision's folder name under the data root (`FashionMNIST`, `KMNIST`, `EMNIST`).
        num_classes: labels run from 0 to num_classes - 1.
        split: the EMNIST split (None for the others).
    """

    name: str
    folder: str
    num_classes: int
    split: str | None = None

    def files(self, train: bool) -> tuple[str, str]:
        """The images and labels file names of a split (without `.gz`)."""
        if self.split is not None:
            prefix = f"emnist-{self.split}-{'train' if train else 'test'}"
        else:
            prefix = "train" if train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def raw_folder(self, root: Path) -> Path:
        return root / self.folder / "raw"

    def layout(self, root: Path) -> str:
        """The files this dataset is looked for as, one per line."""
        raw = self.raw_folder(root)
        return "\n".join(f"    {raw / name}[.gz]" for train in (True, False) for name in self.files(train))


IDX_DATASETS: dict[str, IdxDataset] = {
    "fashion-mnist": IdxDataset("fashion-mnist", "FashionMNIST", 10),
    "kmnist": IdxDataset("kmnist", "KMNIST", 10),
    **{f"emnist-{s}": IdxDataset(f"emnist-{s}", "EMNIST", EMNIST_CLASSES[s], s) for s in EMNIST_SPLITS},
}
"""The 28 x 28 datasets in MNIST's file format, by `--dataset` name."""
DATASET_NAMES = ("mnist", *IDX_DATASETS, "images")
"""Every `--dataset` name (the values of [`TrainConfig.dataset`][vae.TrainConfig])."""


def num_classes(name: str, root: str | os.PathLike[str] | None = None) -> int:
    """The number of classes of a dataset (of a folder: its class subfolders, at least 1)."""
    if name == "mnist":
        return 10
    if name in IDX_DATASETS:
        return IDX_DATASETS[name].num_classes
    if name == "images":
        return len(_folder_classes(_image_folder(root)))
    raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASET_NAMES)}")


def load_dataset(
    name: str, train: bool, root: str | os.PathLike[str] | None = None, download: bool = False,
    image_shape: tuple[int, int, int] = (1, 28, 28),
) -> MNIST:
    """One split of a dataset in memory: images (N, 1, H, W) in [0, 1], labels (N,).

    Args:
        name: `mnist`, `fashion-mnist`, `kmnist`, `emnist-<split>` or `images` (module docstring).
        train: the training split (else the test split).
        root: the data root ([`resolve_data_root`][vae.data.resolve_data_root]); for `images`, the image folder.
        download: fetch a missing MNIST-format dataset through torchvision (needs internet).
        image_shape: (1, H, W) of the model: the size a folder's images are converted to; the
            28 x 28 datasets must match it.

    Raises:
        DataError: missing or unreadable files (naming the expected layout), or images of another
            size than `image_shape`.
    """
    from . import data  # looked up at call time (tests replace data.load_mnist)

    if name == "mnist":
        split = data.load_mnist(train, root, download)
    elif name in IDX_DATASETS:
        split = load_idx(IDX_DATASETS[name], train, root, download)
    elif name == "images":
        return load_image_folder(root, train, image_shape)
    else:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASET_NAMES)}")
    if tuple(split.images.shape[1:]) != tuple(image_shape):
        raise DataError(f"{name} holds {tuple(split.images.shape[1:])} images, but the model takes {tuple(image_shape)}: "
                        "only --dataset images is converted to another size (--image-size)")
    return split


def check_labels(split: MNIST, classes: int, name: str) -> None:
    """Refuse labels a conditional model with `classes` classes cannot take."""
    if len(split) and int(split.labels.max()) >= classes:
        raise DataError(f"{name} has labels up to {int(split.labels.max())}, but the model has {classes} classes "
                        f"(num_classes): train a new conditional model on {name}")


# -- MNIST's file format ----------------------------------------------------------------------------
def _fetch_with_torchvision(spec: IdxDataset, root: Path) -> None:
    """Download a dataset into `root/<folder>/raw/` with torchvision (which checks each archive's MD5)."""
    import socket

    from torchvision import datasets as tv

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)
    try:
        if spec.split is not None:
            tv.EMNIST(root=str(root), split=spec.split, train=True, download=True)
        else:
            {"FashionMNIST": tv.FashionMNIST, "KMNIST": tv.KMNIST}[spec.folder](root=str(root), train=True, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _find(raw: Path, name: str) -> Path | None:
    """The file, else its gzipped copy, else None."""
    for path in (raw / name, raw / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def _read_idx(path: Path, reader: Callable[[str], torch.Tensor]) -> torch.Tensor:
    """Read an IDX file with a torchvision reader; a `.gz` is unpacked into a temporary file first."""
    if path.suffix != ".gz":
        return reader(str(path))
    with tempfile.TemporaryDirectory(prefix="vae-idx-") as tmp:
        plain = Path(tmp) / path.stem
        with gzip.open(path, "rb") as src, plain.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        return reader(str(plain))


def load_idx(
    spec: IdxDataset, train: bool, root: str | os.PathLike[str] | None = None, download: bool = False,
    fetch: Callable[[IdxDataset, Path], None] | None = None,
) -> MNIST:
    """One split of an MNIST-format dataset (see the module docstring for the layout).

    Args:
        spec: the dataset ([`IDX_DATASETS`][vae.datasets.IDX_DATASETS]).
        train: the training split (else the test split).
        root: the data root.
        download: fetch missing files first (`fetch`, by default torchvision's download; needs internet).
        fetch: puts the files under `root/<folder>/raw/` (tests pass a fake, never the network).

    Raises:
        DataError: missing files (the message lists the expected paths), unreadable files, or
            images and labels that do not match.
    """
    from torchvision.datasets.mnist import read_image_file, read_label_file

    path = resolve_data_root(root)
    raw = spec.raw_folder(path)
    names = spec.files(train)
    if download and any(_find(raw, n) is None for n in names):
        try:
            (fetch or _fetch_with_torchvision)(spec, path)
        except Exception as err:  # URLError, TimeoutError, RuntimeError: offline or a failed mirror
            raise DataError(f"could not download {spec.name} into {path} ({type(err).__name__}: {err}); offline, copy the "
                            f"files into this layout:\n{spec.layout(path)}") from err
    found = [_find(raw, n) for n in names]
    if any(f is None for f in found):
        missing = ", ".join(n for n, f in zip(names, found) if f is None)
        raise DataError(f"{spec.name} not found under {path} (missing: {missing}).\nExpected MNIST's IDX files, "
                        f"uncompressed or gzipped:\n{spec.layout(path)}\nPoint --data-root at the folder that holds "
                        f"{spec.folder}/raw/, or pass --download to fetch them (needs internet).")
    images_file, labels_file = found
    try:
        images = _read_idx(images_file, read_image_file)  # (N, 28, 28) uint8
        labels = _read_idx(labels_file, read_label_file)  # (N,) int64
    except (OSError, ValueError, TypeError, AssertionError, RuntimeError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"could not read {spec.name} under {raw} ({type(err).__name__}: {err}); a file may be truncated "
                        f"or not in MNIST's IDX format.\nExpected:\n{spec.layout(path)}") from err
    if images.ndim != 3 or tuple(images.shape[1:]) != (28, 28) or labels.shape != images.shape[:1]:
        raise DataError(f"{spec.name} under {raw}: {tuple(images.shape)} images and {tuple(labels.shape)} labels; expected "
                        "(N, 28, 28) images and N labels")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= spec.num_classes):
        raise DataError(f"{spec.name} under {raw} has labels outside 0..{spec.num_classes - 1}: is it another dataset's file?")
    if spec.split is not None:
        images = images.transpose(1, 2)  # EMNIST stores the images transposed
    return MNIST(images.unsqueeze(1).float().div_(255.0).contiguous(), labels.long())


# -- a folder of images -----------------------------------------------------------------------------
def _image_folder(root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        raise DataError("--dataset images reads the folder given by --data-root: pass --data-root FOLDER")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"no image folder at {folder}.\n{_folder_layout(folder)}")
    return folder


def _folder_layout(folder: Path) -> str:
    return (f"Expected a folder of images ({', '.join(IMAGE_SUFFIXES)}), either split:\n"
            f"    {folder}/train/[<class>/]*.png\n    {folder}/test/[<class>/]*.png\n"
            f"or not (a fixed-seed tenth of the images is then the test split):\n    {folder}/[<class>/]*.png\n"
            "Each subfolder is a class; images directly in the folder are one class.")


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _class_of(path: Path, split_folder: Path) -> str:
    """The class of an image: its first subfolder under the split folder ("" directly in it)."""
    parts = path.relative_to(split_folder).parts
    return parts[0] if len(parts) > 1 else ""


def _split_folders(folder: Path) -> tuple[Path, Path] | None:
    train, test = folder / "train", folder / "test"
    return (train, test) if train.is_dir() and test.is_dir() else None


def _folder_classes(folder: Path) -> list[str]:
    """The classes of a folder, sorted (of both splits, so that train and test share their labels)."""
    splits = _split_folders(folder)
    roots = list(splits) if splits else [folder]
    return sorted({_class_of(p, r) for r in roots for p in _images_under(r)}) or [""]


def image_files(folder: str | os.PathLike[str], train: bool) -> list[tuple[Path, int]]:
    """The images of a folder's split and their labels, in a fixed order (module docstring for the layout)."""
    folder = _image_folder(folder)
    classes = {name: i for i, name in enumerate(_folder_classes(folder))}
    splits = _split_folders(folder)
    if splits:
        split_folder = splits[0] if train else splits[1]
        files = _images_under(split_folder)
    else:
        split_folder = folder
        everything = _images_under(folder)
        if len(everything) == 1:
            raise DataError(f"{folder} holds one image: a training and a test split need at least two.\n{_folder_layout(folder)}")
        order = torch.randperm(len(everything), generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
        n_test = max(1, round(TEST_FRACTION * len(everything)))
        chosen = sorted(order[:n_test]) if not train else sorted(order[n_test:])
        files = [everything[i] for i in chosen]
    if not files:
        where = split_folder if splits else folder
        raise DataError(f"no images in {where}.\n{_folder_layout(folder)}")
    return [(p, classes[_class_of(p, split_folder)]) for p in files]


def to_gray(path: Path, height: int, width: int) -> torch.Tensor:
    """An image file as gray levels in [0, 1], cropped to the centred H:W shape and resized: (1, H, W)."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            gray = ImageOps.fit(ImageOps.exif_transpose(img).convert("L"), (width, height), Image.Resampling.LANCZOS)
    except Image.DecompressionBombError as err:  # not an OSError: PIL refuses images of more than twice its pixel limit
        raise DataError(f"{path} is too large to read safely ({err}); shrink it or remove it from the folder") from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{path} is not a readable image ({err}); remove it or replace it") from err
    return torch.from_numpy(np.asarray(gray, dtype=np.float32) / 255.0).unsqueeze(0)  # (1, H, W)


def load_image_folder(
    folder: str | os.PathLike[str] | None, train: bool, image_shape: tuple[int, int, int] = (1, 28, 28),
) -> MNIST:
    """A folder's split as gray-level images of `image_shape` (1, H, W), with their class labels.

    Raises:
        DataError: no folder, no images (naming the layout), an unreadable image, or a shape with more than one channel.
    """
    channels, height, width = image_shape
    if channels != 1:
        raise DataError(f"images are converted to gray levels (1 channel), not {channels} channels")
    files = image_files(_image_folder(folder), train)
    images = torch.stack([to_gray(path, height, width) for path, _ in files])  # (N, 1, H, W)
    labels = torch.tensor([label for _, label in files], dtype=torch.long)  # (N,)
    return MNIST(images, labels)


def recorded_dataset(model: str | os.PathLike[str]) -> str:
    """The dataset a saved model (run folder, model folder or shipped name) was trained on ("mnist" when unrecorded)."""
    from .checkpoint import STATE, resolve_model_dir
    from .records import CheckpointState, ModelCard

    folder = resolve_model_dir(model)
    config: Any = CheckpointState.load(folder).train_config if (folder / STATE).is_file() else None
    if config is None:
        card = ModelCard.load(folder)
        config = card.train_config if card is not None else None
    return getattr(config, "dataset", "mnist") if config is not None else "mnist"


__all__ = [
    "DATASET_NAMES",
    "EMNIST_SPLITS",
    "IDX_DATASETS",
    "IdxDataset",
    "check_labels",
    "image_files",
    "load_dataset",
    "load_idx",
    "load_image_folder",
    "num_classes",
    "recorded_dataset",
    "to_gray",
]

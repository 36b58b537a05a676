"""Small datasets in every format `vae.datasets` reads, written by the tests themselves (nothing is downloaded).

- [`write_idx_dataset`]: MNIST's IDX files, gzipped as the datasets' sites ship them, under `root/<Folder>/raw/`;
- [`write_image_folder`]: PNG files of any size, in class subfolders, with or without train/ and test/.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte array in MNIST's IDX format: a zero word, the type 0x08 and the rank, the sizes, then the bytes."""
    assert array.dtype == np.uint8
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def digits_like(n: int, seed: int, classes: int = 10, low_label: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n 28 x 28 uint8 images (a bright bar whose place depends on the label, plus noise) and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(low_label, classes, n).astype(np.uint8)
    images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
    for i, label in enumerate(labels):
        row = 2 + (int(label) * 23) // max(1, classes - 1)
        images[i, row : row + 3, 4:24] = 255
    return images, labels


def write_idx_dataset(
    root: Path, folder: str = "FashionMNIST", n_train: int = 65, n_test: int = 32, gz: bool = True,
    emnist_split: str | None = None, classes: int = 10, low_label: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A dataset in MNIST's file format under `root/<folder>/raw/` (EMNIST's names with `emnist_split`); the arrays written."""
    written = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = digits_like(n, seed, classes, low_label)
        if emnist_split is not None:
            prefix = f"emnist-{emnist_split}-{split}"
            stored = images.transpose(0, 2, 1).copy()  # EMNIST's files hold every image transposed
        else:
            prefix = "train" if split == "train" else "t10k"
            stored = images
        raw = root / folder / "raw"
        write_idx(raw / f"{prefix}-images-idx3-ubyte", stored, gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, gz)
        written[split] = (images, labels)
    return written


def write_image_folder(
    folder: Path, size: tuple[int, int] = (40, 36), per_class: int = 6, classes: tuple[str, ...] = ("circles", "squares"),
    split: bool = True, mode: str = "RGB",
) -> list[Path]:
    """PNG images of width x height `size` in class subfolders (under train/ and test/ with `split`); the files written."""
    rng = np.random.default_rng(0)
    files = []
    for c, name in enumerate(classes):
        for i in range(per_class):
            part = ("test" if i == 0 else "train") if split else ""
            path = folder / part / name / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            pixels[:, : size[0] // 2] = 255 * c // max(1, len(classes) - 1)  # the class shows as the left half's brightness
            Image.fromarray(pixels).convert(mode).save(path)
            files.append(path)
    return files

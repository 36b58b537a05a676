"""MNIST loading (real files, offline), data-root resolution, clear errors, and binarization."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch

from vae import DataError, binarize, binarized_test_set, load_mnist, resolve_data_root
from vae.data import DATA_ROOT_ENV, RAW_FILES


def _layout(root: Path, files: dict[str, bytes | Path]) -> Path:
    """A data root whose MNIST/raw/ holds the given files (bytes, or a real file to link to)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, Path):
            (raw / name).symlink_to(content)
        else:
            (raw / name).write_bytes(content)
    return root


def _idx_images(n: int) -> bytes:
    """A well-formed IDX image file holding n blank 28x28 images."""
    return struct.pack(">IIII", 0x00000803, n, 28, 28) + bytes(n * 28 * 28)


def test_test_split_is_mnist(mnist_test) -> None:
    assert mnist_test.images.shape == (10_000, 1, 28, 28) and mnist_test.images.dtype == torch.float32
    assert mnist_test.labels.shape == (10_000,) and mnist_test.labels.dtype == torch.int64
    assert mnist_test.images.min() == 0 and mnist_test.images.max() == 1
    # the published class counts of the MNIST test set
    counts = torch.bincount(mnist_test.labels, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist_test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert len(mnist_test.subset(5)) == 5 and mnist_test.subset(None) is mnist_test


def test_missing_data_root_names_the_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_mnist(False, tmp_path / "nowhere")
    message = str(info.value)
    assert "MNIST not found under" in message
    for name in RAW_FILES:
        assert str(tmp_path / "nowhere" / "MNIST" / "raw" / name) in message
    assert "--data-root" in message and DATA_ROOT_ENV in message and "--download" in message


def test_incomplete_folder_names_the_missing_files(tmp_path: Path, mnist_root: Path) -> None:
    real = mnist_root / "MNIST" / "raw"
    root = _layout(tmp_path, {name: real / name for name in RAW_FILES[2:]})  # only the test files
    with pytest.raises(DataError, match=r"missing: train-images-idx3-ubyte, train-labels-idx1-ubyte"):
        load_mnist(False, root)  # even the test split: the layout is checked as a whole


def test_truncated_file_is_a_data_error(tmp_path: Path, mnist_root: Path) -> None:
    real = mnist_root / "MNIST" / "raw"
    files: dict[str, bytes | Path] = {name: real / name for name in RAW_FILES}
    files["t10k-images-idx3-ubyte"] = (real / "t10k-images-idx3-ubyte").read_bytes()[:100_000]
    root = _layout(tmp_path, files)
    with pytest.raises(DataError, match="(?s)could not read MNIST under .*truncated or corrupted.*Expected the four MNIST files"):
        load_mnist(False, root)


def test_garbage_file_is_a_data_error(tmp_path: Path, mnist_root: Path) -> None:
    real = mnist_root / "MNIST" / "raw"
    files: dict[str, bytes | Path] = {name: real / name for name in RAW_FILES}
    files["t10k-labels-idx1-ubyte"] = b"not an idx file at all"
    with pytest.raises(DataError, match="could not read MNIST"):
        load_mnist(False, _layout(tmp_path, files))


def test_well_formed_but_short_file_is_incomplete(tmp_path: Path, mnist_root: Path) -> None:
    real = mnist_root / "MNIST" / "raw"
    files: dict[str, bytes | Path] = {name: real / name for name in RAW_FILES}
    files["t10k-images-idx3-ubyte"] = _idx_images(100)
    files["t10k-labels-idx1-ubyte"] = struct.pack(">II", 0x00000801, 100) + bytes(100)
    with pytest.raises(DataError, match=r"incomplete: \(100, 28, 28\) images, expected \(10000, 28, 28\)"):
        load_mnist(False, _layout(tmp_path, files))


def test_data_root_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnist_root: Path) -> None:
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    assert resolve_data_root() == Path("data")
    assert resolve_data_root(tmp_path) == tmp_path
    assert resolve_data_root("~/mnist") == Path.home() / "mnist"
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "from-env"))
    assert resolve_data_root() == tmp_path / "from-env"
    assert resolve_data_root(tmp_path / "argument") == tmp_path / "argument"  # an argument wins
    with pytest.raises(DataError, match="from-env"):
        load_mnist(False)  # the environment variable is where it looked
    monkeypatch.setenv(DATA_ROOT_ENV, str(mnist_root))
    assert load_mnist(False).labels[:3].tolist() == [7, 2, 1]


def test_fixed_seed_binarization_is_reproducible(mnist_test) -> None:
    test = mnist_test.subset(2000)
    bits = binarized_test_set(test)
    assert torch.equal(bits, binarized_test_set(test))
    assert torch.equal(bits, binarized_test_set(mnist_test)[:2000])  # the bits of an image do not depend on the subset
    assert set(bits.unique().tolist()) <= {0.0, 1.0} and bits.shape == test.images.shape
    assert not torch.equal(bits, binarized_test_set(test, seed=1))
    # each pixel is 1 with probability equal to its gray level
    assert bits.mean().item() == pytest.approx(test.images.mean().item(), abs=0.002)
    assert bits[test.images == 0].sum() == 0 and bits[test.images == 1].min() == 1


def test_binarize_is_bernoulli() -> None:
    gray = torch.full((200_000,), 0.3)
    bits = binarize(gray, torch.Generator().manual_seed(0))
    assert bits.mean().item() == pytest.approx(0.3, abs=0.005)
    assert torch.equal(bits, binarize(gray, torch.Generator().manual_seed(0)))

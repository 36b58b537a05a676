"""MNIST loading (real files, offline), data-root resolution, the download (with a fake fetcher, never
the network), clear errors, and binarization."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

import vae.data
from conftest import ensure_mnist
from vae import DataError, binarize, binarized_test_set, load_mnist, resolve_data_root
from vae.data import DATA_ROOT_ENV, RAW_BYTES, RAW_FILES, default_data_root, download_mnist, missing_files, raw_file_problems


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
    assert "`vae data download`" in message


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
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # the default: a per-user cache folder, the same whatever the working directory
    assert resolve_data_root() == default_data_root() == tmp_path / "home" / ".cache" / "vae-explorer" / "data"
    monkeypatch.chdir(tmp_path)
    assert resolve_data_root() == tmp_path / "home" / ".cache" / "vae-explorer" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_root() == tmp_path / "xdg" / "vae-explorer" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG rule: a relative path is ignored
    assert resolve_data_root() == tmp_path / "home" / ".cache" / "vae-explorer" / "data"
    monkeypatch.setenv(DATA_ROOT_ENV, "")  # empty is unset
    assert resolve_data_root() == tmp_path / "home" / ".cache" / "vae-explorer" / "data"
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


# -- the download: a fake fetcher stands in for torchvision; nothing here touches the network ----------
class FakeFetch:
    """Puts the real MNIST files (links to the test data) where torchvision would, counting its calls."""

    def __init__(self, source: Path, files: dict[str, bytes] | None = None) -> None:
        self.source, self.files, self.calls = source, files or {}, []

    def __call__(self, folder: Path) -> None:
        self.calls.append(folder)
        raw = folder / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in RAW_FILES:
            if name in self.files:
                (raw / name).write_bytes(self.files[name])
            else:
                (raw / name).symlink_to(self.source / "MNIST" / "raw" / name)
        (raw / "train-images-idx3-ubyte.gz").write_bytes(b"an archive torchvision keeps")


def test_download_fetches_once_into_the_expected_layout(tmp_path: Path, mnist_root: Path) -> None:
    fetch = FakeFetch(mnist_root)
    root = tmp_path / "new" / "root"  # created as needed
    assert download_mnist(root, fetch=fetch) == root
    assert len(fetch.calls) == 1 and fetch.calls[0].parent == root  # staged inside the root (same file system)
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(RAW_FILES)  # no archives, nothing else
    assert [p.name for p in root.iterdir()] == ["MNIST"]  # the staging folder is gone
    assert missing_files(root) == [] and raw_file_problems(root) == {}
    assert load_mnist(False, root).labels[:3].tolist() == [7, 2, 1]
    download_mnist(root, fetch=fetch)  # already there and verified: not fetched again
    assert len(fetch.calls) == 1


def test_download_goes_to_the_resolved_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnist_root: Path) -> None:
    fetch = FakeFetch(mnist_root)
    monkeypatch.setattr(vae.data, "_fetch_with_torchvision", fetch)  # the default fetcher
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
    download_mnist()
    assert missing_files(tmp_path / "env") == []
    download_mnist(tmp_path / "argument")  # an argument wins over the environment variable
    assert missing_files(tmp_path / "argument") == [] and len(fetch.calls) == 2
    monkeypatch.delenv(DATA_ROOT_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    download_mnist()
    assert missing_files(tmp_path / "cache" / "vae-explorer" / "data") == [] and len(fetch.calls) == 3


def test_load_mnist_downloads_only_when_asked_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnist_root: Path) -> None:
    fetch = FakeFetch(mnist_root)
    monkeypatch.setattr(vae.data, "_fetch_with_torchvision", fetch)
    with pytest.raises(DataError, match="MNIST not found under"):
        load_mnist(False, tmp_path)  # download=False: never fetched
    assert fetch.calls == []
    assert load_mnist(False, tmp_path, download=True).labels[:3].tolist() == [7, 2, 1]
    assert load_mnist(True, tmp_path, download=True).images.shape == (60_000, 1, 28, 28)
    assert len(fetch.calls) == 1  # the second call found the files


def test_offline_download_says_what_to_do(tmp_path: Path) -> None:
    def offline(folder: Path) -> None:
        (folder / "MNIST" / "raw").mkdir(parents=True)
        (folder / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"half a file")
        raise URLError("[Errno -2] Name or service not known")

    root = tmp_path / "new" / "root"
    with pytest.raises(DataError) as info:
        download_mnist(root, fetch=offline)
    message = str(info.value)
    assert f"could not download MNIST into {root}" in message and "Name or service not known" in message
    assert "needs internet access" in message and str(root / "MNIST" / "raw") in message and "--data-root" in message
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left, not even the folders it made
    with pytest.raises(DataError, match="could not download"):
        download_mnist(tmp_path, fetch=offline)
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []  # a root that existed stays


def test_torchvision_fetcher_offline_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real default fetcher, with torchvision's network call replaced: every mirror fails."""
    import torchvision.datasets.mnist as tv_mnist

    seen_timeouts = []

    def no_network(url: str, **kwargs) -> None:
        seen_timeouts.append(socket.getdefaulttimeout())
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", no_network)
    before = socket.getdefaulttimeout()
    with pytest.raises(DataError, match=r"(?s)could not download MNIST.*Tried https://ossci-datasets.*needs internet access"):
        download_mnist(tmp_path)
    assert seen_timeouts and set(seen_timeouts) == {vae.data.DOWNLOAD_TIMEOUT_SECONDS}  # an unreachable mirror cannot hang
    assert socket.getdefaulttimeout() == before  # restored


def test_downloaded_files_that_do_not_read_as_mnist_are_not_installed(tmp_path: Path, mnist_root: Path) -> None:
    fetch = FakeFetch(mnist_root, {"t10k-images-idx3-ubyte": _idx_images(100)})
    with pytest.raises(DataError, match=f"the downloaded MNIST files do not verify, so nothing was put into {tmp_path}"):
        download_mnist(tmp_path, fetch=fetch)
    assert list(tmp_path.iterdir()) == []


def test_broken_files_are_fetched_again(tmp_path: Path, mnist_root: Path) -> None:
    real = mnist_root / "MNIST" / "raw"
    files: dict[str, bytes | Path] = {name: real / name for name in RAW_FILES}
    files["t10k-labels-idx1-ubyte"] = b"garbage"
    _layout(tmp_path, files)
    assert raw_file_problems(tmp_path) == {"t10k-labels-idx1-ubyte": "7 bytes, expected 10,008 (truncated or not MNIST)"}
    fetch = FakeFetch(mnist_root)
    download_mnist(tmp_path, fetch=fetch)
    assert len(fetch.calls) == 1 and raw_file_problems(tmp_path) == {}


def test_raw_sizes_are_those_of_the_real_files(mnist_root: Path) -> None:
    assert {name: (mnist_root / "MNIST" / "raw" / name).stat().st_size for name in RAW_FILES} == RAW_BYTES


def test_the_suite_fetches_missing_mnist_once(tmp_path: Path) -> None:
    """tests/conftest.py: what `pytest` does on a machine without MNIST (here with a fake download)."""
    calls = []

    def download(root: Path) -> Path:
        calls.append(root)
        _layout(root, {name: b"" for name in RAW_FILES})
        return root

    assert ensure_mnist(tmp_path, download) == tmp_path
    assert ensure_mnist(tmp_path, download) == tmp_path  # found: not downloaded again
    assert calls == [tmp_path]


def test_the_suite_offline_fails_with_the_remedy(tmp_path: Path) -> None:
    def offline(root: Path) -> Path:
        raise DataError(f"could not download MNIST into {root} (URLError: no network).")

    with pytest.raises(pytest.fail.Exception) as info:
        ensure_mnist(tmp_path, offline)
    message = str(info.value)
    assert f"MNIST is not under {tmp_path} and could not be downloaded" in message and "no network" in message
    assert info.value.__context__ is None  # pytest shows the reason and the remedy, not a chained traceback


def test_a_subset_takes_a_number_of_examples() -> None:
    import numpy as np

    data = vae.MNIST(torch.zeros(5, 1, 28, 28), torch.arange(5))
    assert len(data.subset(3)) == 3 and len(data.subset(0)) == 0 and len(data.subset(9)) == 5 and data.subset(None) is data
    assert len(data.subset(np.int64(2))) == 2
    for bad in (-1, -9998, 2.5):
        with pytest.raises(ValueError, match="a subset takes a number of examples >= 0"):
            data.subset(bad)

"""Other datasets (vae.datasets): MNIST-format files and image folders that the tests write; nothing is downloaded."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from own_data import write_idx_dataset, write_image_folder
from PIL import Image

import vae
from vae import datasets
from vae.cli import main
from vae.config import ConfigError, choices
from vae.data import DataError


def vae_cli(*argv: str | Path) -> tuple[int, str, str]:
    args = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["vae", *args]), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to download fails the test."""
    def refuse(*args: object) -> None:
        raise AssertionError("tried to download")

    monkeypatch.setattr(datasets, "_fetch_with_torchvision", refuse)


def test_the_dataset_option_lists_every_dataset() -> None:
    assert choices(vae.TrainConfig, "dataset") == datasets.DATASET_NAMES
    assert vae.TrainConfig().dataset == "mnist"


# -- MNIST's file format ----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "folder", "gz"), [("fashion-mnist", "FashionMNIST", True), ("kmnist", "KMNIST", True),
                                                    ("fashion-mnist", "FashionMNIST", False)])
def test_mnist_format_files_are_read_gzipped_or_not(tmp_path: Path, name: str, folder: str, gz: bool) -> None:
    written = write_idx_dataset(tmp_path, folder, n_train=20, n_test=7, gz=gz)
    for train, split in ((True, "train"), (False, "test")):
        data = datasets.load_dataset(name, train, tmp_path)
        images, labels = written[split]
        assert data.images.shape == (len(images), 1, 28, 28) and data.images.dtype == torch.float32
        torch.testing.assert_close(data.images[:, 0], torch.from_numpy(images).float() / 255)
        assert data.labels.tolist() == labels.tolist()
    assert not list((tmp_path / folder / "raw").glob("*-ubyte")) if gz else True  # nothing unpacked into the folder


def test_emnist_images_are_turned_upright_and_letters_keep_their_labels(tmp_path: Path) -> None:
    """EMNIST's files store every image transposed; the loader transposes them back. Letters are labelled 1 to 26."""
    written = write_idx_dataset(tmp_path, "EMNIST", n_train=30, n_test=5, emnist_split="letters", classes=27, low_label=1)
    data = datasets.load_dataset("emnist-letters", True, tmp_path)
    images, labels = written["train"]
    torch.testing.assert_close(data.images[:, 0], torch.from_numpy(images).float() / 255)
    assert data.labels.min() >= 1 and data.labels.tolist() == labels.tolist()
    assert datasets.num_classes("emnist-letters") == 27 and datasets.num_classes("emnist-balanced") == 47


def test_missing_files_name_the_expected_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        datasets.load_dataset("kmnist", True, tmp_path)
    message = str(err.value)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert f"{tmp_path / 'KMNIST' / 'raw' / name}[.gz]" in message
    assert "--data-root" in message and "--download" in message
    with pytest.raises(DataError, match="emnist-digits-test-images-idx3-ubyte"):
        datasets.load_dataset("emnist-digits", False, tmp_path)


def test_files_are_downloaded_only_when_asked(tmp_path: Path) -> None:
    fetched = []

    def fake_fetch(spec: datasets.IdxDataset, root: Path) -> None:
        fetched.append(spec.name)
        write_idx_dataset(root, spec.folder, n_train=4, n_test=2)

    spec = datasets.IDX_DATASETS["fashion-mnist"]
    with pytest.raises(DataError):
        datasets.load_idx(spec, True, tmp_path, download=False, fetch=fake_fetch)
    assert fetched == []
    assert len(datasets.load_idx(spec, True, tmp_path, download=True, fetch=fake_fetch)) == 4
    assert len(datasets.load_idx(spec, False, tmp_path, download=True, fetch=fake_fetch)) == 2
    assert fetched == ["fashion-mnist"]  # there the second time

    def offline(spec: datasets.IdxDataset, root: Path) -> None:
        raise OSError("Network is unreachable")

    with pytest.raises(DataError, match="(?s)could not download kmnist.*Network is unreachable.*KMNIST/raw/train-images"):
        datasets.load_idx(datasets.IDX_DATASETS["kmnist"], True, tmp_path, download=True, fetch=offline)


def test_damaged_files_are_clear_errors(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path, "FashionMNIST", n_train=5, n_test=2)
    path = tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:30])  # a truncated download
    with pytest.raises(DataError, match="(?s)could not read fashion-mnist.*truncated"):
        datasets.load_dataset("fashion-mnist", True, tmp_path)
    write_idx_dataset(tmp_path, "KMNIST", n_train=5, n_test=2, classes=30)  # labels beyond KMNIST's ten
    with pytest.raises(DataError, match="labels outside 0..9"):
        datasets.load_dataset("kmnist", True, tmp_path)


def test_a_28_pixel_dataset_is_not_resized(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path, "FashionMNIST", n_train=5, n_test=2)
    with pytest.raises(DataError, match=r"only --dataset images is converted"):
        datasets.load_dataset("fashion-mnist", True, tmp_path, image_shape=(1, 32, 32))


# -- a folder of images -----------------------------------------------------------------------------
def test_an_image_folder_becomes_gray_squares_of_the_chosen_size(tmp_path: Path) -> None:
    """40 x 36 RGB PNGs in train/ and test/ class folders: gray levels, centre-cropped and resized to 32 x 32, labels by
    class name. The class shows as the brightness of the left half (white for 'squares', black for 'circles')."""
    write_image_folder(tmp_path, size=(40, 36), per_class=6)
    train = datasets.load_dataset("images", True, tmp_path, image_shape=(1, 32, 32))
    test = datasets.load_dataset("images", False, tmp_path, image_shape=(1, 32, 32))
    assert train.images.shape == (10, 1, 32, 32) and test.images.shape == (2, 1, 32, 32)
    assert train.labels.tolist() == [0] * 5 + [1] * 5 and test.labels.tolist() == [0, 1]
    left = train.images[:, 0, :, :8].mean(dim=(1, 2))  # well inside the left half after the centre crop
    assert (left[train.labels == 1] > 0.97).all() and (left[train.labels == 0] < 0.03).all()
    right = train.images[:, 0, :, 20:].mean()
    assert 0.35 < right < 0.65  # the noise, in gray levels from 0 to 1
    with Image.open(tmp_path / "train" / "squares" / "001.png") as image:
        expected = np.asarray(image.convert("L").crop((2, 0, 38, 36)).resize((32, 32), Image.Resampling.LANCZOS),
                              dtype=np.float32) / 255
    # the same crop and resize done by hand (inside the border, where resampling across the crop's edge differs)
    torch.testing.assert_close(train.images[5, 0, 1:-1, 1:-1], torch.from_numpy(expected)[1:-1, 1:-1], atol=2 / 255 + 1e-6, rtol=0)
    assert datasets.num_classes("images", tmp_path) == 2


def test_a_folder_without_splits_holds_out_a_fixed_tenth(tmp_path: Path) -> None:
    write_image_folder(tmp_path, size=(12, 12), per_class=10, classes=("a", "b", "c"), split=False, mode="L")
    train = datasets.image_files(tmp_path, True)
    test = datasets.image_files(tmp_path, False)
    assert len(test) == 3 and len(train) == 27 and not {p for p, _ in train} & {p for p, _ in test}
    assert datasets.image_files(tmp_path, False) == test  # the same split every time
    assert {label for _, label in train} == {0, 1, 2}
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(flat / f"{i}.png")
    assert [label for _, label in datasets.image_files(flat, True)] == [0, 0] and datasets.num_classes("images", flat) == 1


def test_image_folder_problems_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--data-root FOLDER"):
        datasets.load_dataset("images", True, None)
    with pytest.raises(DataError, match=r"(?s)no image folder at .*train/\[<class>/\]\*\.png"):
        datasets.load_dataset("images", True, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"(?s)no images in .*Expected a folder of images"):
        datasets.load_dataset("images", True, tmp_path / "empty")
    bad = tmp_path / "bad"
    write_image_folder(bad, size=(8, 8), per_class=3, classes=("x",), split=False)
    (bad / "x" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png is not a readable image"):
        datasets.load_dataset("images", True, bad)
        datasets.load_dataset("images", False, bad)


def test_the_conv_networks_take_any_size_divisible_by_4() -> None:
    for shape in ((1, 32, 32), (1, 64, 48), (1, 12, 20)):
        for decoder in ("mlp", "conv"):
            model = vae.build_model(vae.ModelConfig(arch="conv", decoder=decoder, image_shape=shape, channels=4, hidden=(16,)))
            x = torch.rand(3, *shape)
            assert model.reconstruct(x).shape == x.shape
            assert torch.isfinite(model(x).loss)
    with pytest.raises(ConfigError, match="divisible by 4"):
        vae.ModelConfig(arch="conv", image_shape=(1, 30, 30))


# -- the command line -------------------------------------------------------------------------------
def test_train_and_evaluate_on_an_image_folder_with_the_conv_networks(tmp_path: Path) -> None:
    """`vae train --dataset images --image-size 32 --arch conv`, then `vae evaluate` finds the dataset in the run's record."""
    folder = tmp_path / "images"
    write_image_folder(folder, size=(40, 36), per_class=6)
    run = tmp_path / "run"
    status, out, err = vae_cli("train", "--out", run, "--dataset", "images", "--data-root", folder, "--image-size", "32",
                               "--arch", "conv", "--decoder", "conv", "--channels", "4", "--hidden", "16", "--latent-dim", "2",
                               "--epochs", "1", "--batch-size", "4", "--no-progress", "--threads", "1")
    assert status == 0, err
    config = vae.load(run).config
    assert config.image_shape == (1, 32, 32) and config.num_classes == 2 and config.arch == "conv"
    with Image.open(run / "grids" / "epoch_0001.png") as grid:  # the 2 test images, their reconstructions, 30 samples
        assert grid.size == (2 * 33 + 1, 17 * 33 + 1)  # 32-pixel tiles and their padding, two per row
    status, out, err = vae_cli("evaluate", run, "-k", "2", "--batch-size", "2", "--data-root", folder, "--no-progress")
    assert status == 0, err
    assert np.isfinite(json.loads(out)["test_nll"])
    status, _, err = vae_cli("train", "--out", tmp_path / "odd", "--dataset", "images", "--data-root", folder, "--image-size",
                             "30", "--arch", "conv", "--epochs", "1")
    assert status == 2 and "divisible by 4" in err and "Traceback" not in err


def test_train_on_fashion_mnist_files_and_resume_it(tmp_path: Path) -> None:
    """The dataset is recorded in the checkpoint's training config: `--resume` and `vae evaluate` read it again."""
    write_idx_dataset(tmp_path, "FashionMNIST", n_train=20, n_test=6)
    run = tmp_path / "run"
    common = ("--data-root", tmp_path, "--no-progress", "--threads", "1")
    status, _, err = vae_cli("train", "--out", run, "--dataset", "fashion-mnist", "--hidden", "8", "--latent-dim", "2",
                             "--epochs", "1", "--batch-size", "10", *common)
    assert status == 0, err
    status, _, err = vae_cli("train", "--out", run, "--resume", "--epochs", "2", *common)
    assert status == 0, err
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["train_config"]["dataset"] == "fashion-mnist" and state["epoch"] == 2
    status, _, err = vae_cli("evaluate", run, "-k", "2", *common[:3])
    assert status == 0, err
    status, _, err = vae_cli("evaluate", run, "-k", "2", "--dataset", "kmnist", *common[:3])  # no KMNIST files there
    assert status == 2 and "kmnist not found under" in err and "KMNIST/raw/train-images-idx3-ubyte" in err


def test_missing_dataset_files_are_a_clean_command_line_error(tmp_path: Path) -> None:
    status, _, err = vae_cli("train", "--out", tmp_path / "run", "--dataset", "fashion-mnist", "--data-root", tmp_path,
                             "--epochs", "1")
    assert status == 2 and err.startswith("vae train: error: fashion-mnist not found under") and "Traceback" not in err
    assert "FashionMNIST/raw/train-images-idx3-ubyte[.gz]" in err
    status, _, err = vae_cli("train", "--out", tmp_path / "run", "--dataset", "images", "--epochs", "1")
    assert status == 2 and "--data-root FOLDER" in err


def test_an_image_too_large_to_read_safely_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PIL refuses an image of more than twice its pixel limit with a DecompressionBombError, which is not an OSError."""
    folder = tmp_path / "images"
    write_image_folder(folder, size=(8, 8), per_class=3, classes=("x",), split=False)
    Image.new("L", (40, 40)).save(folder / "x" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 1,600 pixels: more than twice the limit
    with pytest.raises(DataError, match=r"huge.png is too large to read safely .*shrink it or remove it"):
        datasets.to_gray(folder / "x" / "huge.png", 28, 28)
    status, _, err = vae_cli("train", "--out", tmp_path / "run", "--dataset", "images", "--data-root", folder, "--epochs", "1")
    assert status == 2 and "huge.png is too large to read safely" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_fine_tuning_a_conditional_model_on_more_classes_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """A 10-class cvae fine-tuned on a 47-class dataset would stop mid-epoch on the first label past 9."""
    write_idx_dataset(tmp_path, "FashionMNIST", n_train=20, n_test=6)
    write_idx_dataset(tmp_path, "EMNIST", n_train=20, n_test=6, emnist_split="balanced", classes=47)
    common = ("--data-root", tmp_path, "--no-progress", "--no-grids", "--threads", "1")
    status, _, err = vae_cli("train", "--out", tmp_path / "cvae", "--kind", "cvae", "--dataset", "fashion-mnist", "--hidden",
                             "8", "--latent-dim", "2", "--epochs", "1", "--batch-size", "10", *common)
    assert status == 0, err
    status, _, err = vae_cli("train", "--out", tmp_path / "tuned", "--init-from", tmp_path / "cvae", "--dataset",
                             "emnist-balanced", "--epochs", "1", "--batch-size", "10", *common)
    assert status == 2 and "Traceback" not in err
    assert err.startswith("vae train: error: emnist-balanced has labels up to ") and "but the model has 10 classes" in err
    assert not (tmp_path / "tuned").exists()
    images = datasets.load_dataset("emnist-balanced", True, tmp_path)
    with pytest.raises(DataError, match="but the model has 10 classes"):  # the Python entry point checks the same
        vae.train(vae.checkpoint.load_config(tmp_path / "cvae"), vae.TrainConfig(epochs=1, dataset="emnist-balanced"), tmp_path / "py",
                  images, images, device="cpu", progress=False, init_from=tmp_path / "cvae")
    assert not (tmp_path / "py").exists()

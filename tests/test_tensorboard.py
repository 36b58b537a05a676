"""TensorBoard events (vae.tensorboard): written next to history.jsonl and read back with TensorBoard's own reader."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import vae
from vae.cli import main
from vae.config import read_jsonl
from vae.tensorboard import scalar_tag


def splits(n_train: int = 48, n_test: int = 12) -> tuple[vae.MNIST, vae.MNIST]:
    g = torch.Generator().manual_seed(0)
    make = lambda n: vae.MNIST(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))
    return make(n_train), make(n_test)


MODEL = vae.ModelConfig(hidden=(16,), latent_dim=2)
TRAIN = vae.TrainConfig(epochs=3, batch_size=16, lr_schedule="cosine", warmup_epochs=2, val_size=8, eval_batch_size=64)


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(acc: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in acc.Scalars(tag)}


def test_history_keys_map_to_tags() -> None:
    assert scalar_tag("train_loss") == "loss/train" and scalar_tag("test_kl") == "kl/test"
    assert scalar_tag("val_reconstruction") == "reconstruction/val" and scalar_tag("train_iwae") == "iwae/train"
    assert scalar_tag("lr") == "schedule/lr" and scalar_tag("beta") == "schedule/beta"
    assert scalar_tag("epoch_seconds") == "time/epoch_seconds" and scalar_tag("epoch") is None


def test_the_events_hold_the_history_and_the_grids(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    run = tmp_path / "run"
    vae.train(MODEL, TRAIN, run, *splits(), device="cpu", progress=False, grids=False, log_dir=run)
    history = read_jsonl(run / "history.jsonl")
    assert len(list(run.glob("events.out.tfevents.*"))) == 1  # beside history.jsonl
    acc = events(run)
    tags = {"train_loss": "loss/train", "train_kl": "kl/train", "val_loss": "loss/val", "test_loss": "loss/test",
            "test_reconstruction": "reconstruction/test", "lr": "schedule/lr", "beta": "schedule/beta",
            "epoch_seconds": "time/epoch_seconds"}
    for key, tag in tags.items():
        expected = {r["epoch"]: r[key] for r in history}
        assert scalars(acc, tag) == pytest.approx(expected, rel=1e-6), key  # stored as float32
    lrs = scalars(acc, "schedule/lr")
    assert lrs[1] > lrs[2] > lrs[3]  # the cosine schedule
    assert scalars(acc, "schedule/beta")[1] < scalars(acc, "schedule/beta")[3] == 1.0  # the KL warm-up
    for tag, rows in (("images/reconstructions", 2), ("images/samples", 3)):
        images = acc.Images(tag)
        assert [image.step for image in images] == [1, 2, 3]
        assert (images[0].width, images[0].height) == (10 * 29 + 1, rows * 29 + 1)  # 28-pixel tiles with 1 pixel of padding
    config = acc.Tensors("config/model/text_summary")[0].tensor_proto.string_val[0].decode()
    assert vae.config.from_dict(vae.ModelConfig, json.loads(config.strip("`\n"))) == MODEL


def test_a_resumed_run_continues_its_curve(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    run = tmp_path / "run"
    data = splits()
    vae.train(MODEL, vae.TrainConfig(**{**vae.config.to_dict(TRAIN), "epochs": 2}), run, *data, device="cpu", progress=False,
              grids=False, log_dir=run)
    vae.train(MODEL, TRAIN, run, *data, device="cpu", progress=False, grids=False, log_dir=run, resume=True)
    acc = events(run)
    assert [e.step for e in acc.Scalars("loss/train")] == [1, 2, 3]
    assert scalars(acc, "loss/train") == pytest.approx({r["epoch"]: r["train_loss"] for r in read_jsonl(run / "history.jsonl")},
                                                       rel=1e-6)


def vae_cli(*argv: str | Path) -> tuple[int, str, str]:
    args = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["vae", *args]), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args)
    return status, out.getvalue(), err.getvalue()


def test_the_command_line_writes_events_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = splits()
    monkeypatch.setattr("vae.data.load_mnist", lambda is_train, *args: train if is_train else test)
    options = ("--hidden", "8", "--latent-dim", "2", "--epochs", "1", "--batch-size", "16", "--no-progress", "--no-grids",
               "--threads", "1")
    assert vae_cli("train", "--out", tmp_path / "plain", *options)[0] == 0
    assert not list((tmp_path / "plain").rglob("events.out.tfevents.*"))
    assert vae_cli("train", "--out", tmp_path / "tb", "--tensorboard", *options)[0] == 0
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 1
    assert vae_cli("train", "--out", tmp_path / "elsewhere", "--log-dir", tmp_path / "logs" / "a", *options)[0] == 0
    assert scalars(events(tmp_path / "logs" / "a"), "loss/train") == pytest.approx(
        {1: read_jsonl(tmp_path / "elsewhere" / "history.jsonl")[0]["train_loss"]}, rel=1e-6)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as without the tensorboard package
    status, _, err = vae_cli("train", "--out", tmp_path / "missing", "--tensorboard", *options)
    assert status == 2 and 'pip install "vae-explorer[tensorboard]"' in err and "Traceback" not in err

"""Run folders and model folders as typed records: load, stages, curve, export, and where a run starts.

Runs use a tiny MLP on a few hundred real MNIST digits, so each epoch takes a fraction of a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vae
from vae import MNIST, CheckpointError, ConfigError, ModelConfig, TrainConfig
from vae.runs import (
    Command,
    ModelCard,
    Provenance,
    Run,
    StartRecord,
    held_out_size,
    resume_or_init,
    starting_record,
    training_stages,
)

SMALL = ModelConfig(latent_dim=3, hidden=(16,))


@pytest.fixture(scope="module")
def data(mnist_test) -> tuple[MNIST, MNIST]:
    return mnist_test.subset(300).split_off(100)[0], mnist_test.subset(50)


def _train(data, out: Path | None, epochs: int = 2, **kwargs) -> list[dict]:
    config = TrainConfig(epochs=epochs, batch_size=64, **{k: v for k, v in kwargs.items() if k != "init_from"})
    return vae.train(SMALL, config, out, *data, device="cpu", progress=False, grids=False, init_from=kwargs.get("init_from"))


@pytest.fixture(scope="module")
def run_folder(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    _train(data, out, val_size=40)
    Command("vae train --out run", "2026-01-01 00:00:00").save(out)
    return out


def test_a_run_folder_loads_as_typed_records(run_folder: Path) -> None:
    run = Run.load(run_folder)
    assert run.command.command == "vae train --out run" and run.command.init_from is None and run.command.resumed == ()
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert run.state.epoch == 2 and run.state.train_config.val_size == 40
    assert run.state.parameters == vae.num_parameters(vae.load(run_folder))
    assert run.start is None and run.evaluation is None
    (stage,) = run.stages()
    assert stage.command == "vae train --out run" and stage.epochs == 2 and stage.train_config == run.state.train_config
    assert stage.training_seconds == run.history[-1]["wall_seconds"]
    assert run.curve() == run.history  # one stage: the history unchanged, no stage numbers
    assert held_out_size(run_folder) == 40


def test_export_writes_the_weights_once_and_a_card_that_round_trips(run_folder: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    writes = []
    real = vae.checkpoint.write_tensors
    monkeypatch.setattr(vae.checkpoint, "write_tensors", lambda *args, **kwargs: (writes.append(args[1]), real(*args, **kwargs)))
    evaluation = {"split": "test", "test_nll": 100.0, "k": 2}
    card = Run.load(run_folder).export(tmp_path / "model", evaluation)
    assert len(writes) == 1  # the size is the written file's, not a second write's
    metrics = vae.load_metrics(tmp_path / "model")
    assert metrics == card.to_dict() and metrics["file_bytes"] == (tmp_path / "model" / "model.safetensors").stat().st_size
    assert ModelCard.from_dict(metrics) == card and ModelCard.load(tmp_path / "model") == card
    assert card.evaluation == evaluation and card.stages[-1].evaluation == evaluation and "stages" not in metrics
    assert (tmp_path / "model" / "history.jsonl").read_text() == (run_folder / "history.jsonl").read_text()
    a, b = vae.load(run_folder).state_dict(), vae.load(tmp_path / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="scores the val split"):
        Run.load(run_folder).export(tmp_path / "refused", {"split": "val"})
    assert not (tmp_path / "refused").exists()
    with pytest.raises(CheckpointError, match="no model folder"):
        Run.load(tmp_path / "nothing").export(tmp_path / "nothing-out")


def test_a_fine_tuned_run_counts_its_stages_on(run_folder: Path, data, tmp_path: Path) -> None:
    start = Provenance.of(run_folder)
    assert start.path.endswith("checkpoint") and start.epochs == 2 and start.training_command == "vae train --out run"
    tuned = tmp_path / "tuned"
    _train(data, tuned, epochs=1, init_from=run_folder)
    stages, curve = starting_record(start)
    StartRecord(tuple(stages), tuple(curve)).save(tuned)
    Command("vae train --out tuned --init-from run", None, start).save(tuned)
    run = Run.load(tuned)
    assert [s.epochs for s in run.stages()] == [2, 1] and run.command.init_from == start
    assert [(r["stage"], r["epoch"]) for r in run.curve()] == [(1, 1), (1, 2), (2, 3)]
    card = run.export(tmp_path / "model")
    assert card.epochs == 3 and len(vae.load_metrics(tmp_path / "model")["stages"]) == 2
    assert [s.command for s in training_stages(vae.load_metrics(tmp_path / "model"))] == [s.command for s in run.stages()]
    with pytest.raises(ValueError, match=r"trained on the whole training set \(stage 2 of 2\)"):
        held_out_size(tuned)


@pytest.mark.parametrize("name", ["default", "latent2d", "ae2d", "cvae"])
def test_the_shipped_model_cards_read_as_records(name: str) -> None:
    metrics = vae.load_metrics(name)
    card = ModelCard.from_dict(metrics)
    assert card.epochs == metrics["epochs"] and card.file_bytes == metrics["file_bytes"]
    assert sum(s.epochs for s in card.stages) == card.epochs
    assert ModelCard.from_dict(card.to_dict()) == card  # the typed record round-trips
    assert card.stages[-1].evaluation == metrics.get("evaluation")
    assert len(card.stages) == (8 if name == "default" else 1)


def test_resume_or_init_reads_no_weights(run_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the command line calls before it loads any data: the configs come from the JSON records alone."""
    def refuse(*args, **kwargs):
        raise AssertionError("a weights file was read")

    monkeypatch.setattr(vae.checkpoint, "read_tensors", refuse)
    start = resume_or_init(run_folder, resume=True, epochs=5)
    assert start.model_config == SMALL and start.train_config.epochs == 5 and start.epoch == 2
    assert start.train_config == TrainConfig(epochs=5, batch_size=64, val_size=40)
    tuned = resume_or_init(None, None, TrainConfig(), init_from=run_folder)
    assert tuned.model_config == SMALL and tuned.init_from == run_folder / "checkpoint" and tuned.epoch == 0
    mixture = ModelConfig(latent_dim=3, hidden=(16,), prior_components=4)
    with_prior = resume_or_init(None, mixture, TrainConfig(), init_from=run_folder)
    assert with_prior.model_config.prior_components == 4


def test_resume_or_init_has_one_error_per_case(run_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="--resume: no checkpoint in"):
        resume_or_init(tmp_path, resume=True)
    with pytest.raises(ConfigError, match="resuming needs the run folder"):
        resume_or_init(None, SMALL, TrainConfig(), resume=True)
    with pytest.raises(ConfigError, match="--resume: the model config differs"):
        resume_or_init(run_folder, ModelConfig(latent_dim=4, hidden=(16,)), resume=True)
    with pytest.raises(ConfigError, match="only epochs may change"):
        resume_or_init(run_folder, SMALL, TrainConfig(epochs=3, batch_size=32, val_size=40), resume=True)
    with pytest.raises(CheckpointError, match="already holds a checkpoint: pass --resume"):
        resume_or_init(run_folder, SMALL, TrainConfig())
    with pytest.raises(ConfigError, match="only a standard normal prior may change"):
        resume_or_init(None, ModelConfig(latent_dim=4, hidden=(16,)), TrainConfig(), init_from=run_folder)
    with pytest.raises(CheckpointError, match="no shipped model named"):
        resume_or_init(None, SMALL, TrainConfig(), init_from="no-such-model")
    with pytest.raises(ConfigError, match="autoencoder cannot be trained with the IWAE objective"):
        resume_or_init(None, ModelConfig(kind="ae"), TrainConfig(objective="iwae"))


def test_damaged_records_are_clear_errors(run_folder: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run_folder, broken)
    (broken / "command.json").write_text('{"command": ')
    with pytest.raises(CheckpointError, match="command.json .*truncated or corrupted"):
        Run.load(broken)
    (broken / "command.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="must hold a JSON object"):
        Run.load(broken)


def test_a_run_started_before_start_json_reads_its_start_as_it_is_now(run_folder: Path, data, tmp_path: Path) -> None:
    tuned = tmp_path / "old-style"
    _train(data, tuned, epochs=1, init_from=run_folder)
    Command("vae train --out old-style", None, Provenance.of(run_folder)).save(tuned)  # no start.json
    assert [s.epochs for s in Run.load(tuned).stages()] == [2, 1]
    assert json.loads((tuned / "command.json").read_text())["init_from"]["epochs"] == 2

"""The typed records of run folders and model folders: the shipped model cards, round trips, damaged files.

No training: the records are written and read directly (a run folder's records read together are
tested in `tests/test_runs.py`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import vae
from vae import CheckpointError, TrainConfig
from vae.records import CheckpointState, Command, ModelCard, Provenance, Resumption, Stage, StartRecord


@pytest.mark.parametrize("name", ["default", "latent2d", "ae2d", "cvae"])
def test_the_shipped_model_cards_read_as_records(name: str) -> None:
    metrics = vae.load_metrics(name)
    card = ModelCard.from_dict(metrics)
    assert card.epochs == metrics["epochs"] and card.file_bytes == metrics["file_bytes"]
    assert sum(s.epochs for s in card.stages) == card.epochs
    assert ModelCard.from_dict(card.to_dict()) == card  # the typed record round-trips
    assert card.stages[-1].evaluation == metrics.get("evaluation")
    assert len(card.stages) == (8 if name == "default" else 1)


def test_the_records_round_trip_through_their_files(tmp_path: Path) -> None:
    start = Provenance("default", "vae/pretrained/default", "vae train --out runs/default", 8)
    command = Command("vae train --out run --init-from default", "2026-01-01 00:00:00", start,
                      (Resumption("vae train --out run --resume", 3),))
    command.save(tmp_path)
    assert Command.load(tmp_path) == command
    assert Command.load(tmp_path / "elsewhere") == Command()  # a run started from Python has none
    stage = Stage("vae train --out runs/default", (), 8, TrainConfig(epochs=8, val_size=100), 12.5, {"split": "test"},
                  {"split": "val", "val_nll": 90.0})
    record = StartRecord((stage, Stage(None, (), 2, None, 3.0)), ({"stage": 1, "epoch": 1, "wall_seconds": 1.5},))
    record.save(tmp_path)
    assert StartRecord.load(tmp_path) == record
    assert StartRecord.load(tmp_path / "elsewhere") is None  # a run from scratch
    assert Stage.from_dict(stage.to_dict()) == stage


@pytest.mark.parametrize("load, file", [(Command.load, "command.json"), (StartRecord.load, "start.json"),
                                        (CheckpointState.load, "state.json")])
def test_a_damaged_record_is_a_clear_error(load, file: str, tmp_path: Path) -> None:
    (tmp_path / file).write_text('{"epoch": ')
    with pytest.raises(CheckpointError, match=f"{file} .*truncated or corrupted"):
        load(tmp_path)
    (tmp_path / file).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="must hold a JSON object"):
        load(tmp_path)


@pytest.mark.parametrize("load, file, text, field", [
    (CheckpointState.load, "state.json", "{}", "epoch"),
    (CheckpointState.load, "state.json", '{"epoch": 2}', "train_config"),
    (Command.load, "command.json", '{"resumed": [{"command": "vae train"}]}', "at_epoch"),
    (StartRecord.load, "start.json", '{"stages": [{"command": "vae train"}], "curve": []}', "epochs"),
])
def test_a_record_missing_a_field_is_an_error_that_names_the_file(load, file: str, text: str, field: str,
                                                                  tmp_path: Path) -> None:
    (tmp_path / file).write_text(text)
    with pytest.raises(CheckpointError, match=f"{file} has no '{field}' field: the file is damaged"):
        load(tmp_path)


def test_a_record_with_a_mistyped_field_is_an_error_that_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"epoch": "two", "train_config": {}}')
    with pytest.raises(CheckpointError, match=r"state.json holds an invalid record \(epoch must be a number of epochs"):
        CheckpointState.load(tmp_path)
    (tmp_path / "state.json").write_text('{"epoch": 2, "train_config": {"epochs": 0}}')
    with pytest.raises(CheckpointError, match=r"state.json holds an invalid record \(epochs must be a positive integer"):
        CheckpointState.load(tmp_path)
    (tmp_path / "command.json").write_text('{"resumed": 3}')
    with pytest.raises(CheckpointError, match="command.json holds an invalid record"):
        Command.load(tmp_path)
    model = vae.save_model(vae.build_model(vae.ModelConfig(latent_dim=2, hidden=(8,))), tmp_path / "model",
                           {"training_command": "vae train", "epochs": 2, "training_seconds": 1.0,
                            "stages": [{"command": "vae train"}]})
    with pytest.raises(CheckpointError, match="metrics.json has no 'epochs' field"):
        ModelCard.load(model)

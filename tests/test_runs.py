"""Run folders: their records loaded together, the stages and curve of a fine-tuned run, the export to a model folder.

Runs use a tiny MLP on a few hundred real MNIST digits, so each epoch takes a fraction of a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vae
from vae import MNIST, CheckpointError, ModelConfig, TrainConfig
from vae.records import Command, ModelCard, Provenance, StartRecord, training_stages
from vae.runs import Run, held_out_size, starting_record

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


def test_export_records_the_validation_numbers_the_model_was_chosen_on(run_folder: Path, tmp_path: Path) -> None:
    validation = {"split": "val", "val_nll": 101.0, "k": 2}
    card = Run.load(run_folder).export(tmp_path / "model", {"split": "test", "test_nll": 100.0}, validation)
    metrics = vae.load_metrics(tmp_path / "model")
    assert metrics["validation"] == validation and card.stages[-1].validation == validation
    assert ModelCard.from_dict(metrics) == card
    with pytest.raises(ValueError, match="scores the test split"):
        Run.load(run_folder).export(tmp_path / "refused", None, {"split": "test", "test_nll": 100.0})
    assert not (tmp_path / "refused").exists()


def test_export_refuses_a_record_of_other_weights(run_folder: Path, tmp_path: Path) -> None:
    """`vae evaluate` writes the SHA-256 of the weights it scored; an export checks it (records without one pass)."""
    weights = vae.weights_sha256(run_folder)
    own = {"split": "test", "test_nll": 100.0, "weights_sha256": weights}
    assert Run.load(run_folder).export(tmp_path / "model", own, {"split": "val", "weights_sha256": weights}).evaluation == own
    other = {"model": "runs/other/checkpoint", "weights_sha256": "0" * 64}
    with pytest.raises(ValueError, match=r"the evaluation scores other weights than .* \(runs/other/checkpoint\): evaluate this run"):
        Run.load(run_folder).export(tmp_path / "refused", {"split": "test", **other})
    with pytest.raises(ValueError, match="the validation record scores other weights"):
        Run.load(run_folder).export(tmp_path / "refused", None, {"split": "val", **other})
    assert not (tmp_path / "refused").exists()


def test_a_fine_tuned_run_keeps_each_earlier_stages_validation(run_folder: Path, data, tmp_path: Path) -> None:
    import shutil

    first = tmp_path / "first"
    shutil.copytree(run_folder, first)
    (first / "validation.json").write_text('{"split": "val", "val_nll": 99.0}')  # vae evaluate first --split val --out ...
    assert Run.load(first).validation == {"split": "val", "val_nll": 99.0}
    stages, _ = starting_record(Provenance.of(first))
    assert stages[-1].validation == {"split": "val", "val_nll": 99.0} and stages[-1].evaluation is None


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


def test_export_writes_only_into_a_new_folder_or_a_model_folder_it_may_replace(run_folder: Path, data, tmp_path: Path) -> None:
    run = Run.load(run_folder)
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ValueError, match="is a file: give the export a folder"):
        run.export(tmp_path / "file")
    with pytest.raises(ValueError, match="is the run folder itself"):
        run.export(run_folder)
    with pytest.raises(ValueError, match="is a training run's folder"):
        run.export(run_folder / "checkpoint")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds other files and no model"):
        run.export(tmp_path / "notes")
    model = tmp_path / "model"
    run.export(model)
    with pytest.raises(ValueError, match="already holds a model, not the one this run started from: pass --force"):
        run.export(model)
    assert run.export(model, force=True).epochs == 2
    # a run fine-tuned from the model may replace it (the staged training of the shipped models)
    tuned = tmp_path / "tuned"
    _train(data, tuned, epochs=1, init_from=model)
    Command("vae train --out tuned", None, Provenance.of(model)).save(tuned)
    assert Run.load(tuned).export(model).epochs == 3
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["a.txt"] and (tmp_path / "file").read_text() == "mine"

r"""The typed JSON records of run folders and model folders: what a training run wrote, what an export ships.

A **run folder**, written by `vae train --out RUN` (or [`vae.train`][vae.training.train] with a folder):

| file | record | what it holds |
| --- | --- | --- |
| `command.json` | [`Command`][vae.records.Command] | the command line, when it started, the `--init-from` model, each `--resume` |
| `start.json` | [`StartRecord`][vae.records.StartRecord] | an `--init-from` run's starting model: its stages and curve |
| `history.jsonl` | one epoch record (a dict) per line | training averages, test and validation loss, beta, lr, seconds |
| `checkpoint/state.json` | [`CheckpointState`][vae.records.CheckpointState] | epochs done, training config, parameter count |
| `checkpoint/metrics.json` | an epoch record | the last line of `history.jsonl` |
| `evaluation.json` | [`vae.evaluate`][vae.evaluation.evaluate]'s dict | optional: `vae evaluate RUN --out RUN/evaluation.json` |
| `validation.json` | the same, of the validation split | optional: `vae evaluate RUN --split val --out RUN/validation.json`, what the run was chosen on |
| `snapshots/epoch_XXXX.safetensors` | [`Snapshot`][vae.movie.Snapshot] | optional (`vae train --snapshots`): one training-movie frame's data per epoch |

A **model folder** (what [`Run.export`][vae.runs.Run.export] writes, as in `vae/pretrained/<name>/`)
holds the weights and `config.json`, the model card `metrics.json` ([`ModelCard`][vae.records.ModelCard])
and the whole training curve as `history.jsonl`. A model fine-tuned from another records one
[`Stage`][vae.records.Stage] per training run behind it.

The records are JSON only (no weights are read); [`Run`][vae.runs.Run] reads a run folder's
records together.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from .checkpoint import METRICS, STATE, CheckpointError, load_metrics, read_json, resolve_model_dir
from .config import TrainConfig, from_dict, save_json, to_dict

COMMAND, START, HISTORY, EVALUATION = "command.json", "start.json", "history.jsonl", "evaluation.json"
VALIDATION = "validation.json"

EpochRecord = dict[str, Any]
"""One line of history.jsonl: `epoch`, `train_*` averages, `test_loss` (and `val_*`), `beta`, `lr`, `epoch_seconds`,
`wall_seconds` (and `stage` in a fine-tuned model's curve)."""

R = TypeVar("R")


def _parse(path: Path, build: Callable[[], R]) -> R:
    """A record built from a file's JSON, a missing or mistyped field turned into a CheckpointError naming the file."""
    try:
        return build()
    except KeyError as err:
        raise CheckpointError(f"{path} has no {err.args[0]!r} field: the file is damaged or is not this record; "
                              "restore it from a copy, or train (or export) again") from None
    except (TypeError, AttributeError, ValueError) as err:  # a field of the wrong type; ValueError: a ConfigError
        raise CheckpointError(f"{path} holds an invalid record ({err}): the file is damaged or was edited; "
                              "restore it from a copy, or train (or export) again") from None


def _relative(path: Path) -> str:
    """A path as recorded: relative to the working directory when inside it (as the command itself is), else absolute."""
    path = path.resolve()
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


@dataclass(frozen=True)
class Resumption:
    """One `vae train --resume` of a run: its command and the epoch it continued from."""

    command: str
    at_epoch: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resumption:
        return cls(data["command"], data["at_epoch"])


@dataclass(frozen=True)
class Provenance:
    """Where a fine-tuning run's starting weights came from (`init_from` in command.json and the model card).

    Attributes:
        model: the model as given to `--init-from` (a folder or a shipped name).
        path: its folder, relative to the working directory when inside it (nothing of the training machine).
        training_command: the command that trained it (None when unknown).
        epochs: how many epochs it had been trained for (None when unknown).
    """

    model: str
    path: str
    training_command: str | None
    epochs: int | None

    @classmethod
    def of(cls, model: str | os.PathLike[str]) -> Provenance:
        """The record of a saved model: a model folder, a run folder or a shipped name."""
        folder = resolve_model_dir(model)
        if (folder / STATE).is_file():  # a run's checkpoint: the run folder holds its record
            command, epochs = Command.load(folder.parent).command, CheckpointState.load(folder).epoch
        else:
            card = ModelCard.load(folder)
            command, epochs = (card.training_command, card.epochs) if card else (None, None)
        return cls(str(model), _relative(folder), command, epochs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        return cls(data["model"], data["path"], data.get("training_command"), data.get("epochs"))


@dataclass(frozen=True)
class Command:
    """A run's `command.json`: how it was started and resumed.

    Attributes:
        command: the `vae train ...` command line (None for a run started from Python).
        started: when, `YYYY-MM-DD HH:MM:SS` local time.
        init_from: the model a fine-tuning run started from.
        resumed: every `--resume` of the run, oldest first.
    """

    command: str | None = None
    started: str | None = None
    init_from: Provenance | None = None
    resumed: tuple[Resumption, ...] = ()

    @classmethod
    def load(cls, run: Path) -> Command:
        """The run's command.json (an empty record when there is none)."""
        if not (run / COMMAND).is_file():
            return cls()
        data = read_json(run / COMMAND)

        def build() -> Command:
            init_from = Provenance.from_dict(data["init_from"]) if data.get("init_from") else None
            resumed = tuple(Resumption.from_dict(r) for r in data.get("resumed", []))
            return cls(data.get("command"), data.get("started"), init_from, resumed)

        return _parse(run / COMMAND, build)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"command": self.command, "started": self.started}
        if self.init_from is not None:
            data["init_from"] = dataclasses.asdict(self.init_from)
        if self.resumed:
            data["resumed"] = [dataclasses.asdict(r) for r in self.resumed]
        return data

    def save(self, run: Path) -> None:
        save_json(run / COMMAND, self.to_dict())


@dataclass(frozen=True)
class CheckpointState:
    """A checkpoint's `state.json`, without the optimizer's hyperparameters (the checkpoint's own business).

    Attributes:
        epoch: epochs done.
        train_config: the run's training config.
        parameters: the model's trainable parameters.
    """

    epoch: int
    train_config: TrainConfig
    parameters: int | None = None

    @classmethod
    def load(cls, checkpoint: Path) -> CheckpointState:
        data = read_json(checkpoint / STATE)

        def build() -> CheckpointState:
            if isinstance(data["epoch"], bool) or not isinstance(data["epoch"], int) or data["epoch"] < 0:
                raise TypeError(f"epoch must be a number of epochs done, not {data['epoch']!r}")
            return cls(data["epoch"], from_dict(TrainConfig, data["train_config"]), data.get("parameters"))

        return _parse(checkpoint / STATE, build)

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "train_config": to_dict(self.train_config), "parameters": self.parameters}


@dataclass(frozen=True)
class Stage:
    """One training run behind a model: a model fine-tuned from another has several, oldest first.

    Attributes:
        command: the `vae train` command of the stage.
        resumed: its resumptions.
        epochs: the epochs it trained for.
        train_config: its training config (None when not recorded).
        training_seconds: its wall-clock time.
        evaluation: the model's evaluation after the stage (`vae evaluate`'s dict), when it was evaluated.
        validation: the model's evaluation on the validation split after the stage (`vae evaluate --split val`),
            when it was evaluated there: what the decision to ship it or train another stage was taken on.
    """

    command: str | None
    resumed: tuple[Resumption, ...]
    epochs: int
    train_config: TrainConfig | None
    training_seconds: float
    evaluation: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stage:
        config = data.get("train_config")
        return cls(data.get("command"), tuple(Resumption.from_dict(r) for r in data.get("resumed", [])), data["epochs"],
                   None if config is None else from_dict(TrainConfig, config), data["training_seconds"], data.get("evaluation"),
                   data.get("validation"))

    def to_dict(self) -> dict[str, Any]:
        data = {"command": self.command, "resumed": [dataclasses.asdict(r) for r in self.resumed], "epochs": self.epochs,
                "train_config": None if self.train_config is None else to_dict(self.train_config),
                "training_seconds": self.training_seconds}
        if self.evaluation is not None:
            data["evaluation"] = self.evaluation
        if self.validation is not None:
            data["validation"] = self.validation
        return data


@dataclass(frozen=True)
class StartRecord:
    """A fine-tuning run's `start.json`: its starting model's stages and curve, as they were when the run began.

    The starting model's folder may be overwritten before the run is exported (a new stage of a
    shipped model replaces it), so the record is copied when training starts.
    """

    stages: tuple[Stage, ...]
    curve: tuple[EpochRecord, ...]

    @classmethod
    def load(cls, run: Path) -> StartRecord | None:
        if not (run / START).is_file():
            return None
        data = read_json(run / START)
        return _parse(run / START, lambda: cls(tuple(Stage.from_dict(s) for s in data["stages"]), tuple(data["curve"])))

    def save(self, run: Path) -> None:
        save_json(run / START, {"stages": [s.to_dict() for s in self.stages], "curve": list(self.curve)})


@dataclass(frozen=True)
class ModelCard:
    """An exported model folder's `metrics.json`: how the model was trained and how it scored.

    Attributes:
        training_command: the command of the last stage.
        resumed: the last stage's resumptions.
        init_from: the model the last stage started from (None: trained from scratch).
        epochs: the epochs of all stages together.
        train_config: the last stage's training config.
        parameters: trainable parameters.
        training_seconds: the wall-clock time of all stages together.
        stages: every stage, oldest first (written under `stages` only when there are several).
        last_epoch: the last epoch's record.
        evaluation: the test evaluation (`vae evaluate`'s dict), when the export was given one.
        file_bytes: the size of `model.safetensors`.
        validation: the last stage's evaluation on the validation split, when the export was given one.
    """

    training_command: str | None
    resumed: tuple[Resumption, ...]
    init_from: Provenance | None
    epochs: int
    train_config: TrainConfig | None
    parameters: int | None
    training_seconds: float
    stages: tuple[Stage, ...]
    last_epoch: EpochRecord = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    file_bytes: int | None = None
    validation: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard | None:
        """The card in a metrics.json, or None when it holds no training record (e.g. a checkpoint's epoch record)."""
        if not {"training_command", "epochs", "training_seconds"} <= data.keys():
            return None
        resumed = tuple(Resumption.from_dict(r) for r in data.get("resumed", []))
        config = None if data.get("train_config") is None else from_dict(TrainConfig, data["train_config"])
        evaluation = data.get("evaluation")
        if data.get("stages"):
            stages = [Stage.from_dict(s) for s in data["stages"]]
        else:  # trained in one run: one stage
            stages = [Stage(data["training_command"], resumed, data["epochs"], config, data["training_seconds"])]
        if evaluation is not None:  # the model's own evaluation is its last stage's
            stages[-1] = replace(stages[-1], evaluation=evaluation)
        if (validation := data.get("validation")) is not None:
            stages[-1] = replace(stages[-1], validation=validation)
        init_from = Provenance.from_dict(data["init_from"]) if data.get("init_from") else None
        return cls(data["training_command"], resumed, init_from, data["epochs"], config, data.get("parameters"),
                   data["training_seconds"], tuple(stages), data.get("last_epoch", {}), evaluation, data.get("file_bytes"),
                   validation)

    @classmethod
    def load(cls, model: str | os.PathLike[str]) -> ModelCard | None:
        """The card of a model folder or shipped name (None when its metrics.json holds none)."""
        metrics = load_metrics(model)
        return _parse(resolve_model_dir(model) / METRICS, lambda: cls.from_dict(metrics))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"training_command": self.training_command,
                                "resumed": [dataclasses.asdict(r) for r in self.resumed]}
        if self.init_from is not None:
            data["init_from"] = dataclasses.asdict(self.init_from)
        data |= {"epochs": self.epochs, "train_config": None if self.train_config is None else to_dict(self.train_config),
                 "parameters": self.parameters, "training_seconds": self.training_seconds}
        if len(self.stages) > 1:
            data["stages"] = [s.to_dict() for s in self.stages]
        data["last_epoch"] = self.last_epoch
        if self.evaluation is not None:
            data["evaluation"] = self.evaluation
        if self.validation is not None:
            data["validation"] = self.validation
        if self.file_bytes is not None:
            data["file_bytes"] = self.file_bytes
        return data


def training_stages(metrics: dict[str, Any]) -> list[Stage]:
    """The training stages recorded in an exported model's `metrics.json`, oldest first ([] when it records none).

    A fine-tuned model lists them under `stages`; a model trained in one run is one stage. The last
    stage's evaluation is the model's own.
    """
    card = ModelCard.from_dict(metrics)
    return [] if card is None else list(card.stages)


__all__ = [
    "CheckpointState",
    "Command",
    "ModelCard",
    "Provenance",
    "Resumption",
    "Stage",
    "StartRecord",
    "read_json",
    "training_stages",
]

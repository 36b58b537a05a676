r"""Run folders and model folders as typed records: what a training run wrote, what an export ships.

A **run folder**, written by `vae train --out RUN` (or [`vae.train`][vae.training.train] with a folder):

| file | record | what it holds |
| --- | --- | --- |
| `command.json` | [`Command`][vae.runs.Command] | the command line, when it started, the `--init-from` model, each `--resume` |
| `start.json` | [`StartRecord`][vae.runs.StartRecord] | an `--init-from` run's starting model: its stages and curve |
| `history.jsonl` | one epoch record (a dict) per line | training averages, test and validation loss, beta, lr, seconds |
| `checkpoint/state.json` | [`CheckpointState`][vae.runs.CheckpointState] | epochs done, training config, parameter count |
| `checkpoint/metrics.json` | an epoch record | the last line of `history.jsonl` |
| `evaluation.json` | [`vae.evaluate`][vae.evaluation.evaluate]'s dict | optional: `vae evaluate RUN --out RUN/evaluation.json` |
| `snapshots/epoch_XXXX.safetensors` | [`Snapshot`][vae.movie.Snapshot] | optional (`vae train --snapshots`): one training-movie frame's data per epoch |

[`Run.load`][vae.runs.Run.load] reads them all (none of the weights); a run's
[`stages`][vae.runs.Run.stages] and [`curve`][vae.runs.Run.curve] count a fine-tuning run on from
the model it started from, and [`export`][vae.runs.Run.export] writes a **model folder**: the
weights and `config.json`, the model card `metrics.json` ([`ModelCard`][vae.runs.ModelCard]) and
the whole training curve as `history.jsonl`.

[`resume_or_init`][vae.runs.resume_or_init] decides, from the JSON records alone, where a training
run starts: a new run, the checkpoint of a run to resume, or a saved model to fine-tune. Both the
command line and [`vae.train`][vae.training.train] call it, so each mistake has one error.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (
    CHECKPOINT_DIR,
    METRICS,
    STATE,
    WEIGHTS,
    CheckpointError,
    load,
    load_config,
    load_metrics,
    load_state,
    read_checkpoint,
    recover_checkpoint,
    resolve_model_dir,
    restore_optimizer,
    save_model,
)
from .config import ConfigError, ModelConfig, TrainConfig, check_run, from_dict, read_jsonl, save_json, to_dict, write_jsonl
from .models import EncoderDecoder, num_parameters

COMMAND, START, HISTORY, EVALUATION = "command.json", "start.json", "history.jsonl", "evaluation.json"

EpochRecord = dict[str, Any]
"""One line of history.jsonl: `epoch`, `train_*` averages, `test_loss` (and `val_*`), `beta`, `lr`, `epoch_seconds`,
`wall_seconds` (and `stage` in a fine-tuned model's curve)."""


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON object from a run's or model's record, with a clear error for a missing or damaged file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"cannot read {path} ({err}); the file may be truncated or corrupted") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return data


def _relative(path: Path) -> str:
    """A path as recorded: relative to the working directory when inside it (as the command itself is), else absolute."""
    path = path.resolve()
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


# -- the records ------------------------------------------------------------------------------------
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
        init_from = Provenance.from_dict(data["init_from"]) if data.get("init_from") else None
        resumed = tuple(Resumption.from_dict(r) for r in data.get("resumed", []))
        return cls(data.get("command"), data.get("started"), init_from, resumed)

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
        return cls(data["epoch"], from_dict(TrainConfig, data["train_config"]), data.get("parameters"))

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
    """

    command: str | None
    resumed: tuple[Resumption, ...]
    epochs: int
    train_config: TrainConfig | None
    training_seconds: float
    evaluation: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stage:
        config = data.get("train_config")
        return cls(data.get("command"), tuple(Resumption.from_dict(r) for r in data.get("resumed", [])), data["epochs"],
                   None if config is None else from_dict(TrainConfig, config), data["training_seconds"], data.get("evaluation"))

    def to_dict(self) -> dict[str, Any]:
        data = {"command": self.command, "resumed": [dataclasses.asdict(r) for r in self.resumed], "epochs": self.epochs,
                "train_config": None if self.train_config is None else to_dict(self.train_config),
                "training_seconds": self.training_seconds}
        return data if self.evaluation is None else {**data, "evaluation": self.evaluation}


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
        return cls(tuple(Stage.from_dict(s) for s in data["stages"]), tuple(data["curve"]))

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
        init_from = Provenance.from_dict(data["init_from"]) if data.get("init_from") else None
        return cls(data["training_command"], resumed, init_from, data["epochs"], config, data.get("parameters"),
                   data["training_seconds"], tuple(stages), data.get("last_epoch", {}), evaluation, data.get("file_bytes"))

    @classmethod
    def load(cls, model: str | os.PathLike[str]) -> ModelCard | None:
        """The card of a model folder or shipped name (None when its metrics.json holds none)."""
        return cls.from_dict(load_metrics(model))

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


# -- a run folder -----------------------------------------------------------------------------------
@dataclass
class Run:
    """A training run's folder and its records (none of the weights are read).

    Attributes:
        folder: the run folder.
        command: its command.json.
        history: its history.jsonl, one record per epoch.
        state: its checkpoint's state.json (None before the first epoch ends).
        start: its start.json (a fine-tuning run).
        evaluation: its evaluation.json, if it was evaluated into it.
    """

    folder: Path
    command: Command
    history: list[EpochRecord]
    state: CheckpointState | None
    start: StartRecord | None
    evaluation: dict[str, Any] | None

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Run:
        """Read a run folder's records (those that are missing are empty)."""
        folder = Path(folder)
        checkpoint = folder / CHECKPOINT_DIR
        state = CheckpointState.load(checkpoint) if (checkpoint / STATE).is_file() else None
        evaluation = read_json(folder / EVALUATION) if (folder / EVALUATION).is_file() else None
        return cls(folder, Command.load(folder), read_jsonl(folder / HISTORY), state, StartRecord.load(folder), evaluation)

    def append_epoch(self, record: EpochRecord) -> None:
        """Add an epoch's record to history.jsonl."""
        write_jsonl(self.folder / HISTORY, [record], append=True)
        self.history.append(record)

    def keep_epochs(self, epochs: int) -> list[EpochRecord]:
        """Forget the records after epoch `epochs` (a resumed run continues from its checkpoint), rewriting history.jsonl."""
        self.history = [r for r in self.history if r["epoch"] <= epochs]
        if (self.folder / HISTORY).is_file():
            write_jsonl(self.folder / HISTORY, self.history)
        return list(self.history)

    def _earlier(self) -> tuple[list[Stage], list[EpochRecord]]:
        """The stages and curve of the model this run started from ([], [] for a run from scratch)."""
        if self.start is not None:
            return list(self.start.stages), list(self.start.curve)
        return starting_record(self.command.init_from)  # a run from before start.json: the starting folder as it is now

    def stages(self) -> list[Stage]:
        """The training stages behind the run's model: the starting model's (if any), then this run."""
        if self.state is None or not self.history:
            raise CheckpointError(f"{self.folder} holds no finished epoch: nothing has been trained yet")
        this = Stage(self.command.command, self.command.resumed, self.history[-1]["epoch"], self.state.train_config,
                     self.history[-1]["wall_seconds"])
        return [*self._earlier()[0], this]

    def curve(self) -> list[EpochRecord]:
        """The whole training curve: the starting model's, then this run's epochs and seconds counted on from where it ended.

        Each record gets the number of its stage, only when there is more than one (a one-stage curve is the
        run's history unchanged).
        """
        earlier, curve = self._earlier()
        epochs0 = sum(stage.epochs for stage in earlier)
        seconds0 = sum(stage.training_seconds for stage in earlier)
        marks = {"stage": len(earlier) + 1} if earlier else {}
        return curve + [{**r, **marks, "epoch": r["epoch"] + epochs0, "wall_seconds": r["wall_seconds"] + seconds0}
                        for r in self.history]

    def export(self, dest: str | os.PathLike[str], evaluation: dict[str, Any] | None = None) -> ModelCard:
        """Write the run's model into a model folder: weights, config.json, the card metrics.json and the curve history.jsonl.

        Args:
            dest: the model folder (e.g. `vae/pretrained/default`); it may be the folder this run started
                from (its record was copied into start.json when the run began).
            evaluation: the test evaluation to record (`vae evaluate`'s dict); a validation one is refused.

        Raises:
            ValueError: an evaluation of the validation split.
            CheckpointError: a run without a finished epoch, or unreadable weights.
        """
        if evaluation is not None and evaluation.get("split", "test") != "test":
            raise ValueError(f"the evaluation scores the {evaluation['split']} split: a model folder records its test "
                             "numbers (choose models on the validation split, then run `vae evaluate` on the test split "
                             "once and export with that file)")
        resolve_model_dir(self.folder)  # a clear error for a folder that is not a run
        stages, curve = self.stages(), self.curve()  # read before dest is written: it may be the starting model's folder
        if evaluation is not None:
            stages[-1] = replace(stages[-1], evaluation=evaluation)
        model = load(self.folder)
        folder = save_model(model, dest)  # the weights, written once
        card = ModelCard(
            training_command=self.command.command, resumed=self.command.resumed, init_from=self.command.init_from,
            epochs=sum(stage.epochs for stage in stages), train_config=stages[-1].train_config,
            parameters=num_parameters(model), training_seconds=sum(stage.training_seconds for stage in stages),
            stages=tuple(stages), last_epoch=load_metrics(self.folder), evaluation=evaluation,
            file_bytes=(folder / WEIGHTS).stat().st_size,
        )
        save_json(folder / METRICS, card.to_dict())
        write_jsonl(folder / HISTORY, curve)
        return card


def starting_record(start: Provenance | None) -> tuple[list[Stage], list[EpochRecord]]:
    """The stages and curve of a fine-tuning run's starting model, as its folder holds them now ([], [] when missing).

    The folder is a run's checkpoint (the run folder holds its record: command.json, history.jsonl and, if it
    was evaluated, evaluation.json) or an exported model folder (metrics.json and history.jsonl).
    """
    if start is None:
        return [], []
    folder = Path(start.path)
    if (folder / STATE).is_file():
        run = Run.load(folder.parent)
        if not run.history or not (run.folder / COMMAND).is_file():
            return [], []
        stages, curve = run.stages(), run.curve()
        if run.evaluation is not None:
            stages[-1] = replace(stages[-1], evaluation=run.evaluation)
    else:
        curve = read_jsonl(folder / HISTORY)
        stages = training_stages(load_metrics(folder)) if folder.is_dir() else []
    if not stages or not curve:
        return [], []
    return stages, [{"stage": 1, **r} for r in curve]  # a one-stage curve is stage 1


def held_out_size(model: str | os.PathLike[str]) -> int:
    """The size of the validation split a model never trained on: the smallest `val_size` of all its training stages.

    A model fine-tuned from another was trained on whatever each stage trained on, so only the last images
    that every stage held out are unseen.

    Raises:
        ValueError: the model records no training config, or one of its stages trained on the whole training set.
    """
    folder = resolve_model_dir(model)
    if (folder / STATE).is_file():  # a run's checkpoint: the run folder holds its record
        run = Run.load(folder.parent)
        finished = run.history and run.state
        configs = [s.train_config for s in run.stages()] if finished else [CheckpointState.load(folder).train_config]
    else:
        configs = [stage.train_config for stage in training_stages(load_metrics(folder))]
    if not configs or any(c is None for c in configs):
        raise ValueError(f"{model} has no record of how it was trained, so which training images it held out is unknown: "
                         "--split val needs a model trained with --val-size (a run folder, or a folder exported from one)")
    sizes = [c.val_size for c in configs if c is not None]
    if min(sizes) < 1:
        which = "" if len(sizes) == 1 else f" (stage {sizes.index(min(sizes)) + 1} of {len(sizes)})"
        raise ValueError(f"{model} was trained on the whole training set{which}: it has no validation split. "
                         "Train with --val-size N to hold one out, or evaluate it with --split test")
    return min(sizes)


# -- where a training run starts --------------------------------------------------------------------
@dataclass(frozen=True)
class Start:
    """Where a training run starts, decided from the records alone (no weights read yet).

    Attributes:
        model_config: the model to train.
        train_config: the run's training config.
        epoch: epochs already done (the checkpoint's, when resuming; else 0).
        checkpoint: the checkpoint folder to resume from.
        init_from: the model folder whose weights start a fine-tuning run.
    """

    model_config: ModelConfig
    train_config: TrainConfig
    epoch: int = 0
    checkpoint: Path | None = None
    init_from: Path | None = None

    def restore(self, model: EncoderDecoder, optimizer: torch.optim.Optimizer) -> None:
        """Load the starting weights into a freshly built model (and, when resuming, the optimizer's state)."""
        device = next(model.parameters()).device
        if self.checkpoint is not None:
            _, weights, optimizer_tensors, state = read_checkpoint(self.checkpoint)
            load_state(model, {k: v.to(device) for k, v in weights.items()}, self.checkpoint)
            restore_optimizer(optimizer, optimizer_tensors, state["optimizer"])
        elif self.init_from is not None:
            start = load(self.init_from, device=device)
            new_prior = start.config.prior_components == 0 and self.model_config.prior_components > 0
            model.load_state_dict(start.state_dict(), strict=not new_prior)  # a new learned prior keeps its initialisation


def resume_or_init(
    out_dir: str | os.PathLike[str] | None, model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
    *, resume: bool = False, init_from: str | os.PathLike[str] | None = None, epochs: int | None = None,
) -> Start:
    """Where a training run starts: a new run, the checkpoint of a run to resume, or a saved model to fine-tune.

    Reads only JSON records, so the command line can check a run before it loads any data or weights;
    [`vae.train`][vae.training.train] calls it again with the configs it was given.

    Args:
        out_dir: the run folder (None: a run in memory, which cannot be resumed).
        model_config, train_config: the configs to train with. Resuming, either may be None: the
            checkpoint's is used (with `epochs`, if given); given, they must equal the checkpoint's
            (only `epochs` may grow). A new run needs `train_config`; with `init_from`,
            `model_config` defaults to the starting model's.
        resume: continue `out_dir/checkpoint/`.
        init_from: start a new run from this saved model's weights (a model folder, run folder or
            shipped name): fine-tuning. Its config must equal `model_config`, except that a standard
            normal prior may become a learned one.
        epochs: resuming without a `train_config`, the new number of epochs.

    Raises:
        CheckpointError: resuming without a checkpoint, a new run into a folder that holds one, or an
            unknown or damaged starting model.
        ConfigError: configs that differ from the checkpoint's or the starting model's, or a training
            config that cannot train the model ([`check_run`][vae.config.check_run]).
    """
    out = None if out_dir is None else Path(out_dir)
    if resume:
        if out is None:
            raise ConfigError("resuming needs the run folder to resume from (out_dir)")
        checkpoint = recover_checkpoint(out)
        if checkpoint is None:
            raise CheckpointError(f"--resume: no checkpoint in {out / CHECKPOINT_DIR} to resume from")
        saved_model, state = load_config(checkpoint), CheckpointState.load(checkpoint)
        if model_config is not None and model_config != saved_model:
            raise ConfigError(f"--resume: the model config differs from the checkpoint's ({saved_model})")
        if train_config is None:
            train_config = replace(state.train_config, epochs=epochs or state.train_config.epochs)
        elif replace(state.train_config, epochs=train_config.epochs) != train_config:
            raise ConfigError(f"--resume: the training config differs from the checkpoint's ({state.train_config}); "
                              "only epochs may change")
        return Start(saved_model, train_config, state.epoch, checkpoint=checkpoint)
    if out is not None and recover_checkpoint(out) is not None:
        raise CheckpointError(f"{out} already holds a checkpoint: pass --resume to continue it, or choose another --out")
    if train_config is None:
        raise ConfigError("a new training run needs its training config")
    start_dir = None
    if init_from is not None:
        start_dir = resolve_model_dir(init_from)
        start_config = load_config(start_dir)
        model_config = start_config if model_config is None else model_config
        new_prior = start_config.prior_components == 0 and start_config == replace(model_config, prior_components=0)
        if start_config != model_config and not new_prior:
            raise ConfigError(f"--init-from: {init_from} is a {start_config}, not the {model_config} to train "
                              "(of the model options only a standard normal prior may change, to a learned one)")
    if model_config is None:
        raise ConfigError("a new training run needs its model config (or a model to start from)")
    check_run(model_config, train_config)
    return Start(model_config, train_config, init_from=start_dir)


__all__ = [
    "CheckpointState",
    "Command",
    "ModelCard",
    "Provenance",
    "Resumption",
    "Run",
    "Stage",
    "Start",
    "StartRecord",
    "held_out_size",
    "read_json",
    "resume_or_init",
    "starting_record",
    "training_stages",
]

r"""A training run's folder: its records read together, its stages and curve, and its export as a model folder.

[`Run.load`][vae.runs.Run.load] reads every record of a run folder (none of the weights; the files
and their records are listed in [`vae.records`][vae.records]); a run's
[`stages`][vae.runs.Run.stages] and [`curve`][vae.runs.Run.curve] count a fine-tuning run on from
the model it started from, and [`export`][vae.runs.Run.export] writes a **model folder**: the
weights and `config.json`, the model card `metrics.json` ([`ModelCard`][vae.records.ModelCard]) and
the whole training curve as `history.jsonl`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .checkpoint import (
    CHECKPOINT_DIR,
    CONFIG,
    METRICS,
    STATE,
    WEIGHTS,
    CheckpointError,
    load,
    load_metrics,
    resolve_model_dir,
    save_model,
    weights_sha256,
)
from .config import TrainConfig, read_jsonl, save_json, write_jsonl
from .models import num_parameters
from .records import (
    COMMAND,
    EVALUATION,
    HISTORY,
    VALIDATION,
    CheckpointState,
    Command,
    EpochRecord,
    ModelCard,
    Provenance,
    Stage,
    StartRecord,
    read_json,
)


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
        validation: its validation.json, if it was evaluated on the validation split into it.
    """

    folder: Path
    command: Command
    history: list[EpochRecord]
    state: CheckpointState | None
    start: StartRecord | None
    evaluation: dict[str, Any] | None
    validation: dict[str, Any] | None = None

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Run:
        """Read a run folder's records (those that are missing are empty)."""
        folder = Path(folder)
        checkpoint = folder / CHECKPOINT_DIR
        state = CheckpointState.load(checkpoint) if (checkpoint / STATE).is_file() else None
        evaluation = read_json(folder / EVALUATION) if (folder / EVALUATION).is_file() else None
        validation = read_json(folder / VALIDATION) if (folder / VALIDATION).is_file() else None
        return cls(folder, Command.load(folder), read_jsonl(folder / HISTORY), state, StartRecord.load(folder), evaluation,
                   validation)

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

    def check_export_folder(self, dest: str | os.PathLike[str], force: bool = False) -> None:
        """Refuse an export folder whose files the export would overwrite or mix with its own (nothing is written).

        An export writes `model.safetensors`, `config.json`, `metrics.json` and `history.jsonl`. So `dest` may be a new or
        empty folder, or a model folder that the export replaces: the run's own starting model (`--init-from`, as a
        shipped model's staged training does), or any model folder with `force`. Never a file, this run's folder, a
        run folder (`checkpoint/` or `command.json`), or a non-empty folder without a model in it.

        Raises:
            ValueError: saying what `dest` holds and what to do.
        """
        path = Path(dest).expanduser()
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is a file: give the export a folder (a new one, or a model folder to replace)")
        if not path.is_dir():
            return
        if path.resolve() == self.folder.resolve():
            raise ValueError(f"{path} is the run folder itself: export it into another folder (e.g. models/NAME)")
        if (path / CHECKPOINT_DIR).exists() or (path / COMMAND).is_file() or (path / STATE).is_file():
            raise ValueError(f"{path} is a training run's folder (or checkpoint): an export there would mix the two's "
                             "records. Export into a new folder, or a model folder")
        if not ((path / WEIGHTS).is_file() or (path / CONFIG).is_file()):
            if any(path.iterdir()):
                raise ValueError(f"{path} is a folder that holds other files and no model: export into a new or empty "
                                 "folder, or a model folder to replace")
            return
        start = self.command.init_from
        own_start = start is not None and any(Path(p).expanduser().resolve() == path.resolve() for p in (start.path, start.model))
        if not own_start and not force:
            raise ValueError(f"{path} already holds a model, not the one this run started from: pass --force to replace "
                             "it (force=True), or export into a new folder")

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

    def export(self, dest: str | os.PathLike[str], evaluation: dict[str, Any] | None = None,
               validation: dict[str, Any] | None = None, force: bool = False) -> ModelCard:
        """Write the run's model into a model folder: weights, config.json, the card metrics.json and the curve history.jsonl.

        Args:
            dest: the model folder (e.g. `vae/pretrained/default`): a new or empty folder, or the folder this
                run started from (its record was copied into start.json when the run began); another model
                folder only with `force` ([`check_export_folder`][vae.runs.Run.check_export_folder]).
            evaluation: the test evaluation to record (`vae evaluate`'s dict); a validation one is refused.
            validation: the evaluation on the validation split the model was chosen on (`vae evaluate --split val`'s
                dict), recorded beside it; a test one is refused.
            force: replace whatever model folder `dest` holds.

        Raises:
            ValueError: an evaluation of the validation split as `evaluation`, or of another split as
                `validation`, a record of other weights (its `weights_sha256`, which `vae evaluate` writes), or a
                `dest` that must not be overwritten.
            CheckpointError: a run without a finished epoch, or unreadable weights.
        """
        self.check_export_folder(dest, force)
        if evaluation is not None and evaluation.get("split", "test") != "test":
            raise ValueError(f"the evaluation scores the {evaluation['split']} split: a model folder records its test "
                             "numbers (choose models on the validation split, then run `vae evaluate` on the test split "
                             "once and export with that file)")
        if validation is not None and validation.get("split", "test") != "val":
            raise ValueError(f"the validation record scores the {validation.get('split', 'test')} split: give the output of "
                             "`vae evaluate RUN --split val --out FILE` (the numbers the model was chosen on)")
        resolve_model_dir(self.folder)  # a clear error for a folder that is not a run
        weights = weights_sha256(self.folder)
        for label, record in (("evaluation", evaluation), ("validation record", validation)):
            if record is not None and record.get("weights_sha256", weights) != weights:  # older records carry no hash
                raise ValueError(f"the {label} scores other weights than {self.folder}'s ({record.get('model', 'another model')}): "
                                 f"evaluate this run (`vae evaluate {self.folder} ...`) and export with that file")
        stages, curve = self.stages(), self.curve()  # read before dest is written: it may be the starting model's folder
        if evaluation is not None:
            stages[-1] = replace(stages[-1], evaluation=evaluation)
        if validation is not None:
            stages[-1] = replace(stages[-1], validation=validation)
        model = load(self.folder)
        folder = save_model(model, dest)  # the weights, written once
        card = ModelCard(
            training_command=self.command.command, resumed=self.command.resumed, init_from=self.command.init_from,
            epochs=sum(stage.epochs for stage in stages), train_config=stages[-1].train_config,
            parameters=num_parameters(model), training_seconds=sum(stage.training_seconds for stage in stages),
            stages=tuple(stages), last_epoch=load_metrics(self.folder), evaluation=evaluation,
            file_bytes=(folder / WEIGHTS).stat().st_size, validation=validation,
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
        if run.validation is not None:
            stages[-1] = replace(stages[-1], validation=run.validation)
    else:
        curve = read_jsonl(folder / HISTORY)
        card = ModelCard.load(folder) if folder.is_dir() else None
        stages = list(card.stages) if card is not None else []
    if not stages or not curve:
        return [], []
    return stages, [{"stage": 1, **r} for r in curve]  # a one-stage curve is stage 1


def _stage_configs(model: str | os.PathLike[str], flag: str) -> list[TrainConfig]:
    """The train configs of every stage a model went through, oldest first; ValueError if any is unrecorded."""
    folder = resolve_model_dir(model)
    if (folder / STATE).is_file():  # a run's checkpoint: the run folder holds its record
        run = Run.load(folder.parent)
        finished = run.history and run.state
        configs = [s.train_config for s in run.stages()] if finished else [CheckpointState.load(folder).train_config]
    else:
        card = ModelCard.load(folder)
        configs = [stage.train_config for stage in card.stages] if card is not None else []
    if not configs or any(c is None for c in configs):
        raise ValueError(f"{model} has no record of how it was trained, so which training images it saw is unknown: "
                         f"{flag} needs a run folder, or a folder exported from one")
    return [c for c in configs if c is not None]


def held_out_size(model: str | os.PathLike[str]) -> int:
    """The size of the validation split a model never trained on: the smallest `val_size` of all its training stages.

    A model fine-tuned from another was trained on whatever each stage trained on, so only the last images
    that every stage held out are unseen.

    Raises:
        ValueError: the model records no training config, or one of its stages trained on the whole training set.
    """
    sizes = [c.val_size for c in _stage_configs(model, "--split val")]
    if min(sizes) < 1:
        which = "" if len(sizes) == 1 else f" (stage {sizes.index(min(sizes)) + 1} of {len(sizes)})"
        raise ValueError(f"{model} was trained on the whole training set{which}: it has no validation split. "
                         "Train with --val-size N to hold one out, or evaluate it with --split test")
    return min(sizes)


def trained_on_size(model: str | os.PathLike[str], num_train: int) -> int:
    """How many of the first training images every stage of a model trained on, out of `num_train`.

    Each stage trains on the first `train_size` images before its validation split (all of them without a
    `train_size`), so the images all stages saw are the first of the smallest such count. Scored beside the
    validation split, they measure how much better the model fits what it learned from than what it did not.

    Raises:
        ValueError: the model records no training config.
    """
    return min(min(c.train_size or num_train, num_train - c.val_size) for c in _stage_configs(model, "--split train"))


__all__ = [
    "Run",
    "held_out_size",
    "trained_on_size",
    "starting_record",
]

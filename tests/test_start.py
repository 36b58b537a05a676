"""Where a training run starts, decided from the JSON records alone: resume, fine-tune, or refuse with one error per case.

The run to start from is a tiny MLP trained for two epochs on 200 real MNIST digits (a fraction of
a second).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import vae
from vae import CheckpointError, ConfigError, ModelConfig, TrainConfig
from vae.start import resume_or_init

SMALL = ModelConfig(latent_dim=3, hidden=(16,))


@pytest.fixture(scope="module")
def run_folder(mnist_test, tmp_path_factory) -> Path:
    """A finished run of 2 epochs with a validation split of 40 images."""
    out = tmp_path_factory.mktemp("start") / "run"
    config = TrainConfig(epochs=2, batch_size=64, val_size=40)
    vae.train(SMALL, config, out, mnist_test.subset(200), mnist_test.subset(50), device="cpu", progress=False, grids=False)
    return out


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


def test_a_new_run_is_refused_a_folder_whose_records_it_would_overwrite(run_folder: Path, tmp_path: Path) -> None:
    """A model folder, or a run's history or snapshots without its checkpoint: a new run would rewrite or hide them."""
    model = vae.save_model(vae.load(run_folder), tmp_path / "model")
    with pytest.raises(CheckpointError, match=r"is a model folder \(model.safetensors, config.json\), not a run's"):
        resume_or_init(model, SMALL, TrainConfig())
    with pytest.raises(CheckpointError, match="is a model folder"):  # fine-tuning a model into its own folder
        resume_or_init(model, None, TrainConfig(), init_from=model)
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    (orphan / "history.jsonl").write_text('{"epoch": 1}\n')
    with pytest.raises(CheckpointError, match=r"holds a run's history.jsonl but no checkpoint .*Choose another --out"):
        resume_or_init(orphan, SMALL, TrainConfig())
    (orphan / "history.jsonl").unlink()
    (orphan / "snapshots").mkdir()
    (orphan / "snapshots" / "epoch_0001.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="holds a run's snapshots/ but no checkpoint"):
        resume_or_init(orphan, SMALL, TrainConfig())
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        resume_or_init(tmp_path / "file", SMALL, TrainConfig())
    # a run that never finished an epoch (its command.json, an empty history) holds nothing to lose
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "command.json").write_text('{"command": "vae train --out fresh"}')
    (fresh / "history.jsonl").write_text("")
    assert resume_or_init(fresh, SMALL, TrainConfig()).epoch == 0


def test_resuming_with_zero_epochs_is_refused_not_replaced_by_the_checkpoints(run_folder: Path) -> None:
    with pytest.raises(ConfigError, match="epochs must be a positive integer, not 0"):
        resume_or_init(run_folder, resume=True, epochs=0)
    assert resume_or_init(run_folder, resume=True).train_config.epochs == 2  # None: the checkpoint's

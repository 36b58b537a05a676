"""Saving and loading models: bit-exact round trips, atomic checkpoints, and clear errors, never pickles."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import vae
from vae import CheckpointError, ModelConfig, build_model, load, load_metrics, save_model
from vae.checkpoint import CHECKPOINT_DIR, available_models, recover_checkpoint, write_checkpoint

CONFIGS = [
    ModelConfig(latent_dim=2, hidden=(16,)),
    ModelConfig(kind="cvae", latent_dim=3, hidden=(16, 8)),
    ModelConfig(kind="ae", arch="conv", decoder="conv", latent_dim=2, hidden=(8,), channels=2),
]


def _saved(tmp_path: Path, config: ModelConfig = CONFIGS[0], metrics: dict | None = None) -> tuple[vae.VAE, Path]:
    torch.manual_seed(0)
    model = build_model(config)
    return model, save_model(model, tmp_path / "model", metrics)


@pytest.mark.parametrize("config", CONFIGS, ids=["vae", "cvae", "ae-conv"])
def test_round_trip_is_bit_exact(tmp_path: Path, config: ModelConfig) -> None:
    model, folder = _saved(tmp_path, config, metrics={"test_nll": 99.5})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    loaded = load(folder)
    assert type(loaded) is type(model) and loaded.config == config and not loaded.training
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for name in original:
        assert original[name].dtype == restored[name].dtype
        assert torch.equal(original[name], restored[name]), name
    x = torch.rand(2, 1, 28, 28)
    y = torch.tensor([1, 2]) if config.is_conditional else None
    assert torch.equal(model.eval().reconstruct(x, y), loaded.reconstruct(x, y))
    assert load_metrics(folder) == {"test_nll": 99.5}
    assert json.loads((folder / "config.json").read_text())["latent_dim"] == config.latent_dim


def test_load_accepts_a_path_string_and_a_run_folder(tmp_path: Path) -> None:
    model, folder = _saved(tmp_path)
    assert torch.equal(load(str(folder)).decoder.net[0].weight, model.decoder.net[0].weight)
    run = tmp_path / "run"
    optimizer = torch.optim.Adam(model.parameters())
    write_checkpoint(run, model, optimizer, {"epoch": 1}, {"test_loss": 1.0})
    loaded = load(run)  # a run folder: its checkpoint/ is loaded
    assert torch.equal(loaded.encoder.net[0].weight, model.encoder.net[0].weight)
    assert load_metrics(run) == {"test_loss": 1.0}
    assert load_metrics(folder.parent / "model") == {}  # no metrics.json: empty


def test_checkpoints_are_replaced_atomically_and_recovered(tmp_path: Path) -> None:
    model, _ = _saved(tmp_path)
    optimizer = torch.optim.Adam(model.parameters())
    run = tmp_path / "run"
    write_checkpoint(run, model, optimizer, {"epoch": 1}, {})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    write_checkpoint(run, model, optimizer, {"epoch": 2}, {})
    assert sorted(p.name for p in run.iterdir()) == [CHECKPOINT_DIR]  # no temporary folders left behind
    # safetensors' save_file makes its files private (0600); weights get the mode of every other new file
    modes = {p.name: p.stat().st_mode & 0o777 for p in (run / CHECKPOINT_DIR).iterdir()}
    assert modes["model.safetensors"] == modes["optimizer.safetensors"] == modes["config.json"], modes
    state = json.loads((run / CHECKPOINT_DIR / "state.json").read_text())
    assert state["epoch"] == 2 and "param_groups" in state["optimizer"]
    # an interruption between "checkpoint -> .checkpoint.old" and ".checkpoint.tmp -> checkpoint"
    (run / CHECKPOINT_DIR).rename(run / ".checkpoint.old")
    assert recover_checkpoint(run) == run / CHECKPOINT_DIR
    assert json.loads((run / CHECKPOINT_DIR / "state.json").read_text())["epoch"] == 2
    assert recover_checkpoint(tmp_path / "empty-run") is None


def test_files_are_safetensors_not_pickles(tmp_path: Path) -> None:
    model, folder = _saved(tmp_path)
    head = (folder / "model.safetensors").read_bytes()[:16]
    assert not head.startswith(b"\x80") and not head.startswith(b"PK")  # neither a pickle nor a torch zip
    assert set(load_file(str(folder / "model.safetensors"))) == set(model.state_dict())


def test_a_pickled_checkpoint_is_refused_without_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, folder = _saved(tmp_path)
    torch.save(model.state_dict(), folder / "model.safetensors")  # a .pt file under the expected name

    def forbidden(*args, **kwargs):
        raise AssertionError("a checkpoint was unpickled")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    with pytest.raises(CheckpointError, match="not a readable safetensors file.*pickled .pt/.pth files are not accepted"):
        load(folder)


def _corrupt(kind: str, folder: Path) -> None:
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    if kind == "truncated-weights":
        weights.write_bytes(data[: len(data) // 2])
    elif kind == "weights-cut-in-header":
        weights.write_bytes(data[:6])
    elif kind == "empty-weights":
        weights.write_bytes(b"")
    elif kind == "random-weights":
        noise = torch.randint(0, 256, (len(data),), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
        weights.write_bytes(noise.numpy().tobytes())
    elif kind == "malformed-config":
        (folder / "config.json").write_text('{"kind": "vae", "latent_dim": ')
    elif kind == "config-not-an-object":
        (folder / "config.json").write_text("[1, 2, 3]")
    elif kind == "config-unknown-key":
        (folder / "config.json").write_text(json.dumps({"latent_dim": 2, "hidden": [16], "layers": 3}))
    elif kind == "config-bad-value":
        (folder / "config.json").write_text(json.dumps({"latent_dim": -2, "hidden": [16]}))
    elif kind == "config-wrong-type":
        (folder / "config.json").write_text(json.dumps({"latent_dim": 2, "hidden": 16}))
    elif kind == "config-bad-image-shape":
        (folder / "config.json").write_text(json.dumps({"latent_dim": 2, "hidden": [16], "image_shape": [28, 28]}))
    elif kind == "missing-config":
        (folder / "config.json").unlink()
    elif kind == "missing-weights":
        weights.unlink()
    elif kind == "weights-for-another-latent-size":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "latent_dim": 5}))
    elif kind == "weights-with-an-extra-tensor":
        tensors = load_file(str(weights))
        save_file({**tensors, "extra.weight": torch.zeros(3)}, str(weights))
    elif kind == "weights-missing-a-tensor":
        tensors = load_file(str(weights))
        save_file({k: v for k, v in tensors.items() if k != "decoder.net.2.bias"}, str(weights))
    elif kind == "weights-for-another-depth":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "hidden": [16, 16]}))
    else:
        raise ValueError(kind)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("truncated-weights", "not a readable safetensors file.*truncated or corrupted"),
        ("weights-cut-in-header", "not a readable safetensors file.*truncated or corrupted"),
        ("empty-weights", "not a readable safetensors file"),
        ("random-weights", "not a readable safetensors file.*truncated or corrupted"),
        ("malformed-config", "config.json is not valid JSON.*truncated or corrupted"),
        ("config-not-an-object", "must hold a JSON object"),
        ("config-unknown-key", r"unknown ModelConfig keys \['layers'\]"),
        ("config-bad-value", "latent_dim must be a positive integer"),
        ("config-wrong-type", "hidden must be a non-empty list of positive integers"),
        ("config-bad-image-shape", "image_shape"),
        ("missing-config", "no config file at .*config.json"),
        ("missing-weights", "holds no model.safetensors"),
        ("weights-for-another-latent-size", r"do not match its config.json .*shape mismatch"),
        ("weights-with-an-extra-tensor", r"do not match its config.json \(unexpected \['extra.weight'\]\)"),
        ("weights-missing-a-tensor", r"do not match its config.json \(missing \['decoder.net.2.bias'\]\)"),
        ("weights-for-another-depth", r"do not match its config.json .*(missing|unexpected)"),
    ],
)
def test_broken_model_folders_give_clear_errors(tmp_path: Path, kind: str, message: str) -> None:
    _, folder = _saved(tmp_path)
    _corrupt(kind, folder)
    with pytest.raises(CheckpointError, match=message):
        load(folder)


def test_missing_folder_and_unknown_model_name(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no model folder at .*nowhere"):
        load(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="no shipped model named 'no-such-model'; shipped models: "):
        load("no-such-model")
    with pytest.raises(CheckpointError, match="holds no model.safetensors"):
        load(tmp_path)  # an existing folder without weights
    assert "no-such-model" not in available_models()


def test_checkpoint_error_is_not_a_value_error() -> None:
    # callers (the CLI, the app) catch it separately from bad arguments
    assert issubclass(CheckpointError, RuntimeError)


def test_a_run_folder_is_loaded_from_its_checkpoint_even_beside_a_model(tmp_path: Path) -> None:
    """A folder holding both a model and a checkpoint (`checkpoint/state.json`): the checkpoint is what training wrote."""
    torch.manual_seed(0)
    top, trained = build_model(CONFIGS[0]), build_model(CONFIGS[0])
    folder = save_model(top, tmp_path / "run")
    save_model(trained, folder / CHECKPOINT_DIR)
    (folder / CHECKPOINT_DIR / "state.json").write_text("{}")
    assert vae.checkpoint.resolve_model_dir(folder) == folder / CHECKPOINT_DIR
    loaded = load(folder)
    assert all(torch.equal(loaded.state_dict()[k], trained.state_dict()[k]) for k in trained.state_dict())
    (folder / CHECKPOINT_DIR / "state.json").unlink()  # no checkpoint: the folder's own model
    assert vae.checkpoint.resolve_model_dir(folder) == folder


def test_a_damaged_metrics_file_is_an_error_that_names_it(tmp_path: Path) -> None:
    _, folder = _saved(tmp_path, metrics={"test_nll": 99.5})
    (folder / "metrics.json").write_text('{"test_nll": "9')
    with pytest.raises(CheckpointError, match=r"cannot read .*metrics.json \(Unterminated string.*truncated or corrupted"):
        load_metrics(folder)
    (folder / "metrics.json").write_text("[]")
    with pytest.raises(CheckpointError, match="metrics.json must hold a JSON object"):
        load_metrics(folder)


def test_a_checkpoint_without_its_optimizer_state_is_an_error_that_names_it(tmp_path: Path) -> None:
    from vae.checkpoint import read_checkpoint

    model, _ = _saved(tmp_path)
    folder = write_checkpoint(tmp_path / "run", model, torch.optim.Adam(model.parameters()), {"epoch": 1}, {})
    assert read_checkpoint(folder)[3]["epoch"] == 1
    (folder / "state.json").write_text('{"epoch": 1}')
    with pytest.raises(CheckpointError, match=r"cannot resume from .*checkpoint: its state.json holds no optimizer state"):
        read_checkpoint(folder)

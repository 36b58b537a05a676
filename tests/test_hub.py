"""The Hugging Face Hub (vae.hub): save_pretrained / from_pretrained / push_to_hub, offline on local folders.

Every test runs with HF_HUB_OFFLINE=1, an empty Hugging Face cache in a temporary folder, and a socket guard that
records (and refuses) any connection: nothing reaches the network. The Hub's own functions are replaced by fakes
where a test follows a repo id through them.
"""

from __future__ import annotations

import pickle
import socket
from pathlib import Path
from typing import ClassVar

import pytest
import torch

import vae
from vae import hub
from vae.checkpoint import CheckpointError


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once, when huggingface_hub was imported
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    attempts: list = []

    def guard(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("the tests make no network connection")

    monkeypatch.setattr(socket.socket, "connect", guard)
    yield attempts
    assert attempts == [], f"network connections attempted: {attempts}"


def tiny(kind: str = "vae", seed: int = 0) -> vae.EncoderDecoder:
    torch.manual_seed(seed)
    return vae.build_model(vae.ModelConfig(kind=kind, hidden=(16,), latent_dim=3)).eval()


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_pretrained_writes_the_package_files(tmp_path: Path) -> None:
    """model.safetensors and config.json, byte for byte what vae.save_model writes, which vae.load reads."""
    model = tiny()
    folder = model.save_pretrained(tmp_path / "mine")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    vae.save_model(model, tmp_path / "package")
    for name in ("config.json", "model.safetensors"):
        assert (folder / name).read_bytes() == (tmp_path / "package" / name).read_bytes()
    assert same_weights(vae.load(folder), model)
    model.save_pretrained(tmp_path / "with-metrics", metrics={"test_nll": 90.0})
    assert vae.load_metrics(tmp_path / "with-metrics") == {"test_nll": 90.0}


def test_from_pretrained_reads_folders_runs_and_shipped_models(tmp_path: Path) -> None:
    model = tiny("ae")
    model.save_pretrained(tmp_path / "ae")
    loaded = vae.from_pretrained(tmp_path / "ae")
    assert isinstance(loaded, vae.Autoencoder) and not loaded.training and same_weights(loaded, model)
    assert same_weights(vae.Autoencoder.from_pretrained(str(tmp_path / "ae")), model)
    assert same_weights(vae.EncoderDecoder.from_pretrained(tmp_path / "ae"), model)
    with pytest.raises(CheckpointError, match="holds a Autoencoder .* not a VAE"):
        vae.VAE.from_pretrained(tmp_path / "ae")
    shipped = vae.VAE.from_pretrained("default")
    assert same_weights(shipped, vae.load("default"))
    (tmp_path / "run" / "checkpoint").mkdir(parents=True)
    model.save_pretrained(tmp_path / "run" / "checkpoint")  # a run folder's latest checkpoint
    assert same_weights(vae.from_pretrained(tmp_path / "run"), model)


class Bomb:
    """A pickle that would leave a file behind if it were ever unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.marker, "unpickled!"))


def test_pickled_weights_are_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder, or a Hub repo, with only a pickled pytorch_model.bin is refused, and the pickle is never run."""
    marker = tmp_path / "marker"
    folder = tmp_path / "pickled"
    tiny().save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Bomb(marker)))
    with pytest.raises(CheckpointError, match="holds no model.safetensors"):
        vae.from_pretrained(folder)
    seen = {}

    def fake_snapshot(repo_id: str, **kwargs: object) -> str:
        seen.update(kwargs)
        return str(folder)  # what a repo with a pickle only would give, were it downloaded whole

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    with pytest.raises(CheckpointError, match="pickled .bin/.pt files are never loaded"):
        vae.from_pretrained("someone/pickled-model")
    assert seen["allow_patterns"] == list(hub.MODEL_FILES) and not any(".bin" in p for p in seen["allow_patterns"])
    assert not marker.exists()


def test_a_repo_id_is_fetched_through_the_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an argument that is no folder and no shipped name is a repo id; its snapshot folder is loaded like any other."""
    model = tiny("cvae", seed=4)
    cached = model.save_pretrained(tmp_path / "snapshot")
    calls = []

    def fake_snapshot(repo_id: str, **kwargs: object) -> str:
        calls.append((repo_id, kwargs))
        return str(cached)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    loaded = vae.from_pretrained("someone/mnist-cvae", revision="v1", local_files_only=True)
    assert same_weights(loaded, model) and loaded.config.kind == "cvae"
    (repo_id, kwargs), = calls
    assert repo_id == "someone/mnist-cvae" and kwargs["revision"] == "v1" and kwargs["local_files_only"] is True
    vae.from_pretrained(cached)
    vae.from_pretrained("default")
    assert len(calls) == 1  # folders and shipped names never go to the Hub


def test_offline_without_a_cached_copy_is_a_clear_error(offline: list) -> None:
    with pytest.raises(CheckpointError, match="not in the Hugging Face cache while offline"):
        vae.from_pretrained("someone/not-downloaded")
    with pytest.raises(CheckpointError, match="no model folder, shipped model or Hub repo id"):
        vae.from_pretrained("not/a/repo")
    with pytest.raises(CheckpointError, match="not in the Hugging Face cache"):
        vae.VAE.from_pretrained("missing-folder-or-repo")


class FakeApi:
    """Records what push_to_hub would send to the Hub."""

    pushed: ClassVar[list[dict]] = []

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def create_repo(self, repo_id: str, private: bool | None = None, exist_ok: bool = False) -> object:
        assert exist_ok
        self.pushed.append({"repo": repo_id, "private": private, "token": self.token})
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def upload_folder(self, repo_id: str, folder_path: str, **kwargs: object) -> object:
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        self.pushed[-1].update(files=files, **kwargs)
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    FakeApi.pushed = []
    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    return FakeApi.pushed


def test_push_to_hub_uploads_the_model_files_and_a_card(fake_api: list[dict], tmp_path: Path) -> None:
    model = tiny()
    url = model.push_to_hub("me/tiny-vae", token="hf_x", private=True)
    assert url == "https://huggingface.co/me/tiny-vae/commit/abc"
    push, = fake_api
    assert push["repo"] == "me/tiny-vae" and push["private"] is True and push["token"] == "hf_x"
    assert sorted(push["files"]) == ["README.md", "config.json", "model.safetensors"]
    vae.save_model(model, tmp_path / "package")
    assert push["files"]["model.safetensors"] == (tmp_path / "package" / "model.safetensors").read_bytes()
    card = push["files"]["README.md"].decode()
    assert card.startswith("---\nlibrary_name: vae-explorer\n") and 'vae.from_pretrained("me/tiny-vae")' in card


def test_push_an_exported_folder_keeps_its_records(fake_api: list[dict], tmp_path: Path) -> None:
    hub.push_to_hub("default", "me/default")
    files = fake_api[-1]["files"]
    assert {"model.safetensors", "config.json", "metrics.json", "history.jsonl", "README.md"} <= set(files)
    assert "## Test numbers (nats)" in files["README.md"].decode()  # from the shipped model card's evaluation
    tiny().save_pretrained(tmp_path / "folder", push_to_hub=True, repo_id="me/folder")
    assert fake_api[-1]["repo"] == "me/folder"
    (tmp_path / "run" / "checkpoint").mkdir(parents=True)
    tiny().save_pretrained(tmp_path / "run" / "checkpoint")
    (tmp_path / "run" / "checkpoint" / "state.json").write_text("{}")
    with pytest.raises(ValueError, match="export the run first"):
        hub.push_to_hub(tmp_path / "run", "me/run")


def test_vae_push_uploads_a_folder_from_the_command_line(fake_api: list[dict], capsys: pytest.CaptureFixture[str]) -> None:
    from vae.cli import main

    assert main(["push", "latent2d", "me/latent2d", "--private", "--branch", "dev", "--message", "first"]) == 0
    push, = fake_api
    assert push["repo"] == "me/latent2d" and push["private"] is True and push["token"] is None  # the saved login's
    assert push["revision"] == "dev" and push["commit_message"] == "first" and push["create_pr"] is False
    assert sorted(push["files"]) == ["README.md", "config.json", "history.jsonl", "metrics.json", "model.safetensors"]
    assert "pushed latent2d to https://huggingface.co/me/latent2d: https://huggingface.co/me/latent2d/commit/abc" in (
        capsys.readouterr().out)


@pytest.mark.parametrize(("args", "message"), [
    (["push", "latent2d", "no-owner"], "not a Hub repo id: give it as owner/name"),
    (["push", "latent2d", "me/bad name"], "not a Hub repo id"),
    (["push", "no-such-folder", "me/x"], "no model folder or shipped model 'no-such-folder' to push"),
])
def test_vae_push_refuses_bad_arguments_with_a_message(fake_api: list[dict], args: list[str], message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from vae.cli import main

    assert main(args) == 2 and fake_api == []
    assert message in capsys.readouterr().err


def test_vae_push_says_what_to_check_when_the_upload_fails(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from vae.cli import main

    class Refusing(FakeApi):  # the Hub's HTTP errors, like a missing network, are OSErrors
        def create_repo(self, repo_id: str, private: bool | None = None, exist_ok: bool = False) -> object:
            raise ConnectionError("401 Client Error: Unauthorized")

    monkeypatch.setattr("huggingface_hub.HfApi", Refusing)
    assert main(["push", "latent2d", "me/latent2d"]) == 2
    err = capsys.readouterr().err
    assert "vae push: error: the upload to me/latent2d failed: 401 Client Error" in err and "hf auth login" in err

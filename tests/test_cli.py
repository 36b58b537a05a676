"""The command line end to end on a slice of the real MNIST: train, evaluate, export, sample, resume.

The commands run in-process through `vae.cli.main(argv)` (what the `vae` console script calls);
one test runs `python -m vae` in a subprocess to check the real entry point and its exit status.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

import vae
from vae.cli import main


def vae_cli(*argv: str | Path) -> tuple[int, str, str]:
    """Run `vae ARGV...` in-process: (exit status, stdout, stderr)."""
    args = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["vae", *args]), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_root: Path) -> dict:
    """`vae train` for 2 epochs on 2000 images, then `vae evaluate`, `vae export` and `vae sample`."""
    base = tmp_path_factory.mktemp("cli")
    run = base / "run"
    status, out, err = vae_cli("train", "--out", run, "--train-size", "2000", "--epochs", "2", "--data-root", mnist_root,
                               "--no-progress", "--seed", "0")
    assert status == 0, err
    evaluation = base / "evaluation.json"
    eval_status, eval_out, eval_err = vae_cli("evaluate", run, "-k", "16", "--test-size", "100", "--data-root", mnist_root,
                                              "--no-progress", "--out", evaluation)
    assert eval_status == 0, eval_err
    exported = base / "exported"
    export_status, export_out, export_err = vae_cli("export", run, exported, "--evaluation", evaluation)
    assert export_status == 0, export_err
    return {"base": base, "run": run, "train_out": out, "evaluation": evaluation, "eval_out": eval_out,
            "exported": exported, "export_out": export_out}


def test_train_writes_a_run_folder(trained: dict) -> None:
    run: Path = trained["run"]
    assert "done: 2 epochs, test -ELBO" in trained["train_out"]
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    # --no-progress (for logs) still prints each epoch's losses as it ends, with the numbers history.jsonl records
    lines = [line for line in trained["train_out"].splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all(f"test -ELBO {r['test_loss']:.2f}" in line for r, line in zip(history, lines))
    assert [r["epoch"] for r in history] == [1, 2]
    assert 90 < history[-1]["test_loss"] < history[0]["test_loss"] < 300  # nats per test image, improving
    assert sorted(p.name for p in (run / "grids").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and state["train_config"]["train_size"] == 2000
    assert state["train_config"]["epochs"] == 2 and state["train_config"]["seed"] == 0
    assert json.loads((run / "command.json").read_text())["command"].startswith("vae train --out")
    model = vae.load(run)
    assert model.config == vae.ModelConfig(kind="vae", arch="mlp", latent_dim=20, hidden=(400,))


def test_evaluate_prints_and_writes_json(trained: dict) -> None:
    results = json.loads(trained["evaluation"].read_text())
    assert json.loads(trained["eval_out"]) == results
    assert results["k"] == 16 and results["num_images"] == 100 and results["seed"] == 0
    assert results["model"] == str(trained["run"] / "checkpoint")
    assert results["test_nll"] <= -results["test_elbo"]  # the IWAE bound is tighter than the ELBO
    assert 60 < results["test_nll"] < 300
    assert 0 < results["test_nll_stderr"] < 10 and 0 < results["test_elbo_stderr"] < 10
    assert results["command"].startswith("vae evaluate")


def test_export_writes_a_loadable_model_folder(trained: dict) -> None:
    exported: Path = trained["exported"]
    assert {"model.safetensors", "config.json", "metrics.json"} <= {p.name for p in exported.iterdir()}
    metrics = vae.load_metrics(exported)
    assert metrics["epochs"] == 2 and metrics["parameters"] == 652_824
    assert metrics["evaluation"] == json.loads(trained["evaluation"].read_text())
    assert metrics["file_bytes"] == (exported / "model.safetensors").stat().st_size
    assert metrics["training_command"].startswith("vae train")
    assert metrics["last_epoch"]["epoch"] == 2
    a, b = vae.load(trained["run"]).state_dict(), vae.load(exported).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert f"exported {trained['run']} to {exported}" in trained["export_out"]


def test_sample_writes_a_grid(trained: dict) -> None:
    out = trained["base"] / "samples.png"
    status, stdout, stderr = vae_cli("sample", trained["exported"], "--out", out, "-n", "16", "--temperature", "0.8")
    assert status == 0, stderr
    assert "wrote 16 samples" in stdout
    with Image.open(out) as image:
        assert image.size == (4 * 30 + 2, 4 * 30 + 2)  # 4 x 4 digits with torchvision's 2-pixel padding
        pixels = torch.from_numpy(np.asarray(image.convert("L"), dtype=np.float32))
    assert pixels.std() > 20  # digits, not a flat image
    again = trained["base"] / "again.png"
    vae_cli("sample", trained["exported"], "--out", again, "-n", "16", "--temperature", "0.8")
    assert again.read_bytes() == out.read_bytes()  # seeded


def test_resume_extends_the_run(trained: dict, mnist_root: Path) -> None:
    run = trained["base"] / "run-copy"
    import shutil

    shutil.copytree(trained["run"], run)
    status, out, err = vae_cli("train", "--out", run, "--resume", "--epochs", "3", "--data-root", mnist_root, "--no-progress")
    assert status == 0, err
    assert "done: 3 epochs" in out
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    original = [json.loads(line) for line in (trained["run"] / "history.jsonl").read_text().splitlines()]
    assert history[:2] == original  # the first two epochs are kept as they were
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 3 and state["train_config"]["epochs"] == 3 and state["train_config"]["train_size"] == 2000


def test_init_from_fine_tunes_a_saved_model(trained: dict, mnist_root: Path) -> None:
    """`--init-from` starts from the saved weights (a tiny lr leaves the test loss where the model was) and records them."""
    run = trained["base"] / "fine-tuned"
    status, out, err = vae_cli("train", "--out", run, "--init-from", trained["exported"], "--objective", "iwae",
                               "--iwae-k", "4", "--iwae-gradient", "dreg", "--precision", "bf16", "--epochs", "1", "--train-size", "256", "--lr", "1e-9",
                               "--decoder-dropout", "0.2", "--data-root", mnist_root, "--no-progress", "--no-grids")
    assert status == 0, err
    start = json.loads((trained["run"] / "history.jsonl").read_text().splitlines()[-1])
    first = json.loads((run / "history.jsonl").read_text().splitlines()[0])
    assert first["test_loss"] == pytest.approx(start["test_loss"], abs=0.01)  # from scratch it would be ~200 nats
    assert json.loads((run / "checkpoint" / "config.json").read_text()) == json.loads((trained["exported"] / "config.json").read_text())
    record = json.loads((run / "command.json").read_text())["init_from"]
    assert record["model"] == str(trained["exported"]) and record["epochs"] == 2
    assert record["training_command"].startswith("vae train --out ") and "--epochs 2" in record["training_command"]
    exported = trained["base"] / "fine-tuned-export"
    assert vae_cli("export", run, exported)[0] == 0
    metrics = json.loads((exported / "metrics.json").read_text())
    assert metrics["init_from"] == record
    assert record["path"] == str(trained["exported"])  # outside the working directory: absolute
    # the whole recipe: the starting model's 2 epochs, then this run's 1, times added up
    start_metrics = vae.load_metrics(trained["exported"])
    assert metrics["epochs"] == 3 and [s["epochs"] for s in metrics["stages"]] == [2, 1]
    assert metrics["stages"][0]["command"] == start_metrics["training_command"]
    assert metrics["stages"][1]["command"] == metrics["training_command"] and metrics["stages"][1]["train_config"]["iwae_k"] == 4
    assert metrics["stages"][1]["train_config"]["iwae_gradient"] == "dreg"
    assert metrics["stages"][1]["train_config"]["precision"] == "bf16"
    assert metrics["stages"][1]["train_config"]["decoder_dropout"] == 0.2  # a training option: the config.json is unchanged
    fine = json.loads((run / "history.jsonl").read_text().splitlines()[0])
    assert metrics["training_seconds"] == pytest.approx(start_metrics["training_seconds"] + fine["wall_seconds"])
    curve = [json.loads(line) for line in (exported / "history.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in curve] == [(1, 1), (1, 2), (2, 3)]
    assert curve[2]["test_loss"] == fine["test_loss"]
    assert curve[2]["wall_seconds"] == pytest.approx(start_metrics["training_seconds"] + fine["wall_seconds"])
    assert metrics["stages"][0]["evaluation"] == start_metrics["evaluation"]  # how the starting model scored
    # a model exported from a run without --init-from has one stage and no stage numbers
    assert "stages" not in start_metrics
    assert "stage" not in json.loads((trained["exported"] / "history.jsonl").read_text().splitlines()[0])


def test_init_from_a_run_folder_records_its_stages(trained: dict, mnist_root: Path) -> None:
    """Fine-tuning a run folder (as scripts/train_pretrained.sh does) also carries the run's command and curve over."""
    run = trained["base"] / "fine-tuned-from-run"
    evaluation = trained["run"] / "evaluation.json"  # where scripts/train_pretrained.sh puts a run's evaluation
    assert vae_cli("evaluate", trained["run"], "-k", "2", "--test-size", "20", "--out", evaluation, "--data-root", mnist_root)[0] == 0
    status, _, err = vae_cli("train", "--out", run, "--init-from", trained["run"], "--epochs", "1", "--train-size", "256",
                             "--lr", "1e-9", "--data-root", mnist_root, "--no-progress", "--no-grids")
    assert status == 0, err
    exported = trained["base"] / "fine-tuned-from-run-export"
    assert vae_cli("export", run, exported)[0] == 0
    evaluation.unlink()
    metrics = vae.load_metrics(exported)
    start_command = json.loads((trained["run"] / "command.json").read_text())["command"]
    assert metrics["init_from"]["training_command"] == start_command
    assert [s["command"] for s in metrics["stages"]] == [start_command, metrics["training_command"]]
    assert metrics["stages"][0]["evaluation"]["k"] == 2 and "evaluation" not in metrics["stages"][1]  # the start's score
    assert metrics["epochs"] == 3 and metrics["stages"][0]["train_config"]["epochs"] == 2
    curve = [json.loads(line) for line in (exported / "history.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in curve] == [(1, 1), (1, 2), (2, 3)]
    # a second fine-tuning of the exported model keeps counting: three stages
    again = trained["base"] / "fine-tuned-twice"
    assert vae_cli("train", "--out", again, "--init-from", exported, "--epochs", "1", "--train-size", "256", "--lr", "1e-9",
                   "--data-root", mnist_root, "--no-progress", "--no-grids")[0] == 0
    assert vae_cli("export", again, trained["base"] / "fine-tuned-twice-export")[0] == 0
    twice = vae.load_metrics(trained["base"] / "fine-tuned-twice-export")
    assert twice["epochs"] == 4 and len(twice["stages"]) == 3
    lines = (trained["base"] / "fine-tuned-twice-export" / "history.jsonl").read_text().splitlines()
    assert [(json.loads(line)["stage"], json.loads(line)["epoch"]) for line in lines] == [(1, 1), (1, 2), (2, 3), (3, 4)]
    # shipping it in place of the model it started from, twice: the record of the start was copied when training began
    for _ in range(2):
        assert vae_cli("export", again, exported)[0] == 0
        replaced = vae.load_metrics(exported)
        assert replaced["epochs"] == 4 and [s["command"] for s in replaced["stages"]] == [s["command"] for s in twice["stages"]]
        assert (exported / "history.jsonl").read_text().splitlines() == lines


def test_init_from_with_a_learned_prior_and_sampling_from_it(trained: dict, mnist_root: Path) -> None:
    """`--prior-components K` with `--init-from` turns the standard prior into a learned mixture (`--prior-lr` sets its
    step); `vae sample` then draws from that mixture."""
    run = trained["base"] / "mixture"
    status, _, err = vae_cli("train", "--out", run, "--init-from", trained["exported"], "--prior-components", "7",
                             "--prior-lr", "1e-2", "--epochs", "1", "--train-size", "256", "--lr", "1e-9",
                             "--data-root", mnist_root, "--no-progress", "--no-grids")
    assert status == 0, err
    config = json.loads((run / "checkpoint" / "config.json").read_text())
    assert config == {**json.loads((trained["exported"] / "config.json").read_text()), "prior_components": 7}
    assert json.loads((run / "checkpoint" / "state.json").read_text())["train_config"]["prior_lr"] == 1e-2
    model = vae.load(run)
    out = trained["base"] / "mixture.png"
    assert vae_cli("sample", run, "--out", out, "-n", "4", "--temperature", "0")[0] == 0
    with torch.no_grad():  # at temperature 0 every sample is the decoded mean of a mixture component
        means = vae.decode_images(model, model.prior.means)  # (7, 1, 28, 28)
    grid = np.asarray(Image.open(out).convert("L"), dtype=np.float32) / 255  # 2 x 2 tiles of 28 px with 2 px padding
    first = torch.from_numpy(grid[2:30, 2:30])
    assert min((first - m[0]).abs().max().item() for m in means) < 1 / 255 + 1e-6


def test_bad_init_from(trained: dict, tmp_path: Path, mnist_root: Path) -> None:
    status, _, err = vae_cli("train", "--out", tmp_path / "a", "--init-from", trained["exported"], "--latent-dim", "3")
    assert_clean_error(status, err, "train", "with --init-from the model options come from the starting model")
    status, _, err = vae_cli("train", "--out", tmp_path / "c", "--prior-components", "-1", "--data-root", mnist_root)
    assert_clean_error(status, err, "train", "prior_components must be an integer >= 0")
    status, _, err = vae_cli("train", "--out", tmp_path / "b", "--init-from", tmp_path / "nothing", "--data-root", mnist_root)
    assert_clean_error(status, err, "train", "no shipped model named")
    assert not (tmp_path / "b").exists()  # refused before the run folder is made


# -- errors: exit status 2 and a one-line message, no traceback ---------------------------------------
def assert_clean_error(status: int, stderr: str, command: str, message: str) -> None:
    assert status == 2
    assert stderr.startswith(f"vae {command}: error: ") and message in stderr, stderr
    assert "Traceback" not in stderr


def test_missing_data_root(tmp_path: Path) -> None:
    status, _, err = vae_cli("train", "--out", tmp_path / "run", "--data-root", tmp_path / "nowhere", "--epochs", "1")
    assert_clean_error(status, err, "train", "MNIST not found under")
    assert "MNIST/raw/train-images-idx3-ubyte" in err and "--data-root" in err


def test_bad_k(trained: dict, mnist_root: Path) -> None:
    status, _, err = vae_cli("evaluate", trained["run"], "-k", "0", "--data-root", mnist_root)
    assert_clean_error(status, err, "evaluate", "-k must be >= 1, not 0")


def test_bad_resume(trained: dict, tmp_path: Path) -> None:
    status, _, err = vae_cli("train", "--out", tmp_path / "empty", "--resume")
    assert_clean_error(status, err, "train", "--resume: no checkpoint in")
    status, _, err = vae_cli("train", "--out", trained["run"], "--resume", "--lr", "0.1")
    assert_clean_error(status, err, "train", "with --resume only --epochs may be given")


def test_training_into_an_existing_run_is_refused(trained: dict, mnist_root: Path) -> None:
    command_before = (trained["run"] / "command.json").read_text()
    status, _, err = vae_cli("train", "--out", trained["run"], "--epochs", "1", "--data-root", mnist_root)
    assert_clean_error(status, err, "train", "already holds a checkpoint: pass --resume")
    assert (trained["run"] / "command.json").read_text() == command_before  # the run's record is untouched


def test_unknown_model_and_bad_sample_arguments(trained: dict, tmp_path: Path) -> None:
    status, _, err = vae_cli("evaluate", "no-such-model", "-k", "5")
    assert_clean_error(status, err, "evaluate", "no shipped model named 'no-such-model'")
    status, _, err = vae_cli("sample", trained["run"], "--out", tmp_path / "x.png", "-n", "0")
    assert_clean_error(status, err, "sample", "-n must be between 1 and 1024")
    assert not (tmp_path / "x.png").exists()


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vae", "evaluate", str(tmp_path / "missing-run"), "-k", "5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("vae evaluate: error: no model folder at") and "Traceback" not in proc.stderr


def test_usage_errors_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2 and "the following arguments are required: --out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "default", "-k", "many"])
    assert info.value.code == 2 and "invalid int value: 'many'" in capsys.readouterr().err


def test_a_starting_model_inside_the_working_directory_is_recorded_relative_to_it(
        trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record goes into a shipped metrics.json: no absolute path of the machine that trained it."""
    from vae.records import Provenance

    monkeypatch.chdir(trained["base"])
    assert Provenance.of(str(trained["exported"])).path == "exported"
    assert Provenance.of("exported").path == "exported"


# -- vae data: where MNIST is looked for, and its download (a fake fetcher: never the network) ---------
def _fake_fetch(source: Path, calls: list[Path]):
    """Stands in for torchvision's download: links the real test files where it would put them."""
    from vae.data import RAW_FILES

    def fetch(folder: Path) -> None:
        calls.append(folder)
        (folder / "MNIST" / "raw").mkdir(parents=True)
        for name in RAW_FILES:
            (folder / "MNIST" / "raw" / name).symlink_to(source / "MNIST" / "raw" / name)

    return fetch


def test_vae_data_shows_the_root_and_whether_mnist_is_there(tmp_path: Path, mnist_root: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, _ = vae_cli("data", "--data-root", mnist_root)
    assert status == 0 and f"data root: {mnist_root}\n  from --data-root" in out and "MNIST is there" in out
    assert out.count(": ok") == 4
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "empty"))
    status, out, _ = vae_cli("data")
    assert status == 1 and f"data root: {tmp_path / 'empty'}\n  from $VAE_DATA_ROOT" in out
    assert "MNIST/raw/t10k-images-idx3-ubyte: missing" in out and "run `vae data download`" in out
    monkeypatch.delenv("VAE_DATA_ROOT")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    status, out, _ = vae_cli("data")
    assert status == 1 and f"data root: {tmp_path / 'cache' / 'vae-explorer' / 'data'}\n  from the default" in out


def test_vae_data_download(tmp_path: Path, mnist_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(vae.data, "_fetch_with_torchvision", _fake_fetch(mnist_root, calls))
    monkeypatch.delenv("VAE_DATA_ROOT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    status, out, err = vae_cli("data", "download")  # to the default root
    default = tmp_path / "cache" / "vae-explorer" / "data"
    assert status == 0, err
    assert f"MNIST is in {default / 'MNIST' / 'raw'}: 60,000 training and 10,000 test images, verified" in out
    assert vae_cli("data")[0] == 0 and len(calls) == 1
    assert vae_cli("data", "download")[0] == 0 and len(calls) == 1  # there already: not fetched again
    after, before = tmp_path / "after", tmp_path / "before"  # --data-root after or before `download`
    for root, argv in ((after, ("data", "download", "--data-root", after)), (before, ("data", "--data-root", before, "download"))):
        status, out, err = vae_cli(*argv)
        assert status == 0, err
        assert f"commands find it with --data-root {root}" in out
        assert vae_cli("data", "--data-root", root)[0] == 0
    assert len(calls) == 3


def test_vae_data_download_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.error import URLError

    def offline(folder: Path) -> None:
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(vae.data, "_fetch_with_torchvision", offline)
    status, _, err = vae_cli("data", "download", "--data-root", tmp_path)
    assert_clean_error(status, err, "data", f"could not download MNIST into {tmp_path}")
    assert "needs internet access" in err and "Name or service not known" in err
    assert vae_cli("data", "--data-root", tmp_path)[0] == 1


def test_download_flag_fetches_missing_mnist(tmp_path: Path, mnist_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(vae.data, "_fetch_with_torchvision", _fake_fetch(mnist_root, calls))
    status, _, err = vae_cli("evaluate", "latent2d", "-k", "2", "--test-size", "10", "--data-root", tmp_path, "--no-progress")
    assert_clean_error(status, err, "evaluate", "MNIST not found under")  # without --download: never fetched
    assert calls == []
    status, out, err = vae_cli("evaluate", "latent2d", "-k", "2", "--test-size", "10", "--data-root", tmp_path,
                               "--no-progress", "--download")
    assert status == 0, err
    assert json.loads(out)["num_images"] == 10 and len(calls) == 1


# -- the decoder likelihood and the validation split on the command line ------------------------------------
SMALL = ("--latent-dim", "2", "--hidden", "32", "--epochs", "1", "--no-progress", "--no-grids", "--seed", "0")


def _results(out: str) -> dict:
    return json.loads(out[out.index("{"):])


@pytest.fixture(scope="module")
def gaussian_run(tmp_path_factory, mnist_root: Path) -> dict:
    """`vae train --likelihood gaussian --decoder-std 0.2 --val-size 200` on 500 images, for one epoch."""
    run = tmp_path_factory.mktemp("gaussian") / "run"
    status, out, err = vae_cli("train", "--out", run, "--likelihood", "gaussian", "--decoder-std", "0.2", "--train-size", "500",
                               "--val-size", "200", *SMALL, "--data-root", mnist_root)
    assert status == 0, err
    return {"run": run, "out": out, "train": vae.load_mnist(True, mnist_root)}


def test_train_with_a_gaussian_likelihood_end_to_end(gaussian_run: dict, mnist_test, mnist_root: Path, tmp_path: Path) -> None:
    run: Path = gaussian_run["run"]
    assert "(a density on gray levels)" in gaussian_run["out"] and "val -ELBO" in gaussian_run["out"]
    config = json.loads((run / "checkpoint" / "config.json").read_text())
    assert config["likelihood"] == "gaussian" and config["decoder_std"] == 0.2
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["train_config"]["binarize"] == "none"  # a Gaussian trains on gray levels unless told otherwise
    assert state["train_config"]["val_size"] == 200 and state["train_config"]["train_size"] == 500
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert {"val_loss", "test_loss"} <= set(history[0])
    model = vae.load(run)
    assert model.config.likelihood == "gaussian" and model.likelihood.std == pytest.approx(0.2)
    # evaluated on the gray levels of the test images, not on binarized digits
    status, out, err = vae_cli("evaluate", run, "-k", "4", "--test-size", "30", "--no-progress", "--data-root", mnist_root)
    assert status == 0, err
    results = _results(out)
    expected = vae.evaluate(model, mnist_test.images[:30], k=4, seed=0)
    assert results["test_nll"] == pytest.approx(expected["test_nll"]) and results["split"] == "test"
    assert results["likelihood"] == "gaussian" and "gray levels" in results["data"] and "not comparable" in results["data"]
    bits = vae.evaluate(model, vae.binarized_test_set(mnist_test.subset(30)), k=4, seed=0)
    assert results["test_nll"] != pytest.approx(bits["test_nll"])
    status, out, err = vae_cli("sample", run, "--out", tmp_path / "samples.png", "-n", "4")
    assert status == 0, err
    with Image.open(tmp_path / "samples.png") as image:
        assert image.size == (2 * 30 + 2, 2 * 30 + 2)


def test_evaluate_on_the_validation_split(gaussian_run: dict, mnist_root: Path, tmp_path: Path) -> None:
    """--split val scores the last val_size training images, with val_ names; an exported copy knows its split too."""
    run: Path = gaussian_run["run"]
    status, out, err = vae_cli("evaluate", run, "--split", "val", "-k", "4", "--test-size", "40", "--no-progress", "--data-root", mnist_root)
    assert status == 0, err
    results = _results(out)
    held_out = gaussian_run["train"].images[-200:][:40]  # the first 40 of the last 200, as gray levels
    expected = vae.evaluate(vae.load(run), held_out, k=4, seed=0)
    assert results["split"] == "val" and results["num_images"] == 40 and results["weights_sha256"] == vae.weights_sha256(run)
    assert results["val_nll"] == pytest.approx(expected["test_nll"]) and results["val_elbo"] == pytest.approx(expected["test_elbo"])
    assert not any(key.startswith("test_") for key in results)
    exported = tmp_path / "exported"
    assert vae_cli("export", run, exported)[0] == 0
    status, out, err = vae_cli("evaluate", exported, "--split", "val", "-k", "4", "--test-size", "40", "--no-progress",
                               "--data-root", mnist_root)
    assert status == 0, err
    assert _results(out)["val_nll"] == pytest.approx(results["val_nll"])
    (tmp_path / "val.json").write_text(json.dumps(results))
    status, _, err = vae_cli("export", run, tmp_path / "refused", "--evaluation", tmp_path / "val.json")
    assert_clean_error(status, err, "export", "scores the val split: a model folder records its test numbers")
    assert not (tmp_path / "refused").exists()
    # the validation numbers go beside the test ones, as what the model was chosen on
    assert vae_cli("export", run, tmp_path / "chosen", "--validation", tmp_path / "val.json")[0] == 0
    assert vae.load_metrics(tmp_path / "chosen")["validation"] == results
    status, _, err = vae_cli("export", run, tmp_path / "refused", "--validation", tmp_path / "chosen" / "metrics.json")
    assert_clean_error(status, err, "export", "scores the test split: give the output of `vae evaluate RUN --split val")


def test_a_bernoulli_validation_split_is_binarized_once(tmp_path: Path, mnist_root: Path) -> None:
    run = tmp_path / "run"
    status, out, err = vae_cli("train", "--out", run, "--train-size", "300", "--val-size", "100", *SMALL, "--data-root", mnist_root)
    assert status == 0, err
    status, out, err = vae_cli("evaluate", run, "--split", "val", "-k", "4", "--no-progress", "--data-root", mnist_root)
    assert status == 0, err
    held_out = vae.load_mnist(True, mnist_root).split_off(100)[1]
    expected = vae.evaluate(vae.load(run), vae.binarized_test_set(held_out), k=4, seed=0)
    assert _results(out)["val_nll"] == pytest.approx(expected["test_nll"]) and _results(out)["num_images"] == 100
    assert "binarized" in _results(out)["data"]
    # fine-tuned without a split, the held-out images have been trained on: refused
    tuned = tmp_path / "tuned"
    assert vae_cli("train", "--out", tuned, "--init-from", run, "--epochs", "1", "--train-size", "300", "--no-progress",
                   "--no-grids", "--data-root", mnist_root)[0] == 0
    status, _, err = vae_cli("evaluate", tuned, "--split", "val", "-k", "4", "--data-root", mnist_root)
    assert_clean_error(status, err, "evaluate", "was trained on the whole training set (stage 2 of 2)")


def test_evaluate_on_the_images_every_stage_trained_on(tmp_path: Path, mnist_root: Path) -> None:
    """--split train scores the first training images all stages saw (each stage's train_size before its split)."""
    run = tmp_path / "run"
    assert vae_cli("train", "--out", run, "--train-size", "300", "--val-size", "100", *SMALL, "--data-root", mnist_root)[0] == 0
    status, out, err = vae_cli("evaluate", run, "--split", "train", "-k", "4", "--no-progress", "--data-root", mnist_root)
    assert status == 0, err
    results = _results(out)
    trained_on = vae.load_mnist(True, mnist_root).subset(300)
    expected = vae.evaluate(vae.load(run), vae.binarized_test_set(trained_on), k=4, seed=0)
    assert results["split"] == "train" and results["num_images"] == 300
    assert results["train_nll"] == pytest.approx(expected["test_nll"]) and not any(key.startswith("test_") for key in results)
    # a second stage on fewer images: only those were seen by both
    tuned = tmp_path / "tuned"
    assert vae_cli("train", "--out", tuned, "--init-from", run, "--epochs", "1", "--train-size", "120", "--val-size", "100",
                   "--no-progress", "--no-grids", "--data-root", mnist_root)[0] == 0
    status, out, err = vae_cli("evaluate", tuned, "--split", "train", "-k", "4", "--no-progress", "--data-root", mnist_root)
    assert status == 0, err
    assert _results(out)["num_images"] == 120
    # without a record of its training, which images it saw is unknown: refused
    bare = tmp_path / "bare"
    vae.save_model(vae.load(run), bare)
    status, _, err = vae_cli("evaluate", bare, "--split", "train", "-k", "4", "--data-root", mnist_root)
    assert_clean_error(status, err, "evaluate", "has no record of how it was trained")
    assert "--split train needs a run folder" in err


def test_models_without_a_validation_split_are_refused(trained: dict, mnist_root: Path) -> None:
    for model in (trained["run"], trained["exported"], "latent2d"):
        status, _, err = vae_cli("evaluate", model, "--split", "val", "-k", "4", "--data-root", mnist_root)
        assert_clean_error(status, err, "evaluate", "was trained on the whole training set: it has no validation split")
        assert "--val-size" in err


@pytest.mark.parametrize(
    "argv, message",
    [(("--decoder-std", "0.1"), "--decoder-std is the sigma of a Gaussian decoder: add --likelihood gaussian"),
     (("--likelihood", "gaussian", "--binarize", "dynamic"), "a density on gray levels: train it with binarize 'none'"),
     (("--likelihood", "gaussian", "--decoder-std", "0"), "decoder_std must be positive"),
     (("--val-size", "60000"), "a validation split of 60000 images leaves none of the 60,000 to train on"),
     (("--val-size", "-5"), "val_size must be an integer >= 0"),
     (("--val-size", "10000", "--train-size", "55000"), "train_size 55,000 + val_size 10,000 is more than the 60,000"),
     ],
    ids=["std-without-gaussian", "gaussian-on-bits", "zero-std", "val-too-large", "val-negative", "val-plus-train-too-large"],
)
def test_bad_likelihood_and_validation_options(tmp_path: Path, mnist_root: Path, argv: tuple, message: str) -> None:
    status, _, err = vae_cli("train", "--out", tmp_path / "run", *argv, *SMALL, "--data-root", mnist_root)
    assert_clean_error(status, err, "train", message)
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_training_options_reach_the_training_loop(tmp_path: Path) -> None:
    """`--grad-clip`, `--decoder-dropout`, `--precision` and `--seed` reach the training config `vae train` hands to
    the training loop (which applies them: see tests/test_train.py), not silently dropped on the way. The loop and
    the data are stubbed: only the command line is under test."""
    seen, models = [], []

    def fake_train(model_config, train_config, out, *args, **kwargs):
        seen.append(train_config)
        models.append(model_config)
        return [{"epoch": 1, "test_loss": 100.0, "wall_seconds": 1.0}]

    tiny = vae.MNIST(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    with mock.patch("vae.training.train", fake_train), mock.patch("vae.data.load_mnist", lambda *args: tiny):
        status, _, err = vae_cli("train", "--out", tmp_path / "run", "--grad-clip", "0.5", "--decoder-dropout", "0.2",
                                 "--precision", "bf16", "--seed", "3", "--no-progress")
        assert status == 0, err
        assert vae_cli("train", "--out", tmp_path / "defaults", "--no-progress")[0] == 0
        # an option at its default outside its scope changes nothing, so it is not refused (tests/test_cli_refusals.py)
        assert vae_cli("train", "--out", tmp_path / "k1", "--iwae-k", "1", "--no-progress")[0] == 0
        assert vae_cli("train", "--out", tmp_path / "hvae", "--kind", "hvae", "--lower-latent-dim", "8", "--lower-hidden",
                       "16", "--no-progress")[0] == 0
    options = [(c.grad_clip, c.decoder_dropout, c.precision, c.seed) for c in seen]
    assert options == [(0.5, 0.2, "bf16", 3), (None, 0.0, "fp32", 0), (None, 0.0, "fp32", 0), (None, 0.0, "fp32", 0)]
    assert seen[2].iwae_k == 1 and seen[2].objective == "elbo"
    assert (models[3].kind, models[3].lower_latent_dim, models[3].lower_hidden) == ("hvae", 8, (16,))


def test_the_likelihoods_benchmark_measures_a_gaussian_run(gaussian_run: dict, mnist_test) -> None:
    """benchmarks/likelihoods.py, whose JSON the likelihoods page shows, measures a `vae train` run (here a small one)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("likelihoods_benchmark", Path(__file__).parents[1] / "benchmarks" / "likelihoods.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.measure(gaussian_run["run"], mnist_test.subset(50), gaussian_run["train"].subset(50))
    assert result["likelihood"] == "gaussian" and result["beta_on_mse"] == pytest.approx(2 * 0.2**2)
    history = [json.loads(line) for line in (gaussian_run["run"] / "history.jsonl").read_text().splitlines()]
    assert result["test_loss"] == history[-1]["test_loss"]
    model = vae.load(gaussian_run["run"])
    with torch.no_grad():
        recon = model.reconstruct(mnist_test.images[:50])
    assert result["squared_error"] == pytest.approx((mnist_test.images[:50] - recon).pow(2).flatten(1).sum(1).mean().item(), rel=1e-5)
    means = bench.decode_images(result["means"])  # the 8-bit images round-trip through the JSON encoding
    with torch.no_grad():
        expected = model.decoder_mean(model.prior.sample(bench.N_SAMPLES, generator=torch.Generator().manual_seed(0)))[:, 0]
    torch.testing.assert_close(means, expected, atol=0.5 / 255 + 1e-6, rtol=0)


def test_the_train_options_are_the_config_fields(tmp_path: Path) -> None:
    """Every command-line field of ModelConfig and TrainConfig is an option of `vae train`, its choices read from the
    field's type; a new field (here reconstruction_weight and eval_batch_size) reaches the training loop with no
    other change."""
    import dataclasses

    from vae.cli import build_parser
    from vae.config import choices

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    actions = {action.dest: action for action in train_parser._actions}
    for cls in (vae.ModelConfig, vae.TrainConfig):
        for field in dataclasses.fields(cls):
            if field.metadata["cli"]:
                assert field.name in actions, field.name
                if actions[field.name].choices is not None:
                    assert tuple(actions[field.name].choices) == choices(cls, field.name)
            else:
                assert field.name not in actions
    assert actions["warmup_epochs"].option_strings == ["--warmup"]
    seen = []

    def fake_train(model_config, train_config, out, *args, **kwargs):
        seen.append((model_config, train_config))
        return [{"epoch": 1, "test_loss": 100.0, "wall_seconds": 1.0}]

    tiny = vae.MNIST(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    with mock.patch("vae.training.train", fake_train), mock.patch("vae.data.load_mnist", lambda *args: tiny):
        status, _, err = vae_cli("train", "--out", tmp_path / "run", "--reconstruction-weight", "0", "--eval-batch-size", "7",
                                 "--hidden", "8", "4", "--kind", "cvae", "--no-progress")
    assert status == 0, err
    (model_config, train_config), = seen
    assert train_config.reconstruction_weight == 0 and train_config.eval_batch_size == 7
    assert model_config == vae.ModelConfig(kind="cvae", hidden=(8, 4))
    status, _, err = vae_cli("train", "--out", tmp_path / "bad", "--reconstruction-weight", "-1")
    assert_clean_error(status, err, "train", "reconstruction_weight must be >= 0")


def test_sample_from_an_autoencoder_decodes_standard_normal_codes(tmp_path: Path) -> None:
    """An autoencoder has no prior; `vae sample` decodes codes from N(0, I) for it, as it always has."""
    out = tmp_path / "ae.png"
    status, _, err = vae_cli("sample", "ae2d", "--out", out, "-n", "4", "--seed", "1")
    assert status == 0, err
    model = vae.load("ae2d")
    expected = vae.decode_images(model, vae.sample_prior(4, 2, generator=torch.Generator().manual_seed(1)))
    grid = np.asarray(Image.open(out).convert("L"), dtype=np.float32) / 255  # 2 x 2 tiles of 28 px with 2 px padding
    torch.testing.assert_close(torch.from_numpy(grid[2:30, 2:30]), expected[0, 0], atol=1 / 255 + 1e-6, rtol=0)


def test_snapshots_flag_reaches_the_training_loop(tmp_path: Path) -> None:
    """`vae train --snapshots` asks the training loop for per-epoch snapshots (tests/test_movie.py checks what it keeps);
    without the flag none are asked for, and the flag is no config field (a run's recorded configs do not change)."""
    import dataclasses

    seen = []

    def fake_train(model_config, train_config, out, *args, **kwargs):
        seen.append(kwargs["snapshots"])
        return [{"epoch": 1, "test_loss": 100.0, "wall_seconds": 1.0}]

    tiny = vae.MNIST(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    with mock.patch("vae.training.train", fake_train), mock.patch("vae.data.load_mnist", lambda *args: tiny):
        assert vae_cli("train", "--out", tmp_path / "movie", "--snapshots", "--no-progress")[0] == 0
        assert vae_cli("train", "--out", tmp_path / "plain", "--no-progress")[0] == 0
    assert seen == [True, False]
    assert "snapshots" not in {f.name for f in dataclasses.fields(vae.TrainConfig)}
    assert "--snapshots" in json.loads((tmp_path / "movie" / "command.json").read_text())["command"]

"""The command line refuses what would lose records, crash mid-run or be silently ignored: one clear line, exit status 2.

Each refusal is checked to write nothing (the folders it was given are byte for byte as before). The runs are a
tiny MLP trained for one epoch on 200 real MNIST digits; the commands run in-process through `vae.cli.main`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from unittest import mock

import pytest
import torch
from test_cli import assert_clean_error, vae_cli
from torchvision.utils import save_image

import vae
from vae.cli import main

TINY = ("--hidden", "16", "--latent-dim", "2", "--batch-size", "50", "--no-progress", "--no-grids")


def never_trains(*args, **kwargs):
    """Stands in for `vae.train` where a command must be refused before training (a broken refusal fails fast)."""
    raise AssertionError("the command was not refused: it started training")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder and its bytes: what a refused command must leave unchanged."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def base(tmp_path_factory, mnist_root: Path) -> dict:
    """A finished one-epoch run and its export."""
    base = tmp_path_factory.mktemp("refusals")
    status, _, err = vae_cli("train", "--out", base / "run", "--train-size", "200", "--epochs", "1", *TINY,
                             "--data-root", mnist_root)
    assert status == 0, err
    assert vae_cli("export", base / "run", base / "model")[0] == 0
    return {"base": base, "run": base / "run", "model": base / "model", "data": ("--data-root", str(mnist_root))}


# -- a new run's folder ---------------------------------------------------------------------------
def test_a_new_run_into_a_model_folder_is_refused(base: dict, tmp_path: Path) -> None:
    """`vae train --init-from M --out M` (or any new run into a model folder) would rewrite its history and hide the
    new weights behind the folder's own; refused before anything is written."""
    model = tmp_path / "model"
    shutil.copytree(base["model"], model)
    before = snapshot(model)
    for options in (("--init-from", model), TINY):
        status, _, err = vae_cli("train", "--out", model, *options, "--epochs", "1", "--train-size", "100", "--no-progress",
                                 *base["data"])
        assert_clean_error(status, err, "train", f"{model} is a model folder (model.safetensors, config.json, metrics.json)")
        assert "Choose another --out" in err
        assert snapshot(model) == before


def test_a_new_run_over_the_history_of_a_run_without_its_checkpoint_is_refused(base: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(base["run"], run)
    shutil.rmtree(run / "checkpoint")
    before = snapshot(run)
    status, _, err = vae_cli("train", "--out", run, "--epochs", "1", "--train-size", "100", *TINY, *base["data"])
    assert_clean_error(status, err, "train", "holds a run's history.jsonl but no checkpoint")
    assert snapshot(run) == before


def test_a_run_that_never_finished_an_epoch_starts_again(base: dict, tmp_path: Path) -> None:
    """Only command.json (a run stopped in its first epoch): nothing to lose, so the same command starts it again."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(base["run"] / "command.json", run / "command.json")
    status, _, err = vae_cli("train", "--out", run, "--epochs", "1", "--train-size", "100", *TINY, *base["data"])
    assert status == 0, err
    assert vae.load(run).config.latent_dim == 2


def test_out_that_is_a_file_is_a_clear_error(base: dict, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    status, _, err = vae_cli("train", "--out", tmp_path / "file", "--epochs", "1", "--train-size", "100", *TINY, *base["data"])
    assert_clean_error(status, err, "train", "is a file, not a folder")
    assert (tmp_path / "file").read_text() == "mine"
    status, _, err = vae_cli("evaluate", base["run"], "-k", "2", "--test-size", "5", "--out", tmp_path / "file" / "x.json",
                             "--no-progress", *base["data"])  # an OSError from the file system: one line too
    assert_clean_error(status, err, "evaluate", "Not a directory")


# -- export ----------------------------------------------------------------------------------------
def test_export_refuses_a_destination_it_would_overwrite_or_mix(base: dict, tmp_path: Path) -> None:
    other_run = tmp_path / "other-run"
    shutil.copytree(base["run"], other_run)
    (tmp_path / "file").write_text("mine")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    cases = [(tmp_path / "file", "is a file"), (base["run"], "is the run folder itself"),
             (other_run, "is a training run's folder"), (other_run / "checkpoint", "is a training run's folder"),
             (tmp_path / "notes", "holds other files and no model")]
    for dest, message in cases:
        before = snapshot(dest) if dest.is_dir() else dest.read_bytes()
        status, _, err = vae_cli("export", base["run"], dest)
        assert_clean_error(status, err, "export", message)
        assert (snapshot(dest) if dest.is_dir() else dest.read_bytes()) == before
    # another model folder: replaced only with --force
    other = tmp_path / "other-model"
    shutil.copytree(base["model"], other)
    (other / "metrics.json").write_text(json.dumps({"mine": True}))
    before = snapshot(other)
    status, _, err = vae_cli("export", base["run"], other)
    assert_clean_error(status, err, "export", "already holds a model, not the one this run started from: pass --force")
    assert snapshot(other) == before
    assert vae_cli("export", base["run"], other, "--force")[0] == 0
    assert vae.load_metrics(other)["epochs"] == 1
    (tmp_path / "empty").mkdir()
    assert vae_cli("export", base["run"], tmp_path / "empty")[0] == 0  # an empty folder is a new one


def test_a_fine_tuned_run_may_replace_the_model_it_started_from(base: dict, tmp_path: Path) -> None:
    """The staged training of the shipped models exports each stage over the model it started from."""
    start = tmp_path / "start"
    shutil.copytree(base["model"], start)
    tuned = tmp_path / "tuned"
    status, _, err = vae_cli("train", "--out", tuned, "--init-from", start, "--epochs", "1", "--train-size", "100",
                             "--no-progress", "--no-grids", *base["data"])
    assert status == 0, err
    status, _, err = vae_cli("export", tuned, start)
    assert status == 0, err
    assert vae.load_metrics(start)["epochs"] == 2


# -- resuming ----------------------------------------------------------------------------------------
def test_resume_refuses_init_from_and_records_nothing_when_there_is_nothing_to_train(base: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(base["run"], run)
    before = snapshot(run)
    status, _, err = vae_cli("train", "--out", run, "--resume", "--init-from", base["model"], *base["data"])
    assert_clean_error(status, err, "train", "drop --init-from")
    for epochs in ((), ("--epochs", "1")):  # scripts/train_pretrained.sh resumes finished runs: exit 0, not a Resumption
        status, out, err = vae_cli("train", "--out", run, "--resume", *epochs, "--no-progress", *base["data"])
        assert status == 0, err
        assert f"{run} already trained 1 epoch; pass --epochs > 1 to train more" in out
    assert snapshot(run) == before
    status, _, err = vae_cli("train", "--out", run, "--resume", "--epochs", "0", *base["data"])
    assert_clean_error(status, err, "train", "epochs must be a positive integer, not 0")


# -- values out of range --------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (("--test-size", "-9998"), "--test-size must be >= 1, not -9998"),
    (("--test-size", "0"), "--test-size must be >= 1, not 0"),
    (("--batch-size", "0"), "--batch-size must be >= 1, not 0"),
    (("--batch-size", "-3"), "--batch-size must be >= 1, not -3"),
])
def test_evaluate_sizes_must_be_positive(base: dict, argv: tuple, message: str) -> None:
    status, _, err = vae_cli("evaluate", base["run"], "-k", "2", *argv, "--no-progress", *base["data"])
    assert_clean_error(status, err, "evaluate", message)


def test_threads_below_one_are_a_usage_error(base: dict, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (("train", "--out", str(base["base"] / "never")), ("evaluate", "default")):
        with pytest.raises(SystemExit) as info:
            main([*command, "--threads", "0"])
        assert info.value.code == 2
        assert f"vae {command[0]}: error: argument --threads: must be an integer >= 1, not 0" in capsys.readouterr().err
    assert not (base["base"] / "never").exists()


def test_image_size_zero_is_refused_not_replaced_by_the_default(base: dict, tmp_path: Path) -> None:
    status, _, err = vae_cli("train", "--out", tmp_path / "run", "--image-size", "0", "--epochs", "1", "--train-size", "100",
                             *TINY, *base["data"])
    assert_clean_error(status, err, "train", "--image-size must be a positive number of pixels, not 0")
    assert not (tmp_path / "run").exists()


def test_an_unavailable_device_is_a_clear_error(base: dict, tmp_path: Path) -> None:
    with mock.patch("torch.cuda.is_available", lambda: False), mock.patch("torch.backends.mps.is_available", lambda: False):
        status, _, err = vae_cli("train", "--out", tmp_path / "run", "--device", "cuda", "--epochs", "1", "--train-size", "100",
                                 *TINY, *base["data"])
        assert_clean_error(status, err, "train", "device 'cuda': CUDA is not available here")
        assert not (tmp_path / "run").exists()
        status, _, err = vae_cli("evaluate", base["run"], "--device", "mps", "-k", "2", *base["data"])
        assert_clean_error(status, err, "evaluate", "device 'mps': Apple's MPS is not available here")


# -- options outside their scope --------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (("--iwae-k", "8"), "--iwae-k is the number of samples of the IWAE objective: add --objective iwae"),
    (("--lower-latent-dim", "8"), "--lower-latent-dim size the lower layer of a hierarchical vae: add --kind hvae"),
    (("--lower-hidden", "8", "--kind", "cvae"), "--lower-hidden size the lower layer of a hierarchical vae"),
    (("--train-size", "60001"), "train_size 60,001 is more than the 60,000 training images"),
    (("--objective", "iwae", "--iwae-k", "1000", "--batch-size", "128"),
     ("decodes 128,000 images per step, all held in memory with their gradients: more than the 65,536 images of 28 x 28 "
      "pixels allowed. Lower --batch-size to 65 or less")),
], ids=["iwae-k-without-iwae", "lower-latent-dim-without-hvae", "lower-hidden-on-cvae", "train-size-too-large",
        "iwae-memory"])
def test_options_outside_their_scope_are_refused(base: dict, tmp_path: Path, argv: tuple, message: str) -> None:
    with mock.patch("vae.training.train", never_trains):  # a refusal that slipped would train on all of MNIST
        status, _, err = vae_cli("train", "--out", tmp_path / "run", *argv, "--epochs", "1", "--no-progress", *base["data"])
    assert_clean_error(status, err, "train", message)
    assert not (tmp_path / "run").exists()


def test_digit_is_refused_for_an_unconditional_model(base: dict, tmp_path: Path) -> None:
    status, _, err = vae_cli("sample", base["model"], "--out", tmp_path / "x.png", "--digit", "3")
    assert_clean_error(status, err, "sample", "is a vae model, which draws every class: drop --digit")
    assert not (tmp_path / "x.png").exists()


# -- hierarchical models -------------------------------------------------------------------------------
def test_sampling_a_hierarchical_model_draws_both_layers(tmp_path: Path) -> None:
    """`vae sample` of an hvae draws z2 ~ p(z2), then z1 ~ p(z1 | z2) (`sample_images`), not z1 at its mean."""
    torch.manual_seed(0)
    model = vae.build_model(vae.ModelConfig(kind="hvae", latent_dim=2, lower_latent_dim=3, hidden=(16,),
                                            lower_hidden=(8,))).eval()
    with torch.no_grad():
        model.top_down[-1].bias[3:].fill_(1.0)  # log-variances of p(z1 | z2) near 1: z1 spreads around its mean
    vae.save_model(model, tmp_path / "hvae")
    status, _, err = vae_cli("sample", tmp_path / "hvae", "--out", tmp_path / "cli.png", "-n", "9", "--temperature", "0.8",
                             "--seed", "4")
    assert status == 0, err
    model = vae.load(tmp_path / "hvae")
    save_image(model.sample_images(9, 0.8, torch.Generator().manual_seed(4)), tmp_path / "ancestral.png", nrow=3)
    at_mean = vae.decode_images(model, model.prior.sample(9, 0.8, torch.Generator().manual_seed(4)))
    save_image(at_mean, tmp_path / "at-mean.png", nrow=3)
    assert (tmp_path / "cli.png").read_bytes() == (tmp_path / "ancestral.png").read_bytes()
    assert (tmp_path / "cli.png").read_bytes() != (tmp_path / "at-mean.png").read_bytes()


# -- damaged records ----------------------------------------------------------------------------------
def test_damaged_records_are_errors_that_name_the_file(base: dict, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(base["model"], model)
    (model / "metrics.json").write_text('{"training_command": "vae tr')
    status, _, err = vae_cli("train", "--out", tmp_path / "tuned", "--init-from", model, "--epochs", "1", "--train-size", "100",
                             *base["data"])
    assert_clean_error(status, err, "train", f"cannot read {model / 'metrics.json'}")
    run = tmp_path / "run"
    shutil.copytree(base["run"], run)
    (run / "checkpoint" / "state.json").write_text("{}")
    status, _, err = vae_cli("train", "--out", run, "--resume", "--epochs", "2", *base["data"])
    assert_clean_error(status, err, "train", f"{run / 'checkpoint' / 'state.json'} has no 'epoch' field")

"""Data-parallel training (vae.distributed): two CPU processes with gloo on the loopback interface train as one.

The runs are tiny (a 28 x 28 Fashion-MNIST-format dataset of 65 training and 32 test images that the tests write,
a 32-unit MLP, global batch 16: four steps of 16 and one of a single image per epoch, so the last step gives one
process nothing and the other one image). Every subprocess is bounded by a timeout.

Tolerances: an autoencoder trained on gray levels draws no random numbers, so two processes must give the
one-process losses to float rounding (relative 1e-5). A VAE's reparameterization noise is drawn per process (seeded
from (seed, epoch, rank)), so its two-process curve is another draw of the same training: its per-epoch losses
must stay within 1 % of the one-process run's (measured: 0.3 % in epoch 1, below 0.1 % after).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from own_data import write_idx_dataset

import vae
from vae import distributed
from vae.config import from_dict
from vae.datasets import load_dataset

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed_worker.py"
LAUNCH_TIMEOUT = 300  # seconds any launch may take, start-up included, before the test fails (CI machines are slow)
MODEL = {"hidden": [32], "latent_dim": 4}
TRAIN = {"batch_size": 16, "eval_batch_size": 64, "seed": 3}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return {**base, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}


def torchrun(*args: object, timeout: float = LAUNCH_TIMEOUT) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node=2` on 127.0.0.1 with a free port, bounded by a timeout."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout, check=False)


def spawn_pair(spec: Path, timeout: float = LAUNCH_TIMEOUT) -> tuple[list[int], str, float]:
    """Two worker processes started by hand (no torchrun to stop the job): their exit codes, rank 0's stderr, its seconds."""
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(spec)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True,
                              env=env(RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r), MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for r in range(2)]
    started = time.perf_counter()
    try:
        _, err = procs[0].communicate(timeout=timeout)
        seconds = time.perf_counter() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    return [p.returncode for p in procs], err, seconds


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fashion")
    write_idx_dataset(root, "FashionMNIST", n_train=65, n_test=32)
    return root


def one_process(data_root: Path, model: dict, train: dict, out: Path | None = None) -> list[dict]:
    torch.set_num_threads(1)
    config = from_dict(vae.TrainConfig, {**TRAIN, **train})
    return vae.train(from_dict(vae.ModelConfig, {**MODEL, **model}), config, out, load_dataset("fashion-mnist", True, data_root),
                     load_dataset("fashion-mnist", False, data_root), device="cpu", progress=False, grids=False)


def curve(history: list[dict], key: str = "train_loss") -> list[float]:
    return [r[key] for r in history]


# -- the pieces -------------------------------------------------------------------------------------
def group(rank: int, world: int) -> distributed.Group:
    return distributed.Group(rank, world, rank, "gloo", torch.device("cpu"), 10.0)


@pytest.mark.parametrize("world", [2, 3, 4])
def test_the_shards_of_a_batch_are_the_batch_and_weigh_to_its_mean(world: int) -> None:
    """Every image of a global batch is in exactly one shard, and the weighted average DDP takes of the per-process
    means is the batch's mean, also for batches that do not split evenly or leave a process without images."""
    values = torch.randn(9, dtype=torch.float64)
    for batch in range(1, 10):
        kept, average = [], torch.zeros((), dtype=torch.float64)
        for rank in range(world):
            part, count, weight = distributed.shard(batch, group(rank, world))
            positions = list(range(batch))[part]
            assert len(positions) == max(count, 1)
            kept += positions[:count]
            average += weight * values[:batch][part].mean() / world  # DDP averages the weighted gradients over the processes
        assert kept == list(range(batch))
        torch.testing.assert_close(average, values[:batch].mean())
    assert distributed.shard(7, None) == (slice(None), 7, 1.0)


def test_one_process_is_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.setup("cpu") is None and distributed.current() is None and distributed.is_main()
    single = {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    assert not distributed.launched_by_torchrun(single)
    assert distributed.launched_by_torchrun({**single, "WORLD_SIZE": "2"})
    assert distributed.rank_seed(5, None) == 5 == distributed.rank_seed(5, group(0, 2)) != distributed.rank_seed(5, group(1, 2))


def test_the_backend_follows_the_device() -> None:
    assert distributed.choose_backend(torch.device("cpu")) == "gloo"
    assert distributed.choose_backend(torch.device("cuda", 1)) == "nccl"
    with pytest.raises(distributed.DistributedError, match="--device cpu"):
        distributed.choose_backend(torch.device("mps"))


def test_bad_torchrun_variables_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "zero")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    with pytest.raises(distributed.DistributedError, match="RANK must be an integer.*torchrun"):
        distributed.setup("cpu")


# -- two processes ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_process_runs(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Under torchrun, the worker trains an autoencoder for 2 epochs and a VAE for 3, both on two processes."""
    tmp = tmp_path_factory.mktemp("ddp")
    runs = [
        {"out": str(tmp / "ae"), "model": {**MODEL, "kind": "ae"}, "train": {**TRAIN, "epochs": 2, "binarize": "none"}},
        {"out": str(tmp / "vae"), "model": MODEL, "train": {**TRAIN, "epochs": 3}},
    ]
    spec = tmp / "spec.json"
    spec.write_text(json.dumps({"data_root": str(data_root), "runs": runs, "results": str(tmp / "results"), "timeout": 60}))
    done = torchrun(WORKER, spec)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp / "results" / f"rank{r}.json").read_text()) for r in range(2)]
    return {"tmp": tmp, "ranks": ranks, "ae": runs[0], "vae": runs[1]}


def test_two_processes_train_an_autoencoder_exactly_as_one(two_process_runs: dict, data_root: Path) -> None:
    """No noise: the sharded steps with DDP's gradient average are the one-process steps, to float rounding."""
    run = two_process_runs["ae"]
    reference = one_process(data_root, run["model"], run["train"])
    for rank in range(2):
        history = two_process_runs["ranks"][rank][run["out"]]
        assert curve(history) == pytest.approx(curve(reference), rel=1e-5)
        assert curve(history, "test_loss") == pytest.approx(curve(reference, "test_loss"), rel=1e-5)


def test_two_processes_train_a_vae_like_one_within_one_percent(two_process_runs: dict, data_root: Path) -> None:
    run = two_process_runs["vae"]
    reference = one_process(data_root, run["model"], run["train"])
    histories = [two_process_runs["ranks"][rank][run["out"]] for rank in range(2)]
    assert curve(histories[0]) == curve(histories[1])  # every process returns the same history
    assert curve(histories[0]) == pytest.approx(curve(reference), rel=0.01)
    assert curve(histories[0], "test_loss") == pytest.approx(curve(reference, "test_loss"), rel=0.01)
    assert curve(histories[0]) != pytest.approx(curve(reference), rel=1e-6)  # the noise does differ per process


@pytest.fixture(scope="module")
def cli_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`torchrun -m vae train` for 2 epochs with TensorBoard events, then `--resume --epochs 3`."""
    out = tmp_path_factory.mktemp("cli") / "run"
    common = ["-m", "vae", "train", "--out", out, "--data-root", data_root, "--threads", "1", "--no-progress",
              "--dist-timeout", "60", "--tensorboard", "--device", "cpu"]
    configs = ["--dataset", "fashion-mnist", "--hidden", "32", "--latent-dim", "4", "--batch-size", "16",
               "--eval-batch-size", "64", "--seed", "3"]
    first = torchrun(*common, *configs, "--epochs", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    lines = (out / "history.jsonl").read_text().splitlines()
    resumed = torchrun(*common, "--epochs", "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"out": out, "first": first, "files": files, "lines": lines, "resumed": resumed}


def test_under_torchrun_only_rank_0_writes(cli_run: dict) -> None:
    """One history line per epoch, one event file, one command record, one checkpoint, one grid per epoch, one line
    of output: the second process wrote nothing."""
    files = cli_run["files"]
    assert len(cli_run["lines"]) == 2
    assert len([f for f in files if "tfevents" in f]) == 1
    assert [f for f in files if f.startswith("grids/")] == ["grids/epoch_0001.png", "grids/epoch_0002.png"]
    assert {f for f in files if f.startswith("checkpoint/")} == {f"checkpoint/{n}" for n in (
        "model.safetensors", "config.json", "metrics.json", "optimizer.safetensors", "state.json")}
    assert not [f for f in files if f.startswith(".checkpoint")]
    out = cli_run["first"].stdout
    assert out.count("done: 2 epochs") == 1
    assert out.count("epoch 1/2: ") == 1 and out.count("epoch 2/2: ") == 1  # rank 0's log lines only
    assert "distributed: 2 processes (gloo on cpu), global batch 16 (about 8 per process), lr 0.001" in out


def test_a_torchrun_run_resumes_exactly(cli_run: dict, two_process_runs: dict) -> None:
    """The run resumed from epoch 2 on two processes is the uninterrupted three-epoch two-process run (same data and
    configs, trained by the worker through the Python API), epoch for epoch; the resume is recorded once."""
    history = vae.config.read_jsonl(cli_run["out"] / "history.jsonl")
    reference = two_process_runs["ranks"][0][two_process_runs["vae"]["out"]]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert curve(history) == pytest.approx(curve(reference), rel=1e-6)
    assert curve(history, "test_loss") == pytest.approx(curve(reference, "test_loss"), rel=1e-6)
    command = json.loads((cli_run["out"] / "command.json").read_text())
    assert [r["at_epoch"] for r in command["resumed"]] == [2]
    assert cli_run["resumed"].stdout.count("done: 3 epochs") == 1


# -- a process that fails ---------------------------------------------------------------------------
def failing_spec(tmp_path: Path, data_root: Path, how: str, timeout: float) -> Path:
    run = {"out": str(tmp_path / "run"), "model": MODEL, "train": {**TRAIN, "epochs": 3}}
    spec = tmp_path / "spec.json"
    failure = {"rank": 1, "step": 7, "how": how}  # in epoch 2 (five steps per epoch)
    spec.write_text(json.dumps({"data_root": str(data_root), "runs": [run], "results": str(tmp_path / "results"),
                                "timeout": timeout, "failure": failure}))
    return spec


def test_a_crashed_process_ends_the_others_with_a_clear_error(tmp_path: Path, data_root: Path) -> None:
    """Rank 1 is killed in epoch 2: rank 0 stops at once (no torchrun to stop it) with an error that says what happened,
    and the checkpoint of epoch 1 is kept to resume from."""
    (code0, code1), err, _ = spawn_pair(failing_spec(tmp_path, data_root, "kill", timeout=120))
    assert code1 == -9 and code0 == 1, err[-2000:]
    assert "DistributedError: process 0 of 2 lost contact with the others while training" in err
    assert "Another process crashed or stopped answering" in err and "--resume" in err
    assert vae.checkpoint.recover_checkpoint(tmp_path / "run") is not None
    assert [r["epoch"] for r in vae.config.read_jsonl(tmp_path / "run" / "history.jsonl")] == [1]


def test_a_process_that_stops_answering_ends_the_job_after_the_timeout(tmp_path: Path, data_root: Path) -> None:
    """Rank 1 hangs: rank 0 gives up after the 3-second timeout (not torch's default 30 minutes) with the same error."""
    (code0, _), err, seconds = spawn_pair(failing_spec(tmp_path, data_root, "hang", timeout=3))
    assert code0 == 1, err[-2000:]
    assert seconds < 150  # start-up and two epochs included (seconds on an idle machine); torch's default waits 30 minutes
    assert "lost contact with the others" in err and "more than 3 s (--dist-timeout)" in err

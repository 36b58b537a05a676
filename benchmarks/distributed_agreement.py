"""Data-parallel training agrees with one process: `torchrun --nproc_per_node=2 -m vae train` against plain `vae train`.

The same command (the default MLP, the first `--train-size` MNIST training images, global batch 128) runs once in one
process and once in two CPU processes (gloo on 127.0.0.1), for a plain autoencoder on gray levels (no random numbers
in a step: the two runs must agree to float rounding) and for the default VAE (each process draws its own
reparameterization noise, so the two-process curve is another draw of the same training). Reported: each epoch's
train and test loss of both runs and their relative difference. Agreement, not speed: on one machine with few
cores two processes are no faster.

Usage: python benchmarks/distributed_agreement.py [--train-size 2000] [--epochs 3] [--data-root DIR]
Writes benchmarks/results/distributed_agreement.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"ae": ["--kind", "ae", "--binarize", "none"], "vae": []}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(out: Path, options: list[str], processes: int) -> list[dict[str, Any]]:
    launcher = [sys.executable, "-m", "vae"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--master_addr=127.0.0.1",
        f"--master_port={free_port()}", "-m", "vae"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([*launcher, "train", "--out", str(out), *options], check=True, env=env, cwd=ROOT, timeout=3600)
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data-root")
    args = parser.parse_args()
    common = ["--train-size", str(args.train_size), "--epochs", str(args.epochs), "--threads", "1", "--no-progress",
              "--no-grids", "--device", "cpu", *(["--data-root", args.data_root] if args.data_root else [])]
    results: dict[str, Any] = {"command": "python benchmarks/distributed_agreement.py " + " ".join(sys.argv[1:]),
                               "train_size": args.train_size, "batch_size": 128, "epochs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, options in KINDS.items():
            one, two = (run(Path(tmp) / f"{kind}-{n}", [*common, *options], n) for n in (1, 2))
            rows = []
            for a, b in zip(one, two):
                rows.append({"epoch": a["epoch"], **{f"{key}_{name}": r[key] for key in ("train_loss", "test_loss")
                                                     for name, r in (("1", a), ("2", b))},
                             **{f"{key}_relative_difference": abs(b[key] - a[key]) / abs(a[key])
                                for key in ("train_loss", "test_loss")}})
            results["epochs"][kind] = rows
    out = ROOT / "benchmarks" / "results" / "distributed_agreement.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| model | epoch | train loss, 1 process | 2 processes | relative difference | test loss, 1 process | 2 processes "
          "| relative difference |\n|---|---|---|---|---|---|---|---|")
    for kind, rows in results["epochs"].items():
        for r in rows:
            print(f"| {kind} | {r['epoch']} | {r['train_loss_1']:.3f} | {r['train_loss_2']:.3f} | "
                  f"{r['train_loss_relative_difference']:.1e} | {r['test_loss_1']:.3f} | {r['test_loss_2']:.3f} | "
                  f"{r['test_loss_relative_difference']:.1e} |")


if __name__ == "__main__":
    main()

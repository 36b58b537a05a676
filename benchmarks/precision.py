"""Mixed precision: how much faster `--precision bf16` trains a model, and how far its loss and gradient move.

For each training setting below, the same steps run twice on the same 128 binarized test images
with the same noise: once in float32 and once with the encoder and decoder under bfloat16
autocast (`model.precision("bf16")`, what `TrainConfig(precision="bf16")` runs the steps in). Reported: seconds per
step (the mean of 5 after a warm-up step; a training epoch is 469 steps of 128 images), the mean
absolute difference of the loss (nats per image) and the cosine between the two gradients of all
parameters. The speed-up needs bfloat16 matrix units (AMX or AVX512-BF16 on a CPU); without them
bfloat16 can be slower than float32. Timings are only meaningful on an otherwise idle machine: the
load average is recorded before and after.

Usage: python benchmarks/precision.py [MODEL] [--threads 2] [--data-root DIR] [--write]
MODEL: a shipped model name or model/run folder (default: default). Prints a Markdown table and
writes benchmarks/results/precision.json; --write also puts the table into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

import vae
from vae.config import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from docs_blocks import markers, write_block  # noqa: E402

SETTINGS = {
    "IWAE k=128, DReG": TrainConfig(objective="iwae", iwae_k=128, iwae_gradient="dreg"),
    "IWAE k=256, DReG": TrainConfig(objective="iwae", iwae_k=256, iwae_gradient="dreg"),
    "ELBO": TrainConfig(),
}
STEPS = 5
RESULTS = Path(__file__).parent / "results" / "precision.json"
PAGE = Path(__file__).parents[1] / "docs" / "performance.md"
START, END = markers("precision")


def steps(model: vae.VAE, x: torch.Tensor, config: TrainConfig) -> tuple[float, list[float], torch.Tensor]:
    """Seconds per step, the loss of each step and the last step's gradient, for fixed noise (in the model's precision)."""
    y = torch.zeros(x.shape[0], dtype=torch.long)
    losses, seconds = [], 0.0
    for i in range(STEPS + 1):
        torch.manual_seed(i)
        start = time.perf_counter()
        loss = vae.training_loss(model, x, y, config, beta=1.0)["loss"]
        model.zero_grad(set_to_none=True)
        loss.backward()
        if i > 0:  # the first step warms up the kernels
            seconds += time.perf_counter() - start
        losses.append(loss.item())
    grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return seconds / STEPS, losses, grad


def bf16_units() -> list[str]:
    """The CPU's bfloat16 matrix extensions listed in /proc/cpuinfo (Linux; empty elsewhere)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []
    return sorted({f for f in flags if f in ("amx_bf16", "avx512_bf16")})


def markdown(result: dict[str, Any]) -> str:
    """The results as the Markdown table that docs/performance.md shows."""
    lines = [f"| setting (`{result['model']}`, 128 images a step) | float32 s/step | bfloat16 s/step | speed-up "
             "| loss difference (nats) | gradient cosine |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        lines.append(f"| {r['setting']} | {r['fp32_seconds_per_step']:.3f} | {r['bf16_seconds_per_step']:.3f} "
                     f"| {r['speedup']:.1f}x | {r['loss_difference']:.4f} | {r['gradient_cosine']:.4f} |")
    return "\n".join(lines)


def write_page(table: str, page: Path = PAGE) -> None:
    """Replace the block between the precision markers of `page` with `table`."""
    write_block(page, "precision", table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-root")
    parser.add_argument("--write", action="store_true", help="put the table into docs/performance.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = vae.load(args.model)
    model.train()
    x = vae.data.binarized_test_set(vae.load_mnist(False, args.data_root))[:128]
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for name, config in SETTINGS.items():
        with model.precision("fp32"):
            fp32_seconds, fp32_losses, fp32_grad = steps(model, x, config)
        with model.precision("bf16"):
            bf16_seconds, bf16_losses, bf16_grad = steps(model, x, config)
        rows.append({
            "setting": name,
            "fp32_seconds_per_step": fp32_seconds,
            "bf16_seconds_per_step": bf16_seconds,
            "speedup": fp32_seconds / bf16_seconds,
            "loss_difference": sum(abs(a - b) for a, b in zip(fp32_losses, bf16_losses)) / len(fp32_losses),
            "gradient_cosine": float(torch.nn.functional.cosine_similarity(fp32_grad, bf16_grad, dim=0)),
        })
    result = {
        "benchmark": "precision",
        "command": "python benchmarks/precision.py " + " ".join(
            [args.model, "--threads", str(args.threads)] + (["--data-root", args.data_root] if args.data_root else [])),
        "model": args.model,
        "machine": {"torch": torch.__version__, "python": platform.python_version(), "processor": platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "bf16_units": bf16_units()},
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    if args.write:
        write_page(markdown(result))
    if load_before[0] > 0.5:  # the load before this script started: something else was running
        print(f"warning: the machine was busy (load average {load_before[0]:.1f}); the timings are not representative")


if __name__ == "__main__":
    main()

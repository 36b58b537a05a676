r"""Small models trained with each decoder likelihood: what the choice changes (samples, loss scale, beta against sigma^2).

Trains one small MLP VAE per setting with the project's own `vae train` (a subprocess each, one torch
thread, on the first TRAIN_SIZE training images for EPOCHS epochs): the Bernoulli decoder on
dynamically binarized digits, Gaussian decoders with a fixed sigma of 1, 0.3, 0.1 and 0.03, one with
a learned sigma (started at 0.1 and at 1), and a Gaussian with sigma = 1 and KL weight beta = 0.01:
its loss, ||x - x_hat||^2 / 2 + 0.01 KL, is the sigma = 0.1 loss, 50 ||x - x_hat||^2 + KL, divided by
100, so both put the weight 2 sigma^2 beta = 0.02 on the KL against the squared error (Adam is
invariant to the scale of the loss, so the two should train alike). Then each model is measured on the first N_TEST test images:

- the last epoch's test loss and its terms from `history.jsonl` (nats per image: minus the log
  *probability* of the fixed binarized test set for the Bernoulli model, minus a log *density* of
  the gray levels for the Gaussian ones);
- the squared error $\lVert x - \hat x \rVert^2$ between the gray test digit and its reconstruction
  (the decoder mean at the posterior mean of what the model is evaluated on), comparable across all,
  and the same on the first N_TEST training images; from them the maximum-likelihood sigma of a
  fixed decoder, $\sqrt{\mathbb E \lVert x - \hat x \rVert^2 / N}$, to compare with a learned one;
- eight decoder means and eight draws $x \sim p(x \mid z)$ at the same eight prior codes.

Writes benchmarks/results/likelihoods.json (with every command), which `likelihoods` in
scripts/make_figures.py turns into the figure and table of docs/theory/likelihoods.md. None of these
models is shipped.

Usage: python benchmarks/likelihoods.py [--work DIR] [--data-root DIR] [--reuse]
(`--reuse` measures runs already in DIR instead of training them again.) About 3 CPU minutes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import torch

import vae
from vae.config import read_jsonl
from vae.evaluation import evaluation_images

RESULTS = Path(__file__).parent / "results" / "likelihoods.json"
TRAIN_SIZE, EPOCHS, N_TEST, N_SAMPLES = 10_000, 8, 2_000, 8
MODEL = ["--latent-dim", "16", "--hidden", "256"]
COMMON = ["--train-size", str(TRAIN_SIZE), "--epochs", str(EPOCHS), "--seed", "0", "--threads", "1", "--device", "cpu",
          "--no-progress", "--no-grids"]
RUNS: list[tuple[str, list[str]]] = [
    ("bernoulli", []),
    ("gaussian-1", ["--likelihood", "gaussian", "--decoder-std", "1"]),
    ("gaussian-0.3", ["--likelihood", "gaussian", "--decoder-std", "0.3"]),
    ("gaussian-0.1", ["--likelihood", "gaussian", "--decoder-std", "0.1"]),
    ("gaussian-0.03", ["--likelihood", "gaussian", "--decoder-std", "0.03"]),
    ("gaussian-learned", ["--likelihood", "gaussian_learned", "--decoder-std", "0.1"]),
    ("gaussian-learned-from-1", ["--likelihood", "gaussian_learned", "--decoder-std", "1"]),
    ("gaussian-1-beta0.01", ["--likelihood", "gaussian", "--decoder-std", "1", "--beta", "0.01"]),
]


def train_command(name: str, options: list[str], work: Path, data_root: Path) -> list[str]:
    return ["vae", "train", "--out", str(work / name), *MODEL, *options, *COMMON, "--data-root", str(data_root)]


IMAGE_ENCODING = "base64 of zlib-compressed uint8 gray levels 0-255, shape (N, 28, 28), row-major"


def encode_images(images: torch.Tensor) -> str:
    """Images in [0, 1], (N, 1, 28, 28), as 8-bit gray levels (as a PNG would store them), compressed: see IMAGE_ENCODING."""
    pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy().tobytes()
    return base64.b64encode(zlib.compress(pixels, 9)).decode("ascii")


def decode_images(text: str) -> torch.Tensor:
    """The inverse of `encode_images`: (N, 28, 28) in [0, 1]."""
    pixels = torch.frombuffer(bytearray(zlib.decompress(base64.b64decode(text))), dtype=torch.uint8)
    return pixels.view(-1, 28, 28).float() / 255


@torch.no_grad()
def squared_errors(model: vae.VAE, data: vae.MNIST) -> torch.Tensor:
    """||x - x_hat||^2 per image, (N,): x the gray digit, x_hat the decoder mean at the posterior mean of what the
    model is evaluated on (the fixed binarization for a Bernoulli model, the gray levels for a Gaussian one)."""
    mu, _ = model.encode(evaluation_images(model.config, data))  # (N, D)
    return (data.images - model.decoder_mean(mu)).pow(2).flatten(1).sum(1)


@torch.no_grad()
def measure(run: Path, test: vae.MNIST, train: vae.MNIST) -> dict[str, Any]:
    model = vae.load(run)
    config = model.config
    last = read_jsonl(run / "history.jsonl")[-1]
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    sse, sse_train = squared_errors(model, test), squared_errors(model, train)  # (N,) each
    z = model.prior.sample(N_SAMPLES, generator=torch.Generator().manual_seed(0))  # the same codes for every model
    beta = state["train_config"]["beta"]
    sigma = model.likelihood.std if config.is_gaussian else None
    return {
        "likelihood": config.likelihood,
        "decoder_std": sigma,
        "decoder_std_start": config.decoder_std if config.is_gaussian else None,
        "beta": beta,
        "beta_on_mse": 2 * sigma**2 * beta if sigma is not None else None,  # the KL weight of ||x - x_hat||^2 + w KL
        "data": "gray levels" if config.is_gaussian else "binarized",
        "test_loss": last["test_loss"],
        "test_reconstruction": last["test_reconstruction"],
        "test_kl": last["test_kl"],
        "train_loss": last["train_loss"],
        "squared_error": sse.mean().item(),
        "squared_error_stderr": (sse.std() / len(sse) ** 0.5).item(),
        "squared_error_train": sse_train.mean().item(),
        # the maximum-likelihood sigma of a fixed decoder, sqrt(E ||x - x_hat||^2 / N), on training and test digits
        "residual_std_train": (sse_train.mean() / config.num_pixels).sqrt().item(),
        "residual_std_test": (sse.mean() / config.num_pixels).sqrt().item(),
        "latent_dim": config.latent_dim,
        "epoch_seconds": last["epoch_seconds"],
        "means": encode_images(model.decoder_mean(z)),
        "draws": encode_images(model.decoder_sample(z, generator=torch.Generator().manual_seed(1))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vae-likelihoods", help="run folders")
    parser.add_argument("--data-root", type=Path, default=vae.resolve_data_root())
    parser.add_argument("--reuse", action="store_true", help="measure the runs already in --work")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    vae_script = Path(sys.executable).parent / "vae"
    results: dict[str, Any] = {
        "command": ("python benchmarks/likelihoods.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip(),
        "train_size": TRAIN_SIZE, "epochs": EPOCHS, "test_images": N_TEST, "image_encoding": IMAGE_ENCODING,
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": 1},
        "date": time.strftime("%Y-%m-%d"), "runs": {},
    }
    test = vae.load_mnist(False, args.data_root).subset(N_TEST)
    train = vae.load_mnist(True, args.data_root).subset(N_TEST)  # the first training images: every model trained on them
    for name, options in RUNS:
        command = train_command(name, options, args.work, args.data_root)
        run = args.work / name
        if not (args.reuse and (run / "checkpoint").is_dir()):
            if (run / "checkpoint").is_dir():
                raise SystemExit(f"{run} already holds a run: pass --reuse to measure it, or choose another --work")
            start = time.perf_counter()
            subprocess.run([str(vae_script), *command[1:]], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            print(f"{name}: trained in {time.perf_counter() - start:.0f} s", flush=True)
        shown = [c if not c.startswith(str(args.work)) else f"$WORK/{name}" for c in command]
        shown[shown.index("--data-root") + 1] = "$VAE_DATA_ROOT"
        results["runs"][name] = {"command": shlex.join(shown), **measure(run, test, train)}
        r = results["runs"][name]
        print(f"{name}: test loss {r['test_loss']:.1f} (rec {r['test_reconstruction']:.1f}, KL {r['test_kl']:.1f}), "
              f"squared error {r['squared_error']:.2f}, sigma {r['decoder_std']}", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

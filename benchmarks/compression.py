r"""Compression: reconstruction error against code size for PCA, a plain autoencoder and a VAE; and bits per digit.

**Curves.** For code sizes D = 2, 4, 8, 16, 32, 64: PCA with D components, and an autoencoder (`--kind ae`) and a
VAE (`--kind vae`) of the same networks (MLP 784-256-D / D-256-784, Bernoulli decoder), trained with
`vae train` on the first 50,000 training images (`--val-size 10000` holds out the last 10,000). Each net is
trained twice, for 10 and for 30 epochs (`train_commands`); the one with the lower validation BCE is
kept (nothing is chosen on the test set). The measure is the same for all three: the reconstruction of each
binarized test digit (the package's fixed seed) from its code (PCA: the projection clamped to [eps, 1 - eps];
AE: the decoder at the code; VAE: the decoder at the posterior mean), scored

- **BCE**, nats per image: $-\sum_i x_i \log \hat x_i + (1 - x_i) \log(1 - \hat x_i)$ over the 784 pixels;
  PCA's output is clamped to [eps, 1 - eps] with eps chosen on the validation split (a hard 0 at an ink pixel
  would cost $-\log 10^{-6} = 13.8$ nats);
- **squared error**, per image: $\sum_i (x_i - \hat x_i)^2$, the quantity PCA minimises (Eckart-Young: on the
  data it was fitted on, it equals the sum of the discarded eigenvalues, recorded as a check).

PCA is fitted on the same 50,000 training images, binarized once (seed 1). The VAE's code is a distribution;
its rate, the KL of the posterior from the prior (nats per image), is recorded beside its distortion.

**Bits.** The shipped `default`'s test NLL (the IWAE bound with k = 5000 from its `metrics.json`, an upper
bound on $-\log p(x)$) read as a lossless code length, $\log_2 e$ bits per nat, next to the raw 784 bits and
what general-purpose compressors make of the same binarized test digits: PNG (PIL, 1-bit mode, `optimize=True`),
gzip (level 9), bz2 (level 9) and lzma (preset 9 | extreme), each of every digit alone (with its file header:
what storing one digit costs) and of all 10,000 at once (a 1-bit PNG of the 100 x 100 mosaic; the packed bits,
98 bytes per digit, for the others), divided by 10,000.

**For the demo** (`--write-demo`): `vae/assets/compression_demo.safetensors`, uint8 reconstructions by each
method at each D of the first 10 test digits of every class (100 digits, which include the demo's example PNGs),
their binarized inputs, and the 2-D codes of PCA, the AE and the VAE of the demo's 2,000 shipped test digits
(`demo/examples/test_subset.safetensors`). Precomputed instead of shipping the 12 models: 1.5 MB instead of
~20 MB of weights (the shipped weights must stay well under 50 MB), and the demo needs no model to show them.

Usage:
    python benchmarks/compression.py --train [--threads 1]       # the 24 runs, one at a time, logs in runs/uses/
    python benchmarks/compression.py [--data-root ../shared/data] [--threads 1] [--write-demo]
Writes benchmarks/results/compression.json (every command included) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

import vae

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "compression.json"
DEMO_FILE = ROOT / "vae" / "assets" / "compression_demo.safetensors"
RUNS = Path("runs/uses")  # relative to the repository root, where the commands run
DIMS = (2, 4, 8, 16, 32, 64)
KINDS = ("ae", "vae")
EPOCH_CHOICES = (10, 30)
HIDDEN = 256
FIT_SIZE = 50_000
FIT_BINARIZATION_SEED = 1
EPS_CHOICES = (1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1)
DEMO_PER_CLASS = 10  # digits of each class with precomputed reconstructions
SUBSET_PER_CLASS = 200  # the demo's test subset (scripts/make_demo_examples.py): 2-D codes for its digits
METHODS = ("pca", "ae", "vae")
METHOD_NAMES = {"pca": "PCA", "ae": "autoencoder", "vae": "VAE"}


# -- training ----------------------------------------------------------------------------------------
def run_dir(kind: str, d: int, epochs: int) -> Path:
    return RUNS / f"{kind}-d{d}-e{epochs}"


def train_command(kind: str, d: int, epochs: int, threads: int = 1) -> list[str]:
    """The exact `vae train` command of one run (run from the repository root)."""
    return ["vae", "train", "--out", str(run_dir(kind, d, epochs)), "--kind", kind, "--arch", "mlp", "--hidden", str(HIDDEN),
            "--latent-dim", str(d), "--epochs", str(epochs), "--batch-size", "128", "--lr", "1e-3", "--lr-schedule", "cosine",
            "--val-size", "10000", "--seed", "0", "--data-root", "../shared/data", "--threads", str(threads),
            "--no-progress", "--no-grids"]


def train_commands() -> dict[str, str]:
    return {run_dir(k, d, e).name: shlex.join(train_command(k, d, e)) for d in DIMS for k in KINDS for e in EPOCH_CHOICES}


def _finished(log: Path) -> bool:
    lines = log.read_text().splitlines() if log.is_file() else []
    return bool(lines) and lines[-1].startswith("done:")


def train_all(threads: int, retries: int = 5, wait: float = 120.0) -> None:
    """Run every missing training run, one at a time, each logged to runs/uses/<run>.log; retry a failed one."""
    for d in DIMS:
        for kind in KINDS:
            for epochs in EPOCH_CHOICES:
                out = ROOT / run_dir(kind, d, epochs)
                log = out.with_name(out.name + ".log")
                for attempt in range(retries):
                    if _finished(log):
                        break
                    if attempt:
                        print(f"{out.name}: attempt {attempt} failed (see {log}); retrying in {wait:.0f} s", flush=True)
                        time.sleep(wait)
                    subprocess.run(["rm", "-rf", str(out)], check=True)
                    with log.open("w") as f:
                        subprocess.run(train_command(kind, d, epochs, threads), cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
                print(f"{out.name}: {log.read_text().splitlines()[-1] if log.is_file() else 'no log'}", flush=True)


# -- measuring -----------------------------------------------------------------------------------------
def bce(target: torch.Tensor, probs: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    r"""$-\sum_i x_i \log \hat x_i + (1 - x_i)\log(1 - \hat x_i)$ per image, $\hat x$ clamped to [eps, 1 - eps]: (N,)."""
    p = probs.double().clamp(eps, 1.0 - eps)
    t = target.double()
    return -(t * p.log() + (1.0 - t) * (-p).log1p()).flatten(1).sum(1)


def squared_error(target: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    r"""$\sum_i (x_i - \hat x_i)^2$ per image: (N,)."""
    return (target.double() - recon.double()).pow(2).flatten(1).sum(1)


def truncate(pca: vae.PCA, k: int) -> vae.PCA:
    """The same PCA with only its top k components (a PCA fitted with k components is exactly this)."""
    return vae.PCA(pca.mean, pca.components[:k], pca.explained_variance[:k], pca.total_variance, pca.shape)


@torch.no_grad()
def reconstruct(method: str, model: Any, x: torch.Tensor) -> torch.Tensor:
    """Reconstruction in [0, 1] from the code: PCA projection clamped; decoder at the code (AE) or posterior mean (VAE)."""
    if method == "pca":
        return model.reconstruct(x).clamp(0.0, 1.0).float()
    return torch.cat([model.reconstruct(x[i : i + 1000]) for i in range(0, x.shape[0], 1000)])


@torch.no_grad()
def codes(method: str, model: Any, x: torch.Tensor) -> torch.Tensor:
    return model.encode(x).float() if method == "pca" else torch.cat([model.embed(x[i : i + 1000]) for i in range(0, x.shape[0], 1000)])


@torch.no_grad()
def rate(model: vae.VAE, x: torch.Tensor) -> float:
    """Mean KL(q(z | x) || N(0, I)) in nats per image: the VAE's code cost."""
    parts = [vae.gaussian_kl(*model.encode(x[i : i + 1000])) for i in range(0, x.shape[0], 1000)]
    return torch.cat(parts).mean().item()


def stats(values: torch.Tensor) -> tuple[float, float]:
    return values.mean().item(), (values.std() / math.sqrt(values.numel())).item()


def measure_curves(test_bits: torch.Tensor, val_bits: torch.Tensor, fit_bits: torch.Tensor) -> tuple[dict[str, Any], dict[str, Any]]:
    """The three methods at every D; returns the results and the chosen models (for the demo file)."""
    pca_full = vae.fit_pca(fit_bits, max(DIMS))
    results: dict[str, Any] = {"pca": {}, "ae": {}, "vae": {}}
    models: dict[str, Any] = {"pca": {}, "ae": {}, "vae": {}}
    for d in DIMS:
        pca = truncate(pca_full, d)
        val_recon, test_recon = reconstruct("pca", pca, val_bits), reconstruct("pca", pca, test_bits)
        val_bce = {f"{eps:g}": bce(val_bits, val_recon, eps).mean().item() for eps in EPS_CHOICES}
        eps = float(min(val_bce, key=val_bce.get))
        fit_error = squared_error(fit_bits, pca.reconstruct(fit_bits)).mean().item()  # unclamped: Eckart-Young
        b, b_se = stats(bce(test_bits, test_recon, eps))
        m, m_se = stats(squared_error(test_bits, pca.reconstruct(test_bits)))
        mc, _ = stats(squared_error(test_bits, test_recon))
        results["pca"][str(d)] = {"bce": b, "bce_stderr": b_se, "squared_error": m, "squared_error_stderr": m_se,
                                  "squared_error_clamped": mc, "eps": eps, "val_bce_by_eps": val_bce,
                                  "fit_squared_error": fit_error, "discarded_eigenvalues": pca.residual_variance}
        models["pca"][d] = (pca, eps)
        for kind in KINDS:
            candidates = {}
            for epochs in EPOCH_CHOICES:
                model = vae.load(str(ROOT / run_dir(kind, d, epochs)))
                candidates[epochs] = (model, bce(val_bits, reconstruct(kind, model, val_bits)).mean().item())
            best = min(candidates, key=lambda e: candidates[e][1])
            model = candidates[best][0]
            recon = reconstruct(kind, model, test_bits)
            b, b_se = stats(bce(test_bits, recon))
            m, m_se = stats(squared_error(test_bits, recon))
            entry = {"bce": b, "bce_stderr": b_se, "squared_error": m, "squared_error_stderr": m_se, "epochs": best,
                     "val_bce_by_epochs": {str(e): v for e, (_, v) in candidates.items()},
                     "run": str(run_dir(kind, d, best)), "command": shlex.join(train_command(kind, d, best)),
                     "parameters": vae.num_parameters(model)}
            if kind == "vae":
                entry["rate_kl"] = rate(model, test_bits)
            results[kind][str(d)] = entry
            models[kind][d] = model
        print(f"D={d}: " + ", ".join(f"{k} BCE {results[k][str(d)]['bce']:.1f} SE {results[k][str(d)]['squared_error']:.1f}"
                                     for k in METHODS), flush=True)
    return results, models


def _png_bytes(bits: np.ndarray) -> int:
    buffer = io.BytesIO()
    Image.fromarray(bits.astype(bool)).convert("1").save(buffer, format="PNG", optimize=True)
    return len(buffer.getvalue())


def measure_bits(test_bits: torch.Tensor) -> dict[str, Any]:
    """Bits per binarized test digit: the model's NLL, raw, and PNG / gzip / bz2 / lzma, per digit and for the whole set."""
    ev = vae.load_metrics("default")["evaluation"]
    bits = test_bits[:, 0].numpy().astype(np.uint8)  # (N, 28, 28) zeros and ones
    n = bits.shape[0]
    packed = np.packbits(bits.reshape(n, -1), axis=1)  # (N, 98) bytes
    side = math.isqrt(n)
    compressors = {"gzip": lambda b: gzip.compress(b, 9, mtime=0), "bz2": lambda b: bz2.compress(b, 9),
                   "lzma": lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME)}
    per_digit = {"png": float(np.mean([_png_bytes(d) for d in bits])) * 8}
    whole = {}
    if side * side == n:
        mosaic = bits.reshape(side, side, 28, 28).transpose(0, 2, 1, 3).reshape(side * 28, side * 28)
        whole["png"] = _png_bytes(mosaic) * 8 / n
    for name, fn in compressors.items():
        per_digit[name] = float(np.mean([len(fn(row.tobytes())) for row in packed])) * 8
        whole[name] = len(fn(packed.tobytes())) * 8 / n
    return {
        "num_digits": n,
        "raw_bits": bits.shape[1] * bits.shape[2],
        "default_test_nll_nats": ev["test_nll"],
        "default_test_nll_bits": ev["test_nll"] / math.log(2),
        "default_test_nll_k": ev["k"],
        "default_negative_elbo_bits": -ev["test_elbo"] / math.log(2),
        "per_digit_bits": per_digit,
        "whole_set_bits_per_digit": whole,
    }


def first_per_class(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Test-set positions of the first `per_class` digits of every class, in test-set order (as scripts/make_demo_examples.py)."""
    return torch.cat([torch.nonzero(labels == d).flatten()[:per_class] for d in range(10)]).sort().values


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def demo_file(models: dict[str, Any], test_bits: torch.Tensor, labels: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors of the demo file and the errors of its stored (uint8) reconstructions."""
    index = first_per_class(labels, DEMO_PER_CLASS)  # (N,)
    subset = first_per_class(labels, SUBSET_PER_CLASS)  # (2000,)
    x = test_bits[index]
    tensors: dict[str, torch.Tensor] = {
        "indices": index.to(torch.int32), "labels": labels[index].to(torch.uint8), "inputs": to_uint8(x)[:, 0],
        "dims": torch.tensor(DIMS, dtype=torch.int32),
        "map_indices": subset.to(torch.int32), "map_labels": labels[subset].to(torch.uint8),
    }
    errors: dict[str, Any] = {}
    for method in METHODS:
        stack = []
        for d in DIMS:
            model = models[method][d][0] if method == "pca" else models[method][d]
            stack.append(to_uint8(reconstruct(method, model, x))[:, 0])  # (N, 28, 28)
        tensors[method] = torch.stack(stack)  # (len(DIMS), N, 28, 28)
        stored = tensors[method].float() / 255.0
        eps = {d: models["pca"][d][1] if method == "pca" else 1e-6 for d in DIMS}
        errors[method] = {str(d): {"bce": bce(x[:, 0], stored[i], eps[d]).mean().item(),
                                   "squared_error": squared_error(x[:, 0], stored[i]).mean().item(), "eps": eps[d]}
                          for i, d in enumerate(DIMS)}
        model2 = models[method][2][0] if method == "pca" else models[method][2]
        tensors[f"map_{method}"] = codes(method, model2, test_bits[subset])  # (2000, 2) float32
    return {k: v.contiguous() for k, v in tensors.items()}, errors


def markdown(result: dict[str, Any]) -> str:
    curves = result["curves"]
    head = "| code size D | " + " | ".join(f"{METHOD_NAMES[m]} BCE" for m in METHODS) + " | " + \
        " | ".join(f"{METHOD_NAMES[m]} squared error" for m in METHODS) + " | VAE rate (KL) |"
    lines = [head, "| ---: |" + " ---: |" * 7]
    for d in DIMS:
        r = {m: curves[m][str(d)] for m in METHODS}
        lines.append(f"| {d} | " + " | ".join(f"{r[m]['bce']:.1f}" for m in METHODS) + " | "
                     + " | ".join(f"{r[m]['squared_error']:.1f}" for m in METHODS) + f" | {r['vae']['rate_kl']:.1f} |")
    b = result["bits"]
    bits = ["| code | bits per digit, each digit alone | bits per digit, all 10,000 together |", "| --- | ---: | ---: |",
            f"| raw (one bit per pixel) | {b['raw_bits']} | {b['raw_bits']} |",
            f"| `default` VAE: test NLL (IWAE, k = {b['default_test_nll_k']}) | {b['default_test_nll_bits']:.1f} | {b['default_test_nll_bits']:.1f} |",
            f"| `default` VAE: negative ELBO (bits-back with its encoder) | {b['default_negative_elbo_bits']:.1f} | {b['default_negative_elbo_bits']:.1f} |"]
    names = {"png": "PNG, 1-bit (PIL)", "gzip": "gzip -9", "bz2": "bzip2 -9", "lzma": "lzma -9e (xz)"}
    for key, name in names.items():
        whole = b["whole_set_bits_per_digit"].get(key)
        bits.append(f"| {name} | {b['per_digit_bits'][key]:.1f} | {'—' if whole is None else f'{whole:.1f}'} |")
    return "\n".join(lines) + "\n\n" + "\n".join(bits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="run the missing training runs (one at a time), then stop")
    parser.add_argument("--data-root")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write-demo", action="store_true", help=f"also write {DEMO_FILE.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = shlex.join(["python", "benchmarks/compression.py", *(sys.argv[1:] if argv is None else argv)])
    if args.train:
        train_all(args.threads)
        return 0
    start = time.perf_counter()
    train, test = vae.load_mnist(True, args.data_root), vae.load_mnist(False, args.data_root)
    test_bits = vae.binarized_test_set(test)
    val_bits = vae.binarized_test_set(vae.MNIST(train.images[FIT_SIZE:], train.labels[FIT_SIZE:]))
    fit_bits = vae.binarize(train.images[:FIT_SIZE], torch.Generator().manual_seed(FIT_BINARIZATION_SEED))
    curves, models = measure_curves(test_bits, val_bits, fit_bits)
    tensors, errors = demo_file(models, test_bits, test.labels)
    result = {
        "command": command,
        "train_commands": train_commands(),
        "num_test_images": len(test),
        "dims": list(DIMS),
        "curves": curves,
        "bits": measure_bits(test_bits),
        "demo": {"file": str(DEMO_FILE.relative_to(ROOT)), "digits": int(tensors["indices"].numel()),
                 "map_digits": int(tensors["map_indices"].numel()), "stored_errors": errors},
    }
    if args.write_demo:
        save_file(tensors, str(DEMO_FILE), metadata={"source": "benchmarks/compression.py", "command": command})
        result["demo"]["file_bytes"] = DEMO_FILE.stat().st_size
    elif args.out.is_file():  # keep the size of the demo file written before
        result["demo"]["file_bytes"] = json.loads(args.out.read_text()).get("demo", {}).get("file_bytes")
    result["seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

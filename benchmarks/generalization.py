"""Does a shipped model overfit? Its NLL estimate on training images against the same on test images.

The IWAE bound (`vae.evaluate`) of the first N training images and of the first N test images,
each binarized once with the fixed test seed. A model that fits its training images much better
than unseen ones is limited by overfitting (more capacity would not help it); a small gap means the
model is limited by its capacity or its training time.

A model trained on only the first T training images (`--train-size T`, or all but a validation split held
out with `--val-size`) is also measured on the first N training images it never saw (T, T + 1, ...). Held-out training images against its training images is the
overfitting; test images against held-out ones is how much harder the test split is for the model.

Which network overfits? For the first R images of each split, the encoder's Gaussian q(z | x) is
also refined image by image (Adam on the ELBO, the decoder fixed; Cremer et al., 2018, "Inference
suboptimality in variational autoencoders") and the bound recomputed with the refined proposal.
What refinement gains is the encoder's share (the amortization gap); a gap left between the splits
after refinement belongs to the decoder.

Usage: python benchmarks/generalization.py [MODEL ...] [-n 5000] [-k 1000] [--refine 500] [--data-root ../shared/data]
MODEL: shipped model names or model/run folders (default: default). Updates benchmarks/results/generalization.json
(one entry per model, named as given; the entries of models not measured this time are kept) and prints Markdown
tables. Each entry records the SHA-256 of the weights it measured, so a stale entry for a shipped model is caught.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

import vae
from vae.evaluation import log_likelihood
from vae.runs import trained_on_size

RESULTS = Path(__file__).parent / "results" / "generalization.json"
REFINE_STEPS, REFINE_SAMPLES, REFINE_LR = 150, 8, 0.03  # Adam steps, posterior samples per step, learning rate


def refine(model: vae.VAE, x: torch.Tensor, steps: int = REFINE_STEPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image Gaussian proposals (mu, logvar), each (B, D): the encoder's, then `steps` Adam steps on the ELBO.

    The model's own parameters are frozen (requires_grad off) and stay so: only the proposals move.
    """
    with torch.no_grad():
        mu, logvar = model.encode(x)
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    optimizer = torch.optim.Adam([mu, logvar], lr=REFINE_LR)
    model.requires_grad_(False)
    for _ in range(steps):
        loss = -model.log_importance_weights(x, REFINE_SAMPLES, posterior=(mu, logvar)).mean()  # negative ELBO
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return mu.detach(), logvar.detach()


def measure(model: vae.VAE, train: vae.MNIST, test: vae.MNIST, n: int, k: int, n_refine: int = 0,
            heldout: vae.MNIST | None = None) -> dict[str, Any]:
    """NLL and ELBO estimates (nats) of the first n images of each split and the gap between them; for the first
    n_refine images, the NLL with the encoder's and with refined proposals (unconditional VAEs). `heldout`: training
    images the model was not trained on, measured as a third split."""
    results: dict[str, Any] = {"k": k, "num_images": n}
    splits = [("train", train), ("test", test)] + ([("heldout", heldout)] if heldout is not None else [])
    for split, data in splits:
        subset = data.subset(n)
        labels = subset.labels if model.config.is_conditional else None
        bits = vae.binarized_test_set(subset)
        log_px, elbos = log_likelihood(model, bits, k, labels)  # (n,) each, as `vae.evaluate` computes them
        results[split] = {"nll": -log_px.mean().item(), "nll_stderr": (log_px.std() / n**0.5).item(), "elbo": elbos.mean().item()}
        if n_refine:
            x = bits[:n_refine]
            refined_px, _ = log_likelihood(model, x, k, posterior=refine(model, x))  # the same seeded draws
            encoder, refined = -log_px[:n_refine].mean().item(), -refined_px.mean().item()
            results[split]["refined"] = {"num_images": x.shape[0], "nll_encoder": encoder, "nll_refined": refined,
                                         "amortization_gap": encoder - refined}
    results["gap"] = results["test"]["nll"] - results["train"]["nll"]
    results["gap_stderr"] = _stderr(results, "test", "train")
    if heldout is not None:
        results["heldout_gap"] = results["heldout"]["nll"] - results["train"]["nll"]  # overfitting
        results["heldout_gap_stderr"] = _stderr(results, "heldout", "train")
        results["split_gap"] = results["test"]["nll"] - results["heldout"]["nll"]  # the test split's difficulty
        results["split_gap_stderr"] = _stderr(results, "test", "heldout")
    return results


def _stderr(results: dict[str, Any], a: str, b: str) -> float:
    """Standard error of the difference of two splits' mean NLLs (independent images)."""
    return (results[a]["nll_stderr"] ** 2 + results[b]["nll_stderr"] ** 2) ** 0.5


def train_size(name: str, num_train: int) -> int | None:
    """How many of the first training images every training stage of the model `name` saw, when some of the
    `num_train` were left out (None: it trained on all of them, or it records no training). Each stage trains
    on its first `train_size` images before its validation split (`vae.runs.trained_on_size`)."""
    try:
        size = trained_on_size(name, num_train)
    except ValueError:  # no record of its training: as if it saw them all (no held-out split is claimed)
        return None
    return size if size < num_train else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["default"], help="shipped model names or model folders (default: default)")
    parser.add_argument("-n", type=int, default=5000, help="images from each split (default 5000)")
    parser.add_argument("-k", type=int, default=1000, help="importance samples per image (default 1000)")
    parser.add_argument("--refine", type=int, default=500, help="images per split whose proposals are refined (default 500; 0: none)")
    parser.add_argument("--data-root")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    train, test = vae.load_mnist(True, args.data_root), vae.load_mnist(False, args.data_root)
    for name in args.models:
        torch.manual_seed(0)
        model = vae.load(name)
        one_layer = not (model.config.is_conditional or isinstance(model, vae.HierarchicalVAE))
        n_refine = args.refine if one_layer else 0  # the refinement is written for one-layer unconditional VAEs
        size = train_size(name, len(train.labels))
        heldout = None if size is None else vae.MNIST(train.images[size:], train.labels[size:])
        result = {"weights_sha256": vae.checkpoint.weights_sha256(name), **measure(model, train, test, args.n, args.k, n_refine, heldout)}
        if heldout is not None:
            result["train_size"] = size
        print(f"| {name}, first {args.n:,} images, k = {args.k} | NLL (nats) | ELBO (nats) |\n| --- | ---: | ---: |")
        for split in ("train", "heldout", "test"):
            if split in result:
                r = result[split]
                print(f"| {split} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | {r['elbo']:.2f} |")
        print(f"\ngap (test - train NLL): {result['gap']:.2f} ± {result['gap_stderr']:.2f} nats")
        if "heldout" in result:
            print(f"held-out - train: {result['heldout_gap']:.2f} ± {result['heldout_gap_stderr']:.2f} nats; "
                  f"test - held-out: {result['split_gap']:.2f} ± {result['split_gap_stderr']:.2f} nats")
        print()
        if n_refine:
            print(f"| first {n_refine:,} images | NLL, encoder's proposal | NLL, refined proposals | amortization gap |")
            print("| --- | ---: | ---: | ---: |")
            for split in ("train", "test", "heldout"):
                if split not in result:
                    continue
                r = result[split]["refined"]
                print(f"| {split} | {r['nll_encoder']:.2f} | {r['nll_refined']:.2f} | {r['amortization_gap']:.2f} |")
            print()
        # after each model, so an interruption keeps the rest; read just before, so a run beside this one keeps its entries
        results = json.loads(args.out.read_text()) if args.out.is_file() else {}
        results[name] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Does a shipped model overfit? Its NLL estimate on training images against the same on test images.

The IWAE bound (`vae.evaluate`) of the first N training images and of the first N test images,
each binarized once with the fixed test seed. A model that fits its training images much better
than unseen ones is limited by overfitting (more capacity would not help it); a small gap means the
model is limited by its capacity or its training time.

Usage: python benchmarks/generalization.py [default] [-n 5000] [-k 1000] [--data-root ../shared/data]
Writes benchmarks/results/generalization.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

import vae

RESULTS = Path(__file__).parent / "results" / "generalization.json"


def measure(model: vae.VAE, train: vae.MNIST, test: vae.MNIST, n: int, k: int) -> dict[str, Any]:
    """NLL and ELBO estimates (nats) of the first n images of each split, and the gap between them."""
    results: dict[str, Any] = {"k": k, "num_images": n}
    for split, data in (("train", train), ("test", test)):
        subset = data.subset(n)
        labels = subset.labels if model.config.is_conditional else None
        ev = vae.evaluate(model, vae.binarized_test_set(subset), labels, k=k)
        results[split] = {"nll": ev["test_nll"], "nll_stderr": ev["test_nll_stderr"], "elbo": ev["test_elbo"]}
    results["gap"] = results["test"]["nll"] - results["train"]["nll"]
    results["gap_stderr"] = (results["test"]["nll_stderr"] ** 2 + results["train"]["nll_stderr"] ** 2) ** 0.5  # independent images
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="default", help="shipped model name or model folder (default: default)")
    parser.add_argument("-n", type=int, default=5000, help="images from each split (default 5000)")
    parser.add_argument("-k", type=int, default=1000, help="importance samples per image (default 1000)")
    parser.add_argument("--data-root")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = vae.load(args.model)
    result = measure(model, vae.load_mnist(True, args.data_root), vae.load_mnist(False, args.data_root), args.n, args.k)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({args.model: result}, indent=2) + "\n")
    print(f"| {args.model}, first {args.n:,} images, k = {args.k} | NLL (nats) | ELBO (nats) |\n| --- | ---: | ---: |")
    for split in ("train", "test"):
        r = result[split]
        print(f"| {split} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | {r['elbo']:.2f} |")
    print(f"\ngap (test - train NLL): {result['gap']:.2f} ± {result['gap_stderr']:.2f} nats")


if __name__ == "__main__":
    main()

"""Extract a small fixed subset of the MNIST test set for the Gradio demo (run once; outputs are committed).

The demo must work offline and on a Hugging Face Space, where MNIST is not available, so it ships:

* `demo/examples/<digit>_<test index>.png` -- a few 28x28 test digits per class for the example picker;
* `demo/examples/test_subset.safetensors` -- the first `--per-class` test digits of every class
  (`images` uint8 (N, 28, 28), `labels` uint8 (N,), `indices` int32 (N,): positions in the test set),
  used for the latent maps and for the typical range of the anomaly score.

Usage: `python scripts/make_demo_examples.py [--data-root ../shared/data] [--per-class 200] [--pngs-per-class 3]`.
The selection is deterministic (the first digits of each class in test-set order), so re-running the
script reproduces the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import vae

OUT_DIR = Path(__file__).resolve().parents[1] / "demo" / "examples"


def first_per_class(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Test-set positions of the first `per_class` digits of every class, in test-set order: (10 * per_class,)."""
    chosen = [torch.nonzero(labels == d).flatten()[:per_class] for d in range(10)]
    return torch.cat(chosen).sort().values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help=vae.data.DATA_ROOT_HELP)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    parser.add_argument("--per-class", type=int, default=200, help="digits per class in test_subset.safetensors")
    parser.add_argument("--pngs-per-class", type=int, default=3, help="example PNGs per class for the picker")
    args = parser.parse_args(argv)

    test = vae.load_mnist(False, args.data_root)
    images = (test.images[:, 0] * 255).round().to(torch.uint8)  # (10000, 28, 28) back to the raw bytes
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        old.unlink()

    index = first_per_class(test.labels, args.per_class)  # (N,)
    vae.checkpoint.write_tensors(
        {
            "images": images[index].contiguous(),  # (N, 28, 28) uint8, light ink on black
            "labels": test.labels[index].to(torch.uint8).contiguous(),  # (N,)
            "indices": index.to(torch.int32).contiguous(),  # (N,) positions in the MNIST test set
        },
        args.out / "test_subset.safetensors",
        metadata={"source": "MNIST test set (t10k)", "selection": f"first {args.per_class} of each class"},
    )
    for i in first_per_class(test.labels, args.pngs_per_class).tolist():
        name = f"{int(test.labels[i])}_{i:05d}.png"
        Image.fromarray(np.asarray(images[i])).save(args.out / name, optimize=True)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {len(index)} digits and {10 * args.pngs_per_class} PNGs to {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

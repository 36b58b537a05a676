"""Extract the compact MNIST training subset that the demo's live "Train" tab trains on (run once; the output is committed).

The demo works offline and on a Hugging Face Space, where MNIST is not available, so it ships
`demo/examples/train_subset.safetensors`:

* `images` uint8 (N, 28, 28): gray levels 0-255, light ink on black, as in the MNIST files;
* `labels` uint8 (N,): the digits;
* `indices` int32 (N,): positions in the MNIST training set.

The digits are the first `--per-class` of every class among the **first 50,000** training images,
so the last 10,000 (the validation split of `TrainConfig.val_size`, see `vae.training`) stay
unseen. They are stored round-robin (the first 0, the first 1, ..., the first 9, the second 0, ...),
so any prefix of 10 m images holds exactly m of each digit: the tab trains on a prefix.

Usage: `python scripts/make_train_subset.py [--data-root ../shared/data] [--per-class 1000]`.
The selection is deterministic, so re-running the script reproduces the same file (7.9 MB for
the default 10,000 digits).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import vae

OUT = Path(__file__).resolve().parents[1] / "demo" / "examples" / "train_subset.safetensors"
TRAIN_POOL = 50_000  # the first 50,000 training images; the last 10,000 are the validation split


def round_robin(labels: torch.Tensor, per_class: int, num_classes: int = 10) -> torch.Tensor:
    """Positions of the first `per_class` examples of every class, round-robin: k-th of class 0, ..., k-th of class K-1, then k+1.

    Shape: (K * per_class,).
    """
    chosen = []
    for d in range(num_classes):
        first = torch.nonzero(labels == d).flatten()[:per_class]  # (per_class,) in data-set order
        if len(first) < per_class:
            raise SystemExit(f"digit {d} has only {len(first)} examples in the pool; choose --per-class <= {len(first)}")
        chosen.append(first)
    return torch.stack(chosen, dim=1).reshape(-1)  # (per_class, K) row-major: round-robin over the classes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help=vae.data.DATA_ROOT_HELP)
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default {OUT})")
    parser.add_argument("--per-class", type=int, default=1000, help="digits per class (default 1000: 10,000 digits, 7.9 MB)")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error(f"--per-class must be at least 1, not {args.per_class}")

    train = vae.load_mnist(True, args.data_root).subset(TRAIN_POOL)
    index = round_robin(train.labels, args.per_class)  # (N,)
    images = (train.images[index, 0] * 255).round().to(torch.uint8)  # (N, 28, 28) back to the raw bytes
    args.out.parent.mkdir(parents=True, exist_ok=True)
    vae.checkpoint.write_tensors(
        {
            "images": images.contiguous(),  # (N, 28, 28) uint8
            "labels": train.labels[index].to(torch.uint8).contiguous(),  # (N,)
            "indices": index.to(torch.int32).contiguous(),  # (N,) positions in the MNIST training set, all < 50,000
        },
        args.out,
        metadata={
            "source": "MNIST training set (train-images-idx3-ubyte), first 50,000 images",
            "selection": f"first {args.per_class} of each class, round-robin over the classes",
        },
    )
    print(f"wrote {len(index):,} digits to {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

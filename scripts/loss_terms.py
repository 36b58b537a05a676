"""What each term of the VAE loss does to a 2-D latent space: the figure docs/assets/loss-terms.png.

Three models with the same networks (an MLP, 256-256 hidden units, a 2-D code) are trained with `vae train`
on the same images and seeds, and differ only in the objective:

- **reconstruction only**: `--kind ae`, the plain autoencoder (its loss is the reconstruction term);
- **KL only**: `--kind vae --reconstruction-weight 0`, the KL term alone;
- **both**: `--kind vae`, the (negative) ELBO.

Each is drawn as the map of the codes (posterior means) of 5,000 test digits coloured by digit, over the
decoder's output on a regular 15 x 15 grid of codes covering the same square. The Train tab of the demo
has the same three settings as one-click presets.

    python scripts/loss_terms.py                       # 10 epochs on 10,000 images, 1 thread; runs in runs/loss-terms
    python scripts/loss_terms.py --epochs 3 --out /tmp/loss-terms.png

A finished run is reused (an interrupted one resumed), so a rerun only redraws the figure. The numbers in
the panel titles are printed too. Data root: the package's ($VAE_DATA_ROOT, else the per-user cache).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from PIL import Image

import vae
from vae.config import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
NETWORK = ["--arch", "mlp", "--hidden", "256", "256", "--latent-dim", "2"]
OBJECTIVES = [  # (run name, panel title, the options that differ)
    ("reconstruction-only", "reconstruction term only\n(an autoencoder: --kind ae)", ["--kind", "ae"]),
    ("kl-only", "KL term only\n(--kind vae --reconstruction-weight 0)", ["--kind", "vae", "--reconstruction-weight", "0"]),
    ("both", "both terms: the ELBO\n(a VAE: --kind vae)", ["--kind", "vae"]),
]
MAP_DIGITS, GRID = 5000, 15


def train(run: Path, options: list[str], args: argparse.Namespace) -> float:
    """Train (or resume, or reuse) one run with `vae train`; its wall-clock seconds."""
    command = [sys.executable, "-m", "vae", "train", "--out", str(run), "--no-progress", "--no-grids", "--threads", str(args.threads)]
    state = run / "checkpoint" / "state.json"
    if state.is_file() and json.loads(state.read_text())["epoch"] >= args.epochs:
        print(f"{run} has trained {args.epochs} epochs: reusing it", flush=True)
        return read_jsonl(run / "history.jsonl")[-1]["wall_seconds"]
    if state.is_file():
        command += ["--resume", "--epochs", str(args.epochs)]
    else:
        command += [*NETWORK, *options, "--epochs", str(args.epochs), "--train-size", str(args.train_size),
                    "--batch-size", "128", "--lr", "1e-3", "--seed", str(args.seed)]
    shown = [str(Path(c).relative_to(ROOT)) if c.startswith(str(ROOT) + "/") else c for c in command[3:]]
    print(" ".join(["vae", *shown]), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)
    return read_jsonl(run / "history.jsonl")[-1]["wall_seconds"]


def draw(runs: list[tuple[Path, str]], out: Path) -> list[str]:
    """The figure: maps on top, decoded grids below; returns one summary line per model."""
    test = vae.load_mnist(False, vae.resolve_data_root())
    digits, labels = vae.binarized_test_set(test)[:MAP_DIGITS], test.labels[:MAP_DIGITS]  # binarized once, as scored
    fig, axes = plt.subplots(2, len(runs), figsize=(5 * len(runs), 10.4))
    summary = []
    for col, (run, title) in enumerate(runs):
        model = vae.load(run)
        with torch.no_grad():
            mu, logvar = model.encode(digits)  # (N, 2) each; an autoencoder's code, log-variance -inf
        sigma = (0.5 * logvar).exp().mean().item()
        last = read_jsonl(run / "history.jsonl")[-1]
        # one square per model: 99.5 % of its codes, at least the prior's +-3
        limit = max(3.0, mu.abs().quantile(0.995).item() * 1.05)
        ax = axes[0, col]
        sc = ax.scatter(mu[:, 0].numpy(), mu[:, 1].numpy(), c=labels.numpy(), cmap="tab10", s=3, alpha=0.7, vmin=-0.5, vmax=9.5)
        for radius in (1, 2):  # the prior's 1 and 2 standard deviations, for scale
            ax.add_patch(plt.Circle((0, 0), radius, fill=False, linestyle="--", color="0.6", linewidth=0.8))
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_title(title)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        spread = mu.std(dim=0).mean().item()
        stats = (f"codes' spread (sd) {spread:.2g}" + (f", mean posterior $\\sigma$ {sigma:.2g}" if model.config.is_variational else "")
                 + f"\ntest reconstruction {last['test_reconstruction']:.0f}, KL {last['test_kl']:.1f} nats")
        ax.text(0.02, 0.02, stats, transform=ax.transAxes, fontsize=8, va="bottom", bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
        g = torch.linspace(-limit, limit, GRID)
        z1, z2 = torch.meshgrid(g, g.flip(0), indexing="xy")  # top row = high z2, as in the map
        images = vae.decode_images(model, torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1))[:, 0]  # (GRID^2, 28, 28)
        canvas = images.reshape(GRID, GRID, 28, 28).permute(0, 2, 1, 3).reshape(GRID * 28, GRID * 28)
        ax = axes[1, col]
        ax.imshow(canvas.numpy(), cmap="gray", extent=(-limit, limit, -limit, limit), vmin=0, vmax=1)
        ax.set_title(f"decoded on a regular {GRID} x {GRID} grid of codes")
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        sigmas = (0.5 * logvar).exp()
        summary.append(f"{run.name}: codes' sd {spread:.3g}, largest |code| {mu.abs().max():.3g}, posterior sigma "
                       f"{sigmas.min():.3g} to {sigmas.max():.3g} (mean {sigma:.3g}), "
                       f"test reconstruction {last['test_reconstruction']:.1f}, KL {last['test_kl']:.2f} nats, "
                       f"square [-{limit:.3g}, {limit:.3g}]^2")
    cbar = fig.colorbar(sc, ax=axes[0, :].tolist(), ticks=range(10), fraction=0.02, pad=0.02)
    cbar.set_label("digit")
    cbar.solids.set_alpha(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    figure = Image.open(buffer).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)  # 256 colours: a third of the size
    figure.save(out, optimize=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "loss-terms", help="folder of the three run folders "
                        "(default runs/loss-terms)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "assets" / "loss-terms.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    runs, total = [], 0.0
    for name, title, options in OBJECTIVES:
        seconds = train(args.runs / name, options, args)
        print(f"  {name}: {seconds:.0f} s of training", flush=True)
        runs.append((args.runs / name, title))
        total += seconds
    print(f"training: {total:.0f} s for the three runs")
    for line in draw(runs, args.out):
        print(line)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

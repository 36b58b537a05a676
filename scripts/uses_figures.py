"""The figures of the "Uses" pages, drawn from the benchmarks' recorded results and the shipped demo artefacts.

Nothing here trains or scores a model: every number comes from `benchmarks/results/{imputation,compression,
few_labels,anomaly}.json`, and the pictures of digits from `vae/assets/compression_demo.safetensors` and from
`benchmarks/ood_inputs.py` (deterministic: the first images the benchmark scored, from the MNIST test set at
the package's data root). The docs build (`hooks/uses_figures.py`) calls `make()` and adds
each figure to the site as `assets/figures/uses/<name>.png`; nothing is committed.

    python scripts/uses_figures.py --out figs     # write them all into figs/ to look at
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
COMPRESSION_DEMO = ROOT / "vae" / "assets" / "compression_demo.safetensors"
DPI = 110
COLOURS = {"pca": "#7f7f7f", "ae": "#1f77b4", "vae": "#d62728"}
INPUTS = [RESULTS / f"{n}.json" for n in ("imputation", "compression", "few_labels", "anomaly")] + [
    COMPRESSION_DEMO, ROOT / "benchmarks" / "ood_inputs.py"]


def _json(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def imputation() -> dict[str, bytes]:
    r = _json("imputation")
    masks = list(r["masks"])
    methods = ["one_pass", "pseudo_gibbs", "mwg", "pca", "pca_calibrated", "mean"]
    labels = ["one pass", "pseudo-Gibbs", "MwG", "PCA", "PCA, calibrated", "mean image"]
    colours = ["#1f77b4", "#d62728", "#ff7f0e", "#7f7f7f", "#bcbcbc", "#2ca02c"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    width = 0.8 / len(methods)
    for j, (m, label, c) in enumerate(zip(methods, labels, colours)):
        xs = np.arange(len(masks)) + (j - len(methods) / 2 + 0.5) * width
        axes[0].bar(xs, [r["masks"][k]["methods"][m]["bce_per_pixel"] for k in masks], width, label=label, color=c)
        axes[1].bar(xs, [100 * r["masks"][k]["methods"][m]["classifier_accuracy"] for k in masks], width, color=c)
    clean = 100 * r["clean_classifier_accuracy"]
    axes[1].axhline(clean, color="k", lw=0.8, ls="--")
    axes[1].text(len(masks) - 0.5, clean + 1, f"clean digits {clean:.1f} %", ha="right", va="bottom", fontsize=8)
    for ax, title in zip(axes, ["BCE on the missing pixels (nats / pixel, lower is better)", "classifier accuracy on the repaired digits (%)"]):
        ax.set_xticks(range(len(masks)), masks, fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7, ncol=2)
    return {"imputation.png": _png(fig)}


def compression() -> dict[str, bytes]:
    r = _json("compression")
    dims = r["dims"]
    out = {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for m, label in (("pca", "PCA"), ("ae", "autoencoder"), ("vae", "VAE")):
        for ax, key in zip(axes, ("bce", "squared_error")):
            ax.plot(dims, [r["curves"][m][str(d)][key] for d in dims], "o-", color=COLOURS[m], label=label)
    for ax, title in zip(axes, ["BCE (nats / test digit)", "squared error (per test digit)"]):
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.set_xlabel("code size D")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    out["compression_curves.png"] = _png(fig)

    demo = load_file(str(COMPRESSION_DEMO))
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, m, title in zip(axes, ("pca", "ae", "vae"), ("PCA", "autoencoder", "VAE")):
        codes, digits = demo[f"map_{m}"], demo["map_labels"]
        points = ax.scatter(codes[:, 0], codes[:, 1], c=digits, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{title}, D = 2", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(points, ax=axes, ticks=range(10), label="digit", shrink=0.8)
    out["compression_maps.png"] = _png(fig)

    digit = int(np.nonzero(demo["labels"] == 3)[0][0])  # the first 3 of the test set
    methods = (("pca", "PCA"), ("ae", "AE"), ("vae", "VAE"))
    fig, axes = plt.subplots(len(methods) + 1, len(dims), figsize=(1.2 * len(dims), 1.3 * (len(methods) + 1)))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].imshow(demo["inputs"][digit], cmap="gray", vmin=0, vmax=255)
    axes[0, 0].set_title("binarized input", fontsize=8)
    for ax in axes[0, 1:]:
        ax.set_visible(False)
    for i, (m, name) in enumerate(methods, 1):
        for j, d in enumerate(dims):
            axes[i, j].imshow(demo[m][j, digit], cmap="gray", vmin=0, vmax=255)
            if i == 1:
                axes[i, j].set_title(f"D = {d}", fontsize=8)
        axes[i, 0].set_ylabel(name, fontsize=8)
    out["compression_digits.png"] = _png(fig)
    return out


def few_labels() -> dict[str, bytes]:
    r = _json("few_labels")
    ns = r["n_labels"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, classifier, title in zip(axes, ("logistic", "knn"), ("logistic regression", "k nearest neighbours")):
        for name, entry in r["results"].items():
            rows = [entry[classifier][str(n)] for n in ns]
            ax.errorbar(ns, [100 * x["mean"] for x in rows], [100 * x["std"] for x in rows], marker="o", capsize=3, label=name)
        ref = r["reference"]
        ax.plot([ref["n_labels"]], [100 * ref["accuracy"]], "k*", ms=10, label="Kingma et al. 2014, M1 + TSVM")
        ax.set_xscale("log")
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.set_xlabel("labelled training images")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%), mean ± sd over draws")
    axes[1].legend(fontsize=7, loc="lower right")
    return {"few_labels.png": _png(fig)}


def _ood_examples(kinds: list[str], made: int, seed: int, n: int = 8) -> dict[str, np.ndarray]:
    """The first n of the `made` images of each kind the benchmark scored (drawn the same way: some kinds draw
    all their digit choices before their transforms, so the first n of `made` are not `make_ood(kind, n)`)."""
    spec = importlib.util.spec_from_file_location("ood_inputs", ROOT / "benchmarks" / "ood_inputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import vae

    digits = vae.load_mnist(False).images  # the test digits the benchmark transforms: the first n images it scored
    return {k: module.make_ood(k, made, seed, digits)[:n, 0].numpy() for k in kinds}


def anomaly() -> dict[str, bytes]:
    r = _json("anomaly")
    kinds = list(r["kinds"])
    examples = _ood_examples(kinds, r["ood_per_kind"], r["ood_seed"])
    out = {}
    for kind in kinds:
        entry = r["kinds"][kind]
        fig = plt.figure(figsize=(13, 3.2))
        grid = fig.add_gridspec(2, 7, width_ratios=[1, 1, 1, 1, 5, 5, 5])
        for i in range(8):
            ax = fig.add_subplot(grid[i // 4, i % 4])
            ax.imshow(examples[kind][i], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        panels = ((4, "iwae", "negative IWAE bound (nats)"), (5, "likelihood_ratio", "likelihood ratio vs pixel means (nats)"),
                  (6, "complexity", "complexity-corrected (bits)"))
        for col, score, title in panels:
            ax = fig.add_subplot(grid[:, col])
            h = entry["histograms"][score]
            edges = np.array(h["edges"])
            centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
            test, ood = np.array(h["test"]) / sum(h["test"]), np.array(h["ood"]) / sum(h["ood"])
            ax.bar(centres, test, width, alpha=0.6, label="test digits", color="#1f77b4")
            ax.bar(centres, ood, width, alpha=0.6, label=kind.replace("_", " "), color="#d62728")
            ax.set_title(f"{title}\nAUROC {entry['auroc'][score]:.3f}", fontsize=9)
            ax.set_yticks([])
            ax.legend(fontsize=7)
        out[f"anomaly_{kind}.png"] = _png(fig)
    return out


FIGURES: dict[str, Callable[[], dict[str, bytes]]] = {
    "imputation": imputation, "compression": compression, "few_labels": few_labels, "anomaly": anomaly}


def make(log: Callable[[str], None] = print) -> dict[str, bytes]:
    """Every figure, by file name."""
    figures: dict[str, bytes] = {}
    for name, fn in FIGURES.items():
        figures.update(fn())
        log(f"uses figures: {name}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"which: {', '.join(FIGURES)} (default all)")
    parser.add_argument("--out", type=Path, default=Path("uses-figures"))
    args = parser.parse_args()
    if unknown := set(args.names) - set(FIGURES):
        parser.error(f"unknown figures {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or FIGURES:
        for file, data in FIGURES[name]().items():
            (args.out / file).write_bytes(data)
            print(args.out / file)


if __name__ == "__main__":
    main()

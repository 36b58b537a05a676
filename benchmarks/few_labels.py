r"""Latent codes as features when labels are few: the few-label protocol of `vae.few_label_accuracy`.

The encoders of the shipped `default` (D = 32) and `latent2d` (D = 2) are frozen; every image becomes its
posterior mean (`vae.latent_features`, gray-level images as `vae.load_mnist` gives them, the form a drawn digit
takes after `vae.to_mnist`). Baselines on the same images: the raw 784 pixels, and PCA codes of the same sizes
(fitted, like the VAEs, on all 60,000 training images without their labels). For each budget of n = 100, 600,
1000 and 3000 labels, 10 balanced draws (n / 10 per digit, seeds 0-9) from the first 50,000 training images;
on each draw a multinomial logistic regression and a k-nearest-neighbour classifier are fitted on those n
examples alone and scored on the 10,000 test digits: the mean accuracy and its spread (standard deviation)
over the draws.

Hyperparameters (the logistic weight decay from 1e-4 to 1, k from 1, 3, 5, 10) are chosen for every feature
set and budget by the mean accuracy over the same draws on a validation split, the last 10,000 training
images, never on the test set (Kingma et al. also choose theirs on a validation set). The reference is
Kingma et al. (2014), "Semi-supervised learning with deep generative models", Table 1: 11.82 % test error
(88.18 % accuracy) with 100 labels for VAE features (their M1, a 50-D latent) and a transductive SVM.

For the demo (`--write-demo`): `vae/assets/few_label_classifiers.safetensors`, the logistic classifiers of
`default`'s latent means and of the raw pixels for every budget (the first draw, the chosen weight decay):
`n<N>.weight` (10, 32), `n<N>.bias`, `n<N>.shift`, `n<N>.scale` for the latent means and the same keys with the
prefix `pixels.` (weight (10, 784)) for the pixels, float64, a `vae.LinearClassifier` each, about 320 KB in
all. Fitting them on demand would need the labelled training images, which the demo does not ship.

Usage: python benchmarks/few_labels.py [--data-root ../shared/data] [--threads 1] [--draws 10] [--write-demo]
Writes benchmarks/results/few_labels.json (with the exact command) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

import vae

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "few_labels.json"
DEMO_FILE = ROOT / "vae" / "assets" / "few_label_classifiers.safetensors"
N_LABELS = (100, 600, 1000, 3000)
DEMO_FEATURES = {"default latent means": "", "raw pixels": "pixels."}  # feature set -> key prefix in DEMO_FILE
POOL_SIZE = 50_000  # labelled draws come from the first 50,000 training images; the last 10,000 are validation
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
KS = (1, 3, 5, 10)
MODELS = ("default", "latent2d")
KINGMA_M1_ERROR_100 = 0.1182  # Kingma et al. (2014), Table 1, M1 + TSVM, 100 labels


def feature_sets(train: vae.MNIST, test: vae.MNIST) -> dict[str, tuple[torch.Tensor, torch.Tensor, str]]:
    """name -> (training features (60000, F), test features (10000, F), description)."""
    sets: dict[str, tuple[torch.Tensor, torch.Tensor, str]] = {}
    for name in MODELS:
        model = vae.load(name)
        d = model.config.latent_dim
        sets[f"{name} latent means"] = (vae.latent_features(model, train.images), vae.latent_features(model, test.images),
                                        f"posterior means of `{name}` (D = {d})")
        pca = vae.fit_pca(train.images, d)
        sets[f"PCA {d}"] = (pca.encode(train.images).float(), pca.encode(test.images).float(), f"PCA codes, {d} components")
    sets["raw pixels"] = (train.images.flatten(1), test.images.flatten(1), "the 784 gray levels")
    return sets


def choose(pool: torch.Tensor, pool_y: torch.Tensor, val: torch.Tensor, val_y: torch.Tensor, n: int, draws: int,
           classifier: str) -> tuple[Any, dict[str, float]]:
    """The hyperparameter with the best mean validation accuracy over the draws, and every candidate's."""
    name, values = ("weight_decay", WEIGHT_DECAYS) if classifier == "logistic" else ("k", KS)
    scores = {}
    for v in values:
        r = vae.few_label_accuracy(pool, pool_y, val, val_y, (n,), draws, classifier, **{name: v})[0]
        scores[f"{v:g}"] = r.mean
    best = max(scores, key=scores.get)
    return (float(best) if classifier == "logistic" else int(best)), scores


def run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    start = time.perf_counter()
    train, test = vae.load_mnist(True, args.data_root), vae.load_mnist(False, args.data_root)
    pool_y, val_y = train.labels[:POOL_SIZE], train.labels[POOL_SIZE:]
    results: dict[str, Any] = {}
    demo: dict[str, torch.Tensor] = {}
    for name, (train_f, test_f, description) in feature_sets(train, test).items():
        pool, val = train_f[:POOL_SIZE], train_f[POOL_SIZE:]
        entry: dict[str, Any] = {"description": description, "features": train_f.shape[1]}
        for classifier in ("logistic", "knn"):
            rows = {}
            for n in N_LABELS:
                best, val_scores = choose(pool, pool_y, val, val_y, n, args.draws, classifier)
                option = {"weight_decay": best} if classifier == "logistic" else {"k": best}
                r = vae.few_label_accuracy(pool, pool_y, test_f, test.labels, (n,), args.draws, classifier, **option)[0]
                rows[str(n)] = {"mean": r.mean, "std": r.std, "accuracies": list(r.accuracies), **option,
                                "val_accuracy_by_option": val_scores}
                print(f"{name:22s} {classifier:8s} n={n:5d}: {r.mean:.4f} ± {r.std:.4f} ({option})", flush=True)
                if classifier == "logistic" and name in DEMO_FEATURES:
                    idx = vae.balanced_subset(pool_y, n, torch.Generator().manual_seed(0))  # draw 0, as the protocol
                    fitted = vae.fit_logistic_regression(pool[idx], pool_y[idx], 10, best)
                    for key in ("weight", "bias", "shift", "scale"):
                        demo[f"{DEMO_FEATURES[name]}n{n}.{key}"] = getattr(fitted, key).contiguous()
                    rows[str(n)]["demo_classifier_accuracy"] = (fitted.predict(test_f) == test.labels).double().mean().item()
            entry[classifier] = rows
        results[name] = entry
    result = {
        "command": args.command,
        "n_labels": list(N_LABELS),
        "draws": args.draws,
        "pool": f"training images 0-{POOL_SIZE - 1:,}", "validation": f"training images {POOL_SIZE:,}-59,999",
        "weight_decay_choices": list(WEIGHT_DECAYS), "k_choices": list(KS),
        "images": "gray levels in [0, 1] (vae.load_mnist), not binarized",
        "reference": {"source": "Kingma et al. (2014), Semi-supervised learning with deep generative models, Table 1",
                      "method": "M1 (VAE features) + TSVM", "n_labels": 100, "error": KINGMA_M1_ERROR_100,
                      "accuracy": 1 - KINGMA_M1_ERROR_100},
        "results": results,
        "demo": {"file": str(DEMO_FILE.relative_to(ROOT)), "features": list(DEMO_FEATURES), "key_prefixes": list(DEMO_FEATURES.values()),
                 "draw": 0},
        "seconds": time.perf_counter() - start,
    }
    return result, demo


def markdown(result: dict[str, Any]) -> str:
    ns = result["n_labels"]
    lines = ["| features | size | classifier | " + " | ".join(f"{n} labels" for n in ns) + " |",
             "| --- | ---: | --- |" + " ---: |" * len(ns)]
    for name, entry in result["results"].items():
        for classifier, label in (("logistic", "logistic regression"), ("knn", "k-NN")):
            cells = [f"{100 * entry[classifier][str(n)]['mean']:.1f} ± {100 * entry[classifier][str(n)]['std']:.1f}" for n in ns]
            lines.append(f"| {name} | {entry['features']} | {label} | " + " | ".join(cells) + " |")
    ref = result["reference"]
    lines.append(f"| Kingma et al. (2014), M1 + TSVM | 50 | transductive SVM | {100 * ref['accuracy']:.2f} |"
                 + " |" * (len(ns) - 1))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--write-demo", action="store_true", help=f"also write {DEMO_FILE.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.command = shlex.join(["python", "benchmarks/few_labels.py", *(sys.argv[1:] if argv is None else argv)])
    result, demo = run(args)
    if args.write_demo:
        meta = {"model": "default", "features": "vae.latent_features(vae.load('default'), images) of gray-level images",
                "n_labels": json.dumps(list(N_LABELS)), "source": "benchmarks/few_labels.py"}
        save_file(demo, str(DEMO_FILE), metadata=meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

r"""Anomaly detection with the shipped `default` VAE: AUROC of its likelihood scores, where they fail, and corrections.

In-distribution: the 10,000 MNIST test digits, binarized with the package's fixed seed. Out of distribution:
1,000 images of each kind of `benchmarks/ood_inputs.py` (letters and symbols in the system's fonts, noise,
blank and near-blank images, inverted, rotated and shifted test digits, two digits in one picture; seed 0),
binarized the same way (seed 0), so that both are scored as the model was evaluated.

Scores (nats per image, higher = more anomalous), from one `vae.log_likelihood` call with k = 100 samples:

- `elbo`: the negative ELBO; `iwae`: minus the IWAE bound, $-\mathcal L_{100} \ge -\log p(x)$;
- `likelihood_ratio`: $-\log p(x) + \log p_0(x)$ with a background model $p_0$ that knows only how much ink a
  pixel has on average: independent Bernoulli pixels with the (smoothed) mean of the first 50,000 training
  images. Simple inputs are likely under both, and the ratio cancels what they share (Ren et al., 2019, use a
  background model in the same way);
- `complexity`: $-\log_2 p(x) - L(x)$ in bits, with $L(x)$ the size in bits of the image as a 1-bit PNG
  (Serrà et al., 2020, "Input complexity and out-of-distribution detection"): likelihood beyond what a generic
  compressor already explains;
- `typicality`: $\lvert -\log p(x) - m \rvert$, with m the mean score of 2,000 training digits (images
  50,000-51,999): too likely is as suspicious as too unlikely (Nalisnick et al., 2019, "Detecting
  out-of-distribution inputs to deep generative models using typicality").

AUROC (`vae.auroc`) of test digits against each kind; 0.5 is chance, below 0.5 the score points the wrong way
(Nalisnick et al., 2019, "Do deep generative models know what they don't know?"). Histograms are recorded for
the figures.

**The demo's verdict.** The demo scores an input as `demo/scoring.py` does: gray levels as `vae.to_mnist`
gives them (not binarized), the negative ELBO with k = 16 (`vae.log_likelihood(model, x, k=16, batch_size=100)`).
The threshold at a 5 % false-positive rate is set on the 10,000 gray test digits (`vae.threshold_at_fpr`); the
JSON records it with the AUROC and the detection rate at that threshold for each kind, and the same small
record goes to `vae/assets/anomaly_verdict.json` with `--write-demo`.

Usage: python benchmarks/anomaly.py [--data-root ../shared/data] [--threads 1] [--write-demo]
Writes benchmarks/results/anomaly.json (with the exact command) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import vae

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "anomaly.json"
DEMO_FILE = ROOT / "vae" / "assets" / "anomaly_verdict.json"
MODEL = "default"
K = 100
N_OOD = 1000
OOD_SEED = 0
FIT_SIZE = 50_000
TYPICAL_IMAGES = 2000
DEMO_K, DEMO_FPR = 16, 0.05  # as demo/scoring.py scores an input
SCORES = ("elbo", "iwae", "likelihood_ratio", "complexity", "typicality")
SCORE_NAMES = {"elbo": "negative ELBO", "iwae": "negative IWAE bound (k = 100)", "likelihood_ratio": "likelihood ratio vs pixel means",
               "complexity": "complexity-corrected (PNG bits)", "typicality": "typicality |score − m|"}
BINS = 60
HISTOGRAMS = ("iwae", "likelihood_ratio", "complexity")  # the scores the figures show


def ood_module() -> Any:
    """benchmarks/ood_inputs.py, imported from its path (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("ood_inputs", Path(__file__).parent / "ood_inputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_bits(x: torch.Tensor) -> torch.Tensor:
    """Size in bits of each binary image as a 1-bit PNG (PIL, optimize=True): (N, 1, 28, 28) -> (N,)."""
    sizes = []
    for image in (x[:, 0] > 0.5).numpy():
        buffer = io.BytesIO()
        Image.fromarray(image).convert("1").save(buffer, format="PNG", optimize=True)
        sizes.append(len(buffer.getvalue()) * 8)
    return torch.tensor(sizes, dtype=torch.float64)


def background_nll(x: torch.Tensor, pixel_mean: torch.Tensor) -> torch.Tensor:
    r"""$-\log p_0(x)$ under independent Bernoulli pixels with means `pixel_mean` (784,): (N,)."""
    return -vae.bernoulli_log_likelihood(x.double(), torch.logit(pixel_mean.double()).view(1, *x.shape[1:]).expand_as(x))


def score_all(model: vae.VAE, x: torch.Tensor, pixel_mean: torch.Tensor, centre: float | None) -> dict[str, torch.Tensor]:
    log_px, elbo = vae.log_likelihood(model, x, k=K, batch_size=100)  # (N,) each
    nll = -log_px.double()
    out = {"elbo": -elbo.double(), "iwae": nll, "likelihood_ratio": nll - background_nll(x, pixel_mean),
           "complexity": nll / math.log(2) - png_bits(x)}
    if centre is not None:
        out["typicality"] = (nll - centre).abs()
    return out


def histogram(values: torch.Tensor, edges: torch.Tensor) -> list[int]:
    clipped = values.clamp(edges[0].item(), edges[-1].item())
    return torch.histogram(clipped.double(), edges.double()).hist.long().tolist()


def run(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    ood = ood_module()
    model = vae.load(MODEL)
    train, test = vae.load_mnist(True, args.data_root), vae.load_mnist(False, args.data_root)
    n_test, n_ood = args.test_size or len(test), args.n_ood
    test_bits = vae.binarized_test_set(test)[:n_test]
    pixel_mean = (train.images[:FIT_SIZE].flatten(1).sum(0) + 1.0) / (FIT_SIZE + 2.0)  # (784,) smoothed away from 0 and 1
    typical = vae.binarized_test_set(vae.MNIST(train.images[FIT_SIZE : FIT_SIZE + TYPICAL_IMAGES], train.labels[FIT_SIZE : FIT_SIZE + TYPICAL_IMAGES]))
    centre = (-vae.log_likelihood(model, typical, k=K, batch_size=100)[0].double()).mean().item()
    scores_in = score_all(model, test_bits, pixel_mean, centre)
    gray_in = -vae.log_likelihood(model, test.images[:n_test], k=DEMO_K, batch_size=100)[1].double()
    threshold = vae.threshold_at_fpr(gray_in, DEMO_FPR)
    result: dict[str, Any] = {
        "command": args.command, "model": MODEL, "k": K, "num_test_images": n_test, "ood_per_kind": n_ood, "ood_seed": OOD_SEED,
        "fonts": [str(p) for p in ood.font_files()],
        "typicality_centre": centre,
        "test": {s: {"mean": v.mean().item(), "std": v.std().item()} for s, v in scores_in.items()},
        "kinds": {},
        "demo_verdict": {"score": "negative ELBO", "k": DEMO_K, "inputs": "gray levels (vae.to_mnist / vae.load_mnist), not binarized",
                         "call": f"vae.log_likelihood(vae.load('{MODEL}'), x, k={DEMO_K}, batch_size=100)[1], negated",
                         "false_positive_rate": DEMO_FPR, "threshold": threshold,
                         "measured_test_fpr": (gray_in > threshold).double().mean().item(), "kinds": {}},
    }
    for kind in ood.KINDS:
        gray = ood.make_ood(kind, n_ood, OOD_SEED, test.images)  # (n, 1, 28, 28)
        bits = vae.binarize(gray, torch.Generator().manual_seed(OOD_SEED))
        scores_out = score_all(model, bits, pixel_mean, centre)
        entry: dict[str, Any] = {"auroc": {s: vae.auroc(scores_in[s], scores_out[s]) for s in SCORES},
                                 "mean": {s: scores_out[s].mean().item() for s in SCORES}, "histograms": {}}
        for s in HISTOGRAMS:
            both = torch.cat([scores_in[s], scores_out[s]])
            lo, hi = torch.quantile(both, 0.005).item(), torch.quantile(both, 0.995).item()
            edges = torch.linspace(lo, hi, BINS + 1, dtype=torch.float64)
            entry["histograms"][s] = {"edges": edges.tolist(), "test": histogram(scores_in[s], edges), "ood": histogram(scores_out[s], edges)}
        result["kinds"][kind] = entry
        gray_out = -vae.log_likelihood(model, gray, k=DEMO_K, batch_size=100)[1].double()
        result["demo_verdict"]["kinds"][kind] = {"auroc": vae.auroc(gray_in, gray_out),
                                                 "detected": (gray_out > threshold).double().mean().item()}
        print(f"{kind:11s} " + "  ".join(f"{s} {entry['auroc'][s]:.3f}" for s in SCORES), flush=True)
    result["seconds"] = time.perf_counter() - start
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = ["| out-of-distribution kind | " + " | ".join(SCORE_NAMES[s] for s in SCORES) + " |",
             "| --- |" + " ---: |" * len(SCORES)]
    for kind, entry in result["kinds"].items():
        best = max(SCORES, key=lambda s: entry["auroc"][s])
        cells = [(f"**{entry['auroc'][s]:.3f}**" if s == best else f"{entry['auroc'][s]:.3f}") for s in SCORES]
        lines.append(f"| {kind.replace('_', ' ')} | " + " | ".join(cells) + " |")
    means = {s: np.mean([e["auroc"][s] for e in result["kinds"].values()]) for s in SCORES}
    lines.append("| mean over kinds | " + " | ".join(f"{means[s]:.3f}" for s in SCORES) + " |")
    v = result["demo_verdict"]
    demo = [f"Threshold: {v['threshold']:.1f} nats (negative ELBO, k = {v['k']}, gray-level input), "
            f"flagging {v['measured_test_fpr']:.1%} of the {result['num_test_images']:,} test digits.", "",
            "| out-of-distribution kind | AUROC | flagged at the threshold |", "| --- | ---: | ---: |"]
    for kind, e in v["kinds"].items():
        demo.append(f"| {kind.replace('_', ' ')} | {e['auroc']:.3f} | {e['detected']:.1%} |")
    return "\n".join(lines) + "\n\n" + "\n".join(demo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test-size", type=int, help="only the first N test digits (default all)")
    parser.add_argument("--n-ood", type=int, default=N_OOD, help="images of each out-of-distribution kind")
    parser.add_argument("--write-demo", action="store_true", help=f"also write {DEMO_FILE.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.command = shlex.join(["python", "benchmarks/anomaly.py", *(sys.argv[1:] if argv is None else argv)])
    result = run(args)
    if args.write_demo:
        verdict = {k: v for k, v in result["demo_verdict"].items()}
        verdict.update(model=MODEL, source="benchmarks/results/anomaly.json", command=args.command)
        DEMO_FILE.write_text(json.dumps(verdict, indent=2) + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

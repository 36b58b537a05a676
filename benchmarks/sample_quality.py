"""Are the shipped models' samples recognisable digits? Measured with the shipped MNIST classifier.

- `cvae`: the fraction of conditional samples (100 per digit) classified as the requested digit;
- every unconditional VAE: the fraction of 1000 prior samples the classifier recognises with
  confidence >= 0.9 (and the classifier's accuracy on real test digits, for reference).

Usage: python benchmarks/sample_quality.py [MODEL ...] [--data-root ../shared/data]
MODEL: model names or model/run folders (default: every shipped model). Updates
benchmarks/results/sample_quality.json (one entry per model, named as given; entries of models not
measured this time are kept) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import vae
from vae.classifier import conditional_accuracy, confident_fraction, load_classifier

RESULTS = Path(__file__).parent / "results" / "sample_quality.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", help="model names or folders (default: every shipped model)")
    parser.add_argument("--data-root")
    args = parser.parse_args()
    classifier = load_classifier()
    test = vae.load_mnist(False, args.data_root)
    predicted, confidence = classifier.predict(test.images)
    results: dict[str, dict[str, float]] = {
        "mnist_test": {"accuracy": (predicted == test.labels).float().mean().item(),
                       "confident_fraction": (confidence >= 0.9).float().mean().item()}
    }
    for name in args.models or vae.available_models():
        model = vae.load(name)
        if model.config.is_conditional:
            results[name] = conditional_accuracy(model, classifier)
        elif model.config.is_variational:
            results[name] = confident_fraction(model, classifier)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    RESULTS.write_text(json.dumps({**saved, **results}, indent=2) + "\n")
    print("| samples | measure | value |\n| --- | --- | --- |")
    for name, r in results.items():
        for key in ("accuracy", "confident_fraction", "mean_confidence"):
            if key in r:
                print(f"| {name} | {key.replace('_', ' ')} | {r[key]:.3f} |")


if __name__ == "__main__":
    main()

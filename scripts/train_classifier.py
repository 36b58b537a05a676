"""Train the small MNIST classifier used to score generated digits; writes vae/assets/classifier.safetensors.

Usage: python scripts/train_classifier.py [--data-root DIR] [--epochs 3]   (default data root: see `vae data`)
"""

from __future__ import annotations

import argparse
import json
import time

import vae
from vae.classifier import CLASSIFIER_PATH, save_classifier, train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    train, test = vae.load_mnist(True, args.data_root), vae.load_mnist(False, args.data_root)
    start = time.perf_counter()
    model = train_classifier(train.images, train.labels, epochs=args.epochs)
    predicted, _ = model.predict(test.images)
    accuracy = (predicted == test.labels).float().mean().item()
    save_classifier(model)
    info = {"test_accuracy": accuracy, "epochs": args.epochs, "train_seconds": time.perf_counter() - start,
            "command": "python scripts/train_classifier.py --epochs %d" % args.epochs}
    (CLASSIFIER_PATH.parent / "classifier.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()

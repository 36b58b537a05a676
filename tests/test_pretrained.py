"""The shipped models: they load offline, match their recorded metrics, and their samples are digits.

Tolerances: the recorded last-epoch test loss was computed by the same deterministic function
(`vae.train.test_loss`, seed 0, the fixed-seed binarized test set), so a re-computation may differ
only by floating-point summation order (thread count): we allow 0.05 nats.

Sample quality floors come from `python benchmarks/sample_quality.py` (fixed seeds, so the rates
are reproducible); see benchmarks/results/sample_quality.json and the model card.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vae
from vae.classifier import MaxPool2x2, conditional_accuracy, confident_fraction, load_classifier
from vae.train import test_loss as recompute_test_loss

SHIPPED = ["default", "latent2d", "ae2d", "cvae"]
QUALITY = json.loads((Path(__file__).parents[1] / "benchmarks" / "results" / "sample_quality.json").read_text())
TOLERANCE_NATS = 0.05


def test_every_model_is_shipped() -> None:
    assert set(SHIPPED) <= set(vae.available_models())


@pytest.mark.parametrize("name", SHIPPED)
def test_model_loads_offline_and_is_small(name: str) -> None:
    model = vae.load(name)
    assert not model.training
    folder = vae.checkpoint.resolve_model_dir(name)
    assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "config.json", "metrics.json"}
    metrics = vae.load_metrics(name)
    assert metrics["parameters"] == vae.num_parameters(model)
    assert metrics["file_bytes"] == (folder / "model.safetensors").stat().st_size
    assert metrics["training_command"].startswith("vae train")


def test_shipped_weights_are_well_under_50_mb() -> None:
    total = sum((vae.checkpoint.resolve_model_dir(n) / "model.safetensors").stat().st_size for n in SHIPPED)
    assert total < 25e6


@pytest.mark.parametrize("name", SHIPPED)
def test_test_loss_matches_recorded_value(name: str, mnist_test: vae.MNIST) -> None:
    model = vae.load(name)
    metrics = vae.load_metrics(name)
    bits = vae.binarized_test_set(mnist_test)
    measured = recompute_test_loss(model, bits, mnist_test.labels, batch_size=1000, device=torch.device("cpu"))
    assert measured["loss"] == pytest.approx(metrics["last_epoch"]["test_loss"], abs=TOLERANCE_NATS)


@pytest.mark.parametrize("name", ["default", "latent2d", "cvae"])
def test_recorded_likelihood_is_consistent(name: str) -> None:
    ev = vae.load_metrics(name)["evaluation"]
    assert ev["k"] == 5000 and ev["num_images"] == 10000
    # The IWAE bound is at least the ELBO, so the NLL estimate is at most -ELBO.
    assert ev["test_nll"] <= -ev["test_elbo"]


def test_classifier_recognises_real_digits(mnist_test: vae.MNIST) -> None:
    predicted, _ = load_classifier().predict(mnist_test.images)
    assert (predicted == mnist_test.labels).float().mean().item() >= 0.985


@pytest.mark.parametrize("shape", [(5, 32, 28, 28), (3, 64, 14, 14), (2, 4, 7, 9)])
def test_classifier_pooling_equals_torch_max_pooling(shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(MaxPool2x2()(x), torch.nn.MaxPool2d(2)(x))


def test_conditional_samples_are_the_requested_digit() -> None:
    result = conditional_accuracy(vae.load("cvae"), load_classifier())
    assert result["accuracy"] == pytest.approx(QUALITY["cvae"]["accuracy"], abs=0.01)
    assert result["accuracy"] >= 0.85  # measured 87.3%


def test_default_samples_are_recognisable_digits() -> None:
    result = confident_fraction(vae.load("default"), load_classifier())
    assert result["confident_fraction"] == pytest.approx(QUALITY["default"]["confident_fraction"], abs=0.01)
    assert result["confident_fraction"] >= 0.6  # measured 66.9% (mean confidence 0.88)

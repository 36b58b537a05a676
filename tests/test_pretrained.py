"""The shipped models: they load offline, match their recorded metrics, and their samples are digits.

Tolerances: the recorded last-epoch test loss was computed by the same deterministic function
(`vae.evaluation.average_loss`, seed 0, the fixed-seed binarized test set), so a re-computation may differ
only by floating-point summation order (thread count): we allow 0.05 nats.

Sample quality floors come from `python benchmarks/sample_quality.py` (fixed seeds, so the rates
are reproducible); see benchmarks/results/sample_quality.json and the model card.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import torch

import vae
from vae.classifier import MaxPool2x2, conditional_accuracy, confident_fraction, load_classifier
from vae.evaluation import average_loss as recompute_test_loss
from vae.records import training_stages

SHIPPED = ["default", "hierarchical", "latent2d", "latent2d-beta0.5", "latent2d-beta4", "ae2d", "cvae"]
BETA = {"latent2d-beta0.5": 0.5, "latent2d": 1.0, "latent2d-beta4": 4.0}  # name: KL weight it was trained with
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
    assert not Path(metrics.get("init_from", {}).get("path", "")).is_absolute()  # nothing of the training machine
    for record in (metrics.get("evaluation"), metrics.get("validation")):  # recorded since vae evaluate writes the hash
        if record is not None and "weights_sha256" in record:
            assert record["weights_sha256"] == vae.weights_sha256(name)  # the numbers are these weights'


def test_shipped_weights_are_well_under_50_mb() -> None:
    total = sum((vae.checkpoint.resolve_model_dir(n) / "model.safetensors").stat().st_size for n in SHIPPED)
    assert total < 40e6  # measured 38.3 MB (hierarchical: 5.86 MB)


def test_every_weight_file_the_package_ships_together_stays_well_under_50_mb() -> None:
    """The models and the assets (classifier, PCA, the small compression models, the few-label classifiers)."""
    files = sorted((Path(vae.__file__).parent).rglob("*.safetensors"))
    assert {f.parent.name for f in files} >= {"assets", *SHIPPED}
    assert sum(f.stat().st_size for f in files) < 45e6  # measured 42.8 MB


@pytest.mark.parametrize("name", SHIPPED)
def test_test_loss_matches_recorded_value(name: str, mnist_test: vae.MNIST) -> None:
    model = vae.load(name)
    metrics = vae.load_metrics(name)
    bits = vae.binarized_test_set(mnist_test)
    measured = recompute_test_loss(model, bits, mnist_test.labels, batch_size=1000, device=torch.device("cpu"))
    assert measured["loss"] == pytest.approx(metrics["last_epoch"]["test_loss"], abs=TOLERANCE_NATS)


@pytest.mark.parametrize("name", ["default", "hierarchical", "latent2d", "latent2d-beta0.5", "latent2d-beta4", "cvae"])
def test_recorded_likelihood_is_consistent(name: str) -> None:
    ev = vae.load_metrics(name)["evaluation"]
    assert ev["k"] == 5000 and ev["num_images"] == 10000
    # The IWAE bound is at least the ELBO, so the NLL estimate is at most -ELBO.
    assert ev["test_nll"] <= -ev["test_elbo"]


def test_the_kl_weight_trades_rate_for_distortion(mnist_test: vae.MNIST) -> None:
    """The beta variants: a larger KL weight gives a smaller rate (KL); beta = 4 pays for it with a larger distortion
    (reconstruction term); beta = 1, the only weight whose objective is the ELBO, has the best ELBO. (beta = 0.5 and 1
    have the same distortion within noise: a 2-D code cannot carry much more. Measured on the whole test set,
    distortion 131.0, 131.1, 136.7; rate 7.56, 6.79, 4.86; -ELBO 138.6, 137.9, 141.6 for beta = 0.5, 1, 4.)"""
    bits, labels = vae.binarized_test_set(mnist_test)[:2000], mnist_test.labels[:2000]
    terms = {}
    for name, beta in BETA.items():
        assert vae.load_metrics(name)["train_config"]["beta"] == beta
        terms[beta] = recompute_test_loss(vae.load(name), bits, labels, batch_size=1000, device=torch.device("cpu"))
    assert terms[0.5]["kl"] > terms[1.0]["kl"] > terms[4.0]["kl"], terms
    assert terms[4.0]["reconstruction"] > max(terms[0.5]["reconstruction"], terms[1.0]["reconstruction"]) + 2, terms
    assert terms[1.0]["loss"] < min(terms[0.5]["loss"], terms[4.0]["loss"]), terms


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


@pytest.mark.parametrize(("name", "floor"), [
    ("default", 0.88),  # measured 90.2% (mean confidence 0.97); 89.6% before stage 8, 84.1% before stage 4, 66.9% before its learned prior
    ("hierarchical", 0.94),  # measured 95.8% (mean confidence 0.985), both layers drawn (vae.sample_images)
])
def test_prior_samples_are_recognisable_digits(name: str, floor: float) -> None:
    result = confident_fraction(vae.load(name), load_classifier())
    assert result["confident_fraction"] == pytest.approx(QUALITY[name]["confident_fraction"], abs=0.01)
    assert result["confident_fraction"] >= floor


def _script_runs() -> dict[str, list[str]]:
    """runs/NAME: the arguments scripts/train_pretrained.sh trains it with (its lines `train NAME ARGS...`)."""
    runs = {}
    for line in (Path(__file__).parents[1] / "scripts" / "train_pretrained.sh").read_text().splitlines():
        if match := re.match(r"\s*(?:[\w.|-]+\)\s+)?(train\s.*)$", line):  # after a `case` label or alone
            _, name, *args = shlex.split(match[1])
            runs[name] = args
    return runs


def _options(words: list[str]) -> list[str]:
    """A `vae train` command's options without those that do not change the result."""
    kept, it = [], iter(words)
    for word in it:
        if word in ("--out", "--data-root", "--threads"):
            next(it)  # and its value
        elif word != "--no-progress":
            kept.append(word)
    return kept


def test_the_training_script_repeats_every_recorded_stage() -> None:
    """scripts/train_pretrained.sh trains each shipped model with the exact commands its metrics.json records."""
    runs = _script_runs()
    checked = 0
    for name in SHIPPED:
        for stage in training_stages(vae.load_metrics(name)):
            words = shlex.split(stage.command)
            run = words[words.index("--out") + 1].removeprefix("runs/")
            if run in runs:  # not the beta variants, whose line takes its name from a bash variable
                assert _options(runs[run]) == _options(words[2:]), run
                checked += 1
    assert checked == 13  # latent2d, ae2d, cvae, default's eight stages and hierarchical's two

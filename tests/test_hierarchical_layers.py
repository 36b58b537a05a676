"""benchmarks/hierarchical_layers.py: each layer's KL and active units, and what fixing the top layer fixes.

The estimators are checked on hand-made draws whose answer is known, and on a small random two-layer model: its
terms equal the model's own, its top layer's activity equals the one-layer measure's, and a decoder that
ignores the lower layer leaves it no share of the samples' variance.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import vae
from vae.classifier import load_classifier
from vae.diagnostics import posterior_statistics

ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("hierarchical_layers", ROOT / "benchmarks" / "hierarchical_layers.py")
layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layers)

SMALL = vae.ModelConfig(kind="hvae", latent_dim=3, lower_latent_dim=4, hidden=(16,), lower_hidden=(8,))


def small_model(seed: int = 0) -> vae.HierarchicalVAE:
    torch.manual_seed(seed)
    return vae.build_model(SMALL).eval()


def test_the_variance_split_recovers_known_within_and_between_variances() -> None:
    g = torch.Generator().manual_seed(0)
    rows, draws = 20000, 2  # with two draws a row mean keeps half the lower variance: the split must remove it
    top = 1.0 * torch.randn(rows, 1, 3, generator=g)  # between-row variance 1 per pixel, 3 pixels
    lower = 1.0 * torch.randn(rows, draws, 3, generator=g)  # within-row variance 1 per pixel
    split = layers.variance_split(top + lower)
    assert split["within"] == pytest.approx(3.0, rel=0.03)
    assert split["between"] == pytest.approx(3.0, rel=0.05)
    assert split["within"] + split["between"] == pytest.approx(split["total"], rel=0.02)
    assert split["lower_share"] == pytest.approx(0.5, rel=0.03)


def test_rows_without_lower_variation_give_the_lower_layer_no_share() -> None:
    means = torch.arange(6.0).view(3, 1, 2).expand(3, 4, 2)  # every draw of a row identical
    split = layers.variance_split(means)
    assert split["within"] == 0.0
    assert split["lower_share"] == 0.0


@pytest.mark.parametrize(("labels", "same", "different"), [
    ([[1, 1], [2, 2]], 1.0, 0.0),  # each top code fixes its label, and the two differ
    ([[1, 2], [1, 2]], 0.0, 0.5),  # 8 ordered cross-row pairs, 4 of them agree
    ([[3, 3, 3], [3, 3, 3]], 1.0, 1.0),
])
def test_class_agreement_counts_pairs_of_different_draws(labels: list[list[int]], same: float, different: float) -> None:
    result = layers.class_agreement(torch.tensor(labels))
    assert result == {"same_top_code": pytest.approx(same), "different_top_codes": pytest.approx(different)}


def test_the_layer_terms_are_the_models_own_and_sum_to_the_negative_elbo() -> None:
    model = small_model()
    x = vae.binarize(torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.Generator().manual_seed(2))
    terms = layers.layer_terms(model, x, seed=3, batch_size=50)
    own = model(x, generator=torch.Generator().manual_seed(3))
    assert terms["kl_z1"] == pytest.approx(own.kl_z1.item(), rel=1e-5)
    assert terms["kl_z2"] == pytest.approx(own.kl_z2.item(), rel=1e-5)
    assert terms["negative_elbo"] == pytest.approx(-own.elbo.item(), rel=1e-5)


def test_the_top_layers_activity_is_the_one_layer_measure_of_its_posterior() -> None:
    model = small_model()
    x = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    top, lower = layers.layer_activity(model, x, batch_size=16)
    assert torch.allclose(top, posterior_statistics(model, x)[0])
    assert lower.shape == (SMALL.lower_latent_dim,)
    assert (lower > 0).all()


def test_a_decoder_blind_to_the_lower_layer_leaves_it_nothing() -> None:
    model = small_model()
    with torch.no_grad():
        model.decoder.net[0].weight[:, : SMALL.lower_latent_dim] = 0.0  # the decoder reads cat([z1, z2])
    means = layers.ancestral_means(model, rows=6, draws=3, seed=0)
    assert means.shape == (6, 3, 1, 28, 28)
    assert layers.variance_split(means)["within"] == pytest.approx(0.0, abs=1e-9)
    labels, _ = load_classifier().predict(means.flatten(0, 1))
    assert layers.class_agreement(labels.view(6, 3))["same_top_code"] == 1.0


def test_ancestral_means_are_repeatable_with_a_seed() -> None:
    model = small_model()
    assert torch.equal(layers.ancestral_means(model, 3, 2, seed=5), layers.ancestral_means(model, 3, 2, seed=5))
    assert not torch.equal(layers.ancestral_means(model, 3, 2, seed=5), layers.ancestral_means(model, 3, 2, seed=6))


def test_a_one_layer_model_is_refused_with_the_reason(mnist_test: vae.MNIST) -> None:
    with pytest.raises(SystemExit, match="one stochastic layer"):
        layers.measure(vae.build_model(vae.ModelConfig(latent_dim=2, hidden=(8,))), mnist_test, load_classifier())


def test_too_few_draws_are_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        layers.main(["--draws", "1"])
    assert "at least 2" in capsys.readouterr().err


def test_measure_records_every_layer(mnist_test: vae.MNIST) -> None:
    result = layers.measure(small_model(), mnist_test, load_classifier(), rows=10, draws=2)
    assert result["num_images"] == len(mnist_test)
    assert result["active_units"]["z2_dim"] == 3 and result["active_units"]["z1_dim"] == 4
    assert 0.0 <= result["variance"]["lower_share"] <= 1.0
    assert set(result["class_agreement"]) == {"same_top_code", "different_top_codes"}

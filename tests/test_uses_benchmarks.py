"""The "Uses" benchmarks: their pages show the recorded numbers, the recorded numbers re-measure, the shipped
demo artefacts hold what was recorded for them, and the out-of-distribution inputs are deterministic."""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import vae

from conftest import ROOT

RESULTS = ROOT / "benchmarks" / "results"


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tables() -> Any:
    return _load(ROOT / "scripts" / "uses_tables.py", "uses_tables")


@pytest.fixture(scope="module")
def ood() -> Any:
    return _load(ROOT / "benchmarks" / "ood_inputs.py", "ood_inputs")


def _result(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def mnist_train(mnist_root: Path) -> vae.MNIST:
    return vae.load_mnist(True, mnist_root)


@pytest.fixture(scope="module")
def imputation() -> Any:
    return _load(ROOT / "benchmarks" / "imputation.py", "imputation")


@pytest.fixture(scope="module")
def fresh_pca(mnist_train, imputation) -> vae.PCA:
    """The baselines' PCA fitted again, the recorded way: 150 components of the first 50,000 training digits, binarized (seed 1)."""
    fit = vae.binarize(mnist_train.images[: imputation.FIT_SIZE], torch.Generator().manual_seed(imputation.FIT_BINARIZATION_SEED))
    return vae.fit_pca(fit, max(imputation.PCA_CHOICES))


# -- the pages --------------------------------------------------------------------------------------------
def test_the_uses_pages_hold_the_recorded_tables(tables) -> None:
    """Every block of every Uses page is the one `scripts/uses_tables.py` prints from the JSON results."""
    blocks = tables.blocks()
    assert {p.name for p in blocks} == {"index.md", "imputation.md", "compression.md", "features.md", "anomaly.md"}
    for page, page_blocks in blocks.items():
        text = page.read_text()
        for marker, block in page_blocks.items():
            assert f"<!-- {marker}:start -->\n{block}\n<!-- {marker}:end -->" in text, (
                f"{page.name}: the {marker} block is not the recorded one; run `python scripts/uses_tables.py --write`")


def test_the_tables_are_built_from_the_numbers(tables) -> None:
    """Spot checks that the tables print the JSON's numbers, not just something the same shape."""
    blocks = tables.blocks()
    imputation = _result("imputation")
    top = imputation["masks"]["top half"]["methods"]["pseudo_gibbs"]
    assert f"{top['log_likelihood']:.1f} ± {top['log_likelihood_stderr']:.1f}" in blocks[tables.PAGES / "imputation.md"]["uses-imputation"]
    comp = _result("compression")
    assert f"| 8 | {comp['curves']['pca']['8']['bce']:.1f} | {comp['curves']['ae']['8']['bce']:.1f} |" in \
        blocks[tables.PAGES / "compression.md"]["uses-compression"]
    bits, summary = comp["bits"], blocks[tables.PAGES / "index.md"]["uses-summary"]
    assert (f"an ideal code length of at most {bits['default_test_nll_bits']:.1f} bits; bits-back coding with its encoder "
            f"would need {bits['default_negative_elbo_bits']:.1f}") in summary  # a bound, not the output of a coder
    few = _result("few_labels")["results"]["default latent means"]["logistic"]["3000"]
    assert f"{100 * few['mean']:.1f} ± {100 * few['std']:.1f}" in blocks[tables.PAGES / "features.md"]["uses-few-labels"]
    blank = _result("anomaly")["kinds"]["blank"]["auroc"]["iwae"]
    assert f"| blank | {blank:.3f}" in blocks[tables.PAGES / "anomaly.md"]["uses-anomaly"].replace("**", "")
    with pytest.raises(ValueError, match="no <!-- missing:start -->"):
        tables.replace_block("no markers here", "missing", "x")


def test_the_compression_prose_quotes_the_recorded_ratios() -> None:
    """The sentences under the bits table and about the VAE's curve say what the recorded numbers give."""
    comp = _result("compression")
    bits, curves = comp["bits"], comp["curves"]
    text = " ".join((ROOT / "docs" / "uses" / "compression.md").read_text().split())
    model, elbo = bits["default_test_nll_bits"], bits["default_negative_elbo_bits"]
    alone, together = bits["per_digit_bits"], bits["whole_set_bits_per_digit"]
    best = min(together, key=together.get)
    assert best == "bz2" and max(together, key=together.get) == "png"
    assert f"need {min(alone.values()) / model:.1f} to {max(alone.values()) / model:.1f} times the model's {model:.1f} bits" in text
    assert (f"bzip2, still needs {together[best]:.1f} bits, {together[best] / model:.1f} times as many (and "
            f"{together[best] / elbo:.1f} times the {elbo:.1f} of bits-back coding), and PNG {together['png'] / model:.1f} times") in text
    bce = {kind: {int(d): e["bce"] for d, e in curves[kind].items()} for kind in ("ae", "vae")}
    assert f"within {max(bce['vae'][d] - bce['ae'][d] for d in (2, 4, 8, 16)):.1f} nats of the autoencoder up to D = 16" in text
    assert (f"({bce['vae'][16]:.1f} to {bce['vae'][32]:.1f} nats, against the autoencoder's {bce['ae'][16]:.1f} to "
            f"{bce['ae'][32]:.1f}) and almost nothing from 32 to 64 ({bce['vae'][64]:.1f})") in text


def test_every_result_records_the_command_that_made_it() -> None:
    compression = _load(ROOT / "benchmarks" / "compression.py", "compression")
    recorded = _result("compression")
    assert recorded["train_commands"] == compression.train_commands()
    for curve in ("ae", "vae"):
        for d, entry in recorded["curves"][curve].items():
            assert entry["command"] == recorded["train_commands"][f"{curve}-d{d}-e{entry['epochs']}"]
            assert entry["val_bce_by_epochs"][str(entry["epochs"])] == min(entry["val_bce_by_epochs"].values())  # chosen on validation
    for name in ("imputation", "compression", "few_labels", "anomaly"):
        words = shlex.split(_result(name)["command"])
        assert words[:2] == ["python", f"benchmarks/{name}.py"] and "--threads" in words


# -- imputation ------------------------------------------------------------------------------------------
def test_imputation_numbers_re_measure(mnist_test, imputation, fresh_pca) -> None:
    """The one-pass and PCA rows of the top-half mask, re-measured on all 10,000 test digits (the cheap methods),
    PCA with the file shipped for the demo, which is the recorded fit."""
    recorded = _result("imputation")
    assert recorded["num_test_images"] == 10_000 and not recorded["quick"]
    assert recorded["weights_sha256"] == imputation.weights_digest(vae.load("default"))
    from vae.classifier import load_classifier

    shipped = imputation.load_pca(ROOT / recorded["pca_file"])
    torch.testing.assert_close(shipped.components, fresh_pca.components, atol=1e-8, rtol=0)
    torch.testing.assert_close(shipped.mean, fresh_pca.mean, atol=1e-12, rtol=0)
    x = vae.binarized_test_set(mnist_test)
    mask = vae.make_mask("top", n=x.shape[0])
    entry = recorded["masks"]["top half"]
    k = entry["selection"]["pca"]["k"]
    for method, source in (("one_pass", vae.load("default")), ("pca", imputation.truncate(shipped, k))):
        imputed = vae.impute(source, x, mask, method)
        row = entry["methods"][method]
        assert vae.missing_log_likelihood(x, imputed, mask).mean().item() == pytest.approx(row["log_likelihood"], abs=1e-3), method
        accuracy = (load_classifier().predict(imputed.float())[0] == mnist_test.labels).double().mean().item()
        assert accuracy == pytest.approx(row["classifier_accuracy"], abs=1e-4), method


# -- few labels --------------------------------------------------------------------------------------------
def test_the_few_label_accuracy_re_measures_within_its_spread(mnist_test, mnist_train) -> None:
    """`default`'s latent means, logistic regression, 100 labels: the recorded draws, fitted again."""
    recorded = _result("few_labels")
    row = recorded["results"]["default latent means"]["logistic"]["100"]
    model = vae.load("default")
    pool = vae.latent_features(model, mnist_train.images[:50_000])
    test = vae.latent_features(model, mnist_test.images)
    again = vae.few_label_accuracy(pool, mnist_train.labels[:50_000], test, mnist_test.labels, (100,), recorded["draws"],
                                   "logistic", weight_decay=row["weight_decay"])[0]
    tolerance = max(row["std"] / recorded["draws"] ** 0.5, 1e-3)  # a standard error, at least 0.1 %
    assert again.mean == pytest.approx(row["mean"], abs=tolerance)
    assert again.accuracies == pytest.approx(row["accuracies"], abs=0.005)  # draw by draw, the same subsets
    # the demo's stored classifier (draw 0) has the accuracy recorded for it
    stored = load_file(str(ROOT / recorded["demo"]["file"]))
    fields = ("weight", "bias", "shift", "scale")
    assert set(stored) == {f"{prefix}n{n}.{f}" for prefix in ("", "pixels.") for n in recorded["n_labels"] for f in fields}
    classifier = vae.LinearClassifier(*(stored[f"n100.{key}"] for key in fields))
    assert classifier.weight.shape == (10, model.config.latent_dim)
    accuracy = (classifier.predict(test) == mnist_test.labels).double().mean().item()
    assert accuracy == pytest.approx(row["demo_classifier_accuracy"], abs=1e-3)
    assert accuracy == pytest.approx(row["accuracies"][0], abs=0.005)
    # and the raw-pixel one, on gray levels
    pixels = vae.LinearClassifier(*(stored[f"pixels.n100.{key}"] for key in fields))
    pixel_row = recorded["results"]["raw pixels"]["logistic"]["100"]
    accuracy = (pixels.predict(mnist_test.images.flatten(1)) == mnist_test.labels).double().mean().item()
    assert accuracy == pytest.approx(pixel_row["demo_classifier_accuracy"], abs=1e-3)
    assert accuracy == pytest.approx(pixel_row["accuracies"][0], abs=0.005)


# -- compression ---------------------------------------------------------------------------------------------
def test_the_compression_demo_file_holds_its_recorded_errors(mnist_test, fresh_pca) -> None:
    compression = _load(ROOT / "benchmarks" / "compression.py", "compression")
    recorded = _result("compression")
    stored = load_file(str(ROOT / recorded["demo"]["file"]))
    dims = recorded["dims"]
    n = recorded["demo"]["digits"]
    assert stored["dims"].tolist() == dims and stored["indices"].shape == (n,)
    bits = vae.binarized_test_set(mnist_test)
    index = stored["indices"].long()
    x = bits[index, 0]  # (n, 28, 28) the binarized digits the reconstructions are of
    assert torch.equal(stored["inputs"], (x * 255).to(torch.uint8)) and torch.equal(stored["labels"].long(), mnist_test.labels[index])
    for method in compression.METHODS:
        assert stored[method].shape == (len(dims), n, 28, 28) and stored[method].dtype == torch.uint8
        for i, d in enumerate(dims):
            r = recorded["demo"]["stored_errors"][method][str(d)]
            recon = stored[method][i].float() / 255.0
            assert compression.bce(x, recon, r["eps"]).mean().item() == pytest.approx(r["bce"], rel=1e-9)
            assert compression.squared_error(x, recon).mean().item() == pytest.approx(r["squared_error"], rel=1e-9)
            # the stored digits are a sample of the test set: their error is near the full test set's
            assert r["bce"] == pytest.approx(recorded["curves"][method][str(d)]["bce"], rel=0.3)
    # PCA's stored reconstructions and 2-D codes are those of a PCA fitted again the recorded way (the same fit as
    # the imputation baselines': the first 50,000 training digits binarized with seed 1)
    assert (compression.FIT_SIZE, compression.FIT_BINARIZATION_SEED) == (50_000, 1)
    pca = compression.truncate(fresh_pca, max(dims))
    for i, d in enumerate(dims):
        fresh = compression.to_uint8(compression.reconstruct("pca", compression.truncate(pca, d), bits[index]))[:, 0]
        assert (fresh.int() - stored["pca"][i].int()).abs().max() <= 1  # rounding at .5 may differ by one level
    codes = compression.codes("pca", compression.truncate(pca, 2), bits[stored["map_indices"].long()])
    torch.testing.assert_close(codes, stored["map_pca"], atol=1e-4, rtol=0)
    assert recorded["curves"]["pca"]["2"]["fit_squared_error"] == pytest.approx(recorded["curves"]["pca"]["2"]["discarded_eigenvalues"], rel=1e-6)


# -- anomaly -----------------------------------------------------------------------------------------------
def test_the_demo_verdict_is_the_recorded_one_and_re_measures(mnist_test) -> None:
    recorded = _result("anomaly")
    verdict = recorded["demo_verdict"]
    shipped = json.loads((ROOT / "vae" / "assets" / "anomaly_verdict.json").read_text())
    assert {k: shipped[k] for k in verdict} == verdict and shipped["model"] == recorded["model"]
    # the threshold is what the recorded call gives on the gray test digits
    _, elbo = vae.log_likelihood(vae.load("default"), mnist_test.images, k=verdict["k"], batch_size=100)
    scores = -elbo.double()
    assert vae.threshold_at_fpr(scores, verdict["false_positive_rate"]) == pytest.approx(verdict["threshold"], abs=1e-4)
    assert (scores > verdict["threshold"]).double().mean().item() == pytest.approx(verdict["measured_test_fpr"])
    assert verdict["measured_test_fpr"] <= verdict["false_positive_rate"]


def test_the_ood_generator_is_deterministic_and_seeded(ood, mnist_test) -> None:
    digits = mnist_test.images[:500]
    for kind in ood.KINDS:
        a = ood.make_ood(kind, 12, 3, digits)
        assert a.shape == (12, 1, 28, 28) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1, kind
        assert torch.equal(a, ood.make_ood(kind, 12, 3, digits)), kind
        if kind != "blank":
            assert not torch.equal(a, ood.make_ood(kind, 12, 4, digits)), kind
            assert not torch.equal(a[0], a[1]), kind  # not one image repeated
    assert ood.make_ood("blank", 3).abs().sum() == 0
    lit = ood.make_ood("near_blank", 50, 0).flatten(1).sum(1)
    assert lit.min() >= 1 and lit.max() <= 6
    # the digit kinds transform the digits they are given
    inverted = ood.make_ood("inverted", 5, 0, digits)
    assert all(any(torch.allclose(1 - img, d, atol=1e-6) for d in digits) for img in inverted)  # 1 - (1 - d) rounds
    with pytest.raises(ValueError, match="unknown kind 'cats'"):
        ood.make_ood("cats", 2)
    with pytest.raises(ValueError, match="transforms MNIST digits"):
        ood.make_ood("rotated", 2)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        ood.make_ood("noise", 0)
    assert len(ood.font_files()) > 0  # the glyph kinds drew with the system's fonts, as recorded
    assert _result("anomaly")["fonts"] == [str(p) for p in ood.font_files()]

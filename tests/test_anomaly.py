"""Anomaly scores, AUROC (Mann-Whitney with ties), the ROC curve and the threshold at a false-positive rate."""

from __future__ import annotations

import pytest
import torch

import vae
from vae import anomaly_scores, auroc, roc_curve, threshold_at_fpr


def _pairwise_auroc(s_in: list[float], s_out: list[float]) -> float:
    """The definition, pair by pair: P(out > in) + P(out = in) / 2."""
    wins = sum(1.0 if o > i else 0.5 if o == i else 0.0 for i in s_in for o in s_out)
    return wins / (len(s_in) * len(s_out))


def test_auroc_of_a_small_case_with_ties_by_hand() -> None:
    # out 3 against in (1, 2, 3, 3): 1 + 1 + 1/2 + 1/2 = 3; out 4: 4; out 2: 1 + 1/2 = 1.5; total 8.5 of 12 pairs
    assert auroc(torch.tensor([1.0, 2.0, 3.0, 3.0]), torch.tensor([3.0, 4.0, 2.0])) == pytest.approx(8.5 / 12, abs=1e-15)
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0  # perfect
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0  # pointing the wrong way
    assert auroc(torch.tensor([5.0, 5.0]), torch.tensor([5.0])) == 0.5  # all tied
    assert auroc(torch.tensor([1.0, float("inf")]), torch.tensor([float("inf"), 2.0])) == pytest.approx(0.625)


def test_auroc_matches_the_pairwise_definition_on_random_ties() -> None:
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        s_in = torch.randint(0, 6, (int(torch.randint(1, 30, (1,), generator=g)),), generator=g).double()
        s_out = torch.randint(2, 9, (int(torch.randint(1, 30, (1,), generator=g)),), generator=g).double()
        value = auroc(s_in, s_out)
        assert value == pytest.approx(_pairwise_auroc(s_in.tolist(), s_out.tolist()), abs=1e-12), trial
        assert auroc(s_out, s_in) == pytest.approx(1 - value, abs=1e-12)  # swapping the roles


def test_roc_curve_area_is_the_auroc() -> None:
    g = torch.Generator().manual_seed(1)
    s_in, s_out = torch.randint(0, 10, (200,), generator=g).float(), torch.randint(3, 14, (150,), generator=g).float()
    fpr, tpr = roc_curve(s_in, s_out)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert (fpr.diff() >= 0).all() and (tpr.diff() >= 0).all()
    area = torch.trapezoid(tpr, fpr).item()  # a tie moves both rates at once: a diagonal segment, worth half
    assert area == pytest.approx(auroc(s_in, s_out), abs=1e-12)


def test_threshold_at_a_false_positive_rate() -> None:
    scores = torch.arange(1.0, 101.0)  # 1..100
    t = threshold_at_fpr(scores, 0.05)
    assert t == 95.0 and (scores > t).sum() == 5  # exactly 5 % of the normal inputs are flagged
    assert threshold_at_fpr(scores, 0.0) == 100.0 and threshold_at_fpr(scores, 0.999) == 1.0
    assert (scores > threshold_at_fpr(scores, 0.123)).float().mean() <= 0.123
    tied = torch.tensor([1.0, 2.0, 2.0, 2.0, 3.0])
    t = threshold_at_fpr(tied, 0.5)  # j = ceil(2.5) = 3: t = 2, and only 1 of 5 is above it (ties at t are not flagged)
    assert t == 2.0 and (tied > t).float().mean() <= 0.5
    for fpr in (0.01, 0.1, 0.33):
        s = torch.randn(997, generator=torch.Generator().manual_seed(2))
        t = threshold_at_fpr(s, fpr)
        assert (s > t).float().mean() <= fpr and (s >= t).float().mean() > fpr  # the lowest such threshold


@pytest.fixture(scope="module")
def latent2d() -> vae.VAE:
    return vae.load("latent2d")


def test_scores_are_minus_the_evaluation_bounds(latent2d, mnist_test) -> None:
    x = vae.binarized_test_set(mnist_test)[:12]
    log_px, elbos = vae.log_likelihood(latent2d, x, k=20, batch_size=100, seed=3)
    iwae = anomaly_scores(latent2d, x, "iwae", k=20, seed=3)
    elbo = anomaly_scores(latent2d, x, "elbo", k=20, seed=3)
    assert torch.equal(iwae, -log_px) and torch.equal(elbo, -elbos)
    assert (iwae <= elbo + 1e-4).all()  # log mean w >= mean log w from the same weights (Jensen)
    assert torch.equal(iwae, anomaly_scores(latent2d, x, "iwae", k=20, seed=3))  # seeded


def test_inverted_digits_are_flagged(latent2d, mnist_test) -> None:
    """Evidence on real data: test digits against the same digits with ink and paper swapped."""
    x = vae.binarized_test_set(mnist_test)[:30]
    scores_in = anomaly_scores(latent2d, x, k=10)
    scores_out = anomaly_scores(latent2d, 1.0 - x, k=10)
    assert auroc(scores_in, scores_out) == 1.0
    t = threshold_at_fpr(scores_in, 0.1)
    assert (scores_out > t).all() and (scores_in > t).float().mean() <= 0.1


def test_bad_inputs_get_clear_errors(latent2d) -> None:
    x = torch.rand(3, 1, 28, 28)
    cases = [
        (lambda: anomaly_scores(latent2d, x, "likelihood"), "unknown score 'likelihood'"),
        (lambda: anomaly_scores(latent2d, x, k=0), "k must be an integer from 1 to 5000"),
        (lambda: anomaly_scores(latent2d, x, k=5001), "k must be an integer from 1 to 5000"),
        (lambda: anomaly_scores(latent2d, x * 2), r"finite values in \[0, 1\]"),
        (lambda: anomaly_scores(latent2d, torch.rand(3, 1, 20, 20)), "expects images of shape"),
        (lambda: anomaly_scores(latent2d, torch.rand(0, 1, 28, 28)), "non-empty float batch"),
        (lambda: anomaly_scores(vae.load("ae2d"), x), "need a VAE's likelihood bound; a Autoencoder has none"),
        (lambda: auroc(torch.tensor([]), torch.tensor([1.0])), "scores_in must be a non-empty vector"),
        (lambda: auroc(torch.tensor([1.0]), torch.ones(2, 2)), "scores_out must be a non-empty vector"),
        (lambda: auroc(torch.tensor([1.0, float("nan")]), torch.tensor([1.0])), "scores_in contain NaN"),
        (lambda: threshold_at_fpr(torch.tensor([1.0, 2.0]), 1.0), r"fpr must be a number in \[0, 1\)"),
        (lambda: threshold_at_fpr(torch.tensor([1.0, 2.0]), -0.1), r"fpr must be a number in \[0, 1\)"),
        (lambda: roc_curve(torch.tensor([1.0]), torch.tensor([])), "scores_out must be a non-empty vector"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()

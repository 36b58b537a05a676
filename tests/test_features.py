"""Latent features and the few-label protocol: subsets, logistic regression, k-NN, accuracies, errors."""

from __future__ import annotations

import statistics

import pytest
import torch

import vae
from vae import balanced_subset, few_label_accuracy, fit_logistic_regression, knn_predict, latent_features


def _blobs(per_class: int, seed: int, spread: float = 0.3, classes: int = 4, dim: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs around `classes` well separated centres: features (N, dim), labels (N,)."""
    g = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.eye(classes, dim)  # pairwise distance 3 sqrt 2
    labels = torch.arange(classes).repeat_interleave(per_class)
    return centres[labels] + spread * torch.randn(labels.numel(), dim, generator=g), labels


def test_balanced_subsets_are_balanced_distinct_and_seeded() -> None:
    labels = torch.arange(10).repeat(50)[torch.randperm(500, generator=torch.Generator().manual_seed(0))]
    idx = balanced_subset(labels, 100, torch.Generator().manual_seed(1))
    assert idx.numel() == 100 and idx.unique().numel() == 100
    assert torch.equal(torch.bincount(labels[idx], minlength=10), torch.full((10,), 10))
    assert torch.equal(idx, balanced_subset(labels, 100, torch.Generator().manual_seed(1)))
    other = balanced_subset(labels, 100, torch.Generator().manual_seed(2))
    assert set(idx.tolist()) != set(other.tolist())  # other images, not just another order
    assert not torch.equal(labels[idx], labels[idx].sort().values)  # shuffled, not grouped by class


def test_few_label_accuracy_on_a_separable_problem() -> None:
    train_x, train_y = _blobs(100, seed=0)
    test_x, test_y = _blobs(50, seed=1)
    for classifier in ("logistic", "knn"):
        results = few_label_accuracy(train_x, train_y, test_x, test_y, n_labels=(4, 40), draws=3, classifier=classifier, k=1)
        assert [r.n_labels for r in results] == [4, 40]
        for r in results:
            assert r.classifier == classifier and len(r.accuracies) == 3
            assert r.accuracies == (1.0, 1.0, 1.0), r  # one labelled point per class already separates the blobs
            assert r.mean == 1.0 and r.std == 0.0


def test_few_label_accuracy_is_what_the_classifier_scores_and_its_spread() -> None:
    """Overlapping blobs: the protocol's accuracies are those of the classifier fitted on each draw's subset."""
    train_x, train_y = _blobs(100, seed=2, spread=2.0)
    test_x, test_y = _blobs(100, seed=3, spread=2.0)
    results = few_label_accuracy(train_x, train_y, test_x, test_y, n_labels=(20,), draws=4, seed=7, weight_decay=0.01)
    (r,) = results
    for d, accuracy in enumerate(r.accuracies):
        idx = balanced_subset(train_y, 20, torch.Generator().manual_seed(7 + d))
        clf = fit_logistic_regression(train_x[idx], train_y[idx], 4, weight_decay=0.01)
        assert accuracy == (clf.predict(test_x) == test_y).double().mean().item()
    assert r.mean == pytest.approx(statistics.mean(r.accuracies)) and r.std == pytest.approx(statistics.stdev(r.accuracies))
    assert 0.4 < r.mean < 0.95 and r.std > 0  # a real, imperfect problem with real spread
    # the labels carry the signal: shuffled test labels give chance accuracy
    shuffled = test_y[torch.randperm(test_y.numel(), generator=torch.Generator().manual_seed(0))]
    (chance,) = few_label_accuracy(train_x, train_y, test_x, shuffled, n_labels=(20,), draws=4, seed=7, weight_decay=0.01)
    assert abs(chance.mean - 0.25) < 0.08


@pytest.mark.parametrize("standardize", [True, False])
def test_logistic_regression_reaches_the_optimum_of_its_objective(standardize: bool) -> None:
    """At the solution the gradient of mean cross-entropy + lambda/2 ||W||^2 (recomputed here) vanishes."""
    x, y = _blobs(30, seed=4, spread=1.5)
    x = x * torch.tensor([1.0, 10.0, 0.1, 1.0])  # features of different scales
    clf = fit_logistic_regression(x, y, weight_decay=0.1, standardize=standardize)
    w, b = clf.weight.clone().requires_grad_(True), clf.bias.clone().requires_grad_(True)
    f = (x.double() - x.double().mean(0)) / x.double().std(0, correction=0) if standardize else x.double()
    loss = torch.nn.functional.cross_entropy(f @ w.T + b, y) + 0.05 * w.pow(2).sum()
    grad_w, grad_b = torch.autograd.grad(loss, (w, b))
    assert grad_w.abs().max() < 1e-4 and grad_b.abs().max() < 1e-4  # to the solver's tolerance (at W = 0 it is ~6)
    assert clf.logits(x).shape == (120, 4) and torch.equal(clf.predict(x), clf.logits(x).argmax(1))


def test_knn_votes_and_ties_by_hand() -> None:
    train = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    queries = torch.tensor([[0.4], [1.9], [10.4], [1.4]])
    assert knn_predict(train, labels, queries, k=1).tolist() == [0, 1, 1, 0]  # nearest: 0, 2, 10, 1
    assert knn_predict(train, labels, queries, k=3).tolist() == [0, 0, 1, 0]  # majority of the three nearest
    # k = 2 at 1.6: neighbours 2.0 (label 1) and 1.0 (label 0) tie one vote each; the nearer, label 1, wins
    assert knn_predict(train, labels, torch.tensor([[1.6]]), k=2).tolist() == [1]
    assert knn_predict(train, labels, torch.tensor([[1.4]]), k=2).tolist() == [0]


def test_latent_features_are_the_posterior_means() -> None:
    torch.manual_seed(0)
    model = vae.build_model(vae.ModelConfig(latent_dim=3, hidden=(16,), image_shape=(1, 4, 4)))
    images = torch.rand(7, 1, 4, 4)
    features = latent_features(model, images, batch_size=3)
    assert features.shape == (7, 3) and not features.requires_grad
    torch.testing.assert_close(features, model.encode(images)[0].detach())
    assert model.training  # the mode is restored


def test_bad_inputs_get_clear_errors() -> None:
    x, y = _blobs(10, seed=0)
    model = vae.build_model(vae.ModelConfig(latent_dim=3, hidden=(16,), image_shape=(1, 4, 4)))
    cases = [
        (lambda: balanced_subset(y, 10), "positive multiple of the number of classes \\(4\\)"),
        (lambda: balanced_subset(y, 80), "class 0 has 10 examples; a balanced subset of 80 needs 20"),
        (lambda: balanced_subset(y.float(), 8), "labels must be integers"),
        (lambda: few_label_accuracy(x, y, x, y, n_labels=(8,), classifier="svm"), "unknown classifier 'svm'"),
        (lambda: few_label_accuracy(x, y, x, y, n_labels=(8,), draws=0), "draws must be an integer >= 1"),
        (lambda: few_label_accuracy(x, y, x, y, n_labels=8), "non-empty sequence of label budgets"),
        (lambda: few_label_accuracy(x, y, x[:, :2], y, n_labels=(8,)), "test features have 2 columns"),
        (lambda: few_label_accuracy(x, y[:5], x, y, n_labels=(8,)), "labels have 5 entries"),
        (lambda: few_label_accuracy(x.view(40, 4, 1), y, x, y), r"non-empty matrix \(N, F\)"),
        (lambda: fit_logistic_regression(x, y, weight_decay=-1.0), "weight_decay must be >= 0"),
        (lambda: fit_logistic_regression(x, y, num_classes=3), "num_classes = 3, but a label is 3"),
        (lambda: fit_logistic_regression(x * float("nan"), y), "NaN or infinite"),
        (lambda: knn_predict(x, y, x, k=0), "k must be an integer from 1 to the number of training examples"),
        (lambda: knn_predict(x, y, x, k=41), "k must be an integer from 1 to the number of training examples"),
        (lambda: latent_features(model, torch.rand(2, 1, 5, 5)), "expects images of shape"),
        (lambda: latent_features(model, torch.rand(16)), r"non-empty batch \(N, C, H, W\)"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()

r"""Latent codes as features for a classifier trained on few labels.

The encoder is frozen; each image is replaced by its posterior mean $\mu_\phi(x)$
([`latent_features`][vae.features.latent_features]), and a simple classifier is fitted on a small
labelled subset. The same protocol runs on any feature matrix, so the baselines are one line each:
raw pixels (`images.flatten(1)`) and PCA codes of the same size (`vae.fit_pca(train, D).encode(images)`).

**The few-label protocol** ([`few_label_accuracy`][vae.features.few_label_accuracy]): for each label
budget n (e.g. 100, 600, 1000, 3000) and each draw, a balanced subset of n training images (n / 10
per digit) is drawn with a seeded generator ([`balanced_subset`][vae.features.balanced_subset]),
the classifier is fitted on those n feature vectors and labels only, and its accuracy is measured
on the whole test set. The subsets depend only on the labels, n, the seed and the draw, so every
feature set is scored on the same labelled images.

The classifiers, written in torch (no scikit-learn):

- **multinomial logistic regression** ([`fit_logistic_regression`][vae.features.fit_logistic_regression]):
  the features standardised with the subset's mean and standard deviation, then
  $\min_{W, b}\ \frac1n \sum_i -\log \operatorname{softmax}(W f_i + b)_{y_i} + \frac\lambda2 \lVert W \rVert^2$,
  a convex problem solved by full-batch L-BFGS in float64;
- **k-nearest neighbours** ([`knn_predict`][vae.features.knn_predict]): the majority label of the k
  closest training features in Euclidean distance (ties go to the class of the nearer neighbour).

Reference point: Kingma et al. (2014), *Semi-supervised learning with deep generative models*,
report 11.82 % test error with 100 labels for VAE features (their M1) and a transductive SVM.

Shape key: N examples, F features, K classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .models import EncoderDecoder

CLASSIFIERS = ("logistic", "knn")


def _check_features(features: torch.Tensor, labels: torch.Tensor | None = None, what: str = "features") -> None:
    if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{what} must be a non-empty matrix (N, F); flatten images with .flatten(1), not {shape}")
    if not torch.isfinite(features).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    if labels is not None:
        _check_labels(labels, features.shape[0], what)


def _check_labels(labels: torch.Tensor, rows: int | None = None, what: str = "features") -> None:
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.shape[0] == 0:
        raise ValueError("labels must be a non-empty vector of class indices (N,)")
    if rows is not None and labels.shape[0] != rows:
        raise ValueError(f"labels have {labels.shape[0]} entries; {what} have {rows} rows: one label per row")
    if torch.is_floating_point(labels) or torch.is_complex(labels) or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers (class indices), not {labels.dtype}")
    if labels.min() < 0:
        raise ValueError("labels must be class indices >= 0")


@torch.no_grad()
def latent_features(model: EncoderDecoder, images: torch.Tensor, batch_size: int = 1000, y: torch.Tensor | None = None) -> torch.Tensor:
    r"""The frozen encoder's posterior means $\mu_\phi(x)$ as features: images (N, C, H, W) -> (N, D).

    Computed in eval mode, without gradients, `batch_size` images at a time.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty batch (N, C, H, W), not {getattr(images, 'shape', type(images).__name__)}")
    if tuple(images.shape[1:]) != tuple(model.config.image_shape):
        raise ValueError(f"the model expects images of shape {model.config.image_shape}, not {tuple(images.shape[1:])}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts = [
        model.embed(images[i : i + batch_size].to(device), None if y is None else y[i : i + batch_size].to(device)).cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    model.train(was_training)
    return torch.cat(parts)  # (N, D)


def balanced_subset(labels: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of n examples, n / K of each of the K classes present in `labels`, chosen at random.

    The order is shuffled (not grouped by class). Raises ValueError when n is not a positive
    multiple of K or a class has fewer than n / K examples.
    """
    _check_labels(labels)
    classes = labels.unique()  # sorted
    k = classes.numel()
    if isinstance(n, bool) or not isinstance(n, int) or n < k or n % k != 0:
        raise ValueError(f"n must be a positive multiple of the number of classes ({k}), to be balanced; not {n!r}")
    per_class = n // k
    chosen = []
    for c in classes.tolist():
        members = (labels == c).nonzero().squeeze(1)  # (N_c,)
        if members.numel() < per_class:
            raise ValueError(f"class {c} has {members.numel()} examples; a balanced subset of {n} needs {per_class} per class")
        chosen.append(members[torch.randperm(members.numel(), generator=generator)[:per_class]])
    picked = torch.cat(chosen)
    return picked[torch.randperm(picked.numel(), generator=generator)]


@dataclass(frozen=True, eq=False)
class LinearClassifier:
    r"""A fitted multinomial logistic regression: $\operatorname{softmax}(W (f - m) / s + b)$.

    Attributes:
        weight: W, shape (K, F).
        bias: b, shape (K,).
        shift: m, the training features' mean, shape (F,).
        scale: s, their standard deviation (1 where it is 0), shape (F,).
    """

    weight: torch.Tensor
    bias: torch.Tensor
    shift: torch.Tensor
    scale: torch.Tensor

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores: (N, F) -> (N, K), float64."""
        _check_features(features)
        if features.shape[1] != self.weight.shape[1]:
            raise ValueError(f"this classifier was fitted on {self.weight.shape[1]} features, not {features.shape[1]}")
        return ((features.double() - self.shift) / self.scale) @ self.weight.T + self.bias

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """The most probable class: (N, F) -> (N,)."""
        return self.logits(features).argmax(1)


def fit_logistic_regression(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None, weight_decay: float = 1e-3,
    max_iter: int = 500, standardize: bool = True,
) -> LinearClassifier:
    r"""Multinomial logistic regression by full-batch L-BFGS, in float64.

    Minimises the mean cross-entropy plus $\frac\lambda2 \lVert W \rVert_F^2$ (λ = `weight_decay`;
    the bias is not penalised) over the features standardised with the training subset's mean and
    standard deviation (`standardize=False`: the features as given). Standardising makes one λ mean
    the same for feature sets of different scales, but it also blows a nearly constant feature (a
    border pixel, an inactive latent unit) up to unit variance, where a few labels can fit its noise.
    The objective is strictly convex for λ > 0, so the result does not depend on the starting point
    (zeros) beyond the solver's tolerance.

    Args:
        features: (N, F).
        labels: class indices (N,).
        num_classes: K (default: the largest label + 1).
        weight_decay: λ >= 0; with few labels the classes are usually separable and λ = 0 lets W grow without bound.
        max_iter: L-BFGS iterations.
        standardize: standardise each feature first (the default) or not.
    """
    _check_features(features, labels)
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, not {weight_decay}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, not {max_iter}")
    k = int(labels.max()) + 1 if num_classes is None else num_classes
    if k <= int(labels.max()):
        raise ValueError(f"num_classes = {k}, but a label is {int(labels.max())}")
    f = features.double()
    if standardize:
        shift = f.mean(0)
        scale = f.std(0, correction=0)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # constant features stay 0 after centring
    else:
        shift, scale = torch.zeros(f.shape[1], dtype=torch.float64), torch.ones(f.shape[1], dtype=torch.float64)
    f = (f - shift) / scale  # (N, F) standardised
    weight = torch.zeros(k, f.shape[1], dtype=torch.float64, requires_grad=True)  # (K, F)
    bias = torch.zeros(k, dtype=torch.float64, requires_grad=True)  # (K,)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")
    target = labels.long()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        # mean cross-entropy over the n examples + lambda/2 ||W||^2
        loss = torch.nn.functional.cross_entropy(f @ weight.T + bias, target) + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LinearClassifier(weight.detach(), bias.detach(), shift, scale)


def knn_predict(
    train_features: torch.Tensor, train_labels: torch.Tensor, features: torch.Tensor, k: int = 5, batch_size: int = 1000
) -> torch.Tensor:
    """k-nearest-neighbour labels in Euclidean distance: train (M, F), (M,); features (N, F) -> (N,).

    The label with the most votes among the k nearest wins; a tie goes to the tied label whose
    nearest member is closest.
    """
    _check_features(train_features, train_labels, "train_features")
    _check_features(features)
    if features.shape[1] != train_features.shape[1]:
        raise ValueError(f"features have {features.shape[1]} columns, the training features {train_features.shape[1]}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= train_features.shape[0]:
        raise ValueError(f"k must be an integer from 1 to the number of training examples ({train_features.shape[0]}), not {k!r}")
    train = train_features.double()
    num_classes = int(train_labels.max()) + 1
    out = []
    for start in range(0, features.shape[0], batch_size):
        dist = torch.cdist(features[start : start + batch_size].double(), train)  # (b, M)
        order = dist.topk(k, dim=1, largest=False).indices  # (b, k), nearest first
        neighbour_labels = train_labels[order]  # (b, k)
        votes = torch.zeros(order.shape[0], num_classes, dtype=torch.long)
        votes.scatter_add_(1, neighbour_labels, torch.ones_like(neighbour_labels))  # (b, K) votes per class
        # the rank of each label's nearest member among the k (k when absent), to break ties
        rank = torch.arange(k).expand_as(neighbour_labels)
        first = torch.full((order.shape[0], num_classes), k, dtype=torch.long).scatter_reduce_(1, neighbour_labels, rank, "amin")
        out.append((votes * (k + 1) - first).argmax(1))  # most votes, then the nearest
    return torch.cat(out)


@dataclass(frozen=True)
class FewLabelResult:
    """Test accuracy of one classifier with one label budget, over several seeded draws.

    Attributes:
        n_labels: labelled training examples per draw.
        classifier: `"logistic"` or `"knn"`.
        accuracies: test accuracy of each draw (fractions in [0, 1]).
        mean: their mean.
        std: their sample standard deviation (0 for one draw).
    """

    n_labels: int
    classifier: str
    accuracies: tuple[float, ...]
    mean: float
    std: float


def few_label_accuracy(
    train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor, test_labels: torch.Tensor,
    n_labels: tuple[int, ...] = (100, 600, 1000, 3000), draws: int = 5, classifier: str = "logistic", seed: int = 0,
    weight_decay: float = 1e-3, k: int = 5, standardize: bool = True,
) -> list[FewLabelResult]:
    """The few-label protocol: for each n, `draws` balanced subsets, a classifier fitted on each, test accuracy.

    Draw d of budget n uses the subset [`balanced_subset`][vae.features.balanced_subset]`(train_labels, n,
    Generator().manual_seed(seed + d))`, the same for every feature set.

    Args:
        train_features, train_labels: the pool the labelled subsets come from, (M, F) and (M,).
        test_features, test_labels: the evaluation set, (N, F) and (N,).
        n_labels: the label budgets, each a multiple of the number of classes.
        draws: subsets per budget, >= 1.
        classifier: `"logistic"` ([`fit_logistic_regression`][vae.features.fit_logistic_regression], with
            `weight_decay` and `standardize`) or `"knn"` ([`knn_predict`][vae.features.knn_predict], with `k`).
        seed: the first draw's seed.

    Returns:
        One [`FewLabelResult`][vae.features.FewLabelResult] per budget, in the order given.
    """
    _check_features(train_features, train_labels, "train_features")
    _check_features(test_features, test_labels, "test_features")
    if test_features.shape[1] != train_features.shape[1]:
        raise ValueError(f"test features have {test_features.shape[1]} columns, the training features {train_features.shape[1]}")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be an integer >= 1, not {draws!r}")
    if isinstance(n_labels, int) or not n_labels:
        raise ValueError(f"n_labels must be a non-empty sequence of label budgets, e.g. (100, 600), not {n_labels!r}")
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    results = []
    for n in n_labels:
        accuracies = []
        for d in range(draws):
            idx = balanced_subset(train_labels, n, torch.Generator().manual_seed(seed + d))
            f, y = train_features[idx], train_labels[idx]
            if classifier == "logistic":
                fitted = fit_logistic_regression(f, y, num_classes, weight_decay, standardize=standardize)
                predicted = fitted.predict(test_features)
            else:
                predicted = knn_predict(f, y, test_features, k)
            accuracies.append((predicted == test_labels).double().mean().item())
        std = math.sqrt(sum((a - sum(accuracies) / draws) ** 2 for a in accuracies) / (draws - 1)) if draws > 1 else 0.0
        results.append(FewLabelResult(n, classifier, tuple(accuracies), sum(accuracies) / draws, std))
    return results


__all__ = [
    "FewLabelResult",
    "LinearClassifier",
    "balanced_subset",
    "few_label_accuracy",
    "fit_logistic_regression",
    "knn_predict",
    "latent_features",
]

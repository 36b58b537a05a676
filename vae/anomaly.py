r"""Anomaly scores from a VAE's likelihood bounds, and how well they separate two sets: AUROC.

An input unlike the training data should get a low likelihood, so a natural **anomaly score** is
minus a lower bound on $\log p(x)$ ([`anomaly_scores`][vae.anomaly.anomaly_scores]): the negative
ELBO, or the negative importance-weighted bound $-\mathcal L_k$, which is closer to $-\log p(x)$
(both from [`vae.evaluation.log_likelihood`][vae.evaluation.log_likelihood], in nats; higher = more
anomalous). This is known to fail for simple inputs (a blank page has few "bits" to explain and can
get a *higher* likelihood than real digits: Nalisnick et al., 2019); measuring it is the point.

**AUROC** ([`auroc`][vae.anomaly.auroc]) is the probability that a random anomalous input scores
higher than a random normal one, ties counted half: the Mann-Whitney statistic

$$
\mathrm{AUROC} = \frac{1}{n_{\text{in}}\, n_{\text{out}}} \sum_{i \in \text{in}} \sum_{j \in \text{out}}
\Big( \mathbb 1[s_j > s_i] + \tfrac12\, \mathbb 1[s_j = s_i] \Big),
$$

computed exactly from ranks. 0.5 is chance, 1 perfect separation, below 0.5 a score pointing the
wrong way. A **threshold at a false-positive rate** α ([`threshold_at_fpr`][vae.anomaly.threshold_at_fpr])
turns a score into a verdict: "anomalous" when the score exceeds it, which at most a fraction α of
normal inputs do.
"""

from __future__ import annotations

import math

import torch

from .evaluation import log_likelihood
from .models import VAE

SCORES = ("elbo", "iwae")
MAX_K = 5000  # importance samples per input, at most (the standard test-NLL protocol)


def anomaly_scores(
    model: VAE, images: torch.Tensor, score: str = "iwae", k: int = 100, labels: torch.Tensor | None = None,
    batch_size: int = 100, seed: int = 0,
) -> torch.Tensor:
    r"""Anomaly scores in nats per image, higher = more anomalous: images (N, C, H, W) -> (N,).

    - `"elbo"`: $-\frac1k \sum_i \log w_i$, minus the ELBO estimated with k samples;
    - `"iwae"`: $-\log \frac1k \sum_i w_i$, minus the importance-weighted bound estimated with k samples
      (in expectation an upper bound on $-\log p(x)$ that tightens as k grows),

    with $\log w_i = \log p(x \mid z_i) + \log p(z_i) - \log q(z_i \mid x)$, both from the same k samples
    ([`log_likelihood`][vae.evaluation.log_likelihood], seeded: the same call gives the same scores).
    Score inputs the way the model was evaluated: binarized digits for a Bernoulli decoder.

    Raises:
        ValueError: an unknown score, k outside 1..5000, images of the wrong shape or outside [0, 1], or a model without a bound.
    """
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; choose one of {', '.join(SCORES)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer from 1 to {MAX_K}, not {k!r}")
    if not isinstance(model, VAE):
        raise ValueError(f"anomaly scores need a VAE's likelihood bound; a {type(model).__name__} has none")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0 or not torch.is_floating_point(images):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a non-empty float batch (N, C, H, W), not {shape}")
    if tuple(images.shape[1:]) != tuple(model.config.image_shape):
        raise ValueError(f"the model expects images of shape {model.config.image_shape}, not {tuple(images.shape[1:])}")
    if not (torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1):
        raise ValueError("images must hold finite values in [0, 1]")
    log_px, elbos = log_likelihood(model, images, k, labels, batch_size, seed)  # (N,) each
    return -(log_px if score == "iwae" else elbos)


def _scores(values: torch.Tensor, what: str) -> torch.Tensor:
    values = torch.as_tensor(values)
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(f"{what} must be a non-empty vector of scores, not shape {tuple(values.shape)}")
    values = values.double()
    if torch.isnan(values).any():
        raise ValueError(f"{what} contain NaN; every input needs a score")
    return values


def auroc(scores_in: torch.Tensor, scores_out: torch.Tensor) -> float:
    r"""The area under the ROC curve for telling `scores_out` (anomalies) from `scores_in` (normal inputs).

    Exactly the Mann-Whitney probability $P(s_{\text{out}} > s_{\text{in}}) + \frac12 P(s_{\text{out}} = s_{\text{in}})$,
    from the ranks of the pooled scores (tied scores share their average rank):
    $\mathrm{AUROC} = \big(R_{\text{out}} - n_{\text{out}}(n_{\text{out}} + 1)/2\big) / (n_{\text{in}}\, n_{\text{out}})$,
    with $R_{\text{out}}$ the sum of the anomalies' ranks. Infinite scores are allowed; NaN is not.

    Args:
        scores_in: scores of normal inputs, (N_in,).
        scores_out: scores of anomalous inputs, (N_out,).
    """
    s_in, s_out = _scores(scores_in, "scores_in"), _scores(scores_out, "scores_out")
    pooled = torch.cat([s_in, s_out])  # (N_in + N_out,)
    values, inverse, counts = torch.unique(pooled, sorted=True, return_inverse=True, return_counts=True)
    # 1-based ranks: a group of c tied values after `before` smaller ones has average rank before + (c + 1) / 2
    before = torch.cumsum(counts, 0) - counts
    average_rank = before.double() + (counts.double() + 1) / 2  # (unique,)
    rank_sum_out = average_rank[inverse[s_in.numel() :]].sum().item()
    n_in, n_out = s_in.numel(), s_out.numel()
    return (rank_sum_out - n_out * (n_out + 1) / 2) / (n_in * n_out)


def roc_curve(scores_in: torch.Tensor, scores_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ROC curve: false- and true-positive rates, each (T + 1,) rising from 0 to 1.

    The first point flags nothing; then, for every distinct score t in decreasing order (T of them),
    the rates of the verdict "anomalous" when `score >= t`. The trapezoidal area under the curve
    equals [`auroc`][vae.anomaly.auroc].
    """
    s_in, s_out = _scores(scores_in, "scores_in").sort().values, _scores(scores_out, "scores_out").sort().values
    thresholds = torch.unique(torch.cat([s_in, s_out]), sorted=True).flip(0)  # (T,) decreasing

    def rate_at_or_above(sorted_scores: torch.Tensor) -> torch.Tensor:
        below = torch.searchsorted(sorted_scores, thresholds, right=False)  # how many scores are < t
        return (sorted_scores.numel() - below).double() / sorted_scores.numel()  # (T,)

    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, rate_at_or_above(s_in)]), torch.cat([zero, rate_at_or_above(s_out)])


def threshold_at_fpr(scores_in: torch.Tensor, fpr: float = 0.05) -> float:
    r"""The lowest threshold t among the normal scores with at most a fraction `fpr` of them above it.

    The verdict is "anomalous" when `score > t`. With the normal scores sorted,
    $s_{(1)} \le \dots \le s_{(n)}$, it is $t = s_{(j)}$ with $j = \lceil n (1 - \alpha) \rceil$, so at most
    $n - j \le \alpha n$ normal inputs exceed it (fewer when scores tie at t). `fpr = 0` gives the largest
    normal score: no normal input is flagged.

    Args:
        scores_in: scores of normal inputs (e.g. test digits), (N,).
        fpr: the false-positive rate α, in [0, 1).
    """
    s = _scores(scores_in, "scores_in").sort().values
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0.0 <= fpr < 1.0:
        raise ValueError(f"fpr must be a number in [0, 1), not {fpr!r}")
    n = s.numel()
    j = max(1, math.ceil(n * (1.0 - fpr) - 1e-9))  # the 1e-9 keeps n * (1 - 0.05) = 95.0000000001 at 95
    return s[j - 1].item()


__all__ = ["anomaly_scores", "auroc", "roc_curve", "threshold_at_fpr"]

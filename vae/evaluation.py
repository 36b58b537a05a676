r"""Evaluation: the average loss terms, the test ELBO and the test NLL estimated with the importance-weighted bound.

For each test image, k samples $z_i \sim q(z \mid x)$ give log weights
$\log w_i = \log p(x \mid z_i) + \log p(z_i) - \log q(z_i \mid x)$. From the same weights:

- the **ELBO** estimate is their mean, $\frac1k \sum_i \log w_i$ (unbiased);
- the **NLL** estimate is $-\log \frac1k \sum_i w_i$, an unbiased estimate of $-\mathcal L_k$, which is an
  upper bound on $-\log p(x)$ that tightens as k grows (k = 5000 is the standard protocol, Burda et al. 2016).

Both are averaged over the test images (in nats). For a Bernoulli decoder the test images are
binarized once with a fixed seed ([`binarized_test_set`][vae.data.binarized_test_set]), and the NLL
is minus the log-probability of those bits. A Gaussian decoder (`ModelConfig.likelihood`) is a
density on gray levels: it is scored on the gray levels themselves, and its NLL is minus a
log-*density* of continuous pixels, which can be negative and is not comparable with a Bernoulli
model's NLL on binarized digits ([`evaluation_images`][vae.evaluation.evaluation_images] picks the
images). See [IWAE](../theory/iwae.md) and [likelihoods](../theory/likelihoods.md).

[`average_loss`][vae.evaluation.average_loss] is the cheaper number that training records every
epoch (`test_loss`, `val_loss` in history.jsonl): the model's own loss terms with one posterior
sample per image.

**Seeds.** Every function here draws its posterior samples from its own `torch.Generator`, seeded
with `seed` (on the CPU: the same numbers on every device), never from torch's global generator:
the same call gives the same numbers, also while other threads evaluate or train.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch

from .config import ModelConfig
from .data import MNIST, binarized_test_set
from .models import VAE, EncoderDecoder
from .objectives import iwae_bound


def _generator(seed: int) -> torch.Generator:
    """The generator of one evaluation: on the CPU, so a seed gives the same draws on every device."""
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def average_loss(
    model: EncoderDecoder, images: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 1000,
    device: torch.device | str | None = None, seed: int = 0,
) -> dict[str, float]:
    """The model's loss and its terms (`loss`, `reconstruction`, `kl`), averaged over the images, in nats.

    For a VAE, the negative ELBO with one posterior sample per image (drawn with `seed`); for an
    autoencoder, its reconstruction loss (KL 0). This is what training records after every epoch as
    `test_loss` (and `val_loss` on the validation split), so it reproduces a recorded value.

    Args:
        model: a VAE or an autoencoder (in eval mode while it runs; its mode is restored).
        images: (N, C, H, W), as the model is scored ([`evaluation_images`][vae.evaluation.evaluation_images]).
        labels: (N,) digit labels, needed by a conditional model.
        batch_size: images per forward pass.
        device: where to compute (default: the model's device).
        seed: seeds the posterior samples.
    """
    device = next(model.parameters()).device if device is None else torch.device(device)
    generator = _generator(seed)
    was_training = model.training
    model.eval()
    totals = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0}
    try:
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device) if model.config.is_conditional else None
            terms = model(x, y, generator=generator) if isinstance(model, VAE) else model(x, y)
            n = x.shape[0]
            totals["loss"] += terms.loss.item() * n
            totals["reconstruction"] += terms.reconstruction.item() * n
            totals["kl"] += terms.kl.item() * n
    finally:
        model.train(was_training)
    return {k: v / images.shape[0] for k, v in totals.items()}


MAX_HELD_WEIGHTS = 2**22
"""The most log weights [`log_likelihood`][vae.evaluation.log_likelihood] holds per batch (16 MB of float32)
before it reduces them to running sums: above it, memory no longer grows with k."""


def _log_weight_chunks(
    model: VAE, x: torch.Tensor, k: int, y: torch.Tensor | None, max_decodes: int,
    posterior: tuple[torch.Tensor, torch.Tensor] | None, generator: torch.Generator | None,
) -> Iterator[torch.Tensor]:
    """The k log weights per image in chunks of at most `max_decodes` decoded images, each (B, k_chunk)."""
    chunk = max(1, max_decodes // x.shape[0])
    for done in range(0, k, chunk):
        yield model.log_importance_weights(x, min(chunk, k - done), y, posterior, generator)


@torch.no_grad()
def chunked_log_weights(
    model: VAE, x: torch.Tensor, k: int, y: torch.Tensor | None = None, max_decodes: int = 25_000,
    posterior: tuple[torch.Tensor, torch.Tensor] | None = None, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """log w for k samples per image, computed in chunks of at most `max_decodes` decoded images.

    [`VAE.log_importance_weights`][vae.models.VAE.log_importance_weights] with bounded memory for the
    decoding: it stays below `max_decodes` images whatever k is, so k = 5000 fits in a few hundred MB
    (the result itself is B x k numbers; [`log_likelihood`][vae.evaluation.log_likelihood] does not
    keep them all for a large k). `posterior`: an optional Gaussian proposal (mu, logvar), as there.
    `generator` draws the samples (None: torch's global generator). Shapes: x (B, C, H, W) -> (B, k).
    """
    return torch.cat(list(_log_weight_chunks(model, x, k, y, max_decodes, posterior, generator)), dim=1)  # (B, k)


def _reduced(held: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$\log \sum_i w_i$ and $\sum_i \log w_i$ over chunks of log weights, (B, k_j) each -> (B,), (B,)."""
    log_w = torch.cat(held, dim=1)
    return torch.logsumexp(log_w, dim=1), log_w.sum(1)


@torch.no_grad()
def streamed_bounds(
    model: VAE, x: torch.Tensor, k: int, y: torch.Tensor | None = None, max_decodes: int = 25_000,
    posterior: tuple[torch.Tensor, torch.Tensor] | None = None, generator: torch.Generator | None = None,
    max_held: int = MAX_HELD_WEIGHTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The IWAE bound and the ELBO of k samples per image, in memory that does not grow with k: x (B, ...) -> (B,), (B,).

    The log weights come in chunks as from [`chunked_log_weights`][vae.evaluation.chunked_log_weights].
    While at most `max_held` are held they are kept, and the results are exactly
    [`iwae_bound`][vae.objectives.iwae_bound] and the mean of all k (every k up to `max_held / B`,
    k = 5000 among them). Beyond, the held weights are reduced to a running
    $\log \sum_i w_i$ (combined with `logaddexp`) and $\sum_i \log w_i$, giving
    $\log \frac1k \sum_i w_i$ and $\frac1k \sum_i \log w_i$ up to float rounding.
    """
    held: list[torch.Tensor] = []
    log_sum: torch.Tensor | None = None  # log sum_i w_i of the reduced chunks, (B,)
    total: torch.Tensor | None = None  # sum_i log w_i of the reduced chunks, (B,)
    for part in _log_weight_chunks(model, x, k, y, max_decodes, posterior, generator):
        held.append(part)
        if sum(h.numel() for h in held) > max_held:
            lse, part_total = _reduced(held)
            log_sum = lse if log_sum is None else torch.logaddexp(log_sum, lse)
            total = part_total if total is None else total + part_total
            held = []
    if log_sum is None or total is None:  # everything held: the bound of all k at once
        log_w = torch.cat(held, dim=1)  # (B, k)
        return iwae_bound(log_w), log_w.mean(dim=1)
    if held:
        lse, part_total = _reduced(held)
        log_sum, total = torch.logaddexp(log_sum, lse), total + part_total
    return log_sum - math.log(k), total / k


class LikelihoodEstimates(NamedTuple):
    r"""Per-image estimates from the same k importance samples, each of shape (N,), in nats.

    A named tuple: `log_px, elbo = vae.log_likelihood(...)` unpacks it.

    Attributes:
        log_px: an unbiased estimate of the IWAE bound $\mathcal L_k$, which is below log p(x) (minus the NLL).
        elbo: the ELBO, the mean of the k log weights.
    """

    log_px: torch.Tensor
    elbo: torch.Tensor


@torch.no_grad()
def log_likelihood(
    model: VAE, images: torch.Tensor, k: int = 5000, labels: torch.Tensor | None = None, batch_size: int = 10,
    seed: int = 0, progress: bool = False, posterior: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> LikelihoodEstimates:
    """Per-image IWAE estimate of log p(x) and ELBO estimate, each of shape (N,).

    Args:
        model: a VAE or conditional VAE (labels needed for the latter).
        images: the images to score (N, C, H, W): binarized for a Bernoulli decoder, gray levels for a
            Gaussian one ([`evaluation_images`][vae.evaluation.evaluation_images]).
        k: importance samples per image.
        labels: (N,) digit labels for a conditional model.
        batch_size: images per batch (memory is bounded by chunking k regardless, and does not grow with k:
            [`streamed_bounds`][vae.evaluation.streamed_bounds]).
        seed: seeds the posterior samples, so repeated evaluations agree exactly.
        progress: show a tqdm progress bar.
        posterior: optional Gaussian proposals (mu, logvar), each (N, D), used instead of the
            encoder's (see [`VAE.log_importance_weights`][vae.models.VAE.log_importance_weights]).

    Returns:
        The estimates, on the CPU, as a [`LikelihoodEstimates`][vae.evaluation.LikelihoodEstimates] `(log_px, elbo)`.
    """
    from tqdm import tqdm  # the plain bar: tqdm.auto needs ipywidgets inside notebooks

    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}")
    conditional = model.config.is_conditional
    if conditional and (labels is None or labels.shape[0] != images.shape[0]):
        got = "no labels" if labels is None else f"{labels.shape[0]} labels"
        raise ValueError(f"a conditional model is scored with one label per image: got {got} for {images.shape[0]} images")
    model.eval()
    device = next(model.parameters()).device
    generator = _generator(seed)
    log_px, elbos = [], []
    for start in tqdm(range(0, images.shape[0], batch_size), disable=not progress, desc=f"IWAE k={k}"):
        x = images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device) if conditional else None  # the labels of these images
        proposal = None if posterior is None else tuple(p[start : start + batch_size].to(device) for p in posterior)
        bound, elbo = streamed_bounds(model, x, k, y, posterior=proposal, generator=generator)  # (B,) each
        log_px.append(bound.cpu())
        elbos.append(elbo.cpu())
    return LikelihoodEstimates(torch.cat(log_px), torch.cat(elbos))


def evaluate(
    model: VAE, images: torch.Tensor, labels: torch.Tensor | None = None, k: int = 5000, batch_size: int = 10,
    seed: int = 0, progress: bool = False,
) -> dict[str, Any]:
    """Test ELBO and NLL (nats, mean over images) with their standard errors, as a JSON-ready dict."""
    start = time.perf_counter()
    log_px, elbos = log_likelihood(model, images, k, labels, batch_size, seed, progress)
    n = images.shape[0]
    return {
        "test_elbo": elbos.mean().item(),
        "test_elbo_stderr": (elbos.std() / n**0.5).item() if n > 1 else 0.0,
        "test_nll": -log_px.mean().item(),
        "test_nll_stderr": (log_px.std() / n**0.5).item() if n > 1 else 0.0,
        "k": k,
        "num_images": n,
        "seed": seed,
        "eval_seconds": time.perf_counter() - start,
    }


def evaluation_images(config: ModelConfig, data: MNIST) -> torch.Tensor:
    """The images a model's likelihood is scored on: (N, C, H, W).

    A Bernoulli decoder: the images binarized once with the fixed seed
    ([`binarized_test_set`][vae.data.binarized_test_set]), the same bits at every evaluation. A Gaussian
    decoder: the gray levels (a density on continuous pixels, not a probability of bits).
    """
    return data.images if config.is_gaussian else binarized_test_set(data)

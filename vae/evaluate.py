r"""Test ELBO and test negative log-likelihood estimated with the importance-weighted bound.

For each test image, k samples $z_i \sim q(z \mid x)$ give log weights
$\log w_i = \log p(x \mid z_i) + \log p(z_i) - \log q(z_i \mid x)$. From the same weights:

- the **ELBO** estimate is their mean, $\frac1k \sum_i \log w_i$ (unbiased);
- the **NLL** estimate is $-\mathcal L_k = -\log \frac1k \sum_i w_i$, an upper bound on
  $-\log p(x)$ that tightens as k grows (k = 5000 is the standard protocol, Burda et al. 2016).

Both are averaged over the test images (in nats). For a Bernoulli decoder the test images are
binarized once with a fixed seed ([`binarized_test_set`][vae.data.binarized_test_set]), and the NLL
is minus the log-probability of those bits. A Gaussian decoder (`ModelConfig.likelihood`) is a
density on gray levels: it is scored on the gray levels themselves, and its NLL is minus a
log-*density* of continuous pixels, which can be negative and is not comparable with a Bernoulli
model's NLL on binarized digits ([`evaluation_images`][vae.evaluate.evaluation_images] picks the
images). See [IWAE](../theory/iwae.md) and [likelihoods](../theory/likelihoods.md).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from .config import ModelConfig
from .data import MNIST, binarized_test_set
from .models import VAE
from .objectives import iwae_bound


@torch.no_grad()
def log_importance_weights(
    model: VAE, x: torch.Tensor, k: int, y: torch.Tensor | None = None, max_decodes: int = 25_000,
    posterior: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """log w for k samples per image, computed in chunks of at most `max_decodes` decoded images.

    Memory stays bounded by `max_decodes` images whatever k is, so k = 5000 fits in a few hundred
    MB. `posterior`: an optional Gaussian proposal (mu, logvar), as in
    [`VAE.log_importance_weights`][vae.models.VAE.log_importance_weights]. Shapes: x (B, C, H, W) -> (B, k).
    """
    chunk = max(1, max_decodes // x.shape[0])
    parts = [model.log_importance_weights(x, min(chunk, k - done), y, posterior) for done in range(0, k, chunk)]
    return torch.cat(parts, dim=1)  # (B, k)


@torch.no_grad()
def log_likelihood(
    model: VAE, images: torch.Tensor, k: int = 5000, labels: torch.Tensor | None = None, batch_size: int = 10,
    seed: int = 0, progress: bool = False, posterior: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image IWAE estimate of log p(x) and ELBO estimate, each of shape (N,).

    Args:
        model: a VAE or conditional VAE (labels needed for the latter).
        images: the images to score (N, C, H, W): binarized for a Bernoulli decoder, gray levels for a
            Gaussian one ([`evaluation_images`][vae.evaluate.evaluation_images]).
        k: importance samples per image.
        labels: (N,) digit labels for a conditional model.
        batch_size: images per batch (memory is bounded by chunking k regardless).
        seed: seeds the posterior samples, so repeated evaluations agree exactly.
        progress: show a tqdm progress bar.
        posterior: optional Gaussian proposals (mu, logvar), each (N, D), used instead of the
            encoder's (see [`VAE.log_importance_weights`][vae.models.VAE.log_importance_weights]).
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
    log_px, elbos = [], []
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else None):
        torch.manual_seed(seed)
        for start in tqdm(range(0, images.shape[0], batch_size), disable=not progress, desc=f"IWAE k={k}"):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device) if conditional else None  # the labels of these images
            proposal = None if posterior is None else tuple(p[start : start + batch_size].to(device) for p in posterior)
            log_w = log_importance_weights(model, x, k, y, posterior=proposal)  # (B, k)
            log_px.append(iwae_bound(log_w).cpu())
            elbos.append(log_w.mean(dim=1).cpu())
    return torch.cat(log_px), torch.cat(elbos)


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

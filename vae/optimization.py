r"""What training minimises and how: the loss of a batch, the KL weight and learning rate of each step, the optimizer.

At step t of a run, [`train`][vae.training.train] minimises
[`training_loss`][vae.optimization.training_loss] with the KL weight
$\beta_t$ of [`kl_weight`][vae.optimization.kl_weight] (the warm-up of
[beta and KL warm-up](../theory/beta.md)), and its Adam optimizer
([`build_optimizer`][vae.optimization.build_optimizer]) steps at the learning rate of
[`learning_rate`][vae.optimization.learning_rate] for t
([`set_learning_rate`][vae.optimization.set_learning_rate]). Both schedules are functions of the
step alone, so a resumed run recomputes them: there is no scheduler state to save.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .config import TrainConfig
from .models import VAE, EncoderDecoder
from .objectives import iwae_bound


def kl_weight(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    r"""The KL weight at a step: $\beta \min(1, \text{step} / (\text{warmup\_epochs} \cdot \text{steps per epoch}))$."""
    if config.warmup_epochs <= 0:
        return config.beta
    return config.beta * min(1.0, step / (config.warmup_epochs * steps_per_epoch))


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    r"""The learning rate at a step: constant, or cosine decay from `lr` to `lr * min_lr_ratio`.

    With `lr_warmup_steps` = W > 0, that value times $\min(1, (\text{step} + 1) / W)$: a linear rise over the
    first W steps (the cosine still spans the whole run).
    """
    if config.lr_schedule == "constant":
        lr = config.lr
    else:
        progress = min(1.0, step / max(1, total_steps))
        floor = config.lr * config.min_lr_ratio
        lr = floor + 0.5 * (config.lr - floor) * (1.0 + math.cos(math.pi * progress))
    if config.lr_warmup_steps > 0:
        lr *= min(1.0, (step + 1) / config.lr_warmup_steps)
    return lr


def training_loss(
    model: EncoderDecoder, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, beta: float,
) -> dict[str, torch.Tensor]:
    r"""The loss to minimise on one batch, with its terms, each averaged over the batch.

    - `objective="elbo"`: $w \cdot \text{reconstruction} + \beta \cdot \mathrm{KL}$, the negative
      ELBO for $w$ = `reconstruction_weight` = 1 (terms `loss`, `reconstruction`, `kl`); an
      autoencoder's is its reconstruction term ($\mathrm{KL} = 0$);
    - `objective="iwae"`: minus the k-sample bound (terms `loss`, `iwae`), its gradient the bound's
      own or, with `iwae_gradient="dreg"`, the doubly reparameterized estimator
      ([`VAE.iwae_dreg_loss`][vae.models.VAE.iwae_dreg_loss]).

    The noise comes from torch's global generator; the networks run in the model's precision
    (see [`EncoderDecoder.precision`][vae.models.EncoderDecoder.precision]). `y` (B,) is used by a
    conditional model only.
    """
    y = y if model.config.is_conditional else None
    if isinstance(model, VAE) and config.objective == "iwae":
        if config.iwae_gradient == "dreg":
            loss, bound = model.iwae_dreg_loss(x, config.iwae_k, y)
            return {"loss": loss, "iwae": bound.mean()}
        bound = iwae_bound(model.log_importance_weights(x, config.iwae_k, y)).mean()  # mean over the batch of the k-sample bound
        return {"loss": -bound, "iwae": bound}
    terms = model(x, y, beta=beta) if isinstance(model, VAE) else model(x, y)
    weight = config.reconstruction_weight  # 1: the (beta-)ELBO's own loss, exactly
    loss = terms.loss if weight == 1 else weight * terms.reconstruction + beta * terms.kl
    return {"loss": loss, "reconstruction": terms.reconstruction, "kl": terms.kl}


def build_optimizer(model: EncoderDecoder, config: TrainConfig) -> torch.optim.Adam:
    """The run's Adam optimizer: the networks at `lr`, a learned prior at `prior_lr`, with the config's Adam options."""
    return torch.optim.Adam(_param_groups(model, config), lr=config.lr, **_adam_options(config))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the scheduled learning rate of a step: each parameter group gets `lr` times its `lr_scale`."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)  # checkpoints before prior_lr have no scale


def _adam_options(config: TrainConfig) -> dict[str, Any]:
    """`torch.optim.Adam`'s options beyond torch's defaults: `fused=True` for `"fused"`, `betas` for another beta2."""
    options: dict[str, Any] = {"fused": True} if config.adam_implementation == "fused" else {}
    if config.adam_beta2 != 0.999:
        options["betas"] = (0.9, config.adam_beta2)
    return options


def _param_groups(model: EncoderDecoder, config: TrainConfig) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: the networks at `lr`, a learned prior at `prior_lr` (each `lr_scale` times
    the scheduled learning rate)."""
    networks = [p for name, p in model.named_parameters() if not name.startswith("prior.")]
    prior = [p for name, p in model.named_parameters() if name.startswith("prior.")]
    groups = [{"params": networks, "lr_scale": 1.0}]
    if prior:
        groups.append({"params": prior, "lr_scale": (config.prior_lr or config.lr) / config.lr})
    return groups


__all__ = [
    "build_optimizer",
    "kl_weight",
    "learning_rate",
    "set_learning_rate",
    "training_loss",
]

r"""A hierarchical VAE with two stochastic layers: a bottom-up encoder, top-down inference and generation.

**The model** (`ModelConfig(kind="hvae")`) generates top-down,

$$
p_\theta(x, z_1, z_2) = p(z_2)\; p_\theta(z_1 \mid z_2)\; p_\theta(x \mid z_1, z_2),
$$

with $z_2$ of size `latent_dim` (the top layer) and $z_1$ of size `lower_latent_dim`; $p(z_2)$ is the
prior that `prior_components` names (the standard normal or a learned mixture,
[`vae.priors`][vae.priors]), $p_\theta(z_1 \mid z_2) = \mathcal N(\mu_p(z_2), \operatorname{diag}\sigma_p^2(z_2))$
comes from a small network (widths `lower_hidden` reversed) and $p_\theta(x \mid z_1, z_2)$ is the usual
decoder and likelihood ([`vae.nets`][vae.nets]) on the two codes side by side.

**The posterior** is top-down, in the generative order (as in the hierarchical VAE of Tomczak and
Welling, 2018): one bottom-up pass gives features $h(x)$ (the encoder, widths `hidden`), from which
the top layer's posterior $q_\phi(z_2 \mid x)$ is read (widths `lower_hidden`); the lower layer's
posterior $q_\phi(z_1 \mid x, z_2)$ is a network of both $h(x)$ and the sampled $z_2$
([`LowerPosterior`][vae.hierarchical.LowerPosterior]), so $z_1$'s posterior knows what $z_2$ already
explains. The decoder reads both layers, $p_\theta(x \mid z_1, z_2)$ (so $z_2$ reaches the pixels directly
as well as through $p(z_1 \mid z_2)$, which is meant to keep the top layer from collapsing onto its prior):

$$
q_\phi(z_1, z_2 \mid x) = q_\phi(z_2 \mid x)\; q_\phi(z_1 \mid x, z_2), \qquad
p_\theta(x, z_1, z_2) = p(z_2)\; p_\theta(z_1 \mid z_2)\; p_\theta(x \mid z_1, z_2).
$$

With linear networks this family holds the exact posterior of a linear-Gaussian model (the tests
use exactly that case). A ladder posterior (a precision-weighted product of a bottom-up estimate
and $p(z_1 \mid z_2)$, Sønderby et al., 2016) was tried first: on a short pilot its bottom-up
estimates switched off and the top layer stayed close to its prior. The ladder posterior is no longer
in the code, so that pilot cannot be re-run from this repository (see
[hierarchical VAEs](../theory/hierarchical.md#posterior-collapse-of-the-upper-layer)).

**The bound.** With $z_2 \sim q(z_2 \mid x)$ and $z_1 \sim q(z_1 \mid x, z_2)$, the log importance weight is

$$
\log w = \log p(x \mid z_1, z_2) + \log p(z_1 \mid z_2) + \log p(z_2) - \log q(z_2 \mid x) - \log q(z_1 \mid x, z_2),
$$

its mean the ELBO and $\log \frac1k \sum_i w_i$ the IWAE bound. The ELBO's terms are returned separately
([`HierarchicalTerms`][vae.hierarchical.HierarchicalTerms]): the reconstruction, the top layer's
$\mathrm{KL}(q(z_2 \mid x) \,\Vert\, p(z_2))$ (closed form for the standard normal, one sample for a
mixture) and the lower layer's $\mathrm{KL}(q(z_1 \mid x, z_2) \,\Vert\, p(z_1 \mid z_2))$, in closed form at
the sampled $z_2$. With the KL weight $\beta$ (warm-up) the loss is reconstruction + $\beta$ (both KLs).

**The top layer** is what the latent tools see: `encode` gives $q(z_2 \mid x)$, `prior` is $p(z_2)$, and
`decode(z2)` decodes $z_2$ with $z_1$ at the mean of $p(z_1 \mid z_2)$, so `reconstruct`, prior samples,
interpolation and traversal work as for a one-layer VAE; `decode_lower` and `sample_images` go
through $z_1$ itself (`vae sample` draws with `sample_images`: true ancestral samples). Metropolis-within-Gibbs
imputation is refused ([`vae.impute`][vae.impute]): its ratio would need $p(x \mid z_2)$, an integral over $z_1$.
See [hierarchical VAEs](../theory/hierarchical.md).

Shape key: B batch, C, H, W image, D1 lower and D2 top latent sizes, k importance samples.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call

from . import draws
from .config import ConfigError, ModelConfig
from .models import VAE, EncoderDecoder
from .nets import _mlp
from .objectives import gaussian_kl_between, gaussian_log_density, iwae_bound
from .priors import build_prior

Tensor = torch.Tensor


class HierarchicalTerms(NamedTuple):
    """The terms of the (beta-weighted) negative ELBO of a two-layer model, each averaged over the batch, in nats.

    The first four fields are those of [`ElboTerms`][vae.objectives.ElboTerms] (`kl` is the sum of
    the layers' KL terms), so training and evaluation read them the same way.

    Attributes:
        loss: `reconstruction + beta * kl`.
        reconstruction: -log p(x | z1, z2) at the sampled codes.
        kl: `kl_z1 + kl_z2`.
        elbo: `-(reconstruction + kl)`.
        kl_z1: KL(q(z1 | x, z2) || p(z1 | z2)) at the sampled z2 (closed form).
        kl_z2: KL(q(z2 | x) || p(z2)) (closed form for the standard normal prior, one sample for a mixture).
    """

    loss: Tensor
    reconstruction: Tensor
    kl: Tensor
    elbo: Tensor
    kl_z1: Tensor
    kl_z2: Tensor


class LowerPosterior(nn.Module):
    r"""$q(z_1 \mid x, z_2)$: an MLP of the features h(x) and the code z2, h (B, F), z2 (..., B, D2) -> (..., B, 2 D1).

    Its first layer is split, $W_h \operatorname{relu}(h) + W_z z_2 + b$, so the part of h is computed once
    per image, not once per importance sample.
    """

    def __init__(self, features: int, d2: int, hidden: tuple[int, ...], d1: int) -> None:
        super().__init__()
        self.from_x = nn.Linear(features, hidden[0])
        self.from_z = nn.Linear(d2, hidden[0], bias=False)
        self.rest = nn.Sequential(nn.ReLU(), _mlp([*hidden, 2 * d1]))

    def forward(self, h: Tensor, z2: Tensor) -> Tensor:
        return self.rest(self.from_x(torch.relu(h)) + self.from_z(z2))  # (B, H) + (..., B, H) broadcast


class HierarchicalVAE(VAE):
    r"""A VAE with two stochastic layers, inferred and generated top-down (see the module's text).

    Modules: `encoder` (x -> features h, (B, hidden[-1])), `upper_posterior` (h -> q(z2 | x)),
    `lower_posterior` ((h, z2) -> q(z1 | x, z2)), `top_down` (z2 -> p(z1 | z2)), `decoder`
    ((z1, z2) side by side -> the parameters of p(x | z1, z2)), `prior` (p(z2)). Unconditional: the
    label arguments are accepted and ignored. Every method that draws takes an optional `generator`
    (None: torch's global one).
    """

    def __init__(self, config: ModelConfig, decoder_dropout: float = 0.0) -> None:
        if config.kind != "hvae":
            raise ConfigError(f"a HierarchicalVAE is built from a config of kind 'hvae', not {config.kind!r}")
        features, d1, d2 = config.hidden[-1], config.lower_latent_dim, config.latent_dim
        codes = dataclasses.replace(config, kind="vae", latent_dim=d1 + d2)  # the x <-> (z1, z2) networks
        EncoderDecoder.__init__(self, codes, features, decoder_dropout)  # encoder x -> h, decoder (z1, z2) -> x
        self.config = config
        self.upper_posterior = nn.Sequential(nn.ReLU(), _mlp([features, *config.lower_hidden, 2 * d2]))  # h -> q(z2 | x)
        self.lower_posterior = LowerPosterior(features, d2, config.lower_hidden, d1)  # (h, z2) -> q(z1 | x, z2)
        self.top_down = _mlp([d2, *reversed(config.lower_hidden), 2 * d1])  # z2 -> mu_p, logvar_p (..., 2 D1)
        self.prior = build_prior(d2, config.prior_components)

    # -- the two directions -------------------------------------------------------------------------
    def bottom_up(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The features and q(z2 | x): x (B, C, H, W) -> h (B, F), mu2, logvar2 (B, D2)."""
        h = self._run(self.encoder, x, None)  # (B, F)
        mu2, logvar2 = self._run(self.upper_posterior, h).chunk(2, dim=-1)
        return h, mu2, logvar2

    def lower_posterior_params(self, h: Tensor, z2: Tensor, params: dict[str, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """q(z1 | x, z2): h (B, F), z2 (..., B, D2) -> mu1, logvar1 (..., B, D1). `params`: the network's parameters to use instead of its own."""
        if params is None:
            out = self._run(self.lower_posterior, h, z2)
        else:
            out = self._run(lambda a, b: functional_call(self.lower_posterior, params, (a, b)), h, z2)  # type: ignore[arg-type]
        mu, logvar = out.chunk(2, dim=-1)
        return mu, logvar

    def lower_prior(self, z2: Tensor) -> tuple[Tensor, Tensor]:
        """p(z1 | z2): z2 (..., D2) -> mu_p, logvar_p (..., D1)."""
        mu, logvar = self._run(self.top_down, z2).chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The top layer's posterior q(z2 | x): x (B, C, H, W) -> mu, logvar (B, D2)."""
        _, mu2, logvar2 = self.bottom_up(x)
        return mu2, logvar2

    def decode_lower(self, z1: Tensor, z2: Tensor) -> Tensor:
        """The decoder's output (logits or means) at both codes: z1 (B, D1), z2 (B, D2) -> (B, C, H, W)."""
        return self._run(self.decoder, torch.cat([z1, z2], dim=-1), None)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """The decoder's output at top-layer codes z2, with z1 at the mean of p(z1 | z2): (B, D2) -> (B, C, H, W)."""
        return self.decode_lower(self.lower_prior(z)[0], z)

    @torch.no_grad()
    def sample_images(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Ancestral samples shown as decoder means: z2 ~ p(z2), z1 ~ p(z1 | z2) (spread times `temperature`): -> (n, C, H, W)."""
        return self.sample_lower(self.prior.sample(n, temperature, generator), temperature, generator)

    @torch.no_grad()
    def sample_lower(self, z2: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Decoder means at given top codes z2 (n, D2) and lower codes z1 ~ p(z1 | z2) (spread times `temperature`): -> (n, C, H, W).

        Repeating one top code shows what the lower layer alone varies.
        """
        mu, logvar = self.lower_prior(z2)  # (n, D1)
        eps = draws.randn(mu.shape, mu, generator)
        return self.likelihood.mean(self.decode_lower(mu + temperature * (0.5 * logvar).exp() * eps, z2))

    @torch.no_grad()
    def sample_rows(self, rows: int, draws: int, generator: torch.Generator | None = None) -> Tensor:
        """What each layer holds: `rows` top codes z2 ~ p(z2), each decoded with z1 at the mean of p(z1 | z2) and then
        with `draws` lower codes z1 ~ p(z1 | z2): -> (rows, 1 + draws, C, H, W) decoder means.

        What stays along a row is the top layer's; what changes is the lower layer's.
        """
        if draws < 1:
            raise ValueError(f"draws must be at least 1, not {draws}")
        z2 = self.prior.sample(rows, 1.0, generator)  # (R, D2)
        mean = self.likelihood.mean(self.decode(z2))  # (R, C, H, W): z1 at the mean of p(z1 | z2)
        drawn = self.sample_lower(z2.repeat_interleave(draws, 0), 1.0, generator)  # (R * draws, C, H, W)
        return torch.cat([mean[:, None], drawn.view(rows, draws, *mean.shape[1:])], 1)

    # -- the bounds -----------------------------------------------------------------------------------
    def forward(
        self, x: Tensor, y: Tensor | None = None, beta: float = 1.0, target: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> HierarchicalTerms:
        """Negative ELBO terms with each layer's KL, averaged over the batch (see [`HierarchicalTerms`][vae.hierarchical.HierarchicalTerms]).

        Args:
            x: input images (B, C, H, W) in [0, 1].
            y: ignored (the model is unconditional).
            beta: weight of both KL terms in `loss`.
            target: what the decoder must reproduce (defaults to x).
            generator: draws z2, then z1 (None: torch's global generator).
        """
        h, mu2, logvar2 = self.bottom_up(x)
        z2 = self.reparameterize(mu2, logvar2, generator)  # (B, D2)
        mu1, logvar1 = self.lower_posterior_params(h, z2)  # q(z1 | x, z2), (B, D1)
        z1 = self.reparameterize(mu1, logvar1, generator)  # (B, D1)
        mu_p, logvar_p = self.lower_prior(z2)  # (B, D1)
        reconstruction = -self.log_px(x if target is None else target, self.decode_lower(z1, z2))  # (B,)
        kl_z1 = gaussian_kl_between(mu1, logvar1, mu_p, logvar_p)  # (B,) closed form given z2
        kl_z2 = self.prior.kl(z2, mu2, logvar2)  # (B,)
        kl = kl_z1 + kl_z2
        # -ELBO = -log p(x | z1, z2) + KL_1 + KL_2; beta weighs both KL terms (warm-up), the elbo field never
        return HierarchicalTerms((reconstruction + beta * kl).mean(), reconstruction.mean(), kl.mean(),
                                 -(reconstruction + kl).mean(), kl_z1.mean(), kl_z2.mean())

    def _log_weights_and_codes(
        self, x: Tensor, k: int, generator: torch.Generator | None, dreg: bool = False,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        r"""log w for k samples (z2, z1) ~ q per image, and the codes z1 (k, B, D1), z2 (k, B, D2) that log w reads.

        With `dreg`, the densities of q are evaluated with q's parameters held fixed (detached, and
        `lower_posterior`'s through a detached copy) but differentiable in the codes, and the codes
        that log w reads are copies of the sampled ones: a gradient hook on a copy reaches the
        sampler once, while the sampler of z1 reads the sampled z2 itself. Every path from log w back
        to the posterior's parameters then crosses exactly one hook, as DReG needs.
        Shapes: x (B, C, H, W) -> log w (B, k).
        """
        h, mu2, logvar2 = self.bottom_up(x)
        z2_drawn = self.reparameterize(mu2.expand(k, *mu2.shape), logvar2.expand(k, *logvar2.shape), generator)  # (k, B, D2)
        mu1, logvar1 = self.lower_posterior_params(h, z2_drawn)  # q(z1 | x, z2), (k, B, D1)
        z1_drawn = self.reparameterize(mu1, logvar1, generator)  # (k, B, D1)
        if dreg:
            z2, z1 = z2_drawn.clone(), z1_drawn.clone()
            fixed = {name: p.detach() for name, p in self.lower_posterior.named_parameters()}
            mu1, logvar1 = self.lower_posterior_params(h.detach(), z2, fixed)
            mu2, logvar2 = mu2.detach(), logvar2.detach()
        else:
            z2, z1 = z2_drawn, z1_drawn
        mu_p, logvar_p = self.lower_prior(z2)  # (k, B, D1)
        output = self.decode_lower(z1.flatten(0, 1), z2.flatten(0, 1))  # (k*B, C, H, W)
        log_px = self.log_px(x.expand(k, *x.shape).flatten(0, 1), output).view(k, -1)  # (k, B)
        log_p = log_px + gaussian_log_density(z1, mu_p, logvar_p) + self.prior.log_prob(z2)  # log p(x, z1, z2)
        log_q = gaussian_log_density(z2, mu2, logvar2) + gaussian_log_density(z1, mu1, logvar1)  # log q(z2, z1 | x)
        return (log_p - log_q).T, (z1, z2)  # (B, k)

    def log_importance_weights(
        self, x: Tensor, k: int, y: Tensor | None = None, posterior: tuple[Tensor, Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r"""log w_i = log p(x, z1_i, z2_i) - log q(z2_i | x) - log q(z1_i | x, z2_i) for k samples: x (B, C, H, W) -> (B, k).

        The weights of the module's bound; callers evaluating large k split k into chunks
        ([`chunked_log_weights`][vae.evaluation.chunked_log_weights]). `posterior` is refused: the
        proposal here is the two-layer q, not one Gaussian.
        """
        if posterior is not None:
            raise ValueError("a hierarchical VAE's proposal is q(z2 | x) q(z1 | x, z2), not one Gaussian: "
                             "a posterior (mu, logvar) applies to one-layer models only")
        return self._log_weights_and_codes(x, k, generator)[0]

    def iwae_dreg_loss(
        self, x: Tensor, k: int, y: Tensor | None = None, generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        r"""A loss whose gradient is the DReG estimator of the IWAE bound's gradient, for both layers.

        As [`VAE.iwae_dreg_loss`][vae.models.VAE.iwae_dreg_loss]: the model's parameters (the
        decoder, `top_down` and the prior) receive $\sum_i \tilde w_i \nabla_\theta \log w_i$; every path
        through the codes to the posterior's parameters (the encoder and both posterior networks)
        receives $\tilde w_i^2$ times its path derivative, with $\log q$ evaluated at fixed parameters.
        Returns minus the batch's mean bound (the value) and the bound per image (B,), without gradient.
        """
        log_w, codes = self._log_weights_and_codes(x, k, generator, dreg=True)  # (B, k)
        weights = torch.softmax(log_w.detach(), dim=1)  # (B, k) normalised importance weights
        for z in codes:  # one more factor of the weight on each path into the sampler
            if z.requires_grad:
                z.register_hook(lambda grad: grad * weights.T.unsqueeze(-1))
        surrogate = -(weights * log_w).sum(1).mean()
        bound = iwae_bound(log_w.detach())  # (B,)
        return surrogate - surrogate.detach() - bound.mean(), bound


__all__ = ["HierarchicalTerms", "HierarchicalVAE", "LowerPosterior"]

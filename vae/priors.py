r"""Priors p(z): the fixed standard normal, and a learned mixture of Gaussians.

Both have one interface: `log_prob(z)`, `sample(n, temperature, generator)` and `kl(z, mu, logvar)`,
the KL term of the ELBO. [`build_prior`][vae.priors.build_prior] picks one from
`ModelConfig.prior_components` (0: the standard normal).

Why learn the prior? For a fixed encoder and decoder the prior that maximises the average **ELBO**
over the data is the *aggregate posterior* $q(z) = \frac1n \sum_i q_\phi(z \mid x_i)$, the average of
the encoder's posteriors of all the training images: the prior enters the average ELBO only through
$-\mathrm{KL}(q(z) \,\Vert\, p(z))$, so whatever separates $\mathcal N(0, I)$ from $q(z)$ is lost from
the bound. (It is not, in general, the prior that maximises the average log-likelihood.) A mixture of
K diagonal Gaussians, trained with the rest of the model, moves towards it. See
[learned priors](../theory/priors.md).
"""

from __future__ import annotations


import torch
from torch import nn

from .draws import draw_device
from .objectives import LOG_2PI, gaussian_kl, gaussian_log_density


def check_sampling(n: int, temperature: float) -> None:
    """Refuse a sample count below 1 or a negative (or NaN) temperature."""
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, not {temperature}")


class StandardNormalPrior(nn.Module):
    r"""The fixed prior $p(z) = \mathcal N(0, I)$. It has no parameters."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        # no parameters, so an empty buffer records the device the prior was moved to (not saved in the weights)
        self.register_buffer("_device_anchor", torch.empty(0), persistent=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z): (..., D) -> (...)."""
        return gaussian_log_density(z)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes z = temperature * eps: -> (n, D) (as [`sample_prior`][vae.latent.sample_prior]).

        The codes are on the prior's device; a `generator` on another device (e.g. a CPU generator for a prior
        on a GPU) draws on its own device, so a seed gives the same codes wherever the prior lives.
        """
        check_sampling(n, temperature)
        device = self._device_anchor.device
        eps = torch.randn(n, self.latent_dim, generator=generator, device=draw_device(device, generator))  # (n, D)
        return temperature * eps.to(device)

    def kl(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) in closed form ([`gaussian_kl`][vae.objectives.gaussian_kl]); z is not needed. (B, D) -> (B,)."""
        return gaussian_kl(mu, logvar)


class MixturePrior(nn.Module):
    r"""A learned mixture of K diagonal Gaussians, $p(z) = \sum_k \pi_k\, \mathcal N(z; m_k, \operatorname{diag} s_k^2)$.

    The means start as small random vectors (scale `init_scale`), the variances at 1 and the weights
    equal, so a new mixture is close to $\mathcal N(0, I)$ and a model fine-tuned from one with the
    standard prior starts where that model ended. There is no closed-form KL from a Gaussian
    posterior to a mixture, so `kl` is the one-sample estimate $\log q(z \mid x) - \log p(z)$ at the
    reparameterized z (unbiased, and differentiable in every parameter).

    Attributes:
        means: $m_k$, shape (K, D).
        logvars: $\log s_k^2$, shape (K, D).
        logits: unnormalised log-weights, $\pi = \operatorname{softmax}$(logits), shape (K,).
    """

    def __init__(self, latent_dim: int, components: int, init_scale: float = 0.3) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.means = nn.Parameter(init_scale * torch.randn(components, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def component_log_probs(self, z: torch.Tensor) -> torch.Tensor:
        r"""$\log \mathcal N(z; m_k, s_k^2)$ for every component: (..., D) -> (..., K).

        Expanded as $-\tfrac12\big(\sum_j z_j^2/s_{kj}^2 - 2\sum_j z_j m_{kj}/s_{kj}^2 + c_k\big)$, two matrix
        products, so memory grows with K rather than with K * D per point.
        """
        precision = (-self.logvars).exp()  # 1 / s^2, (K, D)
        const = (self.means.pow(2) * precision + self.logvars).sum(-1) + self.latent_dim * LOG_2PI  # (K,)
        return -0.5 * (z.pow(2) @ precision.T - 2 * z @ (self.means * precision).T + const)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = logsumexp_k (log pi_k + log N(z; m_k, s_k^2)): (..., D) -> (...)."""
        return torch.logsumexp(self.component_log_probs(z) + self.logits.log_softmax(0), dim=-1)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes: a component k ~ pi, then z = m_k + temperature * s_k * eps: -> (n, D).

        The temperature scales each component's spread, not the means: at 0 the samples are the means.
        The codes are on the prior's device. A `generator` on another device (e.g. a CPU generator for a
        prior on a GPU) makes both draws, the components and the noise, on its own device (the K weights
        are copied there) and they are then moved: a seed gives the same codes wherever the prior lives.
        """
        check_sampling(n, temperature)
        device = self.means.device
        source = draw_device(device, generator)
        with torch.no_grad():
            weights = self.logits.to(source).softmax(0)  # (K,) on the generator's device
            k = torch.multinomial(weights, n, replacement=True, generator=generator).to(device)  # (n,)
            eps = torch.randn(n, self.latent_dim, generator=generator, device=source).to(device)  # (n, D)
            return self.means[k] + temperature * (0.5 * self.logvars[k]).exp() * eps

    def kl(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """One-sample estimate of KL(q(z|x) || p(z)): log q(z|x) - log p(z) at z ~ q. (B, D) -> (B,)."""
        return gaussian_log_density(z, mu, logvar) - self.log_prob(z)


def build_prior(latent_dim: int, components: int) -> StandardNormalPrior | MixturePrior:
    """The standard normal for `components == 0`, else a learned mixture of that many Gaussians."""
    return StandardNormalPrior(latent_dim) if components == 0 else MixturePrior(latent_dim, components)


__all__ = ["MixturePrior", "StandardNormalPrior", "build_prior"]

r"""How well does the inference network do? Active units and the two parts of the ELBO gap.

**Active units** (Burda et al., 2016, section 5.2). A latent dimension $j$ is *active* when the
posterior mean moves with the image,

$$
A_j = \operatorname{Var}_{x}\big(\mathbb E_{q_\phi(z \mid x)}[z_j]\big) > 0.01 ;
$$

a dimension whose posterior mean is the same for every image tells the decoder nothing, whatever its
variance: its posterior has collapsed onto one distribution for all the data
([`posterior_statistics`][vae.diagnostics.posterior_statistics], [`prior_variance`][vae.diagnostics.prior_variance]).

**The ELBO gap** (Cremer et al., 2018). With $q^\ast$ the best Gaussian for one image alone,

$$
\log p_\theta(x) - \mathcal L(x; q_\phi)
= \underbrace{\log p_\theta(x) - \mathcal L(x; q^\ast)}_{\text{approximation gap}}
+ \underbrace{\mathcal L(x; q^\ast) - \mathcal L(x; q_\phi)}_{\text{amortization gap}} .
$$

[`gaussian_elbo`][vae.diagnostics.gaussian_elbo] is $\mathcal L(x; \mathcal N(\mu, \operatorname{diag}\sigma^2))$ for any
per-image Gaussian, [`optimise_posteriors`][vae.diagnostics.optimise_posteriors] fits $q^\ast$ image by image,
and for a 2-D model [`quadrature_log_px`][vae.diagnostics.quadrature_log_px] gives $\log p_\theta(x)$ itself by a
Riemann sum (larger latent spaces use the IWAE bound, [`log_likelihood`][vae.evaluation.log_likelihood]).
`benchmarks/active_units.py` and `benchmarks/elbo_gap.py` measure the shipped models with these functions;
the theory page on posterior collapse shows the results.
"""

from __future__ import annotations

import math

import torch

from . import draws
from .models import VAE
from .priors import MixturePrior

ACTIVE_THRESHOLD = 0.01  # Burda et al. (2016)


def posterior_statistics(model: VAE, images: torch.Tensor, labels: torch.Tensor | None = None,
                         batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$\operatorname{Var}_x \mu_j(x)$ and $\mathbb E_x \sigma_j^2(x)$ over `images`: (N, C, H, W) -> (D,), (D,).

    The variance is the population variance over the N images (divided by N), in float64; `labels` (N,)
    for a conditional model. A dimension is active when the first exceeds `ACTIVE_THRESHOLD`.
    """
    mus, variances = [], []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            y = None if labels is None else labels[start : start + batch_size]
            mu, logvar = model.encode(images[start : start + batch_size], y)  # (b, D) each
            mus.append(mu.double())
            variances.append(logvar.double().exp())
    mu, var = torch.cat(mus), torch.cat(variances)  # (N, D) each
    return mu.var(dim=0, unbiased=False), var.mean(dim=0)


def prior_variance(model: VAE) -> torch.Tensor:
    r"""The variance of the prior $p(z)$ along each latent dimension, float64: (D,).

    1 for the standard normal; for a mixture, by the law of total variance,
    $\sum_k \pi_k (s_{kj}^2 + m_{kj}^2) - (\sum_k \pi_k m_{kj})^2$. A collapsed dimension's posterior is
    close to the prior, so its mean posterior variance is close to this.
    """
    prior = model.prior
    if not isinstance(prior, MixturePrior):
        return torch.ones(model.config.latent_dim, dtype=torch.float64)
    with torch.no_grad():
        pi = prior.logits.double().softmax(0)[:, None]  # (K, 1)
        means, variances = prior.means.double(), prior.logvars.double().exp()  # (K, D) each
        mean = (pi * means).sum(0)  # (D,)
        return (pi * (variances + means.pow(2))).sum(0) - mean.pow(2)


def gaussian_elbo(model: VAE, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, samples: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    r"""$\mathcal L(x; \mathcal N(\mu, \operatorname{diag} e^{\text{logvar}}))$, averaged over `samples` draws: (B,).

    $\mathbb E_q[\log p_\theta(x \mid z)] - \mathrm{KL}(q \,\Vert\, p)$ with the model's own likelihood and its prior's
    KL (closed form for the standard normal, the one-sample estimate for a mixture). Differentiable in mu and
    logvar (reparameterized); x (B, C, H, W), mu and logvar (B, D). Unconditional models only.
    """
    eps = draws.randn((samples, *mu.shape), mu, generator)  # (S, B, D)
    z = mu + (0.5 * logvar).exp() * eps  # (S, B, D)
    output = model.decode(z.flatten(0, 1))  # (S*B, C, H, W)
    log_px = model.log_px(x.expand(samples, *x.shape).flatten(0, 1), output).view(samples, -1)  # (S, B)
    kl = torch.stack([model.prior.kl(z[s], mu, logvar) for s in range(samples)])  # (S, B)
    return (log_px - kl).mean(dim=0)


def optimise_posteriors(model: VAE, x: torch.Tensor, steps: int, samples: int, lr: float, seed: int = 0,
                        start: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The best Gaussian per image: (mu, logvar), each (B, D), by Adam on each image's ELBO.

    Starts at `start` (default: the encoder's posterior) and takes `steps` steps of `samples`
    reparameterized draws, the learning rate decayed from `lr` to `lr` / 50 on a cosine; the decoder and
    the prior stay fixed (the model's parameters are left as they were, gradients included). A local
    optimum or an early stop only under-estimates the amortization gap.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mu, logvar = model.encode(x) if start is None else start
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.requires_grad_(False)  # only the posteriors move
    try:
        for step in range(steps):
            for group in optimizer.param_groups:  # cosine decay from lr to lr / 50
                group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / steps)))
            loss = -gaussian_elbo(model, x, mu, logvar, samples, generator).sum()  # images are independent
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        for p in trainable:
            p.requires_grad_(True)
    return mu.detach(), logvar.detach()


def _check_2d(model: VAE, what: str) -> None:
    if model.config.latent_dim != 2:
        raise ValueError(f"{what} needs a 2-D latent space; this model has {model.config.latent_dim} dimensions")


def coarse_modes(model: VAE, x: torch.Tensor, points: int = 64, span: float = 4.0) -> torch.Tensor:
    r"""For a 2-D model: the point of a coarse grid over $[-\text{span}, \text{span}]^2$ with the largest $p_\theta(x, z)$: (B, 2).

    A second starting point for [`optimise_posteriors`][vae.diagnostics.optimise_posteriors], in case the
    encoder put the image near a lesser mode of its posterior (a local optimisation would stay there).
    """
    _check_2d(model, "coarse_modes")
    a = torch.linspace(-span, span, points)
    z1, z2 = torch.meshgrid(a, a, indexing="ij")
    zz = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (points^2, 2)
    with torch.no_grad():
        output = model.decode(zz)  # (points^2, C, H, W), shared by every image
        log_pz = model.prior.log_prob(zz)  # (points^2,)
        best = [zz[(model.log_px(image.expand(len(zz), -1, -1, -1), output) + log_pz).argmax()] for image in x]
    return torch.stack(best)


def quadrature_log_px(model: VAE, x: torch.Tensor, posteriors: list[tuple[torch.Tensor, torch.Tensor]],
                      span: float = 8.0, cells_per_sd: float = 2.5, max_points: int = 400) -> torch.Tensor:
    r"""$\log p_\theta(x)$ of a 2-D model by a Riemann sum of $p_\theta(x, z)$ on a grid: (B,).

    $$
    \log p_\theta(x) \approx \log \sum_{g} p_\theta(x \mid z_g)\, p(z_g)\, \Delta_1 \Delta_2 .
    $$

    Per image and axis the grid spans every given posterior (mu, logvar), each (B, 2), to +-`span` of its
    standard deviations, with cells of 1/`cells_per_sd` of the smallest of those standard deviations (at
    most `max_points` per axis). Mass outside every box is missed, so the sum is a lower estimate.
    """
    _check_2d(model, "quadrature_log_px")
    out = []
    with torch.no_grad():
        mus = torch.stack([mu for mu, _ in posteriors])  # (P, B, 2)
        sds = torch.stack([(0.5 * logvar).exp() for _, logvar in posteriors])  # (P, B, 2)
        lo = (mus - span * sds).amin(dim=0)  # (B, 2)
        hi = (mus + span * sds).amax(dim=0)
        step = sds.amin(dim=0) / cells_per_sd  # (B, 2)
        for i, image in enumerate(x):
            counts = ((hi[i] - lo[i]) / step[i]).ceil().clamp(max=max_points).long() + 1
            g1, g2 = torch.linspace(lo[i, 0], hi[i, 0], counts[0]), torch.linspace(lo[i, 1], hi[i, 1], counts[1])
            z1, z2 = torch.meshgrid(g1, g2, indexing="ij")
            zz = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (n1 * n2, 2)
            cell = (g1[1] - g1[0]).double() * (g2[1] - g2[0]).double()
            log_joint = torch.cat([
                model.log_px(image.expand(len(chunk), -1, -1, -1), model.decode(chunk)) + model.prior.log_prob(chunk)
                for chunk in zz.split(20_000)
            ])
            out.append(torch.logsumexp(log_joint.double(), dim=0) + cell.log())
    return torch.stack(out).float()

r"""Latent-space operations: interpolation, traversal, the manifold grid and prior sampling.

All functions work on latent codes (B, D) and return codes; decode them with
[`decode`][vae.models.EncoderDecoder.decode] (or [`decode_images`][vae.latent.decode_images] for pixel
probabilities).
"""

from __future__ import annotations

import torch

from .draws import draw_device
from .models import EncoderDecoder
from .priors import check_sampling


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    r"""Linear interpolation $z_t = (1 - t) z_0 + t z_1$ at `steps` evenly spaced t in [0, 1].

    Shapes: z0, z1 (D,) -> (steps, D); the first row is z0 and the last is z1.
    """
    _check_steps(steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device).unsqueeze(1)  # (steps, 1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int, eps: float = 1e-7) -> torch.Tensor:
    r"""Spherical interpolation along the great circle between z0 and z1.

    $$
    z_t = \frac{\sin((1 - t)\Omega)}{\sin \Omega} z_0 + \frac{\sin(t\Omega)}{\sin \Omega} z_1,
    \qquad \cos \Omega = \frac{z_0 \cdot z_1}{\lVert z_0 \rVert \lVert z_1 \rVert}
    $$

    Under a standard Gaussian prior in D dimensions almost all mass lies near the sphere of radius
    sqrt(D); a straight line between two typical codes passes closer to the origin, through codes
    the decoder rarely saw. The spherical path keeps the norm constant when z0 and z1 have equal
    norms; when they differ, its norm varies along the way (and can leave the range between the
    two). Falls back to
    [`lerp`][vae.latent.lerp] when the two directions are (anti)parallel.

    Shapes: z0, z1 (D,) -> (steps, D); the first row is z0 and the last is z1.
    """
    _check_steps(steps)
    u0, u1 = z0 / z0.norm().clamp_min(eps), z1 / z1.norm().clamp_min(eps)  # unit directions
    # Omega = 2 atan2(|u0 - u1|, |u0 + u1|): accurate near 0 and pi, where arccos of the cosine is not
    # (in float32 arccos(1 - 6e-8) is already 3e-4, so (anti)parallel codes would miss the fallback).
    omega = 2 * torch.atan2((u0 - u1).norm(), (u0 + u1).norm())
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:
        return lerp(z0, z1, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device).unsqueeze(1)  # (steps, 1)
    out = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
    out[0], out[-1] = z0, z1  # exact endpoints
    return out


def traverse(z: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Copies of z with dimension `dim` set to each of `values`: z (D,), values (S,) -> (S, D)."""
    if not 0 <= dim < z.shape[-1]:
        raise ValueError(f"dimension {dim} is out of range: the code has {z.shape[-1]} dimensions (0 to {z.shape[-1] - 1})")
    out = z.expand(values.shape[0], -1).clone()  # (S, D)
    out[:, dim] = values
    return out


def manifold_grid(n: int, low: float = 0.05, high: float = 0.95, device: torch.device | str | None = None) -> torch.Tensor:
    r"""An n x n grid of 2-D codes through the inverse CDF of the standard normal.

    Evenly spaced probabilities $u \in [\text{low}, \text{high}]$ are mapped to $z = \Phi^{-1}(u)$,
    so each cell covers equal prior mass (Kingma & Welling 2014, figure 4). Rows go from high z2
    (top) to low z2, columns from low z1 to high z1, as in a plot.

    Returns:
        Codes of shape (n * n, 2), row-major, on `device` (default: torch's default device).
    """
    if n < 1:
        raise ValueError(f"the grid needs n >= 1, not {n}")
    if not 0.0 < low < high < 1.0:
        raise ValueError("the grid needs 0 < low < high < 1")
    u = torch.linspace(low, high, n, device=device)
    z = torch.special.ndtri(u)  # Phi^{-1}(u), shape (n,)
    z1, z2 = torch.meshgrid(z, z.flip(0), indexing="xy")  # (n, n) each; rows: z2 from high to low
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)


def sample_prior(
    n: int, latent_dim: int, temperature: float = 1.0, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""n codes from the prior scaled by a temperature: $z = \tau \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$.

    A temperature below 1 trades variety for cleaner samples. Shape: (n, latent_dim). This is the
    standard normal prior; a model's own prior, learned or not, samples with `model.prior.sample`.

    The codes are on `device` (default: the generator's device, else torch's default device). A generator
    on another device draws on its own device and the draws are moved, so a seed gives the same codes on
    every device.
    """
    check_sampling(n, temperature)
    if device is None:
        device = draw_device(torch.get_default_device(), generator)
    eps = torch.randn(n, latent_dim, generator=generator, device=draw_device(device, generator))  # (n, D)
    return temperature * eps.to(device)


@torch.no_grad()
def decode_images(model: EncoderDecoder, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Decoder means (pixel probabilities) for codes z (B, D): -> (B, C, H, W) in [0, 1]."""
    device = next(model.parameters()).device
    y = None if y is None else y.to(device)
    return model.decoder_mean(z.to(device), y).cpu()  # pixel probabilities, or a Gaussian decoder's means in [0, 1]


@torch.no_grad()
def sample_images(model: EncoderDecoder, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
                  y: torch.Tensor | None = None) -> torch.Tensor:
    """n samples from a VAE's prior, shown as decoder means: -> (n, C, H, W) in [0, 1].

    A one-layer VAE decodes z ~ p(z) (given the labels y for a conditional one); a hierarchical VAE's
    samples are ancestral, z2 ~ p(z2) and then z1 ~ p(z1 | z2)
    ([`HierarchicalVAE.sample_images`][vae.hierarchical.HierarchicalVAE.sample_images]): decoding z2 alone
    would put z1 at the mean of p(z1 | z2) and show smoother digits than the model draws. `temperature`
    scales the spread of every layer.
    """
    from .hierarchical import HierarchicalVAE  # the hierarchical model builds on the one-layer ones

    if isinstance(model, HierarchicalVAE):
        return model.sample_images(n, temperature, generator).cpu()
    return decode_images(model, model.prior.sample(n, temperature, generator), y)


def _check_steps(steps: int) -> None:
    if steps < 2:
        raise ValueError(f"interpolation needs at least 2 steps, not {steps}")

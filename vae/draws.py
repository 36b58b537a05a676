"""Where random draws are made, so that a seeded generator gives the same draws on every device.

A `torch.Generator` can only draw on its own device. Every function here draws on the generator's
device (on the tensor's own device when there is no generator) and moves the draws to where they are
used: a CPU generator serves tensors on a GPU, and a seed gives the same numbers on the CPU and on
the GPU.
"""

from __future__ import annotations

import torch


def draw_device(device: torch.device | str | None, generator: torch.Generator | None) -> torch.device:
    """Where random draws are made: on the generator's device if one is given, else on `device`."""
    return torch.device(device if generator is None else generator.device)


def randn(shape: torch.Size | tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal draws of `shape`, in `like`'s dtype and on its device."""
    eps = torch.randn(shape, generator=generator, dtype=like.dtype, device=draw_device(like.device, generator))
    return eps.to(like.device)


def rand(shape: torch.Size | tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform draws on [0, 1) of `shape`, in `like`'s dtype and on its device."""
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=draw_device(like.device, generator))
    return u.to(like.device)


def bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draws of 1 with probability p (elementwise, else 0), in p's dtype and on its device."""
    return torch.bernoulli(p.to(draw_device(p.device, generator)), generator=generator).to(p.device)

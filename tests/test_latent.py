"""Latent-space operations: interpolation, traversal, the manifold grid, prior sampling, decoding."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
import torch

from vae import ModelConfig, build_model, decode_images, lerp, manifold_grid, sample_prior, slerp, traverse


def _codes(d: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, generator=g), torch.randn(d, generator=g)


def test_lerp_endpoints_and_midpoint() -> None:
    z0, z1 = _codes()
    path = lerp(z0, z1, 5)
    assert path.shape == (5, 6)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    torch.testing.assert_close(path[2], (z0 + z1) / 2)
    steps = path[1:] - path[:-1]  # equal steps on a straight line
    torch.testing.assert_close(steps, steps[:1].expand_as(steps))


def test_slerp_endpoints_and_norms() -> None:
    z0, z1 = (z.double() for z in _codes())
    path = slerp(z0, z1, 9)
    assert path.shape == (9, 6)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    # equal-norm endpoints: every point keeps the norm, and the angle grows linearly
    z1n = z1 / z1.norm() * z0.norm()
    path = slerp(z0, z1n, 9)
    torch.testing.assert_close(path.norm(dim=1), z0.norm().expand(9))
    cos = (path @ z0) / (path.norm(dim=1) * z0.norm())
    angles = torch.arccos(cos.clamp(-1, 1))
    omega = angles[-1]
    torch.testing.assert_close(angles, torch.linspace(0, 1, 9, dtype=torch.float64) * omega, atol=1e-6, rtol=0)
    # lerp, in contrast, cuts through the inside of the sphere
    assert lerp(z0, z1n, 9).norm(dim=1)[4] < 0.99 * z0.norm()


def test_slerp_falls_back_to_lerp_for_parallel_codes() -> None:
    z0, _ = _codes()
    for z1 in (2 * z0, -z0, -3 * z0):
        path = slerp(z0, z1, 4)
        assert torch.isfinite(path).all()
        torch.testing.assert_close(path, lerp(z0, z1, 4))


def test_traverse() -> None:
    z, _ = _codes(d=4)
    values = torch.tensor([-2.0, 0.0, 3.0])
    out = traverse(z, 2, values)
    assert out.shape == (3, 4)
    assert torch.equal(out[:, 2], values)
    for j in (0, 1, 3):
        assert torch.equal(out[:, j], z[j].expand(3))
    assert torch.equal(z, _codes(d=4)[0])  # the input is not modified


def test_manifold_grid_values_and_orientation() -> None:
    n = 5
    grid = manifold_grid(n)
    assert grid.shape == (n * n, 2)
    expected = torch.tensor([NormalDist().inv_cdf(u) for u in (0.05, 0.275, 0.5, 0.725, 0.95)])
    cells = grid.view(n, n, 2)  # (row, column, [z1, z2])
    # columns: z1 from low to high; rows: z2 from high (top) to low, as in a plot
    torch.testing.assert_close(cells[0, :, 0], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(cells[:, 0, 1], expected.flip(0), atol=1e-5, rtol=0)
    assert torch.equal(cells[:, :, 0], cells[:1, :, 0].expand(n, n))  # z1 constant down a column
    assert torch.equal(cells[:, :, 1], cells[:, :1, 1].expand(n, n))  # z2 constant along a row
    assert grid[0].tolist() == pytest.approx([-1.6449, 1.6449], abs=1e-4)  # top left
    assert manifold_grid(1, 0.2, 0.8)[0].tolist() == pytest.approx([NormalDist().inv_cdf(0.2)] * 2, abs=1e-5)


def test_sample_prior_temperature() -> None:
    base = sample_prior(4000, 3, 1.0, torch.Generator().manual_seed(0))
    half = sample_prior(4000, 3, 0.5, torch.Generator().manual_seed(0))
    assert base.shape == (4000, 3)
    torch.testing.assert_close(half, 0.5 * base)
    assert torch.equal(sample_prior(5, 3, 0.0), torch.zeros(5, 3))
    assert base.std().item() == pytest.approx(1.0, abs=0.05) and base.mean().abs() < 0.05
    assert half.std().item() == pytest.approx(0.5, abs=0.03)


def test_decode_images() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=2, hidden=(16,)))
    images = decode_images(model, manifold_grid(3))
    assert images.shape == (9, 1, 28, 28) and images.min() >= 0 and images.max() <= 1 and not images.requires_grad
    cvae = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden=(16,)))
    assert decode_images(cvae, torch.zeros(2, 2), torch.tensor([1, 2])).shape == (2, 1, 28, 28)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda z0, z1: lerp(z0, z1, 1), "at least 2 steps"),
        (lambda z0, z1: slerp(z0, z1, 0), "at least 2 steps"),
        (lambda z0, z1: traverse(z0, 6, torch.zeros(2)), "out of range"),
        (lambda z0, z1: traverse(z0, -1, torch.zeros(2)), "out of range"),
        (lambda z0, z1: manifold_grid(0), "n >= 1"),
        (lambda z0, z1: manifold_grid(3, 0.0, 0.9), "0 < low < high < 1"),
        (lambda z0, z1: manifold_grid(3, 0.6, 0.4), "0 < low < high < 1"),
        (lambda z0, z1: manifold_grid(3, 0.1, 1.0), "0 < low < high < 1"),
        (lambda z0, z1: sample_prior(0, 2), "n must be >= 1"),
        (lambda z0, z1: sample_prior(3, 2, -1.0), "temperature"),
        (lambda z0, z1: sample_prior(3, 2, math.nan), "temperature"),
    ],
)
def test_bad_arguments_raise_value_error(call, message: str) -> None:
    z0, z1 = _codes()
    with pytest.raises(ValueError, match=message):
        call(z0, z1)

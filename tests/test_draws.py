"""vae.draws: random draws made on the generator's device and moved to the tensor's.

No GPU here, so the move is checked with PyTorch's "meta" device, which holds shapes but no numbers:
a draw for a meta tensor with a CPU generator must be made on the CPU (the generator's state moves on)
and arrive on the meta device. The package's callers on (fake) GPU tensors are in tests/test_devices.py.
"""

from __future__ import annotations

import pytest
import torch

from vae import draws


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", ["randn", "rand"])
def test_cpu_draws_are_torch_draws_in_the_tensors_dtype(name: str) -> None:
    like = torch.zeros(3, dtype=torch.float64)
    got = getattr(draws, name)((4, 5), like, _gen(3))
    expected = getattr(torch, name)((4, 5), generator=_gen(3), dtype=torch.float64)
    assert got.dtype == torch.float64 and torch.equal(got, expected)
    assert not torch.equal(getattr(draws, name)((4, 5), like, _gen(4)), expected)  # the seed matters


def test_bernoulli_is_torchs_bernoulli_with_the_same_generator() -> None:
    p = torch.rand(6, 7, generator=_gen(1))
    assert torch.equal(draws.bernoulli(p, _gen(2)), torch.bernoulli(p, generator=_gen(2)))
    assert set(draws.bernoulli(p, _gen(2)).unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", ["randn", "rand"])
def test_a_cpu_generator_draws_on_the_cpu_for_a_tensor_elsewhere(name: str) -> None:
    like = torch.empty(2, 3, device="meta")
    generator = _gen(0)
    before = generator.get_state()
    out = getattr(draws, name)((2, 3), like, generator)
    assert out.device.type == "meta" and out.shape == (2, 3)
    assert not torch.equal(generator.get_state(), before)  # the numbers were drawn where the generator lives


def test_without_a_generator_the_draw_is_made_where_the_tensor_is() -> None:
    assert draws.draw_device("meta", None) == torch.device("meta")
    assert draws.draw_device("meta", _gen()) == torch.device("cpu")
    assert draws.randn((2,), torch.empty(1, device="meta")).device.type == "meta"

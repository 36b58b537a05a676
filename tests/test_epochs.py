"""The epochs of a training run: the image grid each epoch draws.

The steps, the epoch records and the callback run inside `vae.train` and are tested through it in
`tests/test_train.py`; here, the grid's rows on an untrained model (no data, no training run).
"""

from __future__ import annotations

import torch

import vae
from vae import ModelConfig
from vae.epochs import grid_rows


def test_the_grid_shows_the_digits_their_reconstructions_and_samples_of_every_class_in_eval_mode() -> None:
    """A conditional model's samples cycle through the classes; dropout is off while drawing and the mode is restored."""
    torch.manual_seed(0)
    model = vae.build_model(ModelConfig(kind="cvae", latent_dim=2, hidden=(16,)), decoder_dropout=0.5)
    model.train()
    images, labels, z = torch.rand(4, 1, 28, 28), torch.tensor([3, 1, 4, 1]), torch.randn(12, 2)
    shown, recon, samples = grid_rows(model, images, labels, z)
    assert model.training  # restored
    assert shown is images and recon.shape == (4, 1, 28, 28) and samples.shape == (12, 1, 28, 28)
    again = grid_rows(model, images, labels, z)
    assert torch.equal(again[1], recon) and torch.equal(again[2], samples)  # no dropout noise
    model.eval()
    with torch.no_grad():
        cycled = model.decoder_mean(z, torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]))  # (12, 1, 28, 28)
        other = model.decoder_mean(z, torch.zeros(12, dtype=torch.long))
    torch.testing.assert_close(samples, cycled)
    assert not torch.allclose(samples, other)  # the labels matter

"""Encoder and decoder bodies shared by every model: fully connected (MLP) and convolutional.

An encoder maps an image (and optionally a condition vector, e.g. a one-hot label) to a flat vector
of `out_features`; a decoder maps a code (and the condition) to Bernoulli logits of an image. The
models in [`vae.models`][vae.models] decide what the vectors mean (mu and log-variance, or a plain
code).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import ConfigError, ModelConfig


def _mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with ReLU (then dropout, if any) between them, none after the last.

    The activation and its dropout share one slot of the sequence, so the parameter names
    (`0.weight`, `2.weight`, ...) are the same with and without dropout.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Sequential(nn.ReLU(), nn.Dropout(dropout)) if dropout > 0 else nn.ReLU())
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(relu(x)))), 3x3 convolutions keeping the shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MLPEncoder(nn.Module):
    """Flatten, concatenate the condition, then an MLP: (B, C, H, W) -> (B, out_features)."""

    def __init__(self, config: ModelConfig, out_features: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.net = _mlp([config.num_pixels + cond_dim, *config.hidden, out_features])

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)  # (B, C*H*W)
        if cond is not None:
            h = torch.cat([h, cond], dim=1)  # (B, C*H*W + cond_dim)
        return self.net(h)


class MLPDecoder(nn.Module):
    """An MLP from the code (and condition) to logits: (B, D) -> (B, C, H, W).

    `dropout` > 0 drops hidden units while training (a regulariser); it is off in `eval()` mode.
    """

    def __init__(self, config: ModelConfig, cond_dim: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.image_shape = config.image_shape
        self.net = _mlp([config.latent_dim + cond_dim, *reversed(config.hidden), config.num_pixels], dropout)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=1)  # (B, D + cond_dim)
        return self.net(z).unflatten(1, self.image_shape)  # (B, C, H, W)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions with residual blocks, then a linear head.

    (B, C, H, W) -> conv -> (B, c, H/2, W/2) -> (B, 2c, H/4, W/4) -> flatten [+ cond] -> hidden -> out.
    """

    def __init__(self, config: ModelConfig, out_features: int, cond_dim: int = 0) -> None:
        super().__init__()
        c_in, h, w = config.image_shape
        c = config.channels
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c, 4, stride=2, padding=1),  # (B, c, H/2, W/2)
            ResidualBlock(c),
            nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),  # (B, 2c, H/4, W/4)
            ResidualBlock(2 * c),
            nn.ReLU(),
        )
        flat = 2 * c * (h // 4) * (w // 4)
        self.head = _mlp([flat + cond_dim, config.hidden[-1], out_features])

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv(x).flatten(1)  # (B, 2c * H/4 * W/4)
        if cond is not None:
            h = torch.cat([h, cond], dim=1)
        return self.head(h)


class ConvDecoder(nn.Module):
    """The mirror of [`ConvEncoder`][vae.nets.ConvEncoder]: linear, then two stride-2 transposed convolutions.

    (B, D) [+ cond] -> hidden -> (B, 2c, H/4, W/4) -> (B, c, H/2, W/2) -> (B, C, H, W) logits.
    """

    def __init__(self, config: ModelConfig, cond_dim: int = 0) -> None:
        super().__init__()
        c_out, h, w = config.image_shape
        c = config.channels
        self.start = (2 * c, h // 4, w // 4)
        self.head = nn.Sequential(_mlp([config.latent_dim + cond_dim, config.hidden[-1], math.prod(self.start)]))
        self.deconv = nn.Sequential(
            ResidualBlock(2 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),  # (B, c, H/2, W/2)
            ResidualBlock(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1),  # (B, C, H, W)
        )

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        h = nn.functional.relu(self.head(z)).unflatten(1, self.start)  # (B, 2c, H/4, W/4)
        return self.deconv(h)


def build_encoder(config: ModelConfig, out_features: int, cond_dim: int = 0) -> nn.Module:
    """The encoder body named by `config.arch`."""
    cls = ConvEncoder if config.arch == "conv" else MLPEncoder
    return cls(config, out_features, cond_dim)


def build_decoder(config: ModelConfig, cond_dim: int = 0, dropout: float = 0.0) -> nn.Module:
    """The decoder body: convolutional only when both `arch` and `decoder` say `"conv"`.

    `dropout` (on the hidden layers while training) is for the MLP decoder only.
    """
    if config.arch == "conv" and config.decoder == "conv":
        if dropout > 0:
            raise ConfigError("decoder dropout applies to the MLP decoder's hidden layers; the conv decoder has none. "
                              "Use --decoder mlp or drop --decoder-dropout")
        return ConvDecoder(config, cond_dim)
    return MLPDecoder(config, cond_dim, dropout)

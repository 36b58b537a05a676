r"""Encoder and decoder bodies shared by every model (fully connected or convolutional), and the decoder's likelihood.

An encoder maps an image (and optionally a condition vector, e.g. a one-hot label) to a flat vector
of `out_features`; a decoder maps a code (and the condition) to one number per pixel: the
parameter of the decoder's distribution $p(x \mid z)$, which a likelihood object
([`BernoulliLikelihood`][vae.nets.BernoulliLikelihood] or
[`GaussianLikelihood`][vae.nets.GaussianLikelihood], chosen by `ModelConfig.likelihood`) turns into
a log-likelihood, an image and a draw. The models in [`vae.models`][vae.models] decide what the
encoder's vector means (mu and log-variance, or a plain code).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import draws
from .config import ConfigError, ModelConfig
from .objectives import bernoulli_log_likelihood, gaussian_log_likelihood


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
    """An MLP from the code (and condition) to one output per pixel (logits or means): (B, D) -> (B, C, H, W).

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

    (B, D) [+ cond] -> hidden -> (B, 2c, H/4, W/4) -> (B, c, H/2, W/2) -> (B, C, H, W) outputs (logits or means).
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


# -- the decoder's distribution p(x | z) -------------------------------------------------------------
class BernoulliLikelihood(nn.Module):
    r"""$p(x \mid z) = \prod_i \operatorname{Bernoulli}(x_i; \operatorname{sigmoid}(\ell_i))$: the decoder's outputs are logits $\ell$.

    For binary pixels (the default: training on dynamically binarized digits). It has no parameters.
    """

    def log_prob(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over pixels ([`bernoulli_log_likelihood`][vae.objectives.bernoulli_log_likelihood]): (B, C, H, W) -> (B,)."""
        return bernoulli_log_likelihood(x, output)

    def mean(self, output: torch.Tensor) -> torch.Tensor:
        """The decoder mean, the pixel probabilities sigmoid(logits), in [0, 1]: (B, C, H, W) -> (B, C, H, W)."""
        return torch.sigmoid(output)

    def sample(self, output: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw x ~ p(x | z): binary pixels, 1 with probability sigmoid(logit). Shapes as `mean`."""
        return draws.bernoulli(torch.sigmoid(output), generator)


class GaussianLikelihood(nn.Module):
    r"""$p(x \mid z) = \prod_i \mathcal N(x_i; \mu_i, \sigma^2)$: the decoder's outputs are the means $\mu$, one $\sigma$ for all pixels.

    $$
    \log p(x \mid z) = -\frac{\lVert x - \mu \rVert^2}{2\sigma^2} - \frac N2 \log(2\pi\sigma^2)
    $$

    ([`gaussian_log_likelihood`][vae.objectives.gaussian_log_likelihood]). With a fixed $\sigma$ the
    ELBO is $-\lVert x - \mu \rVert^2 / (2\sigma^2) - \mathrm{KL}$ + const: times $2\sigma^2$, the
    squared error plus a KL weight $\beta = 2\sigma^2$ (see
    [likelihoods](../theory/likelihoods.md#gaussian-and-the-mse)).

    The means are the network's outputs, unconstrained (no sigmoid: the squared error of a saturated
    sigmoid has almost no gradient); [`mean`][vae.nets.GaussianLikelihood.mean] clamps them to the
    pixel range [0, 1] only to show them as an image. The log-likelihood uses them unclamped.

    With `learned=True`, $\log \sigma^2$ is a parameter (`logvar`, shape ()), trained with the
    networks; for a fixed $\sigma$ it is a buffer outside the saved weights (the config holds it).
    **One variance for all pixels, not one per pixel:** dozens of MNIST's 784 pixels (on the border)
    are 0 in every training image; a per-pixel variance of such a pixel shrinks towards 0 with nothing to stop it,
    and its density, hence the likelihood, grows without bound (a degenerate maximum that no
    amount of data removes). One shared variance is the maximum-likelihood scale of the residuals
    of all pixels together, stays away from 0 while any pixel is reconstructed imperfectly, adds one
    parameter, and keeps the KL trade-off one number ($\beta = 2\sigma^2$) that can be read off.
    """

    def __init__(self, std: float, learned: bool = False) -> None:
        super().__init__()
        logvar = torch.tensor(2.0 * math.log(std))  # log sigma^2, shape ()
        if learned:
            self.logvar = nn.Parameter(logvar)
        else:
            self.register_buffer("logvar", logvar, persistent=False)

    @property
    def std(self) -> float:
        """The current sigma."""
        return float((0.5 * self.logvar.detach()).exp())

    def log_prob(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """log N(x; output, sigma^2) summed over pixels: (B, C, H, W) -> (B,)."""
        return gaussian_log_likelihood(x, output, self.logvar)

    def mean(self, output: torch.Tensor) -> torch.Tensor:
        """The decoder mean as an image: the means clamped to [0, 1]. (B, C, H, W) -> (B, C, H, W)."""
        return output.clamp(0.0, 1.0)

    def sample(self, output: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw x = mu + sigma * eps ~ p(x | z), clamped to [0, 1] to be shown as an image. Shapes as `mean`."""
        eps = draws.randn(output.shape, output, generator)
        return (output + (0.5 * self.logvar).exp() * eps).clamp(0.0, 1.0)


def build_likelihood(config: ModelConfig) -> BernoulliLikelihood | GaussianLikelihood:
    """The decoder's distribution that `config.likelihood` names."""
    if config.likelihood == "bernoulli":
        return BernoulliLikelihood()
    return GaussianLikelihood(config.decoder_std, learned=config.likelihood == "gaussian_learned")

r"""The models: a VAE (with an optional condition) and a plain autoencoder with the same networks.

Both are built from a [`ModelConfig`][vae.ModelConfig] by [`build_model`][vae.build_model] and
share the networks and what needs only them ([`EncoderDecoder`][vae.models.EncoderDecoder]):
`encode`, `decode` (the decoder's raw output: Bernoulli logits or Gaussian means), `decoder_mean`
and `decoder_sample` (images in [0, 1]), `embed` (the point a picture is placed at in latent
space), `reconstruct` (decoder mean) and a `forward` that returns the loss terms separately.
`self.likelihood` is the decoder's distribution p(x | z) that `ModelConfig.likelihood` names;
every log-likelihood (ELBO, IWAE, DReG, evaluation) goes through it.

Only the [`VAE`][vae.models.VAE] has the variational parts: a prior, posterior samples
(`reparameterize`), importance weights and the bounds built on them. An
[`Autoencoder`][vae.models.Autoencoder]'s code is a point: it has none of them (asking for one
raises a [`NotVariationalError`][vae.models.NotVariationalError] that says so). A conditional VAE
(`kind="cvae"`) is a `VAE` whose encoder and decoder also receive the one-hot label y.

Shape key: B batch, C, H, W image, D latent size, k importance samples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import draws
from .config import ModelConfig, Precision
from .hub import HubMixin
from .nets import build_decoder, build_encoder, build_likelihood
from .objectives import ElboTerms, elbo, gaussian_log_density, iwae_bound
from .priors import build_prior


class EncoderDecoder(HubMixin, nn.Module):
    r"""What every model shares: the encoder and decoder networks, the decoder's likelihood, conditioning.

    Subclasses define `encode` (what the encoder's output means) and `forward` (the loss terms).

    `low_precision` (False unless set): run the encoder and decoder under bfloat16 autocast, their
    outputs cast back to float32; [`precision`][vae.models.EncoderDecoder.precision] sets it for a block.
    """

    def __init__(self, config: ModelConfig, code_size: int, decoder_dropout: float = 0.0) -> None:
        super().__init__()
        self.config = config
        cond_dim = config.num_classes if config.is_conditional else 0
        self.encoder = build_encoder(config, code_size, cond_dim)
        self.decoder = build_decoder(config, cond_dim, decoder_dropout)
        self.likelihood = build_likelihood(config)
        self.low_precision = False

    @contextlib.contextmanager
    def precision(self, precision: Precision) -> Iterator[None]:
        """Run the encoder and decoder in `precision` inside the block: `"bf16"` (bfloat16 autocast) or `"fp32"`.

        ```python
        with model.precision("bf16"):
            loss = vae.training_loss(model, x, y, config, beta=1.0)["loss"]
        ```

        The matrix products of the networks then run in bfloat16 (faster on CPUs with bfloat16
        units, AVX-512 or AMX: see the performance page), while the densities, the prior and the
        bounds, whose sums and differences need the precision, stay in float32. Training with
        `precision="bf16"` runs its steps this way.
        """
        previous = self.low_precision
        self.low_precision = precision == "bf16"
        try:
            yield
        finally:
            self.low_precision = previous

    def _run(self, net: nn.Module, *inputs: torch.Tensor | None) -> torch.Tensor:
        """Apply a network; with `low_precision` set, under bfloat16 autocast, its output cast back to float32."""
        if not self.low_precision:
            return net(*inputs)
        with torch.autocast(inputs[0].device.type, dtype=torch.bfloat16):
            return net(*inputs).float()

    def _condition(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """One-hot labels for a conditional model, None otherwise."""
        if not self.config.is_conditional:
            return None
        if y is None:
            raise ValueError("a conditional VAE needs the digit labels y")
        return F.one_hot(y.long(), self.config.num_classes).float()  # (B, num_classes)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's mean and log-variance: x (B, C, H, W) -> mu, logvar (B, D)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's output, the parameters of p(x | z): Bernoulli logits or Gaussian means. z (B, D) -> (B, C, H, W)."""
        return self._run(self.decoder, z, self._condition(y))

    def decoder_mean(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder mean as an image in [0, 1]: sigmoid of the logits, or the Gaussian means clamped. (B, D) -> (B, C, H, W)."""
        return self.likelihood.mean(self.decode(z, y))

    def decoder_sample(self, z: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw x ~ p(x | z) as an image: binary pixels, or mean + sigma * noise clamped to [0, 1]. (B, D) -> (B, C, H, W)."""
        return self.likelihood.sample(self.decode(z, y), generator)

    def log_px(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over pixels, from the decoder's output at z: (B, C, H, W) -> (B,)."""
        return self.likelihood.log_prob(x, output)

    def embed(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Where x sits in latent space: the posterior mean (an autoencoder's code), (B, C, H, W) -> (B, D)."""
        return self.encode(x, y)[0]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder mean at the posterior mean, in [0, 1] (see `decoder_mean`): (B, C, H, W) -> (B, C, H, W)."""
        return self.decoder_mean(self.embed(x, y), y)


class VAE(EncoderDecoder):
    r"""Variational autoencoder with a diagonal Gaussian posterior and a Bernoulli (or Gaussian) decoder.

    $q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag} \exp(\operatorname{logvar}_\phi(x)))$,
    $p(z) = \mathcal N(0, I)$, $p_\theta(x \mid z) = \prod_i \operatorname{Bernoulli}(x_i; \sigma(\ell_\theta(z)_i))$.
    With `config.likelihood = "gaussian"` (or `"gaussian_learned"`) the decoder is instead
    $\prod_i \mathcal N(x_i; \mu_\theta(z)_i, \sigma^2)$ ([`GaussianLikelihood`][vae.nets.GaussianLikelihood]);
    `self.likelihood` holds either.
    With `config.prior_components = K > 0` the prior is instead a learned mixture of K Gaussians
    ([`MixturePrior`][vae.priors.MixturePrior]); `self.prior` holds either.

    **Conditional** (`config.kind = "cvae"`): the encoder and decoder both receive the one-hot digit
    label y, $q_\phi(z \mid x, y)$ and $p_\theta(x \mid z, y)$; every method then needs `y`, and
    `decode(z, y)` with z from the prior draws a digit of the requested class (see
    [conditional VAE](../theory/cvae.md)).

    Every method that draws posterior samples takes an optional `generator`; without one it draws
    from torch's global generator (as training does, seeded per epoch).
    """

    def __init__(self, config: ModelConfig, decoder_dropout: float = 0.0) -> None:
        super().__init__(config, 2 * config.latent_dim, decoder_dropout)
        self.prior = build_prior(config.latent_dim, config.prior_components)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters: x (B, C, H, W) -> mu, logvar (B, D)."""
        mu, logvar = self._run(self.encoder, x, self._condition(y)).chunk(2, dim=1)
        return mu, logvar

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""A differentiable sample $z = \mu + \sigma \odot \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$.

        The noise is drawn outside the network, so gradients flow to mu and logvar
        ([the reparameterization trick](../theory/reparameterization.md)); sigma = exp(logvar / 2).
        A `generator` draws the noise on its own device, which is then moved to mu's (as a prior's
        samples are), so a seed gives the same samples wherever the model lives.
        """
        eps = draws.randn(mu.shape, mu, generator)  # (..., D)
        return mu + (0.5 * logvar).exp() * eps

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, beta: float = 1.0, target: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> ElboTerms:
        """Negative ELBO terms, averaged over the batch (see [`elbo`][vae.objectives.elbo]).

        Args:
            x: input images (B, C, H, W) in [0, 1].
            y: labels (B,) for a conditional model.
            beta: KL weight.
            target: what the decoder must reproduce (defaults to x).
            generator: draws the posterior sample (None: torch's global generator).
        """
        mu, logvar = self.encode(x, y)  # (B, D) each
        z = self.reparameterize(mu, logvar, generator)  # (B, D)
        output = self.decode(z, y)  # (B, C, H, W) logits or means
        target = x if target is None else target
        log_px = self.log_px(target, output)  # (B,)
        return elbo(target, output, mu, logvar, beta=beta, kl=self.prior.kl(z, mu, logvar), log_px=log_px)

    def log_importance_weights(
        self, x: torch.Tensor, k: int, y: torch.Tensor | None = None, posterior: tuple[torch.Tensor, torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        r"""log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x) for k samples z_i ~ q(z | x).

        `posterior`, if given, is the (mu, logvar) of a Gaussian proposal used instead of the
        encoder's, e.g. one refined for each image; any proposal gives a valid bound. Shapes:
        x (B, C, H, W) -> (B, k). Memory grows as B * k images; callers evaluating large k split k
        into chunks (see [`chunked_log_weights`][vae.evaluation.chunked_log_weights]).
        """
        mu, logvar = self.encode(x, y) if posterior is None else posterior  # (B, D)
        z = self.reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape), generator)  # (k, B, D)
        return self._log_weights(x, z, y, mu, logvar)

    def _log_weights(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """log p(x | z) + log p(z) - log N(z; mu, exp(logvar)) for codes z (k, B, D) -> (B, k)."""
        k = z.shape[0]
        flat_z = z.flatten(0, 1)  # (k*B, D)
        y_rep = None if y is None else y.repeat(k)  # (k*B,)
        output = self.decode(flat_z, y_rep)  # (k*B, C, H, W) logits or means
        log_px = self.log_px(x.expand(k, *x.shape).flatten(0, 1), output).view(k, -1)  # (k, B)
        log_pz = self.prior.log_prob(z)  # (k, B)
        log_qz = gaussian_log_density(z, mu, logvar)  # (k, B)
        return (log_px + log_pz - log_qz).T  # (B, k)

    def iwae_dreg_loss(
        self, x: torch.Tensor, k: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""A loss whose gradient is the doubly reparameterized estimator of the IWAE bound's gradient (DReG).

        The decoder and the prior receive the usual IWAE gradient $\sum_i \tilde w_i \nabla_\theta \log w_i$.
        The encoder receives $\sum_i \tilde w_i^2 \, \frac{\partial \log w_i}{\partial z_i} \frac{\partial z_i}{\partial \phi}$,
        which has the same expectation as its IWAE gradient but a variance that does not swamp the signal
        as k grows (Tucker et al., 2019; Rainforth et al., 2018). Here $\tilde w_i = w_i / \sum_j w_j$, and
        $\log q(z_i \mid x)$ is evaluated with the posterior's parameters held fixed, so they reach it only through $z_i$.

        Returns:
            The loss, a scalar whose value is minus the batch's mean bound, as in IWAE training, and the bound
            per image, shape (B,), without gradient.
        """
        mu, logvar = self.encode(x, y)  # (B, D)
        z = self.reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape), generator)  # (k, B, D)
        log_w = self._log_weights(x, z, y, mu.detach(), logvar.detach())  # (B, k)
        weights = torch.softmax(log_w.detach(), dim=1)  # (B, k) normalised importance weights
        if z.requires_grad:  # one more factor of the weight on the path through z: the encoder's gradient
            z.register_hook(lambda grad: grad * weights.T.unsqueeze(-1))
        surrogate = -(weights * log_w).sum(1).mean()
        bound = iwae_bound(log_w.detach())  # (B,)
        return surrogate - surrogate.detach() - bound.mean(), bound


VARIATIONAL_ONLY = frozenset({"prior", "reparameterize", "log_importance_weights", "iwae_dreg_loss"})


class NotVariationalError(AttributeError, TypeError):
    """A VAE-only attribute asked of an autoencoder.

    An `AttributeError` (so `hasattr(ae, "prior")` is False: the attribute is absent) and a
    `TypeError` (the wrong kind of model), with a message that says why.
    """


class Autoencoder(EncoderDecoder):
    """A plain deterministic autoencoder with the same networks as the VAE.

    The code z = encoder(x) is a point, not a distribution; training minimises the reconstruction
    term alone. Without a KL term nothing organises the latent space, which is the motivation
    for the VAE (see [autoencoders](../theory/autoencoders.md)). It has no prior, no posterior
    samples and no likelihood bound: `prior`, `reparameterize`, `log_importance_weights` and
    `iwae_dreg_loss` are absent (a [`NotVariationalError`][vae.models.NotVariationalError] says so).
    """

    def __init__(self, config: ModelConfig, decoder_dropout: float = 0.0) -> None:
        super().__init__(config, config.latent_dim, decoder_dropout)

    def __getattr__(self, name: str) -> Any:
        if name in VARIATIONAL_ONLY:
            raise NotVariationalError(
                f"an autoencoder has no {name}: its code is a point, not a distribution, so it defines no prior, posterior "
                "samples or likelihood bound (use a vae or cvae model)"
            )
        return super().__getattr__(name)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The code as a point mass: x (B, C, H, W) -> z, logvar (B, D), the log-variance -inf."""
        z = self._run(self.encoder, x, self._condition(y))
        return z, torch.full_like(z, float("-inf"))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, target: torch.Tensor | None = None) -> ElboTerms:
        """Reconstruction loss -log p(x | z) summed over pixels, mean over the batch.

        There is no KL term (reported as 0) and no bound: the `elbo` field is just minus the
        reconstruction term.
        """
        z = self.embed(x, y)  # (B, D)
        rec = -self.log_px(x if target is None else target, self.decode(z, y)).mean()
        zero = torch.zeros((), device=x.device)
        return ElboTerms(rec, rec, zero, -rec)


def build_model(config: ModelConfig, decoder_dropout: float = 0.0) -> VAE | Autoencoder:
    """The model that `config.kind` names, freshly initialised: a `VAE` for `"vae"` and `"cvae"`, an `Autoencoder` for `"ae"`,
    a [`HierarchicalVAE`][vae.hierarchical.HierarchicalVAE] (a `VAE` with two stochastic layers) for `"hvae"`.

    `decoder_dropout` is a training-time regulariser (see
    [`TrainConfig.decoder_dropout`][vae.TrainConfig]); it changes no parameter.
    """
    if config.kind == "hvae":  # two stochastic layers; imported here, as it builds on VAE
        from .hierarchical import HierarchicalVAE

        return HierarchicalVAE(config, decoder_dropout)
    cls = VAE if config.is_variational else Autoencoder
    return cls(config, decoder_dropout)


def num_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

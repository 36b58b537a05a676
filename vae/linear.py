r"""The linear baselines: principal component analysis and probabilistic PCA.

**PCA** is the optimal *linear* autoencoder. For centred data $\tilde x_n = x_n - \bar x$ with
covariance $S = \frac1N \sum_n \tilde x_n \tilde x_n^\top = \sum_j \lambda_j u_j u_j^\top$
($\lambda_1 \ge \lambda_2 \ge \dots$), the encoder $z = U_k^\top \tilde x$ and decoder
$\hat x = \bar x + U_k z$ with the top k eigenvectors $U_k$ minimise the mean squared
reconstruction error over every rank-k linear map, and the minimum is the sum of the discarded
eigenvalues (Eckart & Young, 1936):

$$
\frac1N \sum_{n=1}^{N} \lVert x_n - \hat x_n \rVert^2 = \sum_{j > k} \lambda_j .
$$

A linear autoencoder trained by gradient descent on the squared error can reach this minimum
(its decoder then spans the same subspace) but cannot beat it.

**Probabilistic PCA** (Tipping & Bishop, 1999) is the latent-variable model
$z \sim \mathcal N(0, I_k)$, $x \mid z \sim \mathcal N(Wz + \mu, \sigma^2 I_P)$: a VAE whose
decoder is linear with Gaussian noise. Its marginal is $x \sim \mathcal N(\mu, C)$ with
$C = WW^\top + \sigma^2 I$, and its maximum-likelihood parameters have a closed form:

$$
\mu = \bar x, \qquad \sigma^2 = \frac{1}{P - k} \sum_{j > k} \lambda_j, \qquad
W = U_k (\Lambda_k - \sigma^2 I)^{1/2}.
$$

Its exact posterior is Gaussian, $p(z \mid x) = \mathcal N(M^{-1} W^\top (x - \mu), \sigma^2 M^{-1})$
with $M = W^\top W + \sigma^2 I_k$, so with that posterior as $q$ the ELBO equals $\log p(x)$:
the linear-Gaussian VAE whose bound is tight ([`PPCA.elbo`][vae.linear.PPCA.elbo]).

The eigenvalues use the divisor N (the maximum-likelihood covariance), so the Eckart-Young
identity above holds exactly for the data the PCA was fitted on. Both models compute in float64
and accept a data matrix (N, P) or images (N, C, H, W); `decode` returns the shape they were fitted on.

Shape key: N examples, P features (784 pixels for MNIST), k components.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .objectives import LOG_2PI


def _data_matrix(data: torch.Tensor) -> torch.Tensor:
    """A finite float64 matrix (N, P) from a matrix or a batch of images; a clear error otherwise."""
    if not isinstance(data, torch.Tensor):
        raise ValueError(f"the data must be a torch.Tensor, not {type(data).__name__}")
    if data.ndim < 2:
        raise ValueError(f"the data must have shape (N, P) or (N, C, H, W), not {tuple(data.shape)}")
    if data.shape[0] == 0 or data[0].numel() == 0:
        raise ValueError(f"the data is empty: shape {tuple(data.shape)}")
    if not torch.is_floating_point(data):
        data = data.float()
    if not torch.isfinite(data).all():
        raise ValueError("the data contains NaN or infinite values")
    return data.reshape(data.shape[0], -1).double()  # (N, P)


def _check_components(n_components: int, limit: int, what: str) -> None:
    if isinstance(n_components, bool) or not isinstance(n_components, int) or not 1 <= n_components <= limit:
        raise ValueError(f"n_components must be an integer from 1 to {limit} ({what}), not {n_components!r}")


def _eigendecomposition(centred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""All eigenvalues (descending, divisor N) and eigenvectors (as rows) of the covariance of centred data.

    With N >= P, `eigh` of the P x P covariance $S = \tilde X^\top \tilde X / N$; otherwise the SVD
    $\tilde X = A \Sigma V^\top$, whose $\Sigma^2 / N$ are the same eigenvalues. Each eigenvector's sign
    is fixed (its largest-magnitude entry positive), so a fit is reproducible.
    """
    n, p = centred.shape
    if n >= p:
        values, vectors = torch.linalg.eigh(centred.T @ centred / n)  # ascending, vectors as columns
        values, vectors = values.flip(0).clamp_min(0.0), vectors.flip(1).T  # (P,), (P, P) rows
    else:
        _, singular, vectors = torch.linalg.svd(centred, full_matrices=False)  # (N,), (N, P)
        values = singular.pow(2) / n
        values = torch.cat([values, values.new_zeros(p - values.shape[0])])  # the rest of the spectrum is 0
    signs = torch.sign(vectors.gather(1, vectors.abs().argmax(1, keepdim=True)))  # (rows, 1)
    return values, vectors * signs


@dataclass(frozen=True, eq=False)
class PCA:
    r"""A fitted principal component analysis (see [`fit_pca`][vae.linear.fit_pca]).

    Attributes:
        mean: the data mean $\bar x$, shape (P,).
        components: the top k eigenvectors $u_j^\top$ of the covariance as orthonormal rows, shape (k, P).
        explained_variance: their eigenvalues $\lambda_1 \ge \dots \ge \lambda_k$, shape (k,).
        total_variance: $\operatorname{tr} S = \sum_j \lambda_j$ over all P eigenvalues.
        shape: the shape of one example as fitted, e.g. (1, 28, 28); `decode` returns it.
    """

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance: torch.Tensor
    total_variance: float
    shape: tuple[int, ...]

    @property
    def n_components(self) -> int:
        """k, the code size."""
        return self.components.shape[0]

    @property
    def explained_variance_ratio(self) -> torch.Tensor:
        r"""$\lambda_j / \operatorname{tr} S$ for the kept components, shape (k,)."""
        return self.explained_variance / self.total_variance

    @property
    def residual_variance(self) -> float:
        r"""$\sum_{j>k} \lambda_j$: the mean squared reconstruction error on the fitted data (Eckart-Young)."""
        return max(self.total_variance - self.explained_variance.sum().item(), 0.0)

    def _matrix(self, x: torch.Tensor) -> torch.Tensor:
        x = _data_matrix(x)
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"this PCA was fitted on {self.mean.shape[0]} features per example, not {x.shape[1]}")
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        r"""The code $z = U_k^\top (x - \bar x)$: (N, P) or (N, C, H, W) -> (N, k), float64."""
        return (self._matrix(x) - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        r"""The reconstruction $\hat x = \bar x + U_k z$: (N, k) -> (N, *shape), float64."""
        if z.ndim != 2 or z.shape[1] != self.n_components:
            raise ValueError(f"codes must have shape (N, {self.n_components}), not {tuple(z.shape)}")
        return (self.mean + z.double() @ self.components).reshape(z.shape[0], *self.shape)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)): the orthogonal projection onto the principal subspace, (N, ...) -> (N, *shape)."""
        return self.decode(self.encode(x))


def fit_pca(data: torch.Tensor, n_components: int) -> PCA:
    r"""Fit PCA with k = `n_components` components to data (N, P) or images (N, C, H, W).

    The eigenvalues are those of $S = \frac1N \sum_n (x_n - \bar x)(x_n - \bar x)^\top$, computed in
    float64 (`eigh` of S when N >= P, else the SVD of the centred data).

    Raises:
        ValueError: empty or non-finite data, or `n_components` not in 1..min(N, P) (N examples span at
            most N directions: there are no more components to fit).
    """
    x = _data_matrix(data)  # (N, P)
    _check_components(n_components, min(x.shape), f"at most the number of examples ({x.shape[0]}) and of features "
                                                  f"({x.shape[1]})")
    mean = x.mean(0)  # (P,)
    values, vectors = _eigendecomposition(x - mean)
    components = vectors[:n_components].contiguous()  # (k, P)
    return PCA(mean, components, values[:n_components].clone(), values.sum().item(), tuple(data.shape[1:]))


@dataclass(frozen=True, eq=False)
class PPCA:
    r"""Probabilistic PCA: $x = Wz + \mu + \varepsilon$, $z \sim \mathcal N(0, I)$, $\varepsilon \sim \mathcal N(0, \sigma^2 I)$.

    Fit the maximum-likelihood parameters with [`fit_ppca`][vae.linear.fit_ppca]; any W and
    $\sigma^2 > 0$ give a valid model for the methods below.

    Attributes:
        mean: $\mu$, shape (P,).
        weight: $W$, shape (P, k).
        noise_variance: $\sigma^2 > 0$.
        shape: the shape of one example as fitted; `decode` returns it.
    """

    mean: torch.Tensor
    weight: torch.Tensor
    noise_variance: float
    shape: tuple[int, ...]

    @property
    def n_components(self) -> int:
        """k, the latent size."""
        return self.weight.shape[1]

    def _centred(self, x: torch.Tensor) -> torch.Tensor:
        x = _data_matrix(x)
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"this PPCA has {self.mean.shape[0]} features per example, not {x.shape[1]}")
        return x - self.mean  # (N, P)

    def _m(self) -> torch.Tensor:
        r"""$M = W^\top W + \sigma^2 I_k$, shape (k, k)."""
        return self.weight.T @ self.weight + self.noise_variance * torch.eye(self.n_components, dtype=self.weight.dtype)

    def covariance(self) -> torch.Tensor:
        r"""The marginal covariance $C = WW^\top + \sigma^2 I_P$, shape (P, P)."""
        return self.weight @ self.weight.T + self.noise_variance * torch.eye(self.weight.shape[0], dtype=self.weight.dtype)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r"""$\log \mathcal N(x; \mu, C)$ per example, in nats: (N, P) or (N, C, H, W) -> (N,).

        $$
        \log p(x) = -\frac12 \Big( P \log 2\pi + \log |C| + (x - \mu)^\top C^{-1} (x - \mu) \Big),
        $$

        computed without forming C, by the matrix determinant lemma $\log|C| = (P - k)\log\sigma^2 + \log|M|$
        and the Woodbury identity $C^{-1} = \sigma^{-2}\big(I - W M^{-1} W^\top\big)$.
        """
        xc = self._centred(x)  # (N, P)
        p, s2 = xc.shape[1], self.noise_variance
        chol = torch.linalg.cholesky(self._m())  # M = L L^T, (k, k)
        logdet = (p - self.n_components) * math.log(s2) + 2 * chol.diagonal().log().sum()
        proj = torch.cholesky_solve((xc @ self.weight).T, chol).T  # M^{-1} W^T (x - mu), (N, k)
        mahalanobis = (xc.pow(2).sum(1) - ((xc @ self.weight) * proj).sum(1)) / s2  # (N,)
        return -0.5 * (p * LOG_2PI + logdet + mahalanobis)

    def log_likelihood(self, x: torch.Tensor) -> float:
        r"""The total log-likelihood $\sum_n \log p(x_n)$ of a data set, in nats."""
        return self.log_prob(x).sum().item()

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The exact posterior $p(z \mid x) = \mathcal N(M^{-1}W^\top(x - \mu),\ \sigma^2 M^{-1})$.

        Returns:
            The means (N, k) and the covariance (k, k), the same for every x.
        """
        xc = self._centred(x)
        m_inv = torch.linalg.inv(self._m())  # (k, k)
        return xc @ self.weight @ m_inv, self.noise_variance * m_inv  # M symmetric: (M^{-1} W^T xc)^T = xc^T W M^{-1}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean, as the code of x: (N, ...) -> (N, k)."""
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        r"""The decoder mean $Wz + \mu$: (N, k) -> (N, *shape)."""
        if z.ndim != 2 or z.shape[1] != self.n_components:
            raise ValueError(f"codes must have shape (N, {self.n_components}), not {tuple(z.shape)}")
        return (z.double() @ self.weight.T + self.mean).reshape(z.shape[0], *self.shape)

    def elbo(self, x: torch.Tensor, posterior: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        r"""The ELBO per example with a Gaussian $q(z \mid x) = \mathcal N(m, \Sigma)$, in closed form: (N, ...) -> (N,).

        $$
        \mathcal L = -\frac P2 \log 2\pi\sigma^2
        - \frac{\lVert x - \mu - Wm \rVert^2 + \operatorname{tr}(W\Sigma W^\top)}{2\sigma^2}
        - \frac12\big(\operatorname{tr}\Sigma + m^\top m - k - \log|\Sigma|\big).
        $$

        With the default q, the exact posterior ([`posterior`][vae.linear.PPCA.posterior]), the KL gap
        is zero and the ELBO equals [`log_prob`][vae.linear.PPCA.log_prob]; any other q gives less.

        Args:
            x: data (N, P) or (N, C, H, W).
            posterior: optional (means (N, k), covariance (k, k)) of another Gaussian q.
        """
        xc = self._centred(x)  # (N, P)
        m, cov = self.posterior(x) if posterior is None else (posterior[0].double(), posterior[1].double())
        p, k, s2 = xc.shape[1], self.n_components, self.noise_variance
        expected_log_px = -0.5 * p * math.log(2 * math.pi * s2) - (
            (xc - m @ self.weight.T).pow(2).sum(1) + torch.trace(self.weight @ cov @ self.weight.T)
        ) / (2 * s2)
        kl = 0.5 * (torch.trace(cov) + m.pow(2).sum(1) - k - torch.logdet(cov))
        return expected_log_px - kl


def fit_ppca(data: torch.Tensor, n_components: int) -> PPCA:
    r"""Maximum-likelihood probabilistic PCA in closed form (Tipping & Bishop, 1999).

    $\mu = \bar x$, $\sigma^2$ the mean of the P - k discarded eigenvalues of the covariance (divisor N),
    $W = U_k(\Lambda_k - \sigma^2 I)^{1/2}$ (the rotation R = I).

    Raises:
        ValueError: empty or non-finite data, `n_components` not in 1..P-1, or data whose discarded
            eigenvalues are all zero (rank <= k, so sigma^2 would be 0: choose fewer components).
    """
    x = _data_matrix(data)  # (N, P)
    p = x.shape[1]
    _check_components(n_components, p - 1, "fewer than the number of features, to leave a noise variance")
    mean = x.mean(0)
    values, vectors = _eigendecomposition(x - mean)
    noise_variance = values[n_components:].mean().item()  # sigma^2 = mean of the discarded eigenvalues
    if not noise_variance > 1e-12 * max(values[0].item(), 1e-300):
        raise ValueError(
            f"the data has rank <= {n_components}, so the noise variance would be 0; choose fewer components"
        )
    scale = (values[:n_components] - noise_variance).clamp_min(0.0).sqrt()  # (Lambda_k - sigma^2 I)^{1/2}, (k,)
    weight = vectors[:n_components].T * scale  # W = U_k (Lambda_k - sigma^2 I)^{1/2}, (P, k)
    return PPCA(mean, weight.contiguous(), noise_variance, tuple(data.shape[1:]))


__all__ = ["PCA", "PPCA", "fit_pca", "fit_ppca"]

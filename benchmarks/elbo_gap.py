r"""The two parts of the ELBO gap of a shipped VAE: approximation and amortization (Cremer et al., 2018).

For one image, with $q^\ast$ the best Gaussian $\mathcal N(\mu, \operatorname{diag}\sigma^2)$ for that image alone,

$$
\log p_\theta(x) - \mathcal L(x; q_\phi)
= \underbrace{\log p_\theta(x) - \mathcal L(x; q^\ast)}_{\text{approximation gap}}
+ \underbrace{\mathcal L(x; q^\ast) - \mathcal L(x; q_\phi)}_{\text{amortization gap}} .
$$

The approximation gap is $\mathrm{KL}(q^\ast \,\Vert\, p_\theta(z \mid x))$, what the Gaussian family cannot
do; the amortization gap is what one encoder network shared by every image gives up against a Gaussian
fitted to each image. This script measures the three numbers for the first N test images (binarized
once with the fixed test seed):

- $\mathcal L(x; q_\phi)$: the ELBO of the encoder's $q_\phi(z \mid x)$, averaged over `--eval-samples` draws
  (closed-form KL for the standard normal prior, the one-sample estimate averaged for a mixture prior);
- $\mathcal L(x; q^\ast)$: the same for a Gaussian per image, started at the encoder's and optimised by
  Adam on that image's ELBO (`--steps` steps of `--samples` reparameterized draws, learning rate
  `--lr` decayed to 1/50 of it on a cosine), the decoder and the prior fixed. For a 2-D model a second
  optimisation starts at the best point of a coarse 64 x 64 grid over $[-4, 4]^2$ (the encoder may have
  put the image near a lesser mode, which a local optimisation would not leave), and the better of the
  two is kept image by image. A local optimum or an early stop only under-estimates the amortization gap;
- $\log p_\theta(x)$: for a 2-D model by quadrature, a Riemann sum of $p_\theta(x, z)$ on a grid that spans
  both the encoder's and the optimised Gaussian to +-8 standard deviations, with cells of 1/2.5 of
  the smaller standard deviation (fine enough that a wider, finer grid, `quadrature_log_px(...,
  span=12, cells_per_sd=6)`, changes nothing at the two decimals reported; the IWAE bound is recorded beside it as a check); for larger latent
  spaces the IWAE bound $\mathcal L_k$ ($k$ = `-k`, the better of the encoder's and the optimised
  proposal), which is itself below $\log p_\theta(x)$, so the approximation gap is then a lower estimate.

Usage: python benchmarks/elbo_gap.py [MODEL ...] [-n 300] [--steps 200] [--data-root ../shared/data]
MODEL: shipped unconditional VAEs or model folders (default: latent2d default). Updates
benchmarks/results/elbo_gap.json (one entry per model; entries of models not measured this time are kept)
and prints a Markdown table. Each entry records the SHA-256 of the weights it measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

import vae

RESULTS = Path(__file__).parent / "results" / "elbo_gap.json"


def elbo_per_image(model: vae.VAE, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, samples: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""$\mathcal L(x; \mathcal N(\mu, \operatorname{diag} e^{\text{logvar}}))$ averaged over `samples` draws: (B,).

    Differentiable in mu and logvar (reparameterized); x (B, C, H, W), mu and logvar (B, D).
    """
    eps = torch.randn(samples, *mu.shape, generator=generator)  # (S, B, D)
    z = mu + (0.5 * logvar).exp() * eps  # (S, B, D)
    logits = model.decode(z.flatten(0, 1))  # (S*B, C, H, W)
    log_px = vae.bernoulli_log_likelihood(x.expand(samples, *x.shape).flatten(0, 1), logits).view(samples, -1)  # (S, B)
    kl = torch.stack([model.prior.kl(z[s], mu, logvar) for s in range(samples)])  # (S, B), closed form or estimate
    return (log_px - kl).mean(dim=0)


def optimise_posteriors(model: vae.VAE, x: torch.Tensor, steps: int, samples: int, lr: float, seed: int = 0,
                        start: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image Gaussians (mu, logvar), each (B, D): `start` (default: the encoder's), then `steps` Adam steps on each
    image's ELBO."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mu, logvar = model.encode(x) if start is None else start
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    model.requires_grad_(False)  # only the posteriors move
    for step in range(steps):
        for group in optimizer.param_groups:  # cosine decay from lr to lr / 50
            group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        loss = -elbo_per_image(model, x, mu, logvar, samples, generator).sum()  # images are independent
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return mu.detach(), logvar.detach()


def coarse_modes(model: vae.VAE, x: torch.Tensor, points: int = 64, span: float = 4.0) -> torch.Tensor:
    r"""For a 2-D model: the point of a coarse grid over $[-\text{span}, \text{span}]^2$ with the largest $p_\theta(x, z)$: (B, 2).

    A second starting point for the per-image optimisation, in case the encoder put the image near a
    lesser mode of its posterior (a local optimisation from the encoder's mean would stay there).
    """
    a = torch.linspace(-span, span, points)
    z1, z2 = torch.meshgrid(a, a, indexing="ij")
    zz = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (points^2, 2)
    with torch.no_grad():
        logits = model.decode(zz)  # (points^2, C, H, W), shared by every image
        log_pz = model.prior.log_prob(zz)  # (points^2,)
        best = [zz[(vae.bernoulli_log_likelihood(image.expand(len(zz), -1, -1, -1), logits) + log_pz).argmax()] for image in x]
    return torch.stack(best)


def quadrature_log_px(model: vae.VAE, x: torch.Tensor, posteriors: list[tuple[torch.Tensor, torch.Tensor]],
                      span: float = 8.0, cells_per_sd: float = 2.5, max_points: int = 400) -> torch.Tensor:
    r"""$\log p_\theta(x)$ of a 2-D model by a Riemann sum of $p_\theta(x, z)$ on a grid: (B,).

    Per image and axis the grid spans every given posterior (mu, logvar) to +-`span` of its standard
    deviations, with cells of 1/`cells_per_sd` of the smallest of those standard deviations (at most
    `max_points` per axis). Mass outside every box is missed, so the sum is a lower estimate.
    """
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
                vae.bernoulli_log_likelihood(image.expand(len(chunk), -1, -1, -1), model.decode(chunk)) + model.prior.log_prob(chunk)
                for chunk in zz.split(20_000)
            ])
            out.append(torch.logsumexp(log_joint.double(), dim=0) + cell.log())
    return torch.stack(out).float()


def measure(model: vae.VAE, bits: torch.Tensor, steps: int, samples: int, lr: float, eval_samples: int, k: int) -> dict[str, Any]:
    """The three quantities and the two gaps (nats, mean over the images, with standard errors) as a JSON-ready dict."""
    n = bits.shape[0]
    start = time.perf_counter()
    with torch.no_grad():
        mu_e, logvar_e = model.encode(bits)
        elbo_encoder = torch.cat([elbo_per_image(model, bits[i : i + 50], mu_e[i : i + 50], logvar_e[i : i + 50], eval_samples,
                                                 torch.Generator().manual_seed(1)) for i in range(0, n, 50)])
    starts = [(mu_e, logvar_e)]
    if model.config.latent_dim == 2:  # a second start at the best point of a coarse grid over the prior's bulk
        starts.append((coarse_modes(model, bits), logvar_e))
    best_mu = best_logvar = elbo_optimised = None
    for mu_start, logvar_start in starts:
        mu_o, logvar_o = optimise_posteriors(model, bits, steps, samples, lr, start=(mu_start, logvar_start))
        with torch.no_grad():
            value = torch.cat([elbo_per_image(model, bits[i : i + 50], mu_o[i : i + 50], logvar_o[i : i + 50], eval_samples,
                                              torch.Generator().manual_seed(1)) for i in range(0, n, 50)])
        if elbo_optimised is None:
            best_mu, best_logvar, elbo_optimised = mu_o, logvar_o, value
        else:  # keep, image by image, the better of the two optimised Gaussians
            better = value > elbo_optimised
            best_mu, best_logvar = torch.where(better[:, None], mu_o, best_mu), torch.where(better[:, None], logvar_o, best_logvar)
            elbo_optimised = torch.where(better, value, elbo_optimised)
    mu_o, logvar_o = best_mu, best_logvar
    iwae_encoder, _ = vae.log_likelihood(model, bits, k)
    iwae_optimised, _ = vae.log_likelihood(model, bits, k, posterior=(mu_o, logvar_o))
    iwae = iwae_encoder if iwae_encoder.mean() >= iwae_optimised.mean() else iwae_optimised
    result: dict[str, Any] = {"num_images": n, "latent_dim": model.config.latent_dim, "steps": steps, "samples": samples,
                              "lr": lr, "eval_samples": eval_samples, "k": k,
                              "iwae_encoder": iwae_encoder.mean().item(), "iwae_optimised": iwae_optimised.mean().item()}
    if model.config.latent_dim == 2:
        log_px = quadrature_log_px(model, bits, [(mu_e, logvar_e), (mu_o, logvar_o)])
        result["log_px_method"] = "quadrature"
    else:
        log_px, result["log_px_method"] = iwae, f"IWAE bound, k = {k}"

    def summary(values: torch.Tensor) -> dict[str, float]:
        return {"mean": values.mean().item(), "stderr": (values.std() / n**0.5).item()}

    result.update({
        "log_px": summary(log_px),
        "elbo_encoder": summary(elbo_encoder),
        "elbo_optimised": summary(elbo_optimised),
        "total_gap": summary(log_px - elbo_encoder),
        "approximation_gap": summary(log_px - elbo_optimised),
        "amortization_gap": summary(elbo_optimised - elbo_encoder),
        "posterior_std_ratio": (0.5 * (logvar_o - logvar_e)).exp().median().item(),  # optimised sigma / encoder sigma
        # how far the optimised mean moved, in encoder standard deviations (largest coordinate), and how often by > 3
        "moved_over_3_sd": ((mu_o - mu_e).abs() / (0.5 * logvar_e).exp()).amax(dim=1).gt(3).float().mean().item(),
        "amortization_gap_median": (elbo_optimised - elbo_encoder).median().item(),
        "seconds": round(time.perf_counter() - start, 1),
    })
    return result


def weights_sha256(name: str) -> str:
    """The SHA-256 of the `model.safetensors` that a model name or folder resolves to."""
    folder = vae.checkpoint.resolve_model_dir(name)
    return hashlib.sha256((folder / vae.checkpoint.WEIGHTS).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["latent2d", "default"], help="unconditional VAEs (default: latent2d default)")
    parser.add_argument("-n", type=int, default=300, help="test images (default 300)")
    parser.add_argument("--steps", type=int, default=200, help="Adam steps per image (default 200)")
    parser.add_argument("--samples", type=int, default=16, help="posterior draws per step (default 16)")
    parser.add_argument("--lr", type=float, default=0.05, help="peak learning rate of the refinement (default 0.05)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="draws behind each ELBO value (default 1000)")
    parser.add_argument("-k", type=int, default=5000, help="importance samples of the IWAE bound (default 5000)")
    parser.add_argument("--data-root", help="the folder that holds MNIST/raw/ (default: $VAE_DATA_ROOT)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    for option in ("n", "steps", "samples", "eval_samples", "k"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, not {getattr(args, option)}")
    torch.set_num_threads(1)
    bits_all = vae.binarized_test_set(vae.load_mnist(False, args.data_root))
    if args.n > bits_all.shape[0]:
        parser.error(f"-n {args.n}: the test set has {bits_all.shape[0]} images")
    for name in args.models:
        model = vae.load(name)
        if not model.config.is_variational or model.config.is_conditional:
            parser.error(f"{name}: this measurement is written for unconditional VAEs")
        torch.manual_seed(0)
        result = {"weights_sha256": weights_sha256(name),
                  **measure(model, bits_all[: args.n], args.steps, args.samples, args.lr, args.eval_samples, args.k)}
        print(f"| {name}, first {args.n} test images | nats (± standard error) |\n| --- | ---: |")
        print(f"| log p(x), {result['log_px_method']} | {result['log_px']['mean']:.2f} ± {result['log_px']['stderr']:.2f} |")
        for key in ("elbo_optimised", "elbo_encoder", "total_gap", "approximation_gap", "amortization_gap"):
            print(f"| {key.replace('_', ' ')} | {result[key]['mean']:.2f} ± {result[key]['stderr']:.2f} |")
        print(f"\nIWAE k = {args.k}: encoder's proposal {result['iwae_encoder']:.2f}, optimised {result['iwae_optimised']:.2f}; "
              f"median optimised / encoder sigma {result['posterior_std_ratio']:.2f}; {result['seconds']:.0f} s\n")
        results = json.loads(args.out.read_text()) if args.out.is_file() else {}
        results[name] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

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
import json
import time
from pathlib import Path
from typing import Any

import torch

import vae
from vae.diagnostics import coarse_modes, gaussian_elbo, optimise_posteriors, quadrature_log_px

RESULTS = Path(__file__).parent / "results" / "elbo_gap.json"


def measure(model: vae.VAE, bits: torch.Tensor, steps: int, samples: int, lr: float, eval_samples: int, k: int) -> dict[str, Any]:
    """The three quantities and the two gaps (nats, mean over the images, with standard errors) as a JSON-ready dict."""
    n = bits.shape[0]
    start = time.perf_counter()
    with torch.no_grad():
        mu_e, logvar_e = model.encode(bits)
        elbo_encoder = torch.cat([gaussian_elbo(model, bits[i : i + 50], mu_e[i : i + 50], logvar_e[i : i + 50], eval_samples,
                                                 torch.Generator().manual_seed(1)) for i in range(0, n, 50)])
    starts = [(mu_e, logvar_e)]
    if model.config.latent_dim == 2:  # a second start at the best point of a coarse grid over the prior's bulk
        starts.append((coarse_modes(model, bits), logvar_e))
    best_mu = best_logvar = elbo_optimised = None
    for mu_start, logvar_start in starts:
        mu_o, logvar_o = optimise_posteriors(model, bits, steps, samples, lr, start=(mu_start, logvar_start))
        with torch.no_grad():
            value = torch.cat([gaussian_elbo(model, bits[i : i + 50], mu_o[i : i + 50], logvar_o[i : i + 50], eval_samples,
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
        result = {"weights_sha256": vae.checkpoint.weights_sha256(name),
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

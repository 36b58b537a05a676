r"""How many latent dimensions does a shipped VAE use? Active units over the MNIST test set.

A dimension $j$ is *active* (Burda et al., 2016, section 5.2) when the posterior mean moves with the
image:

$$
A_j = \operatorname{Var}_{x}\big(\mathbb E_{q_\phi(z \mid x)}[z_j]\big) = \operatorname{Var}_{x}\big(\mu_{\phi,j}(x)\big) > 0.01 .
$$

A dimension whose posterior mean is (nearly) the same for every image tells the decoder nothing about
which image it is, whatever its variance: its posterior has *collapsed* onto one distribution for all
the data. The variance is taken over the 10,000 test images, binarized once with the fixed test seed
(`vae.binarized_test_set`), as the model card's numbers are; the threshold 0.01 is Burda et al.'s.
The mean posterior variance $\mathbb E_x[\sigma_{\phi,j}^2(x)]$ is recorded beside it, and the prior's own
variance along each dimension (1 for the standard normal; for a mixture
$\sum_k \pi_k (s_{kj}^2 + m_{kj}^2) - (\sum_k \pi_k m_{kj})^2$): a collapsed dimension's posterior is close to
the prior, so its variance is close to the prior's.

Usage: python benchmarks/active_units.py [MODEL ...] [--threshold 0.01] [--data-root ../shared/data]
MODEL: shipped model names or model folders (default: default). Updates benchmarks/results/active_units.json
(one entry per model, named as given; the entries of models not measured this time are kept) and prints a table.
Each entry records the SHA-256 of the weights it measured, so a stale entry for a shipped model is caught.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

import vae
from vae.diagnostics import ACTIVE_THRESHOLD, posterior_statistics, prior_variance

RESULTS = Path(__file__).parent / "results" / "active_units.json"
THRESHOLD = ACTIVE_THRESHOLD  # Burda et al. (2016)


def measure(model: vae.VAE, test: vae.MNIST, threshold: float = THRESHOLD) -> dict[str, Any]:
    """Active units of `model` over the binarized test set, as a JSON-ready dict."""
    bits = vae.binarized_test_set(test)
    labels = test.labels if model.config.is_conditional else None
    activity, mean_variance = posterior_statistics(model, bits, labels)
    order = torch.argsort(activity, descending=True)
    return {
        "num_images": bits.shape[0],
        "latent_dim": activity.numel(),
        "threshold": threshold,
        "active_units": int((activity > threshold).sum()),
        "var_of_posterior_mean": [round(v, 6) for v in activity.tolist()],  # A_j, by dimension j
        "mean_posterior_variance": [round(v, 6) for v in mean_variance.tolist()],  # E_x sigma_j^2, by dimension j
        "prior_variance": [round(v, 6) for v in prior_variance(model).tolist()],  # Var_p z_j, by dimension j
        "dimensions_by_activity": order.tolist(),
    }



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["default"], help="shipped model names or model folders (default: default)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help=f"activity threshold (default {THRESHOLD})")
    parser.add_argument("--data-root", help="the folder that holds MNIST/raw/ (default: $VAE_DATA_ROOT)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.threshold > 0:
        parser.error(f"--threshold must be positive, not {args.threshold}")
    torch.set_num_threads(1)
    test = vae.load_mnist(False, args.data_root)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.models:
        model = vae.load(name)
        if not model.config.is_variational:
            parser.error(f"{name} is an autoencoder: its code is a point, so it has no posterior to collapse")
        result = {"weights_sha256": vae.checkpoint.weights_sha256(name), **measure(model, test, args.threshold)}
        results[name] = result
        print(f"{name}: {result['active_units']} of {result['latent_dim']} dimensions active "
              f"(Var_x E_q[z_j] > {args.threshold:g} over {result['num_images']:,} test images)")
        print("| dimension | Var_x E_q[z_j] | E_x Var_q[z_j] | Var_p z_j |\n| ---: | ---: | ---: | ---: |")
        for j in result["dimensions_by_activity"]:
            print(f"| {j} | {result['var_of_posterior_mean'][j]:.4g} | {result['mean_posterior_variance'][j]:.4g} "
                  f"| {result['prior_variance'][j]:.4g} |")
        print()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

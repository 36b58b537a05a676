r"""What each layer of a hierarchical VAE holds: its KL term, its active units, and what fixing the top layer fixes.

For a two-layer model ([`vae.hierarchical`](../docs/theory/hierarchical.md)), on the binarized test set
(`vae.binarized_test_set`, the fixed test seed, as the model card's numbers are):

1. **Each layer's KL term**, averaged over the images: $\mathrm{KL}(q(z_2 \mid x) \Vert p(z_2))$ (one sample for a
   mixture prior) and $\mathbb E_{q(z_2 \mid x)}\mathrm{KL}(q(z_1 \mid x, z_2) \Vert p(z_1 \mid z_2))$ (closed form at one
   sampled $z_2$), with the reconstruction term; the three sum to the one-sample negative ELBO. A layer whose KL is
   near 0 has collapsed onto its prior.
2. **Active units per layer** (Burda et al., 2016; threshold 0.01, as `benchmarks/active_units.py`): for the top
   layer $A_j = \operatorname{Var}_x \mu_{2,j}(x)$; for the lower layer
   $A_j = \operatorname{Var}_x \mu_{1,j}(x, \mu_2(x))$, its posterior mean at the top layer's posterior mean.
3. **What the top layer fixes**, on ancestral samples: R top codes $z_2^{(r)} \sim p(z_2)$ and, for each, D lower
   codes $z_1^{(r,d)} \sim p(z_1 \mid z_2^{(r)})$, decoded to pixel means $m^{(r,d)}$. By the law of total variance,
   the pixel variance of the samples splits into the part within a top code and the part between top codes,

   $$
   \operatorname{Var}[m] = \underbrace{\mathbb E_{z_2}\operatorname{Var}[m \mid z_2]}_{\text{lower layer}}
   + \underbrace{\operatorname{Var}_{z_2}\mathbb E[m \mid z_2]}_{\text{top layer}},
   $$

   estimated with the R x D draws (summed over pixels; the within part with the unbiased D - 1 divisor, the
   total over all R x D draws). The **lower layer's share** is the first term over the total. And the shipped
   MNIST classifier labels every decoded sample: the **class agreement** is the fraction of pairs of draws with
   the same top code that get the same label, against the fraction for pairs with different top codes (the rate
   two independent samples agree, near $\sum_c p_c^2 \approx 0.1$ for balanced digits). A top layer that decides
   the digit puts the first near 1.

Usage: python benchmarks/hierarchical_layers.py [MODEL] [--rows 500] [--draws 8] [--seed 0] [--data-root ../shared/data]
MODEL: a shipped name, model folder or run folder of `kind="hvae"` (default: hierarchical). Updates
benchmarks/results/hierarchical_layers.json (one entry per model, named as given, with the SHA-256 of its weights)
and prints the numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

import vae
from vae.classifier import Classifier, load_classifier
from vae.diagnostics import ACTIVE_THRESHOLD
from vae.hierarchical import HierarchicalVAE

RESULTS = Path(__file__).parent / "results" / "hierarchical_layers.json"


@torch.no_grad()
def layer_terms(model: HierarchicalVAE, images: torch.Tensor, seed: int = 0, batch_size: int = 1000) -> dict[str, float]:
    """Mean reconstruction, KL of z1 and KL of z2 over `images` (N, C, H, W), one posterior sample each, in nats."""
    generator = torch.Generator().manual_seed(seed)
    sums = {"reconstruction": 0.0, "kl_z1": 0.0, "kl_z2": 0.0}
    model.eval()
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size]
        terms = model(x, generator=generator)
        for key in sums:
            sums[key] += getattr(terms, key).item() * x.shape[0]
    means = {key: value / images.shape[0] for key, value in sums.items()}
    return {**means, "negative_elbo": means["reconstruction"] + means["kl_z1"] + means["kl_z2"]}


@torch.no_grad()
def layer_activity(model: HierarchicalVAE, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$\operatorname{Var}_x \mu_2(x)$ (D2,) and $\operatorname{Var}_x \mu_1(x, \mu_2(x))$ (D1,) over `images` (population variances)."""
    top, lower = [], []
    model.eval()
    for start in range(0, images.shape[0], batch_size):
        h, mu2, _ = model.bottom_up(images[start : start + batch_size])
        mu1, _ = model.lower_posterior_params(h, mu2)
        top.append(mu2.double())
        lower.append(mu1.double())
    return torch.cat(top).var(dim=0, unbiased=False), torch.cat(lower).var(dim=0, unbiased=False)


@torch.no_grad()
def ancestral_means(model: HierarchicalVAE, rows: int, draws: int, seed: int = 0) -> torch.Tensor:
    """Decoder means of `draws` lower codes z1 ~ p(z1 | z2) for each of `rows` top codes z2 ~ p(z2): -> (rows, draws, C, H, W)."""
    model.eval()
    return model.sample_rows(rows, draws, torch.Generator().manual_seed(seed))[:, 1:]  # without the column at z1's mean


def variance_split(means: torch.Tensor) -> dict[str, float]:
    r"""The samples' pixel variance within and between top codes, summed over pixels: means (R, D, ...) -> dict.

    `within` is $\frac1R \sum_r$ the unbiased variance over the D draws of row r; `between` is the variance of
    the row means, less the within part's share of it ($\frac1D$ of it: a row mean of D draws still varies with
    the lower layer), so that `within + between` estimates the total without bias. `total` is the population
    variance over all R x D draws, which the other two approach as R grows.
    """
    m = means.flatten(2).double()  # (R, D, P)
    rows, draws = m.shape[:2]
    within = m.var(dim=1, unbiased=True).mean(0).sum().item()  # E_z2 Var[m | z2], summed over pixels
    between = m.mean(1).var(dim=0, unbiased=True).sum().item() - within / draws  # Var_z2 E[m | z2]
    total = m.flatten(0, 1).var(dim=0, unbiased=False).sum().item()
    return {"within": within, "between": between, "total": total, "lower_share": within / (within + between)}


def class_agreement(labels: torch.Tensor) -> dict[str, float]:
    """Labels (R, D) of the decoded samples -> how often two draws agree with the same and with different top codes."""
    rows, draws = labels.shape
    same = (labels.unsqueeze(2) == labels.unsqueeze(1)).double()  # (R, D, D)
    pairs_same = rows * draws * (draws - 1)
    agree_same = (same.sum() - rows * draws) / pairs_same  # off the diagonal: two different draws of one row
    counts = torch.stack([torch.bincount(r, minlength=10) for r in labels]).double()  # (R, 10)
    total = counts.sum(0)  # (10,)
    agree_all = (total * (total - 1)).sum()  # ordered pairs of different draws with one label, any rows
    agree_rows = (counts * (counts - 1)).sum()  # ... of those, in the same row
    pairs_all = rows * draws * (rows * draws - 1)
    agree_different = (agree_all - agree_rows) / (pairs_all - pairs_same)
    return {"same_top_code": agree_same.item(), "different_top_codes": agree_different.item()}


def measure(model: HierarchicalVAE, test: vae.MNIST, classifier: Classifier, rows: int = 500, draws: int = 8,
            seed: int = 0) -> dict[str, Any]:
    """Everything above for one model, as a JSON-ready dict."""
    if not isinstance(model, HierarchicalVAE):
        raise SystemExit(f"a {type(model).__name__} has one stochastic layer: this measures models of kind 'hvae'")
    bits = vae.binarized_test_set(test)
    top, lower = layer_activity(model, bits)
    means = ancestral_means(model, rows, draws, seed)
    labels, _ = classifier.predict(means.flatten(0, 1))
    return {
        "num_images": bits.shape[0],
        "terms": layer_terms(model, bits, seed),
        "threshold": ACTIVE_THRESHOLD,
        "active_units": {"z2": int((top > ACTIVE_THRESHOLD).sum()), "z1": int((lower > ACTIVE_THRESHOLD).sum()),
                         "z2_dim": top.numel(), "z1_dim": lower.numel()},
        "samples": {"rows": rows, "draws": draws, "seed": seed},
        "variance": variance_split(means),
        "class_agreement": class_agreement(labels.view(rows, draws)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="hierarchical")
    parser.add_argument("--rows", type=int, default=500, help="top codes drawn from the prior (default 500)")
    parser.add_argument("--draws", type=int, default=8, help="lower codes per top code (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.rows < 2 or args.draws < 2:
        parser.error("--rows and --draws must each be at least 2 (the variances need two draws)")
    model = vae.load(args.model)
    result = measure(model, vae.load_mnist(False, args.data_root), load_classifier(), args.rows, args.draws, args.seed)
    result["weights_sha256"] = vae.checkpoint.weights_sha256(args.model)
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**saved, args.model: result}, indent=2) + "\n")
    t, a, v, c = result["terms"], result["active_units"], result["variance"], result["class_agreement"]
    print(f"{args.model}: -ELBO {t['negative_elbo']:.2f} = reconstruction {t['reconstruction']:.2f} + KL(z1) {t['kl_z1']:.2f}"
          f" + KL(z2) {t['kl_z2']:.2f} nats; active units z2 {a['z2']}/{a['z2_dim']}, z1 {a['z1']}/{a['z1_dim']}")
    print(f"samples: the lower layer holds {v['lower_share']:.1%} of the pixel variance; two draws with one top code "
          f"get the same label {c['same_top_code']:.1%} of the time, with different top codes {c['different_top_codes']:.1%}")


if __name__ == "__main__":
    main()

"""Make the figures and the small tables of numbers shown on the theory pages.

Every figure and number is computed by the package from the shipped models and the MNIST test set;
nothing is typed in by hand, and nothing is committed: the docs build (hooks/figures.py) calls
`make()` and adds the results to the site as `assets/figures/<name>.png`, and replaces each
`<!-- table: NAME -->` line of a page with the table NAME. So the pages always show the models
that ship with the code that documents them.

Run it by hand to look at the results:

    python scripts/make_figures.py                      # all, into $TMPDIR/vae-explorer-figures
    python scripts/make_figures.py iwae cvae --out figs # some of them, into figs/

Names: ae_vs_vae (needs the shipped ae2d and latent2d models), beta (latent2d and its beta variants), binarization, estimators,
iwae (latent2d), cvae (cvae), training_curves (the history.jsonl of every shipped model), active_units (default),
samples (default), elbo_gap (latent2d), kl_directions (no model), hierarchical (hierarchical). Data root: the package's (`vae.resolve_data_root()`: $VAE_DATA_ROOT, else ~/.cache/vae-explorer/data).
Seeds are fixed, so a rerun on the same models reproduces the numbers.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import vae  # noqa: E402
import vae.diagnostics  # noqa: E402
from vae.checkpoint import resolve_model_dir  # noqa: E402
from vae.config import read_jsonl  # noqa: E402
from vae.evaluation import chunked_log_weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DPI = 110


@dataclass
class Results:
    """What the figure functions made: PNG files by name and Markdown tables by name."""

    figures: dict[str, bytes] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)


_results = Results()


def _data_root() -> Path:
    return vae.resolve_data_root()


def _test_set() -> vae.MNIST:
    return vae.load_mnist(False, _data_root())


def _save(fig: plt.Figure, name: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    _results.figures[name] = buffer.getvalue()


def _write_table(name: str, lines: list[str]) -> None:
    _results.tables[name] = "\n".join(lines) + "\n"


def _g(x: float) -> str:
    """Three significant digits, without scientific notation for ordinary magnitudes."""
    x = x + 0.0  # no "-0"
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{x:.2e}"


# -- autoencoder vs VAE --------------------------------------------------------------------------
def ae_vs_vae() -> None:
    """Codes of test digits and decoded grids for the shipped ae2d and latent2d models."""
    test = _test_set()
    n = 5000
    labels = test.labels[:n]
    bits = vae.binarized_test_set(test)[:n]
    models = [("ae2d", "plain autoencoder (ae2d)"), ("latent2d", "VAE (latent2d)")]
    fig, axes = plt.subplots(2, 2, figsize=(10, 10.4), gridspec_kw={"height_ratios": [1, 1]})
    rows = ["| model | mean of $z_1$, $z_2$ | standard deviation of $z_1$, $z_2$ | range of $z_1$ (min to max) | range of $z_2$ (min to max) |",
            "| --- | --- | --- | --- | --- |"]
    for col, (name, title) in enumerate(models):
        model = vae.load(name)
        with torch.no_grad():
            z = model.embed(bits)  # (n, 2): the code, or the posterior mean
        lo, hi = z.quantile(0.005, dim=0), z.quantile(0.995, dim=0)  # the region of 99% of the codes per axis
        pad = 0.04 * (hi - lo)
        lo, hi = (lo - pad).tolist(), (hi + pad).tolist()  # plain floats for matplotlib
        ax = axes[0, col]
        sc = ax.scatter(z[:, 0].numpy(), z[:, 1].numpy(), c=labels.numpy(), cmap="tab10", s=3, alpha=0.7, vmin=-0.5, vmax=9.5)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_title(f"{title}: codes of {n:,} test digits")
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        m = 15
        g1 = torch.linspace(lo[0], hi[0], m)
        g2 = torch.linspace(hi[1], lo[1], m)  # top row = high z2, as in the plot
        zz1, zz2 = torch.meshgrid(g1, g2, indexing="xy")
        grid = torch.stack([zz1.reshape(-1), zz2.reshape(-1)], dim=1)  # (m*m, 2), row-major
        images = vae.decode_images(model, grid)[:, 0]  # (m*m, 28, 28)
        canvas = images.reshape(m, m, 28, 28).permute(0, 2, 1, 3).reshape(m * 28, m * 28)
        ax = axes[1, col]
        ax.imshow(canvas.numpy(), cmap="gray", extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto")
        ax.set_title("decoded on a regular 15 x 15 grid of codes")
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        mean, std = z.mean(dim=0), z.std(dim=0)
        rows.append(
            f"| {title} | {mean[0]:.2f}, {mean[1]:.2f} | {std[0]:.2f}, {std[1]:.2f} | "
            f"{z[:, 0].min():.1f} to {z[:, 0].max():.1f} | {z[:, 1].min():.1f} to {z[:, 1].max():.1f} |"
        )
    cbar = fig.colorbar(sc, ax=axes[0, :].tolist(), ticks=range(10), fraction=0.03, pad=0.02)
    cbar.set_label("digit")
    cbar.solids.set_alpha(1)
    _save(fig, "ae_vs_vae.png")
    rows.append("")
    rows.append(f"Statistics of the codes of the first {n:,} test images (binarized with the fixed test seed); "
                "the prior of the VAE has mean 0 and standard deviation 1.")
    _write_table("ae_vs_vae", rows)


BETA_MODELS = [("latent2d-beta0.5", 0.5), ("latent2d", 1.0), ("latent2d-beta4", 4.0)]


def beta() -> None:
    """The shipped 2-D VAEs trained with KL weights 0.5, 1 and 4: codes, decoded grids, rate and distortion."""
    from vae.classifier import confident_fraction, load_classifier
    from vae.evaluation import average_loss

    test = _test_set()
    bits = vae.binarized_test_set(test)
    classifier = load_classifier()
    n, m, radius = 5000, 15, 4.0
    fig, axes = plt.subplots(2, len(BETA_MODELS), figsize=(4.2 * len(BETA_MODELS), 8.6))
    rows = ["| β | distortion $\\Delta$ | rate $R$ | $-$ELBO $= \\Delta + R$ | NLL (k = 5000) |", "| ---: | ---: | ---: | ---: | ---: |"]
    shapes = ["| β | codes beyond radius 3 | reconstructions recognised | prior samples recognised |",
              "| ---: | ---: | ---: | ---: |"]
    for col, (name, weight) in enumerate(BETA_MODELS):
        model = vae.load(name)
        with torch.no_grad():
            z = model.embed(bits)  # (N, 2) posterior means
        ax = axes[0, col]
        sc = ax.scatter(z[:n, 0].numpy(), z[:n, 1].numpy(), c=test.labels[:n].numpy(), cmap="tab10", s=3, alpha=0.7,
                        vmin=-0.5, vmax=9.5)
        for r in (1, 2, 3):  # circles of the prior N(0, I)
            ax.add_patch(plt.Circle((0, 0), r, fill=False, ls=":", lw=0.8, color="0.3"))
        ax.set_xlim(-radius, radius)
        ax.set_ylim(-radius, radius)
        ax.set_aspect("equal")
        ax.set_title(f"β = {weight:g} ({name}): codes of {n:,} test digits", fontsize=9)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        images = vae.decode_images(model, vae.manifold_grid(m))[:, 0]  # (m*m, 28, 28), rows from high z2
        axes[1, col].imshow(images.reshape(m, m, 28, 28).permute(0, 2, 1, 3).reshape(m * 28, m * 28).numpy(), cmap="gray")
        axes[1, col].set_title(f"β = {weight:g}: decoded on a {m} x {m} grid (equal prior mass)", fontsize=9)
        axes[1, col].axis("off")
        terms = average_loss(model, bits, test.labels, batch_size=1000, device=torch.device("cpu"))
        predicted, _ = classifier.predict(vae.decode_images(model, z))
        recognised = (predicted == test.labels).float().mean().item()
        confident = confident_fraction(model, classifier)["confident_fraction"]
        nll = vae.load_metrics(name).get("evaluation", {}).get("test_nll")
        outside = (z.norm(dim=1) > 3).float().mean().item()
        rows.append(f"| {weight:g} | {terms['reconstruction']:.1f} | {terms['kl']:.2f} | {terms['loss']:.1f} "
                    f"| {'—' if nll is None else f'{nll:.1f}'} |")
        shapes.append(f"| {weight:g} | {outside:.1%} | {recognised:.1%} | {confident:.1%} |")
    cbar = fig.colorbar(sc, ax=axes[0, :].tolist(), ticks=range(10), fraction=0.02, pad=0.02)
    cbar.set_label("digit")
    cbar.solids.set_alpha(1)
    _save(fig, "beta.png")
    rows += ["", *shapes, ""]
    rows.append("β = 0.5, 1, 4: `latent2d-beta0.5`, `latent2d`, `latent2d-beta4`. Distortion $\\Delta$ (the reconstruction "
                "term), rate $R$ (the KL term, unweighted for every model) and $-$ELBO $= \\Delta + R$ in nats per image, on "
                "the full test set binarized with the fixed seed, one posterior sample per image. NLL: the recorded "
                "k = 5000 evaluation from each model's metrics.json. Codes: the posterior means of the whole test set; "
                f"the prior puts {math.exp(-4.5):.1%} of its mass beyond radius 3. Reconstructions recognised: the "
                "decoder mean at the posterior mean is classified as the input's digit by the package's classifier. "
                "Prior samples recognised: 1,000 samples (seed 0) classified with confidence ≥ 0.9.")
    _write_table("beta", rows)


# -- binarization ---------------------------------------------------------------------------------
def binarization() -> None:
    """Gray levels, fixed-seed stochastic binarization and thresholding of a few test digits."""
    test = _test_set()
    gray = test.images  # (10000, 1, 28, 28)
    bits = vae.binarized_test_set(test)
    thresholded = (gray > 0.5).float()
    k = 10
    fig, axes = plt.subplots(3, k, figsize=(k * 0.95, 3 * 1.05))
    for row, (name, images) in enumerate([("gray levels", gray), ("binarized (seed 0)", bits), ("thresholded at 0.5", thresholded)]):
        for col in range(k):
            ax = axes[row, col]
            ax.imshow(images[col, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    _save(fig, "binarization.png")

    p = gray.flatten(1).double()
    entropy = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))  # binary entropy per pixel, nats
    per_image = entropy.sum(dim=1)  # (10000,)
    strictly_gray = ((p > 0) & (p < 1)).sum(dim=1).double()
    flips = (bits != thresholded).flatten(1).sum(dim=1).double()
    rows = [
        "| quantity, mean over the 10,000 test images | value |",
        "| --- | --- |",
        f"| pixels with a gray level strictly between 0 and 1 | {strictly_gray.mean():.1f} of 784 |",
        f"| binary entropy of the gray levels, summed over the pixels | {per_image.mean():.1f} nats (standard deviation {per_image.std():.1f}) |",
        f"| pixels where the stochastic binarization differs from thresholding at 0.5 | {flips.mean():.1f} |",
        "",
        "The second row is the smallest average binary cross-entropy that *any* decoder could reach on the gray-level "
        "test images: a floor that is part of every gray-level \"reconstruction loss\" and of no binary NLL.",
    ]
    _write_table("binarization", rows)


# -- gradient estimators --------------------------------------------------------------------------
FUNCTIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[float, float], tuple[float, float]]]] = {
    "z^2": (lambda z: z.pow(2), lambda m, s: (2 * m, 2 * s)),
    "sin z": (torch.sin, lambda m, s: (math.cos(m) * math.exp(-s * s / 2), -s * math.sin(m) * math.exp(-s * s / 2))),
    "exp z": (torch.exp, lambda m, s: (math.exp(m + s * s / 2), s * math.exp(m + s * s / 2))),
}


def estimators() -> None:
    """Mean and variance of the pathwise and score-function estimators, computed by vae.estimators."""
    samples = 100_000
    cases = [("z^2", 1.0, 0.5), ("z^2", 1.0, 0.1), ("exp z", 0.0, 1.0), ("sin z", 1.0, 0.5), ("sin z", 0.0, 2.0)]
    rows = [
        "| $f(z)$; $\\mu,\\ \\sigma$ | derivative | exact | mean | variance | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, (name, mu, sigma) in enumerate(cases):
        f, grad = FUNCTIONS[name]
        path = vae.pathwise_gradient(f, mu, sigma, samples, torch.Generator().manual_seed(i))
        score = vae.score_function_gradient(f, mu, sigma, samples, torch.Generator().manual_seed(i))
        exact = grad(mu, sigma)
        tex = {"z^2": "z^2", "sin z": "\\sin z", "exp z": "e^z"}[name]
        for j, wrt in enumerate(["$\\partial F/\\partial\\mu$", "$\\partial F/\\partial\\sigma$"]):
            pm, pv = path.mean()[j], path.variance()[j]
            sm, sv = score.mean()[j], score.variance()[j]
            rows.append(f"| ${tex}$; {mu:g}, {sigma:g} | {wrt} | {_g(exact[j])} | {_g(pm)} / {_g(sm)} | {_g(pv)} / {_g(sv)} | {_g(sv / pv)} |")
    rows += ["", "Each *mean* and *variance* cell reads **pathwise / score function**; *ratio* is the score-function "
             f"variance divided by the pathwise one. Variances are those of a single-sample estimate; each mean averages "
             f"{samples:,} of them (its standard error is the square root of variance / {samples:,})."]
    _write_table("estimators", rows)

    sigmas = torch.logspace(math.log10(0.05), math.log10(4.0), 17).tolist()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, name in zip(axes, ["z^2", "sin z"]):
        f, _ = FUNCTIONS[name]
        mu = 1.0
        pv = [vae.pathwise_gradient(f, mu, s, 20_000, torch.Generator().manual_seed(10 + i)).variance()[0] for i, s in enumerate(sigmas)]
        sv = [vae.score_function_gradient(f, mu, s, 20_000, torch.Generator().manual_seed(10 + i)).variance()[0] for i, s in enumerate(sigmas)]
        ax.loglog(sigmas, pv, "o", color="C0", label="pathwise (measured)")
        ax.loglog(sigmas, sv, "s", color="C3", label="score function (measured)")
        if name == "z^2":
            s = torch.tensor(sigmas, dtype=torch.float64)
            ax.loglog(sigmas, (4 * s**2).tolist(), "-", color="C0", lw=1, label="pathwise, closed form")
            closed = (mu**4 + 18 * mu**2 * s**2 + 15 * s**4) / s**2 - 4 * mu**2
            ax.loglog(sigmas, closed.tolist(), "-", color="C3", lw=1, label="score function, closed form")
        pretty = "z^2" if name == "z^2" else "\\sin z"
        ax.set_title(f"$f(z) = {pretty}$, $\\mu = 1$")
        ax.set_xlabel("$\\sigma$")
        ax.set_ylabel("variance of one estimate of $\\partial F / \\partial \\mu$")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, "estimator_variance.png")


# -- IWAE bound vs k --------------------------------------------------------------------------------
def iwae() -> None:
    """The importance-weighted bound of the shipped latent2d model as k grows."""
    test = _test_set()
    n, k_max = 100, 2000
    bits = vae.binarized_test_set(test)[:n]
    model = vae.load("latent2d")
    torch.manual_seed(0)
    log_w = torch.cat([chunked_log_weights(model, bits[i : i + 20], k_max) for i in range(0, n, 20)]).double()  # (n, k_max)
    ks = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
    bounds = []
    for k in ks:
        groups = log_w[:, : (k_max // k) * k].reshape(n, k_max // k, k)  # disjoint groups of k weights
        bounds.append(vae.iwae_bound(groups).mean().item())  # mean over groups and images
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.semilogx(ks, bounds, "o-", color="C0")
    ax.axhline(bounds[0], color="C3", ls="--", lw=1, label="ELBO ($k = 1$)")
    ax.set_xlabel("number of importance samples $k$")
    ax.set_ylabel("$\\mathcal{L}_k$ (nats, mean over images)")
    ax.set_title(f"latent2d: the IWAE bound on {n} test images")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, "iwae_vs_k.png")
    rows = ["| $k$ | $\\mathcal L_k$ (nats) | gain over the ELBO (nats) |", "| ---: | ---: | ---: |"]
    rows += [f"| {k:,} | {b:.2f} | {b - bounds[0]:.2f} |" for k, b in zip(ks, bounds)]
    rows += ["", f"Mean over the first {n} test images (binarized with the fixed test seed) of the bound computed from "
             f"{k_max:,} log weights per image; $k = 1$ is the ELBO."]
    _write_table("iwae", rows)


# -- conditional VAE ----------------------------------------------------------------------------------
def cvae() -> None:
    """Rows of one code decoded with every label, from the prior and from a test digit."""
    test = _test_set()
    model = vae.load("cvae")
    rows_from_prior = 6
    z = model.prior.sample(rows_from_prior, generator=torch.Generator().manual_seed(0))
    source = vae.binarized_test_set(test)[:1]  # the first test digit
    with torch.no_grad():
        z_style = model.embed(source, test.labels[:1])  # (1, D): its posterior mean given its true label
    codes = torch.cat([z, z_style])  # (rows, D)
    rows = codes.shape[0]
    labels = torch.arange(10).repeat(rows)  # (rows * 10,)
    images = vae.decode_images(model, codes.repeat_interleave(10, dim=0), labels)[:, 0]  # (rows*10, 28, 28)
    fig, axes = plt.subplots(rows, 11, figsize=(11 * 0.9, rows * 0.95))
    for r in range(rows):
        for c in range(11):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                for side in ax.spines.values():
                    side.set_visible(False)
                if r == rows - 1:
                    ax.imshow(source[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
                    ax.set_xlabel("input", fontsize=8)
                else:
                    ax.text(0.5, 0.5, "prior", ha="center", va="center", fontsize=8, transform=ax.transAxes)
                continue
            ax.imshow(images[r * 10 + c - 1].numpy(), cmap="gray", vmin=0, vmax=1)
            if r == 0:
                ax.set_title(str(c - 1), fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.1)
    _save(fig, "cvae_styles.png")


# -- training curves of the shipped models ------------------------------------------------------------
def training_curves() -> None:
    """Each shipped model's per-epoch test loss (and training loss) from its history.jsonl."""
    order = ("default", "hierarchical", "cvae", "ae2d", "latent2d", "latent2d-beta0.5", "latent2d-beta4")
    names = [n for n in order if n in vae.available_models()]
    cols = min(3, len(names))
    fig, axes = plt.subplots(math.ceil(len(names) / cols), cols, figsize=(3.6 * cols, 3.4 * math.ceil(len(names) / cols)),
                             squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        folder = resolve_model_dir(name)
        history = read_jsonl(folder / "history.jsonl")
        epochs = [r["epoch"] for r in history]
        variational = vae.load(name).config.is_variational
        test_label = "test $-$ELBO" if variational else "test reconstruction"
        ax.plot(epochs, [r["test_loss"] for r in history], color="C0", label=test_label)
        objective = "training loss ($-$IWAE bound)" if "train_iwae" in history[-1] else "training loss"
        if history[-1].get("beta", 1.0) != 1.0:
            objective += f" (KL weight β = {history[-1]['beta']:g})"
        ax.plot(epochs, [r["train_loss"] for r in history], color="C1", lw=1, label=objective)
        for r, previous in zip(history[1:], history):
            if r.get("stage") != previous.get("stage"):  # a fine-tuning stage starts here
                ax.axvline(previous["epoch"] + 0.5, color="0.4", ls=":", lw=1)
                ax.text(previous["epoch"] + 1, 0.97, f"stage {r['stage']}", transform=ax.get_xaxis_transform(),
                        fontsize=7, va="top", color="0.3")
        final = history[-1]["test_loss"]
        low = min(final, history[-1]["train_loss"]) - 5
        ax.set_ylim(low, final + 30)  # the first epochs are far above; the end is what matters
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for row in axes:
        row[0].set_ylabel("nats per image")
    fig.tight_layout()
    _save(fig, "training_curves.png")


def _benchmark(name: str):  # noqa: ANN202 - a module
    """A script of benchmarks/ imported as a module, for the results it records and how it encodes them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # loaded afresh each time, so `mkdocs serve` sees an edited benchmark
    return module


# -- active units of the shipped default model ------------------------------------------------------
def active_units() -> None:
    r"""Var_x E_q[z_j] and E_x Var_q[z_j] of each latent dimension of `default` over the binarized test set."""
    test = _test_set()
    model = vae.load("default")
    activity, variance = vae.diagnostics.posterior_statistics(model, vae.binarized_test_set(test))  # (D,) each
    order = torch.argsort(activity, descending=True)
    active = int((activity > vae.diagnostics.ACTIVE_THRESHOLD).sum())
    d = activity.numel()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    positions = torch.arange(d).numpy()
    ax.bar(positions - 0.2, activity[order].numpy(), width=0.4, color="C0", label=r"$\mathrm{Var}_x\, \mathbb{E}_q[z_j]$ (activity)")
    ax.bar(positions + 0.2, variance[order].numpy(), width=0.4, color="C1", label=r"$\mathbb{E}_x\, \mathrm{Var}_q[z_j]$ (posterior variance)")
    ax.axhline(vae.diagnostics.ACTIVE_THRESHOLD, color="C3", ls="--", lw=1, label=f"threshold {vae.diagnostics.ACTIVE_THRESHOLD:g}")
    ax.axvline(active - 0.5, color="0.4", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(positions, [str(j) for j in order.tolist()], fontsize=7)
    ax.set_xlabel("latent dimension $j$, most active first")
    ax.set_title(f"default: {active} of {d} latent dimensions active over {len(test.labels):,} test digits")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    _save(fig, "active_units.png")
    rows = ["| dimensions | how many | $\\operatorname{Var}_x \\mathbb E_q[z_j]$ (activity) | $\\mathbb E_x \\operatorname{Var}_q[z_j]$ (posterior variance) |",
            "| --- | ---: | --- | --- |"]
    for name, chosen in (("active", activity > vae.diagnostics.ACTIVE_THRESHOLD), ("inactive", activity <= vae.diagnostics.ACTIVE_THRESHOLD)):
        if chosen.any():
            a, v = activity[chosen], variance[chosen]
            rows.append(f"| {name} | {int(chosen.sum())} | {a.min():.3g} to {a.max():.3g} | {v.min():.3g} to {v.max():.3g} |")
        else:
            rows.append(f"| {name} | 0 | | |")
    rows += ["", f"The shipped `default`, {d} latent dimensions; a dimension is active when $\\operatorname{{Var}}_x \\mathbb E_q[z_j] > "
             f"{vae.diagnostics.ACTIVE_THRESHOLD:g}$. Both statistics over the {len(test.labels):,} test images binarized with the fixed seed; "
             "`python benchmarks/active_units.py` computes the same numbers, dimension by dimension, into "
             "`benchmarks/results/active_units.json`."]
    _write_table("active_units", rows)


# -- decoder means and Bernoulli draws ------------------------------------------------------------------
def samples() -> None:
    """Prior samples of `default` shown as decoder means and as Bernoulli draws from the same decoder."""
    model = vae.load("default")
    n, draws = 10, 2
    z = model.prior.sample(n, generator=torch.Generator().manual_seed(0))  # (n, D)
    means = vae.decode_images(model, z)  # (n, 1, 28, 28): sigmoid(logits), what the demo shows
    generator = torch.Generator().manual_seed(1)
    sampled = [torch.bernoulli(means, generator=generator) for _ in range(draws)]  # x ~ p(x | z), pixels independent
    test = _test_set()
    real = vae.binarized_test_set(test)[:n]
    rows = [("decoder mean\n$\\mathrm{sigmoid}(\\ell_\\theta(z))$", means)] + [
        (f"draw {i + 1}: $x \\sim p_\\theta(x \\mid z)$", s) for i, s in enumerate(sampled)] + [("binarized test digits", real)]
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.9, len(rows) * 0.98))
    for r, (name, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(wspace=0.05, hspace=0.08)
    _save(fig, "samples_mean_vs_draw.png")


# -- the ELBO gap of latent2d, seen in the latent plane --------------------------------------------------
def _ellipse(ax: plt.Axes, mu: torch.Tensor, logvar: torch.Tensor, color: str, label: str) -> None:
    """The 1 and 2 standard-deviation ellipses of a diagonal Gaussian."""
    from matplotlib.patches import Ellipse

    sd = (0.5 * logvar).exp()
    for r, style in ((1, "-"), (2, "--")):
        ax.add_patch(Ellipse((mu[0].item(), mu[1].item()), 2 * r * sd[0].item(), 2 * r * sd[1].item(), fill=False, color=color,
                             ls=style, lw=1.3, label=label if r == 1 else None))


def elbo_gap() -> None:
    """True posterior of latent2d on a grid against the encoder's q and the best Gaussian for two test images."""
    model = vae.load("latent2d")
    bits = vae.binarized_test_set(_test_set())[:100]
    with torch.no_grad():
        mu_e, logvar_e = model.encode(bits)  # (100, 2) each
    modes = vae.diagnostics.coarse_modes(model, bits)  # (100, 2): best point of a coarse grid
    distance = ((modes - mu_e).abs() / (0.5 * logvar_e).exp()).amax(dim=1)  # in encoder standard deviations
    chosen = [0, int(distance.argmax())]  # the first test digit, and the one whose encoder is farthest from a better mode
    torch.manual_seed(0)
    fig, axes = plt.subplots(1, 2 * len(chosen), figsize=(6.2 * len(chosen), 4.2),
                             gridspec_kw={"width_ratios": [0.28, 1] * len(chosen)})
    for digit_ax, i in zip(axes[0::2], chosen):
        digit_ax.imshow(bits[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        digit_ax.set_xticks([])
        digit_ax.set_yticks([])
        digit_ax.set_title(f"test image {i}", fontsize=9)
    rows = ["| test image | $\\log p_\\theta(x)$ (quadrature) | $\\mathcal L(x; q^\\ast)$ | $\\mathcal L(x; q_\\phi)$ | approximation gap | amortization gap |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for ax, i in zip(axes[1::2], chosen):
        x = bits[i : i + 1]
        starts = [(mu_e[i : i + 1], logvar_e[i : i + 1]), (modes[i : i + 1], logvar_e[i : i + 1])]
        fits = [vae.diagnostics.optimise_posteriors(model, x, 200, 16, 0.05, start=start) for start in starts]
        with torch.no_grad():
            values = [vae.diagnostics.gaussian_elbo(model, x, m, lv, 2000, torch.Generator().manual_seed(1)).item() for m, lv in fits]
            elbo_e = vae.diagnostics.gaussian_elbo(model, x, *starts[0], 2000, torch.Generator().manual_seed(1)).item()
        best = max(range(len(fits)), key=lambda j: values[j])
        mu_o, logvar_o = fits[best]
        log_px = vae.diagnostics.quadrature_log_px(model, x, [starts[0], fits[best]]).item()
        rows.append(f"| {i} | {log_px:.2f} | {values[best]:.2f} | {elbo_e:.2f} | {log_px - values[best]:.2f} | {values[best] - elbo_e:.2f} |")
        # the true posterior on a plotting grid over both Gaussians
        centres = torch.cat([mu_e[i : i + 1], mu_o])
        sds = torch.cat([(0.5 * logvar_e[i : i + 1]).exp(), (0.5 * logvar_o).exp()])
        lo, hi = (centres - 5 * sds).amin(0), (centres + 5 * sds).amax(0)
        g1, g2 = torch.linspace(lo[0], hi[0], 240), torch.linspace(lo[1], hi[1], 240)
        z1, z2 = torch.meshgrid(g1, g2, indexing="xy")
        zz = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (240*240, 2)
        with torch.no_grad():
            log_joint = torch.cat([vae.bernoulli_log_likelihood(x.expand(len(c), -1, -1, -1), model.decode(c)) + model.prior.log_prob(c)
                                   for c in zz.split(20_000)]).reshape(240, 240)
        density = (log_joint - log_joint.max()).exp()
        ax.contourf(z1.numpy(), z2.numpy(), density.numpy(), levels=[math.exp(-0.5 * r * r) for r in (3, 2, 1)] + [1.01],
                    cmap="Greys", alpha=0.8)
        ax.contour(z1.numpy(), z2.numpy(), density.numpy(), levels=[math.exp(-0.5 * r * r) for r in (3, 2, 1)], colors="0.3", linewidths=0.6)
        _ellipse(ax, mu_e[i], logvar_e[i], "C0", "encoder $q_\\phi(z \\mid x)$")
        _ellipse(ax, mu_o[0], logvar_o[0], "C3", "best Gaussian $q^\\ast$")
        ax.set_xlim(lo[0].item(), hi[0].item())
        ax.set_ylim(lo[1].item(), hi[1].item())
        ax.set_title(f"its ELBO gap, {log_px - elbo_e:.2f} nats =\n{log_px - values[best]:.2f} approximation + "
                     f"{values[best] - elbo_e:.2f} amortization", fontsize=9)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    _save(fig, "elbo_gap.png")
    rows += ["", "latent2d, test images binarized with the fixed seed. Grey: the true posterior $p_\\theta(z \\mid x)$ on a grid, "
             "shaded inside the contours where it falls to $e^{-1/2}$, $e^{-2}$ and $e^{-9/2}$ of its peak (for a Gaussian: 1, 2 and 3 "
             "standard deviations). Ellipses: 1 and 2 standard deviations of each Gaussian. $q^\\ast$: 200 Adam steps on this image's "
             "ELBO from the encoder's Gaussian and from the best point of a coarse grid, the better kept "
             "([`vae.diagnostics.optimise_posteriors`][vae.diagnostics.optimise_posteriors]); ELBOs averaged over 2,000 draws."]
    _write_table("elbo_gap", rows)


# -- which way round the KL goes --------------------------------------------------------------------------
def kl_directions() -> None:
    """Gaussians fitted to a bimodal and to a correlated target by KL(q || p) and by KL(p || q)."""
    from torch.distributions import MultivariateNormal, kl_divergence

    # 1-D: p = an equal mixture of N(-2, 0.6^2) and N(2, 0.6^2), on a fine grid
    z = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    dz = (z[1] - z[0]).item()
    one = torch.ones(1, dtype=torch.float64)

    def log_normal(z: torch.Tensor, m: float, s: float) -> torch.Tensor:
        return vae.gaussian_log_density(z[:, None], m * one, math.log(s * s) * one)

    log_p = torch.logaddexp(log_normal(z, -2, 0.6), log_normal(z, 2, 0.6)) - math.log(2)
    p = log_p.exp()

    def reverse(m: float, s: float) -> float:  # KL(q || p) = E_q[log q - log p], by quadrature
        log_q = log_normal(z, m, s)
        return float((log_q.exp() * (log_q - log_p)).sum() * dz)

    def forward(m: float, s: float) -> float:  # KL(p || q)
        return float((p * (log_p - log_normal(z, m, s))).sum() * dz)

    grid = [(m / 20, s / 40) for m in range(-60, 61) for s in range(8, 161)]
    m_rev, s_rev = min(grid, key=lambda ms: reverse(*ms))
    m_fwd = float((p * z).sum() * dz)  # moment matching: the minimiser of KL(p || q)
    s_fwd = float(((p * (z - m_fwd) ** 2).sum() * dz) ** 0.5)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    ax.fill_between(z.numpy(), p.numpy(), color="0.8", label="target $p$")
    ax.plot(z.numpy(), log_normal(z, m_rev, s_rev).exp().numpy(), color="C3",
            label=f"argmin KL($q \\Vert p$): $\\mu$ = {m_rev:.2f}, $\\sigma$ = {s_rev:.2f}")
    ax.plot(z.numpy(), log_normal(z, m_fwd, s_fwd).exp().numpy(), color="C0",
            label=f"argmin KL($p \\Vert q$): $\\mu$ = {m_fwd:.2f}, $\\sigma$ = {s_fwd:.2f}")
    ax.set_xlim(-5, 5)
    ax.set_ylim(0, 0.95)  # room for the legend
    ax.set_xlabel("$z$")
    ax.set_title("a bimodal target, one Gaussian $q$", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    # 2-D: a correlated Gaussian target, a diagonal Gaussian q
    rho = 0.9
    cov = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
    target = MultivariateNormal(torch.zeros(2, dtype=torch.float64), cov)
    s2_rev = 1 / torch.linalg.inv(cov).diagonal()  # argmin KL(q || p): 1 / (Sigma^-1)_jj
    s2_fwd = cov.diagonal()  # argmin KL(p || q): the marginal variances
    q_rev = MultivariateNormal(torch.zeros(2, dtype=torch.float64), torch.diag(s2_rev))
    q_fwd = MultivariateNormal(torch.zeros(2, dtype=torch.float64), torch.diag(s2_fwd))
    a = torch.linspace(-3, 3, 301, dtype=torch.float64)
    g1, g2 = torch.meshgrid(a, a, indexing="xy")
    pts = torch.stack([g1.reshape(-1), g2.reshape(-1)], dim=1)
    ax = axes[1]
    levels = [math.exp(-0.5 * r * r) for r in (2, 1)]
    for dist, color, label in ((target, "0.3", "target $p$"), (q_rev, "C3", "argmin KL($q \\Vert p$)"), (q_fwd, "C0", "argmin KL($p \\Vert q$)")):
        dens = (dist.log_prob(pts) - dist.log_prob(torch.zeros(1, 2, dtype=torch.float64))).exp().reshape(301, 301)
        ax.contour(g1.numpy(), g2.numpy(), dens.numpy(), levels=levels, colors=color, linewidths=1.2)
        ax.plot([], [], color=color, label=label)  # a legend entry for the contours
    ax.set_aspect("equal")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(f"a correlated Gaussian target ($\\rho$ = {rho}), a diagonal $q$:\ncontours at 1 and 2 standard deviations", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    _save(fig, "kl_directions.png")
    rows = ["| target | fitted by | $q$ | KL($q \\Vert p$) | KL($p \\Vert q$) |", "| --- | --- | --- | ---: | ---: |",
            f"| bimodal, 1-D | KL($q \\Vert p$) | $\\mu$ = {m_rev:.2f}, $\\sigma$ = {s_rev:.2f} | {reverse(m_rev, s_rev):.2f} | {forward(m_rev, s_rev):.2f} |",
            f"| bimodal, 1-D | KL($p \\Vert q$) | $\\mu$ = {m_fwd:.2f}, $\\sigma$ = {s_fwd:.2f} | {reverse(m_fwd, s_fwd):.2f} | {forward(m_fwd, s_fwd):.2f} |",
            f"| correlated, $\\rho$ = {rho} | KL($q \\Vert p$) | $\\sigma_1 = \\sigma_2$ = {s2_rev[0].sqrt():.3f} | "
            f"{kl_divergence(q_rev, target):.2f} | {kl_divergence(target, q_rev):.2f} |",
            f"| correlated, $\\rho$ = {rho} | KL($p \\Vert q$) | $\\sigma_1 = \\sigma_2$ = {s2_fwd[0].sqrt():.3f} | "
            f"{kl_divergence(q_fwd, target):.2f} | {kl_divergence(target, q_fwd):.2f} |",
            "", "Bimodal target: an equal mixture of $\\mathcal N(-2, 0.6^2)$ and $\\mathcal N(2, 0.6^2)$; KLs by quadrature on a fine "
            "grid, the reverse fit by a grid search over $\\mu$ and $\\sigma$ (its mirror image, on the other mode, is as good). Correlated "
            "target: unit variances, correlation $\\rho$; both fits in closed form, KLs by `torch.distributions.kl_divergence`."]
    _write_table("kl_directions", rows)


# -- decoder likelihoods: small models trained each way, from benchmarks/likelihoods.py's JSON --------------
def _likelihood_label(run: dict) -> str:
    if run["likelihood"] == "bernoulli":
        return "Bernoulli"
    start = f", from {run['decoder_std_start']:g}" if run["likelihood"] == "gaussian_learned" else ""
    sigma = f"learned σ {run['decoder_std']:.3g}{start}" if start else f"σ = {run['decoder_std']:.3g}"
    return f"Gaussian, {sigma}" + (f", β = {run['beta']:g}" if run["beta"] != 1 else "")


def likelihood_runs() -> None:
    """Samples and loss terms of the small models that benchmarks/likelihoods.py trained with each decoder likelihood.

    The models are not shipped: their numbers and their samples (8-bit gray levels) come from the benchmark's JSON.
    """
    import json

    bench = _benchmark("likelihoods")
    data = json.loads(bench.RESULTS.read_text())
    train = vae.load_mnist(True, _data_root())
    never_lit = int((train.images.flatten(1).amax(0) == 0).sum())  # pixels a per-pixel variance could shrink to 0
    runs = list(data["runs"].values())
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 0.72 * len(runs) + 0.4))
    for ax, run in zip(axes, runs):
        means, draws = bench.decode_images(run["means"]), bench.decode_images(run["draws"])  # (8, 28, 28) each
        canvas = torch.cat([*means, torch.ones(28, 14), *draws], dim=1)  # a white gap between the two halves
        ax.imshow(canvas.numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(_likelihood_label(run), rotation=0, ha="right", va="center", fontsize=8)
    n = means.shape[0]
    axes[0].set_title(f"decoder means at {n} prior codes{' ' * 38}draws $x \\sim p_\\theta(x \\mid z)$ at the same codes", fontsize=9)
    fig.subplots_adjust(hspace=0.06)
    _save(fig, "likelihood_runs.png")
    rows = ["| decoder | $2\\sigma^2\\beta$ | reconstruction | KL | $\\lVert x - \\hat x \\rVert^2$ | best σ |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for run in runs:
        weight = "—" if run["beta_on_mse"] is None else _g(run["beta_on_mse"])
        rows.append(f"| {_likelihood_label(run)} | {weight} | {run['test_reconstruction']:.1f} | "
                    f"{run['test_kl']:.1f} | {run['squared_error']:.2f} | "
                    f"{'—' if run['decoder_std'] is None else format(run['residual_std_train'], '.3f')} |")
    rows += ["", f"Small MLP VAEs (16 latent dimensions, one hidden layer of 256), {data['epochs']} epochs on the first "
             f"{data['train_size']:,} training images, seed 0, one CPU thread, trained by `{data['command']}` with the "
             "`vae train` commands recorded in `benchmarks/results/likelihoods.json`. $2\\sigma^2\\beta$: the KL weight "
             "on the squared error $\\lVert x - \\hat x \\rVert^2$ that the objective amounts to. The test loss ($-$ELBO, nats) is "
             "the sum of its two "
             "terms: the last epoch's, over the 10,000 test images, one posterior sample each; for the Bernoulli model "
             "minus a log-probability of the test digits binarized with the fixed seed, for the Gaussian ones minus a "
             "log-density of their gray levels, so the columns compare only within the Gaussian rows. Squared error: "
             f"the mean over the first {data['test_images']:,} test images (standard errors "
             f"{min(r['squared_error_stderr'] for r in runs):.2f} to {max(r['squared_error_stderr'] for r in runs):.2f}) of the squared "
             "distance between the gray digit and the decoder mean at the posterior mean, comparable across all rows. "
             "Best fixed σ: $\\sqrt{\\lVert x - \\hat x \\rVert^2 / N}$ on the first "
             f"{data['test_images']:,} training images, the σ under which these reconstructions give the training digits the highest Gaussian likelihood. "
             f"{never_lit} of the 784 pixels are 0 in all {len(train):,} training images."]
    _write_table("likelihood_runs", rows)


# -- what each layer of the shipped hierarchical model holds -----------------------------------------------
def hierarchical() -> None:
    """Rows of samples sharing a top code z2 (`HierarchicalVAE.sample_rows`), and the layers' numbers
    (benchmarks/hierarchical_layers.py's `measure`, on the test set)."""
    name = "hierarchical"
    layers = _benchmark("hierarchical_layers")
    model = vae.load(name)
    rows, draws = 8, 9
    grid = model.sample_rows(rows, draws, torch.Generator().manual_seed(0))  # (rows, 1 + draws, 1, 28, 28)
    fig, axes = plt.subplots(rows, draws + 1, figsize=((draws + 1) * 0.9, rows * 0.95))
    for r in range(rows):
        for c in range(draws + 1):
            ax = axes[r, c]
            ax.imshow(grid[r, c, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("mean $z_1$" if c == 0 else f"draw {c}", fontsize=8)
    fig.subplots_adjust(wspace=0.05, hspace=0.08)
    _save(fig, "hierarchical_layers.png")
    from vae.classifier import load_classifier

    result = layers.measure(model, _test_set(), load_classifier())
    t, a, v, c = result["terms"], result["active_units"], result["variance"], result["class_agreement"]
    _write_table("hierarchical_layers", [
        "| | top layer $z_2$ | lower layer $z_1$ |",
        "| --- | ---: | ---: |",
        f"| KL term (nats per test image) | {t['kl_z2']:.2f} | {t['kl_z1']:.2f} |",
        f"| active units (threshold {result['threshold']:g}) | {a['z2']} of {a['z2_dim']} | {a['z1']} of {a['z1_dim']} |",
        f"| share of the samples' pixel variance | {1 - v['lower_share']:.1%} | {v['lower_share']:.1%} |",
        "",
        f"The shipped `{name}` on the {result['num_images']:,} binarized test images: −ELBO {t['negative_elbo']:.2f} = "
        f"reconstruction {t['reconstruction']:.2f} + KL($z_1$) {t['kl_z1']:.2f} + KL($z_2$) {t['kl_z2']:.2f} nats (one posterior "
        f"sample). Of {result['samples']['rows']} top codes drawn from the prior, with {result['samples']['draws']} lower codes each, "
        f"two draws sharing a top code get the same label from the shipped classifier {c['same_top_code']:.1%} of the time, "
        f"against {c['different_top_codes']:.1%} for draws with different top codes. "
        "`python benchmarks/hierarchical_layers.py` computes the same numbers into `benchmarks/results/hierarchical_layers.json`."])


FIGURES_BY_NAME: dict[str, Callable[[], None]] = {
    "ae_vs_vae": ae_vs_vae,
    "beta": beta,
    "binarization": binarization,
    "estimators": estimators,
    "iwae": iwae,
    "cvae": cvae,
    "training_curves": training_curves,
    "active_units": active_units,
    "samples": samples,
    "elbo_gap": elbo_gap,
    "kl_directions": kl_directions,
    "likelihood_runs": likelihood_runs,  # benchmarks/likelihoods.py's small models (not shipped), from its JSON
    "hierarchical": hierarchical,
}


def make(names: list[str] | None = None, log: Callable[[str], None] = print) -> Results:
    """Run the named figure functions (all by default) on one torch thread; their figures and tables."""
    global _results
    _results = Results()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small computations; several threads only fight over a busy machine
    try:
        for name in names or list(FIGURES_BY_NAME):
            start = time.perf_counter()
            FIGURES_BY_NAME[name]()
            log(f"figures: {name} in {time.perf_counter() - start:.1f} s")
    finally:
        torch.set_num_threads(threads)
    return _results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"figures to make, from {', '.join(FIGURES_BY_NAME)} (default: all)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vae-explorer-figures", help="output folder")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in FIGURES_BY_NAME]
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; choose from {', '.join(FIGURES_BY_NAME)}")
    results = make(args.names)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in results.figures.items():
        (args.out / name).write_bytes(data)
        print(f"wrote {args.out / name}")
    for name, text in results.tables.items():
        (args.out / f"{name}.md").write_text(text)
        print(f"wrote {args.out / name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

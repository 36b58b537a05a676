r"""Repairing damaged test digits: every imputation method of `vae.impute` on the full MNIST test set.

Data: the 10,000 test digits binarized once with the package's fixed seed (`vae.binarized_test_set`).
Damage, fixed and seeded:

- **masks** (the missing pixels are known): the top half; 50 % and 80 % of the pixels missing at random
  (each image its own mask, `vae.make_mask(..., generator=Generator().manual_seed(0))`); a centred 14 x 14
  square. Methods: one-pass reconstruction, pseudo-Gibbs, Metropolis-within-Gibbs (MwG) with the shipped
  `default` VAE; PCA of the observed pixels; the mean training image.
- **noise** (which pixels are corrupted is not known): bit flips of 10 % and 25 % of the pixels, Gaussian
  noise of standard deviation 0.25 and 0.5 (`vae.add_noise`, seed 0). There is no mask, so the chains do
  not apply; the methods are one-pass reconstruction of the noisy digit, its PCA projection, the mean image
  and, for reference, the noisy digit itself.

Measured on the missing pixels (masks) or on every pixel (noise), against the clean binarized digit:
the Bernoulli log-likelihood of the imputed probabilities, nats per image (`vae.missing_log_likelihood`,
probabilities clamped to [1e-6, 1 - 1e-6]; higher is better), the same as BCE per pixel (lower is
better), and the accuracy of the project's MNIST classifier (`vae/classifier.py`) on the repaired digits.

Nothing is tuned on the test set. The chains' length and burn-in, and the PCA size, are chosen per damage on
a validation split of the *training* set (its last 10,000 images, binarized with the fixed seed; the PCA and
the mean image are fitted on the first 50,000, binarized with seed 1): steps from 10, 20, 50, 100 (capped for
cost: 100 steps of 10,000 chains take a few minutes on one core), burn-in from 0, 5, 10, PCA size from 5 to 150.
PCA's clamped output holds hard zeros and ones, which the log-likelihood punishes with -log(1e-6) = 13.8 nats
each; so PCA is also reported **calibrated**: its probabilities clamped to [eps, 1 - eps] with eps (and its
size) chosen on the validation split. The comparison "iterative beats PCA" uses the better of the two.

For the demo (`--write-demo`): `vae/assets/pca_mnist.safetensors`, the PCA the baselines use (150 components,
float64, 0.9 MB: `mean`, `components`, `explained_variance`, `total_variance`; load it with `load_pca`), so
that the demo can run the PCA and mean-image repairs, and PCA reconstructions, without the training set.

Usage: python benchmarks/imputation.py [--data-root ../shared/data] [--threads 1] [--quick] [--write-demo]
Writes benchmarks/results/imputation.json (with the exact command) and prints Markdown tables.
`--quick` runs on 300 test and 200 validation images with short chains (a smoke test; not for the record).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

import vae
from safetensors.torch import load_file, save_file

from vae.classifier import load_classifier

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "imputation.json"
PCA_FILE = ROOT / "vae" / "assets" / "pca_mnist.safetensors"
MODEL = "default"
MASKS: dict[str, dict[str, Any]] = {
    "top half": {"kind": "top"},
    "random 50 %": {"kind": "random", "fraction": 0.5},
    "random 80 %": {"kind": "random", "fraction": 0.8},
    "centred square 14 x 14": {"kind": "square", "size": 14},
}
NOISES: dict[str, tuple[str, float]] = {
    "flip 10 %": ("flip", 0.10),
    "flip 25 %": ("flip", 0.25),
    "gaussian 0.25": ("gaussian", 0.25),
    "gaussian 0.5": ("gaussian", 0.5),
}
MASK_METHODS = ("one_pass", "pseudo_gibbs", "mwg", "pca", "pca_calibrated", "mean")
NOISE_METHODS = ("none", "one_pass", "pca", "pca_calibrated", "mean")
CHAINS = ("pseudo_gibbs", "mwg")
STEP_CHOICES = (10, 20, 50, 100)
BURN_IN_CHOICES = (0, 5, 10)
PCA_CHOICES = (5, 10, 20, 35, 50, 75, 100, 150)
EPS = 1e-6  # the package's clamp in missing_log_likelihood
EPS_CHOICES = (1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1)
FIT_SIZE = 50_000  # PCA and the mean image: the first 50,000 training images; validation: the last 10,000
TEST_SEED, VAL_SEED, FIT_BINARIZATION_SEED = 0, 1, 1
BATCH = 1000  # chains per batch (the mixture prior's densities of 1,000 chains fit in memory comfortably)


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's parameters and buffers, in state-dict order: which weights were measured."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def pixel_log_likelihood(target: torch.Tensor, probs: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    r"""$\sum_i x_i \log \hat p_i + (1 - x_i) \log(1 - \hat p_i)$ over every pixel, $\hat p$ clamped to [eps, 1 - eps]: (B,).

    The same formula as `vae.missing_log_likelihood`, with every pixel scored (that function refuses a full mask).
    """
    p = probs.double().clamp(eps, 1.0 - eps)
    t = target.double()
    return (t * p.log() + (1.0 - t) * (-p).log1p()).flatten(1).sum(1)


def truncate(pca: vae.PCA, k: int) -> vae.PCA:
    """The same PCA with only its top k components (a PCA fitted with k components is exactly this)."""
    return vae.PCA(pca.mean, pca.components[:k], pca.explained_variance[:k], pca.total_variance, pca.shape)


def save_pca(pca: vae.PCA, path: Path = PCA_FILE) -> None:
    save_file({"mean": pca.mean.contiguous(), "components": pca.components.contiguous(),
               "explained_variance": pca.explained_variance.contiguous(),
               "total_variance": torch.tensor(pca.total_variance, dtype=torch.float64)}, str(path),
              metadata={"shape": json.dumps(list(pca.shape)), "source": "benchmarks/imputation.py",
                        "fitted_on": f"training images 0-{FIT_SIZE - 1}, binarized with seed {FIT_BINARIZATION_SEED}"})


def load_pca(path: Path = PCA_FILE, k: int | None = None) -> vae.PCA:
    """The shipped PCA (all its components, or the top k): what the demo loads instead of fitting one."""
    t = load_file(str(path))
    pca = vae.PCA(t["mean"], t["components"], t["explained_variance"], t["total_variance"].item(), (1, 28, 28))
    return pca if k is None else truncate(pca, k)


def make_masks(n: int, seed: int) -> dict[str, torch.Tensor]:
    return {name: vae.make_mask(n=n, generator=torch.Generator().manual_seed(seed), **spec) for name, spec in MASKS.items()}


def chain(model: vae.VAE, x: torch.Tensor, mask: torch.Tensor, method: str, steps: int, burn_in: int,
          seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`vae.impute` in batches of `BATCH` chains, one generator for the whole set: the estimates (N, 1, 28, 28)
    and each chain's fraction of accepted proposals (N,) (1 for pseudo-Gibbs, which accepts every one)."""
    gen = torch.Generator().manual_seed(seed)
    estimates, acceptance = [], []
    for i in range(0, x.shape[0], BATCH):
        for last in vae.impute_steps(model, x[i : i + BATCH], mask[i : i + BATCH], method, steps, gen, burn_in):
            pass
        estimates.append(last.estimate)
        acceptance.append(last.acceptance)
    return torch.cat(estimates), torch.cat(acceptance)


def chain_sums(model: vae.VAE, x: torch.Tensor, mask: torch.Tensor, method: str, steps: int, seed: int,
               at: set[int]) -> dict[int, torch.Tensor]:
    r"""$S_t = \sum_{s \le t} \mathbb E[x_m \mid z_s]$ at the steps in `at`, from one chain of `steps` steps.

    With burn-in b and T steps, `vae.impute` returns $(S_T - S_b) / (T - b)$ at the missing pixels (the
    chain itself does not depend on b), so one run scores every (T, b) pair. The estimate after step t
    with burn-in 0 is $S_t / t$.
    """
    gen = torch.Generator().manual_seed(seed)
    sums: dict[int, list[torch.Tensor]] = {t: [] for t in at}
    for i in range(0, x.shape[0], BATCH):
        for s in vae.impute_steps(model, x[i : i + BATCH], mask[i : i + BATCH], method, steps, gen):
            if s.step in at:
                sums[s.step].append(s.estimate.double() * s.step)
    return {t: torch.cat(v) for t, v in sums.items()}


def select_chain(model: vae.VAE, x: torch.Tensor, mask: torch.Tensor, method: str, steps: tuple[int, ...],
                 burn_ins: tuple[int, ...]) -> dict[str, Any]:
    """The (steps, burn-in) with the best mean missing-pixel log-likelihood on validation images."""
    sums = chain_sums(model, x, mask, method, max(steps), VAL_SEED, set(steps) | {b for b in burn_ins if b > 0})
    grid = {}
    for t in steps:
        for b in burn_ins:
            if b < t:
                estimate = (sums[t] - (sums[b] if b else 0.0)) / (t - b)
                imputed = torch.where(mask, estimate.to(x.dtype), x)
                grid[f"steps={t},burn_in={b}"] = vae.missing_log_likelihood(x, imputed, mask).mean().item()
    best = max(grid, key=grid.get)
    t, b = (int(part.split("=")[1]) for part in best.split(","))
    return {"steps": t, "burn_in": b, "val_log_likelihood": grid}


def select_pca(pca: vae.PCA, x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> dict[str, Any]:
    """PCA size (at the package's eps) and (size, eps) for the calibrated variant, on validation images.

    With a mask, x is the damaged image and the PCA fills the missing pixels; without, x is the noisy image and
    its projection is the repair (scored on every pixel against the clean target).
    """
    grid: dict[str, dict[str, float]] = {}
    for k in PCA_CHOICES:
        fill = vae.impute(truncate(pca, k), x, mask, "pca") if mask is not None else project(truncate(pca, k), x)
        grid[str(k)] = {f"{eps:g}": score(target, fill, mask, eps).mean().item() for eps in EPS_CHOICES}
    k_plain = max(grid, key=lambda k: grid[k][f"{EPS:g}"])
    k_cal, eps_cal = max(((k, e) for k in grid for e in grid[k]), key=lambda ke: grid[ke[0]][ke[1]])
    return {"k": int(k_plain), "calibrated_k": int(k_cal), "calibrated_eps": float(eps_cal), "val_log_likelihood": grid}


def project(pca: vae.PCA, x: torch.Tensor) -> torch.Tensor:
    """A noisy image's PCA reconstruction, clamped to [0, 1] (PCA as a denoiser): (N, 1, 28, 28)."""
    return pca.reconstruct(x).clamp(0.0, 1.0).to(x.dtype)


def score(target: torch.Tensor, imputed: torch.Tensor, mask: torch.Tensor | None, eps: float = EPS) -> torch.Tensor:
    """Log-likelihood per image of the missing pixels (mask) or of every pixel (None): (N,)."""
    if mask is None:
        return pixel_log_likelihood(target, imputed, eps)
    return vae.missing_log_likelihood(target, imputed, mask, eps)


def summary(target: torch.Tensor, imputed: torch.Tensor, mask: torch.Tensor | None, labels: torch.Tensor,
            classifier: torch.nn.Module, eps: float = EPS) -> dict[str, Any]:
    """The row of one method; `per_image` (the log-likelihood of each image, (N,)) is for the paired margins, not the JSON."""
    ll = score(target, imputed, mask, eps)  # (N,)
    pixels = mask.flatten(1).sum(1).double() if mask is not None else torch.full_like(ll, target[0].numel())
    predicted, _ = classifier.predict(imputed.float())
    return {
        "log_likelihood": ll.mean().item(),
        "log_likelihood_stderr": (ll.std() / math.sqrt(ll.numel())).item(),
        "bce_per_pixel": (-ll / pixels).mean().item(),
        "classifier_accuracy": (predicted == labels).double().mean().item(),
        "per_image": ll,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = vae.load(MODEL)
    classifier = load_classifier()
    train, test = vae.load_mnist(True, args.data_root), vae.load_mnist(False, args.data_root)
    n_test = args.test_size or len(test)
    test_bits, labels = vae.binarized_test_set(test)[:n_test], test.labels[:n_test]
    fit = vae.binarize(train.images[:FIT_SIZE], torch.Generator().manual_seed(FIT_BINARIZATION_SEED))
    val = vae.MNIST(train.images[FIT_SIZE:], train.labels[FIT_SIZE:])
    val_bits = vae.binarized_test_set(val)
    pca = vae.fit_pca(fit, max(PCA_CHOICES))
    if args.write_demo:
        save_pca(pca)
    steps, burn_ins = (STEP_CHOICES, BURN_IN_CHOICES) if not args.quick else ((3, 5), (0, 2))
    n_val_chain, n_val_pca = (args.val_chains, 2000) if not args.quick else (200, 200)
    log = print if not args.quiet else (lambda *a, **k: None)

    def timed(fn: Any) -> tuple[Any, float]:
        start = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - start

    clean = classifier.predict(test_bits)[0]
    result: dict[str, Any] = {
        "command": args.command,
        "model": MODEL,
        "weights_sha256": weights_digest(model),
        "num_test_images": n_test,
        "quick": args.quick,
        "seeds": {"test_masks_and_noise": TEST_SEED, "validation_masks_and_chains": VAL_SEED, "test_chains": TEST_SEED,
                  "fit_binarization": FIT_BINARIZATION_SEED},
        "validation": {"chain_images": n_val_chain, "pca_images": n_val_pca, "split": f"training images {FIT_SIZE:,}-59,999",
                       "step_choices": list(steps), "burn_in_choices": list(burn_ins), "pca_choices": list(PCA_CHOICES),
                       "eps_choices": list(EPS_CHOICES)},
        "eps": EPS,
        "pca_file": str(PCA_FILE.relative_to(ROOT)),
        "clean_classifier_accuracy": (clean == labels).double().mean().item(),
        "masks": {},
        "noise": {},
    }
    val_masks, test_masks = make_masks(len(val_bits), VAL_SEED), make_masks(n_test, TEST_SEED)
    for name in MASKS:
        vm, tm = val_masks[name], test_masks[name]
        selection = {m: select_chain(model, val_bits[:n_val_chain], vm[:n_val_chain], m, steps, burn_ins) for m in CHAINS}
        selection["pca"] = select_pca(pca, val_bits[:n_val_pca], val_bits[:n_val_pca], vm[:n_val_pca])
        log(f"{name}: chosen {({m: (s['steps'], s['burn_in']) for m, s in selection.items() if m in CHAINS})}, "
            f"PCA k={selection['pca']['k']}, calibrated k={selection['pca']['calibrated_k']} eps={selection['pca']['calibrated_eps']:g}")
        sel = selection["pca"]
        outputs = {
            "one_pass": lambda: vae.impute(model, test_bits, tm, "one_pass"),
            "pseudo_gibbs": lambda: chain(model, test_bits, tm, "pseudo_gibbs", selection["pseudo_gibbs"]["steps"],
                                          selection["pseudo_gibbs"]["burn_in"], TEST_SEED),
            "mwg": lambda: chain(model, test_bits, tm, "mwg", selection["mwg"]["steps"], selection["mwg"]["burn_in"], TEST_SEED),
            "pca": lambda: vae.impute(truncate(pca, sel["k"]), test_bits, tm, "pca"),
            "pca_calibrated": lambda: vae.impute(truncate(pca, sel["calibrated_k"]), test_bits, tm, "pca"),
            "mean": lambda: vae.impute(pca, test_bits, tm, "mean"),
        }
        methods = {}
        for method in MASK_METHODS:
            imputed, seconds = timed(outputs[method])
            extra = {}
            if method in CHAINS:
                imputed, accepted = imputed
                extra = {"acceptance": accepted.mean().item()}
            eps = sel["calibrated_eps"] if method == "pca_calibrated" else EPS
            methods[method] = {**summary(test_bits, imputed, tm, labels, classifier, eps), "seconds": seconds, **extra}
            log(f"  {method}: {methods[method]['log_likelihood']:.2f} nats, accuracy {methods[method]['classifier_accuracy']:.3f} "
                f"({seconds:.0f} s)")
        per_image = {m: methods[m].pop("per_image") for m in methods}
        damaged = classifier.predict(torch.where(tm, 0.0, test_bits))[0]
        result["masks"][name] = {
            "spec": MASKS[name],
            "missing_pixels_per_image": tm.flatten(1).sum(1).double().mean().item(),
            "selection": selection,
            "methods": methods,
            "damaged_classifier_accuracy": (damaged == labels).double().mean().item(),
            "iterative_margin": margins(methods, per_image),
        }
    for name, (kind, strength) in NOISES.items():
        noisy_val = vae.add_noise(val_bits[:n_val_pca], kind, strength, torch.Generator().manual_seed(VAL_SEED))
        noisy = vae.add_noise(test_bits, kind, strength, torch.Generator().manual_seed(TEST_SEED))
        sel = select_pca(pca, noisy_val, val_bits[:n_val_pca], None)
        outputs = {
            "none": lambda: noisy,
            "one_pass": lambda: model.reconstruct(noisy),
            "pca": lambda: project(truncate(pca, sel["k"]), noisy),
            "pca_calibrated": lambda: project(truncate(pca, sel["calibrated_k"]), noisy),
            "mean": lambda: pca.mean.view(1, 1, 28, 28).expand_as(noisy).float(),
        }
        methods = {}
        for method in NOISE_METHODS:
            repaired, seconds = timed(outputs[method])
            eps = sel["calibrated_eps"] if method == "pca_calibrated" else EPS
            methods[method] = {**summary(test_bits, repaired, None, labels, classifier, eps), "seconds": seconds}
            methods[method].pop("per_image")
        log(f"{name}: " + ", ".join(f"{m} {r['log_likelihood']:.1f}" for m, r in methods.items()))
        result["noise"][name] = {"kind": kind, "strength": strength, "selection": {"pca": sel}, "methods": methods}
    result["seconds"] = time.perf_counter() - t0
    return result


def margins(methods: dict[str, dict[str, Any]], per_image: dict[str, torch.Tensor]) -> dict[str, Any]:
    """How far the better chain is ahead of one-pass and of the better PCA (nats per image, accuracy points).

    The standard errors are of the paired differences, image by image (the same images and masks for every method).
    """
    best_chain = max(CHAINS, key=lambda m: methods[m]["log_likelihood"])
    best_pca = max(("pca", "pca_calibrated"), key=lambda m: methods[m]["log_likelihood"])
    ll = {m: methods[m]["log_likelihood"] for m in methods}
    acc = {m: methods[m]["classifier_accuracy"] for m in methods}

    def paired_stderr(a: str, b: str) -> float:
        diff = per_image[a] - per_image[b]
        return (diff.std() / math.sqrt(diff.numel())).item()

    return {
        "best_chain": best_chain,
        "best_pca": best_pca,
        "worst_chain_minus_one_pass_nats": min(ll[c] for c in CHAINS) - ll["one_pass"],
        "best_chain_minus_one_pass_nats": ll[best_chain] - ll["one_pass"],
        "best_chain_minus_one_pass_nats_stderr": paired_stderr(best_chain, "one_pass"),
        "best_chain_minus_best_pca_nats": ll[best_chain] - ll[best_pca],
        "best_chain_minus_best_pca_nats_stderr": paired_stderr(best_chain, best_pca),
        "mwg_minus_best_pca_nats": ll["mwg"] - ll[best_pca],
        "best_chain_minus_one_pass_accuracy": acc[best_chain] - acc["one_pass"],
        "best_chain_minus_best_pca_accuracy": acc[best_chain] - acc[best_pca],
    }


METHOD_NAMES = {"one_pass": "one pass", "pseudo_gibbs": "pseudo-Gibbs", "mwg": "Metropolis-within-Gibbs", "pca": "PCA",
                "pca_calibrated": "PCA, calibrated", "mean": "mean image", "none": "noisy input (no repair)"}


def markdown(result: dict[str, Any]) -> str:
    """The tables of the docs page: one for the masks, one for the noise, one for the margins."""
    lines = ["| damage | method | settings (chosen on validation) | log-likelihood of the missing pixels (nats / image) "
             "| BCE (nats / missing pixel) | classifier accuracy |", "| --- | --- | --- | ---: | ---: | ---: |"]
    for name, r in result["masks"].items():
        sel = r["selection"]
        for m, row in r["methods"].items():
            setting = {"pseudo_gibbs": f"{sel['pseudo_gibbs']['steps']} steps, burn-in {sel['pseudo_gibbs']['burn_in']}",
                       "mwg": f"{sel['mwg']['steps']} steps, burn-in {sel['mwg']['burn_in']}"
                              + (f", {row['acceptance']:.0%} of proposals accepted" if "acceptance" in row else ""),
                       "pca": f"k = {sel['pca']['k']}",
                       "pca_calibrated": f"k = {sel['pca']['calibrated_k']}, eps = {sel['pca']['calibrated_eps']:g}"}.get(m, "")
            lines.append(f"| {name} ({r['missing_pixels_per_image']:.0f} px) | {METHOD_NAMES[m]} | {setting} "
                         f"| {row['log_likelihood']:.1f} ± {row['log_likelihood_stderr']:.1f} | {row['bce_per_pixel']:.3f} "
                         f"| {row['classifier_accuracy']:.1%} |")
        lines.append(f"| {name} | damaged input, missing = 0 | | | | {r['damaged_classifier_accuracy']:.1%} |")
    noise = ["| noise | method | settings | log-likelihood of the clean digit (nats / image) | BCE (nats / pixel) "
             "| classifier accuracy |", "| --- | --- | --- | ---: | ---: | ---: |"]
    for name, r in result["noise"].items():
        sel = r["selection"]["pca"]
        for m, row in r["methods"].items():
            setting = {"pca": f"k = {sel['k']}", "pca_calibrated": f"k = {sel['calibrated_k']}, eps = {sel['calibrated_eps']:g}"}.get(m, "")
            noise.append(f"| {name} | {METHOD_NAMES[m]} | {setting} | {row['log_likelihood']:.1f} ± {row['log_likelihood_stderr']:.1f} "
                         f"| {row['bce_per_pixel']:.3f} | {row['classifier_accuracy']:.1%} |")
    margin = ["| mask | better chain | ahead of one pass (nats / image) | ahead of the better PCA (nats / image) "
              "| accuracy vs one pass | accuracy vs PCA | MwG vs the better PCA (nats / image) |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in result["masks"].items():
        g = r["iterative_margin"]
        margin.append(f"| {name} | {METHOD_NAMES[g['best_chain']]} | {g['best_chain_minus_one_pass_nats']:+.1f} "
                      f"± {g['best_chain_minus_one_pass_nats_stderr']:.1f} | {g['best_chain_minus_best_pca_nats']:+.1f} "
                      f"± {g['best_chain_minus_best_pca_nats_stderr']:.1f} ({METHOD_NAMES[g['best_pca']]}) "
                      f"| {100 * g['best_chain_minus_one_pass_accuracy']:+.1f} pts | {100 * g['best_chain_minus_best_pca_accuracy']:+.1f} pts "
                      f"| {g['mwg_minus_best_pca_nats']:+.1f} |")
    return "\n".join(lines) + "\n\n" + "\n".join(noise) + "\n\n" + "\n".join(margin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test-size", type=int, help="only the first N test digits (default all 10,000)")
    parser.add_argument("--val-chains", type=int, default=1000, help="validation images for choosing the chains' length")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 300 test digits, short chains")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--write-demo", action="store_true", help=f"also write {PCA_FILE.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick and args.test_size is None:
        args.test_size = 300
    args.command = shlex.join(["python", "benchmarks/imputation.py", *(sys.argv[1:] if argv is None else argv)])
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.quiet:
        print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

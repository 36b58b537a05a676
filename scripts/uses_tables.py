"""Print the tables of the "Uses" pages from the benchmarks' recorded results; `--write` puts them into the pages.

Each block sits between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a page of `docs/uses/`:

| block | page | from |
| --- | --- | --- |
| `uses-summary` | index.md | all four results |
| `uses-imputation` | imputation.md | `benchmarks/results/imputation.json` (`python benchmarks/imputation.py`) |
| `uses-compression` | compression.md | `benchmarks/results/compression.json` (`python benchmarks/compression.py`) |
| `uses-few-labels` | features.md | `benchmarks/results/few_labels.json` (`python benchmarks/few_labels.py`) |
| `uses-anomaly` | anomaly.md | `benchmarks/results/anomaly.json` (`python benchmarks/anomaly.py`) |
| `uses-commands` | index.md | the exact command recorded in each result |

The tables themselves are each benchmark's own `markdown()` function, so a page and its benchmark cannot
disagree on a format. `tests/test_uses_benchmarks.py` checks that the pages hold the current blocks.

Usage: python scripts/uses_tables.py [--write]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = ROOT / "docs" / "uses"
BENCHMARKS = ("imputation", "compression", "few_labels", "anomaly")


def benchmark(name: str) -> Any:
    """benchmarks/<name>.py as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"uses_benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results() -> dict[str, dict[str, Any]]:
    return {name: json.loads((RESULTS / f"{name}.json").read_text()) for name in BENCHMARKS}


def summary(r: dict[str, dict[str, Any]]) -> str:
    """One headline per use, every number from the results."""
    imp = r["imputation"]["masks"]
    chain_vs_pass = min(m["iterative_margin"]["best_chain_minus_one_pass_nats"] for m in imp.values())
    chain_vs_pca = {name: m["iterative_margin"]["best_chain_minus_best_pca_nats"] for name, m in imp.items()}
    comp = r["compression"]
    c32 = {m: comp["curves"][m]["32"]["bce"] for m in ("pca", "ae", "vae")}
    bits = comp["bits"]
    few = r["few_labels"]
    f100 = few["results"]["default latent means"]["logistic"]["100"]
    pix100 = few["results"]["raw pixels"]["logistic"]["100"]
    ano = r["anomaly"]
    worst = min(ano["kinds"], key=lambda k: ano["kinds"][k]["auroc"]["iwae"])
    best_corr = max(("likelihood_ratio", "complexity", "typicality"),
                    key=lambda s: sum(e["auroc"][s] for e in ano["kinds"].values()))
    names = {"likelihood_ratio": "the likelihood ratio", "complexity": "the complexity correction", "typicality": "the typicality test"}
    mean_auroc = {s: sum(e["auroc"][s] for e in ano["kinds"].values()) / len(ano["kinds"]) for s in ("iwae", best_corr)}
    pca_line = ", ".join(f"{name}: {v:+.1f}" for name, v in chain_vs_pca.items())
    rows = [
        "| use | headline (test set) | page |", "| --- | --- | --- |",
        f"| fill in missing pixels | the better chain is ahead of one-pass reconstruction by at least {chain_vs_pass:.1f} nats per digit on "
        f"every mask; against the better PCA (nats per digit): {pca_line} | [imputation](imputation.md) |",
        f"| compress | at D = 32, BCE per digit: PCA {c32['pca']:.1f}, autoencoder {c32['ae']:.1f}, VAE {c32['vae']:.1f} nats; "
        f"`default` gives a binarized digit an ideal code length of at most {bits['default_test_nll_bits']:.1f} bits; "
        f"bits-back coding with its encoder would need {bits['default_negative_elbo_bits']:.1f} (raw: {bits['raw_bits']}, "
        f"best general-purpose compressor on the whole set: {min(bits['whole_set_bits_per_digit'].values()):.1f}) | [compression](compression.md) |",
        f"| classify with few labels | 100 labels: {100 * f100['mean']:.1f} ± {100 * f100['std']:.1f} % with `default`'s latent means, "
        f"{100 * pix100['mean']:.1f} ± {100 * pix100['std']:.1f} % on raw pixels (Kingma et al. 2014, M1 + TSVM: "
        f"{100 * few['reference']['accuracy']:.2f} %) | [features](features.md) |",
        f"| flag unusual inputs | mean AUROC over {len(ano['kinds'])} kinds: {mean_auroc['iwae']:.3f} with the likelihood, "
        f"{mean_auroc[best_corr]:.3f} with {names[best_corr]}; worst kind for the likelihood: {worst.replace('_', ' ')} "
        f"(AUROC {ano['kinds'][worst]['auroc']['iwae']:.3f}) | [anomaly detection](anomaly.md) |",
    ]
    return "\n".join(rows)


def commands(r: dict[str, dict[str, Any]]) -> str:
    lines = ["```bash", *r["compression"]["train_commands"].values(), *(r[name]["command"] for name in BENCHMARKS),
             "python scripts/uses_tables.py --write", "```"]
    return "\n".join(lines)


def few_labels_block(r: dict[str, Any], table: str) -> str:
    ref = r["reference"]
    entry = r["results"]["default latent means"]["logistic"]["100"]
    knn = r["results"]["default latent means"]["knn"]["100"]
    error, spread = 1 - entry["mean"], entry["std"]
    verdict = "better than" if error < ref["error"] else "worse than"
    text = (f"With 100 labels, logistic regression on `default`'s latent means makes {100 * error:.1f} ± {100 * spread:.1f} % "
            f"test error (k-NN: {100 * (1 - knn['mean']):.1f} ± {100 * knn['std']:.1f} %), {verdict} the "
            f"{100 * ref['error']:.2f} % of Kingma et al.'s M1 + TSVM. Entries: mean ± standard deviation of the test accuracy "
            f"(%) over {r['draws']} draws of the labelled images.")
    return text + "\n\n" + table


def blocks() -> dict[Path, dict[str, str]]:
    """page -> {marker: block}, from the recorded results."""
    r = results()
    tables = {name: benchmark(name).markdown(r[name]) for name in BENCHMARKS}
    return {
        PAGES / "index.md": {"uses-summary": summary(r), "uses-commands": commands(r)},
        PAGES / "imputation.md": {"uses-imputation": tables["imputation"]},
        PAGES / "compression.md": {"uses-compression": tables["compression"]},
        PAGES / "features.md": {"uses-few-labels": few_labels_block(r["few_labels"], tables["few_labels"])},
        PAGES / "anomaly.md": {"uses-anomaly": tables["anomaly"]},
    }


def replace_block(text: str, marker: str, block: str) -> str:
    """The text with the block between the marker's start and end comments replaced (a small local copy of
    scripts/model_table.py's helper, which another change is unifying)."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"no {start} ... {end} block in the page")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    return pattern.sub(lambda _: f"{start}\n{block}\n{end}", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the blocks in the pages")
    args = parser.parse_args()
    for page, page_blocks in blocks().items():
        text = page.read_text()
        for marker, block in page_blocks.items():
            print(f"<!-- {marker} ({page.relative_to(ROOT)}) -->\n{block}\n")
            text = replace_block(text, marker, block)
        if args.write:
            page.write_text(text)


if __name__ == "__main__":
    main()

"""Print the Markdown tables of the shipped models from their recorded results.

- the models table, from each model's `metrics.json`;
- the sample-quality table, from `benchmarks/results/sample_quality.json`
  (written by `python benchmarks/sample_quality.py`);
- the training stages of `default`, from its `metrics.json`;
- every model's exact training and evaluation commands, from its `metrics.json`;
- `default`'s test NLL among published numbers on the same protocol;
- the training stages of `hierarchical` and its test NLL among the published numbers and `default`;
- `default`'s NLL on training against test images, from `benchmarks/results/generalization.json`
  (written by `python benchmarks/generalization.py`), and `hierarchical`'s on its training, validation
  and test images.

Usage: python scripts/model_table.py [--write]
With --write, replaces the blocks between `<!-- models-table:start -->` and `<!-- models-table:end -->`
(README.md and docs/models.md) and between the `quality-table`, `default-stages`, `default-references`,
`hierarchical-stages`, `hierarchical-references`, `generalization`, `hierarchical-generalization` and `commands` markers (docs/models.md); the tests check that the pages hold the
current tables.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from docs_blocks import write_blocks

import vae
from vae.checkpoint import load_config
from vae.records import ModelCard

ROOT = Path(__file__).resolve().parents[1]
QUALITY = ROOT / "benchmarks" / "results" / "sample_quality.json"
GENERALIZATION = ROOT / "benchmarks" / "results" / "generalization.json"
ORDER = ["default", "hierarchical", "latent2d", "latent2d-beta0.5", "latent2d-beta4", "ae2d", "cvae"]
TARGETS = {"default": 84.0, "hierarchical": 82.5}  # the test NLL each model's issue set as its goal (nats)
# Published test NLLs on the same protocol (dynamically binarized MNIST, IWAE bound with k = 5000):
# Burda et al. 2016, "Importance Weighted Autoencoders", table 1; pythae's VampPrior reproduction.
REFERENCES = [
    ("one stochastic layer VAE (Burda et al., 2016)", 86.76),
    ("VampPrior VAE, pythae's reproduction", 85.79),
    ("one stochastic layer IWAE, k = 50 (Burda et al., 2016)", 84.78),
    ("two stochastic layer VAE (Burda et al., 2016)", 85.33),
    ("two stochastic layer IWAE, k = 50 (Burda et al., 2016)", 82.90),
]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _names() -> list[str]:
    return sorted(vae.available_models(), key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def _card(name: str) -> ModelCard:
    card = ModelCard.load(name)
    if card is None:
        raise SystemExit(f"{name}: its metrics.json holds no model card (export it with `vae export`)")
    return card


def table() -> str:
    names = _names()
    rows = [
        "| model | kind | latent | architecture | epochs | train time | parameters | file size | test ELBO | test NLL (IWAE k) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        card, cfg = _card(name), load_config(name)
        ev = card.evaluation or {}
        arch = f"{cfg.arch} {'-'.join(map(str, cfg.hidden))}" + (f", {cfg.decoder} decoder" if cfg.arch == "conv" else "")
        if cfg.kind == "hvae":  # the lower layer's own network, and both layers' sizes
            arch += f", lower layer {'-'.join(map(str, cfg.lower_hidden))}"
        arch += f", prior: mixture of {cfg.prior_components}" if cfg.prior_components else ""
        beta = card.train_config.beta
        kind = cfg.kind + (f", β = {beta:g}" if beta != 1 else "")
        latent = f"{cfg.latent_dim} + {cfg.lower_latent_dim}" if cfg.kind == "hvae" else f"{cfg.latent_dim}"  # top + lower layer
        elbo = _fmt(ev.get("test_elbo"))
        nll = f"{_fmt(ev.get('test_nll'))} ± {_fmt(ev.get('test_nll_stderr'))} (k={ev['k']})" if "test_nll" in ev else "— (no likelihood)"
        rows.append(
            f"| `{name}` | {kind} | {latent} | {arch} | {card.epochs} | {card.training_seconds / 60:.1f} min "
            f"| {card.parameters:,} | {card.file_bytes / 1e6:.2f} MB | {elbo} | {nll} |"
        )
    total = sum(_card(name).file_bytes for name in names)
    rows.append(f"| all {len(names)} | | | | | | | {total / 1e6:.2f} MB | | |")
    return "\n".join(rows)


def quality_table() -> str:
    results = json.loads(QUALITY.read_text())
    rows = ["| samples of | measure | value |", "| --- | --- | --- |"]
    labels = {
        "accuracy": "classified as the requested digit (100 per digit)",
        "confident_fraction": "recognised with confidence >= 0.9 (1000 prior samples)",
    }
    for name, r in results.items():
        if name == "mnist_test":
            rows.append(f"| real MNIST test digits | classifier accuracy | {r['accuracy']:.1%} |")
            continue
        for key, label in labels.items():
            if key in r:
                rows.append(f"| `{name}` | {label} | {r[key]:.1%} |")
    return "\n".join(rows)


def stages_table(name: str = "default") -> str:
    """How a model was trained, one row per stage (a fine-tuned model has several), then each stage's exact command."""
    stages = _card(name).stages
    chosen = any(stage.validation for stage in stages)  # a validation column when any stage was chosen on one
    rows = ["| stage | objective | epochs | learning rate | wall-clock | " + ("validation NLL after | " if chosen else "")
            + "test ELBO after | test NLL after |",
            "| --- | --- | ---: | --- | ---: | " + ("---: | " if chosen else "") + "---: | ---: |"]
    for i, stage in enumerate(stages, 1):
        cfg = stage.train_config
        objective = f"IWAE bound, k = {cfg.iwae_k}" if cfg.objective == "iwae" else f"ELBO (beta = {cfg.beta:g})"
        if cfg.iwae_gradient == "dreg":
            objective += ", doubly reparameterized gradient"
        if cfg.precision == "bf16":
            objective += ", networks in bfloat16"
        if added := re.search(r"--prior-components (\d+)", stage.command):  # the model options live in config.json
            objective += f"; adds a learned prior, a mixture of {added[1]} Gaussians (its lr {cfg.prior_lr or cfg.lr:g})"
        elif cfg.prior_lr:  # a later stage of a model that already has a learned prior
            objective += f"; the learned prior's lr {cfg.prior_lr:g}"
        lr = f"{cfg.lr:g}" + (f" → {cfg.lr * cfg.min_lr_ratio:.2g} (cosine)" if cfg.lr_schedule == "cosine" else "")
        ev = stage.evaluation or {}
        nll = f"{ev['test_nll']:.2f} ± {ev['test_nll_stderr']:.2f}" if "test_nll" in ev else "—"
        val = stage.validation or {}
        val_nll = (f"| {val['val_nll']:.2f} ± {val['val_nll_stderr']:.2f} (k={val['k']}) " if "val_nll" in val else "| — ") if chosen else ""
        rows.append(f"| {i} | {objective} | {stage.epochs} | {lr} | {stage.training_seconds / 60:.1f} min {val_nll}"
                    f"| {_fmt(ev.get('test_elbo'))} | {nll} |")
    commands = [f"# stage {i}\n{stage.command}" for i, stage in enumerate(stages, 1)]
    return "\n".join(rows) + "\n\n```bash\n" + "\n".join(commands) + "\n```"


def commands_block() -> str:
    """The exact commands behind every shipped model: training (each stage), then evaluation."""
    lines = []
    for name in _names():
        card = _card(name)
        lines.append(f"# {name}")
        lines += [stage.command for stage in card.stages]
        if "command" in (card.evaluation or {}):
            lines.append(card.evaluation["command"])
    return "```bash\n" + "\n".join(lines) + "\n```"


def references_table(name: str = "default", others: tuple[str, ...] = ()) -> str:
    """The model's test NLL among the published numbers, its target and the shipped `others`, best first."""
    ev = _card(name).evaluation
    rows = [(f"**`{name}` (this project)**", ev["test_nll"], f"**{ev['test_nll']:.2f} ± {ev['test_nll_stderr']:.2f}**"),
            ("target", TARGETS[name], f"{TARGETS[name]:.2f}")]
    for other in others:
        o = _card(other).evaluation
        rows.append((f"`{other}` (this project)", o["test_nll"], f"{o['test_nll']:.2f} ± {o['test_nll_stderr']:.2f}"))
    rows += [(label, nll, f"{nll:.2f}") for label, nll in REFERENCES]
    lines = ["| model | test NLL (nats) |", "| --- | ---: |"]
    lines += [f"| {label} | {shown} |" for label, _, shown in sorted(rows, key=lambda r: r[1])]
    return "\n".join(lines)


def generalization_table() -> str:
    """Each measured model's NLL estimate on training and on test images, and the gap."""
    rows = ["| model | images per split | k | NLL, training images | NLL, test images | gap (test − training) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    results = json.loads(GENERALIZATION.read_text())
    for name, r in results.items():
        train, test = r["train"], r["test"]
        rows.append(f"| `{name}` | {r['num_images']:,} | {r['k']} | {train['nll']:.2f} ± {train['nll_stderr']:.2f} "
                    f"| {test['nll']:.2f} ± {test['nll_stderr']:.2f} | {r['gap']:.2f} ± {r['gap_stderr']:.2f} |")
    refined = ["", "| model | split | images | NLL, encoder's proposal | NLL, refined proposals | amortization gap |",
               "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        for split, label in (("train", "training"), ("test", "test")):
            if "refined" in r[split]:
                f = r[split]["refined"]
                refined.append(f"| `{name}` | {label} | {f['num_images']:,} | {f['nll_encoder']:.2f} | {f['nll_refined']:.2f} "
                               f"| {f['amortization_gap']:.2f} |")
    heldout = ["", "| model | trained on | images per split | NLL, training images | NLL, held-out training images "
               "| NLL, test images | held-out − training (overfitting) | test − held-out (split) |",
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        if "heldout" in r:
            nll = [f"{r[s]['nll']:.2f} ± {r[s]['nll_stderr']:.2f}" for s in ("train", "heldout", "test")]
            heldout.append(f"| `{name}` | first {r['train_size']:,} | {r['num_images']:,} | {' | '.join(nll)} "
                           f"| {r['heldout_gap']:.2f} ± {r['heldout_gap_stderr']:.2f} | {r['split_gap']:.2f} ± {r['split_gap_stderr']:.2f} |")
    return "\n".join(rows + (refined if len(refined) > 3 else []) + (heldout if len(heldout) > 3 else []))


def split_table(name: str = "hierarchical") -> str:
    """A model trained beside a held-out split: its bound on the images it trained on, on held-out training images
    and on test images, with the overfitting (held-out - training) and the test split's difficulty (test - held-out)."""
    r = json.loads(GENERALIZATION.read_text())[name]
    n = f"first {r['num_images']:,}"
    rows = [f"| `{name}`, k = {r['k']} | images | NLL (nats) | ELBO (nats) |", "| --- | --- | ---: | ---: |"]
    for split, what in (("train", f"{n} of the {r['train_size']:,} it trained on"),
                        ("heldout", f"{n} of the training images it never saw (its validation split)"),
                        ("test", f"{n} test images")):
        rows.append(f"| {split.replace('heldout', 'held out')} | {what} | {r[split]['nll']:.2f} ± {r[split]['nll_stderr']:.2f} "
                    f"| {r[split]['elbo']:.2f} |")
    rows += ["", "| difference | NLL (nats) |", "| --- | ---: |",
             f"| held out − trained on (overfitting) | {r['heldout_gap']:.2f} ± {r['heldout_gap_stderr']:.2f} |",
             f"| test − held out (the test split's difficulty) | {r['split_gap']:.2f} ± {r['split_gap_stderr']:.2f} |"]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    models, quality, stages, references = table(), quality_table(), stages_table(), references_table()
    h_stages, h_references = stages_table("hierarchical"), references_table("hierarchical", others=("default",))
    generalization, h_generalization, commands = generalization_table(), split_table("hierarchical"), commands_block()
    print("\n\n\n".join([models, quality, stages, references, h_stages, h_references, generalization, h_generalization, commands]))  # blocks apart by two blank lines
    if args.write:
        write_blocks(ROOT / "README.md", {"models-table": models})
        write_blocks(ROOT / "docs" / "models.md", {"models-table": models, "quality-table": quality, "default-stages": stages,
                                                   "default-references": references, "hierarchical-stages": h_stages,
                                                   "hierarchical-references": h_references, "generalization": generalization,
                                                   "hierarchical-generalization": h_generalization, "commands": commands})


if __name__ == "__main__":
    main()

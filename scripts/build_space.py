"""Assemble a Hugging Face Space for the demo: `python scripts/build_space.py --out /tmp/vae-space`.

The folder it writes is a complete Gradio Space (see docs/demo.md, "Deploy as a Hugging Face Space"):

    README.md          Space card: sdk gradio, sdk_version, app_file demo/app.py
    requirements.txt   the package's runtime dependencies (CPU PyTorch); gradio comes from sdk_version
    demo/              app.py and its modules (*.py, tabs/*.py) and examples/ (shipped test and training digits)
    benchmarks/        the recorded results the Use tabs quote and the out-of-distribution generator they offer
    vae/               the package, with the pretrained models in vae/pretrained/
    site/              the built documentation (`mkdocs build`), which the app serves under /docs
                       for its "Read more" links; left out, with a warning, when it is not built

The package is not pip-installed on the Space: `demo/app.py` puts the Space root on `sys.path` when
`vae` is not importable. Upload with `hf upload <user>/<space> <out> . --repo-type space` (the
weights go through the Hub's large-file storage automatically).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import gradio

ROOT = Path(__file__).resolve().parents[1]
DEMO_FILES = ("*.py", "tabs/*.py")  # under demo/: the app and its modules, the tab builders
# under benchmarks/: what the Use tabs read (demo/uses.py): the recorded results they quote, the generator of
# out-of-distribution inputs the anomaly tab offers
BENCHMARK_FILES = ("results/imputation.json", "results/compression.json", "results/few_labels.json",
                   "ood_inputs.py")
REQUIREMENTS = """\
--extra-index-url https://download.pytorch.org/whl/cpu
torch>=2.2
safetensors>=0.4
numpy>=1.24
pillow>=10
tqdm>=4.66
"""
CARD = """\
---
title: vae-explorer
emoji: 🔢
colorFrom: indigo
colorTo: gray
sdk: gradio
sdk_version: {sdk_version}
app_file: demo/app.py
pinned: false
license: mit
short_description: Variational autoencoders on MNIST, live
---

# vae-explorer

Reconstruct, sample, interpolate and explore the latent spaces of variational autoencoders trained on
MNIST. Built from the vae-explorer package; every action is also an API endpoint
(see "Use via API" at the bottom of the page).

{docs_line}
"""
DOCS_SERVED = "The documentation comes with the app: open the app, then `/docs/` (the tabs' \"Read more\" links go there)."
DOCS_LINKED = "Documentation: <{docs_url}>."
DOCS_NONE = (
    "The documentation is not included in this Space: build it with `mkdocs build` in the vae-explorer repository "
    "and rebuild the Space, to have the app serve it under `/docs/`."
)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder to write the Space into (replaced if it exists)")
    p.add_argument(
        "--sdk-version",
        default=gradio.__version__,
        help=f"Gradio version of the Space (default: installed, {gradio.__version__})",
    )
    p.add_argument(
        "--docs-dir",
        type=Path,
        default=ROOT / "site",
        help="built documentation site to include (default site/, what `mkdocs build` writes)",
    )
    p.add_argument(
        "--docs-url",
        default="",
        help="URL of a published copy of the documentation, for the card when the site is not included",
    )
    args = p.parse_args(argv)
    site = args.docs_dir if (args.docs_dir / "index.html").is_file() else None

    out: Path = args.out.resolve()
    if out == ROOT or ROOT in out.parents and out.parent == ROOT:
        raise SystemExit(f"refusing to write the Space into the repository root ({out})")
    shutil.rmtree(out, ignore_errors=True)
    (out / "demo").mkdir(parents=True)
    for path in sorted(p for pattern in DEMO_FILES for p in (ROOT / "demo").glob(pattern)):
        (out / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out / path.relative_to(ROOT))
    shutil.copytree(ROOT / "demo" / "examples", out / "demo" / "examples")
    for name in BENCHMARK_FILES:
        (out / "benchmarks" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "benchmarks" / name, out / "benchmarks" / name)
    shutil.copytree(ROOT / "vae", out / "vae", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp"))
    (out / "requirements.txt").write_text(REQUIREMENTS)
    if site is not None:
        shutil.copytree(site, out / "site")
    docs_line = DOCS_SERVED if site is not None else DOCS_LINKED.format(docs_url=args.docs_url) if args.docs_url else DOCS_NONE
    (out / "README.md").write_text(CARD.format(sdk_version=args.sdk_version, docs_line=docs_line))

    shipped = sorted(p.parent.name for p in (out / "vae" / "pretrained").glob("*/model.safetensors"))
    missing = sorted({"default", "hierarchical", "latent2d", "ae2d", "cvae"} - set(shipped))
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote the Space to {out} ({size / 1e6:.1f} MB); models: {', '.join(shipped) or 'none'}")
    if missing:
        print(f"warning: models {', '.join(missing)} are not in vae/pretrained/: the tabs using them will show an error")
    if site is None:
        links = "name docs/ pages"
        if args.docs_url:
            links = f"point to {args.docs_url} once the Space variable VAE_DEMO_DOCS_URL is set to it"
        print(f"warning: no built documentation in {args.docs_dir} (run `mkdocs build` first): the app's links {links}")
    print(f"upload: hf upload <user>/<space> {out} . --repo-type space")


if __name__ == "__main__":
    main()

"""MkDocs hook: compute the theory pages' figures and tables during the build.

`scripts/make_figures.py` computes every figure and table from the shipped models, the MNIST
test set and the package's own functions. This hook runs it once per build and

- adds each figure to the site as `assets/figures/<name>.png` (a generated file: nothing is
  written into `docs/`, and no figure is committed that could fall out of date with the models);
- replaces each line `<!-- table: NAME -->` of a page with the Markdown table NAME; an unknown
  name fails the build.

During `mkdocs serve` the results are kept in memory and recomputed only when the script, the
benchmark scripts it imports (`benchmarks/active_units.py`, `benchmarks/elbo_gap.py`,
`benchmarks/hierarchical_layers.py`, `benchmarks/likelihoods.py`, so that a page and its benchmark share one definition), the package's source or its shipped weights change.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.figures")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_figures.py"
BENCHMARKS = [ROOT / "benchmarks" / name for name in ("active_units.py", "elbo_gap.py", "hierarchical_layers.py", "likelihoods.py")]  # the script imports these
FIGURE_DIR = "assets/figures"
TABLE = re.compile(r"^<!-- table: (\w+) -->$", re.MULTILINE)
_cache: dict[str, Any] = {}


def _inputs_key() -> str:
    digest = hashlib.sha256(SCRIPT.read_bytes())
    for path in BENCHMARKS:
        digest.update(path.read_bytes())
    for path in sorted((ROOT / "vae").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json", ".safetensors"):
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


def _results() -> Any:
    key = _inputs_key()
    if _cache.get("key") != key:
        spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up by name
        spec.loader.exec_module(module)
        _cache.update(key=key, results=module.make(log=log.info))
    return _cache["results"]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for name, data in _results().figures.items():
        files.append(File.generated(config, f"{FIGURE_DIR}/{name}", content=data))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    tables = _cache["results"].tables  # computed in on_files, which runs before any page

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in tables:
            raise PluginError(f"{page.file.src_uri}: no table {name!r}; scripts/make_figures.py makes {sorted(tables)}")
        return tables[name]

    return TABLE.sub(table, markdown)

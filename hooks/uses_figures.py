"""MkDocs hook: the "Uses" pages' figures, drawn during the build by scripts/uses_figures.py.

The figures are drawn from the recorded benchmark results (`benchmarks/results/*.json`) and the shipped
demo artefacts, so a page always shows the numbers its tables print. Each is added to the site as
`assets/figures/uses/<name>.png` (a generated file: nothing is written into `docs/`). During `mkdocs serve`
they are redrawn only when the script or one of its inputs changes. The tables of those pages are not made
here: `python scripts/uses_tables.py --write` puts them into the Markdown, and the tests check they are current.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.uses_figures")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "uses_figures.py"
FIGURE_DIR = "assets/figures/uses"
_cache: dict[str, Any] = {}


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("uses_figures", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_files(files: Files, config: MkDocsConfig) -> Files:
    module = _module()
    digest = hashlib.sha256(SCRIPT.read_bytes())
    for path in module.INPUTS:
        digest.update(path.read_bytes())
    if _cache.get("key") != digest.hexdigest():
        _cache.update(key=digest.hexdigest(), figures=module.make(log=log.info))
    for name, data in _cache["figures"].items():
        files.append(File.generated(config, f"{FIGURE_DIR}/{name}", content=data))
    return files

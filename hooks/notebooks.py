"""MkDocs hook: execute the tutorial notebooks and publish each as a Markdown page with its figures.

For every `docs/**/*.ipynb` the build

1. executes a copy of the notebook with nbclient (a fresh `python3` kernel, working directory =
   the notebook's folder); a cell that raises, or anything written to stderr (a warning, a
   progress bar), fails the build, so a published tutorial always ran cleanly;
2. exports it with nbconvert's `MarkdownExporter`, turning each figure into a PNG file;
3. adds the page (`name.md`) and its figures (`name_files/*.png`) to the site as generated files,
   next to the notebook itself, which stays downloadable. Nothing is written into `docs/`.

The notebooks read MNIST from the package's data root (`$VAE_DATA_ROOT`, else the per-user cache
`~/.cache/vae-explorer/data`, as `vae.data.resolve_data_root` says); the hook
passes it to the kernel as an absolute path. They use the models shipped in
`vae/pretrained/` and never download anything. The kernel runs torch on one thread
(`$VAE_DOCS_THREADS` changes that).

`mkdocs build` always executes. `mkdocs serve` caches executed notebooks in the system's temporary
folder, keyed by the notebook and the package's source and weights, so editing prose does not rerun
a training run.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.notebooks")

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 600  # per cell
CACHE_DIR = Path(tempfile.gettempdir()) / "vae-explorer-notebooks"
_command = "build"


def on_startup(command: str, dirty: bool) -> None:
    global _command
    _command = command


def _cache_key(notebook: Path) -> str:
    """A hash of the notebook, the package's source and the shipped weights: what an output depends on."""
    digest = hashlib.sha256(notebook.read_bytes())
    for path in sorted((ROOT / "vae").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json", ".safetensors"):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _execute(path: Path) -> Any:
    """The executed notebook node; raises when a cell fails or writes to stderr."""
    import nbformat
    from nbclient import NotebookClient

    from vae.data import resolve_data_root

    nb = nbformat.read(path, as_version=4)
    env = {
        **os.environ,
        "VAE_DATA_ROOT": str(resolve_data_root().absolute()),  # the kernel runs in the notebook's folder
        # One thread: the tutorials' models are small, and on a busy machine (CI, a training run in the
        # background) several torch threads per process slow them down by an order of magnitude.
        "OMP_NUM_THREADS": os.environ.get("VAE_DOCS_THREADS", "1"),
    }
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        # the kernel's own log (e.g. its note that a local kernel talks over TCP) is not the notebook's output
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute(env=env)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                raise RuntimeError(f"{path.name}, cell {index}: the notebook wrote to stderr:\n{output['text']}")
    log.info("executed %s in %.1f s", path.name, time.perf_counter() - start)
    return nb


def _executed(path: Path) -> Any:
    """Execute the notebook, or during `mkdocs serve` reuse an earlier execution of the same inputs."""
    import nbformat

    if _command != "serve":
        return _execute(path)
    cached = CACHE_DIR / f"{path.stem}-{_cache_key(path)}.ipynb"
    if cached.is_file():
        return nbformat.read(cached, as_version=4)
    nb = _execute(path)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, cached)
    return nb


def _to_markdown(nb: Any, stem: str, notebook_name: str) -> tuple[str, dict[str, bytes]]:
    """Markdown of the executed notebook and its figures {relative path: PNG bytes}."""
    from nbconvert import MarkdownExporter

    exporter = MarkdownExporter()
    body, resources = exporter.from_notebook_node(
        copy.deepcopy(nb), resources={"output_files_dir": f"{stem}_files", "unique_key": stem}
    )
    body = re.sub(r"!\[(png|jpeg|svg)\]\(", "![Figure made by the code above](", body)
    note = (
        f'!!! info "This page is a notebook, executed when the site was built"\n'
        f"    Every number and figure below was computed by the code above it during the docs build.\n"
        f"    [Download the notebook]({notebook_name}) to run it yourself (`vae data` shows where it looks for\n"
        f"    MNIST, `vae data download` fetches it).\n\n"
    )
    # The notebook's first cell is its "# Title": keep it first, then the note.
    title, _, rest = body.lstrip().partition("\n")
    if not title.startswith("# "):
        raise RuntimeError(f"{notebook_name}: the first cell must be a Markdown cell starting with '# Title'")
    return f"{title}\n\n{note}{rest}", dict(resources.get("outputs", {}))


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for file in list(files):
        if not file.src_uri.endswith(".ipynb") or file.abs_src_path is None:
            continue
        path = Path(file.abs_src_path)
        folder = Path(file.src_uri).parent.as_posix()
        prefix = "" if folder == "." else f"{folder}/"
        markdown, figures = _to_markdown(_executed(path), path.stem, path.name)
        files.append(File.generated(config, f"{prefix}{path.stem}.md", content=markdown))
        for name, data in figures.items():
            files.append(File.generated(config, f"{prefix}{name}", content=data))
    return files

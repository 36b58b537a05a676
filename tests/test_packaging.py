"""What `pip install vae-explorer` gets: the wheel holds the package, every shipped model and asset, and the licence."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # From a copy of what the build reads, so that no build/ or egg-info of the checkout (an editable install's
    # file list) can add files the configuration would leave out, and nothing is written into the checkout.
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "vae", source / "vae", ignore=shutil.ignore_patterns("__pycache__"))
    # Offline: the environment's own setuptools builds it (no isolated build environment to download).
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
                           capture_output=True, text=True)
    assert build.returncode == 0, f"the wheel did not build (needs setuptools>=77, in the test extra):\n{build.stderr[-3000:]}"
    (path,) = out.glob("vae_explorer-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def _package_files(folder: str) -> set[str]:
    """The data files under vae/FOLDER as the repository holds them (no Python, no caches)."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "vae" / folder).rglob("*")
            if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}


def test_the_wheel_ships_every_model_and_asset(wheel) -> None:
    names = set(wheel.namelist())
    for folder in ("pretrained", "assets"):
        files = _package_files(folder)
        assert files, f"vae/{folder} is empty"
        assert files <= names, f"missing from the wheel: {sorted(files - names)}"
    models = {Path(n).parent.name for n in names if n.startswith("vae/pretrained/") and n.endswith("model.safetensors")}
    assert {"default", "hierarchical", "latent2d", "ae2d", "cvae"} <= models
    assert "vae/py.typed" in names and "vae/cli.py" in names


def test_the_wheel_holds_the_package_only_with_its_licence(wheel) -> None:
    names = wheel.namelist()
    top = {n.split("/")[0] for n in names} - {"vae"}  # no tests, demo or runs
    assert len(top) == 1 and top.pop().startswith("vae_explorer-"), sorted({n.split("/")[0] for n in names})
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata
    entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "vae = vae.cli:main" in entry_points

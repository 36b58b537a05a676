"""Shared fixtures: the repository root and the MNIST data root (real data, offline)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """$VAE_DATA_ROOT, else ../shared/data beside the repository (this project's CI layout), as an absolute path
    (tests link to its files from temporary folders, and a relative root would make broken links)."""
    return Path(os.environ.get("VAE_DATA_ROOT") or ROOT.parent / "shared" / "data").absolute()


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    root = data_root()
    if not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.fail(f"MNIST not found under {root}: set VAE_DATA_ROOT to the folder holding MNIST/raw/")
    return root


@pytest.fixture(scope="session")
def mnist_test(mnist_root: Path):
    import vae

    return vae.load_mnist(False, mnist_root)

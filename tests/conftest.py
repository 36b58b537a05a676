"""Shared fixtures: the repository root and the MNIST data root (real data).

The data root is the package's own ([`vae.data.resolve_data_root`]: `$VAE_DATA_ROOT`, else the
per-user cache `~/.cache/vae-explorer/data`), so the tests, the command line and the docs build
share one copy. When MNIST is not there, the first test that needs it fetches it once
(`vae.data.download_mnist`, needs internet); offline, those tests fail with a message saying what
to do. Nothing else is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The package's data root as an absolute path (tests link to its files from temporary folders,
    and a relative root would make broken links)."""
    from vae.data import resolve_data_root

    return resolve_data_root().absolute()


def ensure_mnist(root: Path, download: Callable[[Path], Path] | None = None) -> Path:
    """The root, with MNIST fetched into it first when a file is missing; a test failure with the
    reason and the remedy when it cannot be fetched (offline)."""
    from vae.data import DataError, download_mnist, missing_files

    if missing := missing_files(root):
        print(f"\nMNIST is not under {root} (missing: {', '.join(missing)}): downloading it once")
        try:
            (download or download_mnist)(root)
        except DataError as err:
            failure = str(err)
        else:
            return root
        pytest.fail(f"MNIST is not under {root} and could not be downloaded:\n{failure}", pytrace=False)  # no chained traceback
    return root


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    return ensure_mnist(data_root())


@pytest.fixture(scope="session")
def mnist_test(mnist_root: Path):
    import vae

    return vae.load_mnist(False, mnist_root)


@pytest.fixture
def uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Gradio's upload folder, moved to a fresh temporary folder (Gradio reads GRADIO_TEMP_DIR on every call)."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder

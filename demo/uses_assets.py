r"""What the Use tabs read, loaded on first use and cached: the demo's assets, the recorded results, the model.

[`UseAssets`][] is the base of every Use tab's endpoints (`uses_repair.py`, `uses_compression.py`,
`uses_labels.py`, `uses_anomaly.py`; combined in `uses.Uses`): it holds the `handlers.Explorer` they
work with (its shipped models, test digits and input checks), finds the files the benchmarks wrote for
the demo under `vae/assets/` and `benchmarks/results/*.json` (a clear error when one is missing), and
computes each value once, so a request only runs the model on one digit. Also here: the two helpers
the tabs share, [`picture`][] and [`bce_per_pixel`][].
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from widgets import to_uint8

import vae

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(vae.__file__).resolve().parent / "assets"
RESULTS = ROOT / "benchmarks" / "results"
OOD_SCRIPT = ROOT / "benchmarks" / "ood_inputs.py"
MODEL = "default"
MAX_SEED = 2**31 - 1
EPS = 1e-6  # the probabilities' clamp of vae.missing_log_likelihood


def picture(x: torch.Tensor) -> np.ndarray:
    """(1, 1, 28, 28) in [0, 1] -> uint8 (28, 28)."""
    return to_uint8(x)[0]


def bce_per_pixel(target: torch.Tensor, probs: torch.Tensor, mask: torch.Tensor | None, eps: float = EPS) -> float:
    r"""Cross-entropy of `target` under `probs`, nats per pixel: over the missing pixels (`mask`), or all of them (None)."""
    if mask is not None:
        return -vae.missing_log_likelihood(target, probs, mask, eps).item() / int(mask.sum())
    logits = torch.logit(probs.double().clamp(eps, 1.0 - eps))  # the clamped probabilities as Bernoulli logits
    return -vae.bernoulli_log_likelihood(target.double(), logits).item() / target[0].numel()


class UseAssets:
    """The Use tabs' shared state: `explorer` supplies the models, the test digits and the input checks."""

    def __init__(self, explorer: Any, assets: Path = ASSETS, results: Path = RESULTS, ood_script: Path = OOD_SCRIPT) -> None:
        self.explorer = explorer
        self.assets, self.results, self.ood_script = assets, results, ood_script
        self._lock = threading.Lock()  # guards the two dicts
        self._cache: dict[str, Any] = {}
        self._computing: dict[str, threading.Lock] = {}  # one lock per key: a slow value does not hold up the others

    def _lazy(self, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()` once per key; concurrent first requests wait for it (fitting a classifier must not run twice at once)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._computing.setdefault(key, threading.Lock())
        with lock:  # values depend on others without cycles (a classifier's accuracy on its classifier, ...): no deadlock
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = compute()
            with self._lock:
                self._cache[key] = value
            return value

    def _result(self, name: str) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            path = self.results / f"{name}.json"
            if not path.is_file():
                raise gr.Error(f"the recorded results {path.name} are missing from this installation: run `python benchmarks/{name}.py`")
            return json.loads(path.read_text())

        return self._lazy(f"results/{name}", load)

    def _asset(self, name: str) -> Path:
        path = self.assets / name
        if not path.is_file():
            raise gr.Error(f"the demo asset vae/assets/{name} is missing from this installation (see docs/uses/index.md to make it)")
        return path

    def model(self) -> vae.VAE:
        return self.explorer.model(MODEL)



__all__ = ["EPS", "MAX_SEED", "MODEL", "UseAssets", "bce_per_pixel", "picture"]

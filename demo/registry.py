r"""Which model a request uses: the demo's shipped models, loaded and cached, and the session's trained one.

[`Registry`][] is the part of `handlers.Explorer` that holds the demo's data: the models (loaded on
first use, from `models_dir` or the package's shipped ones), the shipped test subset, the package's
classifier and each model's statistics over the test digits (its codes, its map, its typical scores),
all computed once and cached, so the app starts in a few seconds.

**Which model.** A model menu's value is a shipped model's name or `TRAINED`, the model this browser
session trained in the Train tab (kept in the session's `gr.State`, a `live_run.TrainedModel`, which
the endpoints receive as their last argument). [`Registry.resolve`][] turns the two into a
[`Chosen`][] model, the only way the endpoints get one: names are checked on the server, `TRAINED`
without a trained model is a clear error, and the statistics of the session's model are cached with
it (dropped with the session), never under a shipped model's name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from live_run import TrainedModel
from safetensors.torch import load_file
from widgets import check_choice

import vae

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
SUBSET_FILE = "test_subset.safetensors"
BETA_MODELS = ("latent2d-beta0.5", "latent2d-beta4")  # latent2d (beta = 1) trained with KL weights 0.5 and 4
HIERARCHICAL_MODEL = "hierarchical"  # two stochastic layers; the latent tools work on its top layer
MODEL_NAMES = ("default", HIERARCHICAL_MODEL, "latent2d", *BETA_MODELS, "ae2d", "cvae")
IMAGE_MODELS = ("default", HIERARCHICAL_MODEL, "latent2d", *BETA_MODELS, "ae2d")  # unconditional models that encode a picture
SAMPLING_MODELS = ("default", HIERARCHICAL_MODEL, "latent2d", *BETA_MODELS)  # unconditional VAEs: the prior is meaningful
MAP_MODELS = ("latent2d", *BETA_MODELS, "ae2d")  # 2-D codes, drawn as a map
CONDITIONAL_MODEL = "cvae"
TRAINED = "trained here"  # the menus' value for the session's model from the Train tab


@dataclass(frozen=True)
class Chosen:
    """The model one request uses (made by [`Registry.resolve`][]).

    Attributes:
        name: the menu value, a shipped model's name or TRAINED (for messages).
        model: the network, in eval mode.
        stats: where its statistics over the shipped test digits are cached (codes, map, typical scores): the
            explorer's store for that name for a shipped model, the `TrainedModel`'s own for the session's model.
    """

    name: str
    model: vae.EncoderDecoder
    stats: dict[str, Any]


def unfit(trained: TrainedModel, prior: bool) -> str | None:
    """Why the session's trained model cannot serve a tab, or None if it can; `prior`: the tab samples from the prior."""
    if prior and not trained.model.config.is_variational:
        return ("the model trained here is an autoencoder (reconstruction term only): it has no prior to sample from; "
                "train a VAE (both terms, or the KL term only) or choose a shipped model")
    return None


class Registry:
    """The models, the shipped test digits and the caches behind the endpoints of [`handlers.Explorer`][].

    Args:
        models_dir: optional folder of model folders named like the shipped models
            (`<models_dir>/default/model.safetensors`, ...); a name found there wins over the
            shipped model of the same name. None: shipped models only.
        examples_dir: folder holding the example PNGs and `test_subset.safetensors`.
    """

    def __init__(self, models_dir: Path | None = None, examples_dir: Path = EXAMPLES_DIR) -> None:
        self.models_dir = models_dir
        self.examples_dir = examples_dir
        self._lock = threading.Lock()
        self._models: dict[str, vae.VAE] = {}
        self._data: dict[str, Any] = {}  # the test subset, the classifier, the recorded verdict
        self._stats: dict[str, dict[str, Any]] = {}  # per shipped model: see Chosen.stats

    def _source(self, name: str) -> str | Path | None:
        if self.models_dir is not None and (self.models_dir / name).is_dir():
            return self.models_dir / name
        return name if name in vae.available_models() else None

    def missing_models(self) -> list[str]:
        """Names of the demo's models that are neither shipped nor in `models_dir`."""
        return [name for name in MODEL_NAMES if self._source(name) is None]

    def model(self, name: str, allowed: tuple[str, ...] = MODEL_NAMES) -> vae.VAE:
        """The loaded model `name` (cached), or a gr.Error saying why it is not available."""
        check_choice(name, "model", list(allowed))
        with self._lock:
            if name not in self._models:
                source = self._source(name)
                if source is None:
                    raise gr.Error(
                        f"model {name!r} is not available in this installation (shipped models: "
                        f"{', '.join(vae.available_models()) or 'none'}); choose another model"
                    )
                try:
                    self._models[name] = vae.load(source)
                except vae.CheckpointError as err:
                    raise gr.Error(f"model {name!r} could not be loaded: {err}") from None
            return self._models[name]

    def resolve(self, name: Any, trained: Any, allowed: tuple[str, ...], prior: bool = False) -> Chosen:
        """The model a menu value names: one of the shipped models `allowed`, or TRAINED, the session's model.

        `trained` is the session's `gr.State` value (a `TrainedModel`, or None until a run ends): every
        browser session and every API client has its own, so a session is never served another's model.
        `prior`: the tab samples from the prior (an autoencoder does not fit). Anything else is a gr.Error
        saying what to choose, or to train a model first.
        """
        check_choice(name, "model", [*allowed, TRAINED])
        if name != TRAINED:
            model = self.model(name, allowed)
            with self._lock:
                return Chosen(name, model, self._stats.setdefault(name, {}))
        if not isinstance(trained, TrainedModel):
            raise gr.Error(f"there is no model {TRAINED!r} in this browser session yet: train one in the Train tab first "
                           "(it is kept for this session only), or choose a shipped model")
        if (reason := unfit(trained, prior)) is not None:
            raise gr.Error(reason)
        return Chosen(TRAINED, trained.model, trained.stats)

    @staticmethod
    def offers(trained: Any, prior: bool = False) -> bool:
        """Whether a menu offers the session's model: there is one, and it fits the tab (see `resolve`)."""
        return isinstance(trained, TrainedModel) and unfit(trained, prior) is None

    def _cached(self, key: str, compute: Any, store: dict[str, Any] | None = None) -> Any:
        """`store[key]` (the explorer's data by default), computed on first use."""
        store = self._data if store is None else store
        with self._lock:
            if key in store:
                return store[key]
        value = compute()  # outside the lock: may take a second; a duplicate computation is harmless
        with self._lock:
            return store.setdefault(key, value)

    def subset(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The shipped test digits: images (N, 1, 28, 28) in [0, 1] and labels (N,)."""

        def load() -> tuple[torch.Tensor, torch.Tensor]:
            path = self.examples_dir / SUBSET_FILE
            if not path.is_file():
                raise gr.Error(f"the test subset {path} is missing: run scripts/make_demo_examples.py")
            data = load_file(str(path))
            return data["images"].unsqueeze(1).float() / 255.0, data["labels"].long()

        return self._cached("subset", load)

    def example_paths(self) -> list[str]:
        """The example PNGs (`<digit>_<test index>.png`) for the pickers: one of each digit, then the next of each, ..."""
        paths = sorted(self.examples_dir.glob("*.png"))
        rank = {p: sum(q.name[0] == p.name[0] for q in paths[:i]) for i, p in enumerate(paths)}
        return [str(p) for p in sorted(paths, key=lambda p: (rank[p], p.name))]

    def codes(self, chosen: Chosen) -> torch.Tensor:
        """Where the shipped test digits sit in the latent space of a model: (N, D)."""
        model = chosen.model

        def compute() -> torch.Tensor:
            images, labels = self.subset()
            with torch.no_grad():
                return model.embed(images, labels if model.config.is_conditional else None)

        return self._cached("codes", compute, chosen.stats)

    def classifier(self) -> Any:
        """The package's shipped MNIST classifier (loaded once), which names the digits in random decodes."""
        from vae.classifier import load_classifier

        return self._cached("classifier", load_classifier)


__all__ = ["CONDITIONAL_MODEL", "HIERARCHICAL_MODEL", "IMAGE_MODELS", "MAP_MODELS", "MODEL_NAMES", "SAMPLING_MODELS", "TRAINED", "Chosen", "Registry",
           "unfit"]

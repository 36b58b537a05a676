r"""Live training for the demo's "Train" tab: checked settings, `vae.train` in a worker thread, a view every few hundred steps.

[`LiveTrainer.train`][] is the generator behind the tab's Train button. It checks every setting
(a `gr.Error` naming the setting and its allowed range otherwise), yields a first view of the
untrained network at once, then runs the package's own loop,
`vae.train(model_config, train_config, out_dir=None, callback=...)`, in a worker thread: there is no
second training loop here. The callback is called after every step; every `Limits.view_every`
steps it draws one view (see [`live_view.draw`][]) and hands it to the generator, and it stops the
run (returning True) when Stop is pressed, when the wall-time cap is reached, or when the page that
asked has gone away. The trained model goes to the browser session's `gr.State` as a
[`TrainedModel`][], with a zip of `model.safetensors`, `config.json` and `metrics.json` written by
`vae.save_model` for the download button; its files are deleted when the session ends. What a
run is (objectives, settings, limits, presets, result) is in `live_run.py`; its pictures in
`live_view.py`.

One job per server: `vae.train` seeds torch's global generator, so two runs at once would mix
their noise. The tab gives every training event `concurrency_limit=1` and one `concurrency_id`
(others wait in Gradio's queue and see their place), and the trainer itself lets one job run at a
time (a second caller waits for the first to finish).
"""

from __future__ import annotations

import atexit
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from live_run import (
    BATCH_SIZE,
    BOTH,
    DATA_ROOT,
    KL_ONLY,
    OBJECTIVES,
    PRESETS,
    RECONSTRUCTION_ONLY,
    SHIPPED,
    TRAIN_POOL,
    Limits,
    Settings,
    TrainedModel,
    discard,
    save,
)
from live_view import REFERENCE_MODEL, Curves, LiveView, draw, knn_accuracy
from safetensors.torch import load_file
from widgets import check_choice, check_number

import vae

TRAIN_SUBSET_FILE = "train_subset.safetensors"  # scripts/make_train_subset.py
KEPT_RUNS = 64  # run folders (a download zip of about 2 MB each) kept on disk; older ones are deleted


@dataclass
class _Job:
    """One run: who asked, the signals to stop it, and the views (or an error) on their way to the generator."""

    session: str | None
    stop: threading.Event = field(default_factory=threading.Event)  # Stop pressed
    gone: threading.Event = field(default_factory=threading.Event)  # the generator was closed: nobody is watching
    views: queue.Queue = field(default_factory=queue.Queue)


class LiveTrainer:
    """The Train tab's endpoints: check settings, train with `vae.train`, stream views, stop, presets.

    Args:
        explorer: the demo's `handlers.Explorer`; its shipped test digits (`subset()`) are the ones
            every view encodes, and its `latent2d` model gives the reference map accuracy.
        data_root: where `MNIST/raw/` may be (None: `vae.resolve_data_root()`, i.e. `$VAE_DATA_ROOT`
            or the per-user cache). When MNIST is there, "MNIST in the data root" is offered.
        limits: the server-side caps (None: the defaults of `Limits`).
    """

    def __init__(self, explorer: Any, data_root: str | Path | None = None, limits: Limits | None = None) -> None:
        self.explorer = explorer
        self.data_root = vae.resolve_data_root(data_root)
        self.limits = limits or Limits()
        self._busy = threading.Lock()  # held by the running job
        self._lock = threading.Lock()  # guards the caches and `_job`
        self._job: _Job | None = None
        self._pools: dict[str, vae.MNIST] = {}  # uint8 images (N, 1, 28, 28) and labels, per data source
        self._reference: float | None = None
        self._workdir: Path | None = None

    # -- settings -------------------------------------------------------------------------------
    def sources(self) -> list[str]:
        """The data sources on offer: the shipped subset, and MNIST when the data root holds it."""
        return [SHIPPED, DATA_ROOT] if not vae.data.missing_files(self.data_root) else [SHIPPED]

    def max_images(self, data: str) -> int:
        """The most training images `data` allows."""
        if data == SHIPPED:
            return min(self.limits.max_images, len(self._pool(SHIPPED)))
        return min(self.limits.max_images, TRAIN_POOL)

    def check(self, objective: Any, beta: Any, latent_dim: Any, data: Any, images: Any, epochs: Any, seed: Any) -> Settings:
        """The settings, each checked against `limits` (type, NaN, range), or a gr.Error saying what is allowed."""
        lim = self.limits
        objective = check_choice(objective, "objective", list(OBJECTIVES))
        beta = check_number(beta, "β (KL weight)", 0, lim.max_beta)
        if objective == KL_ONLY and beta == 0:
            raise gr.Error("β (KL weight) must be above 0 for the KL-only objective: with β = 0 it has nothing to minimise")
        latent_dim = check_number(latent_dim, "latent size", 2, lim.max_latent_dim, integer=True)
        data = check_choice(data, "training data", [SHIPPED, DATA_ROOT])
        if data not in self.sources():
            raise gr.Error(f"there is no MNIST in the data root {self.data_root} (set VAE_DATA_ROOT to a folder holding "
                           f"MNIST/raw/ and restart the demo); choose {SHIPPED!r}")
        images = check_number(images, "training images", lim.min_images, self.max_images(data), integer=True)
        epochs = check_number(epochs, "epochs", 1, lim.max_epochs, integer=True)
        seed = check_number(seed, "seed", 0, lim.max_seed, integer=True)
        settings = Settings(objective, beta, latent_dim, data, images, epochs, seed)
        if settings.total_steps > lim.max_steps:
            most = lim.max_steps // settings.steps_per_epoch
            raise gr.Error(f"{epochs} epochs of {images:,} images are {settings.total_steps:,} steps (batches of {BATCH_SIZE}); "
                           f"a run may take at most {lim.max_steps:,}: choose at most {most} epochs, or fewer images")
        return settings

    def preset(self, name: str, request: gr.Request | None = None) -> tuple[str, float, int]:
        """A loss-term preset (`PRESETS`): objective, β and latent size (the data, length and seed stay as they are).
        Stops the caller's running job first, so the preset's run starts next."""
        preset = PRESETS[check_choice(name, "preset", list(PRESETS))]
        self.stop(request)
        return preset

    # -- data -----------------------------------------------------------------------------------
    def _pool(self, data: str) -> vae.MNIST:
        """The images a source trains on, kept as uint8 (N, 1, 28, 28) (a quarter of float32) and labels (N,)."""
        with self._lock:
            if data not in self._pools:
                if data == SHIPPED:
                    path = self.explorer.examples_dir / TRAIN_SUBSET_FILE
                    if not path.is_file():
                        raise gr.Error(f"the training subset {path} is missing: run scripts/make_train_subset.py")
                    tensors = load_file(str(path))
                    self._pools[data] = vae.MNIST(tensors["images"].unsqueeze(1), tensors["labels"].long())
                else:
                    try:
                        train = vae.load_mnist(True, self.data_root).subset(TRAIN_POOL)
                    except vae.DataError as err:
                        raise gr.Error(f"MNIST could not be read from the data root: {err}") from None
                    self._pools[data] = vae.MNIST((train.images * 255).round().to(torch.uint8), train.labels)
            return self._pools[data]

    def training_data(self, settings: Settings) -> vae.MNIST:
        """The first `settings.images` images of the source, as gray levels in [0, 1]."""
        pool = self._pool(settings.data).subset(settings.images)
        return vae.MNIST(pool.images.float() / 255.0, pool.labels)

    def test_digits(self) -> vae.MNIST:
        """The shipped test digits every view encodes (the other tabs' maps show the same)."""
        images, labels = self.explorer.subset()
        return vae.MNIST(images, labels)

    def reference_accuracy(self) -> float | None:
        """The 5-NN accuracy of the shipped 2-D VAE's map on the same digits (None if it is not available)."""
        if self._reference is None:
            try:
                model = self.explorer.model(REFERENCE_MODEL)
            except gr.Error:
                return None
            test = self.test_digits()
            with torch.no_grad():
                self._reference = knn_accuracy(model.embed(test.images), test.labels)
        return self._reference

    # -- the endpoints ---------------------------------------------------------------------------
    def train(self, objective: Any, beta: Any, latent_dim: Any, data: Any, images: Any, epochs: Any, seed: Any,
              previous: Any = None, request: gr.Request | None = None) -> Iterator[tuple[Any, ...]]:
        """The Train button: checked settings in; per view (status, map, grid, reconstructions, samples, loss curves,
        KL curve, download, state) out. The last view carries the download and the session's new `TrainedModel`."""
        settings = self.check(objective, beta, latent_dim, data, images, epochs, seed)
        for view in self.views(settings, request):
            if view.result is None:
                yield (*view.outputs(), gr.skip(), gr.skip())
            else:
                if isinstance(previous, TrainedModel) and previous.folder != view.result.folder:
                    previous.discard()
                yield (*view.outputs(), str(view.result.archive), view.result)

    def stop(self, request: gr.Request | None = None) -> str:
        """The Stop button: ends the caller's running job after its current step (it keeps what it learned)."""
        job, session = self._job, _session(request)
        if job is None or (session is not None and job.session != session):
            return "No training of yours is running."
        job.stop.set()
        return "Stopping: the model keeps what it has learned so far."

    def views(self, settings: Settings, request: gr.Request | None = None) -> Iterator[LiveView]:
        """The views of one run: the untrained network at once, then one every `view_every` steps, then the result."""
        train_data, test = self.training_data(settings), self.test_digits()
        if not self._busy.acquire(timeout=self.limits.max_seconds + 60):
            raise gr.Error("another training is still running on this server; try again in a minute")
        job = _Job(_session(request))
        thread = threading.Thread(target=self._run, args=(job, settings, train_data, test), name="live-training", daemon=True)
        try:
            self._job = job
            torch.manual_seed(settings.seed)  # the network vae.train starts from (it seeds and builds the same way)
            untrained = vae.build_model(settings.model_config()).eval()
            with torch.no_grad():
                first = draw(untrained, settings, test, 0, 0, 0.0, Curves(), self.reference_accuracy(), "untrained")
            thread.start()  # after the build above: both use torch's global generator
            yield first
            while True:
                item = job.views.get()
                while not job.views.empty():  # a slow client skips to the newest view (each one holds the whole run)
                    item = job.views.get()
                if isinstance(item, vae.TrainingDiverged):
                    raise gr.Error("training diverged (the loss became NaN or infinite): try a smaller β or another seed")
                if isinstance(item, BaseException):
                    raise gr.Error(f"training failed: {item}") from None
                yield item
                if item.result is not None:
                    return
        finally:
            job.gone.set()  # closed early (Stop via cancel, page closed): the worker stops after its current step
            if thread.is_alive():
                thread.join()
            self._job = None
            self._busy.release()

    # -- the worker --------------------------------------------------------------------------------
    def _run(self, job: _Job, settings: Settings, train_data: vae.MNIST, test: vae.MNIST) -> None:
        """The worker thread: `vae.train` with a callback that records the curves, draws views and stops the run."""
        lim, curves, reference = self.limits, Curves(), self.reference_accuracy()
        last: dict[str, Any] = {}
        started = time.perf_counter()

        def callback(p: vae.TrainingProgress) -> bool:
            curves.add(p.step, p.terms)
            last.update(model=p.model, step=p.step + 1, epoch=p.epoch)
            seconds = time.perf_counter() - started
            ending = "stopped" if job.stop.is_set() or job.gone.is_set() else "time limit" if seconds > lim.max_seconds else None
            if ending is not None:
                last["ending"] = ending
                return True
            if (p.step + 1) % lim.view_every == 0 and p.step + 1 < settings.total_steps:
                with p.evaluating() as model:
                    job.views.put(draw(model, settings, test, p.step + 1, p.epoch, seconds, curves, reference, "training"))
            return False

        try:
            history = vae.train(settings.model_config(), settings.train_config(), None, train_data, test, device="cpu",
                                progress=False, grids=False, callback=callback, callback_every=1)
            if job.gone.is_set():
                return
            model = last["model"].eval()
            seconds = time.perf_counter() - started
            ending = last.get("ending", "finished")
            folder = save(model, settings, history, seconds, self._folder())
            result = TrainedModel(model, settings, history, last["step"], seconds, ending, folder)
            with torch.no_grad():
                job.views.put(draw(model, settings, test, last["step"], last["epoch"], seconds, curves, reference, ending, result))
        except Exception as err:  # noqa: BLE001 - reported to the page by the generator
            job.views.put(err)

    def _folder(self) -> Path:
        """A new folder in the trainer's work folder (a temporary folder, removed when the server exits).

        Only the newest `KEPT_RUNS` run folders stay: a session Gradio drops past its session cap never
        gets its delete callback, so without this its download would stay on disk until the server exits.
        Gradio serves a download from its own cache copy, so pruning an old folder breaks nothing.
        """
        with self._lock:
            if self._workdir is None:
                self._workdir = Path(tempfile.mkdtemp(prefix="vae-live-"))
                atexit.register(shutil.rmtree, self._workdir, ignore_errors=True)
            runs = sorted((p for p in self._workdir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
            for old in runs[: max(0, len(runs) - (KEPT_RUNS - 1))]:
                shutil.rmtree(old, ignore_errors=True)
            return Path(tempfile.mkdtemp(dir=self._workdir))

    def warm_up(self) -> None:
        """Pay the one-time costs of the first run now (loading the subsets, torch's first optimizer: ~3 s of imports)."""
        self._pool(SHIPPED)
        self.test_digits()
        self.reference_accuracy()
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


__all__ = ["BOTH", "DATA_ROOT", "KL_ONLY", "OBJECTIVES", "PRESETS", "RECONSTRUCTION_ONLY", "SHIPPED", "Limits", "LiveTrainer",
           "Settings", "TrainedModel", "discard"]

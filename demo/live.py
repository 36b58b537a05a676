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
their noise. The trainer keeps its own line of runs rather than Gradio's queue: a run waits its
turn inside its generator (showing its place, updated every `WAIT_UPDATE` seconds), so a waiting run
never counts against the queue's `max_size`, which every other endpoint shares. At most
`Limits.max_waiting` runs wait, one per browser session; more are refused at once with a `gr.Error`.
Stop cancels the caller's waiting run. A run's worker thread frees the trainer itself when it ends:
closing the generator (Gradio does that on the server's event loop) only tells the worker to stop.
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
WAIT_UPDATE = 1.0  # seconds between two updates of a waiting run's status (between them Gradio sees if its page still listens)
WAITING = ("**Waiting for the trainer**: {ahead} ahead of yours (one run at a time per server, each at most {most:.0f} s); "
           "yours starts when {they}. Waited {seconds:.0f} s. **Stop** cancels it.")
CANCELLED = "**Cancelled**: your waiting run was removed before it started."


@dataclass
class _Job:
    """One run: who asked, where it is, the signals to stop it, and the views (or an error) on their way to the generator."""

    session: str | None
    state: str = "waiting"  # then "running" (its turn came) or "cancelled" (Stop while waiting); changed under `_turns`
    started: bool = False  # its worker thread started (and will free the trainer when it ends)
    stop: threading.Event = field(default_factory=threading.Event)  # Stop pressed
    gone: threading.Event = field(default_factory=threading.Event)  # the generator was closed: nobody is watching
    views: queue.Queue = field(default_factory=queue.Queue)

    @property
    def over(self) -> bool:
        """Stopped, cancelled or abandoned: it no longer counts as the session's run."""
        return self.state == "cancelled" or self.stop.is_set() or self.gone.is_set()


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
        self._lock = threading.Lock()  # guards the caches
        self._turns = threading.Condition()  # guards `_job` and `_waiting`; notified when either changes
        self._job: _Job | None = None  # the running job, until its worker ends
        self._waiting: list[_Job] = []  # the jobs waiting their turn, first come first served
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
        Stops the caller's running job (or cancels its waiting one) first, so the preset's run takes its place."""
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
        KL curve, download, state) out. The last view carries the download and the session's new `TrainedModel`.
        While the run waits its turn, only the status changes (its place in the line)."""
        settings = self.check(objective, beta, latent_dim, data, images, epochs, seed)
        job = self._enter(_session(request))
        unchanged = (gr.skip(),) * 8
        try:
            asked = time.monotonic()
            for ahead in self._wait(job):
                status = WAITING.format(ahead=_runs(ahead), most=self.limits.max_seconds,
                                        they="they end" if ahead > 1 else "it ends", seconds=time.monotonic() - asked)
                yield (status, *unchanged)
            if job.state == "cancelled":
                yield (CANCELLED, *unchanged)
                return
            for view in self._views(job, settings):
                if view.result is None:
                    yield (*view.outputs(), gr.skip(), gr.skip())
                else:
                    if isinstance(previous, TrainedModel) and previous.folder != view.result.folder:
                        previous.discard()
                    yield (*view.outputs(), str(view.result.archive), view.result)
        finally:
            self._leave(job)

    def stop(self, request: gr.Request | None = None) -> str:
        """The Stop button: ends the caller's running job after its current step (it keeps what it learned), or
        cancels its waiting one. Without a request (a direct call), any running job, else the first waiting one."""
        session, stopping = _session(request), "Stopping: the model keeps what it has learned so far."
        with self._turns:
            running = self._job
            if running is None or running.gone.is_set() or session is not None and running.session != session:
                running = None
            if running is not None and not running.stop.is_set():
                running.stop.set()
                return stopping
            waiting = [j for j in self._waiting if session is None or j.session == session]
            if waiting:  # (after a run of its own that is already stopping)
                waiting[0].state = "cancelled"
                self._waiting.remove(waiting[0])
                self._next()
                return "Cancelled your waiting run: it will not start."
        return stopping if running is not None else "No training of yours is running."

    def views(self, settings: Settings, request: gr.Request | None = None) -> Iterator[LiveView]:
        """The views of one run: the untrained network once its turn comes, then one every `view_every` steps, then the
        result (nothing if the run is cancelled while it waits). A `gr.Error` if the line is full (see `train`)."""
        job = self._enter(_session(request))
        try:
            for _ in self._wait(job):
                pass
            if job.state == "running":
                yield from self._views(job, settings)
        finally:
            self._leave(job)

    # -- the line of runs --------------------------------------------------------------------------
    def _enter(self, session: str | None) -> _Job:
        """A new job at the end of the line, or a gr.Error: the session already has a run (running or waiting), or
        `limits.max_waiting` runs wait already. A session's stopped run, still ending, does not count. Refusals are
        expected (a flood of requests): no traceback on the server's console."""
        with self._turns:
            mine = [j for j in [self._job, *self._waiting] if j is not None and not j.over and session is not None
                    and j.session == session]
            if mine and mine[0] is self._job:
                raise gr.Error("your run is still training: wait for it to end, or press Stop first", print_exception=False)
            if mine:
                raise gr.Error(f"your run is already waiting for the trainer ({_runs(self._ahead(mine[0]))} ahead of it): "
                               "wait for it, or press Stop to cancel it", print_exception=False)
            most = self.limits.max_waiting
            if len(self._waiting) >= most:
                raise gr.Error(f"{len(self._waiting)} runs are already waiting for the trainer (one run at a time per "
                               f"server, at most {most} waiting); try again in a minute", print_exception=False)
            job = _Job(session)
            self._waiting.append(job)
            self._next()
            return job

    def _ahead(self, job: _Job) -> int:
        """How many runs are before a waiting `job` (the running one included); call with `_turns` held."""
        return self._waiting.index(job) + (self._job is not None)

    def _next(self) -> None:
        """Give a free trainer to the first waiting job (so a job waits only while another runs); call with `_turns` held."""
        if self._job is None and self._waiting:
            self._job = self._waiting.pop(0)
            self._job.state = "running"
        self._turns.notify_all()

    def _wait(self, job: _Job) -> Iterator[int]:
        """Wait for `job`'s turn: yields the number of runs ahead of it, at once and then every `WAIT_UPDATE` seconds,
        until its turn comes (state "running": it is the trainer's job now) or Stop cancels it (state "cancelled")."""
        timeout = 0.0
        while True:
            with self._turns:
                if self._turns.wait_for(lambda: job.state != "waiting", timeout=timeout):
                    return
                ahead = self._ahead(job)
            yield ahead
            timeout = WAIT_UPDATE

    def _leave(self, job: _Job) -> None:
        """The generator of `job` ended or was closed: tell the worker to stop, and leave the line. No waiting here:
        Gradio closes a generator on the server's event loop. A running job's worker frees the trainer (`_free`)."""
        job.gone.set()  # closed early (Stop via cancel, page closed): the worker stops after its current step
        with self._turns:
            if job in self._waiting:
                self._waiting.remove(job)
            if self._job is job and not job.started:  # its turn came, but it was closed or failed before its worker started
                self._job = None
            self._next()

    def _free(self, job: _Job) -> None:
        """The worker of `job` is done with the model and torch's generator: the next run may start."""
        with self._turns:
            if self._job is job:
                self._job = None
            self._next()

    def _views(self, job: _Job, settings: Settings) -> Iterator[LiveView]:
        """The views of the running `job`: the untrained network at once, then the worker's views, then the result."""
        train_data, test = self.training_data(settings), self.test_digits()
        torch.manual_seed(settings.seed)  # the network vae.train starts from (it seeds and builds the same way)
        untrained = vae.build_model(settings.model_config()).eval()
        with torch.no_grad():
            first = draw(untrained, settings, test, 0, 0, 0.0, Curves(), self.reference_accuracy(), "untrained")
        thread = threading.Thread(target=self._run, args=(job, settings, train_data, test), name="live-training", daemon=True)
        thread.start()  # after the build above: both use torch's global generator
        job.started = True
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

        final: LiveView | Exception | None = None
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
                final = draw(model, settings, test, last["step"], last["epoch"], seconds, curves, reference, ending, result)
        except Exception as err:  # noqa: BLE001 - reported to the page by the generator
            final = err
        finally:
            self._free(job)  # before the last view goes out: whoever sees the result finds the trainer free
            if final is not None:
                job.views.put(final)

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
            ages = {p: _mtime(p) for p in self._workdir.iterdir() if p.is_dir()}
            runs = sorted((p for p, age in ages.items() if age is not None), key=ages.__getitem__)
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


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _mtime(folder: Path) -> float | None:
    """When `folder` was last changed; None if it is gone (a session's `TrainedModel.discard` may delete it meanwhile)."""
    try:
        return folder.stat().st_mtime
    except FileNotFoundError:
        return None


__all__ = ["BOTH", "DATA_ROOT", "KL_ONLY", "OBJECTIVES", "PRESETS", "RECONSTRUCTION_ONLY", "SHIPPED", "Limits", "LiveTrainer",
           "Settings", "TrainedModel", "discard"]

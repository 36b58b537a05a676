"""The live Train tab (demo/live.py, demo/live_view.py, demo/tabs/train.py): streaming, stopping, limits, one job at a time.

The generator is driven directly and through the HTTP API of a small Blocks app holding only the
tab (tests/train_server.py, in a subprocess on a free port). Runs are tiny (hundreds of images,
tens of steps) and use one torch thread.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from demo_server import ROOT, THIRD_PARTY_WARNINGS, call_raw, demo_module, pixels
from train_server import train_server

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

IMAGES = 640  # 10 steps per epoch (batches of 64)


@pytest.fixture(scope="module")
def live():
    """demo/live.py (and demo/tabs/train.py), imported as the demo's own modules import each other (demo/ on sys.path)."""
    torch.set_num_threads(1)
    demo_module("tabs.train")
    return demo_module("live")


@pytest.fixture(scope="module")
def explorer(live):
    return sys.modules["handlers"].Explorer()


@pytest.fixture(scope="module")
def trainer(live, explorer):
    return live.LiveTrainer(explorer, limits=live.Limits(view_every=10, max_steps=600, max_seconds=60))


def settings(live, **changes: Any) -> list[Any]:
    """The seven settings as widget values: a tiny VAE run of 3 epochs (30 steps) unless changed."""
    values = {"objective": live.BOTH, "beta": 1.0, "latent_dim": 2, "data": live.SHIPPED, "images": IMAGES, "epochs": 3, "seed": 0}
    return list({**values, **changes}.values())


class Request:  # what gr.Request gives an endpoint: the browser session's hash
    def __init__(self, session: str) -> None:
        self.session_hash = session


def workers_end() -> None:
    """Wait for the training threads to end (a closed run's worker ends after its current step, by itself)."""
    for worker in [t for t in threading.enumerate() if t.name == "live-training"]:
        worker.join(timeout=60)  # a guard against a hang, not a speed goal
        assert not worker.is_alive(), "a worker went on training after its generator was closed"


def codes(plot: dict) -> np.ndarray:
    """The (z1, z2) points of a map value: (N, 2)."""
    return np.array([row[:2] for row in plot["data"]], dtype=np.float64)


# -- the generator -------------------------------------------------------------------------------
def test_training_streams_views_and_ends_with_the_model(live, trainer) -> None:
    import gradio as gr

    import vae

    outputs = list(trainer.train(*settings(live)))
    assert len(outputs) == 4  # the untrained network, steps 10 and 20, the result at step 30
    statuses = [o[0] for o in outputs]
    assert statuses[0].startswith("**Untrained network**") and "step 0 of 30" in statuses[0]
    assert all(s.startswith("**Training**") for s in statuses[1:-1]) and "step 10 of 30" in statuses[1]
    assert statuses[-1].startswith("**Finished**: 30 steps")
    for status, plot, grid, recon, samples, losses, kl, download, state in outputs:
        assert plot["columns"] == ["z1", "z2", "digit"] and len(plot["data"]) == 2000
        assert grid.shape == (15 * 28, 15 * 28) and recon.shape == (2 * 28, 10 * 28) and samples.shape == (2 * 28, 10 * 28)
        assert grid.dtype == np.uint8
    assert all(o[7] == gr.skip() and o[8] == gr.skip() for o in outputs[:-1])  # the download and the state come last
    first, last = outputs[0], outputs[-1]
    assert not np.allclose(codes(first[1]), codes(last[1]))  # the map moved
    assert {row[2] for row in last[5]["data"]} == {"reconstruction", "total"} and {row[2] for row in last[6]["data"]} == {"KL"}
    assert [row[0] for row in last[6]["data"]] == [20]  # one point per 20 steps (the window of step 21-30 is not full)
    # the first view names every term (Gradio's plot keeps the series of its first value), with no value yet
    assert first[5]["data"] == [[0, None, "reconstruction"], [0, None, "total"]] and first[6]["data"] == [[0, None, "KL"]]
    result = last[8]
    assert isinstance(result, live.TrainedModel) and result.ending == "finished" and result.steps == 30
    assert isinstance(result.model, vae.VAE) and not result.model.training
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert last[7] == str(result.archive)


def test_the_first_view_is_the_network_training_starts_from(live, trainer) -> None:
    """The untrained view shows exactly the network `vae.train` builds from the seed: a one-step run's
    first callback (after one step at a tiny learning rate) sees nearly the same codes."""
    import vae

    s = trainer.check(*settings(live))
    views = trainer.views(s)
    first = next(views)
    views.close()  # ends its worker after its current step (see test_a_closed_generator_stops_its_worker)
    workers_end()  # before vae.train below: both use torch's global generator
    seen = {}

    def callback(p: vae.TrainingProgress) -> bool:
        with p.evaluating() as model:
            seen["codes"] = model.embed(trainer.test_digits().images).numpy()
        return True

    config = vae.TrainConfig(**{**vae.config.to_dict(s.train_config()), "lr": 1e-9})
    vae.train(s.model_config(), config, None, trainer.training_data(s), trainer.test_digits(), device="cpu", progress=False,
              callback=callback, callback_every=1)
    order = torch.argsort(trainer.test_digits().labels, stable=True).numpy()
    np.testing.assert_allclose(codes(first.map), seen["codes"][order, :2], atol=2e-4)


def test_stop_ends_the_run_and_keeps_the_model(live, trainer) -> None:
    run = trainer.train(*settings(live, epochs=50))  # 500 steps: far more than it will take
    next(run)
    second = next(run)
    assert "step 10 of 500" in second[0]
    assert trainer.stop().startswith("Stopping")
    rest = list(run)
    result = rest[-1][8]
    assert rest[-1][0].startswith("**Stopped** after") and result.ending == "stopped"
    assert 10 <= result.steps < 100  # it ended within a few steps of the request
    assert trainer.stop() == "No training of yours is running."


def test_a_closed_generator_stops_its_worker(live, explorer) -> None:
    """Gradio closes the generator when the page goes away or the event is cancelled: the worker stops after its
    current step (not at the end of the run: minutes here) and the next run can start."""
    trainer = live.LiveTrainer(explorer, limits=live.Limits(view_every=10, max_steps=10_000, max_seconds=600))
    run = trainer.train(*settings(live, images=10_000, epochs=50))  # 7,850 steps
    next(run), next(run)
    run.close()
    workers_end()
    assert trainer._job is None and trainer._waiting == []


def test_closing_a_run_does_not_wait_for_its_worker(live, explorer, monkeypatch) -> None:
    """Gradio closes the generator on the server's event loop: the close must return at once, even while the worker is
    inside a long step, and the worker itself frees the trainer when that step ends (the next run waits until then)."""
    inside, release = threading.Event(), threading.Event()

    def long_step(*args: Any, **kwargs: Any) -> list:  # one step (or an epoch-end evaluation) that takes a while
        inside.set()
        release.wait(60)
        return []

    monkeypatch.setattr(live.vae, "train", long_step)
    trainer = live.LiveTrainer(explorer, limits=live.Limits(view_every=10, max_steps=600))
    run = trainer.train(*settings(live), request=Request("mine"))
    next(run)
    assert inside.wait(30)
    closing = threading.Thread(target=run.close)
    try:
        closing.start()
        closing.join(timeout=30)  # a guard against a hang: the close itself must not wait for `release`
        assert not closing.is_alive(), "closing the generator waited for the worker's step"
        assert trainer._job is not None  # the worker still holds the trainer: another run waits
        other = trainer.train(*settings(live), request=Request("other"))
        assert next(other)[0].startswith("**Waiting for the trainer**: 1 run ahead of yours")
    finally:
        release.set()
    worker = next(t for t in threading.enumerate() if t.name == "live-training")
    worker.join(timeout=30)
    assert not worker.is_alive() and trainer._job is not None and trainer._job.session == "other"  # its turn came
    other.close()  # before its worker started: leaving frees the trainer
    assert trainer._job is None and trainer._waiting == []


def test_a_failure_before_the_worker_starts_frees_the_trainer(live, explorer, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no picture")

    trainer = live.LiveTrainer(explorer, limits=live.Limits(view_every=10, max_steps=600))
    monkeypatch.setattr(live, "draw", broken)
    with pytest.raises(RuntimeError, match="no picture"):
        next(trainer.train(*settings(live)))
    assert trainer._job is None and trainer._waiting == []
    monkeypatch.undo()
    views = trainer.views(trainer.check(*settings(live)))
    assert next(views).step == 0  # the next run starts at once
    views.close()
    workers_end()


@pytest.fixture
def held(live, monkeypatch) -> threading.Event:
    """A gate the running job's first step waits at (vae.train itself, otherwise unchanged): set it to let the run go on."""
    gate, train = threading.Event(), live.vae.train

    def gated(*args: Any, callback: Any, **kwargs: Any) -> Any:
        def wait_then(p: Any) -> bool:
            gate.wait(60)
            return callback(p)

        return train(*args, callback=wait_then, **kwargs)

    monkeypatch.setattr(live.vae, "train", gated)
    yield gate
    gate.set()


def test_one_run_per_session_and_a_few_waiting_the_rest_refused(live, explorer, held) -> None:
    """A second run from a session that has one, or a run past `max_waiting` waiting ones, is refused at once with a
    clear error (it never waits anywhere); the ones that wait see their place, and start in the order they came."""
    import gradio as gr

    trainer = live.LiveTrainer(explorer, limits=live.Limits(view_every=10, max_steps=600, max_waiting=2))
    a = trainer.train(*settings(live), request=Request("a"))
    assert next(a)[0].startswith("**Untrained network**")
    with pytest.raises(gr.Error, match="your run is still training: wait for it to end, or press Stop first"):
        next(trainer.train(*settings(live), request=Request("a")))
    b, c = (trainer.train(*settings(live), request=Request(name)) for name in "bc")
    status_b, status_c = next(b), next(c)
    assert status_b[0].startswith("**Waiting for the trainer**: 1 run ahead of yours") and "when it ends" in status_b[0]
    assert status_c[0].startswith("**Waiting for the trainer**: 2 runs ahead of yours") and "when they end" in status_c[0]
    assert all(value == gr.skip() for value in status_b[1:])  # only the status changes while waiting
    with pytest.raises(gr.Error, match=r"your run is already waiting for the trainer \(1 run ahead of it\): wait for it, "
                                       "or press Stop to cancel it"):
        next(trainer.train(*settings(live), request=Request("b")))
    with pytest.raises(gr.Error, match=r"2 runs are already waiting for the trainer \(one run at a time per server, at most "
                                       r"2 waiting\); try again in a minute"):
        next(trainer.train(*settings(live), request=Request("d")))
    assert [j.session for j in trainer._waiting] == ["b", "c"]  # the refused ones left nothing behind
    held.set()
    assert list(a)[-1][0].startswith("**Finished**")
    assert next(c)[0].startswith("**Waiting for the trainer**: 1 run ahead")  # b's turn came first (and it keeps it)
    assert next(b)[0].startswith("**Untrained network**")
    assert list(b)[-1][0].startswith("**Finished**") and list(c)[-1][0].startswith("**Finished**")
    assert trainer._job is None and trainer._waiting == []


def test_stop_cancels_the_callers_waiting_run(live, explorer, held) -> None:
    """Stop pressed while your run waits removes it (it never starts, and frees its place); others' runs are untouched."""
    trainer = live.LiveTrainer(explorer, limits=live.Limits(view_every=10, max_steps=600, max_waiting=2))
    a = trainer.train(*settings(live), request=Request("a"))
    next(a)
    b, c = (trainer.train(*settings(live), request=Request(name)) for name in "bc")
    next(b), next(c)
    assert trainer.stop(Request("d")) == "No training of yours is running."
    assert trainer.stop(Request("b")) == "Cancelled your waiting run: it will not start."
    assert [o[0] for o in b] == [live.CANCELLED]  # it ends at once, without training
    assert next(c)[0].startswith("**Waiting for the trainer**: 1 run ahead of yours")  # c moved up
    d = trainer.train(*settings(live), request=Request("d"))  # the freed place is taken
    assert next(d)[0].startswith("**Waiting for the trainer**: 2 runs ahead of yours")
    assert trainer.stop(Request("d")).startswith("Cancelled") and [o[0] for o in d] == [live.CANCELLED]
    c.close()  # the page went away while waiting: it leaves the line
    assert trainer._waiting == [] and trainer._job.session == "a"
    assert trainer.stop(Request("a")).startswith("Stopping")  # the running one stops as before
    held.set()
    assert list(a)[-1][8].ending == "stopped"
    assert trainer._job is None


def test_stop_only_stops_the_callers_own_run(live, trainer) -> None:
    run = trainer.train(*settings(live, epochs=50), request=Request("mine"))
    next(run), next(run)
    assert trainer.stop(Request("someone else")) == "No training of yours is running."
    assert trainer.stop(Request("mine")).startswith("Stopping")
    assert list(run)[-1][8].ending == "stopped"


def test_time_limit_stops_the_run(live, explorer) -> None:
    trainer = live.LiveTrainer(explorer, limits=live.Limits(view_every=5, max_steps=600, max_seconds=0.0))
    last = list(trainer.train(*settings(live, epochs=50)))[-1]
    assert last[0].startswith("**Stopped at the time limit**") and last[8].ending == "time limit" and last[8].steps == 1


def test_a_diverged_run_is_a_clear_error(live, trainer, monkeypatch) -> None:
    import gradio as gr

    import vae

    def diverge(*args: Any, **kwargs: Any) -> None:
        raise vae.TrainingDiverged("the loss became nan at epoch 1, step 3; training stopped. Try a lower --lr")

    monkeypatch.setattr(live.vae, "train", diverge)
    run = trainer.train(*settings(live))
    assert next(run)[0].startswith("**Untrained")
    with pytest.raises(gr.Error, match=r"training diverged \(the loss became NaN or infinite\): try a smaller β or another seed"):
        next(run)
    assert trainer._job is None and trainer._waiting == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": 0}, "epochs must be a whole number from 1 to 50, not 0"),
        ({"epochs": 51}, "epochs must be a whole number from 1 to 50, not 51"),
        ({"epochs": 2.5}, "epochs must be a whole number from 1 to 50, not 2.5"),
        ({"epochs": 40, "images": 10_000},
         "40 epochs of 10,000 images are 6,280 steps (batches of 64); a run may take at most 600: choose at most 3 epochs"),
        ({"beta": -1.0}, "β (KL weight) must be a number from 0 to 10, not -1"),
        ({"beta": 10.5}, "β (KL weight) must be a number from 0 to 10, not 10.5"),
        ({"beta": float("nan")}, "β (KL weight) must be a number from 0 to 10, not nan"),
        ({"beta": float("inf")}, "β (KL weight) must be a number from 0 to 10, not inf"),
        ({"beta": "1"}, "β (KL weight) must be a number from 0 to 10, not '1' (str)"),
        ({"beta": 0.0, "objective": "KL only"}, "must be above 0 for the KL-only objective"),
        ({"images": 99}, "training images must be a whole number from 100 to 10000, not 99"),
        ({"images": 10001}, "training images must be a whole number from 100 to 10000, not 10001"),
        ({"images": None}, "training images must be a whole number from 100 to 10000, not None"),
        ({"latent_dim": 1}, "latent size must be a whole number from 2 to 8, not 1"),
        ({"latent_dim": 9}, "latent size must be a whole number from 2 to 8, not 9"),
        ({"seed": -1}, "seed must be a whole number from 0 to 2147483647, not -1"),
        ({"objective": "adversarial"}, "objective must be one of 'both (VAE)', 'reconstruction only (autoencoder)', 'KL only'"),
        ({"data": "ImageNet"}, "training data must be one of 'shipped subset', 'MNIST in the data root', not 'ImageNet'"),
    ],
)
def test_out_of_range_settings_are_refused(live, trainer, change: dict, message: str) -> None:
    import gradio as gr

    with pytest.raises(gr.Error) as err:
        next(trainer.train(*settings(live, **change)))
    assert message in err.value.message
    assert trainer._job is None and trainer._waiting == []  # nothing started, nothing waits


def test_mnist_from_the_data_root_is_offered_only_when_there(live, explorer, tmp_path: Path, mnist_root) -> None:
    import gradio as gr

    empty = live.LiveTrainer(explorer, data_root=tmp_path)
    assert empty.sources() == [live.SHIPPED]
    with pytest.raises(gr.Error, match="there is no MNIST in the data root"):
        empty.check(*settings(live, data=live.DATA_ROOT))
    trainer = live.LiveTrainer(explorer, data_root=mnist_root, limits=live.Limits(view_every=10, max_steps=600))
    assert trainer.sources() == [live.SHIPPED, live.DATA_ROOT] and trainer.max_images(live.DATA_ROOT) == 50_000
    s = trainer.check(*settings(live, data=live.DATA_ROOT, images=20_000, epochs=1))
    data = trainer.training_data(s)
    import vae

    train = vae.load_mnist(True, mnist_root)
    assert torch.equal(data.labels, train.labels[:20_000]) and torch.allclose(data.images, train.images[:20_000], atol=1 / 255)
    with pytest.raises(gr.Error, match="training images must be a whole number from 100 to 50000, not 50001"):
        trainer.check(*settings(live, data=live.DATA_ROOT, images=50_001))


def test_objectives_are_the_loss_terms(live, trainer) -> None:
    import vae

    ae, kl, both = (trainer.check(*settings(live, objective=o, beta=2.0)) for o in (live.RECONSTRUCTION_ONLY, live.KL_ONLY, live.BOTH))
    assert ae.model_config().kind == "ae" and kl.model_config().kind == both.model_config().kind == "vae"
    assert kl.train_config().reconstruction_weight == 0 and both.train_config().reconstruction_weight == 1
    assert both.train_config().binarize == "none"  # gray levels: the map forms in fewer steps (demo/live_run.py)
    assert kl.model_config().hidden == ae.model_config().hidden == both.model_config().hidden  # one network for all three
    # KL only: the total minimised is beta * KL, while the reconstruction term is still shown
    last = list(trainer.train(*settings(live, objective=live.KL_ONLY, beta=2.0, epochs=2)))[-1]
    curve = {(row[0], row[2]): row[1] for row in last[5]["data"] + last[6]["data"]}
    assert curve[(20, "total")] == pytest.approx(2.0 * curve[(20, "KL")], abs=3e-4)  # plotted values have 4 decimals
    assert curve[(20, "reconstruction")] > 100 and curve[(20, "KL")] < 0.5  # posteriors pulled onto the prior, nothing reconstructed
    # reconstruction only: an autoencoder, no KL term
    result = list(trainer.train(*settings(live, objective=live.RECONSTRUCTION_ONLY, epochs=1)))[-1][8]
    assert isinstance(result.model, vae.Autoencoder)


def test_warm_up_loads_what_the_first_run_needs(live, explorer) -> None:
    trainer = live.LiveTrainer(explorer)
    trainer.warm_up()
    assert live.SHIPPED in trainer._pools and trainer._reference == pytest.approx(0.737, abs=0.02)  # latent2d's map


def test_presets_are_the_three_loss_term_settings(live, explorer) -> None:
    trainer = live.LiveTrainer(explorer)  # the default limits, which the presets must fit
    objectives = {key: trainer.preset(key)[0] for key in live.PRESETS}
    assert objectives == {"reconstruction_only": live.RECONSTRUCTION_ONLY, "kl_only": live.KL_ONLY, "both": live.BOTH}
    for key in live.PRESETS:  # the widget values pass the server's checks, with the default data, length and seed
        s = trainer.check(*trainer.preset(key), live.SHIPPED, 10_000, 20, 0)
        assert (s.beta, s.latent_dim) == (1.0, 2)
    assert trainer.check(*trainer.preset("both"), live.SHIPPED, 10_000, 20, 0) == live.Settings()


def test_the_saved_model_loads_with_vae_load_and_is_dropped_with_the_session(live, trainer, tmp_path: Path) -> None:
    import vae

    first = list(trainer.train(*settings(live, epochs=1, latent_dim=3)))[-1][8]
    with zipfile.ZipFile(first.archive) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metrics.json", "model.safetensors"]
        archive.extractall(tmp_path)
    loaded = vae.load(tmp_path)
    assert loaded.config == first.model.config and loaded.config.latent_dim == 3
    x = trainer.test_digits().images[:8]
    assert torch.equal(loaded.reconstruct(x), first.model.reconstruct(x))
    assert vae.load_metrics(tmp_path)["live_training"]["latent_dim"] == 3
    second = list(trainer.train(*settings(live, epochs=1), previous=first))[-1][8]  # a new run replaces the session's model
    assert not first.folder.exists() and second.archive.is_file()
    live.discard(second)  # what gr.State's delete_callback does when the session ends
    assert not second.folder.exists()


def test_only_the_newest_run_folders_stay_on_disk(live, explorer, monkeypatch) -> None:
    """Sessions Gradio drops past its cap never call their delete callback: old downloads must not pile up."""
    monkeypatch.setattr(live, "KEPT_RUNS", 3)
    trainer = live.LiveTrainer(explorer)
    folders = []
    for i in range(5):
        folder = trainer._folder()
        (folder / "model.zip").write_bytes(b"x")
        os.utime(folder, (1000 + i, 1000 + i))  # distinct ages, oldest first
        folders.append(folder)
    assert [f.exists() for f in folders] == [False, False, True, True, True]


def test_a_run_folder_deleted_while_listed_is_skipped(live, explorer, monkeypatch, tmp_path: Path) -> None:
    """A session's `TrainedModel.discard` may delete its folder between the listing and the age check: no crash."""
    monkeypatch.setattr(live, "KEPT_RUNS", 2)

    class Gone(type(tmp_path)):  # listed as a folder, deleted before its stat()
        def is_dir(self) -> bool:
            return True

    class Workdir(type(tmp_path)):
        def iterdir(self) -> Iterator[Path]:
            yield Gone(self / "discarded")
            yield from super().iterdir()

    trainer = live.LiveTrainer(explorer)
    trainer._workdir = Workdir(tmp_path)
    folders = []
    for i in range(3):
        folders.append(trainer._folder())
        os.utime(folders[-1], (1000 + i, 1000 + i))  # distinct ages, oldest first
    assert [f.exists() for f in folders] == [False, True, True]  # the pruning still works around the vanished one


def test_the_shipped_training_subset(live, mnist_root) -> None:
    """Balanced prefixes, uint8, within 8 MB, from the first 50,000 training images, and equal to them."""
    from safetensors.torch import load_file

    import vae

    path = ROOT / "demo" / "examples" / "train_subset.safetensors"
    assert path.stat().st_size < 8e6
    data = load_file(str(path))
    images, labels, indices = data["images"], data["labels"].long(), data["indices"].long()
    assert images.dtype == torch.uint8 and images.shape == (10_000, 28, 28)
    assert torch.equal(torch.bincount(labels[:1000], minlength=10), torch.full((10,), 100))  # any 10 m prefix: m of each digit
    assert int(indices.max()) < 50_000 and len(indices.unique()) == 10_000
    train = vae.load_mnist(True, mnist_root)
    assert torch.equal(labels, train.labels[indices])
    assert torch.equal(images, (train.images[indices, 0] * 255).round().to(torch.uint8))


# -- the HTTP API --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> str:
    """The URL of a Blocks app with the tab (tests/train_server.py: the limits of `trainer` above), in a subprocess."""
    with train_server() as url:
        yield url


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def wait_for(job, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(job.outputs()) < n and not job.done():
        assert time.monotonic() < deadline, f"no {n} updates within {timeout} s"
        time.sleep(0.05)


def test_named_endpoints(server) -> None:
    c = client(server)
    named = set(c.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert named == {"/train", "/stop_training", "/preset_reconstruction_only", "/preset_kl_only", "/preset_both"}
    assert tuple(c.predict(api_name="/preset_kl_only")) == ("KL only", 1.0, 2)
    assert c.predict(api_name="/stop_training") == "No training of yours is running."


def test_api_streams_updates_and_the_download_loads(live, server, trainer, tmp_path: Path) -> None:
    import vae

    job = client(server).submit(*settings(live), api_name="/train")
    job.result(timeout=120)
    outputs = job.outputs()
    assert len(outputs) == 4 and outputs[0][0].startswith("**Untrained") and outputs[-1][0].startswith("**Finished**")
    download = outputs[-1][7]
    assert download.endswith(".zip") and all(o[7] == {"__type__": "update"} for o in outputs[:-1])  # gr.skip(): unchanged
    with zipfile.ZipFile(download) as archive:
        archive.extractall(tmp_path)
    model = vae.load(tmp_path)
    # the downloaded model is the one the last view drew: its reconstructions of the fixed digits match the picture
    from live_view import first_of_each_digit
    from widgets import tile

    test = trainer.test_digits()
    picks = test.images[first_of_each_digit(test.labels)]
    drawn = np.round(pixels(outputs[-1][3]) * 255)  # (56, 280) gray levels
    expected = tile(torch.cat([picks, model.reconstruct(picks)]), 10).astype(np.float64)
    assert np.abs(drawn - expected).max() <= 1, np.abs(drawn - expected).max()  # equal up to float rounding across processes


def test_api_stop(live, server) -> None:
    c = client(server)
    job = c.submit(*settings(live, epochs=50), api_name="/train")
    wait_for(job, 2)
    assert c.predict(api_name="/stop_training").startswith("Stopping")
    job.result(timeout=60)
    assert job.outputs()[-1][0].startswith("**Stopped** after")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('["both (VAE)", NaN, 2, "shipped subset", 640, 3, 0]', "β (KL weight) must be a number from 0 to 10, not nan"),
        ('["both (VAE)", Infinity, 2, "shipped subset", 640, 3, 0]', "β (KL weight) must be a number from 0 to 10, not inf"),
        ('["both (VAE)", 1, "two", "shipped subset", 640, 3, 0]', "latent size must be a whole number from 2 to 8, not 'two' (str)"),
        ('["both (VAE)", 1, 2, "shipped subset", 640, 51, 0]', "epochs must be a whole number from 1 to 50, not 51"),
        ('["both (VAE)", 1, 2, "shipped subset", 20000, 3, 0]', "training images must be a whole number from 100 to 10000, not 20000"),
        ('["both (VAE)", 1, 2, "shipped subset", 640, NaN, 0]', "epochs must be a whole number from 1 to 50, not nan"),
        ('["KL only", 0, 2, "shipped subset", 640, 3, 0]', "must be above 0 for the KL-only objective"),
        ('["both (VAE)", 1, 2, "shipped subset", 6400, 50, 0]', "50 epochs of 6,400 images are 5,000 steps"),
    ],
)
def test_api_refuses_bad_settings(server, body: str, message: str) -> None:
    event, data = call_raw(server, "train", '{"data": ' + body + "}")
    assert event == "error" and message in json.loads(data)["error"], (event, data)


def test_a_second_request_waits_its_turn_then_runs(live, server) -> None:
    """Two visitors: the second one's run waits (its status line says so) while the first trains, then runs."""
    first, second = client(server), client(server)
    running = first.submit(*settings(live, epochs=50), api_name="/train")
    wait_for(running, 2)
    waiting = second.submit(*settings(live), api_name="/train")
    wait_for(waiting, 1)
    assert waiting.outputs()[0][0].startswith("**Waiting for the trainer**: 1 run ahead of yours")
    time.sleep(1.5)
    assert all(o[0].startswith("**Waiting") for o in waiting.outputs())  # still waiting while the first one trains
    assert first.predict(api_name="/stop_training").startswith("Stopping")
    running.result(timeout=60)
    waiting.result(timeout=120)
    assert running.outputs()[-1][0].startswith("**Stopped**") and waiting.outputs()[-1][0].startswith("**Finished**")


def first_event(http, event_id: str) -> tuple[str, Any]:
    """The first update (or error) of a /call/train event (then the stream is closed; the run goes on)."""
    with http.stream("GET", f"/call/train/{event_id}") as stream:
        event = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("generating", "complete", "error"):
                return event, json.loads(line.split(":", 1)[1])
    raise AssertionError(f"no update for {event_id}")


def test_surplus_runs_are_refused_and_the_queue_stays_free(live, server) -> None:
    """More /train calls than Gradio's queue holds, from as many sessions: one trains, `max_waiting` (4) wait, the rest
    are refused at once with a clear error, and the queue stays free for every other endpoint (Stop included)."""
    import httpx
    from train_server import QUEUE_SIZE

    body, headers = json.dumps({"data": settings(live, epochs=50)}), {"content-type": "application/json"}
    with httpx.Client(base_url=f"{server}/gradio_api", timeout=30) as http:
        posted = [http.post("/call/train", content=body, headers=headers) for _ in range(QUEUE_SIZE + 4)]
        assert [r.status_code for r in posted] == [200] * len(posted), posted[-1].text  # not 503 "Queue is full"
        for api, answer in [("stop_training", ["No training of yours is running."]), ("preset_kl_only", ["KL only", 1.0, 2])]:
            event, data = call_raw(server, api, '{"data": []}')
            assert event == "complete" and json.loads(data) == answer, (api, event, data)
        ids = [r.json()["event_id"] for r in posted]
        firsts = [first_event(http, event_id) for event_id in ids]
        for event_id in ids:  # what a page's cancel sends (an API call's session is its event): Gradio closes the generator
            cancel = {"session_hash": event_id, "fn_index": 0, "event_id": event_id}
            assert http.post("/cancel", json=cancel).status_code == 200
    statuses = sorted(data[0].split("**")[1] for event, data in firsts if event == "generating")
    assert statuses == ["Untrained network"] + ["Waiting for the trainer"] * 4, firsts
    refused = [data["error"] for event, data in firsts if event == "error"]
    assert len(refused) == len(posted) - 5
    assert all(e.startswith("4 runs are already waiting for the trainer (one run at a time per server, at most 4 waiting); "
                            "try again in a minute") for e in refused), refused
    # the cancelled runs left the line (the running one stopped): a new run gets its turn and finishes
    event, data = call_raw(server, "train", json.dumps({"data": settings(live, epochs=1)}))
    assert event == "complete" and json.loads(data)[0].startswith("**Finished**"), (event, data)


# -- the benchmark -------------------------------------------------------------------------------
def test_the_benchmark_measures_every_preset(live) -> None:
    """benchmarks/live_training.py's in-process part on one epoch per run, so the script cannot rot (no timings checked)."""
    spec = importlib.util.spec_from_file_location("live_training", ROOT / "benchmarks" / "live_training.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.in_process(threads=1, epochs=1)
    assert set(result["runs"]) == {"both_cold", "reconstruction_only", "kl_only", "both"}
    assert result["recognisable_threshold"] == pytest.approx(0.85 * result["reference_knn_accuracy"])
    for run in result["runs"].values():
        assert run["settings"]["steps"] == 157 and run["ending"] == "finished" and run["views"][-1]["step"] == 157
        assert [v["step"] for v in run["views"]] == [0, 157] and run["first_picture_s"] > 0  # a view every 200 steps
    assert result["runs"]["kl_only"]["final_knn_accuracy"] < 0.3  # every code on the prior: no map

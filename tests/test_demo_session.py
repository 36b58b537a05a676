"""The model a session trains in the Train tab, explored in the Explore tabs by that session only.

`handlers.Explorer.resolve` turns a menu value (a shipped model's name, or "trained here") and the
session's `gr.State` into the model a request uses; `tabs/page.py` offers the session's model in
the menus once a run ends. In process: resolution, refusals, where the statistics are cached, the
menus' choices. Through the API of the shared demo server (tests/demo_server.py): one client trains
a tiny model with `/train` (100 images, one epoch: 2 steps) and its Explore endpoints use exactly
that model (checked against the downloaded weights), while another client gets a clear error.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from demo_server import ROOT, THIRD_PARTY_WARNINGS, demo_module, demo_url, example, pixels
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

NO_MODEL = "train one in the Train tab first"


@pytest.fixture(scope="module")
def demo() -> Any:
    """The demo's modules, imported as they import each other (demo/ on sys.path): a namespace of the ones used here."""
    torch.set_num_threads(1)
    modules = {name: demo_module(name) for name in ("handlers", "live", "widgets", "tabs.page")}
    return type("Demo", (), {k.replace("tabs.", ""): v for k, v in modules.items()})


@pytest.fixture(scope="module")
def explorer(demo) -> Any:
    return demo.handlers.Explorer()


def trained_model(demo, tmp_path: Path, objective: str | None = None, latent_dim: int = 2, seed: int = 0) -> Any:
    """A session's `TrainedModel` around an untrained network (what a run's result holds, without the run)."""
    import vae

    settings = demo.live.Settings(objective=objective or demo.live.BOTH, latent_dim=latent_dim, seed=seed)
    torch.manual_seed(seed)
    model = vae.build_model(settings.model_config()).eval()
    return demo.live.TrainedModel(model, settings, [], 0, 0.0, "finished", tmp_path)


# -- in process ------------------------------------------------------------------------------------
def test_resolve_names_a_shipped_model_or_the_sessions(demo, explorer, tmp_path: Path) -> None:
    import gradio as gr

    h = demo.handlers
    trained = trained_model(demo, tmp_path)
    shipped = explorer.resolve("latent2d", trained, h.MAP_MODELS)
    assert shipped.name == "latent2d" and shipped.model is explorer.model("latent2d") and shipped.stats is not trained.stats
    mine = explorer.resolve(h.TRAINED, trained, h.IMAGE_MODELS)
    assert mine.model is trained.model and mine.stats is trained.stats
    with pytest.raises(gr.Error, match=NO_MODEL):
        explorer.resolve(h.TRAINED, None, h.IMAGE_MODELS)  # a session that has not trained
    with pytest.raises(gr.Error, match=r"model must be one of 'default', .*'ae2d', 'trained here', not 'nope'"):
        explorer.resolve("nope", trained, h.IMAGE_MODELS)
    with pytest.raises(gr.Error, match="model must be one of"):
        explorer.resolve("cvae", trained, h.IMAGE_MODELS)  # shipped, but not one this tab offers
    autoencoder = trained_model(demo, tmp_path, objective=demo.live.RECONSTRUCTION_ONLY)
    assert explorer.resolve(h.TRAINED, autoencoder, h.IMAGE_MODELS).model is autoencoder.model
    with pytest.raises(gr.Error, match="autoencoder .* no prior to sample from"):
        explorer.sample(h.TRAINED, 4, 1.0, 0, autoencoder)


def test_the_session_models_statistics_stay_with_it(demo, explorer, tmp_path: Path) -> None:
    """Codes and maps of a session's model are computed from it and cached with it: never under a shipped model's
    name, never shared with another session's model."""
    h = demo.handlers
    before = explorer.latent_map("latent2d")
    a, b = trained_model(demo, tmp_path, seed=1), trained_model(demo, tmp_path, seed=2)
    images, labels = explorer.subset()
    for trained in (a, b):
        with torch.no_grad():
            expected = demo.widgets.map_value(trained.model.embed(images), labels)
        assert explorer.latent_map(h.TRAINED, trained) == expected
        assert {"codes", "map"} <= set(trained.stats)
    assert explorer.latent_map(h.TRAINED, a) != explorer.latent_map(h.TRAINED, b)
    assert explorer.latent_map("latent2d") == before
    assert set(explorer._stats) <= set(h.MODEL_NAMES)  # the shipped models' store holds shipped names only


def test_a_larger_code_is_shown_through_its_first_two_dimensions(demo, explorer, tmp_path: Path) -> None:
    import vae

    h = demo.handlers
    trained = trained_model(demo, tmp_path, latent_dim=8)
    images, labels = explorer.subset()
    with torch.no_grad():
        codes = trained.model.embed(images)  # (N, 8)
    rows = np.array([r[:2] for r in explorer.latent_map(h.TRAINED, trained)["data"]])
    np.testing.assert_allclose(rows, codes[torch.argsort(labels, stable=True), :2].numpy(), atol=1e-4)
    assert explorer.manifold(h.TRAINED, 3, trained).shape == (84, 84)
    z = torch.zeros(1, 8)
    z[0, :2] = torch.tensor([0.5, -1.0])
    point = explorer.decode_point(h.TRAINED, 0.5, -1.0, trained)
    assert np.array_equal(point, demo.widgets.to_uint8(vae.decode_images(trained.model, z))[0])  # the others at the prior's mean


def test_the_menus_offer_the_sessions_model_where_it_fits(demo, tmp_path: Path) -> None:
    h, page = demo.handlers, demo.page
    image_menu = page.ModelMenu(None, h.IMAGE_MODELS, "default", prior=False)
    sample_menu = page.ModelMenu(None, h.SAMPLING_MODELS, "default", prior=True)
    values = lambda update: [value for _, value in update["choices"]]
    assert values(image_menu.update(None, "ae2d")) == list(h.IMAGE_MODELS)  # nothing trained yet
    vae_run = trained_model(demo, tmp_path)
    offered = image_menu.update(vae_run, "ae2d")
    assert values(offered) == [*h.IMAGE_MODELS, h.TRAINED] and offered["value"] == "ae2d"
    assert offered["choices"][-1][0] == f"{h.TRAINED}: {vae_run.name}"  # labelled with what was trained
    assert values(sample_menu.update(vae_run, h.TRAINED)) == [*h.SAMPLING_MODELS, h.TRAINED]
    autoencoder = trained_model(demo, tmp_path, objective=demo.live.RECONSTRUCTION_ONLY)
    withdrawn = sample_menu.update(autoencoder, h.TRAINED)  # no prior to sample from: not offered, the menu goes back
    assert values(withdrawn) == list(h.SAMPLING_MODELS) and withdrawn["value"] == "default"
    assert image_menu.update(autoencoder, h.TRAINED)["value"] == h.TRAINED


# -- through the API -----------------------------------------------------------------------------
def train(client: Client, tmp_path: Path, objective: str = "both (VAE)", latent_dim: int = 2, seed: int = 7) -> Any:
    """A 2-step run on `client`'s session; the model it kept, loaded from the run's download."""
    import vae

    outputs = client.predict(objective, 1.0, latent_dim, "shipped subset", 100, 1, seed, api_name="/train")
    status, download = outputs[0], outputs[-1]  # status, map, grid, reconstructions, samples, losses, KL, download
    assert status.startswith("**Finished**: 2 steps"), status
    folder = tmp_path / f"model-{seed}-{latent_dim}"
    with zipfile.ZipFile(download) as archive:
        archive.extractall(folder)
    return vae.load(folder)


def map_of(client: Client, model: str = "trained here") -> np.ndarray:
    return np.array([row[:2] for row in client.predict(model, api_name="/latent_map")["data"]])


def test_a_session_explores_the_model_it_trained(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    import vae

    mine, other = Client(demo_url(), verbose=False), Client(demo_url(), verbose=False)
    model = train(mine, tmp_path)
    # reconstruction: the decode of the posterior mean under the trained weights
    _, mean, *_, reading = mine.predict(handle_file(example(3)), "trained here", 0, api_name="/reconstruct")
    with torch.no_grad():
        expected = vae.decode_images(model, model.encode(vae.to_mnist(str(example(3)))[None])[0])[0, 0].numpy()
    assert np.abs(pixels(mean) - expected).max() <= 1 / 255 + 1e-6 and "nats" in reading
    # sampling: the trained model's prior and decoder
    grid = pixels(mine.predict("trained here", 4, 1.0, 7, api_name="/sample"))
    with torch.no_grad():
        z = model.prior.sample(4, 1.0, torch.Generator().manual_seed(7))
        tiles = vae.decode_images(model, z)[:, 0].numpy()  # (4, 28, 28)
    expected_grid = np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]]])
    assert grid.shape == (56, 56) and np.abs(grid - expected_grid).max() <= 1 / 255 + 1e-6
    # the map: the shipped test digits at the trained model's codes
    subset = load_file(str(ROOT / "demo" / "examples" / "test_subset.safetensors"))
    images, labels = subset["images"].unsqueeze(1).float() / 255.0, subset["labels"].long()
    with torch.no_grad():
        codes = model.embed(images)[torch.argsort(labels, stable=True)].numpy()
    np.testing.assert_allclose(map_of(mine), codes, atol=2e-4)
    # the other endpoints of the Explore tabs take it too
    strip, _ = mine.predict(handle_file(example(1)), handle_file(example(8)), "trained here", 5, "linear", api_name="/interpolate")
    assert pixels(strip).shape == (28, 140)
    assert pixels(mine.predict("trained here", 4, api_name="/manifold")).shape == (112, 112)
    assert pixels(mine.predict("trained here", 0.5, 0.5, api_name="/decode_point")).shape == (28, 28)
    assert pixels(mine.predict(handle_file(example(2)), "trained here", 1, 3.0, 5, api_name="/traverse")[0]).shape == (28, 140)
    # another session has trained nothing: a clear error, for every endpoint that takes a model
    for args, api in [((handle_file(example(3)), "trained here", 0), "/reconstruct"), (("trained here", 4, 1.0, 7), "/sample"),
                      (("trained here",), "/latent_map")]:
        with pytest.raises(AppError, match=NO_MODEL):
            other.predict(*args, api_name=api)
    with pytest.raises(AppError, match="model must be one of"):  # a name that is neither shipped nor "trained here"
        mine.predict("my-model", 4, 1.0, 7, api_name="/sample")


def test_every_session_has_its_own_model_and_statistics(tmp_path: Path) -> None:
    """Two sessions' models, and one session's successive models, never share a cache entry; the shipped maps stay."""
    a, b = Client(demo_url(), verbose=False), Client(demo_url(), verbose=False)
    shipped = map_of(a, "latent2d")
    train(a, tmp_path, seed=1)
    first = map_of(a)
    train(b, tmp_path, seed=2, latent_dim=3)
    assert not np.allclose(map_of(b), first) and np.array_equal(map_of(a), first)
    model = train(a, tmp_path, objective="reconstruction only (autoencoder)", seed=3)  # a new run replaces the model
    assert not np.allclose(map_of(a), first) and model.config.kind == "ae"
    with pytest.raises(AppError, match="autoencoder .* no prior to sample from"):
        a.predict("trained here", 4, 1.0, 0, api_name="/sample")
    assert np.array_equal(map_of(b, "latent2d"), shipped)
    assert math.isfinite(a.predict(handle_file(example(3)), "trained here", 0, api_name="/reconstruct")[4])

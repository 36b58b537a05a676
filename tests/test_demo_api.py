"""The demo's named API endpoints, called with gradio_client against the launched app.

Every endpoint is called: outputs have the right type and shape; the reconstruction of a shipped
example is close to its input; an interpolation starts and ends at the decodes of its endpoints;
seeds make results repeatable.
"""

from __future__ import annotations

import json
import math
import ssl
import subprocess
import sys

import numpy as np
import pytest
from demo_server import EXAMPLES, ROOT, THIRD_PARTY_WARNINGS, demo_url, example, fake_site, pixels
from gradio_client import Client, handle_file
from PIL import Image

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

EXPLORE_ENDPOINTS = {
    "/drawing_to_image",
    "/reconstruct",
    "/sample",
    "/sample_digit",
    "/sample_layers",
    "/interpolate",
    "/latent_map",
    "/manifold",
    "/decode_point",
    "/traverse",
}
COMPARE_ENDPOINTS = {"/compare"}
USE_ENDPOINTS = {"/damage", "/repair", "/compress", "/compression_maps", "/classify", "/anomaly_score", "/anomaly_example"}  # demo/tabs/use.py
TRAIN_ENDPOINTS = {"/train", "/stop_training", "/preset_reconstruction_only", "/preset_kl_only", "/preset_both"}
ENDPOINTS = EXPLORE_ENDPOINTS | COMPARE_ENDPOINTS | USE_ENDPOINTS | TRAIN_ENDPOINTS
NUM_SUBSET = 2000  # digits in demo/examples/test_subset.safetensors


@pytest.fixture(scope="session")
def client() -> Client:
    return Client(demo_url(), verbose=False)


def grid_shape(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return 28 * math.ceil(n / cols), 28 * cols


def test_every_endpoint_is_named(client: Client) -> None:
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert named == ENDPOINTS


def test_examples_are_shipped() -> None:
    assert len(EXAMPLES) >= 20 and {p.name[0] for p in EXAMPLES} == set("0123456789")


@pytest.mark.parametrize("model", ["default", "latent2d", "ae2d"])
def test_reconstruct_outputs(client: Client, model: str) -> None:
    seen, mean, samples, posterior, score, reading = client.predict(handle_file(example(3)), model, 0, api_name="/reconstruct")
    assert pixels(seen).shape == (28, 28) and pixels(mean).shape == (28, 28)
    assert pixels(samples).shape == (28, 28 * 8)
    rows = posterior["data"]
    dims = {r[0] for r in rows}
    assert posterior["columns"][:3] == ["dimension", "value", "quantity"] and len(rows) == 2 * len(dims)
    assert {r[2] for r in rows} == {"mean μ", "std σ"}
    assert all(r[1] >= 0 for r in rows if r[2] == "std σ")
    assert isinstance(score, float) and math.isfinite(score) and score > 0
    assert "nats" in reading and "test digits" in reading


@pytest.mark.parametrize("model", ["default", "latent2d", "ae2d"])
def test_reconstruction_is_close_to_the_input(client: Client, model: str) -> None:
    """The reconstructions of ten shipped digits match their inputs (closely for the 32-D model; a 2-D code keeps
    less detail, so there only the average error is bounded)."""
    picks = [example(d) for d in range(10)]
    inputs, recons = [], []
    for path in picks:
        seen, mean, *_ = client.predict(handle_file(path), model, 0, api_name="/reconstruct")
        inputs.append(pixels(seen))
        recons.append(pixels(mean))
    errors = np.array([[np.abs(r - x).mean() for x in inputs] for r in recons])  # (10 recons, 10 inputs)
    if model == "default":  # each reconstruction is nearer to its own input than to any other example's input
        assert (errors.argmin(axis=1) == np.arange(10)).all(), errors.round(3)
        assert errors.diagonal().mean() < 0.08
    else:
        assert errors.diagonal().mean() < 0.15
        assert errors.diagonal().mean() < 0.75 * errors[~np.eye(10, dtype=bool)].mean()


def test_model_input_matches_the_example(client: Client) -> None:
    """A shipped MNIST digit passes through the preprocessing almost unchanged."""
    path = example(5)
    seen, *_ = client.predict(handle_file(path), "default", 0, api_name="/reconstruct")
    assert np.abs(pixels(seen) - pixels(path)).mean() < 0.05


def test_unusual_input_scores_higher(client: Client, tmp_path) -> None:
    noise = (np.random.default_rng(0).random((28, 28)) > 0.5).astype(np.uint8) * 255
    Image.fromarray(noise).save(tmp_path / "noise.png")
    *_, typical_score, _ = client.predict(handle_file(example(1)), "default", 0, api_name="/reconstruct")
    *_, noise_score, reading = client.predict(handle_file(tmp_path / "noise.png"), "default", 0, api_name="/reconstruct")
    assert noise_score > typical_score and "unusual" in reading


def test_the_default_models_reading_gives_the_verdict_at_the_recorded_threshold(client: Client, tmp_path) -> None:
    """The anomaly benchmark's threshold and AUROCs (vae/assets/anomaly_verdict.json) on the Reconstruction tab, for the
    model they were measured on; a test digit passes, noise is flagged, another model has no verdict."""
    record = json.loads((ROOT / "vae" / "assets" / "anomaly_verdict.json").read_text())
    noise = (np.random.default_rng(1).random((28, 28)) > 0.5).astype(np.uint8) * 255
    Image.fromarray(noise).save(tmp_path / "noise.png")
    *_, digit_score, digit = client.predict(handle_file(example(1)), "default", 0, api_name="/reconstruct")
    *_, noise_score, noisy = client.predict(handle_file(tmp_path / "noise.png"), "default", 0, api_name="/reconstruct")
    threshold = f"threshold of {record['threshold']:.1f} nats"
    assert digit_score <= record["threshold"] and threshold in digit and "passes as a digit" in digit
    assert noise_score > record["threshold"] and threshold in noisy and "flagged as an anomaly" in noisy
    mean = sum(e["auroc"] for e in record["kinds"].values()) / len(record["kinds"])
    assert f"mean AUROC of {mean:.2f}" in noisy and "blank: 0.00" in noisy
    *_, other = client.predict(handle_file(tmp_path / "noise.png"), "latent2d", 0, api_name="/reconstruct")
    assert "threshold of" not in other


def test_stochastic_reconstructions_follow_the_seed(client: Client) -> None:
    a = client.predict(handle_file(example(4)), "default", 1, api_name="/reconstruct")[2]
    b = client.predict(handle_file(example(4)), "default", 1, api_name="/reconstruct")[2]
    c = client.predict(handle_file(example(4)), "default", 2, api_name="/reconstruct")[2]
    assert np.array_equal(pixels(a), pixels(b)) and not np.array_equal(pixels(a), pixels(c))


@pytest.mark.parametrize("n", [1, 5, 36, 64])
def test_sample_grid(client: Client, n: int) -> None:
    grid = client.predict("default", n, 1.0, 0, api_name="/sample")
    assert pixels(grid).shape == grid_shape(n)


def test_sample_is_repeatable_and_temperature_zero_is_the_mean(client: Client) -> None:
    a, b = (pixels(client.predict("latent2d", 4, 1.0, 7, api_name="/sample")) for _ in range(2))
    assert np.array_equal(a, b)
    cold = pixels(client.predict("latent2d", 4, 0.0, 7, api_name="/sample"))
    tiles = [cold[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28] for r in range(2) for c in range(2)]
    assert all(np.array_equal(t, tiles[0]) for t in tiles)  # z = 0 for every sample


@pytest.mark.parametrize("digit", [0, 9])
def test_sample_digit_grid(client: Client, digit: int) -> None:
    grid = client.predict(digit, 9, 0.8, 0, api_name="/sample_digit")
    assert pixels(grid).shape == (84, 84)


def test_rows_of_two_layer_samples_share_their_top_code(client: Client) -> None:
    """Each row: the decode at the mean of p(z1 | z2), then draws of z1 (`HierarchicalVAE.sample_rows`, tested in
    test_hierarchical.py); the same seed gives the same grid, and the draws of a row vary less about their mean than
    the rows' means about theirs (the top code decides the digit)."""
    rows, draws = 5, 6
    grid = pixels(client.predict(rows, draws, 3, api_name="/sample_layers"))
    assert grid.shape == (28 * rows, 28 * (draws + 1))
    assert np.array_equal(grid, pixels(client.predict(rows, draws, 3, api_name="/sample_layers")))
    tiles = grid.reshape(rows, 28, draws + 1, 28).transpose(0, 2, 1, 3).astype(float)  # (rows, 1 + draws, 28, 28)
    assert not np.array_equal(tiles[0, 1], tiles[0, 2])  # the lower layer is drawn, not fixed
    within = np.mean([np.abs(tiles[r, 1:] - tiles[r, 1:].mean(0)).mean() for r in range(rows)])
    between = np.abs(tiles[:, 1:].mean(1) - tiles[:, 1:].mean((0, 1))).mean()
    assert within < between, (within, between)


@pytest.mark.parametrize("method", ["spherical", "linear"])
@pytest.mark.parametrize("model", ["default", "ae2d"])
def test_interpolation_ends_at_the_decoded_endpoints(client: Client, method: str, model: str) -> None:
    a, b, steps = example(1), example(8), 7
    strip, gif = client.predict(handle_file(a), handle_file(b), model, steps, method, api_name="/interpolate")
    strip = pixels(strip)
    assert strip.shape == (28, 28 * steps)
    decoded_a = pixels(client.predict(handle_file(a), model, 0, api_name="/reconstruct")[1])
    decoded_b = pixels(client.predict(handle_file(b), model, 0, api_name="/reconstruct")[1])
    assert np.abs(strip[:, :28] - decoded_a).max() <= 1 / 255 + 1e-6
    assert np.abs(strip[:, -28:] - decoded_b).max() <= 1 / 255 + 1e-6
    assert not np.array_equal(strip[:, :28], strip[:, -28:])
    with Image.open(gif) as animation:
        assert animation.format == "GIF" and animation.n_frames == 2 * steps - 2


@pytest.mark.parametrize("model", ["latent2d", "latent2d-beta0.5", "latent2d-beta4", "ae2d"])
def test_latent_map(client: Client, model: str) -> None:
    plot = client.predict(model, api_name="/latent_map")
    assert plot["columns"][:3] == ["z1", "z2", "digit"]
    assert len(plot["data"]) == NUM_SUBSET
    assert {row[2] for row in plot["data"]} == set("0123456789")


@pytest.mark.parametrize("model", ["latent2d", "latent2d-beta0.5", "latent2d-beta4", "ae2d"])
@pytest.mark.parametrize("n", [2, 15])
def test_manifold(client: Client, model: str, n: int) -> None:
    assert pixels(client.predict(model, n, api_name="/manifold")).shape == (28 * n, 28 * n)


def test_the_kl_weight_keeps_codes_inside_the_prior(client: Client) -> None:
    """The beta variants on the map: the larger the KL weight, the fewer test codes lie beyond radius 3, where the
    prior N(0, I) has 1.1% of its mass (measured on the 2,000 shipped test digits: 3.1%, 2.0% and 1.0% for beta = 0.5, 1, 4)."""
    outside = {}
    for model in ("latent2d-beta0.5", "latent2d", "latent2d-beta4"):
        codes = np.array([row[:2] for row in client.predict(model, api_name="/latent_map")["data"]])
        outside[model] = float((np.sqrt((codes**2).sum(1)) > 3).mean())
    assert outside["latent2d-beta0.5"] > outside["latent2d"] > outside["latent2d-beta4"], outside


def test_decode_point(client: Client) -> None:
    a = pixels(client.predict("latent2d", 0.0, 0.0, api_name="/decode_point"))
    b = pixels(client.predict("latent2d", 2.0, -2.0, api_name="/decode_point"))
    assert a.shape == (28, 28) and not np.array_equal(a, b)


def test_compare(client: Client) -> None:
    ae_map, vae_map, ae_grid, vae_grid, note = client.predict(16, 3, api_name="/compare")
    for name, plot in (("ae2d", ae_map), ("latent2d", vae_map)):
        full = client.predict(name, api_name="/latent_map")["data"]  # the test digits, sorted by digit
        assert len(plot["data"]) == NUM_SUBSET // 2 + 16
        assert plot["data"][: NUM_SUBSET // 2] == full[::2]  # every second test digit: each digit halved alike
        assert [row[2] for row in plot["data"][NUM_SUBSET // 2 :]] == ["random code"] * 16
    assert pixels(ae_grid).shape == pixels(vae_grid).shape == (112, 112)
    assert "autoencoder" in note and "VAE" in note


def test_the_autoencoder_space_favours_few_digits(client: Client) -> None:
    """The point of the comparison tab: random codes of the autoencoder decode mostly to a few digits, the VAE's
    prior samples to all of them."""
    *_, note = client.predict(64, 0, api_name="/compare")
    ae, vae = (float(part.split("%")[0]) for part in note.split("**")[1::2][:2])
    assert ae > 60 and vae < 45 and ae > vae + 20, note


@pytest.mark.parametrize("model", ["default", "latent2d"])
def test_traverse(client: Client, model: str) -> None:
    strip, top, note = client.predict(handle_file(example(2)), model, 1, 3.0, 9, api_name="/traverse")
    strip, top = pixels(strip), pixels(top)
    rows = min(5, 32 if model == "default" else 2)
    assert strip.shape == (28, 28 * 9) and top.shape == (28 * rows, 28 * 9)
    assert not np.array_equal(strip[:, :28], strip[:, -28:])
    assert not np.array_equal(top[:28, :28], top[:28, -28:])  # the most used dimension changes the digit
    assert "Dimension z1 " in note


def test_a_client_with_a_prebuilt_tls_context(client: Client) -> None:
    """The tip in docs/demo.md: one TLS context for all requests gives the same results, uploads included."""
    fast = Client(demo_url(), verbose=False, ssl_verify=ssl.create_default_context())
    a = fast.predict(handle_file(example(3)), "default", 0, api_name="/reconstruct")
    b = client.predict(handle_file(example(3)), "default", 0, api_name="/reconstruct")
    assert np.array_equal(pixels(a[1]), pixels(b[1])) and a[4] == b[4]


def test_drawing_to_image_then_reconstruct(client: Client, tmp_path) -> None:
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))  # what the sketchpad sends: black strokes, transparent paper
    for y in range(60, 220):
        for x in range(130, 146):
            canvas.putpixel((x, y), (0, 0, 0, 255))
    canvas.save(tmp_path / "drawing.png")
    drawing = {"background": None, "layers": [], "composite": handle_file(tmp_path / "drawing.png")}
    image = client.predict(drawing, api_name="/drawing_to_image")
    assert pixels(image).shape == (280, 280)
    seen, *_ = client.predict(handle_file(image), "default", 0, api_name="/reconstruct")
    seen = pixels(seen)
    assert seen.shape == (28, 28) and seen[:, 12:16].sum() > 0.8 * seen.sum()  # a vertical bar in the middle


# -- the files the demo ships --------------------------------------------------------------------
def test_example_subset_is_reproducible(mnist_root, tmp_path) -> None:
    """scripts/make_demo_examples.py re-creates the committed test subset and PNGs exactly."""
    import importlib.util

    from safetensors.torch import load_file

    spec = importlib.util.spec_from_file_location("make_demo_examples", ROOT / "scripts" / "make_demo_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--data-root", str(mnist_root), "--out", str(tmp_path)])
    shipped, fresh = (load_file(str(d / "test_subset.safetensors")) for d in (ROOT / "demo" / "examples", tmp_path))
    assert shipped.keys() == fresh.keys() and all((shipped[k] == fresh[k]).all() for k in shipped)
    assert shipped["images"].shape == (NUM_SUBSET, 28, 28) and shipped["labels"].bincount().tolist() == [200] * 10
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(p.name for p in EXAMPLES)
    assert all(np.array_equal(pixels(p), pixels(tmp_path / p.name)) for p in EXAMPLES)


def test_space_bundle(tmp_path) -> None:
    """scripts/build_space.py writes a Space whose card points at demo/app.py and which carries the package."""
    out = tmp_path / "space"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_space.py"), "--out", str(out)], check=True, capture_output=True)
    card = (out / "README.md").read_text()
    assert "sdk: gradio" in card and "app_file: demo/app.py" in card and "sdk_version:" in card
    assert "torch" in (out / "requirements.txt").read_text()
    for path in (
        "demo/app.py",
        "demo/handlers.py",
        "demo/serving.py",
        "demo/widgets.py",
        "demo/sketchpad.py",
        "demo/live.py",
        "demo/tabs/page.py",
        "demo/tabs/explore.py",
        "demo/tabs/compare.py",
        "demo/tabs/use.py",
        "demo/tabs/train.py",
        "demo/examples/test_subset.safetensors",
        "demo/examples/train_subset.safetensors",
        "benchmarks/results/imputation.json",  # what the Use tabs quote and offer (demo/uses.py)
        "benchmarks/results/compression.json",
        "benchmarks/results/few_labels.json",
        "benchmarks/ood_inputs.py",
        "vae/__init__.py",
    ):
        assert (out / path).is_file(), path


def build_space(out, *args: str) -> str:
    """Run scripts/build_space.py into `out`; its printed report."""
    command = [sys.executable, str(ROOT / "scripts" / "build_space.py"), "--out", str(out), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_space_bundle_carries_the_docs_site(tmp_path) -> None:
    """With a built site, the Space holds it where demo/app.py looks (site/ beside demo/) and the card says so."""
    site = fake_site(tmp_path / "site")
    out = tmp_path / "space"
    build_space(out, "--docs-dir", str(site))
    assert (out / "site" / "index.html").read_bytes() == (site / "index.html").read_bytes()
    assert (out / "site" / "theory" / "elbo" / "index.html").is_file()
    card = (out / "README.md").read_text()
    assert "/docs/" in card and "example.org" not in card


@pytest.mark.parametrize("url", ["", "https://docs.example/vae/"])
def test_space_bundle_without_a_site(tmp_path, url: str) -> None:
    """Without a built site the Space has no site/, warns, and its card links to --docs-url or says how to get the docs."""
    out = tmp_path / "space"
    report = build_space(out, "--docs-dir", str(tmp_path / "not-built"), *(["--docs-url", url] if url else []))
    assert not (out / "site").exists() and "warning: no built documentation" in report
    card = (out / "README.md").read_text()
    assert "example.org" not in card
    assert (f"<{url}>" in card) if url else ("mkdocs build" in card and "http" not in card.split("---")[-1])

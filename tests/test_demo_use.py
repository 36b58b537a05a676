"""The Use tabs (demo/uses.py, demo/tabs/use.py): repairs keep observed pixels, the stream ends, bad input is refused,
the verdict flips at its threshold, and the numbers shown are the recorded ones.

Most tests call the handlers directly (one torch thread); the last ones go through the launched demo
(tests/demo_server.py) with gradio_client.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from demo_server import ROOT, THIRD_PARTY_WARNINGS, demo_module, demo_url, example, pixels
from PIL import Image

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

RESULTS = ROOT / "benchmarks" / "results"
DIGIT = str(example(4))  # a shipped test digit


@pytest.fixture(scope="module")
def demo() -> Any:
    """demo/uses.py (and demo/tabs/use.py), imported as the demo's modules import each other (demo/ on sys.path)."""
    torch.set_num_threads(1)
    demo_module("handlers")
    demo_module("tabs.use")
    return demo_module("uses")


@pytest.fixture(scope="module")
def uses(demo: Any) -> Any:
    return demo.Uses(sys.modules["handlers"].Explorer())


@pytest.fixture(scope="module")
def gr() -> Any:
    import gradio

    return gradio


def painted(rows: slice = slice(0, 140), cols: slice = slice(0, 280), size: tuple[int, int] = (280, 280), channels: int = 4) -> dict:
    """A painter value whose one layer is painted (alpha 255) over rows x cols of a canvas of `size` (height, width)."""
    layer = np.zeros((*size, channels), dtype=np.uint8)
    layer[rows, cols] = 255
    return {"background": None, "layers": [layer], "composite": None}


def repair_args(damage: str = "top half", **changes: Any) -> list[Any]:
    """The arguments of /repair: image, damage, strength, square size, painted, seed, steps."""
    values = {"image": DIGIT, "damage": damage, "strength": 0.5, "square": 14, "painted": None, "seed": 0, "steps": 30}
    return list({**values, **changes}.values())


# -- denoise and inpaint -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("damage", "changes"),
    [("top half", {}), ("random pixels", {"strength": 0.8}), ("centred square", {"square": 10}), ("painted mask", {"painted": painted()})],
)
def test_repairs_keep_the_observed_pixels(uses: Any, damage: str, changes: dict) -> None:
    d, _, states = uses.repair_states(*repair_args(damage, **changes))
    observed = ~d.mask
    assert 0 < int(d.mask.sum()) < 784
    assert torch.equal(d.damaged[observed], d.clean[observed])
    last = None
    for last in states:
        assert set(last.repairs) == {"one_pass", "pca", "mean", "pseudo_gibbs", "mwg"}
        for method, repair in last.repairs.items():
            assert torch.equal(repair[observed], d.clean[observed]), method  # bit for bit
            assert 0.0 <= float(repair.min()) and float(repair.max()) <= 1.0
    assert last is not None and last.step == 30
    # the pictures sent to the page: the observed pixels are the digit's own gray levels
    seen = uses.explorer._digit(DIGIT)[0]  # (28, 28)
    expected = (seen.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    outputs = list(uses.repair(*repair_args(damage, **changes)))
    keep = observed[0, 0].numpy()
    for picture in outputs[0][1:6]:
        np.testing.assert_array_equal(picture[keep], expected[keep])


def test_painted_layer_becomes_the_mask(uses: Any, demo: Any) -> None:
    vae = sys.modules["vae"]
    assert torch.equal(demo.painted_mask(painted())[None], vae.make_mask("top"))  # the top 140 of 280 rows = the top 14 of 28
    d = uses.damage_tensors(*repair_args("painted mask", painted=painted(rows=slice(0, 280), cols=slice(140, 280)))[:6])
    assert torch.equal(d.mask, vae.make_mask("right"))
    # a cell is missing when at least a quarter of it is painted: 3 of 10 rows yes, 2 of 10 no
    assert int(demo.painted_mask(painted(rows=slice(0, 3)))[0].sum()) == 28
    assert int(demo.painted_mask(painted(rows=slice(0, 2)))[0].sum()) == 0


def test_the_stream_yields_several_steps_and_ends(uses: Any, gr: Any) -> None:
    outputs = list(uses.repair(*repair_args(steps=100)))
    assert len(outputs) == 11  # the first step, then every 10th
    steps = [int(out[-1].split("**Step ")[1].split(" ")[0]) for out in outputs]
    assert steps == [1, *range(10, 101, 10)]
    assert "Step 100 of 100" in outputs[-1][-1]
    first, later = outputs[0], outputs[1:]
    assert all(isinstance(v, np.ndarray) for v in first[:6])
    for out in later:  # the damaged digit and the one-shot repairs are sent once; the chains every update
        assert all(v == gr.skip() for v in out[:4])
        assert all(isinstance(v, np.ndarray) and v.shape == (28, 28) for v in out[4:6])
    assert len(list(uses.repair(*repair_args(steps=7)))) == 7


def test_the_chains_move_and_are_seeded(uses: Any) -> None:
    def final(seed: int) -> dict[str, torch.Tensor]:
        *_, last = uses.repair_states(*repair_args("random pixels", seed=seed))[2]
        return last.repairs

    a, b, c = final(0), final(0), final(1)
    assert all(torch.equal(a[m], b[m]) for m in a)
    assert not torch.equal(a["pseudo_gibbs"], c["pseudo_gibbs"])  # another seed: another random mask and chain
    _, _, states = uses.repair_states(*repair_args())
    first, *_, last = states
    assert not torch.equal(first.repairs["pseudo_gibbs"], last.repairs["pseudo_gibbs"])


def test_noise_is_repaired_by_reconstruction_only(uses: Any) -> None:
    outputs = list(uses.repair(*repair_args("bit flips", strength=0.1)))
    assert len(outputs) == 1
    damaged, one_pass, _, mean, gibbs, mwg, status = outputs[0]
    assert gibbs is None and mwg is None and "chains need a mask" in status
    assert damaged.shape == (28, 28) and one_pass.shape == (28, 28) and mean.shape == (28, 28)
    k, like = uses.pca_size("bit flips", 0.1)
    recorded = json.loads((RESULTS / "imputation.json").read_text())["noise"]["flip 10 %"]["selection"]["pca"]["k"]
    assert (k, like) == (recorded, "flip 10 %") and f"k = {k}" in status


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"damage": "sandpaper"}, "damage must be one of 'top half'"),
        ({"strength": 1.5}, "strength must be a number from 0 to 1, not 1.5"),
        ({"strength": float("nan")}, "strength must be a number from 0 to 1, not nan"),
        ({"strength": "strong"}, "strength must be a number"),
        ({"square": 27}, "square size must be a whole number from 2 to 26"),
        ({"seed": -1}, "seed must be a whole number from 0"),
        ({"steps": 0}, "steps must be a whole number from 1 to 200"),
        ({"steps": 10_000}, "steps must be a whole number from 1 to 200"),
        ({"damage": "random pixels", "strength": 1.0}, "leaves 784 of 784 pixels missing"),
        ({"damage": "random pixels", "strength": 0.0}, "leaves 0 of 784 pixels missing"),
        ({"damage": "painted mask"}, "the painted mask is empty: press 'Paint on this digit'"),
        ({"damage": "painted mask", "painted": painted(rows=slice(0, 0))}, "no pixel is missing"),
        ({"damage": "painted mask", "painted": painted(rows=slice(0, 280))}, "every pixel is missing"),
        ({"damage": "painted mask", "painted": painted(size=(100, 50))}, "must be a square picture of at least 28×28 pixels"),
        ({"damage": "painted mask", "painted": painted(size=(20, 20))}, "not 20×20"),
        ({"damage": "painted mask", "painted": painted(channels=3)}, "must be an RGBA picture"),
        ({"image": None}, "digit: expected an image file"),
    ],
)
def test_bad_repair_input_is_refused(uses: Any, gr: Any, changes: dict, message: str) -> None:
    args = repair_args(**changes)
    with pytest.raises(gr.Error, match=_literal(message)):
        next(uses.repair(*args))
    if "steps" not in changes:  # /damage takes the same inputs but the steps
        with pytest.raises(gr.Error, match=_literal(message)):
            uses.damage(*args[:6])


def _literal(text: str) -> str:
    return re.escape(text)


# -- compress ------------------------------------------------------------------------------------
def test_compressed_digits_have_the_recorded_errors(uses: Any) -> None:
    """The per-digit BCE the tab shows, averaged over the 100 stored digits, is the error the benchmark recorded for them."""
    recorded = json.loads((RESULTS / "compression.json").read_text())
    stored = recorded["demo"]["stored_errors"]
    n = uses.compression()["inputs"].shape[0]
    for d in uses.compression_dims():
        errors = {m: [] for m in stored}
        for pos in range(n):
            _, recons = uses.reconstructions(pos, d)
            for m, (_, bce) in recons.items():
                errors[m].append(bce)
        for m in stored:
            assert np.mean(errors[m]) == pytest.approx(stored[m][str(d)]["bce"], rel=1e-5), (m, d)


def test_compress_outputs(uses: Any, gr: Any) -> None:
    target, pca, ae, vae_picture, plot, text = uses.compress(7, 1, 8)
    assert all(p.shape == (28, 28) for p in (target, pca, ae, vae_picture))
    assert set(np.unique(target)) <= {0, 255}  # the binarized digit
    curves = json.loads((RESULTS / "compression.json").read_text())["curves"]
    rows = {(r[0], r[2]): r[1] for r in plot["data"]}
    assert rows[(3.0, "VAE")] == pytest.approx(curves["vae"]["8"]["bce"], abs=1e-4)  # x is log2 D
    marker = [r for r in plot["data"] if r[2] == "chosen D"]
    assert len(marker) == 2 and all(r[0] == 3.0 for r in marker)  # a vertical line at D = 8
    assert "| VAE | " in text and f"{curves['vae']['8']['bce']:.1f}" in text and "Test digit #0 (a 7)" in text
    for args, message in (((7, 1, 5), "code size D must be one of 2, 4, 8"), ((10, 1, 8), "digit must be a whole number from 0 to 9"),
                          ((7, 11, 8), "example must be a whole number from 1 to 10")):
        with pytest.raises(gr.Error, match=_literal(message)):
            uses.compress(*args)
    maps = uses.compression_maps()
    assert len(maps) == 3 and all(len(m["data"]) == 1000 for m in maps)


# -- few labels ----------------------------------------------------------------------------------
def test_the_accuracies_shown_are_the_recorded_ones(uses: Any) -> None:
    recorded = json.loads((RESULTS / "few_labels.json").read_text())["results"]
    for n in uses.label_budgets():
        shown = uses.recorded_accuracy(n)
        for name, row in shown.items():
            assert row["logistic_mean"] == recorded[name]["logistic"][str(n)]["mean"]
            assert row["knn_std"] == recorded[name]["knn"][str(n)]["std"]
        for name in ("default latent means", "raw pixels"):
            assert shown[name]["shipped"] == recorded[name]["logistic"][str(n)]["demo_classifier_accuracy"]
    _, codes, raw, text = uses.classify(DIGIT, 100)
    row = recorded["default latent means"]["logistic"]["100"]
    assert f"VAE codes **{100 * row['demo_classifier_accuracy']:.2f}%**" in text
    assert f"raw pixels **{100 * recorded['raw pixels']['logistic']['100']['demo_classifier_accuracy']:.2f}%**" in text
    assert f"| default latent means | {100 * row['mean']:.1f} ± {100 * row['std']:.1f} |" in text
    pix = recorded["raw pixels"]["logistic"]["100"]
    assert f"| raw pixels | {100 * pix['mean']:.1f} ± {100 * pix['std']:.1f} |" in text
    assert sum(codes.values()) == pytest.approx(1.0) and max(codes, key=codes.get) == "4"
    assert sum(raw.values()) == pytest.approx(1.0)


def test_the_shipped_classifier_does_as_recorded(uses: Any) -> None:
    """On the demo's 2,000 test digits the shipped classifier lands near its recorded accuracy on all 10,000 (it would not
    if the features were computed differently, e.g. from binarized digits or another model)."""
    recorded = json.loads((RESULTS / "few_labels.json").read_text())["results"]
    codes, pixels_accuracy = uses.subset_accuracy(100)
    assert abs(codes - recorded["default latent means"]["logistic"]["100"]["demo_classifier_accuracy"]) < 0.06
    assert abs(pixels_accuracy - recorded["raw pixels"]["logistic"]["100"]["demo_classifier_accuracy"]) < 0.06
    assert 0.55 < pixels_accuracy < codes  # with 100 labels the codes beat the pixels


def test_bad_classify_input_is_refused(uses: Any, gr: Any) -> None:
    with pytest.raises(gr.Error, match=_literal("number of labels must be one of 100, 600, 1000, 3000, not 50")):
        uses.classify(DIGIT, 50)
    with pytest.raises(gr.Error, match="expected an image file"):
        uses.classify(None, 100)


def test_float_choices_reach_the_handlers_as_the_stored_ones(uses: Any) -> None:
    assert uses.compress(7, 1, 8.0)[-1] == uses.compress(7, 1, 8)[-1]
    assert uses.classify(DIGIT, 100.0)[-1] == uses.classify(DIGIT, 100)[-1]


# -- anomaly -------------------------------------------------------------------------------------
def test_the_verdict_flips_at_the_threshold(uses: Any) -> None:
    threshold = json.loads((ROOT / "vae" / "assets" / "anomaly_verdict.json").read_text())["threshold"]
    assert uses.verdict(threshold)[0] is False
    assert uses.verdict(math.nextafter(threshold, math.inf))[0] is True
    assert uses.verdict(threshold - 1.0)[0] is False and "passes as a digit" in uses.verdict(threshold - 1.0)[1]
    assert "flagged as an anomaly" in uses.verdict(threshold + 1.0)[1]


def test_the_score_is_the_recorded_one(uses: Any) -> None:
    """The score is the call the threshold was set with: about 5 % of shipped test digits exceed it, and it equals the
    reconstruction tab's score of the same input."""
    explorer = uses.explorer
    typical = explorer.typical(explorer.resolve("default", None, ("default",)))
    above = float(np.mean(typical.scores > uses.verdict_record()["threshold"]))
    assert 0.02 < above < 0.09, above  # measured 5 % on the 10,000 test digits; these are 1,000 of them
    x = explorer._digit(DIGIT)[None]
    assert uses.score(x) == pytest.approx(float(explorer._score(explorer.model("default"), x)[0]), abs=1e-4)
    _, score, text = uses.anomaly_score(DIGIT)
    assert score == round(uses.score(x), 3) and "passes as a digit" in text and "nats" in text


def test_generated_inputs_get_the_recorded_verdicts(uses: Any, gr: Any) -> None:
    """Noise and inverted digits are always flagged in the benchmark, blank images never (the known failure)."""
    kinds = json.loads((ROOT / "vae" / "assets" / "anomaly_verdict.json").read_text())["kinds"]
    for kind in uses.ood_kinds():
        seen, score, text = uses.anomaly_example(kind, 0)
        assert seen.shape == (28, 28) and math.isfinite(score)
        assert f"**{kind.replace('_', ' ')}** | **{kinds[kind]['auroc']:.3f}**" in text
        if kinds[kind]["detected"] == 1.0:
            assert "flagged as an anomaly" in text, kind
        if kinds[kind]["detected"] == 0.0:
            assert "passes as a digit" in text, kind
    with pytest.raises(gr.Error, match="kind must be one of 'letters'"):
        uses.anomaly_example("unicorns", 0)
    with pytest.raises(gr.Error, match="seed must be a whole number"):
        uses.anomaly_example("noise", 0.5)


# -- through the server --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client() -> Any:
    from gradio_client import Client

    return Client(demo_url(), verbose=False)


def test_repair_streams_through_the_api(client: Any, tmp_path: Path) -> None:
    from gradio_client import handle_file

    job = client.submit(handle_file(DIGIT), "top half", 0.5, 14, None, 0, 40, api_name="/repair")
    updates = list(job)
    assert len(updates) >= 5 and job.status().success
    first, final = job.outputs()[0], job.outputs()[-1]
    assert "Step 1 of 40" in first[-1] and "Step 40 of 40" in final[-1]
    damaged, gibbs, mwg = pixels(first[0]), pixels(final[4]), pixels(final[5])
    assert damaged.shape == gibbs.shape == (28, 28)
    # the observed bottom half is the digit's own, in the damaged picture and in the chains' repairs
    np.testing.assert_array_equal(gibbs[14:], damaged[14:])
    np.testing.assert_array_equal(mwg[14:], damaged[14:])
    # a painted mask sent as the painter's files
    layer = tmp_path / "layer.png"
    Image.fromarray(painted()["layers"][0]).save(layer)  # the top half
    value = {"background": None, "layers": [handle_file(str(layer))], "composite": handle_file(str(layer))}
    _, note = client.predict(handle_file(DIGIT), "painted mask", 0.5, 14, value, 0, api_name="/damage")
    assert "392 of 784 pixels missing" in note


def test_bad_input_through_the_api(client: Any) -> None:
    from gradio_client import handle_file

    for args, message in (
        (("top half", 2.0, 14, None, 0, 10), "strength must be a number from 0 to 1"),
        (("painted mask", 0.5, 14, None, 0, 10), "the painted mask is empty"),
        (("top half", 0.5, 14, None, 0, 500), "steps must be a whole number from 1 to 200"),
    ):
        with pytest.raises(Exception, match=_literal(message)):
            client.predict(handle_file(DIGIT), *args, api_name="/repair")


def test_a_float_for_a_whole_number_choice_gets_the_stored_choice(client: Any) -> None:
    """8.0 for the code size and 100.0 for the number of labels: the same answer as 8 and 100 (the handlers look their
    tables up by str(d), where '8.0' is missing: a KeyError, or 'the classifiers are missing', before the fix)."""
    from gradio_client import handle_file

    assert client.predict(7, 1, 8.0, api_name="/compress")[-1] == client.predict(7, 1, 8, api_name="/compress")[-1]
    floats, ints = (client.predict(handle_file(DIGIT), n, api_name="/classify") for n in (100.0, 100))
    assert floats[1:] == ints[1:] and "with **100 labels**" in floats[-1]
    with pytest.raises(Exception, match=_literal("code size D must be one of 2, 4, 8, 16, 32, 64, not True")):
        client.predict(7, 1, True, api_name="/compress")

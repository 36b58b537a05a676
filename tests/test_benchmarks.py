"""Smoke test of benchmarks/train_speed.py on a few hundred images, so that the script cannot rot.

It checks that both implementations train and report the same quantity, and the arithmetic of the FLOP
count and of the GFLOP/s, not the timings.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def train_speed():
    spec = importlib.util.spec_from_file_location("train_speed", ROOT / "benchmarks" / "train_speed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_the_reference_model_matches_the_package_model(train_speed) -> None:
    """The re-implemented pytorch/examples VAE and vae's MLP VAE have the same size and the same loss."""
    import vae

    reference = train_speed.ExamplesVAE()
    ours = vae.build_model(vae.ModelConfig(arch="mlp", hidden=(400,), latent_dim=20))
    assert vae.num_parameters(reference) == vae.num_parameters(ours) == 652_824
    with torch.no_grad():  # copy the weights across, then compare the per-batch losses on the same noise
        ours.encoder.net[0].load_state_dict(reference.fc1.state_dict())
        ours.encoder.net[2].weight.copy_(torch.cat([reference.fc21.weight, reference.fc22.weight]))
        ours.encoder.net[2].bias.copy_(torch.cat([reference.fc21.bias, reference.fc22.bias]))
        ours.decoder.net[0].load_state_dict(reference.fc3.state_dict())
        ours.decoder.net[2].load_state_dict(reference.fc4.state_dict())
        x = torch.rand(16, 1, 28, 28)
        torch.manual_seed(0)
        recon, mu, logvar = reference(x)
        summed = train_speed.examples_loss(recon, x, mu, logvar)
        torch.manual_seed(0)
        mean = ours(x).loss
    assert summed.item() / 16 == pytest.approx(mean.item(), rel=1e-5)


def test_the_flop_count_is_the_hand_count_of_the_mlp(train_speed) -> None:
    """Multiply-adds of one step, counted by hand for 784-400-20: forward through the four matrix products, backward
    a weight gradient for each and an input gradient for all but the first; the layers are those of both models."""
    import vae

    forward = 784 * 400 + 400 * 40 + 20 * 400 + 400 * 784  # encoder 784->400->(mu, logvar), decoder 20->400->784
    assert forward == 651_200
    backward = forward + (400 * 40 + 20 * 400 + 400 * 784)  # dW of every layer, dX of every layer but the first
    macs = train_speed.step_macs(128)
    assert macs == {"forward": 128 * forward, "weight_gradients": 128 * forward, "input_gradients": 128 * 337_600,
                    "total": 128 * (forward + backward)}
    assert train_speed.flops_per_image() == 2 * (forward + backward) == 3_280_000
    ours = vae.build_model(vae.ModelConfig(arch="mlp", hidden=(400,), latent_dim=20))
    for model in (ours, train_speed.ExamplesVAE()):
        linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        assert sum(m.in_features * m.out_features for m in linear) == forward


def test_gflops_and_percent_of_peak_follow_from_the_recorded_seconds(train_speed) -> None:
    """A run's GFLOP/s is its counted FLOPs over its training seconds, and its share of the peak of its precision."""
    run = train_speed.RunResult("r", "none", {}, epoch_seconds=[3.0, 3.0], test_loss=[110.0, 105.0], setup_seconds=1.0,
                                total_seconds=7.0, train_seconds=[2.0, 2.5], train_images=60_000, precision="bf16")
    assert run.train_gflops == pytest.approx(2 * 60_000 * 3.28e6 / 4.5 / 1e9)
    peak = {"fp32": {"gflops": 100.0}, "bf16": {"gflops": 250.0}}
    row, = train_speed.summarise([[run]], peak)
    assert row["train_gflops"] == pytest.approx(run.train_gflops) and row["train_seconds"] == 4.5
    assert row["percent_of_peak"] == pytest.approx(100 * run.train_gflops / 250.0)
    assert row["precision"] == "bf16" and row["train_images_per_epoch"] == 60_000


def _run(train_speed, recipe: str, total: float, loss: float):
    return train_speed.RunResult(recipe, "none", {"batch_size": 128}, epoch_seconds=[total - 1.0], test_loss=[loss],
                                 setup_seconds=1.0, total_seconds=total, train_seconds=[total - 2.0], train_images=60_000)


def test_repeats_give_the_median_run_and_the_ratio_of_medians(train_speed) -> None:
    """Each recipe's row is its repeat of median total time; the speed-up is the reference's median total over the
    run's, each repeat's ratio is against its own reference, and a recipe reaches the loss only if every repeat does."""
    repeats = [[_run(train_speed, "ref", 90.0, 105.5), _run(train_speed, "fast", 15.0, 105.3)],
               [_run(train_speed, "ref", 100.0, 105.5), _run(train_speed, "fast", 13.0, 105.4)],
               [_run(train_speed, "ref", 80.0, 105.5), _run(train_speed, "fast", 14.0, 105.6)]]
    peak = {"fp32": {"gflops": 100.0}, "bf16": {"gflops": 200.0}}
    reference, fast = train_speed.summarise(repeats, peak)
    assert reference["total_seconds"] == 90.0 and fast["total_seconds"] == 14.0  # the medians, not the means
    assert fast["final_test_loss"] == 105.6  # the median-time repeat's own loss
    assert fast["speedup"] == pytest.approx(90.0 / 14.0) and reference["speedup"] == 1.0
    assert fast["speedup_per_repeat"] == pytest.approx([90 / 15, 100 / 13, 80 / 14])
    assert fast["total_seconds_per_repeat"] == [15.0, 13.0, 14.0] and fast["repeats"] == 3
    assert fast["final_test_loss_per_repeat"] == [105.3, 105.4, 105.6]
    assert not fast["reaches_reference_loss"] and reference["reaches_reference_loss"]  # the third repeat ended above
    repeats[2][1] = _run(train_speed, "fast", 14.0, 105.5)
    assert train_speed.summarise(repeats, peak)[1]["reaches_reference_loss"]
    assert train_speed.median_run([r[0] for r in repeats[:2]]).total_seconds == 90.0  # the lower of two


def test_compile_line_says_whether_compiling_pays(train_speed) -> None:
    cost = {"batch_size": 512, "precision": "bf16", "eager_first_step_seconds": 0.03, "compiled_first_step_seconds": 20.03,
            "eager_step_seconds": 0.014, "compiled_step_seconds": 0.012, "break_even_steps": 10_000.0}
    assert "it pays after 10,000 steps, against the fast run's 826" in train_speed.compile_line(cost, 826)
    assert "never pays" in train_speed.compile_line({**cost, "break_even_steps": None}, 826)
    row = {"epochs": 7, "train_images_per_epoch": 60_000, "settings": {"batch_size": 512}}
    assert train_speed.fast_steps(row) == 7 * 118


def test_performance_page_and_readme_hold_the_recorded_training_speed(train_speed) -> None:
    """docs/performance.md shows the block of benchmarks/results/train_speed.json (`--write` puts it there), and the
    README's sentence quotes the same run's speed-up (with its range over the repeats) and losses."""
    saved = json.loads((ROOT / "benchmarks" / "results" / "train_speed.json").read_text())
    page = (ROOT / "docs" / "performance.md").read_text()
    assert f"<!-- train-speed:start -->\n{train_speed.page_block(saved)}\n<!-- train-speed:end -->" in page, (
        "run `python benchmarks/train_speed.py --data-root ../shared/data --threads 2 --write`")
    assert not saved["quick"] and saved["repeats"] == 3 and saved["timings_representative"]
    reference, *_, fast = saved["runs"]
    assert fast["reaches_reference_loss"] and fast["speedup"] >= 6.0
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"to the same test loss ({fast['final_test_loss']:.1f} against {reference['final_test_loss']:.1f} nats) "
            f"{fast['speedup']:.1f}x faster") in readme
    assert f"{fast['epochs']} epochs" in readme
    per_repeat = fast["speedup_per_repeat"]
    assert (f"{fast['speedup']:.1f}x faster on the same two CPU cores (the ratio of the median totals of three repeats, "
            f"{min(per_repeat):.1f}x to {max(per_repeat):.1f}x per repeat)") in readme  # three: asserted above


def test_write_page_replaces_only_the_block_and_names_missing_markers(train_speed, tmp_path: Path) -> None:
    saved = json.loads((ROOT / "benchmarks" / "results" / "train_speed.json").read_text())
    page = tmp_path / "performance.md"
    page.write_text("intro\n<!-- train-speed:start -->\nold\n<!-- train-speed:end -->\nrest\n")
    train_speed.write_page(saved, page)
    assert page.read_text() == f"intro\n<!-- train-speed:start -->\n{train_speed.page_block(saved)}\n<!-- train-speed:end -->\nrest\n"
    page.write_text("no markers\n")
    with pytest.raises(SystemExit, match="train-speed:start"):
        train_speed.write_page(saved, page)
    assert page.read_text() == "no markers\n"


def test_the_matmul_peak_has_both_precisions_and_every_size(train_speed) -> None:
    peak = train_speed.matmul_peak((16, 32), repeats=1, seconds=0.0)
    assert set(peak) == {"fp32", "bf16"}
    for entry in peak.values():
        assert set(entry["by_size"]) == {"16", "32"} and entry["gflops"] == max(entry["by_size"].values()) > 0


def test_functions_run_on_a_few_hundred_images(train_speed, mnist_root: Path, tmp_path: Path) -> None:
    reference = train_speed.run_examples_recipe(mnist_root, 1, train_size=256, test_size=200, image_dir=tmp_path / "images")
    assert reference.epochs == 1 and 100 < reference.final_test_loss < 600
    assert (tmp_path / "images" / "sample_1.png").is_file() and (tmp_path / "images" / "reconstruction_1.png").is_file()
    assert reference.train_images == 256 and len(reference.train_seconds) == 1
    assert 0 < reference.train_seconds[0] <= reference.epoch_seconds[0]  # the training steps, without the test pass
    config = train_speed.fast_config(1, 128, 3e-3, train_size=256, precision="bf16", adam_implementation="fused")
    assert config.precision == "bf16" and config.adam_implementation == "fused"
    fast = train_speed.run_package(mnist_root, config, tmp_path / "fast", "vae.train, fast", train_speed.describe_fast(config),
                                   test_size=200, grids=False)
    assert fast.epochs == 1 and 100 < fast.final_test_loss < 600
    assert fast.total_seconds >= fast.setup_seconds + sum(fast.epoch_seconds) * 0.99
    assert fast.train_images == 256 and fast.precision == "bf16" and 0 < fast.train_seconds[0] <= fast.epoch_seconds[0]
    rows = train_speed.summarise([[reference, fast]], {"fp32": {"gflops": 100.0}, "bf16": {"gflops": 200.0}})
    assert rows[0]["speedup"] == 1.0 and rows[0]["reaches_reference_loss"]
    assert rows[0]["percent_of_peak"] == pytest.approx(rows[0]["train_gflops"])  # fp32 against a peak of 100
    assert rows[1]["percent_of_peak"] == pytest.approx(rows[1]["train_gflops"] / 2)  # bf16 against 200
    table = train_speed.markdown_table(rows).splitlines()
    assert table[0] == ("| recipe | settings changed | epochs | seconds/epoch | total seconds | final test loss | speed-up | "
                        "speed-up per repeat | train GFLOP/s | % of peak |")
    assert len(table) == 4 and table[3].startswith("| vae.train, fast | in-memory data, batch 128, lr 0.003")
    assert "bf16 networks, fused Adam |" in table[3] and table[3].endswith("% bf16 |")


def test_main_writes_json(train_speed, mnist_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "train_speed.json"
    status = train_speed.main(["--quick", "--data-root", str(mnist_root), "--train-size", "200", "--test-size", "100",
                               "--threads", str(torch.get_num_threads()), "--skip-same-settings", "--out", str(out)])
    assert status == 0
    report = json.loads(out.read_text())
    assert report["quick"] and report["train_size"] == 200 and report["test_size"] == 100 and report["repeats"] == 1
    assert report["compile"] is None  # not timed in a smoke run
    assert report["machine"]["cpu_model"] and isinstance(report["machine"]["bf16_units"], list)
    assert [r["recipe"] for r in report["runs"]] == ["pytorch/examples", "vae.train, fast"]
    assert report["reference_test_loss"] == report["runs"][0]["final_test_loss"]
    for key in ("seconds_per_epoch", "total_seconds", "final_test_loss", "speedup", "test_loss_per_epoch", "settings",
                "train_gflops", "percent_of_peak", "train_seconds", "precision"):
        assert key in report["runs"][1]
    assert report["flops"]["flops_per_image"] == 3_280_000 == 2 * report["flops"]["macs_per_image"]["total"]
    peak = report["matmul_peak"]
    assert peak["threads"] == torch.get_num_threads() and peak["fp32"]["gflops"] > 0 and peak["bf16"]["gflops"] > 0
    for row in report["runs"]:
        assert row["train_gflops"] == pytest.approx(row["epochs"] * 200 * 3.28e6 / row["train_seconds"] / 1e9)
        assert row["percent_of_peak"] == pytest.approx(100 * row["train_gflops"] / peak[row["precision"]]["gflops"])
    out_text = capsys.readouterr().out
    assert "| pytorch/examples | none (reference) | 1 |" in out_text and "Matmul peak at" in out_text


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_page_holds_the_saved_latency_tables() -> None:
    """docs/demo.md shows the tables of benchmarks/results/demo_latency.json (`--render --write` puts them there)."""
    module = _script("demo_latency")
    result = json.loads((ROOT / "benchmarks" / "results" / "demo_latency.json").read_text())
    tables = module.markdown(result)
    assert len(tables.splitlines()) > 15 and "/interpolate" in tables
    assert tables in (ROOT / "docs" / "demo.md").read_text(), "run `python benchmarks/demo_latency.py --render --write`"


def test_demo_latency_summary_counts_a_streamed_endpoint_apart() -> None:
    """A streamed endpoint is judged by its own time target, so the summary's counts against the echo ratio (plain and
    stock client) leave it out and a line of its own says whether it meets that target."""
    module = _script("demo_latency")
    result = json.loads((ROOT / "benchmarks" / "results" / "demo_latency.json").read_text())
    endpoints = result["latency"]["endpoints"]
    plain = [r for r in endpoints.values() if "first_update_p50_ms" not in r]
    assert "/repair" in endpoints and "first_update_p50_ms" in endpoints["/repair"] and len(plain) == len(endpoints) - 1
    stock = sum(r["stock_client_ratio_p50"] <= result["latency"]["target_ratio"] for r in plain)
    summary = module.markdown(result)
    assert (f"**{sum(r['passed'] for r in plain)} of {len(plain)} non-streamed endpoints** are within "
            f"{result['latency']['target_ratio']}× of the echo's p50") in summary
    assert f"With a stock client, {stock} of {len(plain)} are;" in summary
    assert "`/repair` (streamed) runs in" in summary and "so it meets its own target of 1000 ms for both" in summary
    # a streamed endpoint over its target is said to miss it, and a slow plain endpoint is counted as over
    endpoints["/repair"] = {**endpoints["/repair"], "p50_ms": 1500.0, "passed": False}
    endpoints["/sample"] = {**endpoints["/sample"], "ratio_p50": 1.5, "passed": False}
    summary = module.markdown(result)
    assert "so it misses its own target of 1000 ms" in summary
    assert f"**{sum(r['passed'] for r in plain) - 1} of {len(plain)} non-streamed endpoints**" in summary


def test_demo_page_quotes_the_recorded_soak() -> None:
    """The demo page's memory sentence quotes benchmarks/results/demo_soak.json (`python benchmarks/demo_soak.py`)."""
    soak = json.loads((ROOT / "benchmarks" / "results" / "demo_soak.json").read_text())
    growth = soak["anon_growth_mb_per_1000_calls"]
    text = " ".join((ROOT / "docs" / "demo.md").read_text().split())
    assert (f"({growth['second_half']:.0f} MB per 1,000 calls over the second half of {soak['calls']:,} calls, against "
            f"{growth['first_half']:.0f} MB over the first)") in text
    assert soak["soak"]["failed_calls"] == 0 and growth["second_half"] < growth["first_half"] / 4


def test_generalization_compares_the_same_estimate_on_both_splits(mnist_root: Path, tmp_path: Path) -> None:
    """benchmarks/generalization.py: the test-split numbers are `vae.evaluate` of the first n test images, the train-split
    numbers differ from them, and the gap is their difference."""
    import vae

    out = tmp_path / "generalization.json"
    out.write_text(json.dumps({"earlier": {"k": 1}}))  # an entry measured before is kept
    _script("generalization").main(["latent2d", "-n", "20", "-k", "8", "--refine", "4", "--data-root", str(mnist_root),
                                    "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["earlier"] == {"k": 1}
    result = results["latent2d"]
    assert result["weights_sha256"] == hashlib.sha256((vae.checkpoint.PRETRAINED_DIR / "latent2d" / "model.safetensors").read_bytes()).hexdigest()
    test = vae.load_mnist(False, mnist_root).subset(20)
    expected = vae.evaluate(vae.load("latent2d"), vae.binarized_test_set(test), k=8)
    assert result["test"]["nll"] == pytest.approx(expected["test_nll"])
    assert result["test"]["elbo"] == pytest.approx(expected["test_elbo"])
    assert result["train"]["nll"] != pytest.approx(result["test"]["nll"])
    assert result["gap"] == pytest.approx(result["test"]["nll"] - result["train"]["nll"])
    assert result["k"] == 8 and result["num_images"] == 20
    for split in ("train", "test"):
        refined = result[split]["refined"]
        assert refined["num_images"] == 4
        assert refined["amortization_gap"] == pytest.approx(refined["nll_encoder"] - refined["nll_refined"])


@pytest.mark.parametrize("which", ["run", "exported"])  # a run's checkpoint, an exported model
def test_generalization_measures_held_out_training_images(mnist_root: Path, tmp_path: Path, which: str) -> None:
    """A model trained on the first T training images is also measured on images T, T + 1, ... of the training split,
    and the gap is split into overfitting (held-out - training) and the test split's difficulty (test - held-out)."""
    import vae
    from vae.cli import main as vae_main

    run = tmp_path / "run"  # trains on the first 300, holds out the last 100: images 300, 301, ... were never seen
    assert vae_main(["train", "--out", str(run), "--train-size", "300", "--val-size", "100", "--latent-dim", "2", "--hidden", "32",
                     "--epochs", "1", "--no-progress", "--no-grids", "--seed", "0", "--data-root", str(mnist_root)]) == 0
    assert vae_main(["export", str(run), str(tmp_path / "exported")]) == 0
    model = tmp_path / which
    out = tmp_path / "generalization.json"
    _script("generalization").main([str(model), "-n", "10", "-k", "8", "--refine", "0",
                                    "--data-root", str(mnist_root), "--out", str(out)])
    result = json.loads(out.read_text())[str(model)]
    assert result["train_size"] == 300
    train = vae.load_mnist(True, mnist_root)
    unseen = vae.MNIST(train.images[300:310], train.labels[300:310])
    torch.manual_seed(0)
    expected = vae.evaluate(vae.load(model), vae.binarized_test_set(unseen), k=8)
    assert result["heldout"]["nll"] == pytest.approx(expected["test_nll"])
    assert result["heldout_gap"] == pytest.approx(result["heldout"]["nll"] - result["train"]["nll"])
    assert result["split_gap"] == pytest.approx(result["test"]["nll"] - result["heldout"]["nll"])
    assert result["heldout_gap"] + result["split_gap"] == pytest.approx(result["gap"])
    # a model trained on all the images has no held-out split
    _script("generalization").main(["latent2d", "-n", "4", "-k", "2", "--refine", "0", "--data-root", str(mnist_root), "--out", str(out)])
    assert "heldout" not in json.loads(out.read_text())["latent2d"]


def test_generalization_results_of_shipped_models_are_current() -> None:
    """Every entry for a shipped model measured the weights that ship now (the model card shows these numbers)."""
    import vae

    generalization = _script("generalization")
    results = json.loads(generalization.RESULTS.read_text())
    shipped = [name for name in results if name in vae.available_models()]
    assert "default" in shipped
    for name in shipped:
        assert results[name]["weights_sha256"] == vae.weights_sha256(name), (
            f"{name} changed since it was measured: run `python benchmarks/generalization.py {name}`")


def test_refined_proposals_have_a_better_elbo(mnist_test) -> None:
    """The refinement behind the amortization gap: per-image Adam steps on the ELBO, starting from the encoder's
    proposal, end with a better ELBO for every image (measured with many fresh samples)."""
    import vae
    from vae.evaluation import chunked_log_weights as log_importance_weights

    generalization = _script("generalization")
    model = vae.load("latent2d")
    x = vae.binarized_test_set(mnist_test.subset(6))
    with torch.no_grad():
        encoder = model.encode(x)
    refined = generalization.refine(model, x, steps=60)
    assert not torch.equal(refined[0], encoder[0])
    with torch.no_grad():
        before = log_importance_weights(model, x, 2000, posterior=encoder).mean(dim=1)  # (6,) ELBO per image
        after = log_importance_weights(model, x, 2000, posterior=refined).mean(dim=1)
    assert (after > before).all(), (before, after)


def test_precision_steps_agree_in_loss_and_gradient(mnist_test) -> None:
    """benchmarks/precision.py's measurement on a small model: the same noise in both precisions, so the losses
    agree closely (but not exactly: the networks did run in bfloat16) and the gradients point the same way."""
    import vae
    from vae.config import ModelConfig, TrainConfig

    precision = _script("precision")
    torch.manual_seed(0)
    model = vae.build_model(ModelConfig(latent_dim=4, hidden=(64,)))
    x = vae.binarized_test_set(mnist_test.subset(16))
    config = TrainConfig(objective="iwae", iwae_k=4, iwae_gradient="dreg")
    seconds, full, full_grad = precision.steps(model, x, config)
    model.low_precision = True
    _, low, low_grad = precision.steps(model, x, config)
    assert seconds > 0 and len(full) == len(low) == precision.STEPS + 1
    assert full != low and all(abs(a - b) < 0.05 * abs(a) for a, b in zip(full, low))
    assert torch.nn.functional.cosine_similarity(full_grad, low_grad, dim=0) > 0.99


def test_performance_page_holds_the_saved_precision_table() -> None:
    """docs/performance.md shows the table of benchmarks/results/precision.json (`--write` puts it there)."""
    precision = _script("precision")
    saved = json.loads(precision.RESULTS.read_text())
    assert f"{precision.START}\n{precision.markdown(saved)}\n{precision.END}" in precision.PAGE.read_text()
    assert saved["machine"]["bf16_units"] and all(r["gradient_cosine"] > 0.99 for r in saved["rows"])


def test_performance_page_quotes_both_machines_precision_speedups() -> None:
    """The prose under the precision table, and the README, quote the IWAE speed-ups of this machine's and the AMX
    machine's runs, and the range of this machine's loss differences; the model card names the machine of each
    speed-up it quotes."""
    precision = _script("precision")
    text = " ".join(precision.PAGE.read_text().split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    for name, unit in (("precision.json", "avx512_bf16"), ("precision_amx.json", "amx_bf16")):
        saved = json.loads((ROOT / "benchmarks" / "results" / name).read_text())
        assert unit in saved["machine"]["bf16_units"]
        assert "amx_bf16" not in saved["machine"]["bf16_units"] or unit == "amx_bf16"
        k128, k256 = (r["speedup"] for r in saved["rows"][:2])
        assert f"gain {k128:.1f}x and {k256:.1f}x" in text or f"gave {k128:.1f}x and {k256:.1f}x" in text, name
        assert f"{min(k128, k256):.1f}-{max(k128, k256):.1f}x" in readme, name
    # the model card says which machine each speed-up of default's bfloat16 stages is from
    here, amx = ([r["speedup"] for r in json.loads((ROOT / "benchmarks" / "results" / name).read_text())["rows"][:2]]
                 for name in ("precision.json", "precision_amx.json"))
    card = " ".join((ROOT / "docs" / "models.md").read_text().split())
    assert f"would have taken {amx[1]:.1f} times as long" in card and f"bfloat16 gains only {here[1]:.1f} times at k = 256" in card
    assert f"made {amx[0]:.1f} times cheaper on the AMX machine stage 8 ran on ({here[0]:.1f} times on the present CPU)" in card
    # the loss differences quoted on both: the range of this machine's rows
    saved = json.loads((ROOT / "benchmarks" / "results" / "precision.json").read_text())
    moves = [r["loss_difference"] for r in saved["rows"]]
    assert f"The loss moves by {min(moves):.3f} to {max(moves):.3f} nats" in text
    assert f"losses differ from float32's by {min(moves):.3f} to {max(moves):.3f} nats" in readme


def test_precision_write_replaces_only_its_block_and_names_missing_markers(tmp_path) -> None:
    precision = _script("precision")
    page = tmp_path / "performance.md"
    page.write_text(f"intro\n{precision.START}\nold table\n{precision.END}\nrest\n")
    precision.write_page("| new |", page)
    assert page.read_text() == f"intro\n{precision.START}\n| new |\n{precision.END}\nrest\n"
    page.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="markers"):
        precision.write_page("| new |", page)
    assert page.read_text() == "no markers here\n"

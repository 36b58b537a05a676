"""Training: exact resume, the NaN guard, the schedules applied, refusals, per-epoch outputs.

Runs use a tiny MLP on a few hundred real MNIST digits (taken from the test split, which the
session fixture has already loaded), so each epoch takes a fraction of a second.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch.optim.optimizer import register_optimizer_step_pre_hook

import vae
from vae import MNIST, CheckpointError, ConfigError, ModelConfig, TrainConfig, TrainingDiverged
from vae import training as train_module
from vae.optimization import kl_weight, learning_rate

SMALL_MODEL = ModelConfig(latent_dim=4, hidden=(32,))
TIMING = {"epoch_seconds", "wall_seconds"}


@pytest.fixture(scope="module")
def splits(mnist_test) -> tuple[MNIST, MNIST]:
    """448 training digits (7 batches of 64) and 200 test digits, disjoint."""
    images, labels = mnist_test.images, mnist_test.labels
    return MNIST(images[200:648], labels[200:648]), MNIST(images[:200], labels[:200])


def run(splits, out: Path, model: ModelConfig = SMALL_MODEL, **kwargs) -> list[dict]:
    options = {"progress": False, "grids": False, "device": "cpu"}
    hooks = {k: kwargs.pop(k) for k in list(kwargs) if k in ("stop_after", "on_batch")}
    train_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in ("resume", "grids", "init_from")}
    config = TrainConfig(**{"epochs": 3, "batch_size": 64, "lr": 3e-3, **kwargs})
    return vae.train(model, config, out, *splits, **{**options, **train_kwargs, **callback(**hooks)})


def callback(stop_after: int | None = None, on_batch=None) -> dict:
    """The public progress callback, called after every step: `on_batch(step, terms)`, and a stop after `stop_after`
    epochs of this call (at an epoch's end, once it is recorded)."""
    if stop_after is None and on_batch is None:
        return {}
    ended: list[int] = []

    def after_step(progress: vae.TrainingProgress) -> bool:
        if on_batch is not None:
            on_batch(progress.step, progress.terms)
        if progress.epoch_end:
            ended.append(progress.epoch)
        return stop_after is not None and len(ended) >= stop_after

    return {"callback": after_step, "callback_every": 1}


def weights(run_dir: Path, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "checkpoint" / name))


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k not in TIMING} for record in history]


# -- schedules -------------------------------------------------------------------------------------
def test_schedules_are_applied_during_training(splits, tmp_path: Path) -> None:
    seen: list[tuple[int, float]] = []
    history = run(splits, tmp_path / "run", epochs=2, warmup_epochs=2.0, lr_schedule="cosine", min_lr_ratio=0.1,
                  on_batch=lambda step, terms: seen.append((step, terms["loss"])))
    spe = 7
    assert [s for s, _ in seen] == list(range(2 * spe))
    config = TrainConfig(epochs=2, lr=3e-3, warmup_epochs=2.0, lr_schedule="cosine", min_lr_ratio=0.1)
    for record, last_step in zip(history, (spe - 1, 2 * spe - 1)):  # the values at each epoch's last step
        assert record["beta"] == pytest.approx(kl_weight(config, last_step, spe))
        assert record["lr"] == pytest.approx(learning_rate(config, last_step, 2 * spe))
    assert history[0]["beta"] == pytest.approx(6 / 14) and history[1]["beta"] == pytest.approx(13 / 14)


# -- resume ----------------------------------------------------------------------------------------
def test_resume_equals_uninterrupted_training(splits, tmp_path: Path) -> None:
    settings = {"epochs": 3, "warmup_epochs": 1.0, "lr_schedule": "cosine", "min_lr_ratio": 0.1}  # dynamic binarization
    straight = run(splits, tmp_path / "straight", **settings)
    first = run(splits, tmp_path / "resumed", stop_after=1, **settings)
    assert len(first) == 1 and json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())["epoch"] == 1
    second = run(splits, tmp_path / "resumed", resume=True, stop_after=1, **settings)
    assert [r["epoch"] for r in second] == [1, 2]
    resumed = run(splits, tmp_path / "resumed", resume=True, **settings)
    assert without_timing(resumed) == without_timing(straight)
    for name in ("model.safetensors", "optimizer.safetensors"):
        a, b = weights(tmp_path / "straight", name), weights(tmp_path / "resumed", name)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    lines = (tmp_path / "resumed" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    # a finished run can be extended: only epochs may change
    longer = run(splits, tmp_path / "resumed", resume=True, **{**settings, "epochs": 4})
    assert [r["epoch"] for r in longer] == [1, 2, 3, 4]


def test_fused_adam_is_opt_in_follows_the_default_and_resumes_exactly(splits, tmp_path: Path) -> None:
    """`adam_implementation="fused"` steps with torch's fused Adam (the default does not), ends where the default
    does up to float rounding, and a fused run resumed from a checkpoint continues exactly."""
    seen: list[bool | None] = []
    handle = register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: seen.append(optimizer.defaults["fused"]))
    try:
        default = run(splits, tmp_path / "default", epochs=2)
        assert set(seen) == {None}
        seen.clear()
        straight = run(splits, tmp_path / "straight", epochs=2, adam_implementation="fused")
        assert set(seen) == {True} and len(seen) == 14
    finally:
        handle.remove()
    for a, b in zip(default, straight):
        assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-3)
    run(splits, tmp_path / "resumed", epochs=2, adam_implementation="fused", stop_after=1)
    resumed = run(splits, tmp_path / "resumed", epochs=2, adam_implementation="fused", resume=True)
    assert without_timing(resumed) == without_timing(straight)
    for name in ("model.safetensors", "optimizer.safetensors"):
        a, b = weights(tmp_path / "straight", name), weights(tmp_path / "resumed", name)
        assert all(torch.equal(a[key], b[key]) for key in a), name


def test_adam_beta2_reaches_the_optimizer_and_changes_the_run(splits, tmp_path: Path) -> None:
    """`adam_beta2` is the optimizer's beta2 (the default keeps torch's 0.999), and it changes what is learned."""
    seen: list[tuple[float, float]] = []
    handle = register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: seen.append(optimizer.defaults["betas"]))
    try:
        default = run(splits, tmp_path / "default", epochs=1)
        assert set(seen) == {(0.9, 0.999)}
        seen.clear()
        shorter = run(splits, tmp_path / "shorter", epochs=1, adam_beta2=0.95)
        assert set(seen) == {(0.9, 0.95)}
    finally:
        handle.remove()
    assert shorter[0]["test_loss"] != default[0]["test_loss"]
    with pytest.raises(ConfigError, match="adam_beta2"):
        TrainConfig(adam_beta2=1.0)


def test_training_learns(splits, tmp_path: Path) -> None:
    history = run(splits, tmp_path / "run", epochs=3)
    assert history[-1]["test_loss"] < history[0]["test_loss"] - 10
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for record in history:
        assert record["test_loss"] == pytest.approx(record["test_reconstruction"] + record["test_kl"], rel=1e-6)


def test_resume_refusals(splits, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        run(splits, tmp_path / "empty", resume=True)
    run(splits, tmp_path / "run", stop_after=1)
    with pytest.raises(ConfigError, match="model config differs"):
        run(splits, tmp_path / "run", model=ModelConfig(latent_dim=5, hidden=(32,)), resume=True)
    with pytest.raises(ConfigError, match="only epochs may change"):
        run(splits, tmp_path / "run", resume=True, lr=1e-4)


def test_init_from_starts_at_the_saved_weights(splits, tmp_path: Path) -> None:
    run(splits, tmp_path / "first", epochs=2)
    start = weights(tmp_path / "first")
    run(splits, tmp_path / "tuned", init_from=tmp_path / "first", epochs=1, lr=1e-12)
    tuned = weights(tmp_path / "tuned")
    assert all(torch.allclose(tuned[k], start[k], atol=1e-6) for k in start)  # a vanishing lr keeps the start
    run(splits, tmp_path / "fresh", epochs=1, lr=1e-12)
    fresh = weights(tmp_path / "fresh")
    assert not all(torch.allclose(fresh[k], start[k], atol=1e-3) for k in start)  # unlike a fresh initialization
    with pytest.raises(ConfigError, match="--init-from: .* not the"):
        run(splits, tmp_path / "other", model=ModelConfig(latent_dim=5, hidden=(32,)), init_from=tmp_path / "first")


def test_init_from_can_add_a_learned_prior(splits, tmp_path: Path) -> None:
    """A model trained with the standard normal prior is fine-tuned with a new mixture prior: the networks start at the
    saved weights, the prior at its own initialisation, and it moves at `prior_lr` while the networks barely move."""
    run(splits, tmp_path / "first", epochs=1)
    start = weights(tmp_path / "first")
    mixture = ModelConfig(latent_dim=4, hidden=(32,), prior_components=5)
    run(splits, tmp_path / "tuned", model=mixture, init_from=tmp_path / "first", epochs=1, lr=1e-12, prior_lr=1e-2)
    tuned = weights(tmp_path / "tuned")
    assert set(tuned) - set(start) == {"prior.means", "prior.logvars", "prior.logits"}
    assert all(torch.allclose(tuned[k], start[k], atol=1e-6) for k in start)
    torch.manual_seed(0)
    initial = vae.build_model(mixture).prior  # what the run started from (seeded the same way)
    assert (tuned["prior.means"] - initial.means.detach()).abs().max() > 1e-3
    assert vae.load(tmp_path / "tuned").config == mixture
    with pytest.raises(ConfigError, match="only a standard normal prior may change"):  # not the other way round
        run(splits, tmp_path / "back", init_from=tmp_path / "tuned", epochs=1)


def test_a_mixture_prior_model_trains_and_resumes_exactly(splits, tmp_path: Path) -> None:
    mixture = ModelConfig(latent_dim=4, hidden=(32,), prior_components=3)
    settings = {"epochs": 2, "prior_lr": 1e-2, "objective": "iwae", "iwae_k": 4}
    straight = run(splits, tmp_path / "straight", model=mixture, **settings)
    run(splits, tmp_path / "resumed", model=mixture, stop_after=1, **settings)
    resumed = run(splits, tmp_path / "resumed", model=mixture, resume=True, **settings)
    assert without_timing(resumed) == without_timing(straight)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    history = run(splits, tmp_path / "elbo", model=mixture, epochs=3)  # the ELBO, with its sampled KL, also trains
    assert history[-1]["test_loss"] < history[0]["test_loss"]
    for record in history:
        assert record["test_loss"] == pytest.approx(record["test_reconstruction"] + record["test_kl"], rel=1e-6)


def test_a_second_run_into_a_checkpointed_folder_is_refused(splits, tmp_path: Path) -> None:
    run(splits, tmp_path / "run", stop_after=1)
    before = (tmp_path / "run" / "checkpoint" / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="already holds a checkpoint: pass --resume"):
        run(splits, tmp_path / "run")
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").read_bytes() == before
    assert len((tmp_path / "run" / "history.jsonl").read_text().splitlines()) == 1


# -- the NaN guard ---------------------------------------------------------------------------------
def test_nan_loss_raises_and_keeps_the_last_good_checkpoint(splits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    run(splits, out, stop_after=1)
    checkpoint_files = {p.name: p.read_bytes() for p in (out / "checkpoint").iterdir()}
    good = vae.load(out)

    real_loss = train_module.training_loss
    calls = []

    def poisoned(model, x, y, config, beta):
        terms = real_loss(model, x, y, config, beta)
        calls.append(1)
        if len(calls) == 3:  # the third step of epoch 2
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(train_module, "training_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 3.*last good checkpoint \(epoch 1\)"):
        run(splits, out, resume=True)
    assert {p.name: p.read_bytes() for p in (out / "checkpoint").iterdir()} == checkpoint_files
    reloaded = vae.load(out)
    for a, b in zip(good.state_dict().values(), reloaded.state_dict().values()):
        assert torch.equal(a, b)
    assert len((out / "history.jsonl").read_text().splitlines()) == 1
    # after the problem is fixed, the run resumes from epoch 1
    monkeypatch.setattr(train_module, "training_loss", real_loss)
    assert [r["epoch"] for r in run(splits, out, resume=True)] == [1, 2, 3]


def test_infinite_loss_from_the_data_is_caught(splits, tmp_path: Path) -> None:
    train, test = splits
    images = train.images.clone()
    images[5] = float("nan")  # a corrupted image: its BCE is NaN whatever the model does
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        run((MNIST(images, train.labels), test), tmp_path / "run", binarize="none")
    assert not (tmp_path / "run" / "checkpoint").exists()


# -- outputs ---------------------------------------------------------------------------------------
def test_history_and_grids_are_written_every_epoch(splits, tmp_path: Path) -> None:
    out = tmp_path / "run"
    history = run(splits, out, epochs=2, grids=True)
    lines = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert lines == history and [r["epoch"] for r in lines] == [1, 2]
    expected_keys = {"epoch", "train_loss", "train_reconstruction", "train_kl", "test_loss", "test_reconstruction",
                     "test_kl", "beta", "lr", "epoch_seconds", "wall_seconds"}
    assert set(lines[0]) == expected_keys
    assert lines[1]["wall_seconds"] >= lines[0]["wall_seconds"] > 0
    for epoch in (1, 2):
        with Image.open(out / "grids" / f"epoch_{epoch:04d}.png") as grid:
            # 10 test digits, their reconstructions and 30 samples: 5 rows of 10 with 1-pixel padding
            assert grid.size == (10 * 29 + 1, 5 * 29 + 1)
    files = sorted(p.name for p in (out / "checkpoint").iterdir())
    assert files == ["config.json", "metrics.json", "model.safetensors", "optimizer.safetensors", "state.json"]
    assert json.loads((out / "checkpoint" / "metrics.json").read_text()) == history[-1]
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and state["parameters"] == vae.num_parameters(vae.load(out))
    assert TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["train_config"].items()}).epochs == 2


@pytest.mark.parametrize(
    "model, settings, keys",
    [
        (ModelConfig(kind="cvae", latent_dim=2, hidden=(16,)), {}, {"train_reconstruction", "train_kl"}),
        (ModelConfig(kind="ae", latent_dim=2, hidden=(16,)), {}, {"train_reconstruction", "train_kl"}),
        (ModelConfig(latent_dim=2, hidden=(16,)), {"objective": "iwae", "iwae_k": 4}, {"train_iwae"}),
        (ModelConfig(kind="cvae", latent_dim=2, hidden=(16,), prior_components=3),
         {"objective": "iwae", "iwae_k": 4, "iwae_gradient": "dreg", "precision": "bf16"}, {"train_iwae"}),
        (ModelConfig(latent_dim=2, hidden=(16, 16)), {"decoder_dropout": 0.3}, {"train_kl"}),
        (ModelConfig(arch="conv", latent_dim=2, hidden=(16,), channels=2), {"binarize": "none", "grad_clip": 1.0}, {"train_kl"}),
    ],
    ids=["cvae", "ae", "iwae", "cvae-iwae-dreg-bf16", "decoder-dropout", "conv-gray-clipped"],
)
def test_other_models_and_objectives_train(splits, tmp_path: Path, model: ModelConfig, settings: dict, keys: set) -> None:
    train, test = splits
    history = run((train.subset(128), test.subset(50)), tmp_path / "run", model=model, epochs=1, grids=True, **settings)
    assert keys <= set(history[0]) and math.isfinite(history[0]["test_loss"])
    if "train_iwae" in keys:  # the loss is minus the bound, whichever gradient estimator trains it
        assert history[0]["train_loss"] == pytest.approx(-history[0]["train_iwae"])
    assert (tmp_path / "run" / "grids" / "epoch_0001.png").is_file()
    assert vae.load(tmp_path / "run").config == model


def test_bf16_training_evaluates_and_saves_in_float32(splits, tmp_path: Path) -> None:
    """The networks run in bfloat16 only during the steps: the recorded test loss is the float32 loss of the saved model."""
    from vae.evaluation import average_loss as recompute_test_loss

    train, test = splits
    history = run((train.subset(256), test.subset(100)), tmp_path / "run", model=ModelConfig(latent_dim=4, hidden=(64, 64)),
                  epochs=1, objective="iwae", iwae_k=4, precision="bf16")
    model = vae.load(tmp_path / "run")
    assert not model.low_precision and all(p.dtype == torch.float32 for p in model.parameters())
    bits = vae.data.binarized_test_set(test.subset(100))
    again = recompute_test_loss(model, bits, test.subset(100).labels, batch_size=1000, device=torch.device("cpu"))
    assert history[0]["test_loss"] == pytest.approx(again["loss"], abs=1e-4)


def test_an_autoencoder_cannot_use_the_iwae_objective(splits, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="autoencoder cannot be trained with the IWAE objective"):
        run(splits, tmp_path / "run", model=ModelConfig(kind="ae", latent_dim=2, hidden=(8,)), objective="iwae")


def test_train_size_uses_the_first_images(splits, tmp_path: Path) -> None:
    seen = []
    run(splits, tmp_path / "run", epochs=1, train_size=100, on_batch=lambda step, terms: seen.append(step))
    assert len(seen) == math.ceil(100 / 64)


# -- options that must reach the training steps ----------------------------------------------------
def _spy_on_models(monkeypatch: pytest.MonkeyPatch) -> list[vae.VAE]:
    """The models `vae.train` builds, in order (the training loop's own model, not a copy)."""
    built: list[vae.VAE] = []
    real = train_module.build_model

    def spy(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(train_module, "build_model", spy)
    return built


def test_grad_clip_bounds_the_gradient_norm_of_every_step(splits, tmp_path: Path) -> None:
    """The global gradient norm the optimizer steps with is at most `grad_clip`; without it, it is far above."""
    train, test = splits
    norms: list[float] = []

    def record(optimizer, args, kwargs) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    handle = register_optimizer_step_pre_hook(record)
    try:
        for name, clip in (("clipped", 0.5), ("free", None)):
            norms.clear()
            run((train.subset(128), test.subset(50)), tmp_path / name, epochs=2, grad_clip=clip)
            assert len(norms) == 4
            if clip is None:
                assert min(norms) > 5.0  # the loss is summed over 784 pixels: unclipped gradients are large
            else:
                assert max(norms) <= clip * (1 + 1e-5), norms
    finally:
        handle.remove()


def test_decoder_dropout_is_active_in_the_training_steps(splits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `decoder_dropout` the model being trained decodes one code to different images (dropout masks); without
    it, to the same image twice."""
    train, test = splits
    built = _spy_on_models(monkeypatch)
    z = torch.randn(8, SMALL_MODEL.latent_dim, generator=torch.Generator().manual_seed(0))
    differs: dict[float, bool] = {}

    def decode_twice(step: int, terms: dict) -> None:
        model = built[-1]
        assert model.training
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # leave the training's random numbers alone
            differs[rate] = not torch.equal(model.decode(z), model.decode(z))

    for rate in (0.5, 0.0):
        run((train.subset(64), test.subset(50)), tmp_path / f"p{rate}", model=ModelConfig(latent_dim=4, hidden=(32, 32)),
            epochs=1, decoder_dropout=rate, on_batch=decode_twice)
    assert differs == {0.5: True, 0.0: False}


def test_bf16_precision_runs_the_networks_in_bfloat16_while_training(
        splits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every linear layer of the encoder and decoder computes in bfloat16 in the training steps with `precision="bf16"`
    (in float32 with "fp32"), and in float32 for the per-epoch test loss either way."""
    train, test = splits
    seen: dict[str, set[tuple[bool, torch.dtype]]] = {}
    real_build = train_module.build_model

    def build_and_hook(*args, **kwargs):
        model = real_build(*args, **kwargs)
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.register_forward_hook(lambda m, inputs, output: seen[precision].add((m.training, output.dtype)))
        return model

    monkeypatch.setattr(train_module, "build_model", build_and_hook)
    for precision in ("bf16", "fp32"):
        seen[precision] = set()
        run((train.subset(64), test.subset(50)), tmp_path / precision, epochs=1, precision=precision)
    assert seen["bf16"] == {(True, torch.bfloat16), (False, torch.float32)}
    assert seen["fp32"] == {(True, torch.float32), (False, torch.float32)}


def test_every_epoch_draws_new_random_numbers(splits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each epoch has its own seed: a new order of the images, a new dynamic binarization and new reparameterization
    noise (the global generator's state at the epoch's first step), while the run as a whole stays seeded."""
    train, test = splits
    real_loss = train_module.training_loss
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def recording(model, x, *args, **kwargs):
        seen.append((x.clone(), torch.get_rng_state()))
        return real_loss(model, x, *args, **kwargs)

    monkeypatch.setattr(train_module, "training_loss", recording)
    for name in ("a", "b"):
        run((train.subset(128), test.subset(50)), tmp_path / name, epochs=2)  # 2 steps per epoch
    (x1, rng1), _, (x2, rng2), _ = seen[:4]
    assert not torch.equal(x1, x2)  # another order and another binarization
    assert not torch.equal(x1.sort(0).values, x2.sort(0).values)
    assert not torch.equal(rng1, rng2)  # other noise
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(seen[:4], seen[4:]))  # seeded


# -- the validation split held out of the training set ---------------------------------------------
def _images_trained_on(monkeypatch: pytest.MonkeyPatch) -> set[bytes]:
    """Every image the training steps see (fill in by running with binarize 'none', so the images are the data's own)."""
    real_loss = train_module.training_loss
    seen: set[bytes] = set()

    def recording(model, x, *args, **kwargs):
        seen.update(image.numpy().tobytes() for image in x)
        return real_loss(model, x, *args, **kwargs)

    monkeypatch.setattr(train_module, "training_loss", recording)
    return seen


def _keys(images: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in images}


def test_the_validation_images_are_never_trained_on(splits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """val_size N holds out the last N training images; train_size takes the first images of the rest."""
    train, test = splits
    seen = _images_trained_on(monkeypatch)
    last = _keys(train.images[-100:])
    assert len(_keys(train.images)) == len(train)  # every image is told apart by its pixels
    run((train, test.subset(50)), tmp_path / "all", epochs=2, val_size=100, binarize="none")
    assert seen == _keys(train.images[:-100]) and not seen & last  # all the others, every epoch, and none of the split
    seen.clear()
    run((train, test.subset(50)), tmp_path / "some", epochs=2, val_size=100, train_size=200, binarize="none")
    assert seen == _keys(train.images[:200])
    seen.clear()
    run((train, test.subset(50)), tmp_path / "none", epochs=1, binarize="none")  # no split: the last images are trained on
    assert last <= seen


def test_the_validation_loss_is_recorded_every_epoch(splits, tmp_path: Path) -> None:
    """history.jsonl gets val_loss (and its terms) next to test_loss: the loss of the saved model on the held-out images."""
    from vae.evaluation import average_loss as recompute

    train, test = splits
    history = run((train, test.subset(100)), tmp_path / "run", epochs=2, val_size=100)
    for record in history:
        assert {"val_loss", "val_reconstruction", "val_kl", "test_loss"} <= set(record)
        assert record["val_loss"] == pytest.approx(record["val_reconstruction"] + record["val_kl"], rel=1e-6)
    assert history[1]["val_loss"] < history[0]["val_loss"]
    lines = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["val_loss"] for r in lines] == [r["val_loss"] for r in history]
    held_out = MNIST(train.images[-100:], train.labels[-100:])
    again = recompute(vae.load(tmp_path / "run"), vae.binarized_test_set(held_out), held_out.labels, 1000, torch.device("cpu"))
    assert history[-1]["val_loss"] == pytest.approx(again["loss"], abs=1e-4)  # the last 100, binarized once with the fixed seed
    assert history[-1]["val_loss"] != pytest.approx(history[-1]["test_loss"], abs=1e-3)
    assert not {"val_loss", "val_reconstruction", "val_kl"} & set(run(splits, tmp_path / "plain", epochs=1)[0])


def test_bad_validation_sizes_are_clear_errors(splits, tmp_path: Path) -> None:
    train, test = splits
    with pytest.raises(ConfigError, match="a validation split of 448 images leaves none of the 448 to train on"):
        run(splits, tmp_path / "a", val_size=448)
    with pytest.raises(ConfigError, match=r"train_size 400 \+ val_size 100 is more than the 448 training images"):
        run(splits, tmp_path / "b", val_size=100, train_size=400)
    assert not (tmp_path / "a" / "checkpoint").exists() and not (tmp_path / "b" / "checkpoint").exists()


# -- Gaussian decoders ---------------------------------------------------------------------------------
GAUSSIAN_MODEL = ModelConfig(latent_dim=4, hidden=(32,), likelihood="gaussian_learned", decoder_std=0.3)


def test_a_gaussian_decoder_trains_on_gray_levels_with_a_learned_variance(splits, tmp_path: Path) -> None:
    from vae.evaluation import average_loss as recompute

    train, test = splits
    with pytest.raises(ConfigError, match="density on gray levels: train it with binarize 'none'"):
        run(splits, tmp_path / "bits", model=GAUSSIAN_MODEL)  # the default, dynamic binarization
    history = run((train, test.subset(100)), tmp_path / "run", model=GAUSSIAN_MODEL, epochs=3, binarize="none", val_size=48,
                  grids=True)
    assert history[-1]["test_loss"] < history[0]["test_loss"] and all(math.isfinite(r["val_loss"]) for r in history)
    model = vae.load(tmp_path / "run")
    assert model.config == GAUSSIAN_MODEL
    assert "likelihood.logvar" in weights(tmp_path / "run") and model.likelihood.std != pytest.approx(0.3, abs=1e-3)
    gray = test.subset(100)
    again = recompute(model, gray.images, gray.labels, 1000, torch.device("cpu"))  # the test loss is on the gray levels
    assert history[-1]["test_loss"] == pytest.approx(again["loss"], abs=1e-3)
    with Image.open(tmp_path / "run" / "grids" / "epoch_0003.png") as grid:
        assert grid.size == (10 * 29 + 1, 5 * 29 + 1)
        pixels = torch.from_numpy(np.asarray(grid.convert("L"), dtype=np.float32)) / 255  # (H, W)
    cells = pixels[1:, 1:].unfold(0, 28, 29).unfold(1, 28, 29).reshape(50, 28, 28)  # the 5 x 10 digits, row-major
    with torch.no_grad():  # row 2: reconstructions, rows 3-5: samples, all decoder means (not sigmoid of the means)
        means = torch.cat([model.reconstruct(gray.images[:10]), model.decoder_mean(model.prior.sample(30, generator=torch.Generator().manual_seed(0)))])
    torch.testing.assert_close(cells[10:], means[:, 0], atol=1.5 / 255, rtol=0)


def test_a_gaussian_run_resumes_exactly(splits, tmp_path: Path) -> None:
    train, test = splits
    data = (train.subset(192), test.subset(50))
    settings = {"model": GAUSSIAN_MODEL, "epochs": 2, "binarize": "none", "val_size": 64}
    straight = run(data, tmp_path / "straight", **settings)
    run(data, tmp_path / "resumed", stop_after=1, **settings)
    resumed = run(data, tmp_path / "resumed", resume=True, **settings)
    assert without_timing(resumed) == without_timing(straight)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- the progress callback, training in memory, the KL term alone -------------------------------------
def test_without_progress_the_library_is_silent_unless_asked_for_epoch_lines(splits, tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    vae.train(SMALL_MODEL, TrainConfig(epochs=1, batch_size=64), None, *splits, device="cpu", progress=False)
    assert capsys.readouterr().out == ""
    history = vae.train(SMALL_MODEL, TrainConfig(epochs=2, batch_size=64), None, *splits, device="cpu", progress=False,
                        epoch_lines=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all(f"train loss {r['train_loss']:.2f}" in line for r, line in zip(history, lines))


def test_the_callback_sees_every_nth_step_and_every_epoch_end(splits, tmp_path: Path) -> None:
    seen: list[vae.TrainingProgress] = []
    history = vae.train(SMALL_MODEL, TrainConfig(epochs=2, batch_size=64), tmp_path / "run", *splits, device="cpu",
                        progress=False, grids=False, callback=seen.append, callback_every=3)
    spe = 7  # 448 images in batches of 64
    assert [(p.step, p.epoch, p.epoch_end) for p in seen] == [
        (2, 1, False), (5, 1, False), (6, 1, True), (8, 2, False), (11, 2, False), (13, 2, True)]
    assert all(p.steps_per_epoch == spe and p.total_steps == 2 * spe for p in seen)
    assert [len(p.history) for p in seen] == [0, 0, 1, 1, 1, 2] and seen[-1].history == history
    assert set(seen[0].terms) == {"loss", "reconstruction", "kl"} and all(isinstance(v, float) for v in seen[0].terms.values())
    assert seen[2].beta == history[0]["beta"] and seen[2].lr == history[0]["lr"]
    assert seen[0].model is seen[-1].model


def test_a_callback_changes_nothing_in_the_run(splits, tmp_path: Path) -> None:
    """The callback runs with torch's random state saved and restored: drawing numbers, or looking at the model in
    eval mode, leaves the run exactly as it would have been."""
    plain = run(splits, tmp_path / "plain", epochs=2)

    def look(progress: vae.TrainingProgress) -> None:
        torch.randn(100)  # from the global generator the training's noise comes from
        with progress.evaluating() as model:
            assert not model.training and not torch.is_grad_enabled()
            model.reconstruct(splits[1].images[:4])
        assert progress.model.training

    watched = vae.train(SMALL_MODEL, TrainConfig(epochs=2, batch_size=64, lr=3e-3), tmp_path / "watched", *splits, device="cpu",
                        progress=False, grids=False, callback=look, callback_every=2)
    assert without_timing(watched) == without_timing(plain)
    a, b = weights(tmp_path / "plain"), weights(tmp_path / "watched")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_callback_stops_training_cleanly_and_the_run_resumes_exactly(splits, tmp_path: Path) -> None:
    """Returning True mid-epoch stops after that step: the finished epochs are recorded and checkpointed, the partial
    epoch is not, and resuming gives the uninterrupted run."""
    settings = {"epochs": 3, "batch_size": 64, "lr": 3e-3, "lr_schedule": "cosine"}
    straight = vae.train(SMALL_MODEL, TrainConfig(**settings), tmp_path / "straight", *splits, device="cpu", progress=False,
                         grids=False)
    stopped = vae.train(SMALL_MODEL, TrainConfig(**settings), tmp_path / "stopped", *splits, device="cpu", progress=False,
                        grids=False, callback=lambda p: p.step == 10, callback_every=1)  # the 4th step of epoch 2
    assert [r["epoch"] for r in stopped] == [1]
    assert json.loads((tmp_path / "stopped" / "checkpoint" / "state.json").read_text())["epoch"] == 1
    assert len((tmp_path / "stopped" / "history.jsonl").read_text().splitlines()) == 1
    resumed = vae.train(SMALL_MODEL, TrainConfig(**settings), tmp_path / "stopped", *splits, device="cpu", progress=False,
                        grids=False, resume=True)
    assert without_timing(resumed) == without_timing(straight)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "stopped")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_in_memory_writes_nothing(splits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """out_dir=None: the same epochs and records as with a run folder, the model handed to the callback, no files."""
    monkeypatch.chdir(tmp_path)
    models: list[vae.EncoderDecoder] = []
    in_memory = vae.train(SMALL_MODEL, TrainConfig(epochs=2, batch_size=64, lr=3e-3), None, *splits, device="cpu",
                          progress=False, callback=lambda p: models.append(p.model), callback_every=1000)
    assert list(tmp_path.iterdir()) == []
    on_disk = run(splits, tmp_path / "run", epochs=2)
    assert without_timing(in_memory) == without_timing(on_disk)
    saved = weights(tmp_path / "run")
    assert all(torch.equal(models[-1].state_dict()[k], saved[k]) for k in saved)  # the callback's model is the trained one
    with pytest.raises(ConfigError, match="resuming needs the run folder"):
        vae.train(SMALL_MODEL, TrainConfig(), None, *splits, resume=True)


def test_the_kl_term_alone_pulls_every_posterior_onto_the_prior(splits, tmp_path: Path) -> None:
    """reconstruction_weight 0: the loss is beta * KL; the KL falls towards 0 and the decoder gets no gradient."""
    test = splits[1]
    torch.manual_seed(0)
    fresh = vae.build_model(SMALL_MODEL)  # what the run starts from (seeded the same way)
    start = fresh.state_dict()
    before = vae.average_loss(fresh, vae.binarized_test_set(test), test.labels)["kl"]
    history = run(splits, tmp_path / "kl", epochs=3, reconstruction_weight=0.0)
    assert history[-1]["test_kl"] < 0.05 * before and history[-1]["test_kl"] < 0.05
    assert all(r["train_loss"] == pytest.approx(r["train_kl"]) for r in history)  # beta = 1: the loss is the KL
    tuned = weights(tmp_path / "kl")
    assert all(torch.equal(tuned[k], start[k]) for k in start if k.startswith("decoder."))  # untouched
    assert not all(torch.equal(tuned[k], start[k]) for k in start if k.startswith("encoder."))
    with pytest.raises(ConfigError, match="reconstruction_weight weighs a term of the ELBO"):
        TrainConfig(objective="iwae", iwae_k=2, reconstruction_weight=0.5)
    with pytest.raises(ConfigError, match="leaves nothing to train"):
        run(splits, tmp_path / "ae", model=ModelConfig(kind="ae", latent_dim=2, hidden=(8,)), reconstruction_weight=0.0)


def test_a_train_size_larger_than_the_data_is_refused_without_a_validation_split(splits, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train_size 449 is more than the 448 training images: choose at most 448"):
        run(splits, tmp_path / "run", train_size=449)
    assert not (tmp_path / "run").exists()
    assert len(run(splits, tmp_path / "all", epochs=1, train_size=448)) == 1  # all of them is fine


def test_a_new_run_into_a_model_folder_is_refused_before_anything_is_written(splits, tmp_path: Path) -> None:
    run(splits, tmp_path / "run", epochs=1)
    model = vae.save_model(vae.load(tmp_path / "run"), tmp_path / "model")
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    with pytest.raises(CheckpointError, match="is a model folder"):
        run(splits, model, epochs=1, init_from=model)
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before

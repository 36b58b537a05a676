"""Device placement: every public function that creates tensors makes them where its inputs, model or prior live.

The checks run on PyTorch's `meta` device, whose tensors have a shape and a device but no values, so a tensor
made on the CPU by mistake shows up (as an error or as a CPU output) without a GPU. Where `meta` cannot run a
function the closest real check is used instead, and the test says which:

- functions that read values ([`slerp`][vae.latent.slerp] branches on the angle) or return their results on the
  CPU by design ([`log_likelihood`][vae.evaluation.log_likelihood], [`evaluate`][vae.evaluation.evaluate],
  [`decode_images`][vae.latent.decode_images]) run on real CPU tensors with torch's *default* device set to
  `meta`: a tensor created without naming its device would land on `meta` and fail or change the output;
- a learned prior sampled with a CPU generator copies its K weights to the generator's device, which `meta`
  cannot do (it has no values); that case runs on fake CUDA tensors (torch's `FakeTensorMode`), which check
  devices as real CUDA tensors do, without a GPU.
"""

from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import vae
from vae import (
    ModelConfig,
    build_model,
    decode_images,
    evaluate,
    lerp,
    log_likelihood,
    manifold_grid,
    pathwise_gradient,
    sample_prior,
    score_function_gradient,
    slerp,
    traverse,
)
from vae import evaluation as evaluate_module
from vae.priors import MixturePrior, StandardNormalPrior

META = torch.device("meta")
PRIORS = {"standard": lambda: StandardNormalPrior(4), "mixture": lambda: MixturePrior(4, 3)}
MODELS = {
    "vae": ModelConfig(latent_dim=3, hidden=(8,)),
    "vae-mixture": ModelConfig(latent_dim=3, hidden=(8,), prior_components=5),
    "cvae": ModelConfig(kind="cvae", latent_dim=3, hidden=(8,)),
    "ae": ModelConfig(kind="ae", latent_dim=3, hidden=(8,)),
    "conv": ModelConfig(arch="conv", decoder="conv", latent_dim=3, hidden=(8,), channels=2),
    "gaussian-decoder": ModelConfig(latent_dim=3, hidden=(8,), likelihood="gaussian_learned"),
}


def _labels(model: vae.VAE, n: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    return torch.arange(n, device=device) % model.config.num_classes if model.config.is_conditional else None


def _state_after(draw) -> torch.Tensor:
    """The state of a seeded CPU generator after `draw(generator)`: shows which draws were made with it."""
    generator = torch.Generator().manual_seed(7)
    draw(generator)
    return generator.get_state()


# -- priors and prior sampling ---------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [1.0, 0.0])
@pytest.mark.parametrize("make", PRIORS.values(), ids=PRIORS.keys())
def test_prior_samples_are_on_the_priors_device(make, temperature: float) -> None:
    """The reported bug: `MixturePrior.sample` drew its components and noise on the CPU whatever its device."""
    z = make().to(META).sample(6, temperature)
    assert z.device == META and z.shape == (6, 4)


def test_a_cpu_generator_draws_on_the_cpu_for_a_prior_elsewhere() -> None:
    """A CPU generator cannot draw on another device: the draws are made on the CPU with it, then moved, so a seed
    gives the same codes wherever the prior lives. The generator advances exactly as for a CPU prior."""
    prior = StandardNormalPrior(4)
    z = prior.to(META).sample(6, generator=torch.Generator().manual_seed(7))
    assert z.device == META and z.shape == (6, 4)
    assert torch.equal(_state_after(lambda g: prior.to(META).sample(6, generator=g)),
                       _state_after(lambda g: StandardNormalPrior(4).sample(6, generator=g)))


@pytest.mark.parametrize("make", PRIORS.values(), ids=PRIORS.keys())
def test_a_cpu_generator_samples_a_prior_on_a_gpu(make) -> None:
    """Sampling a prior on a GPU with a CPU generator, as `vae train` (its grid codes) and `vae sample` do. `meta`
    cannot run it for a mixture (its weights are copied to the generator's device); fake CUDA tensors can."""
    with FakeTensorMode():
        with torch.device("cuda"):
            prior = make()
        for generator in (torch.Generator().manual_seed(0), None):
            z = prior.sample(6, 0.5, generator)
            assert z.device.type == "cuda" and z.shape == (6, 4)


@pytest.mark.parametrize("components", [0, 3])
def test_a_models_prior_samples_and_decodes_on_the_models_device(components: int) -> None:
    """What training does for its image grids and `vae sample` does: prior codes, then decoded, on the model's device."""
    model = build_model(ModelConfig(latent_dim=4, hidden=(8,), prior_components=components)).to(META)
    z = model.prior.sample(5)
    assert z.device == META and model.decode(z).device == META


def test_sample_prior_places_the_codes() -> None:
    assert sample_prior(5, 3, device=META).device == META
    with torch.device(META):  # no device given: torch's default device, as torch.randn
        assert sample_prior(5, 3).device == META
        assert sample_prior(5, 3, generator=torch.Generator().manual_seed(0)).device.type == "cpu"  # the generator's
    z = sample_prior(5, 3, generator=torch.Generator().manual_seed(7), device=META)  # drawn on the CPU, then moved
    assert z.device == META and z.shape == (5, 3)
    assert torch.equal(_state_after(lambda g: sample_prior(5, 3, generator=g, device=META)),
                       _state_after(lambda g: sample_prior(5, 3, generator=g)))


# -- latent-space operations -----------------------------------------------------------------------
def test_grids_interpolations_and_traversals_stay_on_the_device() -> None:
    assert manifold_grid(3, device=META).device == META and manifold_grid(3, device=META).shape == (9, 2)
    with torch.device(META):
        assert manifold_grid(3).device == META
    z0, z1 = torch.randn(4, device=META), torch.randn(4, device=META)
    assert lerp(z0, z1, 5).device == META
    assert traverse(z0, 1, torch.linspace(-2, 2, 7, device=META)).device == META


@pytest.mark.parametrize(
    "call",
    [
        lambda z0, z1: slerp(z0, z1, 5),
        lambda z0, z1: slerp(z0, 2 * z0, 5),  # parallel codes: the lerp fallback
        lambda z0, z1: lerp(z0, z1, 5),
        lambda z0, z1: traverse(z0, 2, z1[:3]),
        lambda z0, z1: manifold_grid(3, device=z0.device),
    ],
    ids=["slerp", "slerp-parallel", "lerp", "traverse", "manifold-grid"],
)
def test_latent_operations_create_nothing_on_the_default_device(call) -> None:
    """slerp branches on the angle's value, which `meta` does not have: the closest real check runs it on CPU codes
    with torch's default device set to `meta`; the same answer on the CPU means nothing was made on the default."""
    generator = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(6, generator=generator), torch.randn(6, generator=generator)
    expected = call(z0, z1)
    with torch.device(META):
        out = call(z0, z1)
    assert out.device.type == "cpu" and torch.equal(out, expected)


# -- models ----------------------------------------------------------------------------------------
def test_reparameterization_noise_is_on_the_parameters_device() -> None:
    mu, logvar = torch.zeros(2, 5, 3, device=META), torch.zeros(2, 5, 3, device=META, dtype=torch.float64)
    z = vae.VAE.reparameterize(mu.double(), logvar)
    assert z.device == META and z.shape == (2, 5, 3) and z.dtype == torch.float64


@pytest.mark.parametrize("config", MODELS.values(), ids=MODELS.keys())
def test_model_methods_compute_on_the_models_device(config: ModelConfig) -> None:
    model = build_model(config).to(META)
    x, y = torch.rand(4, 1, 28, 28, device=META), _labels(model, 4, META)
    mu, logvar = model.encode(x, y)
    assert mu.device == logvar.device == META and mu.shape == (4, 3)
    assert model.embed(x, y).device == META and model.reconstruct(x, y).device == META
    assert model.decode(mu, y).device == META
    assert model.decoder_mean(mu, y).device == META and model.decoder_sample(mu, y).device == META  # images, draws
    terms = model(x, y)
    assert all(t.device == META for t in terms)
    if config.is_variational:
        assert model.log_importance_weights(x, 6, y).device == META
        loss, bound = model.iwae_dreg_loss(x, 6, y)
        assert loss.device == bound.device == META
        assert evaluate_module.chunked_log_weights(model, x, 7, y, max_decodes=8).shape == (4, 7)  # in chunks


# -- evaluation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["vae", "cvae"])
def test_evaluation_moves_its_inputs_to_the_models_device(kind: str) -> None:
    """The images, labels and proposals are moved to the model; the per-image results come back on the CPU. `meta`
    runs every batch and fails only at that last copy (it has no values to copy): a CPU input left on the CPU
    would fail earlier, with a device mismatch."""
    model = build_model(ModelConfig(kind=kind, latent_dim=3, hidden=(8,))).to(META)
    x, y = torch.rand(5, 1, 28, 28).bernoulli(), _labels(model, 5)
    proposal = (torch.zeros(5, 3), torch.zeros(5, 3))
    for call in (lambda: log_likelihood(model, x, 4, y, batch_size=2),
                 lambda: log_likelihood(model, x, 4, y, batch_size=2, posterior=proposal),
                 lambda: evaluate(model, x, y, k=4, batch_size=2),
                 lambda: decode_images(model, torch.zeros(5, 3), y)):
        with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor"):
            call()


@pytest.mark.parametrize("kind", ["vae", "cvae"])
def test_evaluation_creates_nothing_on_the_default_device(kind: str) -> None:
    """The closest real check of the above: real CPU results, unchanged with torch's default device set to `meta`."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, latent_dim=3, hidden=(8,), prior_components=2)).eval()
    x, y = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0)).bernoulli(), _labels(model, 5)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    calls = {
        "log_likelihood": lambda: log_likelihood(model, x, 4, y, batch_size=2),
        "evaluate": lambda: {k: v for k, v in evaluate(model, x, y, k=4, batch_size=2).items() if k != "eval_seconds"},
        "decode_images": lambda: decode_images(model, z, y),
        "prior sample": lambda: model.prior.sample(5, generator=torch.Generator().manual_seed(2)),
    }
    expected = {name: call() for name, call in calls.items()}
    with torch.device(META):
        for name, call in calls.items():
            out = call()
            if isinstance(out, torch.Tensor):
                assert out.device.type == "cpu" and torch.equal(out, expected[name]), name
            elif isinstance(out, tuple):
                assert all(a.device.type == "cpu" and torch.equal(a, b) for a, b in zip(out, expected[name])), name
            else:
                assert out == expected[name], name


# -- gradient estimators ---------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", [pathwise_gradient, score_function_gradient])
def test_gradient_estimators_draw_on_the_generators_device(estimator) -> None:
    """The estimators take plain numbers, so their noise is made on the generator's device, else on torch's default."""
    expected = estimator(torch.sin, 0.3, 0.8, 50, torch.Generator().manual_seed(0))
    with torch.device(META):
        seeded = estimator(torch.sin, 0.3, 0.8, 50, torch.Generator().manual_seed(0))
        unseeded = estimator(torch.sin, 0.3, 0.8, 50)
    assert seeded.d_mu.device.type == "cpu" and torch.equal(seeded.d_mu, expected.d_mu)
    assert torch.equal(seeded.d_sigma, expected.d_sigma)
    assert unseeded.d_mu.device == unseeded.d_sigma.device == META


# -- decoder samples, binarization, noise: a CPU generator for tensors on a GPU --------------------
@pytest.fixture
def strict_generators(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.randn, torch.rand and torch.bernoulli that refuse a generator on another device than the draw's, as CUDA
    does ("Expected a 'cuda' device type for generator"); fake tensors do not check it themselves."""
    def strict(function, device_of):
        def checked(*args, generator=None, **kwargs):
            device = torch.device(device_of(args, kwargs))
            if generator is not None and generator.device.type != device.type:
                raise RuntimeError(f"Expected a '{device.type}' device type for generator but found '{generator.device.type}'")
            return function(*args, generator=generator, **kwargs)
        return checked

    def creation_device(args, kwargs):
        return kwargs.get("device") or torch.get_default_device()

    monkeypatch.setattr(torch, "randn", strict(torch.randn, creation_device))
    monkeypatch.setattr(torch, "rand", strict(torch.rand, creation_device))
    monkeypatch.setattr(torch, "bernoulli", strict(torch.bernoulli, lambda args, kwargs: args[0].device))


def _fake_cuda_calls() -> dict[str, object]:
    from vae.diagnostics import gaussian_elbo

    images = torch.rand(2, 1, 28, 28, device="cuda")
    with torch.device("cuda"):
        model = vae.build_model(ModelConfig(hidden=(8,), latent_dim=2))
    mu = torch.zeros(2, 2, device="cuda")
    return {
        "binarize": lambda g: vae.binarize(images, g),
        "bernoulli sample": lambda g: vae.nets.BernoulliLikelihood().sample(images, g),
        "gaussian sample": lambda g: vae.nets.GaussianLikelihood(0.1).sample(images, g),
        "reparameterize": lambda g: vae.VAE.reparameterize(mu, mu, g),
        "gaussian_elbo": lambda g: gaussian_elbo(model, images, mu, mu, 2, g),
    }


@pytest.mark.parametrize("name", ["binarize", "bernoulli sample", "gaussian sample", "reparameterize", "gaussian_elbo"])
def test_a_cpu_generator_serves_tensors_on_a_gpu(name: str, strict_generators: None) -> None:
    """On fake CUDA tensors, with the generator device check CUDA makes: each draw is made on the CPU generator's
    device and moved to the tensor's (`vae.draws`). `vae.impute`'s noise and chains read their inputs' values, which
    fake tensors do not have; they draw through the same functions."""
    with FakeTensorMode():
        calls = _fake_cuda_calls()
        for generator in (torch.Generator().manual_seed(0), None):
            out = calls[name](generator)
            assert out.device.type == "cuda", name


# -- choosing a device -----------------------------------------------------------------------------
def test_an_unavailable_device_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from vae.training import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    for name, message in (("cuda", "CUDA is not available here"), ("cuda:1", "CUDA is not available here"),
                          ("mps", "Apple's MPS is not available here"), ("tpu", "unknown device 'tpu'")):
        with pytest.raises(vae.ConfigError, match=message):
            resolve_device(name)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(vae.ConfigError, match=r"has 2 CUDA device\(s\), numbered 0 to 1"):
        resolve_device("cuda:2")

"""Evaluation: the IWAE estimate of log p(x) against numerical integration on a 1-D latent model."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from vae import ModelConfig, bernoulli_log_likelihood, build_model, evaluate, log_likelihood
from vae import evaluation as evaluate_module


@pytest.fixture(scope="module")
def setup(mnist_test):
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=1, hidden=(32,))).double().eval()  # untrained: q is far from p(z|x)
    bits = torch.bernoulli(mnist_test.images[:4], generator=torch.Generator().manual_seed(0)).double()
    return model, bits


def exact_log_px(model, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log int p(x|z) N(z; 0, 1) dz by the trapezoidal rule on [-8, 8] (D = 1)."""
    z = torch.linspace(-8.0, 8.0, 8001, dtype=torch.float64)[:, None]  # (G, 1)
    dz = z[1, 0] - z[0, 0]
    with torch.no_grad():
        logits = model.decode(z)  # (G, 1, 28, 28)
    out = []
    for image in x:
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, image.expand_as(logits), reduction="none")
        log_joint = -bce.flatten(1).sum(1) - 0.5 * z[:, 0] ** 2 - 0.5 * math.log(2 * math.pi)  # log p(x|z) + log N(z)
        w = torch.full_like(log_joint, math.log(dz))
        w[0] = w[-1] = math.log(dz / 2)
        out.append(torch.logsumexp(log_joint + w, 0))
    return torch.stack(out)


def test_iwae_estimate_approaches_the_exact_log_likelihood(setup) -> None:
    model, bits = setup
    exact = exact_log_px(model, bits)  # (N,)
    log_px_1, elbo_1 = log_likelihood(model, bits, k=1, seed=0)
    torch.testing.assert_close(log_px_1, elbo_1)  # one sample: the IWAE bound is the ELBO
    log_px, elbo = log_likelihood(model, bits, k=1000, seed=0)
    assert log_px.shape == elbo.shape == (bits.shape[0],)
    assert (elbo <= log_px).all()  # the mean of log w never exceeds the log of the mean of w
    gap = exact - elbo
    assert (gap > 2.0).all()  # the untrained encoder is far from the posterior: the ELBO is loose ...
    assert ((exact - log_px).abs() < 0.1).all()  # ... but 1000 importance samples recover log p(x)
    assert ((exact - log_px) > -0.05).all()  # an upper bound on NLL, up to Monte Carlo noise


def test_evaluate_reports_means_and_is_reproducible(setup) -> None:
    model, bits = setup
    a = evaluate(model, bits, k=20, batch_size=3, seed=1)
    b = evaluate(model, bits, k=20, batch_size=2, seed=1)
    assert {"test_elbo", "test_elbo_stderr", "test_nll", "test_nll_stderr", "k", "num_images", "seed", "eval_seconds"} <= set(a)
    assert a["num_images"] == 4 and a["k"] == 20 and a["test_nll"] <= -a["test_elbo"]
    log_px, elbo = log_likelihood(model, bits, k=20, batch_size=3, seed=1)
    assert a["test_nll"] == pytest.approx(-log_px.mean().item()) and a["test_elbo"] == pytest.approx(elbo.mean().item())
    assert b["test_nll"] == pytest.approx(a["test_nll"], rel=0.05)  # other draws, a similar estimate
    assert evaluate(model, bits, k=20, batch_size=3, seed=1)["test_nll"] == a["test_nll"]  # same seed, same answer
    assert evaluate(model, bits, k=20, batch_size=3, seed=2)["test_nll"] != a["test_nll"]


def test_chunking_bounds_memory_without_changing_the_shape(setup) -> None:
    model, bits = setup
    log_w = evaluate_module.chunked_log_weights(model, bits, 37, max_decodes=20)  # chunks of 5 samples
    assert log_w.shape == (4, 37) and torch.isfinite(log_w).all()
    with pytest.raises(ValueError, match="k must be >= 1"):
        log_likelihood(model, bits, k=0)


def test_a_given_proposal_replaces_the_encoder(setup) -> None:
    """`posterior=` the encoder's own (mu, logvar) changes nothing; another proposal changes the weights, and a
    proposal far from the posterior gives a looser bound."""
    model, bits = setup
    with torch.no_grad():
        mu, logvar = model.encode(bits)
    torch.manual_seed(5)
    own = evaluate_module.chunked_log_weights(model, bits, 30, max_decodes=40)
    torch.manual_seed(5)
    given = evaluate_module.chunked_log_weights(model, bits, 30, max_decodes=40, posterior=(mu, logvar))
    assert torch.equal(own, given)
    far = evaluate_module.chunked_log_weights(model, bits, 30, posterior=(mu + 5.0, logvar))
    assert (far.mean(dim=1) < own.mean(dim=1)).all()  # the ELBO of a proposal 5 standard units off is worse


def test_conditional_models_are_evaluated_with_labels(mnist_test) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden=(16,))).eval()
    bits = torch.bernoulli(mnist_test.images[:3], generator=torch.Generator().manual_seed(0))
    result = evaluate(model, bits, mnist_test.labels[:3], k=5)
    assert math.isfinite(result["test_nll"])


def test_standard_errors_are_the_spread_over_images_over_root_n(setup) -> None:
    """The standard error of a mean over n images is their sample standard deviation / sqrt(n) (computed here with
    the statistics module from the per-image estimates)."""
    model, bits = setup
    log_px, elbo = log_likelihood(model, bits, k=20, batch_size=3, seed=1)
    result = evaluate(model, bits, k=20, batch_size=3, seed=1)
    n = bits.shape[0]
    assert result["test_nll_stderr"] == pytest.approx(statistics.stdev(log_px.tolist()) / math.sqrt(n), rel=1e-6)
    assert result["test_elbo_stderr"] == pytest.approx(statistics.stdev(elbo.tolist()) / math.sqrt(n), rel=1e-6)
    single = evaluate(model, bits[:1], k=20)
    assert single["test_nll_stderr"] == single["test_elbo_stderr"] == 0.0  # one image: no spread to estimate


def _label_only_cvae() -> torch.nn.Module:
    """A conditional VAE whose posterior is the prior N(0, I) and whose decoder ignores z: every log weight is then
    exactly log p(x | y), whatever z was drawn, so the estimate of each image is known in closed form."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden=(16,))).eval()
    with torch.no_grad():
        last = model.encoder.net[-1]  # the (mu, logvar) layer: both 0
        last.weight.zero_()
        last.bias.zero_()
        first = model.decoder.net[0]  # inputs [z, one-hot y]: z cut off, the label made to matter
        first.weight[:, :2] = 0.0
        first.weight[:, 2:] *= 20.0
    return model


def test_conditional_labels_stay_with_their_images_across_batches(mnist_test) -> None:
    model = _label_only_cvae()
    bits = torch.bernoulli(mnist_test.images[:7], generator=torch.Generator().manual_seed(0))
    labels = mnist_test.labels[:7]
    with torch.no_grad():  # log p(x_i | y_i), decoded at any z
        exact = bernoulli_log_likelihood(bits, model.decode(torch.zeros(7, 2), labels))  # (7,)
        shifted = bernoulli_log_likelihood(bits, model.decode(torch.zeros(7, 2), labels.roll(1)))
    assert ((exact - shifted).abs() > 5).all()  # another label gives another number: the check below can see a swap
    for batch_size in (1, 2, 3, 7):
        log_px, elbo = log_likelihood(model, bits, k=3, labels=labels, batch_size=batch_size)
        torch.testing.assert_close(log_px, exact, atol=1e-3, rtol=0)
        torch.testing.assert_close(elbo, exact, atol=1e-3, rtol=0)
    result = evaluate(model, bits, labels, k=3, batch_size=2)
    assert result["test_nll"] == pytest.approx(-exact.mean().item(), abs=1e-3)


def test_a_conditional_model_needs_one_label_per_image(mnist_test) -> None:
    model = _label_only_cvae()
    bits = torch.bernoulli(mnist_test.images[:4], generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="one label per image: got 3 labels for 4 images"):
        log_likelihood(model, bits, k=2, labels=mnist_test.labels[:3])
    with pytest.raises(ValueError, match="one label per image: got no labels for 4 images"):
        evaluate(model, bits, k=2)


# -- seeded by their own generators: repeatable in threads, without a lock -----------------------------
def test_evaluations_leave_the_global_generator_alone_and_repeat_in_threads(setup, mnist_test) -> None:
    """Each evaluation draws from its own generator: concurrent callers (the demo scores requests in threads) get the
    same numbers as a call alone, while another thread draws from torch's global generator."""
    import threading

    from vae import average_loss

    model, bits = setup
    alone = log_likelihood(model, bits, k=50, batch_size=2, seed=3)
    loss_alone = average_loss(model, bits, batch_size=2, seed=3)
    state = torch.get_rng_state()
    log_likelihood(model, bits, k=50, seed=3)
    average_loss(model, bits, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn from the global generator

    results: list = []
    stop = threading.Event()

    def noise() -> None:  # another thread using the global generator all along
        while not stop.is_set():
            torch.randn(1000)

    def score() -> None:
        for _ in range(3):
            results.append((log_likelihood(model, bits, k=50, batch_size=2, seed=3), average_loss(model, bits, batch_size=2, seed=3)))

    noisy = threading.Thread(target=noise)
    noisy.start()
    workers = [threading.Thread(target=score) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    noisy.join()
    assert len(results) == 12
    for estimates, loss in results:
        assert torch.equal(estimates.log_px, alone.log_px) and torch.equal(estimates.elbo, alone.elbo)
        assert loss == loss_alone
    log_px, elbo = alone  # a named tuple: unpacks as the pair it replaces
    assert log_px is alone.log_px and elbo is alone.elbo


def test_the_bounds_stream_over_k_in_bounded_memory(setup) -> None:
    """Holding at most `max_held` log weights, the bounds are those of all k weights at once (here k = 37 in chunks of
    5, reduced whenever more than 12 per image are held); with room for all of them, exactly those numbers."""
    model, bits = setup
    all_at_once = evaluate_module.chunked_log_weights(model, bits, 37, max_decodes=20, generator=torch.Generator().manual_seed(2))
    exact = evaluate_module.streamed_bounds(model, bits, 37, max_decodes=20, generator=torch.Generator().manual_seed(2))
    assert torch.equal(exact[0], evaluate_module.iwae_bound(all_at_once)) and torch.equal(exact[1], all_at_once.mean(1))
    held = []
    real = evaluate_module._reduced

    def spy(parts):
        held.append(sum(p.numel() for p in parts))
        return real(parts)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate_module, "_reduced", spy)
        log_px, elbo = evaluate_module.streamed_bounds(model, bits, 37, max_decodes=20, max_held=4 * 12,
                                                       generator=torch.Generator().manual_seed(2))
    assert len(held) == 3 and max(held) <= 4 * 15  # 15 + 15 + 7 samples of the 4 images, never all 37
    torch.testing.assert_close(log_px, evaluate_module.iwae_bound(all_at_once), rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(elbo, all_at_once.mean(1), rtol=1e-12, atol=1e-10)

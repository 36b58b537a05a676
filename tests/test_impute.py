"""Corruption and imputation: masks, noise, the five methods, their exactness and their errors."""

from __future__ import annotations

import pytest
import torch

import vae
from vae.impute import MAX_STEPS, METHODS, add_noise, check_mask, impute, impute_steps, make_mask, missing_log_likelihood


@pytest.fixture(scope="module")
def default_model() -> vae.VAE:
    return vae.load("default")


@pytest.fixture(scope="module")
def digits(mnist_test) -> torch.Tensor:
    """40 binarized test digits (the bits every evaluation uses)."""
    return vae.binarized_test_set(mnist_test)[:40]


@pytest.fixture(scope="module")
def pca(mnist_test) -> vae.PCA:
    """A small PCA fitted on test digits from outside the 40 scored ones (fitting on 60,000 takes seconds)."""
    return vae.fit_pca(mnist_test.images[1000:3000], 10)


def _seed(s: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(s)


def _model_for(method: str, default_model: vae.VAE, pca: vae.PCA):
    return pca if method in ("pca", "mean") else default_model


# -- masks and noise -------------------------------------------------------------------------------
def test_half_and_square_masks_cover_what_they_say() -> None:
    top, bottom, left, right = (make_mask(k, 2) for k in ("top", "bottom", "left", "right"))
    assert top.shape == (2, 1, 28, 28) and top.dtype == torch.bool
    assert top[:, :, :14].all() and not top[:, :, 14:].any()
    assert bottom[:, :, 14:].all() and not bottom[:, :, :14].any()
    assert left[..., :14].all() and not left[..., 14:].any()
    assert right[..., 14:].all() and not right[..., :14].any()
    square = make_mask("square", 1, size=10)
    assert square.sum() == 100 and square[0, 0, 9:19, 9:19].all()
    odd = make_mask("top", 1, (1, 5, 5))  # H // 2 = 2 rows of an odd image
    assert odd.sum() == 10 and odd[0, 0, :2].all()


def test_random_masks_have_the_exact_fraction_and_are_seeded() -> None:
    a = make_mask("random", 200, fraction=0.8, generator=_seed(3))
    assert (a.flatten(1).sum(1) == round(0.8 * 784)).all()  # exactly, in every image
    assert torch.equal(a, make_mask("random", 200, fraction=0.8, generator=_seed(3)))
    assert not torch.equal(a, make_mask("random", 200, fraction=0.8, generator=_seed(4)))
    assert not torch.equal(a[0], a[1])  # each image its own mask
    # every pixel is equally likely to be missing: over 200 masks each pixel is missing about 80 % of the time
    assert 0.65 < a.float().mean(0).min() and a.float().mean(0).max() < 0.95


def test_noise_kinds_and_strengths() -> None:
    gray = torch.full((4, 1, 28, 28), 0.5)
    binary = (torch.rand(4, 1, 28, 28, generator=_seed(1)) < 0.3).float()
    for kind in ("gaussian", "salt_pepper", "flip"):
        assert torch.equal(add_noise(gray, kind, 0.0, _seed()), gray)  # strength 0 changes nothing
        noisy = add_noise(gray, kind, 1.0, _seed())
        assert noisy.shape == gray.shape and noisy.min() >= 0 and noisy.max() <= 1
        assert torch.equal(noisy, add_noise(gray, kind, 1.0, _seed()))  # seeded
    # gaussian: the standard deviation is the strength (no clamping at 0.5 +- 0.1 * a few sigma)
    assert abs((add_noise(gray, "gaussian", 0.1, _seed()) - gray).std().item() - 0.1) < 0.005
    # salt and pepper: a fraction `strength` of pixels set to 0 or 1, half each
    sp = add_noise(gray, "salt_pepper", 0.3, _seed())
    hit = sp != 0.5
    assert abs(hit.float().mean().item() - 0.3) < 0.02 and set(sp[hit].unique().tolist()) == {0.0, 1.0}
    assert abs(sp[hit].mean().item() - 0.5) < 0.05
    # flip: a fraction `strength` of binary pixels inverted
    flipped = add_noise(binary, "flip", 0.2, _seed())
    assert abs((flipped != binary).float().mean().item() - 0.2) < 0.02 and set(flipped.unique().tolist()) <= {0.0, 1.0}


# -- every method --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["top", "random"])
def test_observed_pixels_are_returned_bit_for_bit(method: str, kind: str, default_model, pca, mnist_test) -> None:
    x = mnist_test.images[:6].double() * 0.9 + 0.05  # gray levels in float64: any rounding would show
    mask = make_mask(kind, 6, fraction=0.5, generator=_seed())
    model = _model_for(method, default_model, pca)
    out = impute(model, x, mask, method, steps=5, generator=_seed())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out[~mask], x[~mask])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # the missing pixels are never read: garbage (even NaN) there gives the same result
    garbage = torch.where(mask, torch.nan, x)
    assert torch.equal(impute(model, garbage, mask, method, steps=5, generator=_seed()), out)
    # one mask (C, H, W) for every image is the same as that mask repeated
    same = impute(model, x, mask[0], method, steps=5, generator=_seed())
    assert torch.equal(same[~mask[0].expand_as(x)], x[~mask[0].expand_as(x)])


def test_iterative_imputation_beats_one_pass_on_real_digits(default_model, digits) -> None:
    """Top half missing, 40 real test digits: the chains' missing-pixel log-likelihood is far above one pass."""
    mask = make_mask("top", digits.shape[0])
    methods = ("one_pass", "pseudo_gibbs", "mwg")
    imputed = {m: impute(default_model, digits, mask, m, steps=50, generator=_seed()) for m in methods}
    score = {m: missing_log_likelihood(digits, out, mask).mean().item() for m, out in imputed.items()}
    # measured: one pass about -193 nats per digit, pseudo-Gibbs about -91, MwG about -153
    assert score["pseudo_gibbs"] > score["one_pass"] + 50, score
    assert score["mwg"] > score["one_pass"] + 20, score


def _tiny_model(seed: int) -> vae.VAE:
    """A 1-D latent VAE over 4 pixels with a strong decoder and a deliberately wrong (wide, shifted) encoder."""
    torch.manual_seed(seed)
    model = vae.build_model(vae.ModelConfig(kind="vae", latent_dim=1, hidden=(16,), image_shape=(1, 1, 4))).eval()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(3.0)
        model.encoder.net[-1].weight.mul_(0.1)
        model.encoder.net[-1].bias.copy_(torch.tensor([1.0, 0.7]))  # q(z | x) ~ N(1, e^0.7) whatever x is
    return model


def _exact_predictive(model: vae.VAE, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """p(x_m = 1 | x_o) by quadrature over the 1-D latent: sum_z p(x_m | z) p(x_o | z) p(z) / sum_z p(x_o | z) p(z)."""
    z = torch.linspace(-10, 10, 20001).unsqueeze(1)  # (G, 1)
    with torch.no_grad():
        probs = torch.sigmoid(model.decode(z)).double().flatten(1)  # (G, 4)
    obs, target = ~mask.flatten(), x.flatten().double()
    log_obs = (target[obs] * probs[:, obs].log() + (1 - target[obs]) * (1 - probs[:, obs]).log()).sum(1)  # (G,)
    weights = torch.softmax(log_obs - 0.5 * z.squeeze(1).double() ** 2, 0)  # the posterior p(z | x_o) on the grid
    return (weights.unsqueeze(1) * probs[:, ~obs]).sum(0)


@pytest.mark.parametrize("seed", [0, 2])
def test_metropolis_within_gibbs_is_exact_where_pseudo_gibbs_is_not(seed: int) -> None:
    """With a wrong encoder, MwG still converges to the true p(x_m | x_o) of the decoder and prior; pseudo-Gibbs does not."""
    model = _tiny_model(seed)
    x = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 1, 4).expand(1000, -1, -1, -1)  # 1000 parallel chains
    mask = torch.tensor([False, False, True, True]).view(1, 1, 4)
    exact = _exact_predictive(model, x[0], mask)
    estimate = {m: impute(model, x, mask, m, steps=100, burn_in=10, generator=_seed(1))[:, 0, 0, 2:].double().mean(0)
                for m in ("mwg", "pseudo_gibbs")}
    assert (estimate["mwg"] - exact).abs().max() < 0.02, (estimate, exact)
    assert (estimate["pseudo_gibbs"] - exact).abs().max() > 0.1, (estimate, exact)


def test_chains_are_seeded_and_stream_every_step(default_model, digits) -> None:
    x, mask = digits[:4], make_mask("top", 4)
    a = impute(default_model, x, mask, "mwg", steps=8, generator=_seed(5))
    assert torch.equal(a, impute(default_model, x, mask, "mwg", steps=8, generator=_seed(5)))
    assert not torch.equal(a, impute(default_model, x, mask, "mwg", steps=8, generator=_seed(6)))
    steps = list(impute_steps(default_model, x, mask, "mwg", steps=8, generator=_seed(5)))
    assert [s.step for s in steps] == list(range(1, 9))
    assert torch.equal(steps[-1].estimate, a)
    for s in steps:
        assert set(s.sample[mask].unique().tolist()) <= {0.0, 1.0}  # the chain's state: binary draws
        assert torch.equal(s.sample[~mask], x[~mask]) and torch.equal(s.estimate[~mask], x[~mask])
        assert ((0 <= s.acceptance) & (s.acceptance <= 1)).all()
    assert torch.equal(steps[0].acceptance, torch.ones(4))  # the first state comes from the encoder
    assert steps[-1].acceptance.mean() < 1  # later proposals are sometimes rejected
    # with burn-in b the estimate is the current step's mean until step b, then the average after it
    burnt = list(impute_steps(default_model, x, mask, "pseudo_gibbs", steps=3, generator=_seed(5), burn_in=2))
    plain = list(impute_steps(default_model, x, mask, "pseudo_gibbs", steps=3, generator=_seed(5)))
    torch.testing.assert_close(plain[1].estimate * 2 - plain[0].estimate, burnt[1].estimate)  # step 2's own mean
    assert not torch.equal(burnt[2].estimate, plain[2].estimate)
    # between steps the caller's gradient mode is untouched; the model is in eval mode until the stream ends
    default_model.train()
    stream = impute_steps(default_model, x, mask, "pseudo_gibbs", steps=2, generator=_seed(5))
    next(stream)
    assert torch.is_grad_enabled() and not default_model.training
    list(stream)
    assert default_model.training
    default_model.eval()
    one = list(impute_steps(default_model, x, mask, "one_pass"))
    assert len(one) == 1 and torch.equal(one[0].estimate, one[0].sample)


def test_one_pass_is_the_reconstruction_of_the_zero_filled_image(default_model, digits) -> None:
    x, mask = digits[:5], make_mask("square", 5)
    expected = default_model.reconstruct(torch.where(mask, 0.0, x))
    out = impute(default_model, x, mask, "one_pass")
    assert torch.equal(out[mask], expected[mask])


def test_pca_imputation_recovers_data_in_its_subspace() -> None:
    """Images that lie exactly in a 3-D affine subspace are recovered exactly from half of their pixels."""
    g = _seed(2)
    basis = torch.linalg.qr(torch.randn(16, 3, generator=g, dtype=torch.float64)).Q  # (16, 3) orthonormal
    codes = 0.1 * torch.randn(200, 3, generator=g, dtype=torch.float64)
    data = (0.5 + codes @ basis.T).reshape(200, 1, 4, 4)  # inside (0, 1)
    assert data.min() > 0 and data.max() < 1
    pca = vae.fit_pca(data, 3)
    x = data[:10]
    mask = make_mask("random", 10, (1, 4, 4), fraction=0.5, generator=g)
    out = impute(pca, x, mask, "pca")
    torch.testing.assert_close(out, x, atol=1e-10, rtol=0)
    # the mean baseline puts the mean image, from a PCA or given directly, at the missing pixels
    for mean in (pca, data.mean(0)):
        filled = impute(mean, x, mask, "mean")
        torch.testing.assert_close(filled[mask], data.mean(0).expand_as(x)[mask])


def test_missing_log_likelihood_by_hand() -> None:
    target = torch.tensor([1.0, 0.0, 1.0, 0.0]).view(1, 1, 2, 2)
    imputed = torch.tensor([0.8, 0.3, 0.0, 0.9]).view(1, 1, 2, 2)
    mask = torch.tensor([True, True, False, False]).view(1, 2, 2)
    expected = torch.log(torch.tensor(0.8, dtype=torch.float64)) + torch.log(torch.tensor(0.7, dtype=torch.float64))
    torch.testing.assert_close(missing_log_likelihood(target, imputed, mask), expected.view(1))
    # a hard wrong 0 costs -log(eps), not -inf
    mask = torch.tensor([False, False, True, False]).view(1, 2, 2)
    torch.testing.assert_close(missing_log_likelihood(target, imputed, mask, eps=1e-6),
                               torch.log(torch.tensor([1e-6], dtype=torch.float64)))


# -- bad input --------------------------------------------------------------------------------------
def _bad_calls(model, pca):
    x, small = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 20, 20)
    top = make_mask("top", 2)
    empty, full = torch.zeros_like(top), torch.ones_like(top)
    one_empty = top.clone()
    one_empty[1] = False
    return {
        "empty mask": (lambda: impute(model, x, empty), "image 0 is empty"),
        "one image's mask empty": (lambda: impute(model, x, one_empty), "image 1 is empty"),
        "full mask": (lambda: impute(model, x, full), "is full"),
        "mask of the wrong shape": (lambda: impute(model, x, top[:, :, :14]), "must match the images"),
        "mask of the wrong dtype": (lambda: impute(model, x, top.float()), "must be a torch.bool tensor"),
        "mask not a tensor": (lambda: impute(model, x, top.numpy()), "must be a torch.bool tensor"),
        "steps < 1": (lambda: impute(model, x, top, steps=0), "steps must be an integer from 1 to 1000"),
        "steps above the maximum": (lambda: impute(model, x, top, steps=MAX_STEPS + 1), "an integer from 1 to 1000,"),
        "steps not an integer": (lambda: impute(model, x, top, steps=2.5), "steps must be an integer"),
        "unknown method": (lambda: impute(model, x, top, method="magic"), "unknown method 'magic'"),
        "burn_in too large": (lambda: impute(model, x, top, steps=5, burn_in=5), "burn_in must be an integer from 0 to"),
        "observed pixels out of range": (lambda: impute(model, x * 3, top), "observed pixels of x must be finite gray levels"),
        "images of the wrong shape": (lambda: impute(model, small, make_mask("top", 2, (1, 20, 20))), "expects images of shape"),
        "not a batch": (lambda: impute(model, x[0], top[0]), r"must have shape \(B, C, H, W\)"),
        "integer images": (lambda: impute(model, (x > 0.5).long(), top), "floating-point tensor"),
        "a VAE method without a VAE": (lambda: impute(pca, x, top, "pseudo_gibbs"), "needs a VAE"),
        "pca without a PCA": (lambda: impute(model, x, top, "pca"), "needs a vae.PCA"),
        "mean image of the wrong size": (lambda: impute(torch.rand(10), x, top, "mean"), "the mean image has 10 pixels"),
        "mean image out of range": (lambda: impute(torch.full((1, 28, 28), 2.0), x, top, "mean"), "mean image must hold finite"),
        "mean of something else": (lambda: impute([0.5], x, top, "mean"), r"needs a vae.PCA \(its mean\) or a mean image tensor"),
        "mwg with an autoencoder": (lambda: impute(vae.load("ae2d"), x, top, "mwg"), "a plain autoencoder has none"),
        "noise level above 1": (lambda: add_noise(x, "gaussian", 1.5), r"strength must be a number in \[0, 1\]"),
        "noise level below 0": (lambda: add_noise(x, "salt_pepper", -0.1), r"strength must be a number in \[0, 1\]"),
        "noise level NaN": (lambda: add_noise(x, "flip", float("nan")), r"strength must be a number in \[0, 1\]"),
        "unknown noise kind": (lambda: add_noise(x, "speckle", 0.1), "unknown noise kind 'speckle'"),
        "noise on images out of range": (lambda: add_noise(x * 3, "gaussian", 0.1), r"finite gray levels in \[0, 1\]"),
        "unknown mask kind": (lambda: make_mask("circle"), "unknown mask kind 'circle'"),
        "random fraction 0": (lambda: make_mask("random", fraction=0.0), "at least one missing and one observed"),
        "random fraction 1": (lambda: make_mask("random", fraction=1.0), "at least one missing and one observed"),
        "random fraction out of range": (lambda: make_mask("random", fraction=2.0), r"fraction must be a number in \[0, 1\]"),
        "square too large": (lambda: make_mask("square", size=28), "size must be an integer from 1 to 28"),
        "no masks": (lambda: make_mask("top", 0), "n must be an integer >= 1"),
        "half mask of a 1-row image": (lambda: make_mask("top", 1, (1, 1, 4)), "would be empty or full"),
        "scoring with a wrong shape": (lambda: missing_log_likelihood(x, x[:1], top), "imputed has shape"),
    }


def test_every_bad_input_gets_a_clear_error(default_model, pca) -> None:
    for name, (call, message) in _bad_calls(default_model, pca).items():
        with pytest.raises(ValueError, match=message):
            call()
            pytest.fail(f"{name}: no error")


def test_impute_steps_checks_its_arguments_at_the_call(default_model) -> None:
    x, mask = torch.rand(1, 1, 28, 28), make_mask("top")
    with pytest.raises(ValueError, match="steps must be"):
        impute_steps(default_model, x, mask, steps=0)  # before any step is asked for
    assert torch.equal(check_mask(x, mask[0]), mask.expand_as(x))


def test_a_hierarchical_vae_is_imputed_through_its_top_layer_and_refused_mwg() -> None:
    """MwG's ratio decodes z2 with z1 at its mean, which is not p(x | z2) of a two-layer model: refused. The pseudo-Gibbs
    chain (and one pass) stay: z2 ~ q(z2 | x_t), then x_m drawn from the decoder at z1 = the mean of p(z1 | z2)."""
    torch.manual_seed(0)
    model = vae.build_model(vae.ModelConfig(kind="hvae", latent_dim=2, lower_latent_dim=3, hidden=(16,), lower_hidden=(8,)))
    x, mask = torch.rand(2, 1, 28, 28).round(), make_mask("top", 2)
    with pytest.raises(ValueError, match="method 'mwg' is exact for a one-layer VAE only"):
        impute(model, x, mask, "mwg", steps=3)
    steps = list(impute_steps(model, x, mask, "pseudo_gibbs", steps=3, generator=_seed(1)))
    assert len(steps) == 3 and torch.equal(steps[-1].estimate[~mask], x[~mask])
    # the first step by hand: z2 from the encoder's q(z2 | x_0), the missing pixels at 0, decoded at z1's prior mean
    with torch.no_grad():
        mu, logvar = model.eval().encode(torch.where(mask, 0.0, x))
        z2 = model.reparameterize(mu, logvar, _seed(1))
        expected = model.likelihood.mean(model.decode_lower(model.lower_prior(z2)[0], z2))
    torch.testing.assert_close(steps[0].estimate, torch.where(mask, expected, x))

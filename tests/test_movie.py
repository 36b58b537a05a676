"""The training movie: per-epoch snapshots (taken, resumed, refused) and `vae movie` (one frame per recorded epoch).

Runs use a tiny MLP on a few hundred real MNIST digits (taken from the test split), so an epoch takes a
fraction of a second; `vae movie` runs in-process through `vae.cli.main`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vae
from vae import MNIST, ConfigError, ModelConfig, TrainConfig
from vae.cli import main
from vae.movie import (
    MAP_DIGITS,
    caption,
    map_limit,
    map_title,
    read_snapshots,
    render_frame,
    snapshot_path,
    write_movie,
)

MODEL_2D = ModelConfig(latent_dim=2, hidden=(32,))


@pytest.fixture(scope="module")
def splits(mnist_test) -> tuple[MNIST, MNIST]:
    """448 training digits and 200 test digits, disjoint."""
    images, labels = mnist_test.images, mnist_test.labels
    return MNIST(images[200:648], labels[200:648]), MNIST(images[:200], labels[:200])


def train(splits, out: Path | None, epochs: int = 3, model: ModelConfig = MODEL_2D, **kwargs) -> list[dict]:
    config = TrainConfig(epochs=epochs, batch_size=64, lr=3e-3)
    return vae.train(model, config, out, *splits, progress=False, grids=False, device="cpu", **kwargs)


def vae_cli(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as animation:
        result = []
        for i in range(animation.n_frames):
            animation.seek(i)
            result.append(np.asarray(animation.convert("RGB")))
    return result


@pytest.fixture(scope="module")
def snapshot_run(tmp_path_factory, splits) -> Path:
    """A 3-epoch 2-D run with snapshots."""
    run = tmp_path_factory.mktemp("movie") / "run"
    train(splits, run, snapshots=True)
    return run


def test_training_with_snapshots_keeps_one_per_epoch(snapshot_run: Path, splits) -> None:
    assert sorted(p.name for p in (snapshot_run / "snapshots").iterdir()) == [f"epoch_000{e}.safetensors" for e in (1, 2, 3)]
    snapshots = read_snapshots(snapshot_run)
    assert [s.epoch for s in snapshots] == [1, 2, 3]
    assert not torch.equal(snapshots[0].codes, snapshots[-1].codes)  # the map moves as the model learns
    # the last snapshot shows the checkpointed model: its codes of the first test digits, binarized once as scored
    model = vae.load(snapshot_run)
    test = splits[1]
    digits = vae.binarized_test_set(test)[:MAP_DIGITS]
    with torch.no_grad():
        codes = model.embed(digits)
        recon = model.reconstruct(digits[:10])
        grid = model.decoder_mean(vae.manifold_grid(10))
    last = snapshots[-1]
    torch.testing.assert_close(last.codes, codes)
    assert torch.equal(last.labels, test.labels[:len(codes)]) and last.variational
    assert torch.equal(last.originals, (digits[:10] * 255).to(torch.uint8))
    assert (last.reconstructions.float() - recon * 255).abs().max() <= 0.5 + 1e-3
    assert last.grid is not None and (last.grid.float() - grid * 255).abs().max() <= 0.5 + 1e-3
    assert not torch.equal(last.samples, snapshots[0].samples)  # the same prior codes, decoded by a newer decoder


def test_without_a_run_folder_snapshots_are_refused(splits) -> None:
    with pytest.raises(ConfigError, match="snapshots are kept in the run folder"):
        train(splits, None, epochs=1, snapshots=True)


@pytest.mark.parametrize("suffix", [".webp", ".gif"])
def test_vae_movie_writes_one_frame_per_recorded_epoch(snapshot_run: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"movie{suffix}"
    status, stdout, err = vae_cli("movie", snapshot_run, "--out", out, "--frame-ms", "100", "--hold-ms", "700")
    assert status == 0, err
    assert f"wrote 3 frames to {out}" in stdout
    with Image.open(out) as animation:
        assert animation.format == suffix[1:].upper() and animation.n_frames == 3
        durations = []
        for i in range(3):
            animation.seek(i)
            animation.load()  # WebP reads a frame's duration when it decodes it
            durations.append(animation.info["duration"])
    assert durations == [100, 100, 700]  # the last frame is held


def test_each_frame_shows_its_epoch(snapshot_run: Path, tmp_path: Path) -> None:
    """Lossless WebP: frame k is exactly the drawing of epoch k's snapshot with epoch k's record, and no other's."""
    out = tmp_path / "movie.webp"
    assert write_movie(snapshot_run, out, quality=100) == 3
    snapshots = read_snapshots(snapshot_run)
    history = [json.loads(line) for line in (snapshot_run / "history.jsonl").read_text().splitlines()]
    limit = map_limit(snapshots)
    drawn = [np.asarray(render_frame(s, r, 3, limit)) for s, r in zip(snapshots, history)]
    got = frames(out)
    for k in range(3):
        assert [np.array_equal(got[k], d) for d in drawn] == [j == k for j in range(3)]
    first, second = caption(snapshots[1], history[1], 3)
    assert first == "epoch 2 / 3"
    assert f"test -ELBO {history[1]['test_loss']:.1f}" in second and f"KL {history[1]['test_kl']:.1f}" in second
    # the caption is on the frame: another epoch number changes the first header line, other losses the second
    other_epoch = np.asarray(render_frame(dataclasses.replace(snapshots[1], epoch=3), history[1], 3, limit))
    rows = np.unique(np.argwhere((other_epoch != drawn[1]).any(axis=2))[:, 0])
    assert len(rows) and rows.max() < 27
    other_losses = np.asarray(render_frame(snapshots[1], history[2], 3, limit))
    rows = np.unique(np.argwhere((other_losses != drawn[1]).any(axis=2))[:, 0])
    assert len(rows) and 27 <= rows.min() and rows.max() < 50


def test_a_run_without_snapshots_gets_a_clear_error(tmp_path: Path, splits) -> None:
    run = tmp_path / "plain"
    train(splits, run, epochs=1)
    status, _, err = vae_cli("movie", run, "--out", tmp_path / "m.webp")
    assert status == 2
    assert err.startswith("vae movie: error:") and "holds no per-epoch snapshots" in err
    assert "vae train --out RUN --snapshots" in err and "--resume --epochs N --snapshots" in err
    assert "Traceback" not in err and not (tmp_path / "m.webp").exists()
    status, _, err = vae_cli("movie", tmp_path / "nowhere", "--out", tmp_path / "m.webp")
    assert status == 2 and "no run folder at" in err


@pytest.mark.parametrize(("argv", "message"), [
    (("--out", "movie.mp4"), "--out must end in .webp or .gif"),
    (("--out", "movie.webp", "--quality", "0"), "--quality must be between 1 and 100"),
    (("--out", "movie.gif", "--frame-ms", "0"), "at least 10 ms"),
])
def test_bad_movie_options(snapshot_run: Path, tmp_path: Path, argv: tuple, message: str) -> None:
    status, _, err = vae_cli("movie", snapshot_run, *(str(tmp_path / a) if a.startswith("movie.") else a for a in argv))
    assert status == 2 and message in err


def test_resume_keeps_the_snapshots_consistent(snapshot_run: Path, tmp_path: Path, splits) -> None:
    """Stopped after epoch 1, with a stale snapshot of the unfinished epoch 2 left behind; resumed and stopped inside
    epoch 2; resumed to epoch 3 without asking for snapshots again: one snapshot per epoch, equal to the uninterrupted
    run's."""
    run = tmp_path / "resumed"
    train(splits, run, epochs=1, snapshots=True)
    stale = snapshot_path(run, 2)
    shutil.copy(snapshot_path(run, 1), stale)  # an epoch 2 whose snapshot was written, not its checkpoint
    (stale.parent / "epoch_0002.safetensors.tmp").write_bytes(b"half a file")
    train(splits, run, epochs=3, resume=True, callback=lambda p: p.epoch == 2 and p.step % p.steps_per_epoch == 2,
          callback_every=1)  # stopped inside epoch 2: the stale snapshot and the unfinished write are gone
    assert [p.name for p in (run / "snapshots").iterdir()] == ["epoch_0001.safetensors"]
    train(splits, run, epochs=3, resume=True)
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == [f"epoch_000{e}.safetensors" for e in (1, 2, 3)]
    for resumed, whole in zip(read_snapshots(run), read_snapshots(snapshot_run), strict=True):
        assert resumed.epoch == whole.epoch
        for name in ("codes", "labels", "originals", "reconstructions", "samples", "grid"):
            assert torch.equal(getattr(resumed, name), getattr(whole, name)), (resumed.epoch, name)


def test_a_snapshot_without_its_epoch_record_is_not_a_frame(snapshot_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(snapshot_run, run)
    lines = (run / "history.jsonl").read_text().splitlines()
    (run / "history.jsonl").write_text("\n".join(lines[:2]) + "\n")  # epoch 3 snapshotted, not recorded
    assert [s.epoch for s in read_snapshots(run)] == [1, 2]
    assert write_movie(run, tmp_path / "m.gif") == 2


def test_a_model_with_more_dimensions_shows_its_first_two(tmp_path: Path, splits) -> None:
    run = tmp_path / "run4d"
    train(splits, run, epochs=2, model=ModelConfig(latent_dim=4, hidden=(32,)), snapshots=True)
    snapshots = read_snapshots(run)
    assert snapshots[0].codes.shape == (200, 4) and snapshots[0].grid is None
    assert map_title(snapshots[0], 3.0).startswith("the first 2 of 4 code dimensions")
    out = tmp_path / "m.webp"
    assert write_movie(run, out) == 2
    frame = render_frame(snapshots[0], None, 2, 3.0)
    assert frames(out)[0].shape[1] == frame.size[0] < 700  # no decoded grid: a narrower frame


def test_an_autoencoder_movie(tmp_path: Path, splits) -> None:
    run = tmp_path / "ae"
    train(splits, run, epochs=2, model=ModelConfig(kind="ae", latent_dim=2, hidden=(32,)), snapshots=True)
    snapshots = read_snapshots(run)
    assert not snapshots[0].variational
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert "no KL term" in caption(snapshots[1], history[1], 2)[1]
    assert write_movie(run, tmp_path / "ae.webp") == 2


def test_the_map_limits_hold_every_frame(snapshot_run: Path) -> None:
    """One square for all frames: 99.5 % of the codes of the widest frame (plus 5 %), at least +-3 for a VAE."""
    snapshot = read_snapshots(snapshot_run)[0]
    spread = [dataclasses.replace(snapshot, codes=scale * torch.linspace(-1, 1, 2001)[:, None].repeat(1, 2))
              for scale in (0.5, 10.0)]
    assert map_limit(spread) == pytest.approx(0.995 * 10 * 1.05, rel=1e-4)
    assert map_limit(spread[:1]) == 3.0  # a VAE's codes near 0: the prior's +-3
    autoencoder = [dataclasses.replace(s, variational=False) for s in spread[:1]]
    assert map_limit(autoencoder) == pytest.approx(0.995 * 0.5 * 1.05, rel=1e-4)
    assert map_title(snapshot, 3.0) == "codes of test digits, z in [-3, 3]^2"

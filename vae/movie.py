r"""The training movie: per-epoch snapshots of a run, and the animation drawn from them.

**What the frames are made from.** Not from the weights: keeping them every epoch would cost a
full model per epoch (5.3 MB for the shipped `latent2d`). `vae train --snapshots` (or
`vae.train(..., snapshots=True)`) instead keeps, at the end of every epoch, a small
**snapshot** of what the movie shows, in `RUN/snapshots/epoch_XXXX.safetensors` (120 kB for a
2-D model, most of it the decoded grid; the codes take 4 kB per latent dimension):

| tensor | shape | what it holds |
| --- | --- | --- |
| `codes` | (N, D) float32 | the codes (posterior means) of the first N = 1,000 test digits, as the run scores them |
| `labels` | (N,) int64 | their digits, which colour the map |
| `originals`, `reconstructions` | (10, 1, 28, 28) uint8 | the first ten test digits and their reconstructions |
| `samples` | (10, 1, 28, 28) uint8 | decoded from ten fixed prior codes (the same every epoch) |
| `grid` | (100, 1, 28, 28) uint8 | 2-D models only: decoded on a 10 x 10 grid over the prior's 5 % to 95 % quantiles |
| `epoch`, `variational` | (1,) int64, (1,) uint8 | the epoch it was taken after; whether the model is a VAE |

Each is written atomically (a temporary file, then a rename) *before* the epoch's checkpoint, so
a run stopped at any moment resumes with a snapshot for every epoch its checkpoint holds: a
resumed run first drops the snapshots of epochs after its checkpoint, and keeps taking them
without being asked again. The inputs are fixed by the run (the first test digits, binarized once
as every epoch's test loss scores them, and prior codes drawn from the run's seed), so the
snapshots of a resumed run equal those of the uninterrupted one.

**The movie.** `vae movie RUN --out movie.webp` ([`write_movie`][vae.movie.write_movie]) draws one
frame per recorded epoch ([`render_frame`][vae.movie.render_frame]): the latent map of the test
codes coloured by digit (for D > 2, the first two dimensions, as the frame says), the decoded grid
(2-D models), the test digits over their reconstructions and the samples, and the epoch with its
losses from `history.jsonl`. Drawn with PIL and numpy only (the core dependencies), written as an
animated WebP or GIF. The [model card](../models.md#watching-latent2d-train) shows the shipped
`latent2d`'s training, made by `scripts/make_movie.sh`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import CheckpointError, read_tensors, write_tensors
from .config import read_jsonl
from .latent import manifold_grid
from .models import VAE, EncoderDecoder
from .runs import Run

SNAPSHOTS = "snapshots"
MAP_DIGITS = 1000  # test digits on the latent map
ROW = 10  # digits in each row of originals, reconstructions and samples
GRID = 10  # the decoded grid of a 2-D model is GRID x GRID
FORMATS = {".webp": "WEBP", ".gif": "GIF"}
DIGIT_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                 (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # matplotlib's tab10
HOW_TO_RECORD = ("record them with `vae train --out RUN --snapshots ...` (or continue this run with "
                 "`vae train --out RUN --resume --epochs N --snapshots` to record its epochs from now on)")


# -- snapshots ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MovieInputs:
    """The fixed inputs every snapshot of a run is made from.

    Attributes:
        images: (N, C, H, W) the first test digits, as the run scores them (binarized once, or gray levels).
        labels: (N,) their digits.
        z: (S, D) fixed prior codes for the samples (S >= `ROW`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    z: torch.Tensor


@dataclass(frozen=True)
class Snapshot:
    """What one frame of the movie shows: see the table in [`vae.movie`][vae.movie]."""

    epoch: int
    variational: bool
    codes: torch.Tensor  # (N, D) float32
    labels: torch.Tensor  # (N,) int64
    originals: torch.Tensor  # (R, 1, H, W) uint8
    reconstructions: torch.Tensor  # (R, 1, H, W) uint8
    samples: torch.Tensor  # (R, 1, H, W) uint8
    grid: torch.Tensor | None  # (GRID * GRID, 1, H, W) uint8, 2-D models only

    @property
    def latent_dim(self) -> int:
        return self.codes.shape[1]


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


@torch.no_grad()
def take_snapshot(model: EncoderDecoder, inputs: MovieInputs, epoch: int) -> Snapshot:
    """The snapshot of a model after `epoch`, made without randomness (codes are posterior means), in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        conditional = model.config.is_conditional
        x = inputs.images[:MAP_DIGITS].to(device)
        y = inputs.labels[:MAP_DIGITS].to(device) if conditional else None
        codes = torch.cat([model.embed(x[i:i + 500], None if y is None else y[i:i + 500]) for i in range(0, len(x), 500)])
        r = min(ROW, len(x))
        recon = model.decoder_mean(codes[:r], None if y is None else y[:r])
        sample_y = (torch.arange(ROW) % model.config.num_classes).to(device) if conditional else None
        samples = model.decoder_mean(inputs.z[:ROW].to(device), sample_y)
        grid = None
        if model.config.latent_dim == 2:
            grid_y = (torch.arange(GRID * GRID) % model.config.num_classes).to(device) if conditional else None
            grid = _to_uint8(model.decoder_mean(manifold_grid(GRID, device=device), grid_y))
    finally:
        model.train(was_training)
    return Snapshot(epoch, isinstance(model, VAE), codes.float().cpu(), inputs.labels[:MAP_DIGITS].cpu().long(),
                    _to_uint8(inputs.images[:r]), _to_uint8(recon), _to_uint8(samples), grid)


def snapshot_path(run: str | os.PathLike[str], epoch: int) -> Path:
    return Path(run) / SNAPSHOTS / f"epoch_{epoch:04d}.safetensors"


def write_snapshot(run: str | os.PathLike[str], snapshot: Snapshot) -> Path:
    """Write a snapshot into `run/snapshots/`, atomically (a temporary file, then a rename)."""
    path = snapshot_path(run, snapshot.epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"epoch": torch.tensor([snapshot.epoch]), "variational": torch.tensor([int(snapshot.variational)], dtype=torch.uint8),
               "codes": snapshot.codes.contiguous(), "labels": snapshot.labels.contiguous(),
               "originals": snapshot.originals.contiguous(), "reconstructions": snapshot.reconstructions.contiguous(),
               "samples": snapshot.samples.contiguous()}
    if snapshot.grid is not None:
        tensors["grid"] = snapshot.grid.contiguous()
    tmp = path.with_name(path.name + ".tmp")
    write_tensors(tensors, tmp)
    tmp.replace(path)
    return path


def _snapshot_files(run: Path) -> dict[int, Path]:
    folder = run / SNAPSHOTS
    if not folder.is_dir():
        return {}
    files = {}
    for path in folder.glob("epoch_*.safetensors"):
        try:
            files[int(path.name[len("epoch_"):-len(".safetensors")])] = path
        except ValueError:
            continue
    return dict(sorted(files.items()))


def has_snapshots(run: str | os.PathLike[str]) -> bool:
    """Whether a run folder holds snapshots (and so keeps taking them when resumed)."""
    return bool(_snapshot_files(Path(run)))


def keep_snapshots(run: str | os.PathLike[str], epochs: int) -> None:
    """Delete the snapshots of epochs after `epochs` and unfinished writes (a resumed run redoes those epochs)."""
    folder = Path(run) / SNAPSHOTS
    for epoch, path in _snapshot_files(Path(run)).items():
        if epoch > epochs:
            path.unlink()
    for tmp in folder.glob("*.tmp") if folder.is_dir() else []:
        tmp.unlink()


def read_snapshot(path: Path) -> Snapshot:
    t = read_tensors(path)
    try:
        return Snapshot(int(t["epoch"][0]), bool(t["variational"][0]), t["codes"], t["labels"], t["originals"],
                        t["reconstructions"], t["samples"], t.get("grid"))
    except KeyError as err:
        raise CheckpointError(f"{path} is not a training snapshot (no {err} tensor)") from None


def read_snapshots(run: str | os.PathLike[str]) -> list[Snapshot]:
    """A run's snapshots of recorded epochs (those with a line in history.jsonl), oldest first.

    Raises:
        CheckpointError: `run` is not a folder, or holds no snapshot of a recorded epoch (the message says how to record them).
    """
    run = Path(run)
    if not run.is_dir():
        raise CheckpointError(f"no run folder at {run}: give the --out folder of a `vae train --snapshots` run")
    recorded = {r["epoch"] for r in read_jsonl(run / "history.jsonl")}
    snapshots = [read_snapshot(path) for epoch, path in _snapshot_files(run).items() if epoch in recorded]
    if not snapshots:
        raise CheckpointError(f"{run} holds no per-epoch snapshots to make a movie from: {HOW_TO_RECORD}")
    return snapshots


# -- drawing ------------------------------------------------------------------------------------------
def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # a scalable font (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def map_limit(snapshots: list[Snapshot]) -> float:
    """The half-width L of the square [-L, L]^2 every frame's map shows: 99.5 % of the codes of all frames, and at
    least the prior's +-3 for a VAE (so early frames show how close to 0 the codes start)."""
    extent = max(float(s.codes[:, :2].abs().quantile(0.995)) for s in snapshots) * 1.05
    floor = 3.0 if snapshots[-1].variational else 1e-3
    return max(extent, floor)


def latent_map(codes: torch.Tensor, labels: torch.Tensor, limit: float, size: int = 300, box: float | None = None) -> Any:
    """A scatter of the first two code dimensions on [-limit, limit]^2, one dot per digit coloured by its label (PIL image),
    with the square [-box, box]^2 outlined in grey when given."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    middle = (size - 1) / 2
    draw.line([(middle, 0), (middle, size)], fill=(225, 225, 225))
    draw.line([(0, middle), (size, middle)], fill=(225, 225, 225))
    if box is not None:
        corner = box / limit * (size - 1) / 2
        draw.rectangle([middle - corner, middle - corner, middle + corner, middle + corner], outline=(170, 170, 170))
    z = codes[:, :2].numpy() if codes.shape[1] >= 2 else np.stack([codes[:, 0].numpy(), np.zeros(len(codes))], 1)
    px = (z[:, 0] + limit) / (2 * limit) * (size - 1)  # z1 to the right
    py = (limit - z[:, 1]) / (2 * limit) * (size - 1)  # z2 upwards
    order = np.random.default_rng(0).permutation(len(z))  # no digit always drawn on top
    for i in order:
        if 0 <= px[i] < size and 0 <= py[i] < size:
            draw.ellipse([px[i] - 1.6, py[i] - 1.6, px[i] + 1.6, py[i] + 1.6], fill=DIGIT_COLOURS[int(labels[i]) % 10])
    draw.rectangle([0, 0, size - 1, size - 1], outline=(150, 150, 150))
    return image


def tile(images: torch.Tensor, columns: int) -> Any:
    """uint8 images (B, 1, H, W) tiled in rows of `columns` (a PIL gray image)."""
    from PIL import Image

    b, _, h, w = images.shape
    rows = math.ceil(b / columns)
    canvas = np.zeros((rows * h, columns * w), dtype=np.uint8)
    for i, image in enumerate(images[:, 0].numpy()):
        r, c = divmod(i, columns)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
    return Image.fromarray(canvas, mode="L")


def caption(snapshot: Snapshot, record: dict[str, Any] | None, epochs: int) -> tuple[str, str]:
    """The two header lines of a frame: the epoch, and its test losses from history.jsonl."""
    first = f"epoch {snapshot.epoch} / {epochs}"
    if record is None:
        return first, "(no history record for this epoch)"
    if snapshot.variational:
        second = (f"test -ELBO {record['test_loss']:.1f} = reconstruction {record['test_reconstruction']:.1f} "
                  f"+ KL {record['test_kl']:.1f}   (train loss {record['train_loss']:.1f})")
    else:
        second = f"test reconstruction {record['test_reconstruction']:.1f}   (an autoencoder: no KL term)"
    return first, second


def map_title(snapshot: Snapshot, limit: float) -> str:
    """What the map shows: the codes (2-D), or the first two of D dimensions, and its square."""
    d = snapshot.latent_dim
    what = "codes of test digits" if d == 2 else f"the first 2 of {d} code dimensions"
    return f"{what}, z in [-{limit:.3g}, {limit:.3g}]^2"


def render_frame(snapshot: Snapshot, record: dict[str, Any] | None, epochs: int, limit: float) -> Any:
    """One frame (a PIL RGB image): the header, the latent map with its legend, the decoded grid (2-D), the digit rows."""
    from PIL import Image, ImageDraw

    pad, size, header = 12, 300, 50
    two_d = snapshot.grid is not None
    rows_w = snapshot.originals.shape[-1] * ROW
    width = pad + size + pad + (size + pad if two_d else 0) + rows_w + pad
    height = header + 18 + size + 30
    frame = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(frame)
    big, small = _font(16), _font(12)
    first, second = caption(snapshot, record, epochs)
    draw.text((pad, 6), first, fill="black", font=big)
    draw.text((pad, 28), second, fill="black", font=small)
    top = header + 18
    draw.text((pad, header), map_title(snapshot, limit), fill="black", font=small)
    box = float(manifold_grid(GRID).max()) if two_d else None  # the decoded grid's square, outlined on the map
    frame.paste(latent_map(snapshot.codes, snapshot.labels, limit, size, box), (pad, top))
    for digit in range(10):  # the legend, under the map
        x = pad + digit * 30
        draw.rectangle([x, top + size + 8, x + 9, top + size + 17], fill=DIGIT_COLOURS[digit])
        draw.text((x + 12, top + size + 6), str(digit), fill="black", font=small)
    x = pad + size + pad
    if two_d:
        draw.text((x, header), "decoded over the prior (the grey square)", fill="black", font=small)
        grid = tile(snapshot.grid, GRID).resize((size, size), Image.Resampling.NEAREST)
        frame.paste(grid, (x, top))
        x += size + pad
    y = top
    for title, images in (("test digits", snapshot.originals), ("reconstructions", snapshot.reconstructions),
                          ("samples from the prior", snapshot.samples)):
        draw.text((x, y), title, fill="black", font=small)
        frame.paste(tile(images, ROW), (x, y + 16))
        y += 16 + images.shape[-2] + 14
    return frame


def write_movie(run: str | os.PathLike[str], out: str | os.PathLike[str], frame_ms: int = 400, hold_ms: int = 2000,
                quality: int = 80) -> int:
    """Draw a run's movie, one frame per recorded epoch with a snapshot, into an animated WebP or GIF; returns the frames.

    Args:
        run: the run folder of a `vae train --snapshots` run.
        out: the file to write: `.webp` (lossy with `quality`, or lossless with quality 100) or `.gif`.
        frame_ms: how long each frame shows.
        hold_ms: how long the last frame shows before the animation loops.
        quality: WebP quality, 1-100 (100: lossless).

    Raises:
        ValueError: an unknown file type or out-of-range timings or quality.
        CheckpointError: a run without snapshots (the message says how to record them).
    """
    out = Path(out)
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise ValueError(f"the movie is written as an animated WebP or GIF: --out must end in .webp or .gif, not {out.name!r}")
    if frame_ms < 10 or hold_ms < 10:
        raise ValueError(f"frames must show for at least 10 ms (got --frame-ms {frame_ms}, --hold-ms {hold_ms})")
    if not 1 <= quality <= 100:
        raise ValueError(f"--quality must be between 1 and 100, not {quality}")
    snapshots = read_snapshots(run)
    history = {r["epoch"]: r for r in read_jsonl(Path(run) / "history.jsonl")}
    epochs = _planned_epochs(Path(run), max(history))
    limit = map_limit(snapshots)
    frames = [render_frame(s, history.get(s.epoch), epochs, limit) for s in snapshots]
    durations = [frame_ms] * (len(frames) - 1) + [hold_ms]
    options: dict[str, Any] = {"quality": quality, "lossless": quality == 100, "method": 4} if kind == "WEBP" else {"optimize": True}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    frames[0].save(tmp, format=kind, save_all=True, append_images=frames[1:], duration=durations, loop=0, **options)
    tmp.replace(out)
    return len(frames)


def _planned_epochs(run: Path, last: int) -> int:
    """The epochs the run was set to train for (its checkpoint's config), or the last recorded one."""
    state = Run.load(run).state
    return max(last, state.train_config.epochs) if state is not None else last


__all__ = [
    "MovieInputs",
    "Snapshot",
    "caption",
    "has_snapshots",
    "keep_snapshots",
    "latent_map",
    "map_limit",
    "map_title",
    "read_snapshots",
    "render_frame",
    "take_snapshot",
    "tile",
    "write_movie",
    "write_snapshot",
]

r"""Out-of-distribution inputs for the anomaly benchmark: deterministic, seeded, generated on this machine.

`make_ood` returns n gray-level images (n, 1, 28, 28) in [0, 1] of one kind:

| kind | what | made from |
| --- | --- | --- |
| `letters` | a-z, A-Z in the system's TrueType fonts | glyphs drawn with PIL, then `vae.to_mnist` (crop, fit 20 x 20, centre of mass, like MNIST) |
| `symbols` | punctuation and signs (`#`, `%`, `&`, `@`, `+`, ...) | the same |
| `noise` | uniform gray noise, every pixel $U(0, 1)$ | torch's generator |
| `blank` | an all-black image | nothing |
| `near_blank` | 1 to 6 lit pixels on black | torch's generator |
| `inverted` | test digits, $1 - x$ | MNIST test digits |
| `rotated` | test digits turned by 90, 180 or 270 degrees | the same |
| `shifted` | test digits moved 6 to 9 pixels off-centre (up, down, left or right) | the same |
| `two_digits` | two test digits at half size side by side | the same |

The same `(kind, n, seed)` and the same digits give the same images, bit for bit. The glyph kinds depend
on the fonts installed (`font_files()`: every `.ttf` under `/usr/share/fonts`, sorted; PIL's bundled
default font when there is none), so they are identical on one machine, not across machines with other
fonts; the benchmark records the font list. Some outputs are legitimately digit-like (the letter O, l,
S, Z; a 0, 1 or 8 turned by 180 degrees): the benchmark measures the score on them as they come.

Usage: `python benchmarks/ood_inputs.py [--n 16] [--seed 0] [--out preview.png]`: a preview grid, one
row per kind, of the images the benchmark scores.
"""

from __future__ import annotations

import argparse
import random
import string
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

import vae

FONT_DIR = Path("/usr/share/fonts")
LETTERS = string.ascii_letters  # 52 glyphs
SYMBOLS = "!#$%&()*+/<=>?@[]{}~^|\\§¶©®±µ¿£¥×÷"
GLYPH_KINDS = ("letters", "symbols")
DIGIT_KINDS = ("inverted", "rotated", "shifted", "two_digits")
KINDS = (*GLYPH_KINDS, "noise", "blank", "near_blank", *DIGIT_KINDS)
CANVAS = 96  # side of the picture a glyph is drawn on, before vae.to_mnist


def font_files(root: Path = FONT_DIR) -> list[Path]:
    """The TrueType fonts the glyph kinds draw with: every `*.ttf` under `root`, sorted by path (math fonts left out)."""
    return sorted(p for p in root.rglob("*.ttf") if "math" not in p.name.lower()) if root.is_dir() else []


def _font(path: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(str(path), size) if path is not None else ImageFont.load_default(size)


def _glyph(char: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, angle: float) -> torch.Tensor:
    """One character, black on white, turned by `angle` degrees, as an MNIST-like digit: (1, 28, 28)."""
    image = Image.new("L", (CANVAS, CANVAS), 255)
    ImageDraw.Draw(image).text((CANVAS / 2, CANVAS / 2), char, fill=0, font=font, anchor="mm")
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
    return vae.to_mnist(image)


def _glyphs(chars: str, n: int, rng: random.Random, fonts: list[Path]) -> torch.Tensor:
    out = []
    while len(out) < n:
        char, path = rng.choice(chars), rng.choice(fonts) if fonts else None
        size, angle = rng.randint(48, 80), rng.uniform(-12.0, 12.0)
        try:
            out.append(_glyph(char, _font(path, size), angle))
        except vae.ImageError:  # a font without this glyph draws nothing: draw another
            continue
    return torch.stack(out)  # (n, 1, 28, 28)


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x (1, H, W) moved by (dy, dx) pixels, zeros shifted in (no wrap-around)."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    return out


def make_ood(kind: str, n: int, seed: int = 0, digits: torch.Tensor | None = None,
             fonts: list[Path] | None = None) -> torch.Tensor:
    """n out-of-distribution images of one kind: -> (n, 1, 28, 28) float32 in [0, 1].

    Args:
        kind: one of `KINDS`.
        n: how many, >= 1.
        seed: seeds every random choice (which digit, glyph, font, size, angle, shift, pixel).
        digits: gray-level MNIST test digits (M, 1, 28, 28) the digit kinds transform (needed for those).
        fonts: TrueType files for the glyph kinds (default: `font_files()`).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, not {n!r}")
    # one stream per (kind, seed): the kinds do not share their random choices
    rng, gen = random.Random(f"{kind}-{seed}"), torch.Generator().manual_seed(seed * len(KINDS) + KINDS.index(kind))
    if kind in GLYPH_KINDS:
        return _glyphs(LETTERS if kind == "letters" else SYMBOLS, n, rng, font_files() if fonts is None else fonts)
    if kind == "noise":
        return torch.rand(n, 1, 28, 28, generator=gen)
    if kind == "blank":
        return torch.zeros(n, 1, 28, 28)
    if kind == "near_blank":
        out = torch.zeros(n, 784)
        for i in range(n):
            lit = int(torch.randint(1, 7, (1,), generator=gen))
            out[i, torch.randperm(784, generator=gen)[:lit]] = 1.0
        return out.view(n, 1, 28, 28)
    if digits is None or digits.ndim != 4 or digits.shape[1:] != (1, 28, 28):
        raise ValueError(f"kind {kind!r} transforms MNIST digits: pass digits=(M, 1, 28, 28) gray-level test images")
    pick = torch.randint(0, digits.shape[0], (n, 2), generator=gen)  # (n, 2) digit indices
    x = digits[pick[:, 0]].float()  # (n, 1, 28, 28)
    if kind == "inverted":
        return 1.0 - x
    if kind == "rotated":
        turns = torch.randint(1, 4, (n,), generator=gen)  # 90, 180 or 270 degrees
        return torch.stack([torch.rot90(x[i], int(turns[i]), dims=(1, 2)) for i in range(n)])
    if kind == "shifted":
        sizes = torch.randint(6, 10, (n,), generator=gen)
        direction = torch.randint(0, 4, (n,), generator=gen)  # up, down, left, right
        steps = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}
        return torch.stack([_shift(x[i], steps[int(d)][0] * int(s), steps[int(d)][1] * int(s))
                            for i, (s, d) in enumerate(zip(sizes, direction))])
    halves = torch.nn.functional.avg_pool2d(digits[pick.flatten()].float(), 2).view(n, 2, 1, 14, 14)  # each digit at 14 x 14
    out = torch.zeros(n, 1, 28, 28)
    out[..., 7:21, 0:14], out[..., 7:21, 14:28] = halves[:, 0], halves[:, 1]
    return out


def preview(per_kind: int, seed: int, digits: torch.Tensor) -> Image.Image:
    """A grid: one row per kind, `per_kind` images each (light ink on black, as the model sees them)."""
    rows = [make_ood(kind, per_kind, seed, digits) for kind in KINDS]
    grid = torch.cat(rows).view(len(KINDS), per_kind, 28, 28).permute(0, 2, 1, 3).reshape(len(KINDS) * 28, per_kind * 28)
    return Image.fromarray((grid.numpy() * 255).round().astype(np.uint8))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="images per kind in the preview")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("ood_preview.png"))
    parser.add_argument("--data-root")
    args = parser.parse_args(argv)
    digits = vae.load_mnist(False, args.data_root).images
    preview(args.n, args.seed, digits).save(args.out)
    print(f"wrote {args.out}: {len(KINDS)} kinds x {args.n}; fonts: {len(font_files())} files under {FONT_DIR}")


if __name__ == "__main__":
    main()

"""Turn an arbitrary user image into an MNIST-like 28x28 input, the way MNIST itself was made.

MNIST digits were size-normalised to fit a 20x20 box keeping their aspect ratio (anti-aliased,
hence gray levels), then placed in a 28x28 field so that the centre of mass of the pixels sits
at the centre (LeCun et al.). [`to_mnist`][vae.preprocess.to_mnist] does the same to a drawing
or a photo of a digit:

1. convert to gray levels in [0, 1], flattening transparency onto white;
2. detect the polarity from the border (dark ink on light paper is inverted to light ink on black);
3. remove the background level and faint noise, crop to the ink;
4. resize so the longer side is 20 pixels, keeping the aspect ratio;
5. paste into 28x28 so that the centre of mass lands at the centre (pixel (14, 14), as in MNIST).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

MAX_IMAGE_SIDE = 4096
MAX_IMAGE_PIXELS = 16_000_000
MIN_IMAGE_SIDE = 8
MNIST_CENTRE = 14.0  # row and column of the centre of mass of MNIST digits (pixel indices)
INK_THRESHOLD = 0.15  # ink below this fraction of the strongest ink is treated as background


class ImageError(ValueError):
    """An image that cannot be turned into a digit: unreadable, too large, too small or empty."""


def open_image(source: str | os.PathLike[str] | bytes | Image.Image | np.ndarray, max_side: int = MAX_IMAGE_SIDE) -> Image.Image:
    """Open an image from a path, bytes, a PIL image or an array, refusing oversized ones early.

    A file or bytes is checked from its header alone (PIL decodes lazily), so a 10000 x 10000
    upload is refused before its pixels are decoded.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, max_side)
    if isinstance(source, Image.Image):
        _check_size(source.size, max_side)
        return source
    image = _open_header(source, f"the limit is {max_side} pixels per side")
    try:
        _check_size(image.size, max_side)  # header only: nothing decoded yet
        image.load()
    except ImageError:
        image.close()
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        image.close()
        raise ImageError(f"the image could not be decoded ({err}); it may be truncated") from None
    return image


def image_size(source: str | os.PathLike[str] | bytes, limit: str = "PIL opens at most about 178 million pixels") -> tuple[int, int]:
    """The (width, height) an image file's header declares, its pixels not decoded; an ImageError if it is no image.

    `limit` says, in the message for an image beyond PIL's own bound (about 178 million pixels), what is accepted.
    """
    with _open_header(source, limit) as image:
        return image.size


def _open_header(source: str | os.PathLike[str] | bytes, limit: str) -> Image.Image:
    """The image opened lazily (PIL reads the header, not the pixels), or an ImageError naming `limit`."""
    try:
        with warnings.catch_warnings():
            # PIL warns above ~89 Mpixels (and raises above twice that); the caller's own, lower limit is checked next.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source))
    except Image.DecompressionBombError:
        raise ImageError(f"the image is far too large; {limit}. Crop or scale it down") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ImageError(f"not a readable image ({type(err).__name__}); upload a PNG or JPEG of a digit") from None


def _check_size(size: tuple[int, int], max_side: int) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise ImageError(f"the image is empty ({w}x{h} pixels)")
    if w > max_side or h > max_side or w * h > MAX_IMAGE_PIXELS:
        raise ImageError(f"the image is {w}x{h} pixels; the limit is {max_side} pixels per side. Crop or scale it down")


def _from_array(array: np.ndarray, max_side: int) -> Image.Image:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageError(f"an image array must be (H, W) or (H, W, 1-4 channels), not shape {array.shape}")
    _check_size((array.shape[1], array.shape[0]), max_side)
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError("the image contains NaN or infinite values")
        a = np.clip(a * 255.0 if a.max() <= 1.0 else a, 0, 255).astype(np.uint8)
    elif a.dtype == np.uint16:  # 16-bit gray levels: keep their range (clipping at 255 would saturate them)
        a = (a.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    mode = {2: "L", 3: {2: "LA", 3: "RGB", 4: "RGBA"}.get(a.shape[-1], "L")}[a.ndim]
    return Image.fromarray(a, mode=mode)


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Gray levels in [0, 1], shape (H, W); transparent pixels count as white paper.

    16-bit grayscale (PNG, TIFF: modes `I;16*`) is scaled by 65535; a 32-bit integer image (`I`)
    by 65535 when any value exceeds 255 (how PIL opens some 16-bit files), else by 255; a float
    image (`F`) is taken as [0, 1] when its values stay within it, else as [0, 255].
    """
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)  # (H, W)
        if not np.isfinite(values).all():
            raise ImageError("the image contains NaN or infinite values")
        if image.mode == "F":
            full_scale = 1.0 if values.min() >= 0.0 and values.max() <= 1.0 else 255.0
        else:
            full_scale = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(values / full_scale, 0.0, 1.0).astype(np.float32)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1] (1 = strongest ink), whatever the polarity of the picture.

    The background level is the median of the border pixels; if it is light, the picture is dark
    ink on light paper and is inverted. The background level is subtracted and the result is
    scaled so that the strongest ink is 1.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = (background - gray) if background > 0.5 else (gray - background)
    ink = np.clip(ink, 0.0, None)
    peak = float(ink.max())
    if peak < 0.1:  # less than a tenth of the gray range: nothing is drawn
        raise ImageError("the image is empty: no ink stands out from the background. Draw or upload a digit")
    ink = ink / peak
    ink[ink < INK_THRESHOLD] = 0.0
    return ink


def to_mnist(source: str | os.PathLike[str] | bytes | Image.Image | np.ndarray) -> torch.Tensor:
    """An MNIST-like digit: (1, 28, 28) float tensor in [0, 1], light ink on black.

    Accepts a path, bytes, a PIL image or an array of any size (up to
    `MAX_IMAGE_SIDE` per side), RGB, RGBA or grayscale, dark ink on white or light ink on black.

    Raises:
        ImageError: unreadable, too large, empty (no ink), or too small to hold a digit.
    """
    image = open_image(source)
    if min(image.size) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"the image is {image.size[0]}x{image.size[1]} pixels: too small to hold a digit "
            f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} is needed)"
        )
    ink = ink_map(to_grayscale(image))
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]  # bounding box of the ink
    h, w = crop.shape
    scale = 20.0 / max(h, w)  # the longer side becomes 20 pixels
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = Image.fromarray((crop * 255).astype(np.uint8), mode="L").resize((new_w, new_h), Image.Resampling.LANCZOS)
    box = np.asarray(resized, dtype=np.float32) / 255.0  # (new_h, new_w), at most 20x20
    total = box.sum()
    if total <= 0:
        raise ImageError("the image is empty after resizing: draw a larger or darker digit")
    ys, xs = np.indices(box.shape)
    com_y, com_x = (ys * box).sum() / total, (xs * box).sum() / total  # centre of mass in the box
    # Paste into a padded canvas so the centre of mass lands at pixel (14, 14) of 28x28: that is where
    # MNIST's own digits have it (the test set's mean is (13.99, 14.01)), half a pixel off the
    # geometric centre 13.5; matching it makes a real MNIST digit pass through almost unchanged.
    canvas = np.zeros((28 + 2 * 28, 28 + 2 * 28), dtype=np.float32)
    top = int(round(28 + MNIST_CENTRE - com_y))
    left = int(round(28 + MNIST_CENTRE - com_x))
    canvas[top : top + box.shape[0], left : left + box.shape[1]] = box
    out = canvas[28:56, 28:56]
    return torch.from_numpy(np.clip(out, 0.0, 1.0).copy()).unsqueeze(0)  # (1, 28, 28)

"""Preprocessing user images into MNIST-like digits: drawn-style inputs, a real digit, and bad inputs.

The digits are synthesised with PIL's ImageDraw: thick strokes, off-centre in large canvases, in
both polarities, as RGBA with a transparent background, as grayscale and as float arrays.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFile

from vae import ImageError, to_mnist
from vae.preprocess import image_size, open_image

CANVAS = (480, 360)  # (W, H), larger than the digit and not square


def draw_digit(digit: str, canvas: tuple[int, int] = CANVAS, origin: tuple[int, int] = (300, 40), scale: float = 1.0,
               width: int = 28, ink: int | tuple = 0, paper: int | tuple = 255, mode: str = "L") -> Image.Image:
    """A hand-drawn-looking digit with thick strokes, placed off-centre (top right by default)."""
    image = Image.new(mode, canvas, paper)
    draw = ImageDraw.Draw(image)
    ox, oy = origin

    def p(x: float, y: float) -> tuple[float, float]:
        return ox + scale * x, oy + scale * y

    if digit == "1":
        draw.line([p(60, 0), p(60, 250)], fill=ink, width=width)
        draw.line([p(20, 40), p(60, 0)], fill=ink, width=width)
    elif digit == "7":
        draw.line([p(0, 0), p(140, 0)], fill=ink, width=width)
        draw.line([p(140, 0), p(50, 250)], fill=ink, width=width)
    elif digit == "0":
        draw.ellipse([p(0, 0), p(120, 220)], outline=ink, width=width)
    else:
        raise ValueError(digit)
    return image


def ink_box(t: torch.Tensor, level: float = 0.0) -> tuple[int, int]:
    """Height and width of the bounding box of pixels above `level`."""
    rows, cols = torch.nonzero(t[0] > level, as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def centre_of_mass(t: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    m = t[0].sum()
    return float((t[0] * ys).sum() / m), float((t[0] * xs).sum() / m)


def assert_mnist_like(t: torch.Tensor) -> None:
    """Shape, range, a 20x20 box whose longer side is ~20 and a centred centre of mass."""
    assert t.shape == (1, 28, 28) and t.dtype == torch.float32
    assert t.min() >= 0 and t.max() <= 1 and t.max() > 0.9
    h, w = ink_box(t)
    assert max(h, w) <= 20 and max(h, w) >= 19, (h, w)
    cy, cx = centre_of_mass(t)
    # the centre: 13.5 is the geometric centre of 28 pixels, MNIST's own digits sit at 14.0
    assert 13.0 <= cy <= 15.0 and 13.0 <= cx <= 15.0, (cy, cx)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("digit", ["1", "7", "0"])
def test_drawn_digits_are_normalised_like_mnist(digit: str) -> None:
    t = to_mnist(draw_digit(digit))
    assert_mnist_like(t)
    h, w = ink_box(t)
    if digit == "1":
        assert h >= 19 and w < 16  # a tall, narrow digit keeps its aspect ratio
    assert t[0, :, :4].sum() == 0 and t[0, :, -4:].sum() == 0  # the 20-pixel box leaves blank margins


@pytest.mark.parametrize("digit", ["1", "7", "0"])
def test_position_and_size_do_not_matter(digit: str) -> None:
    a = to_mnist(draw_digit(digit, origin=(300, 40)))
    b = to_mnist(draw_digit(digit, origin=(10, 90)))
    assert torch.equal(a, b)  # a translated drawing gives the same digit
    small = to_mnist(draw_digit(digit, canvas=(200, 200), origin=(130, 20), scale=0.5, width=14))
    assert_mnist_like(small)
    assert (small - a).abs().mean() < 0.08  # drawn at half the size: nearly the same digit


def test_polarity_and_formats_give_the_same_digit() -> None:
    black_on_white = draw_digit("7", ink=0, paper=255)
    reference = to_mnist(black_on_white)
    assert_mnist_like(reference)
    white_on_black = draw_digit("7", ink=255, paper=0)
    assert torch.equal(to_mnist(white_on_black), reference)
    # RGBA: opaque black ink on a fully transparent background (what a drawing canvas exports)
    rgba = draw_digit("7", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA")
    assert torch.equal(to_mnist(rgba), reference)
    assert torch.equal(to_mnist(png_bytes(rgba)), reference)
    # RGB, blue ink on white paper; gray ink on gray paper
    rgb = draw_digit("7", ink=(20, 40, 200), paper=(255, 255, 255), mode="RGB")
    assert torch.equal(to_mnist(rgb), reference)
    assert torch.equal(to_mnist(draw_digit("7", ink=40, paper=200)), reference)
    # arrays: uint8, float in [0, 1], float in [0, 255], (H, W, 1), bool
    gray = np.asarray(white_on_black)
    assert torch.equal(to_mnist(gray), reference)
    assert torch.equal(to_mnist(gray.astype(np.float32) / 255.0), reference)
    assert torch.equal(to_mnist(gray.astype(np.float64)), reference)
    assert torch.equal(to_mnist(gray[:, :, None]), reference)
    assert torch.equal(to_mnist(gray > 127), reference)
    assert torch.equal(to_mnist(1.0 - gray.astype(np.float64) / 255.0), reference)  # black on white, floats
    assert torch.equal(to_mnist(np.asarray(rgba)), reference)


def test_paths_and_bytes(tmp_path: Path) -> None:
    image = draw_digit("0")
    reference = to_mnist(image)
    path = tmp_path / "digit.png"
    image.save(path)
    assert torch.equal(to_mnist(path), reference)
    assert torch.equal(to_mnist(str(path)), reference)
    jpeg = io.BytesIO()
    image.convert("RGB").save(jpeg, format="JPEG", quality=90)
    from_jpeg = to_mnist(jpeg.getvalue())
    assert_mnist_like(from_jpeg)
    assert (from_jpeg - reference).abs().mean() < 0.02  # JPEG artefacts are removed with the background


def test_background_noise_is_ignored() -> None:
    clean = np.asarray(draw_digit("1", ink=255, paper=0), dtype=np.float32) / 255.0
    noise = np.random.default_rng(0).uniform(0.0, 0.08, size=clean.shape).astype(np.float32)
    noisy = np.clip(clean + noise, 0, 1)
    t = to_mnist(noisy)
    assert_mnist_like(t)
    assert (t - to_mnist(clean)).abs().max() < 0.1


def test_a_real_mnist_digit_stays_close_to_itself(mnist_test) -> None:
    errors = []
    for i in range(50):
        x = mnist_test.images[i]  # (1, 28, 28) in [0, 1]
        y = to_mnist(x[0].numpy())
        assert y.shape == x.shape
        errors.append((y - x).abs().mean().item())
        cy, cx = centre_of_mass(y)
        ry, rx = centre_of_mass(x)
        assert abs(cy - ry) <= 1.0 and abs(cx - rx) <= 1.0  # placement is by whole pixels, as in MNIST
    errors_ = np.array(errors)
    assert np.median(errors_) < 0.01 and errors_.max() < 0.1, errors_


# -- bad inputs --------------------------------------------------------------------------------------
def huge_png(width: int, height: int) -> bytes:
    """A valid, tiny (12 kB) 1-bit PNG whose pixels would fill width x height bytes once decoded."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_huge_png_is_refused_from_its_header(side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = huge_png(side, side)
    assert len(data) < 200_000
    decoded = []
    original_load = ImageFile.ImageFile.load

    def spy_load(self):  # records any attempt to decode pixels
        decoded.append(self.size)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy_load)
    start = time.perf_counter()
    with pytest.raises(ImageError, match="limit is 4096 pixels per side"):
        to_mnist(data)
    assert time.perf_counter() - start < 1.0
    assert decoded == []  # refused before any pixel was decoded


def test_huge_image_file_is_refused_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(huge_png(10_000, 10_000))
    with pytest.raises(ImageError, match="10000x10000"):
        to_mnist(path)  # filterwarnings=error would turn an unclosed file's ResourceWarning into a failure


def test_oversized_arrays_and_pil_images_are_refused() -> None:
    with pytest.raises(ImageError, match="limit"):
        to_mnist(np.zeros((5000, 10), dtype=np.uint8))
    with pytest.raises(ImageError, match="limit"):
        open_image(Image.new("1", (4097, 8)))


def _truncated_png() -> bytes:
    data = png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "source, message",
    [
        pytest.param(lambda: Image.new("L", (100, 100), 255), "empty", id="blank-white"),
        pytest.param(lambda: Image.new("L", (100, 100), 0), "empty", id="blank-black"),
        pytest.param(lambda: np.full((64, 64), 0.5, dtype=np.float32), "empty", id="blank-gray-array"),
        pytest.param(lambda: Image.new("RGBA", (50, 50), (0, 0, 0, 0)), "empty", id="fully-transparent"),
        pytest.param(lambda: Image.new("L", (1, 1), 0), "too small", id="1x1"),
        pytest.param(lambda: png_bytes(Image.new("L", (1, 1), 0)), "too small", id="1x1-png"),
        pytest.param(lambda: np.zeros((0, 10), dtype=np.uint8), "empty", id="zero-size-array"),
        pytest.param(lambda: b"this is not an image, just some bytes", "not a readable image", id="non-image-bytes"),
        pytest.param(lambda: b"", "not a readable image", id="no-bytes"),
        pytest.param(_truncated_png, "truncated", id="truncated-png"),
        pytest.param(lambda: np.full((28, 28), np.nan), "NaN", id="nan-array"),
        pytest.param(lambda: np.where(np.eye(28) > 0, np.inf, 0.0), "NaN or infinite", id="inf-array"),
        pytest.param(lambda: np.zeros((3, 28, 28), dtype=np.float32), "shape", id="channels-first-array"),
        pytest.param(lambda: np.zeros((28, 28, 5), dtype=np.uint8), "shape", id="five-channels"),
        pytest.param(lambda: np.zeros(784, dtype=np.uint8), "shape", id="flat-array"),
        pytest.param(lambda: np.zeros((1, 1, 28, 28), dtype=np.float32), "shape", id="batched-array"),
    ],
)
def test_bad_inputs_raise_image_error(source, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        to_mnist(source())


def test_missing_or_non_image_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a readable image"):
        to_mnist(tmp_path / "missing.png")
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ImageError, match="not a readable image"):
        to_mnist(text)


def test_image_error_is_a_value_error() -> None:
    assert issubclass(ImageError, ValueError)


def test_16_bit_and_float_gray_images_keep_their_levels(tmp_path: Path) -> None:
    """A 16-bit PNG (opened by PIL as mode I;16) or uint16 array is scaled by 65535, not clipped at 255."""
    white_on_black = np.asarray(draw_digit("7", ink=255, paper=0))  # uint8
    reference = to_mnist(white_on_black)
    wide = white_on_black.astype(np.uint16) * 257  # the same levels on the 16-bit scale
    assert torch.allclose(to_mnist(wide), reference, atol=1e-6)
    Image.fromarray(wide).save(tmp_path / "digit16.png")
    with Image.open(tmp_path / "digit16.png") as opened:
        assert opened.mode.startswith("I")  # the path this test is about
    assert torch.allclose(to_mnist(tmp_path / "digit16.png"), reference, atol=1e-6)
    # dark ink on light paper in 16 bits: would be an all-white (empty) image if clipped at 255
    Image.fromarray((65535 - wide).astype(np.uint16)).save(tmp_path / "inverted16.png")
    assert torch.allclose(to_mnist(tmp_path / "inverted16.png"), reference, atol=1e-6)
    # PIL's 32-bit integer and float modes
    assert torch.allclose(to_mnist(Image.fromarray(wide.astype(np.int32), mode="I")), reference, atol=1e-6)
    assert torch.allclose(to_mnist(Image.fromarray(white_on_black.astype(np.float32) / 255.0, mode="F")), reference, atol=1e-6)
    assert torch.allclose(to_mnist(Image.fromarray(white_on_black.astype(np.float32), mode="F")), reference, atol=1e-6)
    with pytest.raises(ImageError, match="NaN"):
        to_mnist(Image.fromarray(np.full((40, 40), np.nan, dtype=np.float32), mode="F"))



def test_image_size_reads_the_header_and_names_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """`image_size` reads (width, height) without decoding; beyond PIL's own bound the message says what is accepted once."""
    out = io.BytesIO()
    Image.new("L", (30, 20)).save(out, format="PNG")
    assert image_size(out.getvalue()) == (30, 20)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 600 pixels is then "far too large" (over twice the bound)
    with pytest.raises(ImageError) as err:
        image_size(out.getvalue())
    assert str(err.value) == "the image is far too large; PIL opens at most about 178 million pixels. Crop or scale it down"

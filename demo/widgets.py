"""Gradio components that check what the server receives, the offline theme, and tensor <-> picture helpers.

Every value sent to an endpoint, through the page or through the API, is checked here or in the
handler before any work is done: a bad value gets a `gr.Error` that says what is allowed, and the
server keeps serving. The stock components let some values through unchecked (a NaN number, a
string for a number) or fail with an unhelpful message, so the demo uses thin subclasses that
render with the stock front-end code (`get_block_name`) but check their input in `preprocess`.

The sketchpad, whose drawings are checked file by file, is in sketchpad.py.

Output pictures go through `CachedImage`, which writes them into Gradio's cache atomically (see
`cache_file` for the race this avoids).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from gradio.data_classes import FileData, ImageData
from gradio.utils import get_upload_folder
from gradio_client.utils import is_file_obj_with_meta
from PIL import Image
from pydantic import model_validator

MAX_EXACT_INT = 2**53  # larger whole numbers are refused: no setting needs them, and floats cannot hold them exactly
FILE_META = {"_type": "gradio.FileData"}  # what marks a dict as a file for Gradio, which then checks it was uploaded
SEND_A_FILE = "upload it and send the file data Gradio returns (with gradio_client: handle_file('digit.png'))"
CACHE_SECONDS = 3600  # Gradio deletes cached files older than this, checking as often (app.py: Blocks(delete_cache=...))
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"]

# 28x28 pictures are shown large with sharp pixels; the sketchpad is kept square.
CSS = """
.pixelated img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }
.tab-intro p { margin: 0.1em 0; }
.legend-below, .legend-below svg { overflow: visible !important; }
.legend-below { margin-bottom: 2.5em; }
"""
RANDOM_CODE = "random code"  # the series of the comparison maps that shows the random codes
DIGIT_COLORS = {  # Tableau 10, one colour per digit; random codes in black
    "0": "#4e79a7",
    "1": "#f28e2b",
    "2": "#e15759",
    "3": "#76b7b2",
    "4": "#59a14f",
    "5": "#edc948",
    "6": "#b07aa1",
    "7": "#ff9da7",
    "8": "#9c755f",
    "9": "#bab0ac",
    RANDOM_CODE: "#000000",
}


def offline_theme() -> gr.themes.Base:
    """The default theme with system fonts only, so the page requests no web fonts."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)


def shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_number(value: Any, name: str, minimum: float | None, maximum: float | None, integer: bool = False) -> float | int:
    """`value` as a float (or int), or a gr.Error naming `name` and the allowed range."""
    kind = "a whole number" if integer else "a number"
    fmt = (lambda v: f"{v:.0f}") if integer else (lambda v: f"{v:g}")
    if minimum is not None and maximum is not None:
        allowed = f"{kind} from {fmt(minimum)} to {fmt(maximum)}"
    elif minimum is not None:
        allowed = f"{kind} >= {fmt(minimum)}"
    elif maximum is not None:
        allowed = f"{kind} <= {fmt(maximum)}"
    else:
        allowed = kind
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise gr.Error(f"{name} must be {allowed}, not {shorten(value)} ({type(value).__name__})")
    if isinstance(value, int) and abs(value) > MAX_EXACT_INT:  # math.isfinite(10**400) raises OverflowError; repr may too
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        raise gr.Error(f"{name} must be {allowed}, not {'-' if value < 0 else ''}an integer of about {digits} digits")
    if not math.isfinite(value):
        raise gr.Error(f"{name} must be {allowed}, not {value}")
    if integer and value != int(value):
        raise gr.Error(f"{name} must be {allowed}, not {value}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise gr.Error(f"{name} must be {allowed}, not {value:g}")
    return int(value) if integer else float(value)


def check_choice(value: Any, name: str, choices: list[Any]) -> Any:
    """The choice equal to `value` (the stored one: 8 for 8.0, whose str() differs), else a gr.Error listing them.

    Booleans are refused (`True == 1`), for numeric choices as for any other.
    """
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value in choices:
        return choices[choices.index(value)]
    listed = ", ".join(repr(c) for c in choices)
    raise gr.Error(f"{name} must be one of {listed}, not {shorten(value)}")


class CheckedNumber(gr.Number):
    """A gr.Number whose value is checked on the server: a finite number within [minimum, maximum]."""

    def get_block_name(self) -> str:
        return "number"

    def preprocess(self, payload: Any) -> float | int:
        return check_number(payload, str(self.label), self.minimum, self.maximum, integer=self.precision == 0)


class CheckedSlider(gr.Slider):
    """A gr.Slider whose value is checked on the server (type, NaN, range, whole numbers for step 1).

    `limits` overrides the range that is enforced, for sliders whose visible range depends on
    the selected model (the handler then checks the model-specific range).
    """

    limits: tuple[float, float] | None = None  # set after construction (Gradio reads props from the base signature)

    def get_block_name(self) -> str:
        return "slider"

    def preprocess(self, payload: Any) -> float | int:
        low, high = self.limits or (self.minimum, self.maximum)
        integer = float(self.step).is_integer() and float(self.minimum).is_integer()
        return check_number(payload, str(self.label), low, high, integer=integer)


class CheckedDropdown(gr.Dropdown):
    """A gr.Dropdown that names itself and its choices when it receives anything else."""

    def get_block_name(self) -> str:
        return "dropdown"

    def preprocess(self, payload: Any) -> Any:
        return check_choice(payload, str(self.label), [value for _, value in self.choices])


class CheckedRadio(gr.Radio):
    """A gr.Radio that names itself and its choices when it receives anything else."""

    def get_block_name(self) -> str:
        return "radio"

    def preprocess(self, payload: Any) -> Any:
        return check_choice(payload, str(self.label), [value for _, value in self.choices])


class BadInput(TypeError):
    """A payload of the wrong type or form. Raised while Gradio validates the payload's data model, before
    `preprocess`; pydantic lets it through unchanged (it wraps only ValueErrors, and gr.Error is one), and
    the app runs with `show_error=True`, so the client receives this message instead of a pydantic report."""


def check_file_dict(data: Any, what: str) -> None:
    """Refuse a file the server would not check: a dict without Gradio's file `meta`, or one carrying a `data:` URL.

    Gradio checks that a file was uploaded (`processing_utils._check_allowed`, before it validates the data
    model) only for dicts marked `"meta": {"_type": "gradio.FileData"}`. An image's data model (`ImageData`)
    accepts a dict without the mark, whose `path` then reaches `preprocess` unchecked: any file on the server
    would be opened (and shown back). `gr.Image.preprocess` decodes a `data:` URL in `url` whole, before the
    size of the image is checked. `what` names the input in the message.
    """
    if isinstance(data, (ImageData, FileData)):
        data = data.model_dump()
    if not is_file_obj_with_meta(data):
        raise BadInput(
            f"{what} must be a file uploaded to this server, sent as Gradio file data {{'path': ..., 'meta': {FILE_META}}}, "
            f"not {shorten(data)} ({type(data).__name__}): {SEND_A_FILE}"
        )
    url = data.get("url")
    if isinstance(url, str) and url.lstrip()[:5].lower() == "data:":
        raise BadInput(f"{what} cannot come as a data: URL, which would be decoded before its size is checked: {SEND_A_FILE}")


def uploaded_path(path: str, what: str, folders: Sequence[str | Path] = ()) -> str:
    """`path` resolved, if it names a regular file in Gradio's upload folder (or in one of `folders`); else a gr.Error.

    Nothing is opened: a path elsewhere gets the same answer whether or not it exists (no oracle for the
    server's files), and a FIFO or a device in an allowed folder is refused without being read (opening a
    FIFO blocks until someone writes to it).
    """
    real = Path(os.path.realpath(path))
    if not any(real.is_relative_to(os.path.realpath(folder)) for folder in (get_upload_folder(), *folders)):
        raise gr.Error(f"{what}: {shorten(path)} is not a file uploaded to this server: {SEND_A_FILE}")
    try:
        regular = stat.S_ISREG(real.stat().st_mode)
    except OSError:
        regular = False
    if not regular:
        raise gr.Error(
            f"{what}: the uploaded file {shorten(path)} is gone or is not a file (uploads are deleted after an hour): upload it again"
        )
    return str(real)


class ImageFile(ImageData):
    """The data model of `DigitUpload`: an uploaded file (`check_file_dict`), with a clear error for anything else."""

    @model_validator(mode="before")
    @classmethod
    def _a_file(cls, data: Any) -> Any:
        if isinstance(data, (dict, ImageData)):
            check_file_dict(data, "an image input")
            return data
        raise BadInput(
            f"an image input must be an uploaded image file (with gradio_client: handle_file('digit.png')), not {shorten(data)} ({type(data).__name__})"
        )


# -- output pictures -----------------------------------------------------------------------------
@functools.cache
def _cache_secret() -> bytes:
    """A per-process key for the cache names, so a name does not reveal (or let anyone test for) a picture's content."""
    return secrets.token_bytes(16)


def cache_file(data: bytes, suffix: str, cache_dir: str | Path) -> str:
    """`data` stored in Gradio's cache folder as `<cache_dir>/<digest>/image.<suffix>`, written atomically; its path.

    Why not let Gradio write it: for a numpy array or a PIL image, Gradio 6 (`processing_utils.
    save_pil_to_cache`) names the file after a hash of its bytes and rewrites it in place on every
    request (`Path.write_bytes`: truncate, then write). Two users who get the same picture (same
    model, seed and settings) share that path, so one request can truncate the file while another
    is streaming it: the download ends short or empty and the server logs `h11 LocalProtocolError:
    Too much/little data for declared Content-Length` (tests/test_demo_concurrency.py reproduces it).

    Here the bytes go to a private temporary file in the same folder, which is then renamed over
    the final name (`os.replace`, atomic on POSIX and Windows): a reader sees the old complete file
    or the new complete file, never a partial one. A file that already exists is not written again.
    Identical pictures still share one file (the cache stays small under load).

    Gradio's clean-up (`delete_cache`) removes files older than CACHE_SECONDS by their change time;
    a reused file keeps its first time. So the digest also covers the current half-period: a name
    is handed out for at most CACHE_SECONDS / 2 after its file was made, leaving every download at
    least that long before the clean-up may remove the file.

    Overriding the component's `postprocess` (a documented extension point of Gradio components)
    was preferred to patching Gradio's private cache functions, whose names and signatures change
    between releases.
    """
    period = int(time.time() // (CACHE_SECONDS / 2))
    digest = hashlib.blake2b(period.to_bytes(8, "little") + data, key=_cache_secret(), digest_size=20).hexdigest()
    folder = Path(cache_dir) / digest
    path = folder / f"image.{suffix}"
    if path.is_file():
        return str(path.resolve())
    folder.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(dir=folder, prefix=".image.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return str(path.resolve())


def encode_picture(value: np.ndarray | Image.Image, fmt: str) -> bytes:
    """A uint8 gray (H, W) / colour (H, W, C) array or a PIL image encoded as `fmt` (png, webp, ...)."""
    image = Image.fromarray(value) if isinstance(value, np.ndarray) else value
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


class CachedImage(gr.Image):
    """A gr.Image whose pictures are written into Gradio's cache atomically (`cache_file`).

    Accepts what gr.Image accepts, and also encoded bytes (an animated GIF with `format="gif"`),
    which the handlers can return instead of writing a temporary file of their own. Arrays, PIL
    images and bytes are stored by `cache_file`; a file path is left to Gradio, whose copy of a
    file is already atomic (`save_file_to_cache`: a staging file renamed into place).
    """

    def get_block_name(self) -> str:
        return "image"

    def postprocess(self, value: Any) -> ImageData | Any:
        if isinstance(value, (bytes, np.ndarray, Image.Image)):
            fmt = (self.format or "png").lower()
            data = value if isinstance(value, bytes) else encode_picture(value, fmt)
            return ImageData(path=cache_file(data, fmt, self.GRADIO_CACHE), orig_name=f"image.{fmt}")
        return super().postprocess(value)


class DigitUpload(CachedImage):
    """An image upload passed on as a file path (`type="filepath"`, no mode conversion).

    Gradio then reads no pixels: the handler gives the path to `vae.to_mnist`, whose
    `open_image` checks the size from the file header before decoding. The file must have been
    uploaded (`check_file_dict` in the data model, then `uploaded_path`, before Gradio touches it);
    files in `folders` (the shipped examples) are accepted too. A missing or unreadable file is
    reported as a gr.Error.
    """

    data_model = ImageFile
    folders: tuple[str, ...] = ()  # set after construction (Gradio reads props from the base signature)

    def get_block_name(self) -> str:
        return "image"

    def preprocess(self, payload: Any) -> str:
        if payload is None:
            raise gr.Error(f"{self.label}: no image was given. Upload a digit, pick an example or use a drawing")
        if isinstance(payload, ImageData) and payload.path is not None:  # None: Gradio's own error, below
            path = uploaded_path(payload.path, str(self.label), (self.GRADIO_CACHE, *self.folders))
            payload = payload.model_copy(update={"path": path})
        try:
            path = super().preprocess(payload)
        except gr.Error:
            raise
        except Exception as err:  # noqa: BLE001 - PIL cannot identify the file, no path, ...
            raise gr.Error(
                f"{self.label}: not a readable image ({type(err).__name__}); upload a PNG or JPEG of a digit"
            ) from None
        if not isinstance(path, str):
            raise gr.Error(f"{self.label}: not a readable image; upload a PNG or JPEG of a digit")
        return path


def digit_upload(folders: Sequence[str | Path] = (), **kwargs: Any) -> DigitUpload:
    """A `DigitUpload` that passes uploads on as paths, undecoded, and also accepts the files in `folders` (subclasses
    must not override `__init__`: Gradio builds the page from the base class's signature)."""
    upload = DigitUpload(type="filepath", image_mode=None, format="png", **kwargs)
    upload.folders = tuple(str(f) for f in folders)
    return upload


def checked_slider(
    minimum: float, maximum: float, value: float, limits: tuple[float, float] | None = None, **kwargs: Any
) -> CheckedSlider:
    """A `CheckedSlider`; `limits` (if given) is the range enforced instead of the visible one."""
    slider = CheckedSlider(minimum, maximum, value, **kwargs)
    slider.limits = limits
    return slider


# -- plots --------------------------------------------------------------------------------------
PlotValue = dict[str, Any]  # the value of a native plot: gradio's PlotData fields, as a dict
PLOT_DECIMALS = 4  # plotted values are sent as JSON: a few decimals are plenty


def plot_value(columns: dict[str, list[Any]], mark: str, decimals: int = PLOT_DECIMALS) -> PlotValue:
    """The value of a gr.ScatterPlot / gr.LinePlot built directly from columns, without a pandas DataFrame.

    Gradio's native plots accept a DataFrame, which they convert with `to_json` on every call (about
    10 ms for 2,000 points), or the converted value itself, `{"columns", "data", "datatypes", "mark"}`,
    which they pass through. Numbers are rounded to `decimals` (short JSON); strings are nominal.
    """
    names = list(columns)
    datatypes = {k: "nominal" if v and isinstance(v[0], str) else "quantitative" for k, v in columns.items()}
    rows = [[round(x, decimals) if isinstance(x, float) else x for x in row] for row in zip(*columns.values())]
    return {"columns": names, "data": rows, "datatypes": datatypes, "mark": mark}


def with_rows(plot: PlotValue, columns: dict[str, list[Any]], decimals: int = PLOT_DECIMALS) -> PlotValue:
    """`plot` with more rows appended (same columns, in the same order)."""
    extra = plot_value(columns, plot["mark"], decimals)
    return {**plot, "data": plot["data"] + extra["data"]}


def map_value(codes: torch.Tensor, labels: torch.Tensor) -> PlotValue:
    """A latent map: digits at their codes (N, D), first two dimensions, in digit order so the legend is too.

    Columns z1, z2, digit: the value of the Latent space, Autoencoder vs VAE and Train tabs' scatter plots.
    """
    order = torch.argsort(labels, stable=True)  # (N,)
    columns = {"z1": codes[order, 0].tolist(), "z2": codes[order, 1].tolist(), "digit": [str(d) for d in labels[order].tolist()]}
    return plot_value(columns, mark="point")


# -- pictures -----------------------------------------------------------------------------------
def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Pixel probabilities (B, 1, H, W) or (1, H, W) in [0, 1] -> gray levels uint8 (B, H, W)."""
    return (images.detach().reshape(-1, *images.shape[-2:]).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def tile(images: torch.Tensor, columns: int) -> np.ndarray:
    """A grid picture without gaps: (B, 1, H, W) -> uint8 (rows * H, columns * W); empty cells are black."""
    pixels = to_uint8(images)  # (B, H, W)
    b, h, w = pixels.shape
    rows = math.ceil(b / columns)
    grid = np.zeros((rows * h, columns * w), dtype=np.uint8)
    for i in range(b):
        r, c = divmod(i, columns)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = pixels[i]
    return grid


def gif_bytes(images: torch.Tensor, frame_ms: int = 120, scale: int = 2) -> bytes:
    """An endlessly looping animated GIF that plays the frames forward then back: (B, 1, H, W) -> GIF bytes."""
    pixels = to_uint8(images)  # (B, H, W)
    frames = [Image.fromarray(p).resize((p.shape[1] * scale, p.shape[0] * scale), Image.Resampling.NEAREST) for p in pixels]
    frames = frames + frames[-2:0:-1]  # ping-pong
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0, optimize=False)
    return out.getvalue()

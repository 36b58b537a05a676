"""The demo's sketchpad: a drawing's files checked from their headers before Gradio decodes any of them.

The browser sends a drawing as PNG files (background, layers and the flattened composite), either in
the request or posted beforehand as blobs. `DigitSketchpad` bounds both ways: the files' count, each
file's side and all of their pixels (read from the headers, nothing decoded), and the blobs waiting
for a drawing that may never be submitted. The checks shared with other inputs (file data that was
uploaded, paths inside the upload folder) live in widgets.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
from fastapi import HTTPException
from gradio.components.base import server
from gradio.components.image_editor import EditorData
from gradio.data_classes import DataWithFiles
from pydantic import model_validator
from widgets import BadInput, check_file_dict, shorten, uploaded_path

from vae.preprocess import ImageError, image_size

MAX_LAYERS = 8  # layers a drawing may hold; each one is decoded by Gradio
MAX_DRAWING_SIDE = 1024  # pixels per side of each file of a drawing: the canvases are 280x280 (up to 3.6x on dense screens)
MAX_DRAWING_PIXELS = 4 * MAX_DRAWING_SIDE**2  # all the files of one drawing together (the page sends three)
MAX_BLOB_BYTES = 4 << 20  # one file of a drawing posted as a blob (a 1024x1024 RGBA PNG compresses far below this)
MAX_PENDING_BYTES = 64 << 20  # blobs posted for drawings not yet submitted, over all sessions; the oldest go first
MAX_PENDING_DRAWINGS = 1024  # drawings with posted blobs not yet submitted (tiny blobs under many ids stay bounded too)


class Drawing(EditorData):
    """The data model of `DigitSketchpad`: a dict of uploaded image files, with a clear error for anything else."""

    @model_validator(mode="before")
    @classmethod
    def _a_drawing(cls, data: Any) -> Any:
        if isinstance(data, EditorData):
            return data
        if not isinstance(data, dict):
            raise BadInput(
                "a drawing must be a dict {'background': file or None, 'layers': [files], 'composite': file} "
                f"(with gradio_client: handle_file('drawing.png') for each file), not {shorten(data)} ({type(data).__name__})"
            )
        layers = data.get("layers")
        layers = layers if isinstance(layers, list) else []  # anything else: pydantic's report names the field
        if len(layers) > MAX_LAYERS:
            raise BadInput(f"the drawing has {len(layers)} layers; at most {MAX_LAYERS} are accepted")
        for file in (data.get("background"), data.get("composite"), *layers):
            if file is not None:
                check_file_dict(file, "each file of a drawing")
        return data


@dataclass(frozen=True)
class PendingDrawing:
    """A drawing whose files passed `DigitSketchpad.check` but are not decoded yet: `decode()` gives the sketchpad's
    value (or a gr.Error). For inputs most requests ignore, such as the mask painter."""

    decode: Callable[[], dict[str, Any]]


def _blob_bytes(blobs: Any) -> int:
    """The bytes of a drawing's posted files (`EditorDataBlobs`)."""
    files = [blobs.background, blobs.composite, *blobs.layers]
    return sum(len(f) for f in files if isinstance(f, (bytes, bytearray)))


class DigitSketchpad(gr.Sketchpad):
    """A sketchpad whose files are checked from their headers before Gradio decodes them.

    The browser sends the drawing as PNG files (background, layers and the flattened
    `composite`, each the canvas size) or as blobs posted beforehand (`payload.id`); the stock
    component decodes every one of them in full. Through the API anyone can send a 10000 x 10000
    PNG of a few kilobytes, so each file's size is first read from its header (`image_size`):
    at most MAX_DRAWING_SIDE pixels per side and MAX_DRAWING_PIXELS in all. Files must have been
    uploaded (`check_file_dict` in the data model, `uploaded_path` here).
    """

    data_model = Drawing

    def get_block_name(self) -> str:
        return "imageeditor"

    def _parts(self, payload: EditorData) -> list[tuple[str, Any]]:
        """The drawing's files, named ('background', 'composite', 'layer 1', ...): FileData, or bytes posted as blobs."""
        source: Any = self.blob_storage.get(payload.id) if payload.id is not None else payload
        if source is None:
            return []
        return [
            ("background", source.background),
            ("composite", source.composite),
            *((f"layer {i}", layer) for i, layer in enumerate(source.layers, 1)),
        ]

    def check(self, payload: EditorData) -> None:
        """Refuse a drawing with too many files, files not uploaded, unreadable or too large ones: headers only, nothing decoded."""
        parts = self._parts(payload)
        if len(parts) > MAX_LAYERS + 2:
            raise gr.Error(f"the drawing has {len(parts) - 2} layers; at most {MAX_LAYERS} are accepted")
        total = 0
        for part, file in parts:
            if file is None:
                continue
            if isinstance(file, (bytes, bytearray, memoryview)):
                source: str | bytes = bytes(file)
            elif isinstance(getattr(file, "path", None), str):
                source = uploaded_path(file.path, f"drawing ({part})", (self.GRADIO_CACHE,))
            else:
                raise gr.Error("the drawing holds a file without a path")
            try:
                w, h = image_size(source, f"a drawing's files may be at most {MAX_DRAWING_SIDE}x{MAX_DRAWING_SIDE} pixels")
            except ImageError as err:
                raise gr.Error(f"drawing ({part}): {err}") from None
            if w > MAX_DRAWING_SIDE or h > MAX_DRAWING_SIDE:
                raise gr.Error(
                    f"drawing ({part}): the file is {w}x{h} pixels; a drawing's files may be at most {MAX_DRAWING_SIDE}x"
                    f"{MAX_DRAWING_SIDE} (the canvas is 280x280). Send the drawing at its canvas size, or upload it as an image"
                )
            total += w * h
        if total > MAX_DRAWING_PIXELS:
            raise gr.Error(
                f"drawing: its files hold {total:,} pixels together; at most {MAX_DRAWING_PIXELS:,} are accepted. "
                "Send fewer layers, at the canvas size (280x280)"
            )

    @server
    def accept_blobs(self, data: DataWithFiles) -> None:
        """Gradio's upload of a drawing's files before the drawing is submitted, bounded.

        The stock handler takes a layer index as given (index 10**9 allocates a list of 10**9 entries) and
        keeps every posted file until a drawing with that id is submitted, which an API client never needs
        to do. Here a file is a background, a composite or one of MAX_LAYERS layers of at most
        MAX_BLOB_BYTES; once the pending files pass MAX_PENDING_BYTES in all or belong to more than
        MAX_PENDING_DRAWINGS drawings, the oldest drawings' are dropped (a browser that submits one later gets "the drawing is empty" and can draw again).
        """
        kind, index, files = data.data.get("type"), data.data.get("index"), data.files
        if kind not in ("background", "composite", "layer"):
            raise HTTPException(400, f"a drawing's file is a background, a composite or a layer, not {kind!r}")
        if kind == "layer":
            try:
                index = int(index)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise HTTPException(400, f"a layer's index must be a whole number, not {index!r}") from None
            if not 0 <= index < MAX_LAYERS:
                raise HTTPException(400, f"a drawing holds at most {MAX_LAYERS} layers: the index must be from 0 to "
                                         f"{MAX_LAYERS - 1}, not {index}")
        if len(files) != 1 or len(files[0][1]) > MAX_BLOB_BYTES:
            raise HTTPException(413, f"send one file of at most {MAX_BLOB_BYTES >> 20} MB per request")
        super().accept_blobs(data)
        drawing = str(data.data.get("id"))
        while len(self.blob_storage) > 1 and (len(self.blob_storage) > MAX_PENDING_DRAWINGS
                                               or sum(map(_blob_bytes, self.blob_storage.values())) > MAX_PENDING_BYTES):
            oldest = next(key for key in self.blob_storage if key != drawing)
            self.blob_storage.pop(oldest, None)

    def _forget(self, payload: EditorData) -> None:
        """Drop the blobs posted for a drawing (the stock `preprocess` does it once it has decoded them)."""
        if payload.id is not None:
            self.blob_storage.pop(payload.id, None)

    def _decode(self, payload: EditorData) -> dict[str, Any]:
        try:
            return super().preprocess(payload)  # type: ignore[return-value]
        except gr.Error:
            raise
        except Exception as err:  # noqa: BLE001 - any decoding failure is reported to the client
            raise gr.Error(
                f"the drawing could not be decoded ({type(err).__name__}); it may be truncated: send whole PNG files"
            ) from None
        finally:
            self._forget(payload)

    def preprocess(self, payload: Any) -> dict[str, Any]:
        if payload is None:
            raise gr.Error("the drawing is empty: draw a digit first")
        try:
            self.check(payload)
        except gr.Error:
            self._forget(payload)
            raise
        return self._decode(payload)

    def pending(self, payload: EditorData) -> PendingDrawing:
        """The drawing checked now (`check`) but decoded only if `decode()` is called; its blobs are taken out of
        `blob_storage` now, so a drawing never decoded leaves nothing behind."""
        try:
            self.check(payload)
        finally:
            blobs = self.blob_storage.pop(payload.id, None) if payload.id is not None else None

        def decode() -> dict[str, Any]:
            if blobs is not None:  # put back for the stock preprocess, which reads and removes them
                self.blob_storage[str(payload.id)] = blobs
            return self._decode(payload)

        return PendingDrawing(decode)

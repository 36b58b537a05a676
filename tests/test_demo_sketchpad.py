"""The sketchpad's checks (demo/sketchpad.py), called directly: a drawing's files, their sizes, the posted blobs.

tests/test_demo_bad_input.py sends drawings through the launched server, and tests/test_demo_widgets.py
checks the file inputs the sketchpad builds on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from demo_server import ROOT, demo_module, png
from PIL import ImageFile

META = {"_type": "gradio.FileData"}


@pytest.fixture(scope="module")
def sketchpad() -> Any:
    """demo/sketchpad.py, imported as the demo's modules import each other (demo/ on sys.path)."""
    return demo_module("sketchpad")


def drawing(sketchpad: Any, uploads: Path, layers: list[tuple[int, int]], composite: tuple[int, int] = (280, 280)) -> Any:
    """A validated sketchpad payload of uploaded PNG files: a composite and layers of the given sizes (width, height)."""
    files = []
    for i, size in enumerate([composite, *layers]):
        path = uploads / f"part{i}.png"
        path.write_bytes(png(size))
        files.append({"path": str(path), "meta": META})
    return sketchpad.Drawing.model_validate(
        {"background": None, "composite": files[0], "layers": files[1:]}, context={"validate_meta": True}
    )


def test_a_drawing_file_must_be_gradio_file_data(sketchpad: Any) -> None:
    for file in ({"path": "/etc/hostname"}, {"path": "x.png", "url": "data:image/png;base64,AAAA", "meta": META}):
        with pytest.raises(sketchpad.BadInput, match="each file of a drawing .*handle_file"):
            sketchpad.Drawing.model_validate(
                {"background": None, "layers": [file], "composite": None}, context={"validate_meta": True}
            )


def test_an_oversized_layer_is_refused_from_its_header(sketchpad: Any, uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    sketch = sketchpad.DigitSketchpad(type="pil", image_mode="L")
    payload = drawing(sketchpad, uploads, [(280, 280), (2000, 300)])
    decoded: list[Any] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))
    with pytest.raises(
        gr.Error, match=r"drawing \(layer 2\): the file is 2000x300 pixels; a drawing's files may be at most 1024x1024"
    ):
        sketch.preprocess(payload)
    assert decoded == []  # nothing was decoded


def test_a_drawing_has_a_pixel_budget(sketchpad: Any, uploads: Path) -> None:
    import gradio as gr

    sketch = sketchpad.DigitSketchpad(type="pil", image_mode="L")
    side = sketchpad.MAX_DRAWING_SIDE
    with pytest.raises(gr.Error, match=r"its files hold 5,242,880 pixels together; at most 4,194,304 are accepted"):
        sketch.preprocess(drawing(sketchpad, uploads, [(side, side)] * 4, composite=(side, side)))
    value = sketch.preprocess(drawing(sketchpad, uploads, [(side, side)] * 3, composite=(side, side)))  # 4 files: the budget
    assert value["composite"].size == (side, side) and len(value["layers"]) == 3


def test_a_drawing_file_outside_the_upload_folder_is_refused(sketchpad: Any, uploads: Path) -> None:
    import gradio as gr
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    sketch = sketchpad.DigitSketchpad(type="pil", image_mode="L")
    with pytest.raises(gr.Error, match=r"drawing \(composite\): '/etc/hostname' is not a file uploaded to this server"):
        sketch.preprocess(EditorData(composite=FileData(path="/etc/hostname")))


def test_posted_blobs_are_checked_and_dropped(sketchpad: Any) -> None:
    """A drawing the browser posted as blobs (`accept_blobs`): checked alike, and removed from the store even when refused."""
    import gradio as gr
    from gradio.components.image_editor import EditorData, EditorDataBlobs

    sketch = sketchpad.DigitSketchpad(type="pil", image_mode="L")
    sketch.blob_storage["a"] = EditorDataBlobs(background=None, layers=[png((4000, 10))], composite=png((280, 280)))
    with pytest.raises(gr.Error, match="layer 1.*4000x10"):
        sketch.preprocess(EditorData(id="a"))
    assert sketch.blob_storage == {}


def test_blob_uploads_are_bounded(sketchpad: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`accept_blobs` (Gradio's upload of a drawing's files before it is submitted): a layer index in range, one file of
    bounded size, and a bounded store whose oldest drawings go first; the browser's uploads are stored as before."""
    from fastapi import HTTPException
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import DataWithFiles

    sketch = sketchpad.DigitSketchpad(type="pil", image_mode="L")
    assert sketch.accept_blobs in sketch.server_fns  # what /gradio_api/component_server may call

    def post(kind: str, index: Any, drawing: str, data: bytes) -> None:  # the form fields as gradio's route passes them on
        form = {"type": kind, "index": "null" if index is None else str(index), "id": drawing, "component_id": "3", "session_hash": "s", "fn_name": "accept_blobs"}
        sketch.accept_blobs(DataWithFiles(data=form, files=[("blob", data)]))

    post("layer", "0", "a", png((280, 280)))
    post("composite", "null", "a", png((280, 280)))
    assert sketch.preprocess(EditorData(id="a"))["composite"].size == (280, 280) and sketch.blob_storage == {}
    for index, message in (("1000000000", "at most 8 layers: the index must be from 0 to 7, not 1000000000"),
                           ("-1", "not -1"), ("x", "a layer's index must be a whole number, not 'x'")):
        with pytest.raises(HTTPException, match=message) as refused:
            post("layer", index, "b", png((28, 28)))
        assert refused.value.status_code == 400
    with pytest.raises(HTTPException, match="a background, a composite or a layer, not 'mask'"):
        post("mask", None, "b", png((28, 28)))
    with pytest.raises(HTTPException, match="one file of at most 4 MB") as refused:
        post("background", None, "b", b"x" * (sketchpad.MAX_BLOB_BYTES + 1))
    assert refused.value.status_code == 413 and sketch.blob_storage == {}
    monkeypatch.setattr(sketchpad, "MAX_PENDING_BYTES", 3000)
    for drawing in "cdef":  # 1000 bytes each: the store keeps the newest three
        post("background", None, drawing, b"x" * 1000)
    assert list(sketch.blob_storage) == ["d", "e", "f"]
    post("composite", None, "f", b"x" * 5000)  # one drawing over the budget alone is kept, the others go
    assert list(sketch.blob_storage) == ["f"]
    monkeypatch.setattr(sketchpad, "MAX_PENDING_BYTES", 64 << 20)
    monkeypatch.setattr(sketchpad, "MAX_PENDING_DRAWINGS", 2)
    for drawing in "ghi":  # tiny blobs under many ids: the count is bounded too
        post("background", None, drawing, b"x")
    assert list(sketch.blob_storage) == ["h", "i"]


def test_the_pending_drawing_is_decoded_only_when_asked(sketchpad: Any, uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr
    from gradio.components.image_editor import EditorData, EditorDataBlobs

    painter = sketchpad.DigitSketchpad(type="numpy", image_mode="RGBA")
    decoded: list[Any] = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or load(self))
    pending = painter.pending(drawing(sketchpad, uploads, [(280, 280)]))
    assert decoded == []
    value = pending.decode()
    assert decoded and value["layers"][0].shape == (280, 280, 4)
    # blobs are taken out of the store at once (a drawing never decoded leaves nothing behind) and used by decode()
    painter.blob_storage["b"] = EditorDataBlobs(background=None, layers=[png((280, 280))], composite=None)
    pending = painter.pending(EditorData(id="b"))
    assert painter.blob_storage == {}
    assert pending.decode()["layers"][0].shape == (280, 280, 4) and painter.blob_storage == {}
    with pytest.raises(gr.Error, match="layer 1.*2000x2000"):  # the sizes are checked at once, not when decoded
        painter.pending(drawing(sketchpad, uploads, [(2000, 2000)]))


def test_the_docs_state_the_drawing_limits(sketchpad: Any) -> None:
    text = " ".join((ROOT / "docs" / "demo.md").read_text().split())
    side = sketchpad.MAX_DRAWING_SIDE
    assert f"a drawing file larger than {side}×{side} pixels" in text
    assert sketchpad.MAX_DRAWING_PIXELS == 4 * side * side and f"more than 4×{side}×{side} pixels together" in text
    blobs = f"at most {sketchpad.MAX_LAYERS} layers, {sketchpad.MAX_BLOB_BYTES >> 20} MB a file, and {sketchpad.MAX_PENDING_BYTES >> 20} MB"
    assert blobs in text

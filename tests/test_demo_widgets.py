"""The demo's input checks (demo/widgets.py), called directly: numbers, choices, image files and drawings.

These check each layer on its own (the data models, then the components' `preprocess`), so that a
check which a layer before it happens to cover still has a test that fails without it;
tests/test_demo_bad_input.py sends the same kinds of input through the launched server.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from demo_server import ROOT, example
from PIL import Image, ImageFile

META = {"_type": "gradio.FileData"}


@pytest.fixture(scope="module")
def widgets() -> Any:
    """demo/widgets.py, imported as the demo's modules import each other (demo/ on sys.path)."""
    sys.path.insert(0, str(ROOT / "demo"))
    try:
        return importlib.import_module("widgets")
    finally:
        sys.path.remove(str(ROOT / "demo"))


@pytest.fixture
def uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Gradio's upload folder, moved to a fresh temporary folder (Gradio reads GRADIO_TEMP_DIR on every call)."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def png(size: tuple[int, int], mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


# -- numbers and choices ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", [10**400, -(10**400), 2**53 + 1], ids=["10**400", "-10**400", "2**53+1"])
def test_huge_integers_get_a_clear_error(widgets: Any, value: int) -> None:
    import gradio as gr

    with pytest.raises(gr.Error, match=r"seed must be a whole number from 0 to 2147483647, not -?an integer of about \d+ digits"):
        widgets.check_number(value, "seed", 0, 2**31 - 1, integer=True)
    with pytest.raises(gr.Error, match="an integer of about"):  # no range to refuse it by: the size bound alone
        widgets.check_number(value, "z1", None, None)


def test_integers_up_to_the_bound_are_numbers(widgets: Any) -> None:
    assert widgets.check_number(2**53, "n", None, None, integer=True) == 2**53
    assert widgets.check_number(-(2**53), "n", None, None) == -float(2**53)


def test_a_float_choice_is_returned_as_the_stored_one(widgets: Any) -> None:
    value = widgets.check_choice(8.0, "code size D", [2, 4, 8, 16])
    assert value == 8 and type(value) is int and str(value) == "8"  # the handlers key their tables by str(d)
    assert type(widgets.check_choice(100.0, "number of labels", [100, 600])) is int
    assert widgets.check_choice("top half", "damage", ["top half"]) == "top half"


@pytest.mark.parametrize("value", [True, False, None, [8], 8.5])
def test_bools_and_others_are_not_choices(widgets: Any, value: Any) -> None:
    import gradio as gr

    with pytest.raises(gr.Error, match="code size D must be one of 0, 1, 8"):
        widgets.check_choice(value, "code size D", [0, 1, 8])


# -- image files -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        {"path": "/etc/hostname"},  # no meta: Gradio would not check that it was uploaded
        {"path": "/etc/hostname", "meta": {"_type": "something else"}},
        {"url": "http://example.com/digit.png", "meta": META},  # no path: not a file
    ],
)
def test_an_image_must_be_gradio_file_data(widgets: Any, payload: dict) -> None:
    with pytest.raises(widgets.BadInput, match=r"must be a file uploaded to this server, sent as Gradio file data.*handle_file"):
        widgets.ImageFile.model_validate(payload)


@pytest.mark.parametrize("url", ["data:image/png;base64,iVBORw0KGgo=", " DATA:image/png;base64,AAAA"])
def test_an_image_cannot_be_a_data_url(widgets: Any, url: str) -> None:
    with pytest.raises(widgets.BadInput, match="cannot come as a data: URL.*handle_file"):
        widgets.ImageFile.model_validate({"path": "x.png", "url": url, "meta": META})


def test_file_data_with_meta_passes_the_data_model(widgets: Any) -> None:
    checked = widgets.ImageFile.model_validate(
        {"path": "/tmp/gradio/abc/digit.png", "url": "http://h/gradio_api/file=x", "meta": META}
    )
    assert checked.path == "/tmp/gradio/abc/digit.png"


@pytest.mark.parametrize("path", ["/etc/hostname", "/no/such/file.png", "digit.png", "{uploads}/../outside.png"])
def test_an_image_outside_the_upload_folder_is_refused_unopened(widgets: Any, uploads: Path, path: str) -> None:
    """Whether the file exists or not, the answer is the same (no oracle), and the component refuses it by itself."""
    import gradio as gr
    from gradio.data_classes import ImageData

    (uploads.parent / "outside.png").write_bytes(Path(example(3)).read_bytes())
    path = path.format(uploads=uploads)
    upload = widgets.digit_upload(label="image")
    with pytest.raises(gr.Error) as caught:
        upload.preprocess(ImageData(path=path))
    assert caught.value.message == f"image: {widgets._short(path)} is not a file uploaded to this server: {widgets.SEND_A_FILE}"


def test_a_symlink_out_of_the_upload_folder_is_refused(widgets: Any, uploads: Path) -> None:
    import gradio as gr

    (uploads / "link.png").symlink_to(example(3))
    with pytest.raises(gr.Error, match="is not a file uploaded to this server"):
        widgets.uploaded_path(str(uploads / "link.png"), "image")
    assert widgets.uploaded_path(str(uploads / "link.png"), "image", [example(3).parent]) == str(example(3))  # the examples


def test_a_fifo_in_the_upload_folder_is_not_opened(widgets: Any, uploads: Path) -> None:
    import gradio as gr

    fifo = uploads / "digit.png"
    os.mkfifo(fifo)
    result: list[Any] = []

    def check() -> None:
        try:
            widgets.uploaded_path(str(fifo), "image")
        except gr.Error as err:
            result.append(err.message)

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    worker.join(10)
    try:
        assert not worker.is_alive(), "the check blocked on the FIFO"
        assert result and "is gone or is not a file" in result[0] and "upload it again" in result[0]
    finally:  # a reader blocked on the FIFO (a broken check) is let go: open it for writing without blocking
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_an_uploaded_file_passes(widgets: Any, uploads: Path) -> None:
    (uploads / "abc").mkdir()
    path = uploads / "abc" / "digit.png"
    path.write_bytes(Path(example(3)).read_bytes())
    assert widgets.uploaded_path(str(path), "image") == str(path.resolve())


# -- drawings ----------------------------------------------------------------------------------------
def drawing(widgets: Any, uploads: Path, layers: list[tuple[int, int]], composite: tuple[int, int] = (280, 280)) -> Any:
    """A validated sketchpad payload of uploaded PNG files: a composite and layers of the given sizes (width, height)."""
    files = []
    for i, size in enumerate([composite, *layers]):
        path = uploads / f"part{i}.png"
        path.write_bytes(png(size))
        files.append({"path": str(path), "meta": META})
    return widgets.Drawing.model_validate(
        {"background": None, "composite": files[0], "layers": files[1:]}, context={"validate_meta": True}
    )


def test_a_drawing_file_must_be_gradio_file_data(widgets: Any) -> None:
    for file in ({"path": "/etc/hostname"}, {"path": "x.png", "url": "data:image/png;base64,AAAA", "meta": META}):
        with pytest.raises(widgets.BadInput, match="each file of a drawing .*handle_file"):
            widgets.Drawing.model_validate(
                {"background": None, "layers": [file], "composite": None}, context={"validate_meta": True}
            )


def test_an_oversized_layer_is_refused_from_its_header(widgets: Any, uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    sketch = widgets.DigitSketchpad(type="pil", image_mode="L")
    payload = drawing(widgets, uploads, [(280, 280), (2000, 300)])
    decoded: list[Any] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))
    with pytest.raises(
        gr.Error, match=r"drawing \(layer 2\): the file is 2000x300 pixels; a drawing's files may be at most 1024x1024"
    ):
        sketch.preprocess(payload)
    assert decoded == []  # nothing was decoded


def test_a_drawing_has_a_pixel_budget(widgets: Any, uploads: Path) -> None:
    import gradio as gr

    sketch = widgets.DigitSketchpad(type="pil", image_mode="L")
    side = widgets.MAX_DRAWING_SIDE
    with pytest.raises(gr.Error, match=r"its files hold 5,242,880 pixels together; at most 4,194,304 are accepted"):
        sketch.preprocess(drawing(widgets, uploads, [(side, side)] * 4, composite=(side, side)))
    value = sketch.preprocess(drawing(widgets, uploads, [(side, side)] * 3, composite=(side, side)))  # 4 files: the budget
    assert value["composite"].size == (side, side) and len(value["layers"]) == 3


def test_a_drawing_file_outside_the_upload_folder_is_refused(widgets: Any, uploads: Path) -> None:
    import gradio as gr
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    sketch = widgets.DigitSketchpad(type="pil", image_mode="L")
    with pytest.raises(gr.Error, match=r"drawing \(composite\): '/etc/hostname' is not a file uploaded to this server"):
        sketch.preprocess(EditorData(composite=FileData(path="/etc/hostname")))


def test_posted_blobs_are_checked_and_dropped(widgets: Any) -> None:
    """A drawing the browser posted as blobs (`accept_blobs`): checked alike, and removed from the store even when refused."""
    import gradio as gr
    from gradio.components.image_editor import EditorData, EditorDataBlobs

    sketch = widgets.DigitSketchpad(type="pil", image_mode="L")
    sketch.blob_storage["a"] = EditorDataBlobs(background=None, layers=[png((4000, 10))], composite=png((280, 280)))
    with pytest.raises(gr.Error, match="layer 1.*4000x10"):
        sketch.preprocess(EditorData(id="a"))
    assert sketch.blob_storage == {}


def test_blob_uploads_are_bounded(widgets: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`accept_blobs` (Gradio's upload of a drawing's files before it is submitted): a layer index in range, one file of
    bounded size, and a bounded store whose oldest drawings go first; the browser's uploads are stored as before."""
    from fastapi import HTTPException
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import DataWithFiles

    sketch = widgets.DigitSketchpad(type="pil", image_mode="L")
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
        post("background", None, "b", b"x" * (widgets.MAX_BLOB_BYTES + 1))
    assert refused.value.status_code == 413 and sketch.blob_storage == {}
    monkeypatch.setattr(widgets, "MAX_PENDING_BYTES", 3000)
    for drawing in "cdef":  # 1000 bytes each: the store keeps the newest three
        post("background", None, drawing, b"x" * 1000)
    assert list(sketch.blob_storage) == ["d", "e", "f"]
    post("composite", None, "f", b"x" * 5000)  # one drawing over the budget alone is kept, the others go
    assert list(sketch.blob_storage) == ["f"]
    monkeypatch.setattr(widgets, "MAX_PENDING_BYTES", 64 << 20)
    monkeypatch.setattr(widgets, "MAX_PENDING_DRAWINGS", 2)
    for drawing in "ghi":  # tiny blobs under many ids: the count is bounded too
        post("background", None, drawing, b"x")
    assert list(sketch.blob_storage) == ["h", "i"]


def test_the_pending_drawing_is_decoded_only_when_asked(widgets: Any, uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr
    from gradio.components.image_editor import EditorData, EditorDataBlobs

    painter = widgets.DigitSketchpad(type="numpy", image_mode="RGBA")
    decoded: list[Any] = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or load(self))
    pending = painter.pending(drawing(widgets, uploads, [(280, 280)]))
    assert decoded == []
    value = pending.decode()
    assert decoded and value["layers"][0].shape == (280, 280, 4)
    # blobs are taken out of the store at once (a drawing never decoded leaves nothing behind) and used by decode()
    painter.blob_storage["b"] = EditorDataBlobs(background=None, layers=[png((280, 280))], composite=None)
    pending = painter.pending(EditorData(id="b"))
    assert painter.blob_storage == {}
    assert pending.decode()["layers"][0].shape == (280, 280, 4) and painter.blob_storage == {}
    with pytest.raises(gr.Error, match="layer 1.*2000x2000"):  # the sizes are checked at once, not when decoded
        painter.pending(drawing(widgets, uploads, [(2000, 2000)]))


def test_the_docs_state_the_drawing_limits(widgets: Any) -> None:
    text = " ".join((ROOT / "docs" / "demo.md").read_text().split())
    side = widgets.MAX_DRAWING_SIDE
    assert f"a drawing file larger than {side}×{side} pixels" in text
    assert widgets.MAX_DRAWING_PIXELS == 4 * side * side and f"more than 4×{side}×{side} pixels together" in text
    blobs = f"at most {widgets.MAX_LAYERS} layers, {widgets.MAX_BLOB_BYTES >> 20} MB a file, and {widgets.MAX_PENDING_BYTES >> 20} MB"
    assert blobs in text

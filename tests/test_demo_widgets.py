"""The demo's input checks (demo/widgets.py), called directly: numbers, choices and image files.

These check each layer on its own (the data models, then the components' `preprocess`), so that a
check which a layer before it happens to cover still has a test that fails without it;
tests/test_demo_bad_input.py sends the same kinds of input through the launched server.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from demo_server import demo_module, example

META = {"_type": "gradio.FileData"}


@pytest.fixture(scope="module")
def widgets() -> Any:
    """demo/widgets.py, imported as the demo's modules import each other (demo/ on sys.path)."""
    return demo_module("widgets")


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
    assert caught.value.message == f"image: {widgets.shorten(path)} is not a file uploaded to this server: {widgets.SEND_A_FILE}"


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

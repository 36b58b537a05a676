"""Malformed input sent to the demo's API: every case gets a clear error, and the server keeps serving.

Cases go through gradio_client (wrong types, None, bad files, out-of-range numbers) or, for NaN
and infinities that gradio_client refuses to encode and for file dicts it would never send (no
FileData meta, a data: URL, a path that was not uploaded, a FIFO), as raw JSON to
/gradio_api/call/<name>. After every case a valid request must still succeed.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from demo_server import THIRD_PARTY_WARNINGS, call_raw, demo_url, example
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

FILES: dict[str, Any] = {}  # name -> function(folder) writing the file, filled below


def _png(size: tuple[int, int], mode: str = "L", color: Any = 0) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def _digit_png() -> bytes:
    out = io.BytesIO()
    Image.open(example(3)).save(out, format="PNG")
    return out.getvalue()


FILES = {
    "huge.png": lambda: _png((10000, 10000)),  # ~100 kB on disk, 100 Mpixels decoded
    "wide.png": lambda: _png((5000, 20), color=255),
    "one.png": lambda: _png((1, 1), color=255),
    "tiny.png": lambda: _png((4, 4), color=255),
    "transparent.png": lambda: _png((64, 64), "RGBA", (0, 0, 0, 0)),
    "white.png": lambda: _png((64, 64), color=255),
    "black.png": lambda: _png((64, 64), color=0),
    "text.png": lambda: b"this is not an image",
    "empty.png": lambda: b"",
    "truncated.png": lambda: _digit_png()[:60],
    "drawing.svg": lambda: (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><circle cx="14" cy="14" r="8"/></svg>'
    ),
    "transparent280.png": lambda: _png((280, 280), "RGBA", (0, 0, 0, 0)),
    "white280.png": lambda: _png((280, 280), "RGBA", (255, 255, 255, 255)),
    "layer2000.png": lambda: _png((2000, 2000), "RGBA", (0, 0, 0, 0)),  # fine as an image, too large for a drawing
    "layer1024.png": lambda: _png((1024, 1024), "RGBA", (0, 0, 0, 0)),  # the largest side a drawing's file may have
}


@pytest.fixture(scope="session")
def client() -> Client:
    return Client(demo_url(), verbose=False)


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_inputs")
    for name, make in FILES.items():
        (folder / name).write_bytes(make())
    return folder


class File:
    """A file argument, resolved to handle_file(<folder>/<name>) at run time."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"File({self.name!r})"


class Drawing:
    """A sketchpad value whose composite (and optionally background / layers) are files; the layers are `layer` (default: a digit)."""

    def __init__(self, composite: str | None, background: str | None = None, layers: int = 0, layer: str | None = None) -> None:
        self.composite, self.background, self.layers, self.layer = composite, background, layers, layer or str(example(1))

    def __repr__(self) -> str:
        return f"Drawing({self.composite!r}, {self.background!r}, layers={self.layers}, layer={Path(self.layer).name!r})"


def resolve(value: Any, folder: Path) -> Any:
    if isinstance(value, File):
        return handle_file(folder / value.name if (folder / value.name).exists() else value.name)
    if isinstance(value, Drawing):
        f = lambda n: None if n is None else handle_file(folder / n if (folder / n).exists() else n)
        return {"background": f(value.background), "layers": [f(value.layer)] * value.layers, "composite": f(value.composite)}
    return value


DIGIT = File(str(example(3)))
# (endpoint, arguments, words the error message must contain)
CASES: list[tuple[str, tuple[Any, ...], list[str]]] = [
    # images: wrong types and missing values
    ("/reconstruct", (None, "default", 0), ["no image"]),
    ("/reconstruct", (5, "default", 0), ["image file", "handle_file"]),
    ("/reconstruct", ("/etc/passwd", "default", 0), ["image file", "handle_file"]),
    ("/reconstruct", ([1, 2, 3], "default", 0), ["image file"]),
    ("/reconstruct", ({"url": None}, "default", 0), ["file uploaded to this server", "handle_file"]),
    # images: sizes, modes, content
    ("/reconstruct", (File("huge.png"), "default", 0), ["10000x10000", "4096"]),
    ("/reconstruct", (File("wide.png"), "default", 0), ["5000x20", "4096"]),
    ("/reconstruct", (File("one.png"), "default", 0), ["1x1", "too small"]),
    ("/reconstruct", (File("tiny.png"), "default", 0), ["4x4", "too small"]),
    ("/reconstruct", (File("transparent.png"), "default", 0), ["empty"]),
    ("/reconstruct", (File("white.png"), "default", 0), ["empty"]),
    ("/reconstruct", (File("black.png"), "default", 0), ["empty"]),
    ("/reconstruct", (File("text.png"), "default", 0), ["not a readable image"]),
    ("/reconstruct", (File("empty.png"), "default", 0), ["not a readable image"]),
    ("/reconstruct", (File("truncated.png"), "default", 0), ["image"]),
    ("/reconstruct", (File("drawing.svg"), "default", 0), ["not a readable image"]),
    ("/interpolate", (File("huge.png"), DIGIT, "default", 5, "linear"), ["first digit", "4096"]),
    ("/interpolate", (DIGIT, File("white.png"), "default", 5, "linear"), ["second digit", "empty"]),
    ("/traverse", (File("one.png"), "default", 0, 3.0, 5), ["too small"]),
    # drawings
    ("/drawing_to_image", (None,), ["empty", "draw"]),
    ("/drawing_to_image", ("x",), ["drawing must be a dict"]),
    ("/drawing_to_image", (Drawing(None),), ["empty", "draw"]),
    ("/drawing_to_image", (Drawing("huge.png"),), ["10000x10000", "at most 1024x1024"]),
    ("/drawing_to_image", (Drawing("transparent280.png"),), ["empty"]),
    ("/drawing_to_image", (Drawing("white280.png"),), ["empty"]),
    ("/drawing_to_image", (Drawing("transparent280.png", background="huge.png"),), ["10000x10000"]),
    ("/drawing_to_image", (Drawing("transparent280.png", layers=20),), ["layers", "at most"]),
    ("/drawing_to_image", (Drawing("text.png"),), ["not a readable image"]),
    ("/drawing_to_image", (Drawing("one.png"),), ["too small"]),
    (
        "/drawing_to_image",
        (Drawing("transparent280.png", layers=1, layer="layer2000.png"),),
        ["layer 1", "2000x2000", "at most 1024x1024"],
    ),
    (
        "/drawing_to_image",
        (Drawing("layer1024.png", "layer1024.png", 3, "layer1024.png"),),
        ["5,242,880 pixels", "at most 4,194,304"],
    ),
    # the mask painter: checked on every request, even when the damage does not use it
    ("/damage", (DIGIT, "top half", 0.5, 14, Drawing(None, layers=1, layer="layer2000.png"), 0), ["layer 1", "2000x2000"]),
    ("/repair", (DIGIT, "top half", 0.5, 14, Drawing("huge.png"), 0, 10), ["composite", "10000x10000"]),
    # models
    ("/sample", ("nope", 4, 1.0, 0), ["model must be one of", "'default'"]),
    ("/sample", (None, 4, 1.0, 0), ["model must be one of"]),
    ("/sample", (3, 4, 1.0, 0), ["model must be one of"]),
    ("/sample", ("cvae", 4, 1.0, 0), ["model must be one of"]),
    ("/interpolate", (DIGIT, DIGIT, "cvae", 5, "linear"), ["model must be one of"]),
    ("/manifold", ("default", 5), ["model (2-D latent space) must be one of", "'latent2d'"]),
    ("/latent_map", ("../../etc",), ["must be one of"]),
    # the session's trained model, asked for by a session (this client) that has trained none
    ("/reconstruct", (DIGIT, "trained here", 0), ["no model 'trained here' in this browser session", "Train tab"]),
    ("/sample", ("trained here", 4, 1.0, 0), ["train one in the Train tab first"]),
    ("/interpolate", (DIGIT, DIGIT, "trained here", 5, "linear"), ["train one in the Train tab first"]),
    ("/latent_map", ("trained here",), ["train one in the Train tab first"]),
    ("/manifold", ("trained here", 5), ["train one in the Train tab first"]),
    ("/decode_point", ("trained here", 0.0, 0.0), ["train one in the Train tab first"]),
    ("/traverse", (DIGIT, "trained here", 0, 3.0, 5), ["train one in the Train tab first"]),
    ("/sample", ("Trained here", 4, 1.0, 0), ["model must be one of"]),
    # numbers: range, type, whole numbers
    ("/sample", ("default", 0, 1.0, 0), ["number of samples", "from 1 to 64"]),
    ("/sample", ("default", 65, 1.0, 0), ["number of samples", "from 1 to 64"]),
    ("/sample", ("default", -3, 1.0, 0), ["number of samples", "from 1 to 64"]),
    ("/sample", ("default", 2.5, 1.0, 0), ["whole number"]),
    ("/sample", ("default", "10", 1.0, 0), ["number of samples", "str"]),
    ("/sample", ("default", None, 1.0, 0), ["number of samples", "None"]),
    ("/sample", ("default", True, 1.0, 0), ["number of samples", "bool"]),
    ("/sample", ("default", [1], 1.0, 0), ["number of samples", "list"]),
    ("/sample", ("default", 4, -0.1, 0), ["temperature", "from 0 to 2"]),
    ("/sample", ("default", 4, 2.5, 0), ["temperature", "from 0 to 2"]),
    ("/sample", ("default", 4, "hot", 0), ["temperature"]),
    ("/sample", ("default", 4, 1.0, -1), ["seed", "from 0 to 2147483647"]),
    ("/sample", ("default", 4, 1.0, 2**31), ["seed"]),
    ("/sample", ("default", 4, 1.0, 1.5), ["seed", "whole number"]),
    ("/sample", ("default", 4, 1.0, 10**400), ["seed", "from 0 to 2147483647", "an integer of about 401 digits"]),
    ("/sample", ("default", -(10**400), 1.0, 0), ["number of samples", "an integer of about 401 digits"]),
    ("/sample_digit", (10, 4, 1.0, 0), ["digit", "from 0 to 9"]),
    ("/sample_digit", (-1, 4, 1.0, 0), ["digit", "from 0 to 9"]),
    ("/sample_digit", (3.5, 4, 1.0, 0), ["digit", "whole number"]),
    ("/sample_layers", (0, 4, 0), ["top codes", "from 1 to 8"]),
    ("/sample_layers", (9, 4, 0), ["top codes", "from 1 to 8"]),
    ("/sample_layers", (4, 10, 0), ["lower codes per row", "from 1 to 9"]),
    ("/sample_layers", (4, 2.5, 0), ["lower codes per row", "whole number"]),
    ("/sample_layers", (4, 4, -1), ["seed", "from 0 to 2147483647"]),
    ("/interpolate", (DIGIT, DIGIT, "default", 1, "linear"), ["steps", "from 2 to 32"]),
    ("/interpolate", (DIGIT, DIGIT, "default", 33, "linear"), ["steps", "from 2 to 32"]),
    ("/interpolate", (DIGIT, DIGIT, "default", 5, "cubic"), ["interpolation must be one of", "'spherical'"]),
    ("/manifold", ("latent2d", 1), ["grid size", "from 2 to 25"]),
    ("/manifold", ("latent2d", 26), ["grid size", "from 2 to 25"]),
    ("/decode_point", ("latent2d", 1e9, 0.0), ["z1"]),
    ("/decode_point", ("latent2d", 0.0, -100.0), ["z2", "latent2d"]),
    ("/traverse", (DIGIT, "default", 32, 3.0, 5), ["dimension", "from 0 to 31"]),
    ("/traverse", (DIGIT, "latent2d", 2, 3.0, 5), ["dimension", "from 0 to 1"]),
    ("/traverse", (DIGIT, "default", -1, 3.0, 5), ["dimension"]),
    ("/traverse", (DIGIT, "default", 0, 0.0, 5), ["span", "from 0.5 to 5"]),
    ("/traverse", (DIGIT, "default", 0, 10.0, 5), ["span", "from 0.5 to 5"]),
    ("/traverse", (DIGIT, "default", 0, 3.0, 2), ["steps", "from 3 to 21"]),
    ("/traverse", (DIGIT, "default", 0, 3.0, 22), ["steps", "from 3 to 21"]),
    ("/compare", (0, 0), ["random codes", "from 1 to 64"]),
    ("/compare", (100, 0), ["random codes", "from 1 to 64"]),
    ("/compare", (4, "a"), ["seed"]),
]

# NaN and infinities, which JSON-compliant clients cannot send: raw request bodies.
DIGIT_JSON = {"path": str(example(3)), "meta": {"_type": "gradio.FileData"}}
RAW_CASES: list[tuple[str, str, list[str]]] = [
    ("sample", '["default", NaN, 1.0, 0]', ["number of samples", "nan"]),
    ("sample", '["default", 4, NaN, 0]', ["temperature", "nan"]),
    ("sample", '["default", 4, Infinity, 0]', ["temperature", "inf"]),
    ("sample", '["default", 4, 1.0, NaN]', ["seed", "nan"]),
    ("sample_digit", "[NaN, 4, 1.0, 0]", ["digit", "nan"]),
    ("decode_point", '["latent2d", NaN, 0]', ["z1", "nan"]),
    ("decode_point", '["latent2d", 0, -Infinity]', ["z2", "inf"]),
    ("manifold", '["latent2d", -Infinity]', ["grid size", "inf"]),
    ("compare", "[Infinity, 0]", ["random codes", "inf"]),
    ("sample", '["default", 4]', ["enough input values", "got: 2"]),
    ("traverse", f'[{json.dumps(DIGIT_JSON)}, "default", 0, NaN, 5]', ["span", "nan"]),
    ("traverse", '[{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "default", 0, 1.0, 5]', ["not uploaded"]),
]


# Image files Gradio would not check: dicts without the FileData meta (their path would be opened as it is), data:
# URLs (decoded whole before any size check). Every endpoint with an image input refuses them before opening anything.
RAW_FILE = '{"path": "/etc/hostname"}'
IMAGE_ENDPOINTS = {  # endpoint -> its arguments, IMAGE standing for the image
    "reconstruct": '[IMAGE, "default", 0]',
    "interpolate": '[IMAGE, IMAGE, "default", 5, "linear"]',
    "traverse": '[IMAGE, "default", 0, 1.0, 5]',
    "damage": '[IMAGE, "top half", 0.5, 14, null, 0]',
    "repair": '[IMAGE, "top half", 0.5, 14, null, 0, 10]',
    "classify": "[IMAGE, 100]",
    "anomaly_score": "[IMAGE]",
}
NOT_FILE_DATA = ["file uploaded to this server", "'meta'", "handle_file"]
FILE_CASES: list[tuple[str, str, list[str]]] = [
    *((api, args.replace("IMAGE", RAW_FILE), NOT_FILE_DATA) for api, args in IMAGE_ENDPOINTS.items()),
    ("reconstruct", '[{"path": "/no/such/file.png"}, "default", 0]', NOT_FILE_DATA),
    ("reconstruct", '[{"path": "/etc/hostname", "meta": {"_type": "gradio.Other"}}, "default", 0]', NOT_FILE_DATA),
    ("reconstruct", '[{"path": "x.png", "url": "data:image/png;base64,iVBORw0KGgo="}, "default", 0]', NOT_FILE_DATA),
    (  # with the meta: Gradio's own check
        "reconstruct",
        '[{"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}, "default", 0]',
        ["not uploaded"],
    ),
    (
        "drawing_to_image",
        '[{"background": null, "layers": [], "composite": {"path": "/etc/hostname"}}]',
        ["each file of a drawing", "handle_file"],
    ),
    (
        "damage",
        f'[{json.dumps(DIGIT_JSON)}, "top half", 0.5, 14, {{"background": null, "layers": [{RAW_FILE}], "composite": null}}, 0]',
        ["each file of a drawing", "handle_file"],
    ),
]


def upload(path: Path) -> str:
    """`path` uploaded to the demo as a browser does (POST /gradio_api/upload); the server's path of the copy."""
    with open(path, "rb") as f:
        r = httpx.post(f"{demo_url()}/gradio_api/upload", files={"files": (path.name, f, "image/png")}, timeout=30)
    r.raise_for_status()
    return r.json()[0]


def file_json(path: str, **fields: Any) -> str:
    return json.dumps({"path": path, "meta": {"_type": "gradio.FileData"}, **fields})


def still_serving(client: Client) -> None:
    assert client.predict("latent2d", 1, 1.0, 0, api_name="/sample")


@pytest.mark.parametrize(("endpoint", "args", "words"), CASES, ids=[f"{c[0][1:]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_gets_a_clear_error(
    client: Client, files: Path, endpoint: str, args: tuple[Any, ...], words: list[str]
) -> None:
    start = time.perf_counter()
    with pytest.raises(AppError) as caught:
        client.predict(*(resolve(a, files) for a in args), api_name=endpoint)
    message = str(caught.value)
    assert all(w.lower() in message.lower() for w in words), message
    assert "Traceback" not in message and "upstream Gradio app has raised an exception" not in message
    assert time.perf_counter() - start < 20  # a 10000 x 10000 image is refused from its header, not decoded
    still_serving(client)


@pytest.mark.parametrize(("api", "data", "words"), RAW_CASES, ids=[f"raw-{c[0]}-{i}" for i, c in enumerate(RAW_CASES)])
def test_raw_bad_numbers_get_a_clear_error(client: Client, api: str, data: str, words: list[str]) -> None:
    if "/demo/examples/" in data:  # the file must be uploaded first: only uploads are accepted
        uploaded = client.predict(handle_file(example(3)), "default", 0, api_name="/reconstruct")[0]
        data = data.replace(str(example(3)), uploaded)
    event, message = call_raw(demo_url(), api, '{"data": ' + data + "}")
    assert event == "error", (event, message)
    assert all(w.lower() in message.lower() for w in words), message
    still_serving(client)


@pytest.mark.parametrize(("api", "data", "words"), FILE_CASES, ids=[f"file-{c[0]}-{i}" for i, c in enumerate(FILE_CASES)])
def test_files_gradio_would_not_check_are_refused(client: Client, api: str, data: str, words: list[str]) -> None:
    if "/demo/examples/" in data:  # the valid digit of a case must be uploaded first
        data = data.replace(str(example(3)), upload(example(3)))
    event, message = call_raw(demo_url(), api, '{"data": ' + data + "}")
    assert event == "error", (event, message)  # the old code opened the file and showed it back
    assert all(w.lower() in message.lower() for w in words), message
    still_serving(client)


def test_a_missing_and_an_existing_file_get_the_same_answer(client: Client) -> None:
    """No oracle for the server's files: the answer does not depend on whether the path exists, with or without meta."""
    for body in ('[{{"path": "{}"}}, "default", 0]', '[{{"path": "{}", "meta": {{"_type": "gradio.FileData"}}}}, "default", 0]'):
        answers = [
            call_raw(demo_url(), "reconstruct", '{"data": ' + body.format(path) + "}")
            for path in ("/etc/hostname", "/etc/no-such-file")
        ]
        assert answers[0][0] == answers[1][0] == "error"
        assert answers[0][1] == answers[1][1].replace("/etc/no-such-file", "/etc/hostname"), answers


def test_a_fifo_path_does_not_block_a_worker(client: Client, tmp_path: Path) -> None:
    """The old code opened the FIFO: the worker waited for a writer, for ever (the event stream's heartbeats keep
    the client waiting too, so the call runs in a thread with a deadline)."""
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    for body in (json.dumps({"path": str(fifo)}), file_json(str(fifo))):
        answers: list[tuple[str, str]] = []
        caller = threading.Thread(
            target=lambda b=body, out=answers: out.append(
                call_raw(demo_url(), "reconstruct", '{"data": [' + b + ', "default", 0]}')
            ),
            daemon=True,
        )
        caller.start()
        caller.join(30)
        blocked = caller.is_alive()
        if blocked:  # let the worker go: open the FIFO for writing without blocking, and close it (end of file)
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            caller.join(30)
        assert not blocked, "a worker opened the FIFO and waited on it"
        event, message = answers[0]
        assert event == "error" and "uploaded" in message, message
    still_serving(client)


def test_a_data_url_is_refused_before_it_is_decoded(client: Client) -> None:
    """A 6000x6000 PNG of 50 kB as a data: URL: refused unread (the old code let Gradio decode it whole, then refused the
    decoded 6000x6000 image). With the meta, Gradio replaces `url` by the upload's own (demo/widgets.py checks both)."""
    out = io.BytesIO()
    Image.new("L", (6000, 6000)).save(out, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
    for api, args in IMAGE_ENDPOINTS.items():
        event, message = call_raw(
            demo_url(), api, '{"data": ' + args.replace("IMAGE", json.dumps({"path": "x.png", "url": url})) + "}"
        )
        assert event == "error" and all(w in message for w in NOT_FILE_DATA) and "6000" not in message, (api, message)
    still_serving(client)


def test_the_mask_painter_is_decoded_only_for_a_painted_mask(client: Client, tmp_path: Path) -> None:
    """A painter layer whose header is fine but whose pixels cannot be decoded: ignored by the other damages."""
    noise = np.random.default_rng(0).integers(0, 256, (280, 280, 4), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="PNG")
    (tmp_path / "cut.png").write_bytes(out.getvalue()[: len(out.getvalue()) // 2])
    painter = {"background": None, "layers": [handle_file(tmp_path / "cut.png")], "composite": None}
    _, note = client.predict(handle_file(example(3)), "top half", 0.5, 14, painter, 0, api_name="/damage")
    assert "392 of 784 pixels missing" in note
    with pytest.raises(AppError, match="the drawing could not be decoded"):
        client.predict(handle_file(example(3)), "painted mask", 0.5, 14, painter, 0, api_name="/damage")
    still_serving(client)


def test_blob_uploads_of_a_drawing_are_bounded(client: Client) -> None:
    """Gradio's `accept_blobs` (a sketchpad's files posted before the drawing is submitted) through the HTTP route: a layer
    index of 10**9 (the stock handler allocated a list that long) and an oversized file are refused; a valid one is kept."""
    components = httpx.get(f"{demo_url()}/config", timeout=30).json()["components"]
    sketch = next(c["id"] for c in components if c.get("props", {}).get("elem_id") == "recon-sketch")

    def post(index: str, data: bytes) -> httpx.Response:
        form = {"type": "layer", "index": index, "id": "probe", "component_id": str(sketch), "session_hash": "probe",
                "fn_name": "accept_blobs"}
        return httpx.post(f"{demo_url()}/gradio_api/component_server", data=form, files={"blob": ("blob", data)}, timeout=30)

    huge = post(str(10**9), b"x")
    assert huge.status_code == 400 and "at most 8 layers" in huge.text, huge.text
    big = post("0", b"x" * ((4 << 20) + 1))
    assert big.status_code == 413 and "at most 4 MB" in big.text, big.text
    assert post("0", b"x" * 100).status_code == 200
    still_serving(client)


def test_there_are_at_least_fifty_cases() -> None:
    assert len(CASES) + len(RAW_CASES) >= 50


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "1", "CMYK", "inverted"])
def test_odd_but_valid_images_are_accepted(client: Client, tmp_path: Path, mode: str) -> None:
    """Modes and polarities other than MNIST's are converted, not refused."""
    digit = np.asarray(Image.open(example(3)).resize((112, 112)))  # light ink on black
    if mode == "inverted":
        image, suffix = Image.fromarray(255 - digit), "png"
    elif mode == "RGBA":  # dark ink on a transparent background
        rgba = np.zeros((112, 112, 4), dtype=np.uint8)
        rgba[..., 3] = digit
        image, suffix = Image.fromarray(rgba), "png"
    elif mode == "CMYK":
        image, suffix = Image.fromarray(digit).convert("CMYK"), "jpg"
    elif mode == "I;16":
        image, suffix = Image.fromarray(digit.astype(np.uint16) * 257), "png"
    else:
        image, suffix = Image.fromarray(digit).convert(mode), "png"
    path = tmp_path / f"digit.{suffix}"
    image.save(path)
    seen, *_ = client.predict(handle_file(path), "default", 0, api_name="/reconstruct")
    reference, *_ = client.predict(handle_file(example(3)), "default", 0, api_name="/reconstruct")
    a, b = (np.asarray(Image.open(p).convert("L"), dtype=np.float32) / 255 for p in (seen, reference))
    assert a.shape == (28, 28)
    assert np.abs(a - b).mean() < 0.1  # the same digit, 16-bit levels included (scaled, not clipped at 255)

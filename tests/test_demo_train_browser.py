"""The Train tab in headless Chromium: set a short run, press Train, see the first map at once and a different one at the end.

The page is served by tests/train_server.py (the tab alone, with the test limits); Chromium and
Playwright are set up as in tests/test_demo_browser.py. Every request the page makes must go to
the demo's own host.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from demo_server import THIRD_PARTY_WARNINGS
from PIL import Image
from test_demo_browser import CHROMIUM, CHROMIUM_ARGS, LOCAL_HOSTS, TIMEOUT_MS, set_slider, wait_for_image, wait_for_plot
from train_server import train_server

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]


@pytest.fixture(scope="module")
def page():
    from playwright import sync_api as playwright_api

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium not found: apt-get install -y chromium chromium-driver")
    with train_server() as url, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.requests = []  # type: ignore[attr-defined]
        pg.errors = []  # type: ignore[attr-defined]
        pg.on("request", lambda r: pg.requests.append(r.url))  # type: ignore[attr-defined]
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))  # type: ignore[attr-defined]
        # not "networkidle": a page with a gr.State keeps a heartbeat stream open (Gradio drops a session's state
        # when it closes), so the network is never idle
        pg.goto(url, wait_until="load")
        pg.locator("#train-button").wait_for(state="visible")
        yield pg
        context.close()
        browser.close()


def map_picture(page) -> np.ndarray:
    """The drawn map (the plot's pixels) as gray levels."""
    wait_for_plot(page, "train-map")
    page.wait_for_timeout(700)  # let the plot finish its transition
    png = page.locator("#train-map canvas, #train-map svg.marks").first.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)


RECORD_STATUS = """() => {  // every text the status line shows, in order: the updates as the page received them
    window.statusTexts = [];
    const el = document.querySelector('#train-status');
    new MutationObserver(() => {
        const text = el.innerText;
        if (window.statusTexts[window.statusTexts.length - 1] !== text) window.statusTexts.push(text);
    }).observe(el, {subtree: true, childList: true, characterData: true});
}"""


def finished(page, runs: int) -> None:
    page.wait_for_function(f"() => window.statusTexts.filter(t => t.includes('Finished')).length >= {runs}")


def test_press_train_and_watch_the_map_change(page, tmp_path: Path) -> None:
    import vae

    set_slider(page, "train-images", 640)
    set_slider(page, "train-epochs", 5)  # 50 steps, a view every 10
    page.evaluate(RECORD_STATUS)
    page.locator("#train-button").click()
    finished(page, 1)
    texts = page.evaluate("() => window.statusTexts")
    assert any("Untrained network" in t for t in texts) and any(t.startswith("Training") for t in texts), texts  # it streamed
    assert "50 steps" in texts[-1]
    vae_map, vae_grid = map_picture(page), wait_for_image(page, "train-grid")
    legend = page.locator("#train-losses svg text").all_text_contents()  # the plot drew both series
    assert "reconstruction" in legend and "total" in legend, legend
    with page.expect_download() as download:  # the download button hands over the trained model
        page.locator("#train-download").click()
    assert download.value.suggested_filename == "trained_model.zip"
    archive = tmp_path / "trained_model.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as files:
        files.extractall(tmp_path / "model")
    assert vae.load(tmp_path / "model").config.kind == "vae"
    # one click on a preset trains an autoencoder with the same data and length: another map, another grid
    page.locator("#train-preset-reconstruction_only").click()
    finished(page, 2)
    assert page.locator("#train-objective input:checked").get_attribute("value") == "reconstruction only (autoencoder)"
    ae_map = map_picture(page)
    wait_for_image(page, "train-grid", previous=vae_grid)
    assert vae_map.shape == ae_map.shape and np.abs(vae_map - ae_map).mean() > 1.0  # the points moved
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    requested = {urlparse(u) for u in page.requests}  # type: ignore[attr-defined]
    outside = {u.hostname for u in requested if u.scheme in ("http", "https", "ws", "wss")} - LOCAL_HOSTS
    assert not outside, outside

"""The real page in headless Chromium: every tab is opened and used, outputs appear, nothing leaves the machine.

Chromium comes from Debian (`apt-get install chromium`), not from Playwright's download. The test
draws a stroke on the sketchpad, picks an example, opens every tab (a sub-tab through its group:
Explore, then Reconstruction), presses its button, waits for the output pictures and plots, and
saves one screenshot per tab. It trains a tiny model in the Train tab and explores it in the
Reconstruction tab ("trained here" in the model menu). Every request the page makes must go to
the demo's own host.

The screenshots go to a temporary folder, so a test run leaves the repository as it was. To refresh
the ones the README and docs/demo.md show, run it with
`VAE_SCREENSHOTS=docs/assets/screenshots pytest tests/test_demo_browser.py`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
from demo_server import DOCS, THIRD_PARTY_WARNINGS, demo_url, page_title

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = Path(os.environ.get("VAE_SCREENSHOTS") or Path(tempfile.gettempdir()) / "vae-demo-screenshots")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
TIMEOUT_MS = 120_000  # generous: the first request of a model loads it, and CI machines may be busy
EXPLORE = ("Reconstruction", "Random sampling", "Latent interpolation", "Latent space", "Latent traversal")  # sub-tabs of Explore


@pytest.fixture(scope="module")
def page():
    from playwright import sync_api as playwright_api  # a test dependency: missing, the test fails rather than skips

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium not found: apt-get install -y chromium chromium-driver")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.requests = []  # type: ignore[attr-defined]
        pg.errors = []  # type: ignore[attr-defined]
        pg.on("request", lambda r: pg.requests.append(r.url))  # type: ignore[attr-defined]
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))  # type: ignore[attr-defined]
        # not "networkidle": a page with a gr.State keeps a heartbeat stream open (Gradio drops a session's state
        # when it closes), so the network is never idle
        pg.goto(demo_url(), wait_until="load")
        pg.locator("#recon-button").wait_for(state="visible")
        yield pg
        context.close()
        browser.close()


def open_tab(page, name: str) -> None:
    """Open a tab: a group (Explore, Compare, Use, Train), or a sub-tab of Explore after its group."""
    if name in EXPLORE:
        page.get_by_role("tab", name="Explore", exact=True).click()
    page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_timeout(300)


def set_slider(page, elem_id: str, value: int) -> None:
    """Type a value into a slider's number box, as a person would."""
    box = page.locator(f"#{elem_id} input[type='number']")
    box.fill(str(value))
    box.press("Enter")
    box.blur()


def wait_for_image(page, elem_id: str, previous: str | None = None) -> str:
    """Wait until the image component `elem_id` shows a loaded picture (different from `previous`); its src."""
    img = page.locator(f"#{elem_id} img").first
    img.wait_for(state="visible")
    page.wait_for_function(
        "([sel, prev]) => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0 && i.src !== prev; }",
        arg=[f"#{elem_id} img", previous],
    )
    return img.get_attribute("src") or ""


def wait_for_plot(page, elem_id: str) -> None:
    """Wait until the native plot `elem_id` has drawn (Vega renders into a canvas or an svg)."""
    page.locator(f"#{elem_id} canvas, #{elem_id} svg.marks").first.wait_for(state="visible")


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(500)  # let plots finish their transitions
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_reconstruction_tab_draw_and_pick(page) -> None:
    open_tab(page, "Reconstruction")
    page.locator("#recon-sketch button[aria-label='Brush']").click()
    canvas = page.locator("#recon-sketch canvas").first
    box = canvas.bounding_box()
    assert box is not None
    cx, cy, h = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["height"]
    page.mouse.move(cx - 0.05 * h, cy - 0.3 * h)  # a "1": one long slightly slanted stroke
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(cx - 0.05 * h + 0.004 * h * i, cy - 0.3 * h + 0.03 * h * i)
    page.mouse.up()
    page.locator("#recon-use-drawing").click()
    wait_for_image(page, "recon-seen")
    drawn = wait_for_image(page, "recon-mean")
    wait_for_image(page, "recon-samples")
    wait_for_plot(page, "recon-posterior")
    assert "nats" in page.locator("#recon-reading").inner_text()
    # one click on an example reconstructs it
    page.locator("#recon-examples button.gallery-item").nth(7).click()  # a typical 7
    wait_for_image(page, "recon-mean", previous=drawn)
    shoot(page, "reconstruction")


def test_sampling_tab(page) -> None:
    open_tab(page, "Random sampling")
    page.locator("#sample-button").click()
    page.locator("#sample-digit-button").click()
    wait_for_image(page, "sample-grid")
    wait_for_image(page, "sample-digit-grid")
    shoot(page, "sampling")


def test_interpolation_tab(page) -> None:
    open_tab(page, "Latent interpolation")
    page.locator("#interp-button").click()
    wait_for_image(page, "interp-strip")
    wait_for_image(page, "interp-gif")
    shoot(page, "interpolation")


def test_latent_space_tab(page) -> None:
    open_tab(page, "Latent space")
    page.locator("#map-button").click()
    wait_for_plot(page, "map-scatter")
    wait_for_image(page, "map-grid")
    page.locator("#point-button").click()
    wait_for_image(page, "map-point")
    shoot(page, "latent-space")


def test_comparison_tab(page) -> None:
    open_tab(page, "Compare")
    page.locator("#compare-button").click()
    wait_for_plot(page, "compare-ae-map")
    wait_for_plot(page, "compare-vae-map")
    wait_for_image(page, "compare-ae-grid")
    wait_for_image(page, "compare-vae-grid")
    assert "classifier" in page.locator("#compare-note").inner_text()
    shoot(page, "autoencoder-vs-vae")


def test_traversal_tab(page) -> None:
    open_tab(page, "Latent traversal")
    page.locator("#traverse-button").click()
    wait_for_image(page, "traverse-strip")
    wait_for_image(page, "traverse-top")
    assert "Dimension z0" in page.locator("#traverse-note").inner_text()
    shoot(page, "traversal")


def open_use(page, name: str) -> None:
    """A sub-tab of the Use group."""
    page.get_by_role("tab", name="Use", exact=True).click()
    page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_timeout(300)


def wait_for_text(page, elem_id: str, text: str) -> str:
    """Wait until the element `elem_id` shows `text`; its whole text."""
    page.wait_for_function("([sel, t]) => { const e = document.querySelector(sel); return e && e.innerText.includes(t); }",
                           arg=[f"#{elem_id}", text])
    return page.locator(f"#{elem_id}").inner_text()


def test_use_tabs_repair_compress_classify_and_score(page) -> None:
    """Each Use sub-tab's main button, as a person presses it: every output arrives and the page stays clean."""
    open_use(page, "Denoise & inpaint")
    page.locator("#repair-button").click()
    for elem_id in ("repair-damaged", "repair-one-pass", "repair-pca", "repair-mean", "repair-pseudo-gibbs", "repair-mwg"):
        wait_for_image(page, elem_id)
    wait_for_text(page, "repair-status", "MwG")
    shoot(page, "use-repair")
    open_use(page, "Compress")
    page.locator("#compress-button").click()
    for elem_id in ("compress-input", "compress-pca", "compress-ae", "compress-vae"):
        wait_for_image(page, elem_id)
    wait_for_plot(page, "compress-curves")
    wait_for_text(page, "compress-numbers", "nats")
    shoot(page, "use-compress")
    open_use(page, "Few labels")
    page.locator("#classify-button").click()
    assert "raw pixels" in wait_for_text(page, "classify-accuracy", "labels")
    shoot(page, "use-few-labels")
    open_use(page, "Anomaly")
    page.locator("#anomaly-button").click()
    assert "AUROC" in wait_for_text(page, "anomaly-reading", "threshold")
    shoot(page, "use-anomaly")


def test_train_a_model_then_explore_it(page) -> None:
    """A 2-step run in the Train tab; the Reconstruction tab's menu then offers it, and choosing it reconstructs with it."""
    open_tab(page, "Reconstruction")
    page.locator("#recon-button").click()
    shipped = wait_for_image(page, "recon-mean")
    page.locator("#recon-model input").click()
    page.get_by_role("option", name="ae2d", exact=True).wait_for(state="visible")  # the menu is open
    assert not page.get_by_role("option").filter(has_text="trained here").count()  # nothing trained yet
    page.keyboard.press("Escape")
    open_tab(page, "Train")
    set_slider(page, "train-images", 100)
    set_slider(page, "train-epochs", 1)
    page.locator("#train-button").click()
    page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('Finished')")
    shoot(page, "train")
    open_tab(page, "Reconstruction")
    page.locator("#recon-model input").click()
    option = page.get_by_role("option").filter(has_text="trained here")
    assert "live VAE, 2-D" in option.inner_text()
    option.click()
    wait_for_image(page, "recon-mean", previous=shipped)  # reconstructed again, by the model trained here
    assert "nats" in page.locator("#recon-reading").inner_text()


def test_a_read_more_link_opens_its_docs_page(page) -> None:
    """A tab's "Read more" link opens (in a new tab) the docs page it names, served by the demo under /docs."""
    open_tab(page, "Latent interpolation")
    link = page.locator(".tab-intro a:visible", has_text="the prior and the KL")
    assert link.get_attribute("href") == "docs/theory/kl/"
    with page.context.expect_page() as opened:
        link.click()
    docs = opened.value
    docs.wait_for_load_state()
    assert docs.title() == page_title(DOCS / "theory" / "kl.md")
    assert urlparse(docs.url).netloc == urlparse(demo_url()).netloc and urlparse(docs.url).path == "/docs/theory/kl/"
    docs.close()


def test_no_request_leaves_the_machine(page) -> None:
    hosts = {urlparse(url).hostname for url in page.requests if urlparse(url).scheme in ("http", "https", "ws", "wss")}
    assert page.requests and hosts <= LOCAL_HOSTS, sorted(hosts - LOCAL_HOSTS)


def test_no_page_errors(page) -> None:
    assert not page.errors, page.errors

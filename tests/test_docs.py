"""The documentation site: a strict offline build, checked as a reader's browser sees it.

The site is built once per session with `mkdocs build --strict` (which also executes the tutorial
notebooks), served from a local HTTP server, and loaded in headless Chromium from Debian
(`apt-get install chromium`) through Playwright. Every request the pages make is routed: anything
that is not the local server is recorded and refused, so a CDN, a web font or a remote inventory
fails the test instead of silently working online.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

import vae

from conftest import ROOT, data_root

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
THEORY = ["index", "autoencoders", "latent-variable-models", "elbo", "kl", "reparameterization", "likelihoods", "beta", "iwae", "cvae"]
NOTEBOOKS = {"train-a-vae": 3, "latent-space": 7, "check-the-math": 0}  # page -> minimum number of figures
MODULES = ["models", "objectives", "estimators", "latent", "config", "data", "preprocess", "train", "evaluate", "checkpoint", "nets", "cli"]

pytestmark = [
    # Playwright's greenlet-based sync API and the HTTP server thread may leave these behind at exit.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


# -- build and serve ------------------------------------------------------------------------------
@dataclass
class Build:
    site: Path
    output: str
    seconds: float


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "VAE_DATA_ROOT": str(data_root()), "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    script = Path(sys.executable).parent / "mkdocs"  # the console script of this environment
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "mkdocs"]
    proc = subprocess.run(
        [*command, "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{output[-6000:]}"
    return Build(site, output, seconds)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="session")
def server(build: Build) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(build.site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")  # Playwright's sync API allows one instance at a time: closed before test_demo_browser's
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium with `apt-get install -y chromium chromium-driver`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    """What one page load did: its console errors, refused requests and failed responses."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.outside_requests, f"requests leaving localhost: {self.outside_requests}"
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.failed, f"failed requests: {self.failed}"


@pytest.fixture
def visit(browser, server: str) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    visits: list[Visit] = []

    def load(path: str) -> Visit:
        page = context.new_page()
        record = Visit(page)

        def route(route) -> None:
            url = route.request.url
            if url.startswith(server) or url.startswith("data:") or url.startswith("blob:"):
                route.continue_()
            else:
                record.outside_requests.append(url)
                route.abort()

        page.route("**/*", route)
        page.on("console", lambda msg: record.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda err: record.console_errors.append(str(err)))
        page.on("requestfailed", lambda req: record.failed.append(f"{req.url} ({req.failure})") if req.url.startswith(server) else None)
        page.on("response", lambda resp: record.failed.append(f"{resp.url} -> {resp.status}") if resp.status >= 400 else None)
        page.goto(urljoin(server, path), wait_until="networkidle")
        page.wait_for_function("document.fonts.status === 'loaded'")
        visits.append(record)
        return record

    yield load
    context.close()


# -- the build --------------------------------------------------------------------------------------
def test_build_is_strict_quick_and_executes_the_notebooks(build: Build) -> None:
    assert "WARNING" not in build.output, build.output
    for name in NOTEBOOKS:
        assert f"executed {name}.ipynb" in build.output
        assert (build.site / "tutorials" / name / "index.html").is_file()
        assert (build.site / "tutorials" / f"{name}.ipynb").is_file(), "the notebook itself is downloadable"
    assert build.seconds < 600, f"the docs build took {build.seconds:.0f} s"


def test_katex_is_vendored_and_nothing_is_loaded_from_outside(build: Build) -> None:
    katex = build.site / "assets" / "katex"
    assert (katex / "katex.min.js").is_file() and (katex / "contrib" / "auto-render.min.js").is_file()
    css = (katex / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert fonts and all((katex / font).is_file() for font in fonts)
    for page in build.site.rglob("*.html"):
        html = page.read_text()
        remote = re.findall(r"<(?:script|link|img)[^>]+(?:src|href)=\"(?:https?:)?//[^\"]+\"", html)
        assert not remote, f"{page.relative_to(build.site)} loads {remote}"
        assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html


# -- links ------------------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        for key in ("href", "src"):
            if values.get(key) and tag in ("a", "img", "script", "link"):
                self.links.append(values[key])


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text())
    return parser


def _target(site: Path, page: Path, link: str) -> tuple[Path, str] | None:
    """The file and fragment an internal link points to (None for external and special links)."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
        return None
    path = unquote(parts.path)
    target = page if not path else (page.parent / path).resolve()
    if target.is_dir() or path.endswith("/"):
        target = target / "index.html"
    return target, parts.fragment


def test_every_internal_link_and_anchor_resolves(build: Build) -> None:
    """Relative links (including those in docstrings, like ../theory/kl.md#...) and their anchors."""
    broken = []
    for page in sorted(build.site.rglob("*.html")):
        if page.name == "404.html":
            continue
        for link in _parse(page).links:
            resolved = _target(build.site, page, link)
            if resolved is None:
                continue
            target, fragment = resolved
            if not target.is_file():
                broken.append(f"{page.relative_to(build.site)}: {link} (no file)")
            elif fragment and target.suffix == ".html" and unquote(fragment) not in _parse(target).ids:
                broken.append(f"{page.relative_to(build.site)}: {link} (no anchor)")
    assert not broken, "\n".join(broken)


def test_theory_and_reference_link_to_each_other(build: Build) -> None:
    """Each derivation links to its function, and the function's docstring links back."""
    pairs = [
        ("kl", "objectives", "vae.objectives.gaussian_kl", "theory/kl/#diagonal-gaussian-against-the-standard-normal"),
        ("kl", "objectives", "vae.objectives.gaussian_kl_between", "theory/kl/#two-diagonal-gaussians"),
        ("elbo", "objectives", "vae.objectives.elbo", "theory/elbo/"),
        ("iwae", "objectives", "vae.objectives.iwae_bound", "theory/iwae/"),
        ("likelihoods", "objectives", "vae.objectives.gaussian_log_likelihood", "theory/likelihoods/#gaussian-and-the-mse"),
        ("reparameterization", "models", "vae.models.VAE.reparameterize", "theory/reparameterization/"),
        ("reparameterization", "estimators", "vae.estimators.pathwise_gradient", "theory/reparameterization/#the-pathwise-estimator"),
        ("autoencoders", "models", "vae.models.Autoencoder", "theory/autoencoders/"),
        ("beta", "objectives", "vae.objectives.elbo", "theory/beta/"),
    ]
    for theory, module, identifier, backlink in pairs:
        theory_links = _parse(build.site / "theory" / theory / "index.html").links
        assert any(link.endswith(f"reference/{module}/#{identifier}") for link in theory_links), (theory, identifier)
        reference = build.site / "reference" / module / "index.html"
        assert identifier in _parse(reference).ids
        assert any(backlink in urljoin("/reference/x/", link) for link in _parse(reference).links), (module, backlink)


def test_the_api_reference_documents_the_whole_public_api(build: Build) -> None:
    missing = []
    for name in vae.__all__:
        module = getattr(vae, name).__module__
        page = build.site / "reference" / module.split(".")[-1] / "index.html"
        if not page.is_file() or f"{module}.{name}" not in _parse(page).ids:
            missing.append(f"{module}.{name}")
    assert not missing, f"public names without an API entry: {missing}"


# -- in the browser -------------------------------------------------------------------------------------
MATH_PAGES = [f"theory/{name}/" if name != "index" else "theory/" for name in THEORY] + [
    "", "reference/objectives/", "reference/estimators/", "reference/latent/", "tutorials/check-the-math/", "tutorials/train-a-vae/",
]
RENDER_CHECK = """() => {
  const math = [...document.querySelectorAll('article .arithmatex')];
  return {
    math: math.length,
    unrendered: math.filter(el => !el.querySelector('.katex')).map(el => el.textContent.slice(0, 80)),
    katex: document.querySelectorAll('article .katex').length,
    errors: [...document.querySelectorAll('.katex-error')].map(el => el.textContent.slice(0, 80)),
    text: document.querySelector('article').innerText,
    fontsLoaded: [...document.fonts].filter(f => f.family.includes('KaTeX') && f.status === 'loaded').length,
    overflowing: [...document.querySelectorAll('article div.arithmatex, article .md-typeset__scrollwrap')]
      .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.textContent.slice(0, 80)),
  };
}"""


@pytest.mark.parametrize("path", MATH_PAGES)
def test_math_is_rendered_offline(visit, path: str) -> None:
    page = visit(path)
    result = page.page.evaluate(RENDER_CHECK)
    assert result["math"] > 0 and result["katex"] > 0, "no math found"
    assert not result["unrendered"], f"math left unrendered: {result['unrendered']}"
    assert not result["errors"], f"KaTeX errors: {result['errors']}"
    for raw in ("$$", "\\(", "\\)", "\\[", "\\]"):
        assert raw not in result["text"], f"raw {raw!r} in the visible text"
    assert result["fontsLoaded"] > 0, "the KaTeX fonts did not load"
    if path.startswith("theory/") or path == "":
        assert not result["overflowing"], f"display math or a table wider than the text column: {result['overflowing']}"
    page.assert_clean()


IMAGE_CHECK = """() => [...document.querySelectorAll('article img')].map(img => ({
  src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth }))"""


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_pages_show_their_outputs(visit, name: str) -> None:
    page = visit(f"tutorials/{name}/")
    images = page.page.evaluate(IMAGE_CHECK)
    figures = [img for img in images if f"{name}_files/" in img["src"]]
    assert len(figures) >= NOTEBOOKS[name], f"{len(figures)} figures on {name}"
    assert all(img["complete"] and img["width"] > 0 for img in images), images
    text = page.page.evaluate("() => document.querySelector('article').innerText")
    assert "Traceback" not in text
    assert page.page.locator("article pre code").count() > 3, "the code cells are shown"
    page.assert_clean()


def test_the_math_notebook_shows_computed_numbers(visit) -> None:
    text = visit("tutorials/check-the-math/").page.evaluate("() => document.querySelector('article').innerText")
    assert "standard errors" in text and "quadrature" in text and "score function" in text
    assert re.search(r"closed form\s+-?\d+\.\d{4}\s+Monte Carlo\s+-?\d+\.\d{4}", text)


@pytest.mark.parametrize("path", ["theory/autoencoders/", "theory/reparameterization/", "theory/likelihoods/", "theory/iwae/", "theory/cvae/",
                                  "models/"])
def test_theory_figures_load(visit, path: str) -> None:
    page = visit(path)
    images = page.page.evaluate(IMAGE_CHECK)
    assert images and all(img["complete"] and img["width"] > 0 for img in images), images
    page.assert_clean()


def test_the_api_pages_list_the_public_functions(visit) -> None:
    page = visit("reference/")
    text = page.page.evaluate("() => document.querySelector('article').innerText")
    for name in vae.__all__:
        assert name in text, f"{name} is not listed on the API index"
    page.assert_clean()
    page = visit("reference/objectives/")
    headings = page.page.evaluate("() => [...document.querySelectorAll('article h2')].map(h => h.id)")
    for name in ["gaussian_kl", "gaussian_kl_between", "bernoulli_log_likelihood", "elbo", "iwae_bound"]:
        assert f"vae.objectives.{name}" in headings
    signature = page.page.locator("[id='vae.objectives.gaussian_kl'] + .doc-signature").inner_text()
    assert "mu: Tensor" in signature.replace("torch.", "") and "-> Tensor" in signature.replace("torch.", "")
    page.assert_clean()


def test_members_are_in_source_order(build: Build) -> None:
    ids = [i for i in re.findall(r'id="(vae\.objectives\.[a-zA-Z_]+)"', (build.site / "reference" / "objectives" / "index.html").read_text())]
    order = list(dict.fromkeys(ids))
    source = (ROOT / "vae" / "objectives.py").read_text()
    positions = [source.index(f"def {i.split('.')[-1]}(") if f"def {i.split('.')[-1]}(" in source else source.index(f"class {i.split('.')[-1]}(") for i in order]
    assert positions == sorted(positions), order


def test_the_home_page_shows_the_demo(visit) -> None:
    page = visit("")
    images = page.page.evaluate(IMAGE_CHECK)
    shots = [img for img in images if "screenshots/" in img["src"]]
    assert shots and all(img["complete"] and img["width"] > 0 for img in shots), images
    text = page.page.evaluate("() => document.querySelector('article').innerText")
    assert "python demo/app.py" in text and "vae train" in text
    page.assert_clean()


@pytest.mark.parametrize("path", ["", "tutorials/", "models/", "performance/", "demo/", "reference/models/", "404.html"])
def test_other_pages_load_cleanly(visit, path: str) -> None:
    page = visit(path)
    assert page.page.title()
    page.assert_clean()


def test_search_works_offline(visit) -> None:
    page = visit("")
    page.page.keyboard.press("/")
    page.page.locator("input.md-search__input").press_sequentially("reparameterization", delay=20)
    page.page.wait_for_selector(".md-search-result__item", timeout=15_000)
    assert page.page.locator(".md-search-result__item").count() > 0
    page.assert_clean()


def test_no_build_leftovers_in_the_repository() -> None:
    """The hook writes nothing into docs/: the generated pages and figures live only in the site."""
    for name in NOTEBOOKS:
        assert not (ROOT / "docs" / "tutorials" / f"{name}.md").exists()
        assert not (ROOT / "docs" / "tutorials" / f"{name}_files").exists()


def test_notebooks_are_stored_without_outputs() -> None:
    """The repository keeps the notebooks' source only; the build executes them."""
    import nbformat

    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "docs" / "tutorials" / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{name}: stored with outputs"

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

from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
THEORY = ["index", "autoencoders", "latent-variable-models", "elbo", "kl", "reparameterization", "likelihoods", "beta", "collapse",
          "iwae", "priors", "cvae"]
NOTEBOOKS = {"train-a-vae": 3, "latent-space": 7, "check-the-math": 1}  # page -> minimum number of figures
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
def build(tmp_path_factory: pytest.TempPathFactory, mnist_root: Path) -> Build:
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "VAE_DATA_ROOT": str(mnist_root), "NO_MKDOCS_2_WARNING": "1"}  # fetched once if missing
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
    assert re.search(r"the encoder is narrower than the true posterior in \d+ of 16 coordinates", text)  # the posterior plot


@pytest.mark.parametrize("path", ["theory/autoencoders/", "theory/elbo/", "theory/kl/", "theory/reparameterization/", "theory/likelihoods/",
                                  "theory/beta/", "theory/collapse/", "theory/iwae/", "theory/cvae/",
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


# -- statements an expert review corrected, and the numbers behind them --------------------------------
# These read the sources (no build needed), so they run in seconds.
DOCS = ROOT / "docs"


def _text(path: str) -> str:
    """A page's Markdown, a notebook's Markdown and code cells, or any other file of the repository."""
    file = ROOT / path
    if file.suffix == ".ipynb":
        import nbformat

        return "\n".join(cell.source for cell in nbformat.read(file, as_version=4).cells)
    return file.read_text()


def _benchmark(name: str):  # noqa: ANN202 - a module
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _weights_sha256(name: str) -> str:
    import hashlib

    folder = vae.checkpoint.resolve_model_dir(name)
    return hashlib.sha256((folder / vae.checkpoint.WEIGHTS).read_bytes()).hexdigest()


# (file, a statement that must not come back, a corrected statement that must stay); None: no check
CORRECTED = [
    ("docs/theory/beta.md", r"only value for which the objective is a bound", r"still a lower bound"),
    ("docs/theory/beta.md", r"\*distortion\*\s+\$D\$", r"written \$\\Delta\$ here"),
    ("scripts/make_figures.py", r"distortion \$D\$", r"distortion \$\\\\Delta\$"),
    ("docs/theory/iwae.md", r"ELBO estimate\s+\$-\\frac1k", r"ELBO estimate\s+\$\\frac1k\\sum_i \\log w_i\$"),
    ("vae/priors.py", r"maximises the average log-likelihood is the", r"maximises the average \*\*ELBO\*\*"),
    ("docs/theory/elbo.md", r"charges, in nats, for every bit", r"an \*\*upper bound\*\* on the\s+information"),
    ("docs/theory/beta.md", r"\(nats the code carries about \$x\$\)", r"upper bound on that mutual information"),
    ("docs/tutorials/train-a-vae.ipynb", r"KL term \(nats the code carries\)", r"upper bound on that information"),
    ("docs/demo.md", r"It is an upper bound on \$-\\log p\(x\)\$", r"\*\*not\*\* a bound"),
    ("docs/demo.md", r"codes and keeps their norm all the way", r"When the two codes have the same norm"),
    ("docs/demo.md", r"\\sigma\(\\text\{decoder\}", r"\\operatorname\{sigmoid\}\(\\ell_\\theta\(\\mu_\\phi\(x\)\)\)"),
    ("docs/tutorials/latent-space.ipynb", r"keeping the norm near that of the endpoints", r"equal\s+norms"),
    ("vae/latent.py", r"the spherical path keeps a typical norm", r"keeps the norm constant when z0 and z1 have equal"),
    ("docs/theory/elbo.md", r"constant in\s+\$z\$", r"almost surely constant"),
    ("docs/theory/elbo.md", r"changes nothing wherever\s+\$q_\\phi > 0\$:", r"wherever \$p_\\theta\(x, z\) > 0\$"),
    ("docs/theory/elbo.md", r"The KL term is computed exactly:", r"can be negative for one sample"),
    ("docs/theory/kl.md", r"without dividing by small numbers", r"a\s+division by \$\\sigma_p\^2\$"),
    ("docs/theory/reparameterization.md", r"score-function variance grows like\s+\$\\mu\^4", r"For \$\\mu \\ne 0\$"),
    ("docs/theory/reparameterization.md", None, r"\\mathbb E\\varepsilon\^4 = 3\$"),
    ("docs/theory/cvae.md", r"Sohn et al\. also allow a learned", r"default is a \*conditional\* prior"),
    ("docs/theory/index.md", r"order\s+follows Kingma", r"order\s+loosely follows Kingma"),
    ("docs/theory/beta.md", None, r"does \*\*not\*\* measure disentanglement"),
    ("docs/demo.md", r"trades reconstruction quality for\s+more separated factors", r"does\s+not measure it"),
    ("docs/theory/collapse.md", None, r"\*\*This package does not\s+implement free bits\*\*"),
    ("docs/models.md", None, r"optimistically biased"),
    ("docs/theory/elbo.md", r"the bound can fail", r"The bound holds without that condition"),
    ("docs/theory/iwae.md", r"which needs, as the ELBO does", r"The bound itself holds for any \$q_\\phi\$"),
    ("docs/theory/iwae.md", r"which the shipped\s+`default` model uses", r"k = 32 to 256 in the later ones"),
    ("docs/theory/reparameterization.md", r"gradients on the log scale shrink", r"stays bounded as \$\\sigma\$ shrinks"),
    ("docs/uses/anomaly.md", r"counts the bits needed", r"ideal code under the model \(in nats here"),
    ("docs/uses/compression.md", r"needs several\s+times the model's code length", r"no coder is implemented here"),
    ("docs/models.md", r"one-sample test\s+ELBO", r"cannot be re-run from\s+the shipped files"),
    ("vae/hierarchical.py", r"which keeps the top layer from collapsing", r"meant to keep the top layer from collapsing"),
    ("docs/theory/hierarchical.md", r"\(10 epochs on 10,000 images\)", r"cannot be re-run from this repository"),
]


@pytest.mark.parametrize("path, wrong, right", CORRECTED, ids=[f"{p}:{i}" for i, (p, _, _) in enumerate(CORRECTED)])
def test_corrected_statements_stay_corrected(path: str, wrong: str | None, right: str | None) -> None:
    text = _text(path)
    if wrong is not None:
        assert not re.search(wrong, text), f"{path} says again: {wrong}"
    if right is not None:
        assert re.search(right, text), f"{path} no longer says: {right}"


def test_free_bits_is_described_as_not_implemented_because_it_is_not() -> None:
    """If the package ever gains free bits, the collapse page must say so."""
    sources = "\n".join(p.read_text() for p in (ROOT / "vae").glob("*.py"))
    assert "free_bits" not in sources.lower() and "free bits" not in sources.lower()
    assert '"--warmup"' in sources and "def kl_weight(" in sources  # the remedy the page names is the one the package has


def _theory_order_index() -> list[str]:
    return re.findall(r"^\d+\. \[[^\]]+\]\(([\w-]+)\.md\)", _text("docs/theory/index.md"), re.MULTILINE)


def _theory_order_nav() -> list[str]:
    nav = re.search(r"^  - Theory:\n((?:      - .*\n)+)", _text("mkdocs.yml"), re.MULTILINE)
    assert nav, "no Theory section in the mkdocs nav"
    return [name for name in re.findall(r"theory/([\w-]+)\.md", nav.group(1)) if name != "index"]


def _theory_order_home() -> list[str]:
    section = _text("docs/index.md").split("## Read the math", 1)[1].split("\n## ", 1)[0]
    return [name for name in re.findall(r"\]\(theory/([\w-]+)\.md\)", section) if name != "index"]


def test_the_reading_order_is_the_same_on_the_theory_index_in_the_nav_and_on_the_home_page() -> None:
    pages = sorted(p.stem for p in (DOCS / "theory").glob("*.md") if p.stem != "index")
    index, nav, home = _theory_order_index(), _theory_order_nav(), _theory_order_home()
    assert sorted(index) == pages, f"the theory index lists {index}, the folder has {pages}"
    assert nav == index, f"nav {nav} != theory index {index}"
    assert home == index, f"home page {home} != theory index {index}"


def test_the_worked_kl_example_matches_the_package() -> None:
    import math

    import torch

    page = _text("docs/theory/kl.md")
    mu = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    logvar = torch.tensor([[math.log(0.25), math.log(2.0)]], dtype=torch.float64)
    first, second = (vae.gaussian_kl(mu[:, j : j + 1], logvar[:, j : j + 1]).item() for j in range(2))
    total = vae.gaussian_kl(mu, logvar).item()
    reverse = vae.gaussian_kl_between(torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64),
                                      mu[:, :1], logvar[:, :1]).item()  # KL(N(0, 1) || N(1, 0.25))
    for value, digits in ((first, 4), (second, 4), (total, 4), (total / math.log(2), 3), (reverse, 4)):
        assert f"{value:.{digits}f}" in page, f"{value:.{digits}f} is not on the KL page"
    assert f"tensor([{total:.4f}])" in page


def test_the_active_unit_count_on_the_page_is_the_shipped_models(mnist_test) -> None:
    import json

    results = json.loads((ROOT / "benchmarks" / "results" / "active_units.json").read_text())
    default = results["default"]
    assert default["weights_sha256"] == _weights_sha256("default"), "stale: rerun python benchmarks/active_units.py"
    page = _text("docs/theory/collapse.md")
    stated = re.search(r"\*\*(\d+) of its (\d+) dimensions are active\*\*", page)
    assert stated and (int(stated[1]), int(stated[2])) == (default["active_units"], default["latent_dim"])
    # the JSON is what the package's function (the one the benchmark calls) gives for the shipped model now
    activity, variance = vae.posterior_statistics(vae.load("default"), vae.binarized_test_set(mnist_test))
    assert int((activity > default["threshold"]).sum()) == default["active_units"]
    assert activity.tolist() == pytest.approx(default["var_of_posterior_mean"], rel=1e-3, abs=1e-5)
    assert variance.tolist() == pytest.approx(default["mean_posterior_variance"], rel=1e-3, abs=1e-5)
    # the ranges the page quotes
    active = [a for a in default["var_of_posterior_mean"] if a > default["threshold"]]
    inactive = [j for j, a in enumerate(default["var_of_posterior_mean"]) if a <= default["threshold"]]
    assert "between about 0.6 and 1.3" in page and round(min(active), 1) == 0.6 and round(max(active), 1) == 1.3
    assert "between 0.001 and 0.006" in page
    assert all(0.001 <= default["var_of_posterior_mean"][j] <= 0.006 for j in inactive)
    # every threshold from the largest inactive activity up to the smallest active one gives the same count
    largest, smallest = max(default["var_of_posterior_mean"][j] for j in inactive), min(active)
    assert largest < default["threshold"] < smallest and smallest / largest > 100
    text = " ".join(page.split())
    assert f"The largest inactive $A_j$, {largest:.4f}, is within a factor of 2 of the threshold of {default['threshold']}" in text
    assert largest > default["threshold"] / 2 and "the two groups a hundred times apart" in text
    assert f"up to the smallest active $A_j$, {smallest:.2f}, gives the same {default['active_units']}," in text
    assert "(0.92 to 0.94" in page and all(0.915 <= default["prior_variance"][j] < 0.945 for j in inactive)
    # every other shipped VAE uses all its dimensions, as the page says
    for name in ("latent2d", "latent2d-beta0.5", "latent2d-beta4", "cvae"):
        assert results[name]["weights_sha256"] == _weights_sha256(name)
        assert results[name]["active_units"] == results[name]["latent_dim"], name


def test_the_elbo_gap_numbers_on_the_page_are_the_benchmarks() -> None:
    import json

    results = json.loads((ROOT / "benchmarks" / "results" / "elbo_gap.json").read_text())
    page = _text("docs/theory/elbo.md")
    for name in ("latent2d", "default"):
        r = results[name]
        assert r["weights_sha256"] == _weights_sha256(name), f"stale: rerun python benchmarks/elbo_gap.py {name}"
        column = ("latent2d", "default").index(name)
        numbers = []
        for label in (r"\$\\log p_\\theta\(x\)\$", r"\$\\mathcal L\(x; q\^\\ast_x\)\$", r"\$\\mathcal L\(x; q_\\phi\)\$",
                      "total gap", "approximation gap", "amortization gap"):
            row = re.search(rf"^\| {label}[^|]* \|(.*)\|$", page, re.MULTILINE)
            assert row, f"no row {label} in the ELBO gap table"
            cell = row[1].split("|")[column]
            numbers += [float(v.replace("−", "-")) for v in re.findall(r"[−-]?\d+\.\d+", cell)]
        expected = [r["log_px"]["mean"], r["elbo_optimised"]["mean"], r["elbo_encoder"]["mean"]]
        for key in ("total_gap", "approximation_gap", "amortization_gap"):
            expected += [r[key]["mean"], r[key]["stderr"]]
        assert numbers == [round(v, 2) for v in expected], (name, numbers)
        assert r["num_images"] == 300 and "first 300 test images" in page
    latent = results["latent2d"]
    assert latent["log_px_method"] == "quadrature" and results["default"]["k"] == 5000
    assert f"median amortization gap is {latent['amortization_gap_median']:.2f} nats" in page
    assert f"for {latent['moved_over_3_sd']:.0%} of the images" in page
    assert f"averages {latent['iwae_encoder']:.2f} nats".replace("-", "−") in page
    assert f"against {latent['iwae_optimised']:.2f} with the best".replace("-", "−") in page
    assert f"ratio of their standard deviations is {results['default']['posterior_std_ratio']:.2f}" in page


def test_the_elbo_gap_measurement_orders_its_three_quantities(mnist_test) -> None:
    """On a few latent2d digits: encoder ELBO < optimised ELBO <= log p(x) by quadrature, which the IWAE bound of the
    optimised proposals approaches from below; so both gaps come out >= 0, and the measurement is not a copy of itself."""
    bench = _benchmark("elbo_gap")
    import torch

    torch.manual_seed(0)
    bits = vae.binarized_test_set(mnist_test)[:4]
    r = bench.measure(vae.load("latent2d"), bits, steps=60, samples=8, lr=0.05, eval_samples=400, k=400)
    assert r["log_px_method"] == "quadrature"
    assert r["amortization_gap"]["mean"] > 0.3  # the per-image Gaussians are better than the encoder's (0.5 here)
    assert 0 <= r["approximation_gap"]["mean"] < 0.25  # latent2d's posteriors are nearly Gaussian (0.1 here)
    assert r["iwae_optimised"] <= r["log_px"]["mean"] + 0.05  # a lower bound, up to Monte Carlo noise
    assert r["iwae_optimised"] == pytest.approx(r["log_px"]["mean"], abs=0.3)  # and close in 2-D
    assert r["total_gap"]["mean"] == pytest.approx(r["approximation_gap"]["mean"] + r["amortization_gap"]["mean"], abs=1e-4)

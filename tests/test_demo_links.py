"""The "Read more" links of the demo lead to the documentation: served by the demo itself, else a configured URL.

The launched demo (tests/demo_server.py) serves a stand-in for the built docs site under /docs:
every link on its page is followed from the page's own URL and must answer 200 with the title of
the docs/ page it names, and its #anchor must be one of that page's headings. The fallbacks (no
built site: the configured URL; nothing configured: a note saying how to get the docs) are checked
on the page config that `build_app` makes, without a server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx
import pytest
from demo_server import APP, DOCS, ROOT, THIRD_PARTY_WARNINGS, demo_url, fake_site, heading_ids, page_title, site_path

pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def markdown_texts(config: dict) -> list[str]:
    """The values of every Markdown component of a Gradio page config."""
    return [c["props"]["value"] for c in config["components"] if c.get("type") == "markdown" and c["props"].get("value")]


def read_more_links(config: dict) -> list[tuple[str, str]]:
    """(text, href) of every Markdown link on the page."""
    return [m.groups() for text in markdown_texts(config) for m in LINK.finditer(text)]


def source_page(href: str, base: str) -> tuple[Path, str]:
    """The docs/ Markdown page a docs link points to, and its anchor ("" if none)."""
    path, _, anchor = href.removeprefix(base).partition("#")
    path = path.strip("/")
    candidates = [DOCS / f"{path}.md", DOCS / path / "index.md"] if path else [DOCS / "index.md"]
    page = next((p for p in candidates if p.is_file()), None)
    assert page is not None, f"{href}: no docs/ page {candidates[0].relative_to(ROOT)}"
    return page, anchor


@pytest.fixture(scope="module")
def page_links() -> list[tuple[str, str]]:
    config = httpx.get(f"{demo_url()}/config", timeout=30).json()
    return read_more_links(config)


def test_every_tab_links_to_the_docs(page_links: list[tuple[str, str]]) -> None:
    hrefs = [href for _, href in page_links]
    assert len(hrefs) >= 15, hrefs  # the header, and two or more in each of the six tabs
    assert all(href.startswith("docs/") for href in hrefs), hrefs  # relative: valid on any host and path prefix
    assert "example.org" not in " ".join(hrefs)


def test_every_link_opens_its_page(page_links: list[tuple[str, str]]) -> None:
    """Each link, resolved against the page URL as a browser does, answers 200 with the page it names and its anchor."""
    page_url = demo_url() + "/"
    with httpx.Client(timeout=30, follow_redirects=True) as http:
        for text, href in sorted(set(page_links)):
            source, anchor = source_page(href, "docs/")
            url = urljoin(page_url, href)
            assert urlparse(url).netloc == urlparse(page_url).netloc, url
            r = http.get(url)
            assert r.status_code == 200, (text, url, r.status_code)
            assert TITLE.search(r.text).group(1) == page_title(source), (text, url)
            if anchor:
                assert anchor in heading_ids(source), f"{text}: #{anchor} is not a heading of {source.relative_to(ROOT)}"
                assert f'id="{anchor}"' in r.text


def test_the_site_root_and_missing_pages() -> None:
    with httpx.Client(timeout=30) as http:
        r = http.get(f"{demo_url()}/docs", follow_redirects=True)
        assert r.status_code == 200 and TITLE.search(r.text).group(1) == page_title(DOCS / "index.md")
        assert http.get(f"{demo_url()}/docs/no-such-page/").status_code == 404
        assert http.get(f"{demo_url()}/docs/%2e%2e/pyproject.toml").status_code == 404  # nothing outside the site


# -- the fallbacks, on the page config build_app makes (no server) -------------------------------
@pytest.fixture(scope="module")
def app_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vae_demo_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_event_loop(build: Any) -> Any:
    """`build()` run inside an event loop: Gradio objects made outside one each open a new loop and leave it unclosed."""

    async def run() -> Any:
        return build()

    return asyncio.run(run())


def page_config(app: ModuleType, docs_dir: Path | None, docs_url: str) -> dict:
    return in_event_loop(lambda: app.build_app(app.Explorer(), docs_base=app.docs_base(docs_dir, docs_url)).get_config_file())


def test_a_built_site_wins_over_a_configured_url(app_module: ModuleType, tmp_path: Path) -> None:
    site = fake_site(tmp_path / "site")
    assert app_module.docs_base(site, "https://docs.example/vae/") == "docs/"
    assert [r.path for r in app_module.docs_routes(site)] == ["/docs"]


def test_without_a_site_the_links_use_the_configured_url(app_module: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()  # an empty folder: no index.html, so not a built site
    assert app_module.docs_routes(tmp_path / "site") == []
    links = read_more_links(page_config(app_module, tmp_path / "site", "https://docs.example/vae"))
    assert len(links) >= 15 and all(href.startswith("https://docs.example/vae/") for _, href in links)
    for _, href in links:
        source_page(href, "https://docs.example/vae/")


def test_without_a_site_or_url_the_page_says_how_to_get_the_docs(app_module: ModuleType, tmp_path: Path) -> None:
    texts = markdown_texts(page_config(app_module, tmp_path / "missing", ""))
    assert not [m.group(0) for t in texts for m in LINK.finditer(t)]  # no link that leads nowhere
    note = next(t for t in texts if "not available" in t)
    assert "mkdocs build" in note and "--docs-url" in note
    named = [m.group(1) for t in texts for m in re.finditer(r"`(docs/[^`]+)`", t)]
    assert len(named) >= 15 and all((ROOT / n.partition("#")[0]).is_file() for n in named), named


def test_main_hands_the_docs_route_and_the_session_limit_to_launch(app_module: ModuleType, tmp_path: Path, monkeypatch) -> None:
    """`main` serves the site through launch's `app_kwargs` and bounds Gradio's per-session memory."""
    import gc

    launched: dict = {}
    monkeypatch.setattr(app_module.gr.Blocks, "launch", lambda self, **kwargs: launched.update(kwargs))
    monkeypatch.setattr(app_module, "tune_malloc", dict)  # the allocator of this test process stays as it is
    monkeypatch.setattr(app_module, "start_trimming", lambda: None)
    try:
        in_event_loop(lambda: app_module.main(["--docs-dir", str(fake_site(tmp_path / "site")), "--max-sessions", "7"]))
    finally:
        gc.unfreeze()  # main freezes what start-up made, for the server's sake; not this test process's
    assert [r.path for r in launched["app_kwargs"]["routes"]] == ["/docs"]
    assert launched["state_session_capacity"] == 7
    monkeypatch.setenv("VAE_DEMO_MAX_SESSIONS", "9")
    assert app_module.parse_args([]).max_sessions == 9


@pytest.mark.parametrize(("value", "message"), [("0", "at least 1"), ("many", "invalid int value")])
def test_a_bad_session_limit_is_refused_clearly(value: str, message: str) -> None:
    run = subprocess.run([sys.executable, str(APP), "--max-sessions", value], capture_output=True, text=True)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


def test_the_docs_options_are_documented() -> None:
    out = subprocess.run([sys.executable, str(APP), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--docs-dir" in out and "--docs-url" in out and "VAE_DEMO_DOCS_DIR" in out


def test_fake_site_layout(tmp_path: Path) -> None:
    """The stand-in site is laid out as mkdocs lays out the real one (use_directory_urls)."""
    site = fake_site(tmp_path)
    assert site_path(DOCS / "index.md") == Path("index.html")
    assert site_path(DOCS / "theory" / "elbo.md") == Path("theory/elbo/index.html")
    assert (site / "demo" / "index.html").is_file() and (site / "index.html").is_file()

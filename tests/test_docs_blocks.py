"""scripts/docs_blocks.py: the one helper that puts a generated table into a docs page between its markers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def blocks():
    spec = importlib.util.spec_from_file_location("docs_blocks", ROOT / "scripts" / "docs_blocks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_the_named_block_is_replaced(blocks) -> None:
    start, end = blocks.markers("table")
    other_start, other_end = blocks.markers("other")
    text = f"intro\n{start}\nold\nlines\n{end}\nmiddle\n{other_start}\nkept\n{other_end}\n"
    assert blocks.replace_block(text, "table", "| new |") == (
        f"intro\n{start}\n| new |\n{end}\nmiddle\n{other_start}\nkept\n{other_end}\n")
    assert blocks.replace_block(text, "table", "a\\1b").count("a\\1b") == 1  # the block is text, not a pattern


def test_a_page_with_a_missing_marker_is_left_untouched(blocks, tmp_path: Path) -> None:
    start, end = blocks.markers("table")
    page = tmp_path / "page.md"
    page.write_text(f"{start}\nold\n{end}\n")
    with pytest.raises(SystemExit, match=r"page.md: the markers <!-- other:start --> and <!-- other:end --> are missing"):
        blocks.write_blocks(page, {"table": "new", "other": "x"})
    assert page.read_text() == f"{start}\nold\n{end}\n"  # nothing written: not even the block that was there
    blocks.write_block(page, "table", "new")
    assert page.read_text() == f"{start}\nnew\n{end}\n"

"""Generated blocks in the docs pages: replace the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`.

The one helper of every script that writes a table into a page (`scripts/model_table.py`,
`benchmarks/precision.py`, `benchmarks/demo_latency.py`). It does not import the package, so a
benchmark imports it by path:

    sys.path.insert(0, str(ROOT / "scripts"))
    from docs_blocks import write_block

A page whose markers are missing is left untouched and the error names the markers to add.
"""

from __future__ import annotations

import re
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of block `name`: `<!-- name:start -->`, `<!-- name:end -->`."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_block(text: str, name: str, block: str) -> str:
    """`text` with the lines between the markers of `name` replaced by `block` (the markers stay).

    Raises:
        ValueError: `text` lacks a marker.
    """
    start, end = markers(name)
    if start not in text or end not in text:
        raise ValueError(f"the markers {start} and {end} are missing; add them where the block belongs")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    return pattern.sub(lambda _: f"{start}\n{block}\n{end}", text)


def write_blocks(page: Path, blocks: dict[str, str]) -> None:
    """Replace several blocks of a page at once; nothing is written unless every block's markers are there.

    Raises:
        SystemExit: a marker is missing (the message names the page and the markers).
    """
    text = page.read_text()
    try:
        for name, block in blocks.items():
            text = replace_block(text, name, block)
    except ValueError as err:
        raise SystemExit(f"{page}: {err}") from None
    page.write_text(text)


def write_block(page: Path, name: str, block: str) -> None:
    """Replace one block of a page (see `write_blocks`)."""
    write_blocks(page, {name: block})

"""The hand-written Markdown tables of the book's pages are well formed: every row has as
many cells as its header (a row merged into the wrong table, as once happened to the
introduction's chapter map, still builds without a warning)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "book").glob("*.md"))


def cells(line: str) -> int:
    """Number of cells of a Markdown table row (escaped pipes and inline code kept whole)."""
    line = re.sub(r"`[^`]*`", "code", line.strip().replace(r"\|", ""))
    return line.strip("|").count("|") + 1


def tables(text: str):
    """(first line number, rows) of each pipe table outside code fences."""
    block, start, fenced = [], 0, False
    for number, line in enumerate(text.splitlines() + [""], start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and line.lstrip().startswith("|"):
            start = start or number
            block.append(line)
            continue
        if len(block) >= 2 and re.fullmatch(r"\|?[\s:|-]+\|?", block[1].strip()):
            yield start, block
        block, start = [], 0


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_table_row_has_the_header_s_cells(page):
    for start, rows in tables(page.read_text()):
        width = cells(rows[0])
        bad = [start + k for k, row in enumerate(rows) if cells(row) != width]
        assert not bad, f"{page.name}: rows at lines {bad} do not have {width} cells"


def test_a_merged_row_is_caught():
    text = "| a | b |\n|---|---|\n| 1 | 2 |\n| 1 | 2 | 3 | 4 |\n"
    (start, rows), = tables(text)
    assert [cells(r) for r in rows] == [2, 2, 2, 4]

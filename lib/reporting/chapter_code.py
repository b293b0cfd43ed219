"""``python -m lib.reporting.chapter_code OUT CHAPTER.md ...``: chapters' code cells as .py files.

``python -m lib.reporting.chapter_code --check CHAPTER.md ...`` checks instead that each
chapter has one cell tagged ``parameters`` written one ``NAME = VALUE`` per line (papermill
sees only those: ``a, b = 1, 2`` makes it warn "unknown parameter" for names that exist).

What ``make lint`` runs ruff on: only the code a reader sees in the book (the prose is
left out, so its line length is the page's business, not the linter's). Cells are
separated by a ``# %%`` line naming the cell's number, so a finding points at its cell.
"""

from __future__ import annotations

import sys
from pathlib import Path


def chapter_code(chapter: Path) -> str:
    """The code cells of a MyST-markdown chapter, joined into one Python source."""
    import jupytext

    notebook = jupytext.read(chapter)
    parts = []
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            parts.append(f"# %% cell {number}\n{cell.source.rstrip()}\n")
    return "\n\n".join(parts)


def check_parameters_cells(chapters: list[str]) -> int:
    """Print each problem of the chapters' parameters cells; 1 if there was any."""
    from .results import parameters_cell_problems, parameters_source

    bad = 0
    for name in chapters:
        source = parameters_source(name)
        problems = (["no code cell tagged 'parameters'"] if source is None
                    else parameters_cell_problems(source))
        for problem in problems:
            print(f"{name}: parameters cell, {problem}", file=sys.stderr)
        bad += bool(problems)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--check"]:
        return check_parameters_cells(args[1:])
    if len(args) < 2:
        print(__doc__.split("\n")[0], file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    for name in args[1:]:
        chapter = Path(name)
        if not chapter.exists():
            print(f"chapter_code: no such chapter file {chapter}", file=sys.stderr)
            return 2
        (out / f"{chapter.stem}.py").write_text(chapter_code(chapter))
    return 0


if __name__ == "__main__":
    sys.exit(main())

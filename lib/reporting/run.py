"""Run one chapter through papermill: ``python -m lib.run 01 [-p NAME VALUE ...] [-f
params.yml] [--out DIR]``.

The chapter (a MyST-markdown notebook in ``book/``) is read with jupytext, its
``parameters`` cell is overridden by the YAML file (``-f``) and then by each ``-p NAME
VALUE`` (values parsed as YAML, so ``-p seed 1`` is an int and ``-p device cuda`` a
string), and it is executed by papermill with ``book/`` as working directory. The
executed notebook and the chapter's claims JSON land in ``--out`` (default
``_build/runs/<chapter>``). A chapter split into sub-pages (``04a_...``, ``04b_...``) runs
page by page. Exit status 1 if a page raised or a claim failed.

Examples::

    python -m lib.run 01 -p seed 1 --out /tmp/ch1-seed1
    python -m lib.run 01 -f book/params/gpu/01_superposition_basics.yml --out runs/gpu
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .results import project_root


def find_chapter(chapter: str, book_dir: Path) -> Path:
    """``"01"``, ``"1"``, ``"01_superposition_basics"`` or a path -> the chapter's .md file."""
    path = Path(chapter)
    if path.suffix == ".md" and path.exists():
        return path.resolve()
    key = chapter.zfill(2) if chapter.isdigit() else chapter
    matches = sorted(
        p for p in book_dir.glob("*.md") if p.stem == key or p.stem.startswith(key + "_")
    )
    if len(matches) != 1:
        found = ", ".join(sorted(p.stem for p in book_dir.glob("[0-9]*.md")))
        raise SystemExit(
            f"lib.run: no unique chapter matches {chapter!r} in {book_dir} (chapters: {found})"
        )
    return matches[0]


def find_pages(chapter: str, book_dir: Path) -> list[Path]:
    """The pages to run for ``chapter``: ``find_chapter``'s page, or, when a chapter number
    names a chapter split into sub-pages (``04a_...``, ``04b_...``) and no single page,
    all its sub-pages in order."""
    if chapter.isdigit():
        key = chapter.zfill(2)
        whole = [p for p in book_dir.glob("*.md") if p.stem == key or p.stem.startswith(key + "_")]
        pages = sorted(book_dir.glob(f"{key}[a-z]_*.md"))
        if pages and not whole:
            return [p.resolve() for p in pages]
    return [find_chapter(chapter, book_dir)]


def parse_parameters(pairs: list[list[str]], files: list[str]) -> dict:
    params: dict = {}
    for file in files:
        loaded = yaml.safe_load(Path(file).read_text()) or {}
        if not isinstance(loaded, dict):
            raise SystemExit(f"lib.run: {file} must hold a mapping NAME: VALUE")
        params.update(loaded)
    for name, value in pairs:
        params[name] = yaml.safe_load(value)
    return params


def run_chapter(chapter: str, parameters: dict | None = None, out: str | Path | None = None, *,
                book_dir: str | Path | None = None, kernel: str = "python3",
                log_output: bool = False) -> tuple[Path, Path]:
    """Execute a chapter; return (executed notebook path, claims JSON path).

    Raises papermill's ``PapermillExecutionError`` if a cell (or a claim) fails.
    """
    import jupytext
    import papermill as pm

    book = Path(book_dir) if book_dir else project_root(Path(__file__).parent) / "book"
    source = find_chapter(chapter, book)
    out_dir = Path(out) if out else project_root() / "_build" / "runs" / source.stem
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    params.setdefault("results_dir", str(out_dir))
    notebook = jupytext.read(source)
    executed = out_dir / f"{source.stem}.ipynb"
    pm.execute_notebook(notebook, str(executed), parameters=params, cwd=str(source.parent),
                        kernel_name=kernel, progress_bar=False, log_output=log_output)
    return executed, Path(params["results_dir"]) / f"{source.stem}.claims.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", help="chapter number or file stem, e.g. 01")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME",
                        "VALUE"), help="override a parameter (value parsed as YAML)")
    parser.add_argument("-f", "--parameters-file", action="append", default=[],
                        help="YAML file of parameters (e.g. book/params/gpu/<chapter>.yml)")
    parser.add_argument("--out", help="output folder (default _build/runs/<chapter>)")
    parser.add_argument("--book", help="folder holding the chapters (default <project>/book)")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    parser.add_argument(
        "--log-output", action="store_true", help="stream cell output to the terminal"
    )
    args = parser.parse_args(argv)

    from papermill.exceptions import PapermillExecutionError

    params = parse_parameters(args.parameter, args.parameters_file)
    book = Path(args.book) if args.book else project_root(Path(__file__).parent) / "book"
    status = 0
    for page in find_pages(args.chapter, book):
        try:
            executed, claims_file = run_chapter(str(page), params, args.out, book_dir=args.book,
                                                kernel=args.kernel, log_output=args.log_output)
        except PapermillExecutionError as err:
            print(f"lib.run: {page.stem} failed: {err.ename}: {err.evalue}", file=sys.stderr)
            status = 1
            continue
        print(f"executed notebook: {executed}")
        if claims_file.exists():
            rows = json.loads(claims_file.read_text())
            for row in rows:
                print(
                    f"  [{row['status']:>6}] {row['id']}: measured {row['measured']}, "
                    f"expected {row['expected']}"
                )
            print(f"claims: {claims_file} ({sum(r['passed'] for r in rows)}/{len(rows)} passed)")
    return status


if __name__ == "__main__":
    sys.exit(main())

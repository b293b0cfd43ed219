"""Run one chapter through papermill: ``python -m lib.run 01 [-p NAME VALUE ...] [-f
params.yml ...] [--out DIR]``.

The chapter (a MyST-markdown notebook in ``book/``) is read with jupytext, its
``parameters`` cell is overridden by the YAML files (``-f``, in order) and then by each
``-p NAME VALUE`` (values parsed as YAML, so ``-p seed 1`` is an int and ``-p device cuda``
a string), and it is executed by papermill with ``book/`` as working directory. The
executed notebook, the chapter's claims and provenance JSON, the weights it saves and its
figures (``figures/*.png`` with ``figures.json``) land in ``--out`` (default
``_build/runs/<chapter>``). Exit status 1 if the chapter raised or a claim failed.

Input is checked before anything executes, with a one-line error naming the culprit: an
unknown parameter (the known ones are listed), a value whose type differs from the
default's (``-p seed abc``), a missing, unreadable or malformed ``-f`` file.

Examples::

    python -m lib.run 01 -p seed 1 --out /tmp/ch1-seed1
    python -m lib.run 01 -f book/params/gpu/01_superposition_basics.yml \\
        --out results/01_superposition_basics/gpu-seed0
"""

from __future__ import annotations

import argparse
import base64
import difflib
import json
import logging
import sys
from pathlib import Path

import yaml

from .pages import counts_text
from .results import (
    Expression,
    parameter_defaults,
    parameters_cell_problems,
    parameters_source,
    project_root,
)


class InputError(SystemExit):
    """A one-line refusal of the runner's input (exit status 1), raised before executing."""

    def __init__(self, message: str):
        super().__init__("lib.run: " + " ".join(message.split()))


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
        raise InputError(
            f"no unique chapter matches {chapter!r} in {book_dir} (chapters: {found})"
        )
    return matches[0]


def read_parameter_file(file: str | Path) -> dict:
    """A YAML file of ``NAME: VALUE`` lines, or a one-line ``InputError`` saying what is wrong."""
    path = Path(file)
    if not path.exists():
        raise InputError(f"parameters file {str(file)!r} not found")
    if not path.is_file():
        raise InputError(f"parameters file {str(file)!r} is not a file")
    try:
        loaded = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise InputError(f"parameters file {str(file)!r} is not a text file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(f"parameters file {str(file)!r} is not valid YAML{where}: "
                         f"{problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InputError(f"parameters file {str(file)!r} must hold a mapping of NAME: VALUE "
                         f"lines, got a {type(loaded).__name__}")
    for name in loaded:
        if not isinstance(name, str):
            raise InputError(f"parameters file {str(file)!r}: parameter names must be text, "
                             f"got {name!r}")
    return loaded


def parse_parameters(pairs: list[list[str]], files: list[str]) -> tuple[dict, dict]:
    """``-f`` files in order, then ``-p`` pairs -> ``(params, origin)``; ``origin[name]``
    says where each value came from (for error messages)."""
    params: dict = {}
    origin: dict = {}
    for file in files:
        for name, value in read_parameter_file(file).items():
            params[name], origin[name] = value, f"in {file}"
    for name, text in pairs:
        try:
            params[name] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise InputError(f"value {text!r} of parameter {name!r} is not valid YAML "
                             "(quote text, e.g. -p device cuda)") from None
        origin[name] = "from -p"
    return params, origin


_KINDS = ((bool, "true or false"), (int, "an integer"), (float, "a number"),
          (str, "text"), (list, "a list"), (dict, "a mapping"))


def _kind(value) -> str:
    for kind, words in _KINDS:
        if isinstance(value, kind):
            return words
    return type(value).__name__


def type_problem(value, default) -> str | None:
    """Why ``value`` cannot stand for a parameter whose default is ``default`` (None if it
    can): the same kind (an int may stand for a float; a list or tuple for either), and in
    a list of numbers, numbers."""
    if default is None or isinstance(default, Expression):
        return None
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
        numbers = default and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                  for v in default)
        if ok and numbers and not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                      for v in value):
            return f"must be a list of numbers like its default {default!r}, got {value!r}"
    else:
        ok = isinstance(value, type(default))
    if ok:
        return None
    return f"must be {_kind(default)} like its default {default!r}, got {value!r}"


def check_parameters(params: dict, origin: dict, defaults: dict, chapter: str) -> None:
    """Refuse unknown names (listing the known ones) and values of the wrong type."""
    for name, value in params.items():
        where = origin.get(name, "")
        if name not in defaults:
            close = difflib.get_close_matches(name, list(defaults), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"unknown parameter {name!r} ({where}) for chapter {chapter}{hint} "
                             f"Known parameters: {', '.join(defaults)}")
        problem = type_problem(value, defaults[name])
        if problem:
            raise InputError(f"parameter {name!r} ({where}) of chapter {chapter} {problem}")


def prepare(chapter: str, parameters: dict | None = None, *, origin: dict | None = None,
            book_dir: str | Path | None = None) -> tuple[Path, dict]:
    """Find the chapter and check ``parameters`` against its parameters cell; return
    ``(chapter file, defaults)``. Raises ``InputError`` before anything executes."""
    book = Path(book_dir) if book_dir else project_root(Path(__file__).parent) / "book"
    source = find_chapter(chapter, book)
    cell = parameters_source(source)
    if cell is None:
        raise InputError(f"chapter {source.stem} has no code cell tagged 'parameters'")
    for problem in parameters_cell_problems(cell):
        print(f"lib.run: warning: {source.stem}'s parameters cell, {problem}", file=sys.stderr)
    defaults = parameter_defaults(cell)
    check_parameters(dict(parameters or {}), origin or {}, defaults, source.stem)
    return source, defaults


class _NoUnknownParameterWarning(logging.Filter):
    """papermill warns "Passed unknown parameter" for names it cannot see in a parameters
    cell; ``prepare`` has already checked every name against the cell itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Passed unknown parameter" not in record.getMessage()


def run_chapter(chapter: str, parameters: dict | None = None, out: str | Path | None = None, *,
                book_dir: str | Path | None = None, kernel: str = "python3",
                log_output: bool = False, origin: dict | None = None) -> tuple[Path, Path]:
    """Check the input (``prepare``), execute the chapter, export its figures; return
    (executed notebook path, claims JSON path).

    Raises ``InputError`` on bad input and papermill's ``PapermillExecutionError`` if a
    cell (or a claim) fails; the figures of a failed run are exported all the same.
    """
    source, _ = prepare(chapter, parameters, origin=origin, book_dir=book_dir)
    import jupytext
    import papermill as pm

    out_dir = Path(out) if out else project_root() / "_build" / "runs" / source.stem
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    params.setdefault("results_dir", str(out_dir))
    notebook = jupytext.read(source)
    executed = out_dir / f"{source.stem}.ipynb"
    logging.getLogger("papermill").addFilter(_NoUnknownParameterWarning())
    try:
        pm.execute_notebook(notebook, str(executed), parameters=params,
                            cwd=str(source.parent), kernel_name=kernel, progress_bar=False,
                            log_output=log_output)
    finally:
        if executed.exists():
            export_figures(executed, out_dir / "figures")
    return executed, Path(params["results_dir"]) / f"{source.stem}.claims.json"


def export_figures(notebook: str | Path, folder: str | Path) -> list[dict]:
    """Write every PNG output of an executed notebook to ``folder/cellNNN-K.png`` and an
    index ``folder/../figures.json``: file (relative to the index), cell number, the
    heading above the cell, and ``headline`` for a cell tagged ``headline``."""
    import nbformat

    folder = Path(folder)
    nb = nbformat.read(str(notebook), as_version=4)
    figures, heading = [], ""
    folder.mkdir(parents=True, exist_ok=True)
    for number, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
            continue
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        k = 0
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data or "paper_run" in output.get("metadata", {}):
                continue  # not an image, or a committed run's figure shown by finish()
            name = f"cell{number:03d}-{k}.png"
            (folder / name).write_bytes(base64.b64decode(data["image/png"]))
            figures.append({"file": f"{folder.name}/{name}", "cell": number,
                            "headline": "headline" in tags,
                            "caption": f"cell {number}" + (f", {heading}" if heading else "")})
            k += 1
    (folder.parent / "figures.json").write_text(json.dumps(figures, indent=2))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", help="chapter number or file stem, e.g. 01")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME",
                        "VALUE"), help="override a parameter (value parsed as YAML)")
    parser.add_argument("-f", "--parameters-file", action="append", default=[],
                        help="YAML file of parameters (e.g. book/params/gpu/<chapter>.yml); "
                        "several are applied in order")
    parser.add_argument("--out", help="output folder (default _build/runs/<chapter>)")
    parser.add_argument("--book", help="folder holding the chapters (default <project>/book)")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    parser.add_argument(
        "--log-output", action="store_true", help="stream cell output to the terminal"
    )
    parser.add_argument("--check", action="store_true",
                        help="check the chapter and the parameters, execute nothing")
    args = parser.parse_args(argv)

    params, origin = parse_parameters(args.parameter, args.parameters_file)
    if args.check:
        source, _ = prepare(args.chapter, params, origin=origin, book_dir=args.book)
        print(f"lib.run: {source.stem}: {len(params)} parameter(s) checked, nothing executed")
        return 0

    from papermill.exceptions import PapermillExecutionError

    try:
        executed, claims_file = run_chapter(args.chapter, params, args.out, book_dir=args.book,
                                            kernel=args.kernel, log_output=args.log_output,
                                            origin=origin)
    except PapermillExecutionError as err:
        print(f"lib.run: chapter {args.chapter} failed: {err.ename}: {err.evalue}", file=sys.stderr)
        return 1
    print(f"executed notebook: {executed}")
    if claims_file.exists():
        rows = json.loads(claims_file.read_text())
        for row in rows:
            print(
                f"  [{row['status']:>6}] {row['id']}: measured {row['measured']}, "
                f"expected {row['expected']}"
            )
        print(f"claims: {claims_file} ({counts_text(rows)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

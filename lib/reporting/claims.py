"""The claims table: every reproduced statement, measured and checked.

A chapter creates one ``ClaimsTable``; each section adds its few rows with one of the
checks (``approx``, ``at_least``, ``at_most``, ``within``, ``holds``) and shows them
beside its evidence (``show_new``); the last section shows the whole table and calls
``finish()``, which writes ``<results_dir>/<chapter>.claims.json`` and raises
``ClaimsFailed`` if any row failed.

Every row runs **the source's check**: the predicate that holds if the source's
statement is reproduced. A row with ``disagreement="reason"`` documents that the book
does *not* reproduce the statement, and the check is then expected to fail:

    check fails, disagreement given   -> "disagrees (documented)"   (no error)
    check passes, disagreement given  -> "FAIL: source now holds"   (error: the
                                         disagreement is out of date; update the text)
    check passes, no disagreement     -> "pass"
    check fails, no disagreement      -> "FAIL"

So a disagreement cannot outlive the evidence for it. A disagreement that holds only at
some scale says so in the chapter: ``disagreement=reason if small else None``.

The measured side is always a value computed in the chapter, a number or a small
structure of numbers (a list, a dict), never a sentence; nothing here can make a
measured value up.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import pages
from .results import jsonable, paper_runs, provenance, results_path, run_provenance

PASS, FAIL, DISAGREES, OUTDATED = ("pass", "FAIL", "disagrees (documented)",
                                   "FAIL: source now holds")
STATUS_COLOURS = {PASS: "#e6f4ea", FAIL: "#fce8e6", DISAGREES: "#fef7e0", OUTDATED: "#fce8e6"}
MAX_MEASURED_ITEMS = 64  # "a small structure": a table's cell, not a data set


class _Quiet(list):
    """A list that a notebook does not echo (``show_new()`` ends a cell)."""

    def _ipython_display_(self) -> None:
        pass


class _QuietPath(type(Path())):
    """A path that a notebook does not echo (``finish()`` ends a chapter)."""

    def _ipython_display_(self) -> None:
        pass


class ClaimsFailed(AssertionError):
    """Raised by ``ClaimsTable.finish`` when a row fails or a disagreement is out of date."""


@dataclass
class Claim:
    """One row. ``passed`` is the result of the source's check (see the module docstring)."""

    id: str
    statement: str
    source: str
    expected: str
    measured: object
    tolerance: str
    passed: bool
    disagreement: str | None = None
    section: str | None = None

    @property
    def status(self) -> str:
        if self.disagreement:
            return OUTDATED if self.passed else DISAGREES
        return PASS if self.passed else FAIL

    @property
    def ok(self) -> bool:
        """True unless the row fails the chapter."""
        return self.status in (PASS, DISAGREES)


def _number(name: str, value) -> float:
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a number, got the string {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None


def _check_measured(value) -> None:
    """A number, a bool, or a small list / tuple / dict / array of them; never text."""
    items = 0

    def walk(v) -> None:
        nonlocal items
        if isinstance(v, (str, bytes)):
            raise TypeError(
                f"measured must be a number or a small structure of numbers, not text ({v!r}): "
                "put words in the statement or the expected column"
            )
        if isinstance(v, dict):
            for key, inner in v.items():
                if not isinstance(key, str):
                    raise TypeError(f"measured dict keys must be strings, got {key!r}")
                walk(inner)
        elif isinstance(v, (list, tuple, np.ndarray)):
            for inner in np.asarray(v, dtype=object).ravel() if isinstance(v, np.ndarray) else v:
                walk(inner)
        elif v is None:
            items += 1
        else:
            _number("measured", v)
            items += 1
        if items > MAX_MEASURED_ITEMS:
            raise TypeError(
                f"measured holds more than {MAX_MEASURED_ITEMS} numbers: summarise it "
                "(a claim's evidence is a table cell, not a data set)"
            )

    walk(value)


def _fmt(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.ndarray):
        return _fmt(value.tolist())
    return str(value)


class ClaimsTable:
    """Rows of (id, statement, source, expected, measured, tolerance, status, note)."""

    def __init__(self, chapter: str, results_dir: str | Path = "_build/results", *,
                 namespace: dict | None = None):
        """``namespace``: the notebook's ``globals()``, so that ``finish`` can state which
        parameters differ from the chapter's defaults (its provenance box)."""
        self.chapter = chapter
        self.results_dir = results_dir
        self.namespace = namespace
        self.started = time.perf_counter()
        self.claims: list[Claim] = []
        self._shown = 0
        self._section: str | None = None

    # ------------------------------------------------------------------ rows
    def section(self, label: str | None) -> None:
        """Rows added from now on belong to the chapter section with this MyST label."""
        self._section = label

    def _add(self, id: str, statement: str, source: str, expected: str, measured, tolerance: str,
             passed: bool, disagreement: str | None) -> Claim:
        if any(c.id == id for c in self.claims):
            raise ValueError(f"duplicate claim id {id!r}")
        if disagreement is not None and not (
            isinstance(disagreement, str) and disagreement.strip()
        ):
            raise ValueError(
                f"disagreement of {id!r} must be a non-empty reason, got {disagreement!r}"
            )
        _check_measured(measured)
        claim = Claim(id, statement, source, expected, measured, tolerance, bool(passed),
                      disagreement, self._section)
        self.claims.append(claim)
        return claim

    def approx(self, id: str, statement: str, source: str, measured, expected, tolerance, *,
               disagreement: str | None = None) -> Claim:
        """The source's check: |measured - expected| <= tolerance."""
        m, e = _number("measured", measured), _number("expected", expected)
        t = _number("tolerance", tolerance)
        ok = math.isfinite(m) and abs(m - e) <= t
        return self._add(id, statement, source, _fmt(e), m, f"± {_fmt(t)}", ok, disagreement)

    def within(self, id: str, statement: str, source: str, measured, low, high, *,
               disagreement: str | None = None) -> Claim:
        """The source's check: low <= measured <= high."""
        m, lo, hi = _number("measured", measured), _number("low", low), _number("high", high)
        ok = math.isfinite(m) and lo <= m <= hi
        expected = f"in [{_fmt(lo)}, {_fmt(hi)}]"
        return self._add(id, statement, source, expected, m, "interval", ok, disagreement)

    def at_least(self, id: str, statement: str, source: str, measured, bound, *,
                 disagreement: str | None = None) -> Claim:
        """The source's check: measured >= bound."""
        m, b = _number("measured", measured), _number("bound", bound)
        ok = math.isfinite(m) and m >= b
        return self._add(id, statement, source, f">= {_fmt(b)}", m, "bound", ok, disagreement)

    def at_most(self, id: str, statement: str, source: str, measured, bound, *,
                disagreement: str | None = None) -> Claim:
        """The source's check: measured <= bound."""
        m, b = _number("measured", measured), _number("bound", bound)
        ok = math.isfinite(m) and m <= b
        return self._add(id, statement, source, f"<= {_fmt(b)}", m, "bound", ok, disagreement)

    def holds(self, id: str, statement: str, source: str, measured, expected: str, passed: bool, *,
              tolerance: str = "exact", disagreement: str | None = None) -> Claim:
        """A qualitative claim: ``passed`` is the source's predicate computed from
        measurements, ``measured`` the numbers it was computed from, ``expected`` its wording."""
        if not isinstance(passed, (bool, np.bool_)):
            raise TypeError(f"passed must be a bool computed from measurements, got {passed!r}")
        return self._add(
            id, statement, source, expected, measured, tolerance, bool(passed), disagreement
        )

    # ------------------------------------------------------------------ reporting
    @property
    def failed(self) -> list[Claim]:
        """Rows that fail the chapter: a failed check, or a disagreement the data no
        longer supports.
        """
        return [c for c in self.claims if not c.ok]

    def counts(self) -> dict[str, int]:
        """How many rows have each status."""
        out = {status: 0 for status in STATUS_COLOURS}
        for c in self.claims:
            out[c.status] += 1
        return out

    def frame(self, claims: list[Claim] | None = None) -> pd.DataFrame:
        rows = [
            {
                "id": c.id,
                "statement": c.statement,
                "source": c.source,
                "expected": c.expected,
                "measured": _fmt(c.measured),
                "tolerance": c.tolerance,
                "status": c.status,
                "note": c.disagreement or "",
            }
            for c in (self.claims if claims is None else claims)
        ]
        return pd.DataFrame(
            rows,
            columns=["id", "statement", "source", "expected", "measured", "tolerance", "status",
                     "note"],
        )

    def styled(self, claims: list[Claim] | None = None):
        """The table for display, rows coloured by status, the note column kept."""
        return (
            self.frame(claims)
            .style.hide(axis="index")
            .apply(
                lambda row: [f"background-color: {STATUS_COLOURS[row['status']]}"] * len(row),
                axis=1,
            )
            .set_properties(**{"text-align": "left", "white-space": "normal"})
        )

    def _show(self, claims: list[Claim], display: bool) -> None:
        if not display or not claims:
            return
        try:
            from IPython.display import display as show

            show(self.styled(claims))
        except ImportError:  # plain Python: print instead
            print(self.frame(claims).to_string(index=False))

    def show_new(self, display: bool = True) -> list[Claim]:
        """Show the rows added since the last ``show_new`` (a section's claims, beside
        its evidence).
        """
        new = _Quiet(self.claims[self._shown :])
        self._shown = len(self.claims)
        self._show(new, display)
        return new

    def save(self, record: dict | None = None) -> Path:
        """Write ``<chapter>.claims.json`` and ``<chapter>.provenance.json`` (``record``, or
        ``provenance()`` now)."""
        path = results_path(self.results_dir) / f"{self.chapter}.claims.json"
        rows = []
        for c in self.claims:
            row = asdict(c)
            row["measured"] = jsonable(c.measured)
            row["status"] = c.status
            rows.append(row)
        path.write_text(json.dumps(rows, indent=2))
        (path.parent / f"{self.chapter}.provenance.json").write_text(
            json.dumps(record or self.provenance(), indent=2)
        )
        return path

    def provenance(self) -> dict:
        """What produced this run: ``results.provenance()`` (versions, host), and, when the
        table knows the notebook's namespace, ``results.run_provenance`` (seed, parameters
        that differ from the chapter's defaults, commit and dirty flag, device, wall time)."""
        record = provenance()
        if self.namespace is not None:
            record.update(run_provenance(self.chapter, self.namespace,
                                         time.perf_counter() - self.started))
        return record

    def show_provenance(self, display: bool = True, record: dict | None = None) -> dict:
        """The box at the end of the page: seed, changed parameters, commit, torch, device,
        wall time, and the commands that re-run or open the chapter."""
        record = record or self.provenance()
        if display:
            _display_html(pages.provenance_html(record, pages.rerun_commands(self.chapter)),
                          "\n".join(f"{k}: {v}" for k, v in record.items()))
        return record

    def show_paper_runs(self, display: bool = True, root: str | Path | None = None) -> list:
        """Committed paper-scale runs of this chapter (``results/<chapter>/<run>/``, see
        ``results.paper_runs``), each shown beside the CPU run: a labelled header with its
        provenance, its claims table, and the figures its run exported. Returns the runs."""
        runs = paper_runs(self.chapter, root, exclude=results_path(self.results_dir))
        if not display or not runs:
            return runs
        _display_html(
            "<p><strong>Paper-scale runs.</strong> The figures and table above are this "
            "build's CPU run. Below, each committed paper-scale run of this chapter, read "
            "from its files: nothing of it is re-run here.</p>",
            "Paper-scale runs (committed, not re-run):")
        for run in runs:
            _display_html(pages.paper_run_html(self.chapter, run),
                          f"Paper-scale run {run['name']}: {pages.counts_text(run['claims'])}")
            claims = [Claim(**{k: row.get(k) for k in Claim.__dataclass_fields__})
                      for row in run["claims"]]
            self._show(claims, True)
            figures = sorted(run["figures"], key=lambda f: not f.get("headline"))
            for figure in figures:
                image = Path(run["path"]) / figure["file"]
                if image.exists():
                    _display_image(image, f"{run['name']}: {figure.get('caption', image.name)}",
                                   run["name"])
        return runs

    def finish(self, display: bool = True) -> Path:
        """Show the whole table (and the provenance box when the table knows the notebook's
        namespace), write the JSON, show the committed paper-scale runs of the chapter
        (``show_paper_runs``), and raise ``ClaimsFailed`` if any row of this run failed."""
        self._show(self.claims, display)
        self._shown = len(self.claims)
        record = self.provenance()
        path = self.save(record)
        if self.namespace is not None:
            self.show_provenance(display, record)
        self.show_paper_runs(display)
        if self.failed:
            lines = "\n".join(
                f"  {c.id}: measured {_fmt(c.measured)}, expected {c.expected} ({c.tolerance})"
                + (
                    " -- the source's claim now holds: update the text"
                    if c.status == OUTDATED
                    else ""
                )
                for c in self.failed
            )
            raise ClaimsFailed(f"{len(self.failed)} claim(s) of {self.chapter} failed:\n{lines}")
        return _QuietPath(path)


def _display_html(html: str, plain: str) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:
        print(plain)
        return
    display(HTML(html))


def _display_image(path: Path, caption: str, paper_run: str) -> None:
    """Show a committed run's figure, marked (output metadata ``paper_run``) so that
    ``lib.run``'s ``export_figures`` does not count it as a figure of the run showing it."""
    try:
        from IPython.display import Image, display
    except ImportError:
        print(f"{caption}: {path}")
        return
    display(Image(filename=str(path)), metadata={"paper_run": paper_run})
    _display_html(f"<p><em>{pages.escape(caption)}</em></p>", caption)

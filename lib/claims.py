"""The claims table: every reproduced statement, measured and checked.

A chapter creates one ``ClaimsTable``, adds a row per claim with one of the checks
(``approx``, ``at_least``, ``at_most``, ``within``, ``holds``), and ends with
``finish()``, which shows the table, writes ``<results_dir>/<chapter>.claims.json`` and
raises ``ClaimsFailed`` if any claim failed — unless that row carries a
``disagreement=`` reason, the mark of a documented disagreement with the source.

The measured side is always a value computed in the chapter; the check turns it into
``passed``. Nothing here can make a measured value up.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .results import jsonable, provenance, results_path


class ClaimsFailed(AssertionError):
    """Raised by ``ClaimsTable.finish`` when a claim fails without a documented disagreement."""


@dataclass
class Claim:
    id: str
    statement: str
    source: str
    expected: str
    measured: object
    tolerance: str
    passed: bool
    disagreement: str | None = None

    @property
    def status(self) -> str:
        if self.passed:
            return "pass"
        return "disagrees (documented)" if self.disagreement else "FAIL"


def _number(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    return v


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


class ClaimsTable:
    """Rows of (id, statement, source, expected, measured, tolerance, passed)."""

    def __init__(self, chapter: str, results_dir: str | Path = "_build/results"):
        self.chapter = chapter
        self.results_dir = results_dir
        self.claims: list[Claim] = []

    # ------------------------------------------------------------------ checks
    def _add(self, claim: Claim) -> Claim:
        if any(c.id == claim.id for c in self.claims):
            raise ValueError(f"duplicate claim id {claim.id!r}")
        self.claims.append(claim)
        return claim

    def approx(self, id: str, statement: str, source: str, measured, expected, tolerance,
               *, disagreement: str | None = None) -> Claim:
        """Pass iff |measured - expected| <= tolerance."""
        m, e, t = _number("measured", measured), _number("expected", expected), _number("tolerance", tolerance)
        ok = math.isfinite(m) and abs(m - e) <= t
        return self._add(Claim(id, statement, source, f"{_fmt(e)}", m, f"± {_fmt(t)}", bool(ok), disagreement))

    def within(self, id: str, statement: str, source: str, measured, low, high,
               *, disagreement: str | None = None) -> Claim:
        """Pass iff low <= measured <= high."""
        m, lo, hi = _number("measured", measured), _number("low", low), _number("high", high)
        ok = math.isfinite(m) and lo <= m <= hi
        return self._add(Claim(id, statement, source, f"in [{_fmt(lo)}, {_fmt(hi)}]", m, "interval",
                               bool(ok), disagreement))

    def at_least(self, id: str, statement: str, source: str, measured, bound,
                 *, disagreement: str | None = None) -> Claim:
        """Pass iff measured >= bound."""
        m, b = _number("measured", measured), _number("bound", bound)
        ok = math.isfinite(m) and m >= b
        return self._add(Claim(id, statement, source, f">= {_fmt(b)}", m, "bound", bool(ok), disagreement))

    def at_most(self, id: str, statement: str, source: str, measured, bound,
                *, disagreement: str | None = None) -> Claim:
        """Pass iff measured <= bound."""
        m, b = _number("measured", measured), _number("bound", bound)
        ok = math.isfinite(m) and m <= b
        return self._add(Claim(id, statement, source, f"<= {_fmt(b)}", m, "bound", bool(ok), disagreement))

    def holds(self, id: str, statement: str, source: str, measured, expected: str, passed: bool,
              *, tolerance: str = "exact", disagreement: str | None = None) -> Claim:
        """A qualitative claim: ``passed`` is the chapter's measured predicate, ``measured``
        the evidence it was computed from (shown in the table), ``expected`` its wording."""
        if not isinstance(passed, (bool, np.bool_)):
            raise TypeError(f"passed must be a bool computed from measurements, got {passed!r}")
        return self._add(Claim(id, statement, source, expected, measured, tolerance, bool(passed), disagreement))

    # ------------------------------------------------------------------ reporting
    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if not c.passed and not c.disagreement]

    def frame(self) -> pd.DataFrame:
        rows = [{"id": c.id, "statement": c.statement, "source": c.source, "expected": c.expected,
                 "measured": _fmt(c.measured), "tolerance": c.tolerance, "status": c.status}
                for c in self.claims]
        return pd.DataFrame(rows, columns=["id", "statement", "source", "expected", "measured",
                                           "tolerance", "status"])

    def styled(self):
        """The table for display, rows coloured by status."""
        colours = {"pass": "#e6f4ea", "FAIL": "#fce8e6", "disagrees (documented)": "#fef7e0"}
        frame = self.frame()
        return (frame.style.hide(axis="index")
                .apply(lambda row: [f"background-color: {colours[row['status']]}"] * len(row), axis=1)
                .set_properties(**{"text-align": "left", "white-space": "normal"}))

    def save(self) -> Path:
        path = results_path(self.results_dir) / f"{self.chapter}.claims.json"
        rows = []
        for c in self.claims:
            row = asdict(c)
            row["measured"] = jsonable(c.measured)
            row["status"] = c.status
            rows.append(row)
        path.write_text(json.dumps(rows, indent=2))
        (path.parent / f"{self.chapter}.provenance.json").write_text(json.dumps(provenance(), indent=2))
        return path

    def finish(self, display: bool = True) -> Path:
        """Show the table, write the JSON, and raise ``ClaimsFailed`` if any claim failed."""
        if display:
            try:
                from IPython.display import display as show
                show(self.styled())
            except ImportError:  # plain Python: print instead
                print(self.frame().to_string(index=False))
        path = self.save()
        if self.failed:
            lines = "\n".join(f"  {c.id}: measured {_fmt(c.measured)}, expected {c.expected} ({c.tolerance})"
                              for c in self.failed)
            raise ClaimsFailed(f"{len(self.failed)} claim(s) of {self.chapter} failed:\n{lines}")
        return path

"""The claims table: checks, JSON output, and failure raising."""

import json

import numpy as np
import pytest

from lib.claims import ClaimsFailed, ClaimsTable


def test_passing_claims_are_written(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.approx("a", "x is about 1", "test", measured=1.02, expected=1.0, tolerance=0.05)
    t.at_least("b", "many", "test", measured=np.int64(7), bound=5)
    t.at_most("c", "few", "test", measured=2, bound=3)
    t.within("d", "between", "test", measured=0.5, low=0, high=1)
    seq = [1, 2, 3]
    t.holds("e", "pattern", "test", measured=seq, expected="increasing", passed=bool(np.all(np.diff(seq) > 0)))
    path = t.finish(display=False)
    rows = json.loads(path.read_text())
    assert path.name == "00_demo.claims.json"
    assert [r["id"] for r in rows] == list("abcde")
    assert all(r["passed"] for r in rows)
    assert {"id", "statement", "source", "expected", "measured", "tolerance", "passed"} <= set(rows[0])
    assert (tmp_path / "00_demo.provenance.json").exists()


def test_failing_claim_raises_after_writing(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.approx("ok", "fine", "test", measured=1.0, expected=1.0, tolerance=0.0)
    t.at_least("bad", "too small", "test", measured=2, bound=5)
    with pytest.raises(ClaimsFailed, match="bad"):
        t.finish(display=False)
    rows = json.loads((tmp_path / "00_demo.claims.json").read_text())
    assert [r["passed"] for r in rows] == [True, False]


def test_documented_disagreement_does_not_raise(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.approx("d", "paper says 0.43", "test", measured=0.30, expected=0.43, tolerance=0.05,
             disagreement="our measurement differs; see the text")
    t.finish(display=False)
    assert t.frame()["status"].tolist() == ["disagrees (documented)"]


def test_nan_measurement_fails(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.approx("nan", "nan never passes", "test", measured=float("nan"), expected=0, tolerance=1e9)
    assert t.failed


def test_holds_requires_a_computed_bool(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    with pytest.raises(TypeError):
        t.holds("x", "s", "src", measured=1, expected="e", passed="yes")
    with pytest.raises(ValueError, match="duplicate"):
        t.at_least("y", "s", "src", 1, 0)
        t.at_least("y", "s", "src", 1, 0)

"""The claims table: checks, JSON output, and failure raising."""

import json

import numpy as np
import pytest

from lib.reporting.claims import ClaimsFailed, ClaimsTable


def test_passing_claims_are_written(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.approx("a", "x is about 1", "test", measured=1.02, expected=1.0, tolerance=0.05)
    t.at_least("b", "many", "test", measured=np.int64(7), bound=5)
    t.at_most("c", "few", "test", measured=2, bound=3)
    t.within("d", "between", "test", measured=0.5, low=0, high=1)
    seq = [1, 2, 3]
    t.holds(
        "e",
        "pattern",
        "test",
        measured=seq,
        expected="increasing",
        passed=bool(np.all(np.diff(seq) > 0)),
    )
    path = t.finish(display=False)
    rows = json.loads(path.read_text())
    assert path.name == "00_demo.claims.json"
    assert [r["id"] for r in rows] == list("abcde")
    assert all(r["passed"] for r in rows)
    assert {
        "id",
        "statement",
        "source",
        "expected",
        "measured",
        "tolerance",
        "passed",
    } <= set(rows[0])
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
    t.approx(
        "d",
        "paper says 0.43",
        "test",
        measured=0.30,
        expected=0.43,
        tolerance=0.05,
        disagreement="our measurement differs; see the text",
    )
    t.finish(display=False)
    assert t.frame()["status"].tolist() == ["disagrees (documented)"]


def test_nan_measurement_fails(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.approx(
        "nan",
        "nan never passes",
        "test",
        measured=float("nan"),
        expected=0,
        tolerance=1e9,
    )
    assert t.failed


def test_holds_requires_a_computed_bool(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    with pytest.raises(TypeError):
        t.holds("x", "s", "src", measured=1, expected="e", passed="yes")
    with pytest.raises(ValueError, match="duplicate"):
        t.at_least("y", "s", "src", 1, 0)
        t.at_least("y", "s", "src", 1, 0)


def test_disagreement_that_now_holds_fails_the_chapter(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.approx(
        "d",
        "paper says 0.43",
        "test",
        measured=0.44,
        expected=0.43,
        tolerance=0.05,
        disagreement="we measured 0.30 on seeds 0-2",
    )
    assert t.frame()["status"].tolist() == ["FAIL: source now holds"]
    with pytest.raises(ClaimsFailed, match="now holds: update the text"):
        t.finish(display=False)
    row = json.loads((tmp_path / "00_demo.claims.json").read_text())[0]
    assert (
        row["disagreement"] == "we measured 0.30 on seeds 0-2"
        and row["status"] == "FAIL: source now holds"
    )


def test_rendered_table_carries_the_reason_and_the_section(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.section("sec-first")
    t.at_least(
        "a", "many", "test", measured=1, bound=5, disagreement="only one at this size"
    )
    assert t.frame()["note"].tolist() == ["only one at this size"]
    assert [c.id for c in t.show_new(display=False)] == ["a"]
    t.section("sec-second")
    t.at_most("b", "few", "test", measured=1, bound=5)
    assert [c.id for c in t.show_new(display=False)] == ["b"] and t.show_new(
        display=False
    ) == []
    t.finish(display=False)
    rows = json.loads((tmp_path / "00_demo.claims.json").read_text())
    assert [r["section"] for r in rows] == ["sec-first", "sec-second"]
    assert t.counts()["disagrees (documented)"] == 1 and t.counts()["pass"] == 1


@pytest.mark.parametrize(
    "measured", ["seven", ["a", 1], {"x": "text"}, list(range(100))]
)
def test_measured_is_numbers_never_text(tmp_path, measured):
    t = ClaimsTable("00_demo", tmp_path)
    with pytest.raises(TypeError, match="measured"):
        t.holds("x", "s", "src", measured=measured, expected="e", passed=True)


def test_small_structures_of_numbers_are_measured_values(tmp_path):
    t = ClaimsTable("00_demo", tmp_path)
    t.holds(
        "x",
        "s",
        "src",
        measured={"seed 0": 0.5, "counts": [1, 2, 3], "ok": True},
        expected="e",
        passed=True,
    )
    t.holds("y", "s", "src", measured=np.array([0.1, 0.2]), expected="e", passed=True)
    assert t.frame()["measured"].tolist() == [
        "{seed 0: 0.5, counts: [1, 2, 3], ok: True}",
        "[0.1, 0.2]",
    ]
    with pytest.raises(ValueError, match="reason"):
        t.at_least("z", "s", "src", 1, 0, disagreement="  ")


def test_provenance_names_the_parameters_that_differ_from_the_chapter_defaults(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (book / "00_demo.md").write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "    format_version: 0.13\nkernelspec:\n  display_name: Python 3\n  language: python\n"
        "  name: python3\n---\n\n# Demo\n\n```{code-cell} ipython3\n:tags: [parameters]\n\n"
        "seed = 0\nsteps = 100\ndevice = \"auto\"\n```\n")
    from lib.reporting.results import chapter_parameters, run_provenance

    assert chapter_parameters("00_demo", book) == {"seed": 0, "steps": 100, "device": "auto"}
    import lib.reporting.results as results

    original = results.chapter_parameters
    results.chapter_parameters = lambda chapter: original(chapter, book)
    try:
        record = run_provenance("00_demo", {"seed": 3, "steps": 100, "device": "cpu"}, 12.3)
    finally:
        results.chapter_parameters = original
    assert record["seed"] == 3 and record["changed_parameters"] == {"seed": 3, "device": "cpu"}
    assert record["wall_seconds"] == 12.3 and "git_dirty" in record and record["device"] == "cpu"

"""The sweep on the local default (a Dask LocalCluster): two tiny jobs of the fixture
chapter, one passing (another seed: its page shows its provenance) and one failing; both
are reported, the failure does not stop the other (issue 14, point 5)."""

import json
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from lib.reporting.sweep import main  # noqa: E402

BOOK = Path(__file__).parent / "fixtures" / "book"


def test_two_jobs_on_the_local_cluster(tmp_path, capsys):
    report = tmp_path / "report.json"
    code = main(["--chapters", "01", "--book", str(BOOK), "--params", "default",
                 str(BOOK / "fail.yml"), "--seeds", "3", "--results", str(tmp_path),
                 "--workers", "2", "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "sweep: 2 job(s)" in out and "sweep: 1 passed, 1 failed" in out
    assert "ok   01_alpha default-seed3: 1 pass" in out
    assert "FAIL 01_alpha fail-seed3: 0 pass, 0 disagree, 1 fail" in out
    assert "ClaimsFailed" in out  # the failed job's log tail
    results = {r["run"]: r for r in json.loads(report.read_text())}
    assert results["default-seed3"]["returncode"] == 0 and results["fail-seed3"]["returncode"] == 1
    run = tmp_path / "01_alpha" / "default-seed3"
    provenance = json.loads((run / "01_alpha.provenance.json").read_text())
    assert provenance["seed"] == 3 and provenance["changed_parameters"] == {
        "seed": 3, "results_dir": str(run)}
    page = (run / "01_alpha.ipynb").read_text()
    assert "<strong>seed</strong>: 3" in page  # the provenance box on the executed page
    assert (run / "01_alpha_points.npz").exists()
    assert json.loads((run / "figures.json").read_text())[0]["headline"] is True


def test_bad_input_stops_the_sweep_before_any_job(tmp_path):
    with pytest.raises(SystemExit, match="unknown parameter 'stepz'"):
        bad = tmp_path / "bad.yml"
        bad.write_text("stepz: 3\n")
        main(["--chapters", "01", "--book", str(BOOK), "--params", str(bad),
              "--results", str(tmp_path)])
    assert not (tmp_path / "01_alpha").exists()

"""Committed paper-scale runs (results/<chapter>/<run>/) are found, labelled and shown
beside the CPU run without re-running (issue 14, point 4); provenance and compact weights
(point 3)."""

import json

import numpy as np

from lib.reporting import pages
from lib.reporting.claims import ClaimsTable
from lib.reporting.results import paper_runs, save_weights

from .fake_results import make_paper_run


def test_paper_runs_are_found_and_the_running_one_left_out(tmp_path):
    make_paper_run(tmp_path, "01_alpha")
    running = make_paper_run(tmp_path, "01_alpha", "gpu-seed1")
    (tmp_path / "01_alpha" / "scratch").mkdir()  # no claims file: not a run
    runs = paper_runs("01_alpha", tmp_path, exclude=running)
    assert [r["name"] for r in runs] == ["gpu-seed0"]
    run = runs[0]
    assert run["provenance"]["device_name"] == "NVIDIA H200"
    assert [f["headline"] for f in run["figures"]] == [True]
    assert pages.count_statuses(run["claims"]) == {"pass": 1, "disagree": 0, "fail": 1}
    assert paper_runs("02_beta", tmp_path) == []


def test_finish_shows_the_paper_run_beside_the_cpu_one(tmp_path, monkeypatch):
    make_paper_run(tmp_path / "results", "01_alpha")
    shown = []
    import lib.reporting.claims as claims_module

    monkeypatch.setattr(claims_module, "_display_html", lambda html, plain: shown.append(html))
    monkeypatch.setattr(claims_module, "_display_image",
                        lambda path, caption, run: shown.append(f"IMAGE {path.name} {caption}"))
    monkeypatch.setattr(ClaimsTable, "_show", lambda self, claims, display: shown.append(
        "TABLE " + ",".join(c.id for c in claims)))
    table = ClaimsTable("01_alpha", tmp_path / "cpu", namespace={"seed": 0})
    table.at_most("mean-small", "small", "fixture", 0.1, 10)
    runs = table.show_paper_runs(root=tmp_path / "results")
    assert [r["name"] for r in runs] == ["gpu-seed0"]
    text = "\n".join(shown)
    assert "Paper-scale run gpu-seed0 (committed result, not re-run by this build)" in text
    assert "NVIDIA H200" in text and "steps = 10000" in text and "1 fail" in text
    assert "TABLE mean-small,paper-only" in text
    assert "IMAGE cell004-0.png gpu-seed0: cell 4, A mean" in text


def test_provenance_box_and_file(tmp_path):
    table = ClaimsTable("00_demo", tmp_path, namespace={"seed": 4, "device": "cpu"})
    table.at_least("a", "s", "src", 1, 0)
    record = table.show_provenance(display=False)
    assert record["seed"] == 4 and record["device"] == "cpu" and "wall_seconds" in record
    html = pages.provenance_html(record, pages.rerun_commands("00_demo"))
    assert "Provenance of this page" in html and "<strong>seed</strong>: 4" in html
    assert "python -m lib.run 00 -p seed 1" in html and "jupyter lab book/00_demo.md" in html
    table.finish(display=False)
    saved = json.loads((tmp_path / "00_demo.provenance.json").read_text())
    assert saved["seed"] == 4 and "git_dirty" in saved and "torch" in saved


def test_weights_are_saved_compact_with_provenance(tmp_path):
    import torch

    path = save_weights(tmp_path, "w", {"W": torch.ones(2, 3, dtype=torch.float64),
                                        "counts": np.arange(3)}, config={"n": 3})
    with np.load(path) as saved:
        assert saved["W"].dtype == np.float32 and saved["counts"].dtype == np.arange(3).dtype
        assert json.loads(str(saved["provenance"]))["config"] == {"n": 3}

"""tools/gpu_check.py's logic on the CPU (``--allow-cpu``) with the fixture chapters and
their fixture params/gpu and params/gpu-check files: each chapter runs with both files and
the record says so. (CUDA itself can only be checked on a GPU machine.)"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_rehearsal_writes_the_record(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--allow-cpu", "--skip-bench",
         "--book", str(ROOT / "tests/reporting/fixtures/book"), "--out", str(tmp_path),
         "--parallel", "2", "--budget", "300"],
        capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["status"] == "pass (CPU rehearsal: not a GPU check)"
    assert [c["chapter"] for c in record["chapters"]] == ["01_alpha", "02_beta"]
    assert all(c["status"] == "pass" for c in record["chapters"])
    provenance = json.loads((tmp_path / "chapters/01_alpha/01_alpha.provenance.json").read_text())
    assert provenance["changed_parameters"]["steps"] == 30  # the reduced file came last
    assert provenance["changed_parameters"]["scale"] == 2.0  # after the "gpu" file
    assert not list((tmp_path / "chapters").rglob("*.npz"))  # only JSON is kept
    assert "| 01_alpha | pass |" in (tmp_path / "record.md").read_text()

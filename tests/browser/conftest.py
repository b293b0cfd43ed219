"""The fixture book (tests/reporting/fixture_book.py), built once per test session with
the real _config.yml, with a fake committed paper-scale run of its first chapter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reporting.fake_results import make_paper_run
from tests.reporting.fixture_book import make_project

from .check_book import find_chromium


def browser_or_skip() -> str:
    """Chromium's path; outside CI a machine without it (or playwright) skips, in CI
    (``CI`` set, as .ci/run installs both) it fails."""
    chromium = find_chromium()
    try:
        import playwright  # noqa: F401
    except ImportError:
        chromium = None
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium and Python playwright (.ci/run installs them)")
        pytest.skip("no chromium / playwright here (apt-get install chromium; see README)")
    return chromium


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("book"))
    make_paper_run(project / "results", "01_alpha")
    env = dict(os.environ, PYTHONPATH=str(project), OMP_NUM_THREADS="1")
    jb = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run([str(jb) if jb.exists() else shutil.which("jupyter-book"), "build",
                           str(project), "-W", "--keep-going"],
                          capture_output=True, text=True, env=env, cwd=project)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return project

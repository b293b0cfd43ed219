"""Every chapter's paper-scale file (book/params/gpu/) and reduced-steps file
(book/params/gpu-check/, applied after it by tools/gpu_check.py) name only parameters the
chapter has, with values of the right type: what ``lib.run`` would refuse up front is
caught here, not on a rented GPU."""

from pathlib import Path

import pytest

from lib.reporting.run import parse_parameters, prepare

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("[0-9]*.md"))


@pytest.mark.parametrize("chapter", CHAPTERS)
@pytest.mark.parametrize("kind", ["gpu", "gpu-check"])
def test_parameter_files_match_the_chapter(chapter, kind):
    file = ROOT / "book" / "params" / kind / f"{chapter}.yml"
    assert file.exists(), f"{file.relative_to(ROOT)} is missing"
    files = [str(ROOT / "book" / "params" / "gpu" / f"{chapter}.yml"), str(file)]
    params, origin = parse_parameters([], files)
    prepare(chapter, params, origin=origin)  # raises a one-line SystemExit if not

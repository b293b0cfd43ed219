"""The chapter runner finds a chapter's page, or the sub-pages of a split chapter."""

import pytest

from lib.reporting.run import find_chapter, find_pages


def test_find_pages_of_whole_and_split_chapters(tmp_path):
    for stem in ("01_basics", "04a_privileged_basis", "04b_attenuated_relu", "05_denoiser"):
        (tmp_path / f"{stem}.md").write_text("")
    assert [p.stem for p in find_pages("1", tmp_path)] == ["01_basics"]
    assert [p.stem for p in find_pages("04", tmp_path)] == [
        "04a_privileged_basis", "04b_attenuated_relu"]
    assert [p.stem for p in find_pages("04b", tmp_path)] == ["04b_attenuated_relu"]
    with pytest.raises(SystemExit, match="no unique chapter"):
        find_chapter("04", tmp_path)
    with pytest.raises(SystemExit, match="no unique chapter"):
        find_pages("07", tmp_path)

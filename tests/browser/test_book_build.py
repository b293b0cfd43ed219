"""The built fixture book: the claims page from this build's JSON, the intro's map, the
provenance box, the committed paper-scale run beside the CPU run, one copy of each
script; and the browser check passes on it with a screenshot of every page."""

import json
import re
import types

from .check_book import main as check_book
from .conftest import browser_or_skip


def html(book, page):
    return (book / "_build" / "html" / "book" / f"{page}.html").read_text()


def test_claims_page_lists_every_claim_of_this_build(built_book):
    page = html(built_book, "claims")
    for claim_id in ("mean-small", "slope", "offset"):  # each id links to its section
        assert re.search(rf'href="0[12]_\w+.html#sec-\w+-\w+"[^>]*>{claim_id}</a>', page)
    assert re.search(r'href="01_alpha.html#sec-alpha-mean"[^>]*>mean-small</a>', page)
    assert "the line starts at the seed, not at 5" in page  # the disagreement reason
    assert "3 claims in 2 chapters: 2 pass, 1 documented disagreements, 0 fail" in page
    assert "gpu-seed0: 1 pass, 0 disagree, 1 fail" in page  # the committed paper-scale run
    measured = json.loads((built_book / "_build/results/01_alpha.claims.json").read_text())
    assert f"{measured[0]['measured']:.4g}" in page  # the value this build measured


def test_intro_map_has_a_thumbnail_per_chapter_linking_to_it(built_book):
    page = html(built_book, "intro")
    cards = re.findall(r'<a class="reference internal" href="(\w+)\.html"><img alt="headline '
                       r'figure of [^"]+" class="chapter-thumb" src="([^"]+)"', page)
    assert [c[0] for c in cards] == ["01_alpha", "02_beta"]
    assert all((built_book / "_build/html/book" / src).exists() for _, src in cards)
    assert "1 claims: 1 pass, 0 disagree, 0 fail" in page


def test_chapter_ends_with_provenance_and_the_paper_run(built_book):
    page = html(built_book, "01_alpha")
    assert "Provenance of this page" in page and "<strong>seed</strong>: 0" in page
    assert "python -m lib.run 01 -p seed 1" in page and "jupyter lab book/01_alpha.md" in page
    assert "Paper-scale run gpu-seed0 (committed result, not re-run by this build)" in page
    assert "NVIDIA H200" in page and "paper-only" in page
    assert "PosixPath" not in page and "[Claim(" not in page  # nothing echoed


def test_one_copy_of_each_inline_script(built_book):
    for page in ("intro", "01_alpha", "02_beta", "claims"):
        text = html(built_book, page)
        assert text.count("const THEBE_JS_URL") == 1
        assert text.count("var togglebuttonSelector") == 1


def test_a_stale_or_missing_claims_file_is_refused(tmp_path):
    from lib.reporting.book import load_claims

    app = types.SimpleNamespace(srcdir=str(tmp_path), config=types.SimpleNamespace(
        claims_results_dir="results"), _book_read_times={"book/01_x": 4e9})
    assert "no claims file" in load_claims(app, "book/01_x")[1]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "01_x.claims.json").write_text("[]")
    assert "older than this build's execution" in load_claims(app, "book/01_x")[1]
    app._book_read_times = {"book/01_x": 0}
    assert load_claims(app, "book/01_x") == ([], None)


def test_browser_check_passes_with_a_screenshot_per_page(built_book, capsys):
    chromium = browser_or_skip()
    shots = built_book / "_build" / "screenshots"
    code = check_book([str(built_book / "_build/html"), "--toc", str(built_book / "_toc.yml"),
                       "--screenshots", str(shots), "--chromium", chromium])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "browser: 4 passed, 0 failed" in out
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "book__01_alpha.png", "book__02_beta.png", "book__claims.png", "book__intro.png"]

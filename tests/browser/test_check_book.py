"""Negative controls of the browser check: pages with each kind of fault fail it, a clean
page passes."""

from .check_book import main as check_book
from .conftest import browser_or_skip

PAGES = {
    "good.html": '<p id="top">fine <a href="bad_link.html#x">ok</a> <a href="#top">up</a></p>',
    "console.html": "<script>console.error('boom')</script><p>x</p>",
    "exception.html": "<script>const A = 1;</script><script>const A = 2;</script><p>x</p>",
    "image.html": '<img src="missing.png"><p>x</p>',
    "tex.html": "<p>the loss $L = \\sum_i x_i$ unrendered</p><pre>$ ok in code $</pre>",
    "external.html": '<img src="http://example.com/a.png"><p>x</p>',
    "bad_link.html": '<p id="x"><a href="nowhere.html">a</a> <a href="good.html#nope">b</a></p>',
}


def test_each_fault_fails_and_a_clean_page_passes(tmp_path, capsys):
    chromium = browser_or_skip()
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text("<p>index</p>")
    for name, body in PAGES.items():
        (html / name).write_text(f"<!doctype html><html><body>{body}</body></html>")
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: good\nchapters:\n"
                   + "".join(f"  - file: {n[:-5]}\n" for n in PAGES if n != "good.html"))
    code = check_book([str(html), "--toc", str(toc), "--screenshots", str(tmp_path / "s"),
                       "--chromium", chromium])
    out = capsys.readouterr().out
    assert code == 1
    assert "ok   good.html" in out
    assert "console error: boom" in out
    assert "uncaught exception: " in out and "'A' has already been declared" in out
    assert "image not loaded: missing.png" in out
    assert "raw TeX left in the text: '$L = \\\\sum_i x_i$'" in out
    assert "ok in code" not in out
    assert "request to a non-local address (blocked): http://example.com/a.png" in out
    assert "link to a missing file: /nowhere.html" in out
    assert "link to a missing anchor: /good.html#nope" in out
    assert "browser: 1 passed, 6 failed" in out
    assert len(list((tmp_path / "s").glob("*.png"))) == 7

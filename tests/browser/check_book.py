"""The built book in a real browser: ``python -m tests.browser.check_book [_build/html]``.

Serves the HTML on 127.0.0.1 and opens every page of the table of contents (``--toc``,
default ``_toc.yml``; without it, every page) in headless Chromium (Debian's ``chromium``
driven by Python ``playwright`` through ``executable_path``). A page fails if

- the browser logs a console error or an uncaught exception, or a local file is missing
  (HTTP status >= 400);
- the page asks for anything that is not on 127.0.0.1 / localhost: every such request is
  blocked and reported, so a page that passes shows a reader offline what it shows online;
- an image has not loaded (``naturalWidth == 0``);
- raw TeX is left in the text once MathJax has typeset it (``$...$``, ``\\(``, ``\\[``;
  code blocks and cell outputs are not prose and are left out);
- an internal link points to a missing file or to an anchor that its page lacks.

A full-page screenshot of each page goes to ``--screenshots`` (default
``_build/screenshots``). Prints one line per page and ``browser: N passed, M failed``;
exit status 1 if any page failed.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
RAW_TEX = re.compile(r"(?<![\\$])\$[^$\s][^$\n]*?\$|\\\(|\\\[")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")

# Text of the page outside code, outputs and typeset math: where raw TeX would show.
PROSE_JS = """() => {
  const root = (document.querySelector('main') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, mjx-container, .MathJax, .cell_output,'
    + ' .output, .highlight, .headerlink, textarea').forEach(e => e.remove());
  return root.innerText;
}"""
IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : i.decode().catch(() => null)));
  return imgs.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'));
}"""
LINKS_JS = """() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"""
MATHJAX_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise; return true;
  }
  return false;
}"""


def find_chromium(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def toc_pages(toc: Path) -> list[str]:
    """``_toc.yml`` (jupyter-book format) -> the pages' paths relative to the HTML root."""
    data = yaml.safe_load(toc.read_text())
    files = [data["root"]]

    def walk(entries) -> None:
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) if isinstance(entry, dict) else []:
                walk(part.get("chapters"))

    walk(data.get("chapters"))
    for part in data.get("parts", []):
        walk(part.get("chapters"))
    return [str(Path(f).with_suffix("")) + ".html" for f in files]


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


def link_problem(href: str, origin: str, root: Path) -> str | None:
    """Why an internal link is broken (None if it is fine or not internal)."""
    parts = urlsplit(href)
    if f"{parts.scheme}://{parts.netloc}" != origin:
        return None
    target = root / unquote(parts.path).lstrip("/")
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"link to a missing file: {parts.path}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in anchors(target):
        return f"link to a missing anchor: {parts.path}#{fragment}"
    return None


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def check_page(context, origin: str, root: Path, page: str, shots: Path) -> list[str]:
    problems: list[str] = []
    tab = context.new_page()
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
           if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    tab.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
           if r.status >= 400 else None)
    try:
        tab.goto(f"{origin}/{page}", wait_until="load", timeout=60_000)
        tab.evaluate(MATHJAX_JS)
        tab.wait_for_load_state("networkidle", timeout=30_000)
        for src in tab.evaluate(IMAGES_JS):
            problems.append(f"image not loaded: {src}")
        for match in RAW_TEX.findall(tab.evaluate(PROSE_JS)):
            problems.append(f"raw TeX left in the text: {match[:60]!r}")
        for href in sorted(set(tab.evaluate(LINKS_JS))):
            problem = link_problem(href, origin, root)
            if problem:
                problems.append(problem)
        shot = shots / (page.replace("/", "__").removesuffix(".html") + ".png")
        tab.screenshot(path=str(shot), full_page=True)
    except Exception as err:  # a page that cannot be driven fails, with the reason
        problems.append(f"{type(err).__name__}: {str(err).splitlines()[0]}")
    finally:
        tab.close()
    return problems


def check_book(root: Path, pages: list[str], shots: Path, chromium: str) -> dict[str, list]:
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    server, origin = serve(root)
    blocked: list[str] = []

    def only_local(route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    results: dict[str, list] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_local)
            for page in pages:
                blocked.clear()
                if not (root / page).exists():
                    results[page] = [f"page missing from the build: {page}"]
                    continue
                problems = check_page(context, origin, root, page, shots)
                problems += [f"request to a non-local address (blocked): {u}" for u in blocked]
                results[page] = problems
            browser.close()
    finally:
        server.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.browser.check_book",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("html", nargs="?", default="_build/html", help="the built HTML")
    parser.add_argument("--toc", default="_toc.yml",
                        help="the book's _toc.yml: its pages are checked ('' for every page)")
    parser.add_argument("--screenshots", default="_build/screenshots")
    parser.add_argument("--chromium", help="the browser executable (default: chromium on PATH)")
    args = parser.parse_args(argv)

    root = Path(args.html).resolve()
    if not (root / "index.html").exists():
        print(f"browser check: no built book at {root} (run make book)", file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("browser check: no Chromium found (Debian: apt-get install chromium)",
              file=sys.stderr)
        return 2
    if args.toc:
        pages = toc_pages(Path(args.toc))
    else:
        pages = sorted(str(p.relative_to(root)) for p in root.rglob("*.html")
                       if not p.relative_to(root).parts[0].startswith("_"))
    results = check_book(root, pages, Path(args.screenshots), chromium)
    failed = 0
    for page, problems in results.items():
        print(f"{'ok  ' if not problems else 'FAIL'} {page}")
        for problem in problems:
            print(f"       {problem}")
        failed += bool(problems)
    print(f"screenshots of {len(results)} page(s) in {args.screenshots}")
    print(f"browser: {len(results) - failed} passed, {failed} failed")  # CI reads this line
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

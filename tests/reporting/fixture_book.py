"""A tiny book for the tests of the book build, the browser check, the runner and the sweep.

``make_project(dest)`` lays out a project like this one around the fixture chapters of
``fixtures/book`` (seconds to execute): the real ``_config.yml``, ``book/claims.md`` and
``pyproject.toml``, a ``lib`` link to this checkout's library, a small intro with the
chapter map, and a ``_toc.yml`` listing them. ``python -m tests.reporting.fixture_book
DEST`` does the same from the shell.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "book"
CHAPTERS = ["01_alpha", "02_beta"]

INTRO = """# A fixture book

The map of the book:

```{chapter-map}
```

See also {doc}`claims`.
"""

TOC = """format: jb-book
root: book/intro
chapters:
""" + "".join(f"  - file: book/{c}\n" for c in CHAPTERS) + "  - file: book/claims\n"


def make_project(dest: str | Path) -> Path:
    dest = Path(dest)
    (dest / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("claims.md", "references.bib"):
        shutil.copy(ROOT / "book" / name, dest / "book" / name)
    for chapter in CHAPTERS:
        shutil.copy(FIXTURES / f"{chapter}.md", dest / "book" / f"{chapter}.md")
    (dest / "book" / "intro.md").write_text(INTRO)
    (dest / "_toc.yml").write_text(TOC)
    if not (dest / "lib").exists():
        (dest / "lib").symlink_to(ROOT / "lib")
    return dest


if __name__ == "__main__":
    print(make_project(sys.argv[1]))

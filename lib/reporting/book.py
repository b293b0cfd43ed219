"""The book's own Sphinx extension (``_config.yml``: ``extra_extensions``).

- ``{claims-summary}``: the "What this book checks" page. Every claim of every chapter,
  read from the claims JSON that the chapters wrote *in this build*, with its source,
  expected and measured values, status and disagreement reason, linked to the section
  that measures it; counts per chapter; the committed paper-scale runs beside them.
- ``{chapter-map}``: the intro's map. A thumbnail of each chapter's headline figure (the
  first figure of a cell tagged ``headline``, else the chapter's first figure) linking to
  the chapter, with its title and claim counts.
- The ``THEBE_JS_URL`` console error: sphinx-thebe adds its inline configuration script
  on every ``env-before-read-docs``; a second one (jupyter-book emits it again) declares
  ``const THEBE_JS_URL`` twice. Duplicate scripts are dropped from each page.

Why it cannot be stale: both directives leave a placeholder that is filled at
``doctree-resolved``, in the write phase, after every chapter has been read (and so
executed: ``execute_notebooks: force``), whatever the order Sphinx reads the documents
in. The pages holding them are re-read on every build (``env-get-outdated``). A chapter
read in this build whose claims JSON is older than its reading, or missing, is a
warning (an error under ``-W``), and shows as such on the page.

Chapters are found generically: a document in the toctree whose source calls
``ClaimsTable(`` must leave ``<claims_results_dir>/<document name>.claims.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive

from .pages import STATUS_WORDS, count_statuses
from .results import paper_runs

STATUS_CLASS = {"pass": "claim-pass", "disagree": "claim-disagree", "fail": "claim-fail"}
PLACEHOLDER_DOCS = "book_generated_docs"  # env attribute: docs holding placeholders


class claims_summary(nodes.General, nodes.Element):
    """Placeholder for the claims page, filled at ``doctree-resolved``."""


class chapter_map(nodes.General, nodes.Element):
    """Placeholder for the intro's map of chapters, filled at ``doctree-resolved``."""


class ClaimsSummaryDirective(Directive):
    has_content = False

    def run(self):
        _generated_docs(self.state.document.settings.env).add(
            self.state.document.settings.env.docname)
        return [claims_summary()]


class ChapterMapDirective(Directive):
    has_content = False

    def run(self):
        _generated_docs(self.state.document.settings.env).add(
            self.state.document.settings.env.docname)
        return [chapter_map()]


def _generated_docs(env) -> set:
    if not hasattr(env, PLACEHOLDER_DOCS):
        setattr(env, PLACEHOLDER_DOCS, set())
    return getattr(env, PLACEHOLDER_DOCS)


# ---------------------------------------------------------------------- chapters and data
def toc_order(env) -> list[str]:
    """Documents in the order of the book's table of contents (depth first)."""
    seen: list[str] = []

    def walk(doc: str) -> None:
        if doc in seen:
            return
        seen.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(env.config.root_doc)
    return seen


def claim_chapters(env) -> list[str]:
    """Documents of the toc whose source creates a ``ClaimsTable``."""
    out = []
    for doc in toc_order(env):
        source = Path(env.doc2path(doc))
        if source.exists() and "ClaimsTable(" in source.read_text(errors="replace"):
            out.append(doc)
    return out


def claims_file(app, doc: str) -> Path:
    return (Path(app.srcdir) / app.config.claims_results_dir
            / f"{Path(doc).name}.claims.json")


def load_claims(app, doc: str) -> tuple[list[dict] | None, str | None]:
    """(rows, problem) for a chapter: the rows of this build's JSON, or why there are none."""
    path = claims_file(app, doc)
    if not path.exists():
        return None, f"no claims file {path} (did the chapter call claims.finish()?)"
    read_at = getattr(app, "_book_read_times", {}).get(doc)
    if read_at is not None and path.stat().st_mtime < read_at - 1:
        return None, (f"{path} is older than this build's execution of {doc}: the chapter "
                      "did not reach claims.finish()")
    try:
        return json.loads(path.read_text()), None
    except (OSError, json.JSONDecodeError) as err:
        return None, f"{path} cannot be read: {err}"


def _warn(message: str, doc: str | None = None) -> None:
    from sphinx.util import logging

    logging.getLogger(__name__).warning(message, location=doc)


def _link(app, fromdoc: str, todoc: str, anchor: str | None, text: str) -> nodes.reference:
    uri = app.builder.get_relative_uri(fromdoc, todoc)
    if anchor:
        uri += "#" + anchor
    return nodes.reference("", text, refuri=uri, internal=True)


def _section_link(app, fromdoc: str, doc: str, label: str | None, text: str):
    """``text`` linked to the section labelled ``label`` (a MyST label), else plain."""
    if not label:
        return nodes.Text(text)
    found = app.env.domaindata["std"]["labels"].get(label)
    if not found:
        _warn(f"claims of {doc}: section label {label!r} is not a label in the book", doc)
        return nodes.Text(text)
    target_doc, anchor, title = found
    link = _link(app, fromdoc, target_doc, anchor, text)
    link["reftitle"] = f"measured in: {title or label}"
    return link


def _table(header: list[str], rows: list[list], classes: list[str] | None = None,
           row_classes: list[str] | None = None) -> nodes.table:
    table = nodes.table(classes=["claims-summary", *(classes or [])])
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)
    thead = nodes.thead()
    group += thead
    head_row = nodes.row()
    for title in header:
        head_row += nodes.entry("", nodes.paragraph("", title))
    thead += head_row
    body = nodes.tbody()
    group += body
    for i, cells in enumerate(rows):
        row = nodes.row(classes=[row_classes[i]] if row_classes else [])
        for cell in cells:
            entry = nodes.entry()
            para = nodes.paragraph()
            para += cell if isinstance(cell, nodes.Node) else nodes.Text(str(cell))
            entry += para
            row += entry
        body += row
    return table


def _measured(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_measured(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_measured(v)}" for k, v in value.items()) + "}"
    return str(value)


# ---------------------------------------------------------------------- the claims page
def build_claims_summary(app, fromdoc: str) -> list[nodes.Node]:
    env = app.env
    chapters = claim_chapters(env)
    out: list[nodes.Node] = []
    totals = {"pass": 0, "disagree": 0, "fail": 0}
    count_rows, count_classes, per_chapter = [], [], []
    for doc in chapters:
        rows, problem = load_claims(app, doc)
        title = env.titles[doc].astext() if doc in env.titles else doc
        runs = paper_runs(Path(doc).name, Path(app.srcdir) / "results")
        run_text = "; ".join(f"{r['name']}: " + ", ".join(
            f"{n} {k}" for k, n in count_statuses(r["claims"]).items()) for r in runs)
        if rows is None:
            _warn(f"claims page: {problem}", doc)
            count_rows.append([_link(app, fromdoc, doc, None, title), "-", "-",
                               "not executed in this build", "-", run_text or "none"])
            count_classes.append("claim-fail")
            continue
        c = count_statuses(rows)
        for k in totals:
            totals[k] += c[k]
        count_rows.append([_link(app, fromdoc, doc, None, title), c["pass"], c["disagree"],
                           c["fail"], len(rows), run_text or "none"])
        count_classes.append("claim-fail" if c["fail"] else "claim-pass")
        per_chapter.append((doc, title, rows))
    out.append(nodes.paragraph("", (
        f"{sum(totals.values())} claims in {len(chapters)} chapters: {totals['pass']} pass, "
        f"{totals['disagree']} documented disagreements, {totals['fail']} fail. Read from "
        f"the claims files the chapters wrote when this build executed them "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).")))
    out.append(_table(["chapter", "pass", "disagree", "fail", "claims",
                       "paper-scale runs (committed)"], count_rows, ["claims-counts"],
                      count_classes))
    for doc, title, rows in per_chapter:
        rubric = nodes.rubric("", "")
        rubric += _link(app, fromdoc, doc, None, title)
        out.append(rubric)
        table_rows, classes = [], []
        for row in rows:
            word = STATUS_WORDS.get(row.get("status"), "fail")
            table_rows.append([
                _section_link(app, fromdoc, doc, row.get("section"), row.get("id", "")),
                row.get("statement", ""), row.get("source", ""),
                row.get("expected", ""),
                _measured(row.get("measured")) + (f" ({row['tolerance']})"
                                                  if row.get("tolerance") else ""),
                row.get("status", ""), row.get("disagreement") or "",
            ])
            classes.append(STATUS_CLASS[word])
        out.append(_table(["id (links to its section)", "statement", "source", "expected",
                           "measured", "status", "disagreement reason"], table_rows,
                          ["claims-rows"], classes))
    return out


# ---------------------------------------------------------------------- the intro's map
def record_headline(app, doctree) -> None:
    """At ``doctree-read``: remember the chapter's headline figure (see module docstring)."""
    env = app.env
    first = headline = None
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        images = [img for img in cell.findall(nodes.image)]
        if not images:
            continue
        if first is None:
            first = images[0]
        if "tag_headline" in cell.get("classes", []):
            headline = images[0]
            break
    chosen = headline or first
    store = _headlines(env)
    store.pop(env.docname, None)
    if chosen is not None:
        store[env.docname] = {"uri": chosen["uri"],
                              "candidates": dict(chosen.get("candidates", {})),
                              "tagged": headline is not None}


def _headlines(env) -> dict:
    if not hasattr(env, "book_headlines"):
        env.book_headlines = {}
    return env.book_headlines


def build_chapter_map(app, fromdoc: str) -> list[nodes.Node]:
    env = app.env
    grid = nodes.container(classes=["chapter-map"])
    claims_docs = set(claim_chapters(env))
    for doc in toc_order(env):
        if doc == fromdoc or doc in _generated_docs(env):
            continue
        card = nodes.container(classes=["chapter-card"])
        title = env.titles[doc].astext() if doc in env.titles else doc
        figure = _headlines(env).get(doc)
        if figure:
            para = nodes.paragraph(classes=["chapter-thumb"])
            ref = _link(app, fromdoc, doc, None, "")
            ref += nodes.image(uri=figure["uri"], candidates=figure["candidates"],
                               alt=f"headline figure of {title}", classes=["chapter-thumb"])
            para += ref
            card += para
        para = nodes.paragraph(classes=["chapter-title"])
        para += _link(app, fromdoc, doc, None, title)
        card += para
        if doc in claims_docs:
            rows, _ = load_claims(app, doc)
            if rows is not None:
                c = count_statuses(rows)
                card += nodes.paragraph("", f"{len(rows)} claims: {c['pass']} pass, "
                                        f"{c['disagree']} disagree, {c['fail']} fail",
                                        classes=["chapter-counts"])
        grid += card
    return [grid]


# ---------------------------------------------------------------------- events
def fill_placeholders(app, doctree, docname) -> None:
    for node in list(doctree.findall(claims_summary)):
        node.replace_self(build_claims_summary(app, docname))
    for node in list(doctree.findall(chapter_map)):
        node.replace_self(build_chapter_map(app, docname))


def note_read_start(app, docname, source) -> None:
    """``source-read``: when each document is read (and a notebook executed) this build."""
    if not hasattr(app, "_book_read_times"):
        app._book_read_times = {}
    app._book_read_times[docname] = time.time()


def always_reread(app, env, added, changed, removed) -> list[str]:
    """The generated pages are re-read (and so re-written) on every build."""
    return sorted(_generated_docs(env) - set(removed))


def purge(app, env, docname) -> None:
    _generated_docs(env).discard(docname)
    _headlines(env).pop(docname, None)


def merge(app, env, docnames, other) -> None:
    _generated_docs(env).update(_generated_docs(other) & set(docnames))
    _headlines(env).update({d: v for d, v in _headlines(other).items() if d in docnames})


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep one of each script. Inline scripts added at ``builder-inited`` or later
    (sphinx-thebe's config, sphinx-togglebutton's selector) reach the page twice, once from
    the registry and once from the builder; two ``const THEBE_JS_URL`` are a console error."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the registry's copy has filename None, the builder's "": the same script
        key = (str(script.filename or ""), tuple(sorted(script.attributes.items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def add_static(app) -> None:
    static = str(Path(__file__).parent / "static")
    if static not in app.config.html_static_path:
        app.config.html_static_path.append(static)


def setup(app):
    app.add_config_value("claims_results_dir", "_build/results", "env")
    app.add_node(claims_summary)
    app.add_node(chapter_map)
    app.add_directive("claims-summary", ClaimsSummaryDirective)
    app.add_directive("chapter-map", ChapterMapDirective)
    app.connect("builder-inited", add_static)
    app.connect("source-read", note_read_start)
    app.connect("doctree-read", record_headline)
    app.connect("doctree-resolved", fill_placeholders)
    app.connect("env-get-outdated", always_reread)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("html-page-context", drop_duplicate_scripts)
    app.add_css_file("book.css")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

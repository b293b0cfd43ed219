"""HTML pieces a chapter shows at its end: the provenance box, how to re-run or open the
page, and the header of a committed paper-scale run.

Plain HTML strings (inline styles, the theme's ``admonition`` classes), so they read the
same in the built book, in Jupyter and in an executed notebook on a GPU machine.
"""

from __future__ import annotations

from html import escape

STATUS_WORDS = {"pass": "pass", "disagrees (documented)": "disagree",
                "FAIL": "fail", "FAIL: source now holds": "fail"}


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def changed_text(changed: dict) -> str:
    """``{name: value}`` -> ``"steps = 100, seed = 3"`` (or the words for none)."""
    if not changed:
        return "none (the chapter's defaults)"
    return ", ".join(f"{name} = {_value(v)}" for name, v in changed.items())


def count_statuses(rows: list[dict]) -> dict[str, int]:
    """``{"pass": n, "disagree": n, "fail": n}`` of claims rows (dicts from the JSON)."""
    out = {"pass": 0, "disagree": 0, "fail": 0}
    for row in rows:
        out[STATUS_WORDS.get(row.get("status"), "fail")] += 1
    return out


def counts_text(rows: list[dict]) -> str:
    c = count_statuses(rows)
    return f"{c['pass']} pass, {c['disagree']} documented disagreement(s), {c['fail']} fail"


def describe_run(record: dict) -> list[tuple[str, str]]:
    """(label, html) pairs of a provenance record (``results.run_provenance``)."""
    commit = record.get("git_commit")
    commit_html = "unknown (not a git checkout)" if not commit else _code(commit[:12]) + (
        " with uncommitted changes" if record.get("git_dirty") else "")
    device = escape(str(record.get("device", "?")))
    if record.get("device_name"):
        device += f" ({escape(str(record['device_name']))})"
    wall = record.get("wall_seconds")
    return [
        ("seed", escape(str(record.get("seed")))),
        ("parameters changed", escape(changed_text(record.get("changed_parameters", {})))),
        ("git commit", commit_html),
        ("torch", escape(str(record.get("torch", "?")))),
        ("device", device),
        ("wall time", "?" if wall is None else f"{float(wall):.0f} s"),
        ("created", escape(str(record.get("created", "?")))),
    ]


def provenance_html(record: dict, commands: dict[str, str] | None = None) -> str:
    """The box at the end of a chapter: what produced this page, and how to re-run it."""
    items = "".join(f"<li><strong>{label}</strong>: {html}</li>"
                    for label, html in describe_run(record))
    how = ""
    if commands:
        how = "<p><strong>Re-run or open this page</strong></p><ul>" + "".join(
            f"<li>{escape(label)}: {_code(cmd)}</li>" for label, cmd in commands.items()
        ) + "</ul>"
    return (
        '<div class="admonition note provenance">'
        '<p class="admonition-title">Provenance of this page</p>'
        f"<ul>{items}</ul>{how}</div>"
    )


def rerun_commands(chapter: str) -> dict[str, str]:
    """The commands that re-run ``chapter`` (another seed, paper scale) or open it."""
    number = chapter.split("_", 1)[0]
    return {
        "another seed": f"python -m lib.run {number} -p seed 1 --out /tmp/{chapter}-seed1",
        "paper scale (GPU)": f"python -m lib.run {number} -f book/params/gpu/{chapter}.yml "
                             f"--out results/{chapter}/gpu-seed0",
        "in Jupyter": f"jupyter lab book/{chapter}.md  (right-click > Open With > Notebook; "
                      "needs jupytext, installed by make install)",
    }


def paper_run_html(chapter: str, run: dict) -> str:
    """The header of one committed paper-scale run, shown above its claims table."""
    record = run.get("provenance", {})
    items = "".join(f"<li><strong>{label}</strong>: {html}</li>"
                    for label, html in describe_run(record))
    return (
        '<div class="admonition important paper-run">'
        f'<p class="admonition-title">Paper-scale run {escape(run["name"])} '
        "(committed result, not re-run by this build)</p>"
        f"<p>Read from {_code('results/' + chapter + '/' + run['name'] + '/')}; its claims: "
        f"{escape(counts_text(run['claims']))}.</p><ul>{items}</ul></div>"
    )

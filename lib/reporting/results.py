"""Where results go, and what is saved with them.

Chapters write to ``results_dir`` (a parameter of every chapter). A relative
``results_dir`` is taken relative to the project root (the folder holding
``pyproject.toml``), so a chapter writes to the same place whether it is executed by
jupyter-book (cwd ``book/``), by nbval, by papermill or by hand.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np


def _torch():
    """torch, imported only when a result needs it (the runner checks input without it)."""
    import torch

    return torch


def _is_tensor(value) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only if torch was imported
    return torch is not None and isinstance(value, torch.Tensor)


def project_root(start: Path | None = None) -> Path:
    """The nearest ancestor of ``start`` (default: cwd) holding pyproject.toml; else cwd."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() and (folder / "lib").is_dir():
            return folder
    return here


def results_path(results_dir: str | Path) -> Path:
    """``results_dir`` made absolute (relative to the project root) and created."""
    path = Path(results_dir)
    if not path.is_absolute():
        path = project_root() / path
    path.mkdir(parents=True, exist_ok=True)
    return path


def provenance(config: dict | None = None) -> dict:
    """Who/what/when of a result: git commit, versions, host, and the run's config."""
    try:
        commit = (
            subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                           cwd=project_root(), timeout=5).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    torch = _torch()
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "config": jsonable(config or {}),
    }


def jsonable(value):
    """Convert numpy/torch scalars and arrays (recursively) into JSON-friendly values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if _is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def compact(value) -> np.ndarray:
    """A tensor or array as a compact numpy array: on the host, float64 stored as float32
    (a figure needs no more), everything else unchanged."""
    array = value.detach().cpu().numpy() if _is_tensor(value) else np.asarray(value)
    return array.astype(np.float32) if array.dtype == np.float64 else array


def save_weights(
    results_dir: str | Path, name: str, arrays: dict, config: dict | None = None
) -> Path:
    """Save ``arrays`` (tensors or arrays) to ``<results_dir>/<name>.npz``, compressed, float64
    stored as float32 (``compact``), with a provenance record (``provenance``) under the key
    ``provenance`` (``json.loads(str(np.load(path)["provenance"]))``).
    """
    path = results_path(results_dir) / f"{name}.npz"
    plain = {k: compact(v) for k, v in arrays.items()}
    np.savez_compressed(path, **plain, provenance=np.array(json.dumps(provenance(config))))
    return path


def git_state() -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the project checkout."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=project_root(),
                                 timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip() if commit else None,
            "dirty": None if status is None else bool(status.strip())}


class Expression(str):
    """A parameter default that is not a literal (``np.logspace(...)``): its source text."""


def parameters_source(path: str | Path) -> str | None:
    """The source of the cell tagged ``parameters`` of a MyST chapter, None if it has none."""
    import jupytext

    for cell in jupytext.read(Path(path)).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell.source
    return None


def parameter_defaults(source: str) -> dict:
    """``{name: default}`` of a parameters cell: literals evaluated, anything else kept as
    an ``Expression``. ``a, b = 1, 2`` is read too (but see ``parameters_cell_problems``)."""
    import ast

    out: dict = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) \
                    and len(target.elts) == len(node.value.elts):
                pairs = list(zip(target.elts, node.value.elts))
            for name, value in pairs:
                if isinstance(name, ast.Name):
                    try:
                        out[name.id] = ast.literal_eval(value)
                    except ValueError:
                        out[name.id] = Expression(ast.unparse(value))
    return out


def chapter_parameters(chapter: str, book_dir: str | Path | None = None) -> dict:
    """The defaults of a chapter's ``parameters`` cell: ``{name: value}``.

    Read from ``<chapter>.md`` (jupytext; see ``chapter_file``) and evaluated as plain
    Python literals (a default that is not a literal is kept as its source text). Empty if
    the file or the cell is missing.
    """
    path = chapter_file(chapter, book_dir)
    source = None if path is None else parameters_source(path)
    if source is None:
        return {}
    return {k: str(v) if isinstance(v, Expression) else v
            for k, v in parameter_defaults(source).items()}


def chapter_file(chapter: str, book_dir: str | Path | None = None) -> Path | None:
    """``<book_dir>/<chapter>.md``; without ``book_dir``, the working directory (where a
    chapter executes) first, then ``<project>/book``. None if there is no such file."""
    folders = [Path(book_dir)] if book_dir else [Path.cwd(), project_root() / "book"]
    for folder in folders:
        if (folder / f"{chapter}.md").exists():
            return folder / f"{chapter}.md"
    return None


def parameters_cell_problems(source: str) -> list[str]:
    """Lines of a ``parameters`` cell that papermill cannot read as parameters.

    papermill sees only ``NAME = VALUE`` (one name per line); ``a, b = 1, 2`` makes it warn
    "Passed unknown parameter" for names that do exist. Returns one message per problem.
    """
    import ast

    problems = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and (
            len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name)
        ):
            problems.append(f"line {node.lineno}: `{ast.unparse(node)}` assigns more than one "
                            "name: write one `NAME = VALUE` per line")
    return problems


def run_provenance(chapter: str, namespace: dict, seconds: float) -> dict:
    """What produced a chapter's page: seed, the parameters that differ from the chapter's
    defaults (values from ``namespace``, the notebook's globals), git commit and dirty flag,
    versions, device, and wall time in seconds."""
    defaults = chapter_parameters(chapter)
    changed = {name: jsonable(namespace[name]) for name, default in defaults.items()
               if name in namespace and jsonable(namespace[name]) != jsonable(default)}
    torch = _torch()
    device = namespace.get("device", "auto")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    git = git_state()
    return {"chapter": chapter, "seed": jsonable(namespace.get("seed")),
            "changed_parameters": changed,
            "git_commit": git["commit"], "git_dirty": git["dirty"], "torch": torch.__version__,
            "device": str(device),
            "device_name": torch.cuda.get_device_name(0) if str(device).startswith("cuda")
            and torch.cuda.is_available() else platform.processor() or platform.machine(),
            "wall_seconds": round(float(seconds), 1),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


# ---------------------------------------------------------------------- paper-scale runs
RUN_FILES = ("{chapter}.claims.json", "{chapter}.provenance.json", "figures.json")


def results_root() -> Path:
    """``<project>/results``: committed paper-scale runs, ``results/<chapter>/<run>/``."""
    return project_root() / "results"


def paper_runs(chapter: str, root: str | Path | None = None,
               exclude: str | Path | None = None) -> list[dict]:
    """The committed runs of ``chapter``: every ``<root>/<chapter>/<run>/`` that holds
    ``<chapter>.claims.json``, sorted by name, each as ``{"name", "path", "claims",
    "provenance", "figures"}`` (provenance ``{}`` and figures ``[]`` when missing).
    ``exclude``: a folder to leave out (the run that is executing now writes there)."""
    folder = Path(root or results_root()) / chapter
    skip = Path(exclude).resolve() if exclude else None
    runs = []
    for run in sorted(p for p in folder.glob("*") if p.is_dir()):
        claims_file = run / f"{chapter}.claims.json"
        if not claims_file.exists() or run.resolve() == skip:
            continue
        prov = run / f"{chapter}.provenance.json"
        figs = run / "figures.json"
        runs.append({
            "name": run.name,
            "path": run,
            "claims": json.loads(claims_file.read_text()),
            "provenance": json.loads(prov.read_text()) if prov.exists() else {},
            "figures": json.loads(figs.read_text()) if figs.exists() else [],
        })
    return runs

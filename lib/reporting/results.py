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
from pathlib import Path

import numpy as np
import torch


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
    if isinstance(value, torch.Tensor):
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


def save_weights(
    results_dir: str | Path, name: str, arrays: dict, config: dict | None = None
) -> Path:
    """Save ``arrays`` (tensors or arrays) to ``<results_dir>/<name>.npz`` with a
    provenance record.
    """
    path = results_path(results_dir) / f"{name}.npz"
    plain = {
        k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
        for k, v in arrays.items()
    }
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


def chapter_parameters(chapter: str, book_dir: str | Path | None = None) -> dict:
    """The defaults of a chapter's ``parameters`` cell: ``{name: value}``.

    Read from ``book/<chapter>.md`` (jupytext) and evaluated as plain Python literals
    (one assignment per line, as every chapter writes them). Empty if the file is missing.
    """
    import ast

    import jupytext

    path = Path(book_dir or project_root() / "book") / f"{chapter}.md"
    if not path.exists():
        return {}
    for cell in jupytext.read(path).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            out = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                        and isinstance(node.targets[0], ast.Name):
                    try:
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        out[node.targets[0].id] = ast.unparse(node.value)
            return out
    return {}


def run_provenance(chapter: str, namespace: dict, seconds: float) -> dict:
    """What produced a chapter's page: seed, the parameters that differ from the chapter's
    defaults (values from ``namespace``, the notebook's globals), git commit and dirty flag,
    versions, device, and wall time in seconds."""
    defaults = chapter_parameters(chapter)
    changed = {name: jsonable(namespace[name]) for name, default in defaults.items()
               if name in namespace and jsonable(namespace[name]) != jsonable(default)}
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

"""A small fake paper-scale result: ``results/<chapter>/gpu-seed0/`` as ``lib.run`` leaves it
(claims, provenance, compact weights, one exported figure). Used by the tests of
``show_paper_runs`` and of the book build."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

PNG = base64.b64decode(  # a 2 x 2 red square
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGP4z8DAwMDAxMDAAAAfBgIB"
    "GUHrZgAAAABJRU5ErkJggg==")


def make_paper_run(root: str | Path, chapter: str, run: str = "gpu-seed0") -> Path:
    folder = Path(root) / chapter / run
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    (folder / f"{chapter}.claims.json").write_text(json.dumps([
        {"id": "mean-small", "statement": "the mean of the points is small",
         "source": "fixture, eq. (1)", "expected": "<= 10", "measured": 0.0123,
         "tolerance": "bound", "passed": True, "disagreement": None,
         "section": "sec-alpha-mean", "status": "pass"},
        {"id": "paper-only", "statement": "a claim checked only at paper scale",
         "source": "fixture", "expected": ">= 1", "measured": 0.5, "tolerance": "bound",
         "passed": False, "disagreement": None, "section": None, "status": "FAIL"},
    ]))
    (folder / f"{chapter}.provenance.json").write_text(json.dumps({
        "chapter": chapter, "seed": 0, "changed_parameters": {"steps": 10000},
        "git_commit": "0123456789abcdef", "git_dirty": False, "torch": "2.13.0+cu128",
        "device": "cuda", "device_name": "NVIDIA H200", "wall_seconds": 1234.5,
        "created": "2026-11-28T12:00:00+00:00"}))
    np.savez_compressed(folder / f"{chapter}_points.npz", x=np.zeros((3, 2), np.float32))
    (folder / "figures" / "cell004-0.png").write_bytes(PNG)
    (folder / "figures.json").write_text(json.dumps([
        {"file": "figures/cell004-0.png", "cell": 4, "headline": True,
         "caption": "cell 4, A mean"}]))
    return folder

"""``glue``: myst-nb's glue, with numpy scalars passed on as Python numbers.

Under numpy 2 the text form of ``np.float64(0.5)`` is ``"np.float64(0.5)"``, which a
prose reference with a format spec ({glue:text}`name:.2f`) cannot parse: Sphinx then
warns ("Failed to format text/plain data") and the ``-W`` book build fails. Chapters
import ``glue`` from here instead of from ``myst_nb``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` with a numpy scalar (or 0-d array) replaced by the Python number."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` under ``name`` for {glue:text}`name` references in the prose."""
    from myst_nb import glue as myst_glue  # the book's dependency, not the library's

    myst_glue(name, plain(value), display=display)

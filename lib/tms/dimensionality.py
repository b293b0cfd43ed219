"""Statistics of fractional dimensionality (TMS, "Uniform Superposition" and "Feature
Dimensionality"): sticky plateaus of D* and lines of D_i.

Two questions the paper answers by eye, made into numbers:

- is the curve D*(1/(1-S)) "sticky" at a level, i.e. does it stay near that level over a
  wider range than a smooth curve falling at the sweep's average slope would
  (``plateau``)?
- do the feature dimensionalities D_i form *lines*, clusters at a fraction clearly denser
  than the values just beside it (``line_census``), rather than merely lying inside a
  band around it? A band test passes for any spread that is wide enough; a line test
  fails an even spread (``uniform_spread`` is the negative control).

Plain numpy in, plain numbers out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.checks import check_positive_float, check_positive_int

#: The lines the paper names ("Why these geometric structures?"), fraction r / k of a
#: uniform polytope of k vertices spanning r dimensions. The line at 1 (a dedicated
#: dimension) and at 0 (not learned) are left out: the paper itself does not show a
#: line at 1, and both are boundaries of D_i's range, where points pile up whatever the
#: geometry (D_i <= 1 always, unlearned features are drawn at 0).
PAPER_LINES: dict[str, float] = {
    "tetrahedron": 3 / 4,
    "triangle": 2 / 3,
    "digon": 1 / 2,
    "pentagon": 2 / 5,
    "square antiprism": 3 / 8,
}


# ---------------------------------------------------------------------------- plateaus
@dataclass
class Plateau:
    """The longest run of a curve y(x) within ``tolerance`` of ``level`` (see ``plateau``).

    first, last   indices of the run's ends in the sweep (inclusive); -1 if no point is near
    width         x[last] / x[first] divided by ``smooth_width`` (>= 1: wider than a smooth
                  curve would stay near the level); 0 without a run of two points
    slope         |slope of ln y against ln x over the run| / |average slope of the sweep|;
                  inf without a run of two points
    """

    first: int
    last: int
    width: float
    slope: float

    @property
    def found(self) -> bool:
        return self.last > self.first >= 0


def average_log_slope(x, y) -> float:
    """(ln y[-1] - ln y[0]) / (ln x[-1] - ln x[0]): the sweep's average slope on log axes."""
    x, y = _positive_curve(x, y)
    return float((np.log(y[-1]) - np.log(y[0])) / (np.log(x[-1]) - np.log(x[0])))


def smooth_width(level: float, tolerance: float, slope: float) -> float:
    """Factor in x over which a power law y ∝ x^slope stays within ``level ± tolerance``.

    exp(ln((level + tolerance) / (level - tolerance)) / |slope|): the width a curve
    without a plateau would spend near the level.
    """
    level = check_positive_float("level", level)
    tolerance = check_positive_float("tolerance", tolerance)
    if tolerance >= level:
        raise ValueError(f"tolerance must be below level, got {tolerance} >= {level}")
    if not math.isfinite(slope) or slope == 0:
        raise ValueError(f"slope must be finite and non-zero, got {slope}")
    return math.exp(math.log((level + tolerance) / (level - tolerance)) / abs(slope))


def plateau(x, y, level: float, tolerance: float = 0.03) -> Plateau:
    """The longest run of consecutive points with |y - level| <= ``tolerance``.

    x: ``[S]`` increasing and positive (e.g. 1/(1-S)); y: ``[S]`` positive (e.g. D*).
    "Longest" is measured in ln x. The run's width and flatness are given relative to
    what a smooth power law with the sweep's average slope would give (``Plateau``).
    """
    x, y = _positive_curve(x, y)
    inside = np.append(np.abs(y - level) <= tolerance, False)
    runs, start = [], None
    for k, flag in enumerate(inside):
        if flag and start is None:
            start = k
        elif not flag and start is not None:
            runs.append((start, k - 1))
            start = None
    if not runs:
        return Plateau(-1, -1, 0.0, math.inf)
    first, last = max(runs, key=lambda r: np.log(x[r[1]] / x[r[0]]))
    if last == first:
        return Plateau(first, last, 0.0, math.inf)
    slope = average_log_slope(x, y)
    run = slice(first, last + 1)
    own = np.polyfit(np.log(x[run]), np.log(y[run]), 1)[0]
    width = x[last] / x[first] / smooth_width(level, tolerance, slope)
    return Plateau(first, last, float(width), float(abs(own / slope)))


def _positive_curve(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2, got {x.shape}, {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0) or np.any(np.diff(x) <= 0):
        raise ValueError("x must be positive and increasing and y positive")
    return x, y


# ---------------------------------------------------------------------------- lines
@dataclass
class Line:
    """One candidate line of a ``line_census``.

    fraction   where the line would be
    inside     values whose nearest candidate is this fraction and that lie within
               ``half_width`` of it (each value counts for one line at most)
    flanks     values with half_width < |D - fraction| <= 2 half_width (the same total
               width as the inside window, split over both sides)
    density    inside / max(flanks, 1): how much denser the line is than its flanks
    populated  inside >= ``min_count`` and density >= ``min_density``
    """

    fraction: float
    inside: int
    flanks: int
    density: float
    populated: bool


def line_census(values, fractions, *, half_width: float = 0.01, min_count: int = 5,
                min_density: float = 3.0) -> dict[str, Line]:
    """Which of the candidate ``fractions`` are *lines* of the values (count lines, not bands).

    values     ``[N]`` feature dimensionalities D_i (e.g. the represented features of a
               sweep, pooled)
    fractions  ``{name: fraction}`` candidate lines (e.g. ``PAPER_LINES``)

    A line is a cluster at a fraction clearly denser than its flanks: at least
    ``min_count`` values within ``half_width`` of it, and ``min_density`` times as many as
    in the two flanking windows of the same total width. Each value is assigned to its
    nearest candidate first, so one cluster never counts for two lines; a broad cluster
    that covers a fraction and its flanks is not a line. A uniform spread of values has
    density ≈ 1 at every fraction and fails.
    """
    d = np.asarray(values, dtype=np.float64).reshape(-1)
    d = d[np.isfinite(d)]
    w = check_positive_float("half_width", half_width)
    min_count = check_positive_int("min_count", min_count)
    min_density = check_positive_float("min_density", min_density)
    names = list(fractions)
    centres = np.array([float(fractions[k]) for k in names])
    if centres.size == 0:
        raise ValueError("fractions must name at least one candidate line")
    nearest = np.argmin(np.abs(d[:, None] - centres[None]), axis=1) if d.size else d
    out = {}
    for k, (name, c) in enumerate(zip(names, centres)):
        distance = np.abs(d - c)
        inside = int(np.sum((distance <= w) & (nearest == k)))
        flanks = int(np.sum((distance > w) & (distance <= 2 * w)))
        density = inside / max(flanks, 1)
        out[name] = Line(float(c), inside, flanks, float(density),
                         bool(inside >= min_count and density >= min_density))
    return out


def share_on_lines(values, fractions, half_width: float = 0.01) -> float:
    """Share of the ``values`` within ``half_width`` of one of the ``fractions`` (nan if none)."""
    d = np.asarray(values, dtype=np.float64).reshape(-1)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan
    centres = np.asarray(list(fractions.values()), dtype=np.float64)
    w = check_positive_float("half_width", half_width)
    return float(np.mean(np.abs(d[:, None] - centres[None]).min(axis=1) <= w))


def uniform_spread(count: int, low: float, high: float) -> np.ndarray:
    """``[count]`` values evenly spaced on [low, high] (the midpoints of ``count`` equal
    cells): the negative control of a line test, the same number of points over the same
    range with a constant density and no lines. Deterministic, so the control cannot
    pass or fail by chance."""
    count = check_positive_int("count", count)
    if not high > low:
        raise ValueError(f"high must exceed low, got low={low}, high={high}")
    return low + (high - low) * (np.arange(count) + 0.5) / count

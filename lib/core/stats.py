"""Small statistics for claims: bootstrap intervals and rank agreement.

A claim about a trained model states an interval or a rate, not a single lucky number;
these helpers turn per-seed or per-instance measurements into one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.stats

from .checks import check_positive_int


def bootstrap_interval(
    values,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high): the statistic of ``values`` and its percentile bootstrap interval.

    values      ``[N]`` independent measurements (e.g. one per seed or per instance)
    statistic   maps a 1-D sample to a number (default: the mean)
    level       coverage of the interval, in (0, 1)
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"values must hold at least 2 finite numbers, got {x.size} ({x[:5]})")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    n = check_positive_int("n_resamples", n_resamples)
    rng = np.random.default_rng(seed)
    resampled = np.array([statistic(x[rng.integers(0, x.size, x.size)]) for _ in range(n)])
    tail = (1 - level) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return float(statistic(x)), float(low), float(high)


def rank_correlation(a, b) -> tuple[float, float]:
    """(Spearman's rho, two-sided p-value) between two ``[N]`` samples."""
    a, b = (
        np.asarray(a, dtype=np.float64).reshape(-1),
        np.asarray(b, dtype=np.float64).reshape(-1),
    )
    if a.shape != b.shape or a.size < 3:
        raise ValueError(
            f"a and b must be equal-length samples of at least 3, got {a.size} and {b.size}"
        )
    result = scipy.stats.spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)

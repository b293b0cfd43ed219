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


def fit_power_law(x, y, level: float = 0.95) -> dict:
    """Least squares of log y = c - a log x: the exponent a of y ~ x^-a, with an interval.

    x, y   ``[k]`` positive, finite, k >= 3
    level  coverage of the t-interval of a, in (0, 1)

    Returns ``{"exponent", "stderr", "low", "high", "intercept", "r2", "n"}``: the
    interval is a +- t_{k-2} stderr (the usual regression interval, which treats the
    scatter of the points about the line as independent noise).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError(
            f"x and y must be 1-D of the same length >= 3, got shapes {x.shape} and {y.shape}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(x <= 0) or np.any(
        y <= 0
    ):
        raise ValueError("x and y must be positive and finite for a log-log fit")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    result = scipy.stats.linregress(np.log(x), np.log(y))
    t = scipy.stats.t.ppf(0.5 + level / 2, x.size - 2)
    a = -float(result.slope)
    se = float(result.stderr)
    return {"exponent": a, "stderr": se, "low": a - t * se, "high": a + t * se,
            "intercept": float(result.intercept), "r2": float(result.rvalue) ** 2,
            "n": int(x.size)}  # fmt: skip


def bootstrap_exponent(x, Y, *, level: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0) -> dict:
    """Exponent of the mean curve of ``Y: [S, k]`` (S replicate measurements of y at the
    k points x), with a percentile interval from resampling the S replicates.

    Returns ``{"exponent", "low", "high"}``. Use it for replicate runs (seeds, restarts),
    where ``fit_power_law``'s interval would ignore the spread between them.
    """
    Y = np.asarray(Y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] != x.size or Y.shape[0] < 2:
        raise ValueError(f"Y must be [S >= 2, len(x) = {x.size}], got shape {Y.shape}")
    n = check_positive_int("n_resamples", n_resamples)
    point = fit_power_law(x, Y.mean(0), level)["exponent"]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, Y.shape[0], size=(n, Y.shape[0]))
    log_y = np.log(Y[idx].mean(1))  # [n, k]
    lx = np.log(x) - np.log(x).mean()
    slopes = (log_y - log_y.mean(1, keepdims=True)) @ lx / (lx @ lx)
    low, high = np.quantile(-slopes, [0.5 - level / 2, 0.5 + level / 2])
    return {"exponent": point, "low": float(low), "high": float(high)}


def bootstrap_power_law(x, y, *, level: float = 0.95, n_resamples: int = 2000,
                        seed: int = 0) -> dict:
    """Exponent a of y ~ x^-a (``fit_power_law``) with a percentile interval from
    resampling the k points (x_j, y_j) with replacement (the pairs bootstrap).

    x, y ``[k]`` positive, k >= 3. For one curve of independent measurements (e.g. one
    trained model per width); with k this small the interval is rough (its coverage is
    below ``level``), a check on the t-interval rather than a replacement. Resamples
    that hold fewer than two distinct x have no slope and are drawn again.
    Returns ``{"exponent", "low", "high"}``.
    """
    point = fit_power_law(x, y, level)["exponent"]  # checks x, y and level
    lx = np.log(np.asarray(x, dtype=np.float64))
    ly = np.log(np.asarray(y, dtype=np.float64))
    n = check_positive_int("n_resamples", n_resamples)
    rng = np.random.default_rng(seed)
    slopes = np.empty(0)
    while slopes.size < n:
        idx = rng.integers(0, lx.size, size=(n, lx.size))
        X, Y = lx[idx], ly[idx]
        Xc = X - X.mean(1, keepdims=True)
        ss = (Xc**2).sum(1)
        ok = ss > 1e-12 * max(1.0, float(np.ptp(lx)) ** 2)
        slopes = np.concatenate([slopes, (Xc * Y).sum(1)[ok] / ss[ok]])
    low, high = np.quantile(-slopes[:n], [0.5 - level / 2, 0.5 + level / 2])
    return {"exponent": point, "low": float(low), "high": float(high)}

"""Bootstrap intervals cover the truth at about their level; rank correlation sees monotone links."""

import numpy as np
import pytest

from lib.core.stats import bootstrap_interval, rank_correlation


def test_bootstrap_interval_covers_the_mean_at_about_its_level():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        x = rng.normal(1.0, 2.0, size=40)
        est, lo, hi = bootstrap_interval(x, n_resamples=400, seed=trial)
        assert lo <= est <= hi
        covered += lo <= 1.0 <= hi
    assert 0.88 <= covered / 200 <= 0.99   # nominal 0.95, percentile bootstrap at n = 40


def test_bootstrap_interval_takes_any_statistic_and_refuses_bad_input():
    est, lo, hi = bootstrap_interval([1.0, 2.0, 3.0, 100.0], np.median, seed=1)
    assert est == 2.5 and lo >= 1.0 and hi <= 100.0
    with pytest.raises(ValueError, match="values"):
        bootstrap_interval([1.0])
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([1.0, 2.0], level=1.5)


def test_rank_correlation():
    x = np.arange(10.0)
    assert rank_correlation(x, x ** 3)[0] == pytest.approx(1.0)
    assert rank_correlation(x, -x)[0] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="equal-length"):
        rank_correlation(x, x[:5])

"""Power-law fits: the exponent, its t-interval's coverage, and the bootstrap over replicates."""

import numpy as np
import pytest

from lib.core.stats import bootstrap_exponent, bootstrap_power_law, fit_power_law


def test_fit_recovers_exponent_and_interval_covers():
    m = np.array([8, 11, 16, 23, 32, 45, 64])
    fit = fit_power_law(m, 3.0 * m**-1.0)
    assert fit["exponent"] == pytest.approx(1.0) and fit["r2"] == pytest.approx(1.0)
    assert np.exp(fit["intercept"]) == pytest.approx(3.0)
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        f = fit_power_law(m, 3.0 * m**-0.7 * np.exp(rng.normal(0, 0.05, m.size)))
        covered += f["low"] <= 0.7 <= f["high"]
    assert 0.92 <= covered / 400 <= 0.98  # a 95 % interval


@pytest.mark.parametrize("x, y, word", [
    ([1, 2], [1, 2], "length"), ([1, 2, 3], [1, -2, 3], "positive"),
    ([1, 2, 3], [1, np.nan, 3], "positive"), ([1, 2, 3], [1, 2], "length"),
])
def test_fit_rejects_bad_input(x, y, word):
    with pytest.raises(ValueError, match=word):
        fit_power_law(x, y)


def test_bootstrap_exponent():
    m = np.array([8, 16, 32, 64])
    rng = np.random.default_rng(1)
    Y = m**-1.0 * np.exp(rng.normal(0, 0.05, (10, 4)))
    b = bootstrap_exponent(m, Y)
    assert b["low"] < b["exponent"] < b["high"] and b["low"] < 1.0 < b["high"]
    with pytest.raises(ValueError, match="Y must be"):
        bootstrap_exponent(m, Y[:1])


def test_bootstrap_power_law_exact_and_noisy():
    m = np.array([8, 11, 16, 23, 32, 45, 64])
    exact = bootstrap_power_law(m, 2.0 * m**-0.8)
    assert exact["exponent"] == pytest.approx(0.8)
    assert exact["low"] == pytest.approx(0.8) and exact["high"] == pytest.approx(0.8)
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(100):
        y = m**-1.0 * np.exp(rng.normal(0, 0.05, m.size))
        b = bootstrap_power_law(m, y, n_resamples=400, seed=trial)
        assert b["low"] <= b["exponent"] <= b["high"]
        covered += b["low"] <= 1.0 <= b["high"]
    assert covered >= 75  # rough with 7 points, but not far off 95 %
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_power_law(m, y, n_resamples=0)
    with pytest.raises(ValueError, match="positive"):
        bootstrap_power_law(m, -y)

"""Sticky plateaus of D* and lines of D_i: the statistics of chapter 3 on curves and spreads
whose answer is known."""

import math

import numpy as np
import pytest

from lib.tms.dimensionality import (
    PAPER_LINES,
    average_log_slope,
    line_census,
    plateau,
    share_on_lines,
    smooth_width,
    uniform_spread,
)

X = np.geomspace(1.0, 12.0, 40)


def test_a_smooth_power_law_has_no_plateau_wider_than_the_smooth_width():
    y = X**-0.6
    for level in (1.0, 0.5):
        run = plateau(X, y, level)
        assert run.width < 1.0
    assert average_log_slope(X, y) == pytest.approx(-0.6)


def test_a_step_curve_has_wide_flat_plateaus():
    # 1 until x = 1.5, 1/2 from 2 to 5, then a power-law fall: two sticky points
    y = np.where(X < 1.5, 1.0, np.where(X < 2, 0.75, np.where(X < 5, 0.5, 0.5 * (X / 5) ** -1.5)))
    one, half = plateau(X, y, 1.0), plateau(X, y, 0.5)
    assert one.found and half.found
    assert one.first == 0 and X[one.last] < 1.5
    assert half.width > 1.5 and half.slope < 0.05
    assert one.last < half.first


def test_smooth_width_matches_the_band_crossing_of_a_power_law():
    slope, level, tol = -0.6, 0.5, 0.03
    width = smooth_width(level, tol, slope)
    # x^slope goes from level + tol to level - tol over exactly this factor
    assert ((level + tol) ** (1 / slope)) * width == pytest.approx((level - tol) ** (1 / slope))


def test_plateau_without_points_near_the_level():
    run = plateau(X, X**-0.6, 3.0, 0.03)
    assert not run.found and run.width == 0 and math.isinf(run.slope)


def test_lines_are_counted_not_bands():
    rng = np.random.default_rng(0)
    clusters = np.concatenate([
        0.5 + 0.002 * rng.standard_normal(60),       # a sharp line at 1/2
        0.4 + 0.003 * rng.standard_normal(20),       # a line at 2/5
        rng.uniform(0.6, 0.72, 40),                  # a broad band around 2/3: no line
    ])
    census = line_census(clusters, PAPER_LINES)
    assert census["digon"].populated and census["pentagon"].populated
    assert not census["triangle"].populated and census["triangle"].inside > 0
    assert not census["square antiprism"].populated  # the 2/5 cluster counts once
    assert census["square antiprism"].inside == 0


def test_one_cluster_between_two_lines_counts_for_one_at_most():
    cluster = 0.3875 + 0.001 * np.random.default_rng(1).standard_normal(50)
    census = line_census(cluster, {"a": 0.375, "b": 0.4}, half_width=0.015)
    assert census["a"].inside + census["b"].inside <= 50


def test_an_even_spread_has_no_lines_and_its_share_on_lines_is_the_coverage():
    values = uniform_spread(20_000, 0.2, 0.8)
    assert values.min() > 0.2 and values.max() < 0.8 and np.allclose(np.diff(values), 0.6 / 20_000)
    census = line_census(values, PAPER_LINES)
    assert not any(line.populated for line in census.values())
    coverage = 5 * 0.02 / 0.6  # five windows of width 0.02 inside [0.2, 0.8]
    assert share_on_lines(values, PAPER_LINES) == pytest.approx(coverage, abs=0.01)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="x and y"):
        plateau([1.0], [1.0], 1.0)
    with pytest.raises(ValueError, match="increasing"):
        plateau([1.0, 0.5], [1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="half_width"):
        line_census([0.5], PAPER_LINES, half_width=0)
    with pytest.raises(ValueError, match="fractions"):
        line_census([0.5], {})
    with pytest.raises(ValueError, match="high"):
        uniform_spread(3, 1.0, 0.5)
    with pytest.raises(ValueError, match="tolerance"):
        smooth_width(0.5, 0.6, -0.5)


@pytest.mark.parametrize("count", [50, 300, 1000])
@pytest.mark.parametrize("half_width", [0.005, 0.01])
def test_the_even_spread_control_never_forms_a_line(count, half_width):
    # including where a line's flank reaches past the end of the range
    values = uniform_spread(count, 0.37, 0.73)
    census = line_census(values, {**PAPER_LINES, "3/5": 0.6}, half_width=half_width)
    assert not any(line.populated for line in census.values())

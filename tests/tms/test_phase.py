"""Chapter 2: candidate losses, phase diagrams and the exact n=2, m=1 loss."""

import numpy as np
import pytest
import torch

from lib.core.sampling import SparseUniform
from lib.tms.expansion import stratified_loss
from lib.tms.model import ToyModel
from lib.tms.phase import (
    PHASE_CANDIDATES,
    _compass_minimize,
    away_from_boundaries,
    candidate_losses,
    candidate_parameters,
    default_starts_2x1,
    direction_starts_2x1,
    distinct_minima_2x1,
    exact_loss_2x1,
    exact_minima_2x1,
    exact_optimum_2x1,
    extra_feature_phases,
    optimal_bias_2x1,
    optimal_configuration,
    optimal_configurations,
    phase_boundary,
)


def monte_carlo_loss(W, b, importance, density, *, samples=400_000, seed=0):
    """Mean and standard error of the per-sample loss (mean over features) of x' = ReLU(WᵀWx + b)."""
    n = W.shape[0]
    model = ToyModel(n, W.shape[1], 1)
    with torch.no_grad():
        model.W.copy_(torch.tensor(W, dtype=torch.float32)[None])
        model.b.copy_(torch.tensor(b, dtype=torch.float32)[None])
    sampler = SparseUniform(np.full((1, n), density), seed=seed)
    x = sampler(samples)
    with torch.no_grad():
        per_sample = (
            torch.tensor(importance, dtype=torch.float32) * (model(x) - x).pow(2)
        ).mean(-1)[:, 0]
    per_sample = per_sample.double().numpy()
    return per_sample.mean(), per_sample.std() / np.sqrt(samples)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("r, s", [(0.5, 0.3), (2.0, 0.8), (1.0, 0.1)])
def test_candidate_losses_match_monte_carlo(n, r, s):
    closed = candidate_losses(n, r, s)
    importance = np.r_[np.ones(n - 1), r]
    for k, name in enumerate(PHASE_CANDIDATES[n]):
        W, b = candidate_parameters(n, name, s)
        mean, se = monte_carlo_loss(W, b, importance, s, seed=k)
        # 5 standard errors of the sample mean (+ float32 rounding of the model)
        assert abs(closed[name] - mean) < 5 * se + 1e-6, (name, closed[name], mean, se)


@pytest.mark.parametrize("r, s", [(0.3, 0.05), (1.0, 4 / 7), (4.0, 1.0)])
def test_candidate_losses_equal_the_exact_loss_at_the_candidate(r, s):
    closed = candidate_losses(2, r, s)
    for name in PHASE_CANDIDATES[2]:
        W, b = candidate_parameters(2, name, s)
        exact = exact_loss_2x1(W[0, 0], W[1, 0], b[0], b[1], r, s)
        assert exact == pytest.approx(closed[name], rel=1e-12, abs=1e-15)


def test_candidate_losses_are_the_summed_formulas_over_n():
    r, s = 2.5, 0.4
    v = s / 3 - s**2 / 4
    c2 = candidate_losses(2, r, s)
    assert c2["drop_extra"] * 2 == pytest.approx(r * v)
    assert c2["drop_normal"] * 2 == pytest.approx(v)
    assert c2["extra_antipodal"] * 2 == pytest.approx((1 + r) * s**2 / 6)
    assert candidate_losses(3, r, s)["normal_antipodal"] * 3 == pytest.approx(s**2 / 3)


@pytest.mark.parametrize(
    "n, r, s, expected",
    [
        (2, 0.1, 1.0, "drop_extra"),
        (2, 0.2, 0.8, "drop_extra"),
        (2, 10.0, 1.0, "drop_normal"),
        (2, 5.0, 0.7, "drop_normal"),
        (2, 1.0, 0.01, "extra_antipodal"),
        (2, 0.3, 0.02, "extra_antipodal"),
        (2, 8.0, 0.02, "extra_antipodal"),
        (3, 0.1, 1.0, "drop_extra"),
        (3, 10.0, 1.0, "drop_normal"),
        (3, 0.2, 0.01, "extra_antipodal"),
        (3, 10.0, 0.01, "normal_antipodal"),
        (3, 3.0, 0.2, "normal_antipodal"),
    ],
)
def test_optimal_configuration_deep_inside_each_region(n, r, s, expected):
    assert optimal_configuration(n, r, s) == expected


@pytest.mark.parametrize("n", [2, 3])
def test_phase_boundary_separates_superposition_from_dropping(n):
    superposed = {"extra_antipodal", "normal_antipodal"}
    for r in np.geomspace(0.1, 10, 41):
        boundary = phase_boundary(n, r)
        assert 0 < boundary < 1
        assert optimal_configuration(n, r, boundary * (1 - 1e-6)) in superposed
        assert optimal_configuration(n, r, boundary * (1 + 1e-6)) not in superposed


def test_phase_boundary_closed_forms_and_triple_point():
    assert phase_boundary(2, 1.0) == pytest.approx(4 / 7)
    assert phase_boundary(3, 1.0) == pytest.approx(4 / 7)
    assert phase_boundary(2, 0.5) == pytest.approx(2 / 4.5)
    assert phase_boundary(2, 3.0) == pytest.approx(4 / 11)
    assert phase_boundary(3, 3.0) == pytest.approx(4 / 7)
    losses = candidate_losses(2, 1.0, 4 / 7)
    values = list(losses.values())
    assert (
        max(values) - min(values) < 1e-15
    )  # all three candidates tie at the triple point
    np.testing.assert_allclose(
        phase_boundary(2, np.array([0.5, 2.0])), [2 / 4.5, 4 / 9]
    )


def test_dense_features_never_superpose_in_theory():
    for n in (2, 3):
        names = optimal_configurations(n, np.geomspace(0.01, 100, 201), 1.0)
        assert not any(name.endswith("antipodal") for name in names)


def test_phase_arguments_are_checked():
    with pytest.raises(ValueError, match="n_features"):
        optimal_configuration(4, 1.0, 0.5)
    with pytest.raises(ValueError, match="r "):
        optimal_configuration(2, 0.0, 0.5)
    with pytest.raises(ValueError, match="density"):
        optimal_configuration(2, 1.0, 0.0)
    with pytest.raises(ValueError, match="density"):
        candidate_losses(3, 1.0, 1.5)
    with pytest.raises(ValueError, match="scalars"):
        optimal_configuration(2, np.array([1.0, 2.0]), 0.5)
    with pytest.raises(ValueError, match="name"):
        candidate_parameters(2, "normal_antipodal", 0.5)
    with pytest.raises(ValueError, match="density"):
        exact_loss_2x1(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize(
    "params",
    [
        (0.8, -0.6, -0.1, 0.05, 1.5, 0.4),
        (1.1, 0.9, 0.2, -0.3, 0.5, 0.9),
        (0.3, 1.2, -0.05, 0.0, 3.0, 0.1),
        (0.7, 0.7, 0.0, 0.0, 1.0, 1.0),
        (1.0, 1.0, -0.5, -0.7, 1.0, 1.0),
    ],
)
def test_exact_loss_matches_monte_carlo(params):
    W1, W2, b1, b2, r, s = params
    exact = exact_loss_2x1(W1, W2, b1, b2, r, s)
    mean, se = monte_carlo_loss(
        np.array([[W1], [W2]]),
        np.array([b1, b2]),
        np.array([1.0, r]),
        s,
        samples=1_000_000,
        seed=7,
    )
    assert abs(exact - mean) < 5 * se + 1e-6, (exact, mean, se)


def test_exact_loss_symmetries():
    g = np.random.default_rng(0)
    W1, W2, b1, b2 = g.normal(size=(4, 50))
    r, s = g.uniform(0.1, 10, 50), g.uniform(0.01, 1, 50)
    L = exact_loss_2x1(W1, W2, b1, b2, r, s)
    np.testing.assert_allclose(exact_loss_2x1(-W1, -W2, b1, b2, r, s), L, rtol=1e-12)
    # swapping the two features and dividing their importances by r
    np.testing.assert_allclose(
        r * exact_loss_2x1(W2, W1, b2, b1, 1 / r, s), L, rtol=1e-12
    )


def test_exact_loss_is_exact_on_a_linear_piece():
    # all outputs positive: the model is linear, x' = G x + b, and the loss is a polynomial in s
    W1, W2, b1, b2, r, s = 0.6, 0.5, 0.1, 0.2, 2.0, 0.35
    G = np.outer([W1, W2], [W1, W2])
    mean, second = s / 2, s / 3  # E[x_i], E[x_i²]
    cov = np.diag([second - mean**2] * 2)
    m = np.array([mean, mean])
    resid = np.eye(2) - G  # x - x' = (I - G) x - b
    err = (
        np.diag(resid @ (cov + np.outer(m, m)) @ resid.T)
        - 2 * (resid @ m) * [b1, b2]
        + np.array([b1, b2]) ** 2
    )
    assert exact_loss_2x1(W1, W2, b1, b2, r, s) == pytest.approx(
        (err[0] + r * err[1]) / 2, rel=1e-12
    )


def test_optimal_bias_beats_every_bias_on_a_grid():
    W1, W2, r, s = (
        np.array([0.9, 1.0, 0.5]),
        np.array([-0.8, 0.0, 0.9]),
        np.array([1.0, 0.5, 3.0]),
        0.4,
    )
    b1, b2, best = optimal_bias_2x1(W1, W2, r, s)
    grid = np.linspace(-1, 1, 201)
    brute = exact_loss_2x1(
        W1[:, None, None],
        W2[:, None, None],
        grid[None, :, None],
        grid[None, None, :],
        r[:, None, None],
        s,
    ).min(axis=(1, 2))
    assert np.all(best <= brute + 1e-12)
    assert np.allclose(best, exact_loss_2x1(W1, W2, b1, b2, r, s))
    assert b2[1] == pytest.approx(
        s / 2, abs=1e-5
    )  # a dropped feature's best bias is its mean


def test_exact_optimum_is_below_every_candidate_and_equal_when_dropping():
    r = np.array([0.2, 1.0, 5.0, 0.3, 4.0])
    s = np.array([0.05, 0.2, 0.1, 0.9, 0.9])
    _, loss = exact_optimum_2x1(r, s)
    cand = np.min(np.stack(list(candidate_losses(2, r, s).values())), axis=0)
    assert np.all(loss <= cand + 1e-12)
    assert np.all(
        loss[:3] < cand[:3] * (1 - 1e-4)
    )  # superposition: norms and bias help
    np.testing.assert_allclose(
        loss[3:], cand[3:], rtol=1e-6
    )  # dropping: the candidate is optimal


def test_bias_free_surface_has_the_confused_minimum_when_dense():
    params, loss = exact_minima_2x1(
        1.0, 1.0, default_starts_2x1(1.0) * [1, 1, 0, 0], optimise_bias=False
    )
    best = params[np.argmin(loss)]
    assert abs(abs(best[0]) - 2**-0.5) < 0.02 and abs(abs(best[1]) - 2**-0.5) < 0.02
    assert best[0] * best[1] > 0


def test_compass_search_finds_a_quadratic_minimum():
    target = np.array([[0.3, -0.2], [1.0, 2.0]])
    f = lambda x, rows: ((x - target[rows][:, None]) ** 2).sum(-1)
    x, fx = _compass_minimize(f, np.zeros((2, 2)), step=0.5, tol=1e-7)
    np.testing.assert_allclose(x, target, atol=1e-6)


def test_stratified_loss_matches_the_exact_loss_and_the_candidates():
    g = np.random.default_rng(3)
    W, b = g.normal(size=(5, 2, 1)), 0.2 * g.normal(size=(5, 2))
    r, s = g.uniform(0.1, 10, 5), np.array([0.01, 0.05, 0.3, 0.7, 1.0])
    importance, probability = np.stack([np.ones(5), r], 1), np.stack([s, s], 1)
    strat = stratified_loss(W, b, importance, probability, samples=50_000, seed=1)
    exact = exact_loss_2x1(W[:, 0, 0], W[:, 1, 0], b[:, 0], b[:, 1], r, s)
    np.testing.assert_allclose(strat, exact, rtol=0.02)
    # n = 3: the candidates' closed forms, even at a density where two active features are rare
    for s3 in (0.01, 0.5):
        names = PHASE_CANDIDATES[3]
        params = [candidate_parameters(3, name, s3) for name in names]
        W3 = np.stack([p[0] for p in params])
        b3 = np.stack([p[1] for p in params])
        imp3 = np.tile([1.0, 1.0, 2.0], (len(names), 1))
        strat3 = stratified_loss(
            W3, b3, imp3, np.full((len(names), 3), s3), samples=50_000
        )
        closed = candidate_losses(3, 2.0, s3)
        np.testing.assert_allclose(strat3, [closed[name] for name in names], rtol=0.02)


def test_stratified_loss_checks_its_arguments():
    with pytest.raises(ValueError, match="n_features"):
        stratified_loss(
            np.zeros((1, 13, 2)),
            np.zeros((1, 13)),
            np.ones((1, 13)),
            np.full((1, 13), 0.1),
        )
    with pytest.raises(ValueError, match="activation"):
        stratified_loss(
            np.zeros((1, 2, 1)),
            np.zeros((1, 2)),
            np.ones((1, 2)),
            np.full((1, 2), 0.1),
            activation="gelu",
        )


def test_away_from_boundaries_marks_points_near_the_boundary():
    r = np.geomspace(0.1, 10, 11)
    s = np.geomspace(0.01, 1, 11)
    away = away_from_boundaries(2, r, s)
    assert away[0, 0] and away[-1, -1] and away[0, -1]  # deep in the three phases
    assert not away[5, -1]  # r = 1, dense: drop_extra | drop_normal
    # every point next to a grid point of a different phase is not "away" (12 points: no grid
    # point sits exactly on the r = 1 boundary, where the tie makes the neighbour's label arbitrary)
    r, s = np.geomspace(0.1, 10, 12), np.geomspace(0.01, 1, 12)
    away = away_from_boundaries(2, r, s)
    phases = extra_feature_phases(2, r[:, None], s[None, :])
    for i in range(12):
        for j in range(12):
            neighbours = phases[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
            if np.any(neighbours != phases[i, j]):
                assert not away[i, j]
    with pytest.raises(ValueError):
        away_from_boundaries(2, np.array([1.0]), s)


def test_away_from_boundaries_uses_an_open_box():
    # n = 3, odd grid: the column r = 1 is the boundary dedicated | not dedicated; the columns next
    # to it are exactly one step away, so all of their sparse points (s < 0.3) are "away", whatever
    # the rounding of r_i / step (before the box was made open, some were and some were not)
    r, s = np.geomspace(0.1, 10, 11), np.geomspace(0.01, 1, 11)
    away = away_from_boundaries(3, r, s)
    sparse = s < 0.3
    assert not away[5].any()  # on the boundary
    assert away[6, sparse].all() and away[4, s < 0.05].all()


def test_distinct_minima_merge_mirror_images():
    params = np.array(
        [[0.7, 0.7, 0, 0], [-0.7, -0.7, 0, 0], [1.0, -1.0, 0, 0], [-1.0, 1.0, 0.0, 0.0]]
    )
    found = distinct_minima_2x1(params, np.array([0.2, 0.2, 0.1, 0.1]))
    assert len(found) == 2
    assert found[0][0] == 0.1 and found[0][1][0] > 0


def test_direction_starts_cover_half_a_circle():
    starts = direction_starts_2x1(8)
    assert starts.shape == (8, 4)
    np.testing.assert_allclose(np.linalg.norm(starts[:, :2], axis=1), 1.0)
    assert np.all(starts[:, 1] >= 0)


def test_compass_search_escapes_a_saddle_its_directions_cannot_see():
    # descent from the origin only along (1, 0, 1): not one of the search directions
    def f(x, rows):
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        return (u - w) ** 2 - 0.1 * (u + w) ** 2 + 0.05 * (u + w) ** 4 + v**2

    stalled, f_stalled = _compass_minimize(
        f, np.zeros((1, 3)), step=0.1, tol=1e-6, escapes=0
    )
    assert np.allclose(stalled, 0) and f_stalled[0] == 0
    x, fx = _compass_minimize(f, np.zeros((1, 3)), step=0.1, tol=1e-6)
    np.testing.assert_allclose(np.abs(x[0]), [0.5, 0.0, 0.5], atol=1e-3)
    assert fx[0] == pytest.approx(-0.05, abs=1e-6)

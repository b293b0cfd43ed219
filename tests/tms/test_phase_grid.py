"""Chapter 2: the empirical phase-diagram pipeline and the exact-loss analyses."""

import numpy as np
import pytest
import torch

from lib.core.training import TrainConfig
from lib.tms import measures
from lib.tms.phase import (
    ANTIPODAL,
    CONFUSED,
    DEDICATED,
    NOT_LEARNED,
    basin_crossing_2x1,
    boundary_curves,
    candidate_losses,
    candidate_slope_jump,
    canonical_sign_2x1,
    direction_starts_2x1,
    distance_2x1,
    dropped_profile_2x1,
    exact_loss_2x1,
    minima_map_2x1,
    minimum_kind_2x1,
    optimal_bias_2x1,
    optimal_candidate_loss,
    optimum_track_2x1,
    params_2x1,
    phase_boundary,
)
from lib.tms.phase_grid import (
    PhaseGrid,
    aggregate_restarts,
    fitted_switch,
    phase_recall,
    train_phase_grid,
    trivial_agreement,
)


# ---- algebra of the candidates (formerly claims of chapter 2: they check formulas, not models)
def test_dense_features_never_superpose_for_any_importance():
    """Former claim dense-no-superposition-theory: s*(r) < 1 for every r, peak 4/7 at r = 1."""
    r = np.geomspace(1e-3, 1e3, 2001)
    for n in (2, 3):
        assert phase_boundary(n, r).max() == pytest.approx(4 / 7)
        assert phase_boundary(n, r).max() < 1


def test_the_three_candidates_tie_at_the_triple_point():
    """Former claim triple-point-theory: at r = 1, s = 4/7 every n = 2 candidate is 16/147 (summed)."""
    summed = {k: 2 * v for k, v in candidate_losses(2, 1.0, 4 / 7).items()}
    for value in summed.values():
        assert value == pytest.approx(16 / 147, abs=1e-15)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("r", [0.3, 1.0, 3.0])
def test_the_optimal_candidate_loss_has_a_kink_at_the_boundary(n, r):
    """Former claim kink-candidates: the slopes of min_c L_c on the two sides of s*(r)
    are those of the crossing candidates, and differ (first-order transition)."""
    below, above = candidate_slope_jump(n, r)
    s = phase_boundary(n, r)
    pair = (1 + r) * s / 3 if (n == 2 or r <= 1) else 2 * s / 3  # d/ds of the antipodal one
    drop = min(r, 1.0) * (1 / 3 - s / 2)  # d/ds of the cheaper drop
    np.testing.assert_allclose([below, above], [pair / n, drop / n], rtol=1e-5)
    assert abs(below - above) / max(abs(below), abs(above)) > 0.1
    if n == 2 and r == 3.0:  # the numbers quoted in the chapter: 16/33 -> 5/33, summed
        np.testing.assert_allclose([2 * below, 2 * above], [16 / 33, 5 / 33], rtol=1e-5)


def test_optimal_candidate_loss_is_the_lowest_candidate():
    r, s = np.array([0.2, 1.0, 5.0]), np.array([0.05, 0.9, 0.3])
    low = optimal_candidate_loss(3, r, s)
    for value in candidate_losses(3, r, s).values():
        assert np.all(low <= value)


def test_boundary_curves_follow_the_boundary():
    r = np.geomspace(0.1, 10, 21)
    (rc, sc, _), (vr, vs, _) = boundary_curves(2, r)
    np.testing.assert_allclose(sc, phase_boundary(2, rc))
    assert vr.tolist() == [1, 1] and vs[0] == pytest.approx(4 / 7)
    curves = boundary_curves(3, r, density_min=0.02)
    assert len(curves) == 3 and curves[1][1][0] == 0.02
    np.testing.assert_allclose(curves[2][1], 4 / 7)


# ---- the exact n = 2 loss
def test_optimal_bias_of_a_dropped_feature_is_its_mean():
    """A zero weight makes the error flat for every b <= 0: the search must not stop there."""
    for s in (0.05, 0.3, 1.0):
        b1, b2, _ = optimal_bias_2x1(1.0, 0.0, 0.7, s)
        assert float(b2) == pytest.approx(s / 2, abs=1e-6)
        assert abs(float(b1)) < 1e-6


def test_canonical_sign_and_kinds():
    p = np.array([[-1.0, 1.0, 0.1, 0.2], [0.0, -1.0, 0, 0], [0.7, 0.7, 0, 0], [1, 0.1, 0, 0]])
    c = canonical_sign_2x1(p)
    assert c[0, :2].tolist() == [1.0, -1.0] and c[1, :2].tolist() == [0.0, 1.0]
    assert c[0, 2:].tolist() == [0.1, 0.2]  # biases are not flipped
    assert minimum_kind_2x1(p).tolist() == [ANTIPODAL, DEDICATED, CONFUSED, NOT_LEARNED]
    # the same rule as measures.feature_phase, with superposed split by the sign of W1 W2
    phase = measures.feature_phase(torch.tensor(p[:, :2, None])).numpy()
    assert np.array_equal(np.where(minimum_kind_2x1(p) == CONFUSED, 1, minimum_kind_2x1(p)),
                          phase)


def test_minima_map_finds_the_confused_minimum_without_bias_only():
    ring = direction_starts_2x1(8)
    kind0, count0, best0 = minima_map_2x1([1.0], [1.0], ring, optimise_bias=False)
    assert kind0[0, 0] == CONFUSED
    np.testing.assert_allclose(np.abs(best0[0, 0, :2]), 2**-0.5, atol=0.02)
    kind1, _, _ = minima_map_2x1([0.5, 2.0], [1.0], ring, optimise_bias=True)
    assert kind1[:, 0].tolist() == [NOT_LEARNED, DEDICATED]


def test_optimum_track_jumps_across_the_boundary_far_from_the_triple_point():
    s = np.array([0.2, 0.3, 0.45, 0.6])  # s*(3) = 4/11 = 0.364
    params, loss, steps = optimum_track_2x1(3.0, s)
    assert steps.argmax() == 1 and steps.max() > 0.5
    assert np.all(np.abs(params[2:, 0]) < 1e-3)  # above s*: the normal feature is dropped
    assert np.all(loss <= optimal_candidate_loss(2, 3.0, s) + 1e-12)
    # several r at once: the same tracks
    many, many_loss, many_steps = optimum_track_2x1([3.0, 0.3], s)
    assert many.shape == (2, 4, 4) and many_steps.shape == (2, 3)
    np.testing.assert_allclose(many[0], params, atol=1e-6)
    np.testing.assert_allclose(many_loss[0], loss, rtol=1e-9)


def test_basin_crossing_is_near_the_candidates_boundary_with_a_kink():
    s_star = phase_boundary(2, 3.0)
    out = basin_crossing_2x1(3.0, np.linspace(0.8 * s_star, 1.3 * s_star, 21))
    assert 0.9 * s_star < out["s_cross"] < 1.2 * s_star
    assert out["jump"] > 0.3
    with pytest.raises(ValueError, match="do not cross"):
        basin_crossing_2x1(3.0, np.linspace(0.05, 0.1, 5))


def test_dropped_profile_signs_and_symmetry():
    eps = np.array([0.05, -0.05])
    # r = 0.3 just below s* = 0.343: a local minimum; r = 0.3 deep in the superposition
    # phase: a saddle, down only against W_1; r = 1: both directions lower the loss
    minimum, lopsided, ridge, swapped = dropped_profile_2x1(
        [0.3, 0.3, 1.0, 1 / 3], [0.32, 0.15, 0.1, 0.2], eps)
    assert np.all(minimum > 0) and lopsided[0] > 0 > lopsided[1] and np.all(ridge < 0)
    # dropping the normal feature at r is dropping the extra one at 1/r
    np.testing.assert_allclose(dropped_profile_2x1(3.0, 0.2, eps, dropped="normal"), swapped,
                               rtol=1e-9)
    # re-optimising cannot do worse than keeping W_1 = 1 and the biases fixed
    s, r = 0.15, 0.3
    fixed = exact_loss_2x1(1.0, eps, 0.0, s / 2, r, s) / exact_loss_2x1(1.0, 0.0, 0.0, s / 2, r, s) - 1
    assert np.all(lopsided <= fixed + 1e-9)
    with pytest.raises(ValueError, match="dropped"):
        dropped_profile_2x1(0.3, 0.3, eps, dropped="first")


# ---- the empirical pipeline
def _grid(W, loss, r=(0.5, 2.0), s=(0.1, 1.0), k=3):
    R, S = len(r), len(s)
    W = torch.as_tensor(W, dtype=torch.float64)
    return PhaseGrid(np.array(r), np.array(s), k, W, torch.zeros(W.shape[:2]), W * 0,
                     np.asarray(loss, np.float64), np.repeat(np.arange(R * S), k), 0.0)


def test_aggregate_restarts_averages_the_outcomes_of_the_kept_models():
    antipodal, dedicated, dropped = [[1.0], [-1.0]], [[0.0], [1.0]], [[1.0], [0.0]]
    W = [antipodal, antipodal, dropped,      # point 0: the worst (dropped) is discarded
         dropped, dropped, antipodal,        # point 1: the worst (antipodal) is discarded
         dedicated, dedicated, dedicated,    # point 2
         antipodal, dedicated, dedicated]    # point 3: a tie among the kept, best wins
    loss = [1, 1, 9, 1, 2, 3, 1, 1, 1, 1, 2, 3]
    agg = aggregate_restarts(_grid(W, loss))
    S, N, D = measures.SUPERPOSED, measures.NOT_LEARNED, measures.DEDICATED
    assert agg.paper.ravel().tolist() == [S, N, D, S]
    np.testing.assert_allclose(agg.shares.reshape(4, 3), [[0, 1, 0], [1, 0, 0], [0, 0, 1],
                                                          [0, 0.5, 0.5]])
    np.testing.assert_allclose(agg.share.ravel(), [1, 1, 1, 0.5])
    assert agg.best.ravel().tolist() == [S, N, D, S]
    assert agg.restart.tolist() == [S, S, N, N, N, S, D, D, D, S, D, D]
    # a sign flip of one model changes nothing: outcomes are invariant
    W2 = np.array(W)
    W2[1] *= -1
    assert np.array_equal(aggregate_restarts(_grid(W2, loss)).paper, agg.paper)
    # other weights, same ranking (the untrained control)
    untrained = aggregate_restarts(_grid(W, loss), W=np.array(dedicated * 12).reshape(12, 2, 1))
    assert np.all(untrained.paper == D)


def test_phase_recall_is_per_outcome():
    reference = np.array([[0, 0, 0], [0, 1, 2]])
    assert phase_recall(np.zeros((2, 3)), reference) == {
        "not learned": 1.0, "superposed": 0.0, "dedicated": 0.0}
    where = np.array([[1, 1, 1], [1, 1, 0]], bool)
    assert phase_recall(reference, reference, where) == {"not learned": 1.0, "superposed": 1.0}


def test_fitted_switch_and_trivial_agreement():
    values = np.array([0.1, 0.2, 0.4, 0.8])
    t, errors = fitted_switch(values, [1, 1, 0, 1], below=1)
    assert t == pytest.approx(np.sqrt(0.08)) and errors == 1
    # the threshold is interior: with no label "below" the first point is still one error
    assert fitted_switch(values, [0, 0, 0, 0], below=1) == (pytest.approx(np.sqrt(0.02)), 1)
    with pytest.raises(ValueError):
        fitted_switch(values, [1, 1], below=1)
    assert trivial_agreement([[0, 0, 1], [0, 2, 2]]) == pytest.approx(0.5)


def test_train_phase_grid_small_run():
    config = TrainConfig(steps=20, batch_size=16, lr=1e-2)
    grid = train_phase_grid(2, 1, [0.5, 2.0], [0.3, 1.0], 2, config, seed=3, device="cpu",
                            rank_samples=64, progress=False)
    assert grid.W.shape == (8, 2, 1) and grid.loss.shape == (8,) and grid.shape == (2, 2)
    assert grid.group.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert not torch.equal(grid.W, grid.W_initial)  # trained
    again = train_phase_grid(2, 1, [0.5, 2.0], [0.3, 1.0], 2, config, seed=3, device="cpu",
                             rank_samples=64, progress=False)
    assert torch.equal(grid.W_initial, again.W_initial) and np.allclose(grid.loss, again.loss)


def test_params_and_distance_up_to_sign():
    W = torch.tensor([[[0.004], [-1.0]], [[-1.0], [1.0]]])
    b = torch.tensor([[0.3, 0.0], [0.1, 0.2]])
    p = params_2x1(W, b)
    np.testing.assert_allclose(p, [[0.004, -1.0, 0.3, 0.0], [1.0, -1.0, 0.1, 0.2]], atol=1e-7)
    # a dropped feature's tiny weight must not decide the comparison
    np.testing.assert_allclose(distance_2x1(p, [[0.0, 1.0, 0.3, 0.0], [1, -1, 0.1, 0.25]]),
                               [0.004, 0.05], atol=1e-7)
    with pytest.raises(ValueError):
        params_2x1(np.zeros((2, 3, 1)), np.zeros((2, 3)))

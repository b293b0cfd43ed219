"""Learning-dynamics tools on planted series and small trained models (lib.tms.dynamics)."""

import math

import numpy as np
import pytest
import torch

from lib.core import TrainConfig, fit
from lib.tms import FeatureSetsConfig, ToyModelConfig
from lib.tms.dynamics import (
    LossDrop,
    descent_rate,
    dimensionality_jumps,
    distinct_directions,
    group_events,
    jump_drop_census,
    late_phase_start,
    log_spaced_steps,
    longest_run,
    loss_drops,
    loss_plateaus,
    match_events,
    noise_scale,
    pooled_rates,
    set_geometry_label,
    set_trajectories,
    snapshot_losses,
    snapshot_schedule,
    stack_snapshots,
)


# ---------------------------------------------------------------- snapshots
def test_log_spaced_steps_bounds_and_order():
    s = log_spaced_steps(10_000, 200)
    assert s[0] == 0 and s[-1] == 10_000
    assert np.all(np.diff(s) > 0)
    assert 150 < s.size <= 201
    late = s[-50:]
    ratios = late[1:] / late[:-1]
    assert ratios.max() / ratios.min() < 1.05  # constant ratio: log spacing


@pytest.mark.parametrize("bad", [dict(total_steps=0, n_snapshots=10),
                                 dict(total_steps=10, n_snapshots=1),
                                 dict(total_steps=10, n_snapshots=5, first=11)])
def test_log_spaced_steps_rejects(bad):
    with pytest.raises(ValueError):
        log_spaced_steps(**bad)


def test_snapshot_schedule_is_the_union():
    s = snapshot_schedule(1000, 20, 10)
    assert set(range(0, 1001, 100)) <= set(s.tolist())
    assert set(log_spaced_steps(1000, 20).tolist()) <= set(s.tolist())
    assert np.all(np.diff(s) > 0)
    with pytest.raises(ValueError):
        snapshot_schedule(1000, 20, -1)


def test_snapshots_from_fit_and_their_losses():
    config = ToyModelConfig(n_features=6, n_hidden=2, n_instances=3, feature_probability=0.3)
    steps = [0, 1, 5, 20]
    run = fit(config, TrainConfig(steps=20, batch_size=32, lr=1e-2), seed=1, progress=False,
              snapshot_steps=steps)
    got, W = stack_snapshots(run.history, "W")
    assert got.tolist() == steps and W.shape == (4, 3, 6, 2)
    assert torch.equal(W[0], config.build_model(seed=1).W.detach())   # step 0: the init
    assert torch.equal(W[-1], run.model.W.detach())
    _, b = stack_snapshots(run.history, "b")
    x = config.build_sampler(seed=99)(64)
    L = snapshot_losses(config, run.history, x)
    assert L.shape == (4, 3)
    out = torch.relu(torch.einsum("bin,inm,ijm->bij", x, W[-1], W[-1]) + b[-1])
    assert np.allclose(L[-1], ((out - x) ** 2).mean(dim=(0, 2)).numpy(), rtol=1e-5)
    with pytest.raises(ValueError):
        stack_snapshots(run.history, "E")


# ---------------------------------------------------------------- change points
def test_noise_scale_estimates_sigma_and_ignores_steps():
    rng = np.random.default_rng(1)
    y = 0.05 * rng.standard_normal(2000) + np.repeat([0.0, 1.0], 1000)
    assert abs(noise_scale(y) - 0.05) < 0.005


def _planted(seed=0, sigma=0.01):
    """Feature 0 jumps 0.1 -> 1 (ramp of 4 points) at index 100 and 1 -> 0.5 at index 200;
    feature 1 stays at 0.5; both with noise, on a 300-point log grid."""
    rng = np.random.default_rng(seed)
    steps = log_spaced_steps(10_000, 300)
    S = steps.size
    f0 = np.full(S, 0.1)
    f0[100:104] = np.linspace(0.1, 1.0, 6)[1:5]
    f0[104:200] = 1.0
    f0[200:] = 0.5
    D = np.stack([f0, np.full(S, 0.5)], 1) + sigma * rng.standard_normal((S, 2))
    return D, steps


def test_dimensionality_jumps_planted():
    D, steps = _planted()
    jumps = dimensionality_jumps(D, steps, min_jump=0.15)
    assert [(j.feature, round(j.before, 1), round(j.after, 1)) for j in jumps] == [
        (0, 0.1, 1.0), (0, 1.0, 0.5)]
    assert jumps[0].step == steps[102]  # the midpoint crossing inside the ramp
    assert jumps[1].step == steps[200]
    assert jumps[0].start <= jumps[0].step <= jumps[0].end
    assert abs(jumps[1].size + 0.5) < 0.02


def test_gradual_transition_is_one_jump_and_excursion_is_none():
    steps = log_spaced_steps(10_000, 300)
    S = steps.size
    ramp = np.concatenate([np.full(120, 0.15), np.linspace(0.15, 0.5, 40), np.full(S - 160, 0.5)])
    excursion = np.full(S, 0.1)
    excursion[150:170] = np.linspace(0.1, 0.3, 20)
    excursion[170:190] = np.linspace(0.3, 0.1, 20)
    jumps = dimensionality_jumps(np.stack([ramp, excursion], 1), steps)
    assert len(jumps) == 1 and jumps[0].feature == 0
    assert abs(jumps[0].before - 0.15) < 0.01 and abs(jumps[0].after - 0.5) < 0.01
    assert steps[135] <= jumps[0].step <= steps[145]


def test_no_jumps_in_noise_or_slow_drift():
    rng = np.random.default_rng(3)
    steps = log_spaced_steps(10_000, 300)
    S = steps.size
    assert dimensionality_jumps(0.5 + 0.02 * rng.standard_normal((S, 5)), steps) == []
    drift = np.linspace(0.4, 0.6, S)[:, None] + 0.005 * rng.standard_normal((S, 1))
    assert dimensionality_jumps(drift, steps, min_jump=0.15) == []


def test_jumps_of_unrepresented_features_are_dropped():
    D, steps = _planted()
    norms = np.ones_like(D)
    norms[:150, 0] = 0.1  # feature 0 is not learned until index 150
    jumps = dimensionality_jumps(D, steps, norms=norms)
    assert [(j.feature, round(j.after, 1)) for j in jumps] == [(0, 0.5)]


def test_dimensionality_jumps_rejects_bad_input():
    with pytest.raises(ValueError):
        dimensionality_jumps(np.zeros((5, 2)), np.arange(4))
    with pytest.raises(ValueError):
        dimensionality_jumps(np.zeros((5, 2)), np.arange(5), min_jump=0)


# ---------------------------------------------------------------- loss drops
def _loss_with_drops(drop_at=(300, 3000), depth=(0.1, 0.3), width=0.03, steps=None):
    steps = log_spaced_steps(10_000, 300)[1:] if steps is None else steps
    logt = np.log(steps)
    L = 0.1 * steps ** -0.05
    for t0, d in zip(drop_at, depth):
        L = L * (1 - d / (1 + np.exp(-(logt - math.log(t0)) / width)))
    return L, steps


def test_loss_drops_finds_planted_drops():
    L, steps = _loss_with_drops()
    drops = loss_drops(L, steps)
    assert len(drops) == 2
    for d, t0, depth in zip(drops, (300, 3000), (0.1, 0.3)):
        assert t0 / 1.1 <= d.step <= t0 * 1.1
        assert abs(d.relative - depth) < 0.05


def test_loss_drops_on_the_mixed_grid():
    steps = snapshot_schedule(20_000, 250, 250)[1:]
    L, _ = _loss_with_drops(drop_at=(500, 15_000), depth=(0.05, 0.01), width=0.02, steps=steps)
    drops = loss_drops(L, steps)
    assert len(drops) == 2
    for d, t0, depth in zip(drops, (500, 15_000), (0.05, 0.01)):
        assert d.start <= t0 <= d.end
        assert 0.6 * depth < d.relative < 1.4 * depth


def test_no_loss_drops_on_a_smooth_power_law():
    steps = log_spaced_steps(10_000, 300)[1:]
    assert loss_drops(0.1 * steps ** -0.3, steps) == []


def test_descent_rate_of_a_power_law():
    steps = np.array([1, 10, 100])
    rate, mid = descent_rate(steps ** -0.5, steps)
    assert np.allclose(rate, 0.5) and np.allclose(mid, [np.sqrt(10), np.sqrt(1000)])
    with pytest.raises(ValueError):
        descent_rate(np.ones(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError):
        descent_rate(np.ones(3), np.array([1, 2, 2]))


# ---------------------------------------------------------------- matching
def test_group_events_merges_near_steps():
    assert group_events([100, 105, 108, 500, 1000, 1050], gap_factor=1.1) == [
        (100, 108), (500, 500), (1000, 1050)]
    with pytest.raises(ValueError):
        group_events([1], gap_factor=0.5)


def test_match_events_counts_and_chance():
    res = match_events([100, 104, 1000], [110, 5000], window=1.25, gap_factor=1.1,
                       span=(1, 10_000))
    assert res["events"] == 2 and res["events_matched"] == 1
    assert res["drops"] == 2 and res["drops_matched"] == 1 and res["drop_match_rate"] == 0.5
    # a point event, widened by 1.25 either side, against two point drops: 2 x 2 log(1.25)
    assert abs(res["chance_event_match_rate"] - 4 * math.log(1.25) / math.log(1e4)) < 0.01
    # a point drop against the events [100, 104] and [1000, 1000], each widened
    cover = (2 * math.log(1.25) + math.log(1.04)) + 2 * math.log(1.25)
    assert abs(res["chance_drop_match_rate"] - cover / math.log(1e4)) < 0.01
    drop = LossDrop(step=1500, start=1200, end=2000, relative=0.05)
    assert match_events([1000, 2500], [drop], window=1.0)["drops_matched"] == 0
    res3 = match_events([1000, 2500], [drop], window=1.25)
    assert res3["events_matched"] == 2 and res3["drops_matched"] == 1
    empty = match_events([], [], window=1.25)
    assert math.isnan(empty["drop_match_rate"]) and math.isnan(empty["event_match_rate"])
    with pytest.raises(ValueError):
        match_events([1], [1], window=0.5)


def test_late_phase_starts_after_the_largest_drop_after_the_first_jump():
    drops = [LossDrop(50, 40, 60, 0.3),     # before any jump: the linear stage
             LossDrop(300, 250, 350, 0.05),
             LossDrop(600, 500, 700, 0.2),   # the collective formation: largest after
             LossDrop(3000, 2800, 3200, 0.01)]
    assert late_phase_start([280, 650, 3100], drops) == 700
    assert late_phase_start([], drops) is None


def test_coincide_within_snapshots_and_its_chance():
    from lib.tms.dynamics import coincide, coincidence_chance

    steps = np.arange(1, 101) * 10       # snapshots every 10 steps
    drops = [LossDrop(step=s, start=s - 10, end=s + 10, relative=0.1) for s in (500, 560, 900)]
    events = [(520, 530)]
    assert coincide(drops, events, steps, tolerance=3).tolist() == [True, True, False]
    assert coincide(drops, events, steps, tolerance=1).tolist() == [False, False, False]
    # snapshots 490 .. 560 of those after step 0: 8 of 100
    assert coincidence_chance(events, steps, 0, tolerance=3) == pytest.approx(0.08)
    assert coincidence_chance(events, steps, 495, tolerance=3) == pytest.approx(7 / 51)
    assert math.isnan(coincidence_chance(events, steps, 2000))


def _census_inputs(late_steps):
    """Two instances, one feature each, on a 400-point log grid from step 10: D jumps
    0.1 -> 0.5 at index 150 (shared) and 0.5 -> 1.0 at the instance's late index; the loss
    drops by 20 % at index 150 and by 2 % at the late index."""
    steps = np.unique(np.geomspace(10, 20_000, 400).round().astype(np.int64))
    S = steps.size
    D = np.zeros((S, 2, 1))
    L = np.zeros((S, 2))
    for k, late in enumerate(late_steps):
        D[:, k, 0] = np.where(np.arange(S) < 150, 0.1, np.where(np.arange(S) < late, 0.5, 1.0))
        logt = np.log(steps)
        L[:, k] = 0.1 * (1 - 0.2 / (1 + np.exp(-(logt - logt[150]) / 0.02)))
        L[:, k] *= 1 - 0.02 / (1 + np.exp(-(logt - logt[late]) / 0.02))
    return D, np.ones_like(D), L, steps


def test_jump_drop_census_matches_late_drops_and_the_control_fails():
    D, norms, L, steps = _census_inputs([230, 300])
    census = jump_drop_census(D, norms, L, steps)
    assert census["jumps"].tolist() == [2, 2]
    assert census["late_drops"].tolist() == [1, 1]
    assert census["late_drops_matched"].tolist() == [1, 1]
    # the other instance's late drop is elsewhere: the control does not match
    assert census["control_late_drops_matched"].tolist() == [0, 0]
    assert (census["late_chance"] < 0.3).all()
    rates = pooled_rates(census)
    assert rates["late_match_rate"] == 1.0 and rates["control_late_match_rate"] == 0.0
    assert rates["late_event_match_rate"] == 1.0 and rates["late_drops"] == 2
    assert census["drops_before_jumps"].tolist() == [0, 0]
    assert census["formation_events"].tolist() == [1, 1]
    with pytest.raises(ValueError):
        jump_drop_census(D, norms, L, np.concatenate([[0], steps[1:]]))


# ---------------------------------------------------------------- feature sets
def test_set_geometry_labels():
    e = torch.eye(3)
    assert set_geometry_label(torch.cat([e, -e]), [3, 3]) == "antipodal across sets"
    R = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    c, s = math.cos(0.5), math.sin(0.5)
    Rz = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    assert set_geometry_label(torch.cat([e, e @ Rz.T @ R.T]), [3, 3]) == "orthogonal sets"
    a, b = e[0], e[1]
    assert set_geometry_label(torch.stack([a, a, a, b, b, b]), [3, 3]) == "collapsed sets"
    assert set_geometry_label(torch.stack([a, a, b, b, -a, e[2]]), [3, 3]) == "partly split"
    assert set_geometry_label(0.1 * torch.stack([a, a, a, b, b, b]), [3, 3]) == "small"
    # features of the same set antipodal: not the paper's octahedron
    within = torch.stack([e[0], -e[0], e[1], -e[1], e[2], -e[2]])
    assert set_geometry_label(within, [3, 3]) not in ("antipodal across sets", "orthogonal sets")
    with pytest.raises(ValueError):
        set_geometry_label(torch.zeros(5, 3), [3, 3])


def test_distinct_directions():
    e = torch.eye(3)
    assert distinct_directions(torch.cat([e, -e])) == 6
    assert distinct_directions(torch.stack([e[0], e[0], 0.9 * e[0] + 0.1 * e[1], e[1], e[1],
                                            0.01 * e[2]])) == 2   # the small one is left out


def test_loss_plateaus_and_longest_run():
    steps = np.array([1, 10, 100, 1000, 10_000])
    drops = [LossDrop(step=20, start=10, end=100, relative=0.5)]
    assert loss_plateaus(drops, steps) == [(1, 10, 1), (100, 10_000, 1000)]
    assert loss_plateaus([LossDrop(5000, 1000, 10_000, 0.5)], steps) == [(1, 1000, 10)]
    labels = ["a", "b", "b", "b", "a"]
    assert longest_run(labels, steps, "b") == 990 and longest_run(labels, steps, "c") == 0


def test_set_trajectories_on_a_planted_path():
    """PCA collapse, then two orthogonal frames, then the octahedron, with loss drops."""
    e = torch.eye(3)
    collapsed = torch.stack([e[0], e[0], e[0], e[1], e[1], e[1]])
    c, s = math.cos(0.6), math.sin(0.6)
    Rz = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    frames = torch.cat([e, e @ Rz.T])
    octa = torch.cat([e, -e])
    steps = log_spaced_steps(10_000, 300)[1:]
    S = steps.size
    stage = np.searchsorted([100, 200], np.arange(S), side="right")   # 0, 1, 2
    W = torch.stack([(collapsed, frames, octa)[g] for g in stage])[:, None]   # [S, 1, 6, 3]
    logt = np.log(steps)
    L = 0.1 * np.ones(S)
    for idx, depth in ((100, 0.5), (200, 0.5)):
        L = L * (1 - depth / (1 + np.exp(-(logt - logt[idx]) / 0.02)))
    L = L * (1 - 0.5 / (1 + np.exp(-(logt - logt[30]) / 0.02)))     # the first drop
    table = set_trajectories(W, L[:, None], steps, [3, 3])
    row = table.iloc[0]
    assert row["drops"] == 3 and row["collapsed_set"]
    assert row["first_plateau"] == "collapsed sets" and row["first_plateau_directions"] == 2
    assert row["final"] == "antipodal across sets"
    assert row["orthogonal_dwell"] == steps[199] - steps[100]


def test_set_trajectories_of_a_short_real_run():
    config = FeatureSetsConfig(set_sizes=[3, 3], kinds="correlated", n_hidden=3, n_instances=2,
                               set_probability=0.05)
    snaps = snapshot_schedule(200, 20, 5)
    run = fit(config, TrainConfig(steps=200, batch_size=64, lr=3e-3), seed=0, progress=False,
              snapshot_steps=snaps)
    steps, W = stack_snapshots(run.history, "W")
    L = snapshot_losses(config, run.history, config.build_sampler(seed=5)(256))
    table = set_trajectories(W[1:], L[1:], steps[1:], [3, 3])
    assert len(table) == 2 and set(table["final"]) <= set(
        ["small", "collapsed sets", "partly split", "orthogonal sets",
         "antipodal across sets", "other"])


def test_tracking_overhead_reports_cpu_costs():
    from lib.tms.dynamics import tracking_overhead

    config = ToyModelConfig(n_features=20, n_hidden=5, n_instances=2, feature_probability=0.3)
    res = tracking_overhead(config, TrainConfig(steps=1000, batch_size=64), n_snapshots=50,
                            steps=30, repeats=2)
    assert res["plain"] > 0 and res["tracked"] > 0 and res["per_snapshot"] >= 0
    assert res["overhead"] == pytest.approx(res["per_snapshot"] * 50 / (res["plain"] * 1000))
    assert res["every_step"] == pytest.approx(res["tracked"] / res["plain"] - 1)


def test_tracking_overhead_catches_a_costly_snapshot(monkeypatch):
    """Negative control: snapshots that burn CPU time show up as an overhead above 10 %."""
    import time

    import lib.tms.dynamics as dynamics

    real_fit = dynamics.fit

    def slow_fit(*args, snapshot_steps=(), **kwargs):
        out = real_fit(*args, snapshot_steps=snapshot_steps, **kwargs)
        t0 = time.process_time()
        while time.process_time() - t0 < 5e-2 * len(snapshot_steps):
            pass
        return out

    monkeypatch.setattr(dynamics, "fit", slow_fit)
    config = ToyModelConfig(n_features=20, n_hidden=5, n_instances=2, feature_probability=0.3)
    res = dynamics.tracking_overhead(config, TrainConfig(steps=1000, batch_size=64),
                                     n_snapshots=500, steps=30, repeats=2)
    assert res["every_step"] > 0.1 and res["overhead"] > 0.1


@pytest.mark.parametrize("kinds", [["correlated", "correlated"],
                                   ["anticorrelated", "independent"]])
def test_feature_sets_covariance_matches_the_sampler(kinds):
    from lib.tms.data import FeatureSets, feature_sets_covariance

    p = np.array([0.3, 0.6])
    x = FeatureSets([3, 2], kinds, p[None], seed=0)(400_000)[:, 0].double().numpy()
    assert np.allclose(feature_sets_covariance([3, 2], kinds, p), np.cov(x.T), atol=2e-3)
    with pytest.raises(ValueError):
        feature_sets_covariance([3, 2], kinds, [0.3])


def test_linear_optimum_is_the_pca_loss():
    """PCA's W (top-m eigenvectors) and b = (1 - P) E[x] reach the formula; random W does not."""
    from lib.tms.data import FeatureSets, feature_sets_covariance
    from lib.tms.dynamics import linear_optimum_loss

    p = np.array([0.05, 0.05])
    cov = feature_sets_covariance([3, 3], "correlated", p)
    best = linear_optimum_loss(cov, 3)
    assert best == pytest.approx(0.05 / 24)   # three eigenvalues p/12 dropped, / n = 6
    _, vecs = np.linalg.eigh(cov)
    W = torch.tensor(vecs[:, -3:])                   # [n, m]: rows are the features
    P = W @ W.T
    x = FeatureSets([3, 3], "correlated", p[None], seed=1)(400_000)[:, 0].double()
    b = (torch.eye(6, dtype=torch.float64) - P) @ x.mean(0)
    loss = ((x @ P + b - x) ** 2).mean()
    assert float(loss) == pytest.approx(best, rel=0.02)
    with pytest.raises(ValueError):
        linear_optimum_loss(np.zeros((3, 2)), 1)


def test_random_directions_keep_norms_and_rarely_form_the_octahedron():
    from lib.tms.dynamics import random_directions_like

    e = torch.eye(3)
    W = torch.cat([e, -e]).expand(200, -1, -1)
    R = random_directions_like(W, seed=0)
    assert torch.allclose(R.norm(dim=-1), torch.ones(200, 6, dtype=torch.float64))
    assert torch.equal(R, random_directions_like(W, seed=0))
    labels = [set_geometry_label(r, [3, 3]) for r in R]
    assert labels.count("antipodal across sets") == 0


def test_trace_dimensionality_in_chunks_equals_all_at_once():
    from lib.tms.dynamics import trace_dimensionality
    from lib.tms.measures import feature_dimensionality, feature_norms

    W = torch.randn(7, 3, 5, 2)
    D, N = trace_dimensionality(W, chunk=3)
    assert D.shape == (7, 3, 5) and N.shape == (7, 3, 5)
    assert np.allclose(D, feature_dimensionality(W).numpy())
    assert np.allclose(N, feature_norms(W).numpy())
    with pytest.raises(ValueError):
        trace_dimensionality(W[0])

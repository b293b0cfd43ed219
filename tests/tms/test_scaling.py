"""Chapter 8's family: the frequency law, the weak-superposition loss, the model at the
paper's initialisation, its hand-written gradient (= autograd), the grid, the measures."""

import math

import numpy as np
import pytest
import torch

from lib.core.training import TrainConfig
from lib.tms import scaling as S


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("expected", [0.5, 1.0, 1.5])
def test_frequency_law(alpha, expected):
    p = S.feature_frequencies(500, alpha, expected)
    assert p.shape == (500,) and math.isclose(p.sum(), expected, rel_tol=1e-12)
    assert np.all(np.diff(p) < 0)
    i = np.array([1, 2, 10, 100, 499])
    np.testing.assert_allclose(p[i] / p[0], (i + 1.0) ** -(1 + alpha), rtol=1e-12)


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_features=0, alpha=0.0), "n_features"), (dict(n_features=2.5, alpha=0.0), "n_features"),
    (dict(n_features=10, alpha=float("nan")), "alpha"),
    (dict(n_features=10, alpha=0.0, expected_active=0), "expected_active"),
    (dict(n_features=10, alpha=1.0, expected_active=5.0), "expected_active"),
])
def test_frequency_law_rejects_bad_parameters(kwargs, word):
    with pytest.raises(ValueError, match=word):
        S.feature_frequencies(**kwargs)


def test_weak_loss_matches_an_oracle_model_by_monte_carlo():
    """The k most frequent features reproduced exactly, the rest at their mean p_i E v."""
    n, k = 40, 10
    p = S.feature_frequencies(n, 0.5)
    g = torch.Generator().manual_seed(2)
    pt = torch.tensor(p, dtype=torch.float32)
    x = (torch.rand(400_000, n, generator=g) < pt) * torch.rand(400_000, n, generator=g) * 2
    out = x.clone()
    out[:, k:] = pt[k:]  # E x_i = p_i E v, E v = 1
    mc = float(((out - x) ** 2).mean())
    assert abs(mc - float(S.weak_superposition_loss(p, k))) / mc < 0.02


def test_weak_loss_limits_and_slope():
    p = S.feature_frequencies(100, 0.5)
    assert S.weak_superposition_loss(p, 100) == 0
    np.testing.assert_allclose(S.weak_superposition_loss(p, 0),
                               S.unlearned_feature_loss(p).sum() / 100)
    big = S.feature_frequencies(10**6, 0.5)
    k = np.array([100, 200, 400, 800])
    from lib.core.stats import fit_power_law
    assert abs(fit_power_law(k, S.weak_superposition_loss(big, k))["exponent"] - 0.5) < 0.02
    with pytest.raises(ValueError, match="n_represented"):
        S.weak_superposition_loss(p, 101)


def test_model_init_per_instance_and_zero_columns():
    m = S.ScalingModel(300, [4, 16, 16], seed=3, instance_ids=[7, 8, 9])
    assert m.W.shape == (3, 300, 16) and m.b.shape == (3, 300)
    assert float(m.W[0, :, 4:].detach().abs().max()) == 0.0
    # W ~ N(0, 1/m) on the used columns, b ~ N(0, 1)
    W, b = m.W.detach(), m.b.detach()
    assert abs(float(W[1, :, :16].var()) * 16 - 1) < 0.1 and abs(float(b.var()) - 1) < 0.15
    # instance 8's weights do not depend on its neighbours or the padding
    alone = S.ScalingModel(300, [16], seed=3, instance_ids=[8])
    torch.testing.assert_close(alone.W[0], m.W[1])
    torch.testing.assert_close(alone.b[0], m.b[1])
    wider = S.ScalingModel(300, [4, 32], seed=3, instance_ids=[7, 1])
    torch.testing.assert_close(wider.W[0, :, :4], m.W[0, :, :4])


def grads_by_autograd(model, x):
    loss = S.ReLUAutoencoderMSE()(model(x), x)
    model.zero_grad()
    loss.sum().backward()
    return loss.detach(), model.W.grad.clone(), model.b.grad.clone()


@pytest.mark.parametrize("sampling", ["sparse", "columns"])
@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
@pytest.mark.parametrize("seed", [0, 1])
def test_fused_gradient_equals_autograd(sampling, chunk, seed):
    config = S.ScalingConfig(80, [3, 8, 5, 8], [0.0, 0.5, 1.0, 0.5], instance_ids=[0, 1, 2, 3],
                             sampling=sampling, expected_active=1.5)
    model = config.build_model(seed=seed)
    x = config.build_sampler(seed=seed)(64)  # sparse, or a [B, I, n] view of [I, B, n]
    assert x.is_sparse == (sampling == "sparse")
    ref = grads_by_autograd(model, x)
    model.zero_grad()
    loss = S.ReLUAutoencoderMSE(chunk_elements=chunk * 64 * 80).fused_gradients(model, x, x)
    for got, want in zip((loss, model.W.grad, model.b.grad), ref):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert float(model.W.grad[0, :, 3:].abs().max()) == 0.0  # unused columns get no gradient


def test_fused_gradient_with_another_target_and_layout():
    model = S.ScalingModel(30, [4, 6], seed=0)
    x = torch.rand(16, 2, 30) * (torch.rand(16, 2, 30) < 0.1)  # [B, I, n] contiguous
    y = torch.rand(16, 2, 30)
    loss = S.ReLUAutoencoderMSE()(model(x), y)
    loss.sum().backward()
    want = model.W.grad.clone(), model.b.grad.clone()
    model.zero_grad()
    got = S.ReLUAutoencoderMSE().fused_gradients(model, x, y)
    torch.testing.assert_close(got, loss.detach())
    torch.testing.assert_close(model.W.grad, want[0])
    torch.testing.assert_close(model.b.grad, want[1])


def test_fused_gradient_refuses_a_linear_model():
    from lib.tms.model import ToyModel
    with pytest.raises(ValueError, match="ReLU"):
        S.ReLUAutoencoderMSE().fused_gradients(ToyModel(5, 2, activation="linear"),
                                               torch.zeros(2, 1, 5), torch.zeros(2, 1, 5))


def test_config_validates():
    with pytest.raises(ValueError, match="alphas"):
        S.ScalingConfig(10, [2, 3], [0.0])
    with pytest.raises(ValueError, match="widths"):
        S.ScalingConfig(10, [0], [0.0])
    with pytest.raises(ValueError, match="sampling"):
        S.ScalingConfig(10, [2], [0.0], sampling="thin")
    c = S.ScalingConfig(10, [2, 5], [0.0, 1.0])
    assert c.n_hidden == 5 and c.feature_probability_matrix.shape == (2, 10)
    np.testing.assert_allclose(c.feature_probability_matrix[1], S.feature_frequencies(10, 1.0))


def test_grid_settings_and_padding():
    a, d, w = S.grid_settings([0.0, 1.0], [-1.0, 0.2], [8, 32], extra=[(0.0, 0.5, 32),
                                                                      (0.0, -1.0, 8)])
    assert len(a) == 9 and (a[-1], d[-1], w[-1]) == (0.0, 0.5, 32)
    assert S.padded_width(11, (16, 32)) == 16 and S.padded_width(40, (16, 32)) == 40


def test_fit_grid_trains_each_width_exactly_and_matches_one_group():
    """Instances padded into a wider group train exactly as in a group of their own width:
    zero columns stay zero, and the fused CPU path equals autograd's training."""
    alpha, decay, width = S.grid_settings([0.5], [-1.0, 0.3], [4, 8])
    tc = S.growth_train_config(0.0, steps=30, batch_size=32, lr=1e-2, warmup_steps=5,
                               log_every=10)
    padded = S.fit_grid(60, alpha, decay, width, tc, seed=1, device="cpu", pad_to=(8,),
                        eval_batches=2, progress=False)
    own = S.fit_grid(60, alpha, decay, width, tc, seed=1, device="cpu", pad_to=(),
                     eval_batches=0, progress=False)
    assert len(padded.groups) == 1 and len(own.groups) == 2
    assert all(float(g[2].W[j, :, m:].detach().abs().sum()) == 0.0
               for g in padded.groups for j, m in enumerate(g[1].widths))
    auto = S.fit_grid(60, alpha, decay, width,
                      TrainConfig(**{**tc.__dict__, "fused": False}), seed=1, device="cpu",
                      pad_to=(8,), eval_batches=0, progress=False)
    for k in range(4):
        torch.testing.assert_close(padded.W[k], auto.W[k], rtol=1e-4, atol=1e-5)
    assert padded.history.shape == (3, 4) and np.all(padded.eval_loss > 0)
    untrained = S.fit_grid(60, alpha, decay, width, tc, seed=1, device="cpu", pad_to=(8,),
                           eval_batches=2, progress=False, untrained=True)
    init = S.ScalingConfig(60, [4], [0.5], instance_ids=[0]).build_model(seed=1)
    torch.testing.assert_close(untrained.W[0], init.W[0])
    assert untrained.history.shape == (0, 4)


def test_represented_fraction_and_overlaps():
    W = torch.zeros(2, 4, 3)
    W[0, 0, 0] = 1.0
    W[0, 1, 1] = 0.4
    W[1, :, 2] = 0.6
    np.testing.assert_allclose(S.represented_fraction(W), [0.25, 1.0])
    assert S.mean_squared_overlap(torch.eye(4) * 2.0) == pytest.approx(0.0)
    ang = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3])  # Mercedes frame in R^2
    merc = torch.stack([torch.cos(ang), torch.sin(ang)], -1)
    assert S.mean_squared_overlap(merc) == pytest.approx(0.25, abs=1e-6)
    assert float(S.welch_bound(3, 2)) == pytest.approx(0.25)  # a tight frame meets it
    g = torch.Generator().manual_seed(0)
    for m in (8, 32):  # random directions: 1/m
        assert S.mean_squared_overlap(torch.randn(2000, m, generator=g)) == pytest.approx(
            1 / m, rel=0.03)
    assert math.isnan(S.mean_squared_overlap(W[0]))  # one represented feature
    np.testing.assert_allclose(S.welch_bound([2, 100], 4), [0.0, 96 / 396])


def test_random_directions_keep_norms():
    W = torch.randn(50, 6)
    R = S.random_directions_like(W, seed=3)
    torch.testing.assert_close(R.norm(dim=-1), W.double().norm(dim=-1))
    assert S.mean_squared_overlap(S.random_directions_like(torch.ones(3000, 16), seed=0)) == \
        pytest.approx(1 / 16, rel=0.05)


def test_per_feature_loss_and_rank_split():
    config = S.ScalingConfig(40, [4], [0.5])
    model = config.build_model(seed=0)
    pf = S.per_feature_loss(model, config.build_sampler(seed=1), 512, 4)
    assert pf.shape == (1, 40)
    from lib.core.fit import evaluate_config
    total = evaluate_config(model, config, seed=0, batch_size=512, n_batches=40)
    assert pf.mean() == pytest.approx(float(total[0]), rel=0.1)
    head, tail = S.rank_split(pf, 10)
    assert head + tail == pytest.approx(pf.mean(-1))
    with pytest.raises(ValueError, match="cut"):
        S.rank_split(pf, 40)


def test_sparse_and_strided_batches_agree():
    config = S.ScalingConfig(50, [4, 4], [0.0, 1.0])
    sparse = config.build_sampler(seed=4)(32)
    strided = S.ScalingConfig(50, [4, 4], [0.0, 1.0], sampling="columns").build_sampler(seed=4)(32)
    assert sparse.is_sparse and sparse.shape == strided.shape == (32, 2, 50)
    assert torch.equal(sparse.to_dense(), strided)
    model = config.build_model(seed=0)
    torch.testing.assert_close(model(sparse), model(strided))
    torch.testing.assert_close(S.ReLUAutoencoderMSE()(model(sparse), sparse),
                               S.ReLUAutoencoderMSE()(model(strided), strided))


def test_loss_exponents_per_curve_and_level():
    """A planted loss c m^-a per alpha is recovered; a higher level widens the interval."""
    alpha, decay, width = S.grid_settings([0.0, 1.0], [-1.0], [8, 16, 32, 64])
    rng = np.random.default_rng(0)
    loss = 0.3 * width.astype(float) ** -(1.0 + 0.5 * alpha) * np.exp(
        0.02 * rng.standard_normal(width.size))
    grid = S.GridFit(alpha, decay, width, [None] * width.size, torch.zeros(width.size, 1),
                     np.zeros((width.size, 1)), loss, np.zeros(0), np.zeros((0, width.size)),
                     [], 0.0)
    fits = S.loss_exponents(grid, -1.0, [0.0, 1.0])
    wide = S.loss_exponents(grid, -1.0, [0.0, 1.0], level=1 - 0.05 / 2)
    for a, expected in ((0.0, 1.0), (1.0, 1.5)):
        assert fits[a]["exponent"] == pytest.approx(expected, abs=0.05)
        assert fits[a]["low"] < expected < fits[a]["high"]
        assert wide[a]["high"] - wide[a]["low"] > fits[a]["high"] - fits[a]["low"]


def test_prediction_gaps_in_half_widths():
    fits = {0.5: {"exponent": 1.2, "low": 1.0, "high": 1.4},
            1.0: {"exponent": 0.5, "low": 0.4, "high": 0.6}}
    gaps = S.prediction_gaps(fits, {0.5: 1.0, 1.0: 0.8})
    assert gaps == pytest.approx({"0.5": 1.0, "1": -3.0})

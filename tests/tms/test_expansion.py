"""Exact sparse-expansion terms against Monte Carlo."""

import numpy as np
import torch

from lib.core.losses import weighted_mse
from lib.core.sampling import SparseUniform
from lib.tms.expansion import (
    one_sparse_loss,
    sparse_expansion_loss,
    sparse_expansion_terms,
    two_sparse_loss,
    zero_sparse_loss,
)


def random_model(n=6, m=2, seed=0):
    g = np.random.default_rng(seed)
    return (
        g.normal(size=(n, m)) * 0.8,
        g.normal(size=n) * 0.3 - 0.1,
        0.9 ** np.arange(n),
    )


def test_one_sparse_loss_matches_monte_carlo():
    W, b, imp = random_model()
    n = W.shape[0]
    exact = one_sparse_loss(W, b, imp)
    u = np.random.default_rng(1).uniform(size=200_000)
    G = W @ W.T
    for i in range(n):
        x = np.zeros((u.size, n))
        x[:, i] = u
        pred = np.maximum(u[:, None] * G[:, i][None, :] + b, 0)
        mc = np.mean(np.mean(imp * (pred - x) ** 2, axis=1))
        se = np.std(np.mean(imp * (pred - x) ** 2, axis=1)) / np.sqrt(u.size)
        assert abs(exact[i] - mc) < 5 * se + 1e-12


def test_linear_one_sparse_loss_is_a_polynomial_integral():
    W = np.array([[1.0, 0.0], [0.6, 0.8]])
    b = np.zeros(2)
    # only feature 0 active: output = G[:,0] u, G[:,0] = [1, 0.6]; loss = (1/2) E[(0.6 u)^2] = 0.18/3
    assert np.isclose(
        one_sparse_loss(W, b, np.ones(2), activation="linear")[0], 0.5 * 0.36 / 3
    )


def test_sparse_expansion_matches_full_loss_when_sparse():
    W, b, imp = random_model(n=8, m=3, seed=2)
    p = 0.002
    approx = sparse_expansion_loss(W, b, imp, p)
    sampler = SparseUniform(np.full((1, 8), p), seed=3)
    Wt, bt = torch.tensor(W, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    total, batches = 0.0, 200
    for _ in range(batches):
        x = sampler(8192)[:, 0]
        out = torch.relu(x @ Wt @ Wt.T + bt)
        total += weighted_mse(
            out[:, None], x[:, None], torch.tensor(imp, dtype=torch.float32)[None]
        ).item()
    mc = total / batches
    assert abs(mc - approx) / approx < 0.05
    assert zero_sparse_loss(W, b, imp) == np.mean(imp * np.maximum(b, 0) ** 2)


def test_two_sparse_loss_matches_monte_carlo():
    W, b, imp = random_model(n=5, m=2, seed=4)
    n = W.shape[0]
    exact = two_sparse_loss(W, b, imp)
    assert np.allclose(exact, exact.T) and np.all(np.diag(exact) == 0)
    g = np.random.default_rng(5)
    G = W @ W.T
    for i, k in [(0, 1), (1, 3), (2, 4)]:
        x = np.zeros((200_000, n))
        x[:, i], x[:, k] = g.uniform(size=200_000), g.uniform(size=200_000)
        per_sample = np.mean(imp * (np.maximum(x @ G + b, 0) - x) ** 2, axis=1)
        se = per_sample.std() / np.sqrt(per_sample.size)
        assert abs(exact[i, k] - per_sample.mean()) < 5 * se + 1e-4 * exact[i, k]


def test_expansion_terms_sum_to_the_full_loss_to_second_order():
    # p = 0.02 with n = 8 (np = 0.16): the k = 2 term carries ~15% of the loss, k >= 3 about 2%
    W, b, imp = random_model(n=8, m=3, seed=6)
    p = 0.02
    terms = sparse_expansion_terms(W, b, imp, p)
    assert np.isclose(terms[:2].sum(), sparse_expansion_loss(W, b, imp, p))
    x = torch.as_tensor(
        SparseUniform(np.full((1, 8), p), seed=7)(1_000_000)[:, 0], dtype=torch.float64
    )
    Wt, bt = torch.tensor(W), torch.tensor(b)
    mc = (
        (torch.tensor(imp) * (torch.relu(x @ Wt @ Wt.T + bt) - x) ** 2).mean().item()
    )  # SE ~0.5% of mc
    two_terms, three_terms = abs(terms[:2].sum() - mc) / mc, abs(terms.sum() - mc) / mc
    assert two_terms > 0.1  # two terms are not enough here...
    assert three_terms < 0.05  # ...three are, up to the k >= 3 remainder
    assert three_terms < two_terms / 5


# ---- baselines in closed form
import pytest  # noqa: E402

from lib.tms.expansion import feature_variance, kept_features_loss  # noqa: E402


def test_feature_variance_matches_sampling():
    p = np.array([1.0, 0.3, 0.01])
    assert np.allclose(feature_variance(p), p / 3 - p**2 / 4)
    x = SparseUniform(np.tile(p, (1, 1)), low=-1.0, high=1.0, seed=0)(400_000)[:, 0].double()
    assert np.allclose(x.var(0).numpy(), feature_variance(p, (-1.0, 1.0)), rtol=0.02)


def test_trivial_predictor_loss_is_the_loss_of_the_mean():
    imp = 0.7 ** np.arange(6)
    p = 0.3
    x = SparseUniform(np.full((1, 6), p), seed=1)(400_000)[:, 0].double()
    mc = (torch.tensor(imp) * (x - p / 2) ** 2).mean().item()
    assert kept_features_loss(imp, p) == pytest.approx(mc, rel=0.01)
    # per-instance densities broadcast: [I, 1] with [n] importances -> [I]
    assert kept_features_loss(imp, np.array([[1.0], [p]])).shape == (2,)


def test_linear_model_optimum_is_the_top_m_loss():
    # a linear model with W rows 0..m-1 orthonormal, the rest 0, and b = mean on the rest
    n, m, p = 6, 2, 0.3
    imp = 0.7 ** np.arange(n)
    W = torch.zeros(n, m, dtype=torch.float64)
    W[:m] = torch.eye(m, dtype=torch.float64)
    b = torch.full((n,), p / 2, dtype=torch.float64)
    b[:m] = 0
    x = SparseUniform(np.full((1, n), p), seed=2)(400_000)[:, 0].double()
    mc = (torch.tensor(imp) * (x @ W @ W.T + b - x) ** 2).mean().item()
    assert kept_features_loss(imp, p, range(m)) == pytest.approx(mc, rel=0.01)
    # and no other rank-m projection onto coordinates does better
    others = [kept_features_loss(imp, p, kept) for kept in [(0, 2), (1, 2), (4, 5)]]
    assert min(others) > kept_features_loss(imp, p, range(m))


def test_linear_expected_loss_matches_monte_carlo_and_the_optimum():
    from lib.tms.expansion import linear_expected_loss

    g = np.random.default_rng(3)
    n, m, p = 6, 2, 0.3
    imp = 0.8 ** np.arange(n)
    W, b = g.normal(size=(n, m)) * 0.5, g.normal(size=n) * 0.2
    x = SparseUniform(np.full((1, n), p), seed=4)(400_000)[:, 0].double().numpy()
    per_sample = (imp * (x @ W @ W.T + b - x) ** 2).mean(axis=1)
    se = per_sample.std() / np.sqrt(per_sample.size)
    assert abs(linear_expected_loss(W, b, imp, p) - per_sample.mean()) < 4 * se
    # at the top-m projection with b = mean on the dropped features it is the optimum
    W0 = np.zeros((n, m))
    W0[:m] = np.eye(m)
    b0 = np.where(np.arange(n) < m, 0.0, p / 2)
    assert linear_expected_loss(W0, b0, imp, p) == pytest.approx(kept_features_loss(imp, p, range(m)))
    # instances broadcast: [2, n, m] with per-instance densities [2, 1]
    both = linear_expected_loss(np.stack([W, W0]), np.stack([b, b0]), imp, np.array([[p], [p]]))
    assert both.shape == (2,) and both[1] == pytest.approx(kept_features_loss(imp, p, range(m)))
    # a rotation by theta between features m-1 and m costs g sin^2(theta) of the optimum
    theta = 0.4
    Wr = W0.copy()
    Wr[m - 1, m - 1], Wr[m, m - 1] = np.cos(theta), np.sin(theta)
    # with the bias refitted to the rotated map, the excess is g sin^2 theta (g: the swap gap)
    opt = kept_features_loss(imp, p, range(m))
    swap = kept_features_loss(imp, p, list(range(m - 1)) + [m])
    A = np.eye(n) - Wr @ Wr.T
    br = A @ np.full(n, p / 2)  # the best bias for this W: b = (I - G) E[x]
    excess = linear_expected_loss(Wr, br, imp, p) - opt
    assert excess == pytest.approx((swap - opt) * np.sin(theta) ** 2, rel=1e-9)

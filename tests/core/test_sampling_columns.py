"""SparseUniform(method="columns"): one Bernoulli walk per (instance, feature) column draws
exactly the law of the plain two-draw sampler, at very uneven per-feature rates too."""

import numpy as np
import pytest
import torch
from scipy import stats

from lib.core.sampling import SparseUniform

Z = 5.0  # standard errors


def power_law(n, alphas):
    w = np.arange(1, n + 1, dtype=np.float64)[None] ** -(1.0 + np.asarray(alphas)[:, None])
    return w / w.sum(1, keepdims=True)


def test_column_densities_and_values():
    p = power_law(200, [0.0, 1.0])  # p_1 = 0.17 and 0.61, p_200 ~ 1e-5
    p[0, 0] = 1.0  # a column that is always active
    sampler = SparseUniform(p, low=0.0, high=2.0, seed=5, method="columns")
    x = torch.cat([sampler(4000) for _ in range(5)])  # [20000, 2, 200]
    assert x.shape == (20000, 2, 200)
    assert bool((x[:, 0, 0] > 0).all())
    density = (x > 0).double().mean(0).numpy()
    se = np.sqrt(p * (1 - p) / x.shape[0]) + 1e-12
    assert (np.abs(density - p) / se).max() < Z
    values = x[x > 0].double().numpy()
    assert values.max() < 2.0
    assert stats.kstest(values / 2, "uniform").statistic < 1.95 / np.sqrt(values.size)


@pytest.mark.parametrize("batch", [1, 16, 64])
def test_small_batches_of_rare_features(batch):
    """B p << 1: counts over many batches follow the law (a walk that stopped a first gap at
    B instead of B + 1 would put every never-active column at the last sample)."""
    n = 300
    p = power_law(n, [0.0, 1.0])
    sampler = SparseUniform(p, seed=11, method="columns")
    reps = 30_000 // batch
    counts = sum((sampler(batch) > 0).double().sum(0) for _ in range(reps)).numpy()
    total = reps * batch
    assert abs(counts.sum() / total - 2.0) < 0.05  # one active feature per input and instance
    z = (counts - total * p) / np.sqrt(total * p * (1 - p))
    assert stats.chi2.sf((z**2).sum(), 2 * n) > 1e-3


def test_positions_uniform_and_independent_over_the_batch():
    p = np.full((1, 3), 0.3)
    x = SparseUniform(p, seed=7, method="columns")(50_000)[:, 0]
    act = (x > 0).double()
    halves = act.view(2, -1, 3).mean(1)
    assert float((halves[0] - halves[1]).abs().max()) < 0.01
    assert abs(float((act[1:, 0] * act[:-1, 0]).mean()) - 0.09) < 0.005


def test_seeded_layout_and_state():
    p = power_law(50, [0.5, 0.5, 1.0])
    a, b = (SparseUniform(p, seed=2, method="columns") for _ in range(2))
    xa = a(64)
    assert torch.equal(xa, b(64))
    assert xa.transpose(0, 1).is_contiguous()  # [I, B, n] in memory, as the other paths
    state = a.state_dict()
    first = a(32)
    a.load_state_dict(state)
    assert torch.equal(a(32), first)
    assert not torch.equal(SparseUniform(p, seed=3, method="columns")(64), xa)


def test_columns_value_range():
    x = SparseUniform(np.full((2, 4), 0.5), low=-1.0, high=1.0, seed=0, method="columns")(5000)
    active = x[x != 0]
    assert float(active.min()) >= -1 and float(active.max()) < 1
    assert abs(float(active.mean())) < 0.03


def test_columns_only_on_the_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    with pytest.raises(ValueError, match="columns"):
        SparseUniform(np.full((1, 4), 0.5), device="cuda", method="columns")


def test_sparse_layout_is_the_same_batch():
    p = power_law(80, [0.0, 0.5, 1.0])
    strided = SparseUniform(p, high=2.0, seed=9, method="columns")
    sparse = SparseUniform(p, high=2.0, seed=9, method="columns", layout="sparse")
    for batch in (1, 7, 256):
        xs, xd = sparse(batch), strided(batch)
        assert xs.is_sparse and xs.shape == xd.shape == (batch, 3, 80)
        assert torch.equal(xs.to_dense(), xd)
        assert xs._nnz() == int((xd > 0).sum())  # each active entry once


def test_sparse_layout_needs_columns():
    with pytest.raises(ValueError, match="layout"):
        SparseUniform(np.full((1, 4), 0.5), method="dense", layout="sparse")
    with pytest.raises(ValueError, match="layout"):
        SparseUniform(np.full((1, 4), 0.5), layout="csr")

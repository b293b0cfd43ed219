"""The fast sampling paths of SparseUniform draw exactly the law of the plain two-draw sampler.

Every tolerance is a few standard errors of the statistic at the sample size used (stated
beside it), so a wrong law fails and a right one passes for any seed. The reference law:
each entry independently active with probability p_ki, and then uniform on [low, high].
"""

import numpy as np
import pytest
import torch
from scipy import stats

from lib.core import sampling
from lib.core.sampling import SparseUniform

METHODS = ["dense", "sparse", "auto"]
Z = 5.0  # standard errors; with ~10^3 cells per test, a right law exceeds it with prob. < 1e-3


def two_draw_reference(p, batch, seed, low=0.0, high=1.0):
    """The plain sampler of the official notebook: an activity draw and a value draw per entry."""
    g = torch.Generator().manual_seed(seed)
    pt = torch.as_tensor(p, dtype=torch.float32)
    shape = (batch, *pt.shape)
    active = torch.rand(shape, generator=g) < pt
    return torch.where(
        active, torch.rand(shape, generator=g) * (high - low) + low, torch.zeros(())
    )


def check_density(x, p):
    """Per (instance, feature) active fraction within Z binomial standard errors of p."""
    batch = x.shape[0]
    density = (x != 0).double().mean(dim=0).numpy()
    se = np.sqrt(p * (1 - p) / batch) + 1e-12
    z = np.abs(density - p) / se
    assert z.max() < Z, (
        f"density off by {z.max():.1f} standard errors at {np.unravel_index(z.argmax(), z.shape)}"
    )


def check_uniform_values(values, low, high):
    """Kolmogorov-Smirnov against U[low, high]: D below its 0.1% critical value 1.95 / sqrt(N)."""
    values = values.double().numpy()
    assert values.min() >= low and values.max() < high
    d = stats.kstest(values, stats.uniform(loc=low, scale=high - low).cdf).statistic
    assert d < 1.95 / np.sqrt(values.size), (
        f"KS distance {d:.4g} for {values.size} values"
    )


@pytest.fixture(autouse=True)
def sparse_from_small_batches(monkeypatch):
    # let "auto" take the sparse path in these small test batches too
    monkeypatch.setattr(sampling, "SPARSE_MIN_ENTRIES", 1)


@pytest.mark.parametrize("method", METHODS)
def test_per_instance_and_per_feature_density(method):
    # per-instance sparsities from dense to very sparse, and per-feature variation (thinning)
    p = np.array(
        [
            [1.0] * 6,
            [0.3] * 6,
            [0.1] * 6,
            [0.02] * 6,
            [0.002] * 6,
            [0.12, 0.01, 0.05, 0.001, 0.12, 0.06],
            [1.0, 0.01, 0.01, 0.01, 0.01, 0.01],
        ]
    )
    x = SparseUniform(p, seed=3, method=method)(40_000)
    assert x.shape == (40_000, 7, 6) and x.dtype == torch.float32
    check_density(x, p)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 1.0), (0.5, 2.0)])
def test_active_values_are_uniform(method, low, high):
    p = np.array([[0.5] * 8, [0.05] * 8, [0.01, 0.2, 0.05, 0.1, 0.01, 0.2, 0.05, 0.1]])
    x = SparseUniform(p, low=low, high=high, seed=5, method=method)(20_000)
    for k in range(3):  # each instance on its own: dense and sparse paths
        nz = x[:, k][x[:, k] != 0]
        check_uniform_values(nz, low, high)


@pytest.mark.parametrize("margin_sd", [2.0, -1.5])
def test_rows_continued_in_later_rounds_keep_the_law(monkeypatch, margin_sd):
    # with margin -1.5 sd nearly every row runs out of gaps in the first round and is
    # continued in later ones; a bug there would thin out the entries at the rows' ends
    # and so the overall density (4 million entries: one standard error is 0.2 % of p)
    monkeypatch.setattr(sampling, "MARGIN_SD", margin_sd)
    p = np.full((40, 50), 0.05)
    x = SparseUniform(p, seed=7, method="sparse")(2000)
    assert abs((x != 0).double().mean().item() - 0.05) < Z * np.sqrt(
        0.05 * 0.95 / (2000 * 40 * 50)
    )
    check_density(x, p)
    check_uniform_values(x[x != 0], 0.0, 1.0)


def test_gaps_between_active_entries_are_geometric():
    # independence along the walk: in memory order ([I, B, n]) the gaps between active
    # entries of one instance are Geometric(p); chi-square over gap lengths 1..40
    p = 0.04
    x = SparseUniform(np.full((4, 25), p), seed=11, method="sparse")(20_000)
    gaps = []
    for k in range(4):
        flat = x[:, k].reshape(-1)  # [B, n] of instance k, in the walk's order
        gaps.append(np.diff(np.flatnonzero(flat.numpy())))
    gaps = np.concatenate(gaps)
    observed = np.bincount(np.minimum(gaps, 41), minlength=42)[1:]
    pmf = p * (1 - p) ** np.arange(40)
    expected = gaps.size * np.append(pmf, 1 - pmf.sum())
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2.ppf(0.999, df=40), f"chi2 {chi2:.1f}"


@pytest.mark.parametrize("method", ["sparse", "auto"])
def test_fast_paths_match_the_two_draw_reference(method):
    # two-sample comparison of per-instance density and mean active value
    p = (20.0 ** -np.linspace(0, 1, 10))[:, None].repeat(30, axis=1)
    fast = SparseUniform(p, seed=1, method=method)(8000)
    ref = two_draw_reference(p, 8000, seed=2)
    n = 8000 * 30
    for k in range(10):
        a, b = fast[:, k], ref[:, k]
        da, db = (a != 0).double().mean().item(), (b != 0).double().mean().item()
        assert abs(da - db) <= Z * np.sqrt(2 * p[k, 0] * (1 - p[k, 0]) / n)
        va, vb = a[a != 0].double(), b[b != 0].double()
        assert abs(va.mean() - vb.mean()) < Z * np.sqrt(
            (1 / 12) * (1 / va.numel() + 1 / vb.numel())
        )


def test_entries_are_independent_across_features_and_instances():
    # P(both active) = p^2 for neighbouring features and instances
    p = 0.1
    x = SparseUniform(np.full((6, 10), p), seed=4, method="sparse")(30_000) != 0
    both = [
        (x[:, :, :-1] & x[:, :, 1:]).double().mean().item(),
        (x[:, :-1] & x[:, 1:]).double().mean().item(),
    ]
    n = 30_000 * 50
    for pair in both:
        assert abs(pair - p * p) < Z * np.sqrt(p * p * (1 - p * p) / n)


def test_layout_and_state():
    s = SparseUniform(np.full((3, 5), 0.05), seed=9, method="sparse")
    x = s(64)
    assert (
        x.shape == (64, 3, 5) and x.transpose(0, 1).is_contiguous()
    )  # [I, B, n] in memory
    state = s.state_dict()
    first = s(64)
    s.load_state_dict(state)
    assert torch.equal(first, s(64))
    assert torch.equal(
        SparseUniform(np.full((3, 5), 0.05), seed=9, method="sparse")(64), x
    )


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        SparseUniform(np.full((1, 3), 0.5), method="fast")

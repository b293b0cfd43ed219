"""The sign structure of the denoiser on planted sign matrices with a known answer."""

import numpy as np
import pytest
import torch

from lib.denoiser.structure import (
    IID_STATISTICS,
    column_degrees,
    column_overlaps,
    decoder_by_degree,
    distinct_pairs,
    encoder_clusters,
    first_clustered_step,
    fixed_degree_support,
    frustration_verdict,
    iid_sign_matrix,
    iid_tests,
    row_degrees,
    row_overlaps,
    sign_constancy,
    sign_structure,
    structure_summary,
    wiring_tests,
)


def planted_iid(h=64, d=192, p=0.05, seed=0):
    return iid_sign_matrix(h, d, p, 1, generator=torch.Generator().manual_seed(seed))[0]


def planted_partition(h=64, d=192, seed=0):
    """One neuron per feature: feature i is read by neuron owner(i), d/h features each."""
    rng = np.random.default_rng(seed)
    S = torch.zeros(h, d, dtype=torch.int8)
    owner = rng.permutation(np.arange(d) % h)
    signs = rng.choice([-1, 1], size=h)
    S[owner, np.arange(d)] = torch.as_tensor(signs[owner], dtype=torch.int8)
    return S


def planted_duplicates(h=64, d=192, seed=0):
    """Two neurons per feature, but always the same pair: neurons 2j and 2j+1 are copies."""
    return torch.repeat_interleave(planted_partition(h // 2, d, seed), 2, dim=0)


def planted_regular(h=64, d=192, m=4, seed=0):
    """Every feature m neurons, every neuron m d / h features, wired at random."""
    A = fixed_degree_support(np.full(h, m * d // h), np.full(d, m), np.random.default_rng(seed))
    signs = np.random.default_rng(seed + 1).choice([-1, 1], size=(h, 1))
    return torch.as_tensor(A * signs, dtype=torch.int8)


def test_degrees_and_overlaps_of_a_small_matrix():
    S = torch.tensor([[1, 1, 0, 0], [0, -1, -1, 0], [1, 0, 0, 0]], dtype=torch.int8)
    assert row_degrees(S).tolist() == [2, 2, 1]
    assert column_degrees(S).tolist() == [2, 2, 1, 0]
    assert row_overlaps(S).tolist() == [1, 1, 0]  # pairs (0,1) (0,2) (1,2)
    assert column_overlaps(S).tolist() == [1, 0, 0, 1, 0, 0]


def test_sign_constancy_counts_and_chance_batched():
    S = torch.tensor([[1, 1, 0, 0],  # constant, degree 2
                      [1, -1, 0, 0],  # mixed, degree 2
                      [-1, -1, -1, 0],  # constant, degree 3
                      [0, 0, 0, 1]], dtype=torch.int8)  # degree 1: not counted
    sc = sign_constancy(S)
    assert int(sc["multi"]) == 3
    assert float(sc["constant"]) == pytest.approx(2 / 3)
    assert float(sc["chance"]) == pytest.approx((0.5 + 0.5 + 0.25) / 3)
    both = sign_constancy(torch.stack([S, torch.zeros_like(S)]))
    assert both["multi"].tolist() == [3, 0] and torch.isnan(both["constant"][1])


def test_structure_summary_of_planted_cases():
    part = structure_summary(planted_partition())
    assert part["col_deg_mean"] == 1.0 and part["col_deg1"] == 1.0
    assert part["col_deg2plus"] == 0.0 and part["row_deg_mean"] == 3.0
    assert part["overlap_mean"] == 0.0 and part["sign_constant"] == 1.0
    assert part["duplicate_rows"] == 0.0 and part["hub_neurons"] == 0
    dup = structure_summary(planted_duplicates())
    assert dup["col_deg_mean"] == 2.0 and dup["col_deg2plus"] == 1.0
    assert dup["duplicate_rows"] == 1.0
    reg = structure_summary(planted_regular(m=2))
    assert reg["col_deg_mean"] == 2.0 and reg["duplicate_rows"] < 0.05
    assert reg["overlap_pairs_share"] > 0.05  # each feature pairs two neurons: 192 of 2016


def test_hub_neuron_is_flagged_and_not_frustrated():
    """A partition plus one neuron reading every feature (a bias substitute) has column
    degree exactly 2 everywhere but is not frustrated."""
    S = torch.cat([planted_partition(63, 189), torch.ones(1, 189, dtype=torch.int8)])
    s = structure_summary(S)
    assert s["col_deg_mean"] == 2.0 and s["hub_neurons"] == 1
    assert s["col_deg_nohub_mean"] == 1.0
    assert not frustration_verdict(S, n_null=50)["frustrated_like"]


def test_iid_sign_matrix_density_and_row_signs():
    M = iid_sign_matrix(50, 400, 0.2, 4, generator=torch.Generator().manual_seed(0))
    assert M.shape == (4, 50, 400) and M.dtype == torch.int8
    assert abs(float((M != 0).float().mean()) - 0.2) < 0.01
    assert bool((sign_constancy(M)["constant"] == 1).all())  # one sign per row
    with pytest.raises(ValueError, match="density"):
        iid_sign_matrix(2, 2, 1.5)
    with pytest.raises(ValueError, match="n_rows"):
        iid_sign_matrix(0, 2, 0.5)


def test_fixed_degree_support_keeps_degrees_and_is_simple():
    rng = np.random.default_rng(0)
    A = fixed_degree_support(np.full(64, 12), np.full(192, 4), rng)
    assert A.dtype == bool and A.shape == (64, 192)
    assert (A.sum(1) == 12).all() and (A.sum(0) == 4).all()
    B = fixed_degree_support(np.full(64, 12), np.full(192, 4), rng)
    assert (A != B).any()  # a fresh draw
    with pytest.raises(ValueError, match="equal sums"):
        fixed_degree_support([1, 2], [1, 1], rng)
    with pytest.raises(ValueError, match="degrees must lie"):
        fixed_degree_support([4, 0], [2, 2], rng)  # a row of degree 4 with 2 columns


def test_planted_iid_passes_the_iid_tests():
    """20 planted iid matrices: each statistic rejects at most twice at level 0.01
    (expected 0.2; Monte-Carlo p-values from 300 null draws)."""
    rejections = {k: 0 for k in IID_STATISTICS}
    for seed in range(20):
        r = iid_tests(planted_iid(64, 192, 0.05, seed=100 + seed), n_null=300, seed=seed)
        for k in IID_STATISTICS:
            rejections[k] += r[k]["p_value"] < 0.01
    assert all(v <= 2 for v in rejections.values()), rejections


def test_planted_partition_fails_the_iid_tests():
    r = iid_tests(planted_partition(), n_null=300, seed=0)
    assert r["column_degree"]["z"] < -8  # every feature exactly one neuron
    assert r["row_degree"]["z"] < -5  # every neuron exactly three features
    assert r["column_degree"]["p_value"] < 0.01 and r["row_degree"]["p_value"] < 0.01


def test_planted_duplicates_fail_the_overlap_tests():
    assert iid_tests(planted_duplicates(), n_null=100, seed=0)["row_overlap"]["z"] > 10
    assert wiring_tests(planted_duplicates(), n_null=50, seed=0)["row_overlap"]["z"] > 10


def test_random_regular_wiring_passes_the_wiring_test_but_not_the_iid_one():
    """A random regular design (4 neurons per feature, 12 features per neuron) is not iid
    (its degrees are too even) but its wiring is random."""
    rejections = 0
    for seed in range(10):
        S = planted_regular(seed=seed)
        w = wiring_tests(S, n_null=200, seed=seed + 1)
        rejections += w["row_overlap"]["p_value"] < 0.01
        assert w["row_overlap"]["z"] == pytest.approx(w["column_overlap"]["z"], abs=1e-6)
    assert rejections <= 1
    assert iid_tests(S, n_null=100, seed=0)["column_degree"]["z"] < -10


def test_frustration_verdict_separates_planted_cases():
    assert frustration_verdict(planted_iid(64, 192, 0.05, seed=3))["frustrated_like"]
    assert frustration_verdict(planted_regular(m=3))["frustrated_like"]
    assert not frustration_verdict(planted_partition())["frustrated_like"]
    assert not frustration_verdict(planted_duplicates())["frustrated_like"]


def test_tests_name_their_bad_parameters():
    with pytest.raises(ValueError, match="S must be one matrix"):
        iid_tests(torch.zeros(2, 3, 4, dtype=torch.int8))
    with pytest.raises(ValueError, match="n_null"):
        iid_tests(planted_iid(), n_null=1)
    with pytest.raises(ValueError, match="unknown statistic"):
        iid_tests(planted_iid(), statistics=("bogus",))
    with pytest.raises(ValueError, match="S must be one matrix"):
        structure_summary(torch.zeros(3, dtype=torch.int8))


def test_first_clustered_step_finds_the_end_of_the_cloud():
    gen = torch.Generator().manual_seed(0)
    S = planted_iid(32, 96, 0.06, seed=1).float()
    cloud = 0.3 * torch.randn(2, 32, 96, generator=gen)
    clustered = torch.stack([1.5 * S, 2.0 * S]) + 0.02 * torch.randn(2, 32, 96, generator=gen)
    mixed = torch.stack([clustered[0], cloud[1]])
    snaps = {0: cloud, 100: mixed, 200: clustered, 300: clustered}
    assert first_clustered_step(snaps) == [100, 200]
    assert first_clustered_step({0: cloud, 100: clustered, 200: cloud}) == [None, None]


def test_decoder_by_degree_recovers_one_over_m():
    """Planted decoder D[i, j] = sign / (m_i phi) for every outer pair."""
    S = planted_regular(32, 96, m=2, seed=0).clone()
    S[:, :10] = 0
    S[0, :10] = 1  # ten features read by one neuron (no sign conflict in row 0)
    E = 2.0 * S.double()
    m = column_degrees(S).double()
    D = (S.double() / m.clamp_min(1)).T / 0.9
    by_m = decoder_by_degree(E, D)
    assert set(by_m) == {1, 2}
    assert np.allclose(by_m[1], 1 / 0.9) and np.allclose(by_m[2], 0.5 / 0.9)
    assert by_m[1].size == 10 and by_m[2].size == 2 * 86


def test_distinct_pairs_counts_five_points():
    gen = torch.Generator().manual_seed(0)
    S = planted_partition(64, 32, seed=0)  # h > d: 32 neurons used, one feature each
    E = 2.5 * S.double() + 1e-4 * torch.randn(64, 32, generator=gen, dtype=torch.float64)
    D = E.T.clone() / 2.5
    D[:16] = D[:16] / 2  # two decoder levels: features 0-15 at 1/2, the rest at 1
    out = distinct_pairs(E, D, gap_e=0.25, gap_d=0.05, min_share=1e-3)
    assert len(out["centres"]) == 5 and out["n_dropped"] == 0
    assert np.allclose(np.sort(np.abs(out["centres"][:, 1])), [0, 0.5, 0.5, 1, 1], atol=1e-3)
    assert out["spreads"].max() < 1e-3


def test_encoder_clusters_and_sign_structure_recover_a_plant():
    g = torch.Generator().manual_seed(1)
    S = planted_iid(64, 192, 0.1, seed=1).float()
    E = 1.5 * S + 0.05 * torch.randn(S.shape, generator=g)
    cl = encoder_clusters(E)
    assert abs(float(cl["centre"]) - 1.5) < 0.01 and float(cl["ambiguous"]) == 0.0
    assert torch.equal(sign_structure(E), S.to(torch.int8))

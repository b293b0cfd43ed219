"""Chapter 6 (pinning fields): every analysis function on planted data with a known answer."""

import itertools

import numpy as np
import pytest
import torch

from lib.core.training import TrainConfig
from lib.denoiser import pinning
from lib.denoiser.config import DenoiserConfig


# ----------------------------------------------------------------------------- spin systems
def test_ising_states_enumerate_every_configuration():
    s = pinning.ising_states(3)
    assert s.shape == (8, 3) and len({tuple(r) for r in s}) == 8
    assert set(np.unique(s)) == {-1, 1}
    with pytest.raises(ValueError, match="n_spins"):
        pinning.ising_states(30)


def test_triangle_antiferromagnet_is_frustrated():
    J = -(np.ones((3, 3)) - np.eye(3))  # every pair wants to anti-align
    gs = pinning.ground_states(J)
    assert gs["degeneracy"] == 6  # all but the two fully aligned states
    assert np.all(gs["unsatisfied"] == 1) and gs["bonds"] == 3
    assert gs["energy"] == pytest.approx(-1.0)
    assert pinning.frustrated_triangles(J) == 1.0


def test_square_antiferromagnet_is_not_frustrated():
    J = np.zeros((4, 4))
    for i in range(4):
        J[i, (i + 1) % 4] = J[(i + 1) % 4, i] = -1
    gs = pinning.ground_states(J)
    assert gs["degeneracy"] == 2 and np.all(gs["unsatisfied"] == 0)
    assert np.isnan(pinning.frustrated_triangles(J))  # no triangle at all


def test_lattice_antiferromagnets_square_unfrustrated_triangular_degenerate():
    sq = pinning.lattice_couplings(4, "square")
    tri = pinning.lattice_couplings(4, "triangular")
    assert (sq != 0).sum() // 2 == 32 and (tri != 0).sum() // 2 == 48  # on a torus
    g_sq, g_tri = pinning.ground_states(sq), pinning.ground_states(tri)
    assert g_sq["degeneracy"] == 2 and np.all(g_sq["unsatisfied"] == 0)
    # 32 triangles, one unsatisfied bond each, every bond shared by two triangles
    assert g_tri["degeneracy"] > 2 and np.all(g_tri["unsatisfied"] == 16)
    assert pinning.frustrated_triangles(tri) == 1.0
    open_tri = pinning.lattice_couplings(3, "triangular", periodic=False)
    assert (open_tri != 0).sum() // 2 == 16
    with pytest.raises(ValueError, match="lattice"):
        pinning.lattice_couplings(3, "hexagonal")
    with pytest.raises(ValueError, match="side"):
        pinning.lattice_couplings(2, "square")


def test_mattis_model_looks_random_but_is_unfrustrated():
    rng = np.random.default_rng(0)
    eps = rng.choice([-1, 1], 10)
    J = pinning.mattis_couplings(eps, np.ones((10, 10)))
    iu = np.triu_indices(10, 1)
    assert 0.2 < (J[iu] > 0).mean() < 0.8  # the bond signs look like coin flips
    gs = pinning.ground_states(J)
    assert gs["degeneracy"] == 2 and np.all(gs["unsatisfied"] == 0)
    assert {tuple(s) for s in gs["states"]} == {tuple(eps), tuple(-eps)}
    assert pinning.frustrated_triangles(J) == 0.0
    fields = pinning.aligned_fields(J, gs["states"][0])
    assert np.allclose(fields, 9)  # every field = the sum of |J| on its spin


def test_spin_glass_ground_states_leave_bonds_unsatisfied_and_spread_fields():
    J = pinning.random_sign_couplings(10, seed=1)
    assert np.allclose(J, J.T) and np.all(np.diag(J) == 0)
    assert 0.3 < pinning.frustrated_triangles(J) < 0.7
    gs = pinning.ground_states(J)
    assert np.all(gs["unsatisfied"] > 0)
    fields = pinning.aligned_fields(J, gs["states"][0])
    assert np.all(fields >= 0) and fields.std() > 0  # stable, but not all equal
    # brute force: no state has lower energy
    e = pinning.ising_energy(J, pinning.ising_states(10))
    assert e.min() == pytest.approx(gs["energy"])


# ----------------------------------------------------------------------------- deviations
def planted_model(h=16, d=48, c=2.0, b=0.5, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    S = pinning.random_wiring(h, d, 2, seed=seed)
    dE = noise * rng.standard_normal((h, d))
    dD = noise * rng.standard_normal((h, d))
    return S, c * S + dE, (b * S + dD).T, dE, dD


def test_deviations_recover_planted_centres_and_deviations():
    S, E, D, dE, dD = planted_model()
    dev = pinning.deviations(E, D)
    assert np.array_equal(dev.signs, S)
    assert dev.centre == pytest.approx(2.0, abs=0.02)
    assert dev.decoder_centre == pytest.approx(0.5, abs=0.02)
    assert np.allclose(dev.encoder, dE + (2.0 - dev.centre) * S)
    assert np.allclose(dev.decoder, dD + (0.5 - dev.decoder_centre) * S)
    out = dev.mask("outer")
    assert np.array_equal(out, dev.mask("positive") | dev.mask("negative"))
    assert np.allclose(dev.outward()[~out], 0)
    with pytest.raises(ValueError, match="cluster"):
        dev.mask("middle")
    with pytest.raises(ValueError, match="match"):
        pinning.deviations(E, D.T)


def test_row_offsets_are_planted_row_means():
    rng = np.random.default_rng(1)
    mu = rng.standard_normal(8)
    values = mu[:, None] + 0.01 * rng.standard_normal((8, 30))
    mask = rng.random((8, 30)) < 0.9
    mask[3] = False
    off = pinning.row_offsets(values, mask)
    assert np.isnan(off[3]) and np.allclose(np.delete(off, 3), np.delete(mu, 3), atol=0.01)
    within = pinning.within_rows(values, mask)
    assert np.abs(within[mask]).max() < 0.05 and np.all(within[~mask] == 0)


def test_live_rows_mark_neurons_that_read_a_feature():
    S = np.array([[1, 0, 0], [0, 0, 0]])
    assert pinning.live_rows(S).tolist() == [[True] * 3, [False] * 3]


# ----------------------------------------------------------------------------- shape statistics
def test_planted_gaussian_passes_and_two_components_fail_the_normality_test():
    rng = np.random.default_rng(2)
    gauss = rng.standard_normal(5000)
    g = pinning.shape_statistics(gauss, n_boot=300, level=0.01, seed=0)
    assert g["gaussian"] and g["skew_ci"][0] < 0 < g["skew_ci"][1]
    assert g["kurtosis_ci"][0] < 0 < g["kurtosis_ci"][1]
    two = np.concatenate([rng.normal(-1, 0.3, 2500), rng.normal(1, 0.3, 2500)])
    t = pinning.shape_statistics(two, n_boot=300, level=0.01, seed=0)
    assert not t["gaussian"] and t["kurtosis_ci"][1] < -1  # a bimodal sample is platykurtic
    heavy = rng.standard_t(4, 5000)
    assert pinning.shape_statistics(heavy, n_boot=300)["kurtosis_ci"][0] > 0.5


def test_two_components_separates_planted_mixtures_only():
    rng = np.random.default_rng(3)
    one = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], 2000)
    assert pinning.two_components(one, seed=0)["delta_bic"] < 10
    two = np.concatenate([rng.normal([0, 0], 0.3, (1400, 2)), rng.normal([2, 1], 0.3, (600, 2))])
    fit = pinning.two_components(two, seed=0)
    assert fit["delta_bic"] > 100
    assert fit["weights"] == pytest.approx([0.7, 0.3], abs=0.02)
    assert np.allclose(fit["means"][1], [2, 1], atol=0.05)
    assert (fit["labels"][:1400] == 0).mean() > 0.99 and (fit["labels"][1400:] == 1).mean() > 0.99


# ----------------------------------------------------------------------------- replicates
def test_replicate_correlation_recovers_the_frozen_share():
    rng = np.random.default_rng(4)
    frozen = rng.standard_normal((64, 192)) * 0.9
    a = frozen + rng.standard_normal((64, 192)) * np.sqrt(0.19)
    b = frozen + rng.standard_normal((64, 192)) * np.sqrt(0.19)
    mask = np.ones((64, 192), bool)
    res = pinning.replicate_correlation(a, b, mask, n_boot=300, seed=0)
    assert res["ci"][0] < 0.81 < res["ci"][1] and res["r"] == pytest.approx(0.81, abs=0.02)
    other = pinning.replicate_correlation(a, rng.standard_normal((64, 192)), mask, n_boot=300)
    assert other["ci"][0] < 0 < other["ci"][1] and abs(other["r"]) < 0.05


def test_replicate_correlation_interval_widens_with_row_effects():
    # entries of a row share a random row effect: resampling rows must see it
    rng = np.random.default_rng(5)
    rows = rng.standard_normal((64, 1))
    a = rows + 0.1 * rng.standard_normal((64, 192))
    b = rng.standard_normal((64, 1)) + 0.1 * rng.standard_normal((64, 192))
    res = pinning.replicate_correlation(a, b, np.ones((64, 192), bool), n_boot=300, seed=0)
    assert res["ci"][1] - res["ci"][0] > 0.2  # 64 independent rows, not 12288 entries


# ----------------------------------------------------------------------------- local structure
def test_local_structure_on_a_hand_made_matrix():
    S = np.array([[1, 1, 0, 0],
                  [0, 1, -1, 0],
                  [0, 0, -1, -1]])
    st = pinning.local_structure(S)
    assert st["row_degree"][:, 0].tolist() == [2, 2, 2]
    assert st["column_degree"][0].tolist() == [1, 2, 2, 1]
    assert st["mixed_row"][:, 0].tolist() == [0, 1, 0]
    assert st["neuron_overlap"][:, 0].tolist() == [1, 2, 1]
    assert st["feature_overlap"][0].tolist() == [1, 2, 2, 1]
    # brute-force signed 3-step paths j -> i' -> j' -> i with j' != j and i' != i
    h, d = S.shape
    for j, i in itertools.product(range(h), range(d)):
        signed = sum(S[j, a] * S[k, a] * S[k, i] for a in range(d) for k in range(h)
                     if k != j and a != i)
        assert st["signed_paths"][j, i] == signed
    # co-readers: feature 1 is read by neurons 0 (+) and 1 (row sign -1 by majority? tie)
    assert st["co_reader_agreement"][0, 1] == 1 * np.sign(S[0].sum())


def iid_signs(h, d, p, seed):
    rng = np.random.default_rng(seed)
    return ((rng.random((h, d)) < p) * rng.choice([-1, 1], (h, 1))).astype(np.int8)


def test_regression_recovers_a_planted_dependence_on_row_degree():
    S = iid_signs(64, 192, 0.05, seed=6)  # row degrees vary (Binomial(192, 0.05))
    st = pinning.local_structure(S)
    rng = np.random.default_rng(7)
    values = 0.1 * st["row_degree"] + 0.05 * rng.standard_normal(S.shape)
    mask = S != 0
    res = pinning.regress_on_structure(values, S, mask, ["row_degree"], seed=0)
    assert res["coefficients"]["row_degree"] == pytest.approx(0.1, abs=0.01)
    assert res["r2_test"] > 0.7
    assert np.allclose(res["fitted"][~mask], 0)
    control = pinning.regress_on_structure(values, S, mask, ["row_degree"], shuffle=True)
    assert control["r2_test"] < 0.05


def test_regression_held_out_r2_is_out_of_fold():
    """Pure noise on many predictors: in-sample R² > 0, out-of-fold R² <= 0; bad folds named."""
    S = iid_signs(64, 192, 0.05, seed=6)
    values = np.random.default_rng(3).standard_normal(S.shape)
    predictors = ["row_degree", "mixed_row", "neuron_overlap", "feature_overlap"]
    res = pinning.regress_on_structure(values, S, S != 0, predictors, seed=1)
    assert res["r2_train"] > 0 and res["r2_test"] < 0.005
    with pytest.raises(ValueError, match="folds"):
        pinning.regress_on_structure(values, S, S != 0, predictors, folds=1)


def test_regression_with_a_categorical_predictor():
    S = pinning.random_wiring(32, 96, 2, seed=8)
    S[0, :] = 0
    S[0, :5] = 1  # five features now read by 3 neurons
    st = pinning.local_structure(S)
    rng = np.random.default_rng(9)
    values = np.where(st["column_degree"] == 3, -0.3, 0.0) + 0.01 * rng.standard_normal(S.shape)
    res = pinning.regress_on_structure(values, S, S != 0, [], categorical=["column_degree"])
    assert res["coefficients"]["column_degree=3"] == pytest.approx(-0.3, abs=0.02)
    with pytest.raises(ValueError, match="unknown predictors"):
        pinning.regress_on_structure(values, S, S != 0, ["degree"])


# ----------------------------------------------------------------------------- wirings, fits
@pytest.mark.parametrize("h, d, m", [(64, 192, 2), (16, 48, 3), (10, 7, 4)])
def test_random_wiring_has_the_stated_degrees_and_row_signs(h, d, m):
    S = pinning.random_wiring(h, d, m, seed=0)
    A = S != 0
    assert S.shape == (h, d) and np.all(A.sum(0) == m)
    rows = A.sum(1)
    assert rows.max() - rows.min() <= 1 and rows.sum() == m * d
    for row in S:
        assert len(set(row[row != 0].tolist())) <= 1
    assert not np.array_equal(S, pinning.random_wiring(h, d, m, seed=1))


def test_power_law_recovers_a_planted_exponent():
    rng = np.random.default_rng(10)
    x = np.repeat([48, 96, 192, 384], 6)
    y = 3 * x**-0.5 * np.exp(0.05 * rng.standard_normal(x.size))
    res = pinning.power_law(x, y)
    assert res["ci"][0] < -0.5 < res["ci"][1] and res["exponent"] == pytest.approx(-0.5, abs=0.05)
    flat = pinning.power_law(x, 2 * np.exp(0.05 * rng.standard_normal(x.size)))
    assert flat["ci"][0] < 0 < flat["ci"][1]


# ----------------------------------------------------------------------------- in-basin training
def test_basin_starts_share_noise_by_id():
    S = np.stack([pinning.random_wiring(4, 12, 2, seed=k) for k in range(3)])
    E0 = pinning.basin_starts(S, [2.0, 2.0, 1.0], 0.1, seed=0, noise_ids=[0, 1, 0])
    assert E0.shape == (3, 4, 12)
    noise = E0 - torch.as_tensor(S, dtype=torch.float32) * torch.tensor([2.0, 2.0, 1.0])[:, None, None]
    assert torch.allclose(noise[0], noise[2], atol=1e-6) and not torch.allclose(noise[0], noise[1])
    assert noise.std() == pytest.approx(0.1, rel=0.3)


def test_fit_in_basins_keeps_a_planted_structure():
    d, h = 24, 8
    config = DenoiserConfig(d, h, 2, k=2, noise_std=0.05, loss_power=4.0,
                            encoder_init_std=0.3)
    S = np.stack([pinning.random_wiring(h, d, 2, seed=k) for k in range(2)])
    tc = TrainConfig(steps=150, batch_size=64, lr=0.02, optimizer="adam",
                     schedule="constant_cosine", decay_steps=50, log_every=50)
    run, E0 = pinning.fit_in_basins(config, S, 2.3, tc, noise_std=0.1, decoder_steps=50,
                                    seed=0, device="cpu", eval_batches=2, progress=False)
    assert E0.shape == (2, h, d) and run.eval_loss.shape == (2,)
    for k in range(2):
        summary = pinning.cluster_summary(run.model.E[k].detach(), run.model.D[k].detach(),
                                          signs=S[k])
        assert summary["moved"] < 0.1 and 1.5 < summary["centre"] < 3.5
    with pytest.raises(ValueError, match="n_instances"):
        pinning.fit_in_basins(config, S[:1], 2.3, tc, noise_std=0.1, decoder_steps=5)


# ----------------------------------------------------------------------------- chapter helpers
def test_shared_feature_pairs_count_broken_preferences():
    S = np.array([[1, 1, 1, 0], [0, 0, 1, 1]])
    assert pinning.shared_feature_pairs(S) == 4  # (0,1) (0,2) (1,2) (2,3)
    assert pinning.shared_feature_pairs(np.eye(3)) == 0


def test_deviation_parts_and_folded_outer_are_in_units_of_the_separation():
    S, E, D, dE, dD = planted_model(noise=0.02)
    dev = pinning.deviations(E, D)
    parts = pinning.deviation_parts(dev)
    n_out = int((S != 0).sum())
    assert parts["E outer"].size == n_out == parts["D outer"].size
    assert parts["E central"].size == S.size - n_out
    assert parts["E central"].std() == pytest.approx(0.02 / dev.centre, rel=0.1)
    assert parts["D outer"].std() == pytest.approx(0.02 / dev.decoder_centre, rel=0.15)
    folded = pinning.folded_outer(dev)
    assert folded.shape == (n_out, 2)
    assert np.allclose(folded[:, 0], parts["E outer"])


def test_outer_spread_within_degree_removes_the_discrete_values():
    # a control-like model: outer values depend only on the column degree, exactly
    S = np.zeros((6, 4), dtype=np.int8)
    S[[0, 1, 2, 3, 4, 5], [0, 1, 2, 2, 3, 3]] = 1
    m = (S != 0).sum(0)
    E = 2.0 * S
    D = (S * (1.0 / m)[None, :]).T
    dev = pinning.deviations(E, D)
    assert pinning.outer_spread_within_degree(dev, "decoder") == pytest.approx(0, abs=1e-12)
    assert pinning.deviation_parts(dev)["D outer"].std() > 0.1  # the raw spread is not 0
    S2, E2, D2, *_ = planted_model(noise=0.05)
    dev2 = pinning.deviations(E2, D2)
    assert pinning.outer_spread_within_degree(dev2, "encoder") == pytest.approx(
        0.05 / dev2.centre, rel=0.15)


def test_replicate_parts_on_planted_replicates():
    S, E, D, dE, dD = planted_model(h=32, d=96, noise=0.05, seed=3)
    rng = np.random.default_rng(11)
    noisy = lambda x: x + 0.1 * x.std() * rng.standard_normal(x.shape)  # noqa: E731
    a = pinning.deviations(E, D)
    b = pinning.deviations(noisy(E - 2 * S) + 2 * S, noisy(D.T - 0.5 * S).T + 0.5 * S.T)
    res = pinning.replicate_parts(a, b, n_boot=100)
    assert set(res) == {"E central", "E within neuron", "D central", "E outer", "D outer",
                        "E neuron offsets", "D neuron offsets"}
    for part in ("E central", "D central", "E outer", "D outer"):
        assert res[part]["r"] > 0.95
    other = pinning.deviations(*planted_model(h=32, d=96, noise=0.05, seed=4)[1:3])
    res_other = pinning.replicate_parts(a, other, outer=False, n_boot=100)
    assert "E outer" not in res_other and abs(res_other["E central"]["r"]) < 0.1


def test_two_components_beyond_structure_explains_a_planted_kind_of_entry():
    S = pinning.random_wiring(64, 192, 2, seed=12)
    S[0] = 0
    S[0, :40] = 1  # 40 features get a third reader
    m = pinning.local_structure(S)["column_degree"]
    rng = np.random.default_rng(13)
    shift = np.where(m == 3, -0.3, 0.0)
    E = (2.0 + shift + 0.02 * rng.standard_normal(S.shape)) * S
    D = ((0.5 + 0.5 * shift + 0.01 * rng.standard_normal(S.shape)) * S).T
    res = pinning.two_components_beyond_structure(pinning.deviations(E, D), [],
                                                  categorical=["column_degree"])
    assert res["before"] > 100 and res["after"] < 10 and res["explained"] > 0.9


def test_forced_shared_pairs_is_the_even_spread():
    assert pinning.forced_shared_pairs(192, 64) == 64 * 3
    assert pinning.forced_shared_pairs(7, 3) == 3 + 1 + 1  # neurons read 3, 2, 2
    assert pinning.forced_shared_pairs(64, 192) == 0
    S = pinning.random_wiring(64, 192, 1, seed=3)  # one reader each, 3 per neuron
    assert pinning.shared_feature_pairs(S) == pinning.forced_shared_pairs(192, 64)


def test_defect_enrichment_finds_a_planted_defect_kind():
    S = pinning.random_wiring(64, 192, 2, seed=12)
    S[0] = 0
    S[0, :40] = 1  # 40 features get a third reader: defects
    dev = pinning.deviations(2.0 * S, 0.5 * S.T)
    defect = pinning.structural_defects(S)[dev.mask("outer")]
    res = pinning.defect_enrichment(dev, defect, seed=1)
    assert res["minority"] == 1 and res["majority"] == 0 and res["ratio"] == float("inf")
    rng = np.random.default_rng(2)
    noise = rng.random(defect.size) < 0.1
    res = pinning.defect_enrichment(dev, noise, n_perm=300, seed=1)
    assert abs(res["random_ratio"] - 1) < 0.15 and abs(res["ratio"] - 1) < 0.8
    with pytest.raises(ValueError, match="labels"):
        pinning.defect_enrichment(dev, np.zeros(defect.size), seed=1)

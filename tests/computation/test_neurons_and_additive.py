"""Chapter 4's neuron census, activation purity, controls and the additive error model."""

import numpy as np
import pytest
import torch

from lib.computation.measures import (
    activation_purity,
    asymmetric_motifs,
    conditional_feature_error,
    dead_neurons,
    feature_errors,
    motif_weights,
    neuron_census,
    neuron_feature_counts,
    neuron_order,
    optimal_output_scale,
    plus_minus_pairs,
    primary_rank_by_kind,
    random_rotation,
    rank_gap,
    side_r2,
    signed_gains,
)
from lib.computation.model import TwoLayerMLP
from lib.computation.theory import (
    additive_error,
    additive_optimal_scale,
    constant_predictor_loss,
    tight_frame_crosstalk,
    uniform_attenuation_l4_loss,
)
from lib.core.sampling import SparseUniform
from tests.computation.test_computation import hand_built_motif, pm_pairs


def test_neuron_census_counts_each_class():
    W_in = torch.tensor([[1.0, 1.0, 0.0, 0.9], [0.05, 0.6, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    W_out = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.6, 0.0], [0.0, 0.0, 0.0], [0.05, 0.0, 1.0]])
    census = neuron_census(W_in, W_out)
    assert {k: int(v) for k, v in census.items()} == {
        "monosemantic": 1, "polysemantic": 1, "unused": 2, "features represented": 2}
    # batched: a leading axis of models
    both = neuron_census(torch.stack([W_in, W_in]), torch.stack([W_out, W_out]))
    assert both["polysemantic"].tolist() == [1, 1]
    assert census["monosemantic"] == (neuron_feature_counts(W_in, W_out) == 1).sum()


def test_neuron_order_sorts_by_primary_feature():
    W = torch.tensor([[0.0, 0.1, 2.0], [1.0, 0.0, 0.0], [0.0, -3.0, 0.0]])
    assert neuron_order(W).tolist() == [2, 0, 1]  # primaries 1, 2, 0


def test_plus_minus_pairs_on_the_dense_solution_and_on_a_broken_one():
    W_in, W_out = pm_pairs(3)
    assert plus_minus_pairs(W_in, W_out).tolist() == [True, True, True]
    W_out[1, 0] = 0.0  # the ReLU(-x_0) neuron no longer writes back
    assert plus_minus_pairs(W_in, W_out).tolist() == [False, True, True]
    W_in2, W_out2 = pm_pairs(2)
    W_in2[1, 0], W_out2[0, 1] = 1.0, 1.0  # neuron 0 now carries features 0 and 1: polysemantic
    assert plus_minus_pairs(W_in2, W_out2).tolist() == [False, True]


def test_dead_neurons_and_random_rotation():
    W = torch.tensor([[1.0, -1.0, 0.0], [0.5, -0.2, -1.0]])
    assert dead_neurons(W).tolist() == [False, True, True]
    assert dead_neurons(W, torch.tensor([0.0, 0.1, 0.0])).tolist() == [False, False, True]
    O = random_rotation(5, seed=3, n_models=4)
    eye = torch.eye(5, dtype=torch.float64).expand(4, 5, 5)
    assert torch.allclose(O @ O.transpose(-1, -2), eye, atol=1e-12)
    assert torch.equal(O, random_rotation(5, seed=3, n_models=4))
    # rotating a dedicated-neuron model makes every neuron carry every feature
    W_dense = torch.eye(5).double()
    rotated = W_dense @ O[0]
    assert int(neuron_census(W_dense, signed_inputs=False)["monosemantic"]) == 5
    assert int(neuron_census(rotated, signed_inputs=False)["monosemantic"]) < 5


def test_primary_rank_by_kind():
    # neuron 0: feature 0 alone; neuron 1: features 2 and 3 equally; neuron 2: unused
    W_in = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    W_out = W_in.T.clone()
    out = primary_rank_by_kind(W_in, W_out)
    assert out["rank, monosemantic"] == 0.0 and out["rank, polysemantic"] == 2.0
    assert out["rank, ratio >= 2"] == 0.0 and out["rank, ratio < 2"] == 2.0
    assert out["neurons, monosemantic"] == 1 and out["neurons, ratio < 2"] == 1


def test_activation_purity_separates_primary_and_secondary():
    # neuron 0: primary feature 0 (weight 1), secondaries 1..4 (weight 0.2): its largest
    # activations need feature 0; neuron 1 weights features 5..9 equally
    gen = torch.Generator().manual_seed(0)
    n, B = 10, 200_000
    x = torch.rand(B, n, generator=gen) * (torch.rand(B, n, generator=gen) < 0.1)
    W = torch.zeros(n, 2)
    W[0, 0], W[1:5, 0], W[5:, 1] = 1.0, 0.2, 0.5
    W[5, 1] = 0.51  # a nominal primary
    h = torch.relu(x @ W)
    purity = activation_purity(x, h, W)
    assert purity["top"][0] == 1.0 and purity["low"][0] < 0.8
    assert purity["top"][1] < 0.9  # no real primary: top activations are mixed
    assert purity["primary"].tolist() == [True, False]


def test_side_r2():
    u = torch.cat([torch.linspace(-1, -0.01, 100), torch.linspace(0.01, 1, 100)])
    exact = u.abs()[:, None].expand(-1, 3).clone()
    exact[:, 1] = torch.relu(u)  # computes only the positive side
    exact[:, 2] = 0.0  # stuck at zero
    r2 = side_r2(u, exact)
    assert r2.shape == (2, 3)
    assert torch.allclose(r2[:, 0], torch.ones(2, dtype=torch.float64))
    assert r2[0, 1] == pytest.approx(1.0) and r2[1, 1] < -2
    assert r2[0, 2] == pytest.approx(-3.0, abs=0.1)


def test_feature_errors_stream_over_batches():
    n = 5
    model = TwoLayerMLP(n, 3, 2, out_activation="linear", out_bias=False, seed=1)
    data = SparseUniform(np.full((2, n), 0.3), low=-1, high=1, seed=2)
    x = torch.cat([data(700) for _ in range(4)] + [data(200)])  # the same chunks
    data = SparseUniform(np.full((2, n), 0.3), low=-1, high=1, seed=2)
    errs = feature_errors(model, data, torch.relu, samples=3000, batch_size=700,
                          exponents=(2, 4))
    with torch.no_grad():
        y = model(x)
    for q in (2.0, 4.0):
        cond, plain = errs[q]
        assert torch.allclose(cond, conditional_feature_error(x, y, torch.relu(x), q))
        expected = (y - torch.relu(x)).double().abs().pow(q).mean(dim=(0, 2))
        assert torch.allclose(plain, expected)


def test_motif_weights_of_the_hand_built_motif():
    W_in, W_out = hand_built_motif()
    motif = asymmetric_motifs(W_in, W_out)[0]
    rows = motif_weights(motif, W_in, W_out)
    # rescaled so the largest input weight is 1: [2, -1/2] -> [1, -1/4], outputs x2
    assert rows["motif neuron"] == pytest.approx(
        {"W1[strong]": 1.0, "W1[weak]": -0.25, "W2[-> strong]": 1.0, "W2[-> weak]": 4.0})
    assert rows["inhibitor"]["W2[-> weak]"] == pytest.approx(-5.0)


# ------------------------------------------------------------------ the additive model
def test_additive_error_is_exact_for_a_linear_network_and_close_for_a_sparse_relu_one():
    n, m = 12, 4
    # linear hidden layer: responses add exactly, G+ = W_eff and G- = -W_eff, at any p
    model = TwoLayerMLP(n, m, 1, hidden_activation="linear", out_activation="linear",
                        out_bias=False, seed=2)
    W_eff = (model.W_in.detach()[0] @ model.W_out.detach()[0]).double().numpy()
    x = SparseUniform(np.full((1, n), 0.3), low=-1, high=1, seed=4)(400_000)
    with torch.no_grad():
        err = (model(x) - torch.relu(x)).double()[:, 0]
    for q in (2, 4):
        mc = err.abs().pow(q).mean(0).numpy()
        assert additive_error(W_eff, -W_eff, 0.3, q) == pytest.approx(mc, rel=0.02)
    # a ReLU hidden layer at low density: a few per cent off (pairs of active features)
    p = 0.01
    model = TwoLayerMLP(n, m, 1, out_activation="linear", out_bias=False, seed=2)
    G_pos, G_neg = (G[0].numpy() for G in signed_gains(model.W_in.detach(), model.W_out.detach()))
    x = SparseUniform(np.full((1, n), p), low=-1, high=1, seed=4)(1_000_000)
    with torch.no_grad():
        err = (model(x) - torch.relu(x)).double()[:, 0]
    for q in (2, 4):
        mc = err.abs().pow(q).mean(0).numpy()
        assert additive_error(G_pos, G_neg, p, q) == pytest.approx(mc, rel=0.12)


def test_additive_error_matches_the_second_order_formula_for_symmetric_crosstalk():
    # self gain g, Gaussian cross-talk g*kappa from positive inputs only (G_neg = 0):
    # the model of uniform_attenuation_l4_loss, which is second order in p
    n, m, p, g = 100, 10, 0.002, 0.4
    gen = np.random.default_rng(0)
    K2 = tight_frame_crosstalk(n, m, 2)
    kappa = gen.normal(0, np.sqrt(K2 / (n - 1)), (n, n))
    G_pos = g * kappa
    np.fill_diagonal(G_pos, g)
    K2_m = (kappa ** 2).sum(0) - np.diag(kappa) ** 2
    K4_m = (kappa ** 4).sum(0) - np.diag(kappa) ** 4
    exact = additive_error(G_pos, np.zeros((n, n)), p, 4, symmetric_crosstalk=True)
    formula = [uniform_attenuation_l4_loss(g, p, a, b) for a, b in zip(K2_m, K4_m)]
    assert exact == pytest.approx(formula, rel=0.02)


def test_additive_optimal_scale_recovers_a_known_optimum():
    # one feature, no cross-talk: the L4 error (c g - 1)^4 is minimal at c = 1/g
    G = np.diag([0.5, 0.5])
    assert additive_optimal_scale(G, np.zeros((2, 2)), 0.01) == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(ValueError, match="exponent"):
        additive_error(G, G, 0.1, 3)


def test_optimal_output_scale():
    y = torch.linspace(0, 1, 101)
    assert optimal_output_scale(0.5 * y, y, 4) == pytest.approx(2.0, abs=1e-4)
    assert optimal_output_scale(y, y, 2) == pytest.approx(1.0, abs=1e-4)


def test_constant_predictor_loss_matches_simulation():
    imp = 0.8 ** np.arange(6)
    x = SparseUniform(np.full((1, 6), 0.3), low=-1, high=1, seed=0)(400_000).abs().double()
    best_constant = (imp * ((x - x.mean(0)) ** 2).mean(0).numpy()).mean()
    assert constant_predictor_loss(imp, 0.3) == pytest.approx(best_constant, rel=0.01)


def test_rank_gap_compares_within_models():
    def row(n1, r1, n2, r2):
        return {"neurons, a": n1, "rank, a": r1, "neurons, b": n2, "rank, b": r2}

    # within each model kind a serves the more important features (lower rank) ...
    rows = [row(38, 9.1, 2, 18.0), row(32, 5.2, 8, 5.9), row(17, 3.2, 23, 5.2)]
    assert rank_gap(rows, "a", "b") > 0
    # ... although pooling the neurons of all models says the opposite
    pooled_a = sum(r["neurons, a"] * r["rank, a"] for r in rows) / 87
    pooled_b = sum(r["neurons, b"] * r["rank, b"] for r in rows) / 33
    assert pooled_a > pooled_b
    assert rank_gap([row(3, 1.0, 1, 4.0)], "a", "b") == pytest.approx(3.0)
    assert np.isnan(rank_gap([row(0, np.nan, 4, 2.0)], "a", "b"))

"""Chapter 4 (computation in superposition): models, Lp loss, neuron metrics, the motif
detector and the attenuated-ReLU closed forms."""

import math

import numpy as np
import pytest
import torch

from lib.computation.config import MLPConfig, ReLUHiddenConfig, target_function
from lib.computation.measures import (
    asymmetric_motifs,
    conditional_feature_error,
    features_in_superposition,
    gains_from_responses,
    mean_abs_cosine,
    neuron_feature_counts,
    one_hot_responses,
    primary_features,
    primary_secondary_ratio,
    rescale_neurons,
    self_and_cross,
    signed_gains,
    through_gains,
)
from lib.computation.model import ReLUHiddenModel, TwoLayerMLP, dedicated_neurons_mlp
from lib.computation.theory import (
    attenuation_error,
    expected_abs_cosine_random,
    gaussian_abs_moment,
    naive_dedicated_error,
    naive_over_attenuation,
    relu_moment,
    tight_frame_crosstalk,
    uniform_attenuation_gain,
)
from lib.core.fit import fit
from lib.core.instances import select_instances
from lib.core.losses import LpLoss, lp_loss, weighted_mse
from lib.core.sampling import SharedAcrossInstances, SparseUniform
from lib.core.tensors import cosine_similarity
from lib.core.training import TrainConfig, train
from tests.replay import Replay


# ------------------------------------------------------------------------- models
def test_relu_hidden_model_shapes_and_formula():
    model = ReLUHiddenModel(6, 3, 4, hidden_bias=True, seed=1)
    assert (
        model.W.shape == (4, 6, 3)
        and model.b.shape == (4, 6)
        and model.b_hidden.shape == (4, 3)
    )
    x = torch.rand(5, 4, 6)
    with torch.no_grad():
        model.b.normal_(), model.b_hidden.normal_()
        k = 2
        h = torch.relu(x[:, k] @ model.W[k] + model.b_hidden[k])
        expected = torch.relu(h @ model.W[k].T + model.b[k])
        assert torch.allclose(model(x)[:, k], expected, atol=1e-6)
    assert ReLUHiddenModel(6, 3, 2).b_hidden is None


def test_relu_hidden_model_per_instance_hidden_bias():
    model = ReLUHiddenModel(6, 3, 3, hidden_bias=[True, False, True], seed=1)
    sampler = SparseUniform(np.full((3, 6), 0.5), seed=0)
    train(
        model,
        sampler,
        LpLoss(2.0),
        TrainConfig(steps=30, batch_size=16, lr=1e-2),
        device="cpu",
        progress=False,
    )
    assert (model.b_hidden[1] == 0).all() and (model.b_hidden[0] != 0).any()
    plain = ReLUHiddenModel(6, 3, 1, seed=1, instance_ids=[1])
    with torch.no_grad():
        plain.W.copy_(model.W[1:2]), plain.b.copy_(model.b[1:2])
        x = sampler(8)
        assert torch.allclose(model(x)[:, 1:2], plain(x[:, 1:2]))
    with pytest.raises(ValueError, match="hidden_bias"):
        ReLUHiddenModel(6, 3, 3, hidden_bias=[True, False])
    with pytest.raises(ValueError, match="hidden_bias"):
        ReLUHiddenConfig(6, 3, 3, hidden_bias=[1, 0, 1])


def test_two_layer_mlp_shapes_and_formula():
    model = TwoLayerMLP(7, 4, 3, n_out=5, hidden_bias=True, out_bias=True, seed=2)
    assert model.W_in.shape == (3, 7, 4) and model.W_out.shape == (3, 4, 5)
    assert model.b_in.shape == (3, 4) and model.b.shape == (3, 5)
    x = torch.rand(6, 3, 7) * 2 - 1
    with torch.no_grad():
        model.b_in.normal_(), model.b.normal_()
        k = 1
        expected = torch.relu(
            torch.relu(x[:, k] @ model.W_in[k] + model.b_in[k]) @ model.W_out[k]
            + model.b[k]
        )
        assert model(x).shape == (6, 3, 5)
        assert torch.allclose(model(x)[:, k], expected, atol=1e-6)
    lin = TwoLayerMLP(4, 2, 1, out_activation="linear", out_bias=False)
    assert lin.b is None and lin.b_in is None
    with torch.no_grad():
        lin.W_out.fill_(-1.0)
    assert (
        lin(torch.ones(1, 1, 4)) <= 0
    ).all()  # no output ReLU: negative outputs pass


def test_mlp_init_is_per_instance_and_input_output_streams_differ():
    big = TwoLayerMLP(10, 4, 6, seed=3)
    alone = TwoLayerMLP(10, 4, 1, seed=3, instance_ids=[4])
    assert torch.equal(big.W_in[4], alone.W_in[0]) and torch.equal(
        big.W_out[4], alone.W_out[0]
    )
    assert not torch.equal(big.W_in[0], big.W_in[1])
    # W_out is not drawn from the same numbers as W_in
    assert not torch.allclose(
        big.W_in[0].flatten()[:8].abs(), big.W_out[0].flatten()[:8].abs()
    )
    assert (
        abs(TwoLayerMLP(200, 20, 20).W_in.detach().std().item() - math.sqrt(2 / 220))
        < 0.005
    )


@pytest.mark.parametrize("kind", ["tied", "mlp"])
def test_instance_trained_in_a_batch_equals_instance_trained_alone(kind):
    I, n, m, steps = 4, 6, 3, 40
    p = np.linspace(0.1, 1.0, I)[:, None].repeat(n, 1)
    data = SparseUniform(p, low=-1, high=1, seed=5)
    batches = [data(16) for _ in range(steps)]
    cfg = TrainConfig(
        steps=steps, batch_size=16, lr=1e-2, schedule="cosine", log_every=10
    )
    make = (
        (lambda count, ids: ReLUHiddenModel(n, m, count, seed=7, instance_ids=ids))
        if kind == "tied"
        else (lambda count, ids: TwoLayerMLP(n, m, count, seed=7, instance_ids=ids))
    )
    q = np.array([2.0, 4.0, 2.0, 3.0])
    together = make(I, None)
    train(
        together,
        Replay(batches),
        LpLoss(q),
        cfg,
        target=torch.abs,
        device="cpu",
        progress=False,
    )
    for k in (1, 3):
        alone = make(1, [k])
        train(
            alone,
            Replay(batches, k),
            LpLoss(q[k : k + 1]),
            cfg,
            target=torch.abs,
            device="cpu",
            progress=False,
        )
        for a, b in zip(together.parameters(), alone.parameters()):
            assert torch.allclose(a[k], b[0], atol=1e-5)


def test_hidden_mask_keeps_padded_neurons_silent():
    model = TwoLayerMLP(
        8,
        5,
        3,
        n_active_hidden=[2, 5, 3],
        out_activation="linear",
        out_bias=False,
        seed=0,
    )
    assert (model.W_in[0, :, 2:] == 0).all() and (model.W_out[2, 3:] == 0).all()
    sampler = SparseUniform(np.full((3, 8), 0.5), low=-1, high=1, seed=0)
    train(
        model,
        sampler,
        LpLoss(4.0),
        TrainConfig(steps=30, batch_size=32, lr=1e-2),
        target=torch.relu,
        device="cpu",
        progress=False,
    )
    assert (model.W_in[0, :, 2:] == 0).all() and (model.W_out[0, 2:] == 0).all()
    assert (model.W_in[2, :, 3:] == 0).all()
    # instance 0 computes exactly what a width-2 MLP with its active weights computes
    narrow = TwoLayerMLP(8, 2, 1, out_activation="linear", out_bias=False)
    with torch.no_grad():
        (
            narrow.W_in.copy_(model.W_in[:1, :, :2]),
            narrow.W_out.copy_(model.W_out[:1, :2]),
        )
        x = sampler(16)
        assert torch.allclose(model(x)[:, :1], narrow(x[:, :1]), atol=1e-6)


def test_bad_mask_and_model_arguments_raise():
    with pytest.raises(ValueError, match="n_active_hidden"):
        TwoLayerMLP(8, 4, 2, n_active_hidden=[1, 5])
    with pytest.raises(ValueError, match="n_active_hidden"):
        TwoLayerMLP(8, 4, 2, n_active_hidden=[1, 2, 3])
    with pytest.raises(ValueError, match="hidden_activation"):
        TwoLayerMLP(8, 4, 2, hidden_activation="gelu")
    with pytest.raises(ValueError, match="n_hidden"):
        dedicated_neurons_mlp(5, 6)


def test_dedicated_neurons_compute_relu_exactly_for_the_first_m_features():
    model = dedicated_neurons_mlp(6, 2, 3)
    x = torch.rand(10, 3, 6) * 2 - 1
    with torch.no_grad():
        y = model(x)
    assert (
        torch.allclose(y[..., :2], torch.relu(x[..., :2])) and (y[..., 2:] == 0).all()
    )


# ------------------------------------------------------------------------- losses and configs
def test_lp_loss_matches_formula_and_per_instance_exponents():
    out, tgt = torch.randn(9, 3, 5), torch.randn(9, 3, 5)
    err = (out - tgt).abs()
    assert torch.allclose(lp_loss(out, tgt, 4.0), err.pow(4).mean(dim=(0, 2)))
    assert torch.allclose(lp_loss(out, tgt, 3.0), err.pow(3).mean(dim=(0, 2)))
    assert torch.allclose(lp_loss(out, tgt, 2.5), err.pow(2.5).mean(dim=(0, 2)))
    q = torch.tensor([2.0, 4.0, 6.0])
    per = LpLoss([2.0, 4.0, 6.0])(out, tgt)
    assert torch.allclose(
        per, torch.stack([err[:, k].pow(q[k]).mean() for k in range(3)]), rtol=1e-5
    )
    imp = torch.rand(3, 5)
    assert torch.allclose(
        LpLoss(2.0, imp)(out, tgt), weighted_mse(out, tgt, imp), rtol=1e-5
    )
    assert torch.allclose(
        LpLoss([2.0, 2.0, 2.0], imp)(out, tgt), weighted_mse(out, tgt, imp), rtol=1e-5
    )


@pytest.mark.parametrize("bad", [0.5, [2.0, float("nan")], [[2.0]], []])
def test_lp_loss_rejects_bad_exponents(bad):
    with pytest.raises(ValueError, match="exponent"):
        LpLoss(bad)


def test_computation_configs_validate():
    cfg = MLPConfig(
        10, 4, 3, feature_probability=[0.1, 0.2, 0.3], exponent=[2, 4, 4], target="relu"
    )
    assert cfg.feature_probability_matrix.shape == (
        3,
        10,
    ) and cfg.exponents.tolist() == [2, 4, 4]
    with pytest.raises(ValueError, match="exponent"):
        MLPConfig(10, 4, 3, exponent=[2, 4])
    with pytest.raises(ValueError, match="exponent"):
        MLPConfig(10, 4, 1, exponent=0.5)
    with pytest.raises(ValueError, match="target"):
        MLPConfig(10, 4, target="square")
    with pytest.raises(ValueError, match="value_range"):
        MLPConfig(10, 4, value_range=(1, -1))
    with pytest.raises(ValueError, match="n_active_hidden"):
        MLPConfig(10, 4, 2, n_active_hidden=[2, 9])
    with pytest.raises(ValueError, match="feature_probability"):
        MLPConfig(10, 4, feature_probability=1.5)
    with pytest.raises(ValueError, match="importance"):
        ReLUHiddenConfig(10, 4, importance=-1.0)
    with pytest.raises(ValueError, match="feature_probability"):
        ReLUHiddenConfig(10, 4, feature_probability=0.0)
    with pytest.raises(ValueError, match="target"):
        target_function("cube")


def test_configs_fit_and_evaluate():
    cfg = MLPConfig(5, 4, 2, feature_probability=0.5, target="abs", exponent=[2, 4])
    run = fit(
        cfg,
        TrainConfig(steps=20, batch_size=16),
        seed=0,
        device="cpu",
        progress=False,
        eval_batches=2,
    )
    assert (
        run.eval_loss.shape == (2,)
        and run.history.loss.shape[1] == 2
        and np.isfinite(run.eval_loss).all()
    )
    assert cfg.build_target() is torch.abs and cfg.build_sampler().low == -1.0
    rcfg = ReLUHiddenConfig(
        5, 2, 3, feature_probability=[1.0, 0.5, 0.1], hidden_bias=True
    )
    run = fit(
        rcfg,
        TrainConfig(steps=20, batch_size=16),
        seed=0,
        device="cpu",
        progress=False,
        eval_batches=2,
    )
    assert run.model.b_hidden is not None and run.eval_loss.shape == (3,)


# ------------------------------------------------------------------------- metrics
def test_rescaling_neurons_keeps_the_function():
    model = TwoLayerMLP(6, 4, 1, seed=0)
    W_in, W_out = rescale_neurons(model.W_in[0], model.W_out[0])
    assert torch.allclose(W_in.abs().amax(dim=0), torch.ones(4, dtype=torch.float64))
    x = (torch.rand(20, 6) * 2 - 1).double()
    before = torch.relu(
        torch.relu(x @ model.W_in[0].double()) @ model.W_out[0].double()
    )
    after = torch.relu(torch.relu(x @ W_in) @ W_out)
    assert torch.allclose(before, after)


def test_neuron_feature_counts_and_primary_secondary_ratio():
    # input weights (features x neurons) and output weights (neurons x outputs)
    W_in = torch.tensor(
        [[1.0, 1.0, 0.0, 0.9], [0.05, -0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    )
    W_out = torch.tensor(
        [
            [1.0, 0.0, 0.0],  # neuron 0: feature 0 only
            [1.0, -0.6, 0.0],  # neuron 1: primary 0 + secondary 1 (|w|·out = 0.3)
            [0.0, 0.0, 0.0],  # neuron 2: dead
            [0.05, 0.0, 1.0],
        ]
    )  # neuron 3: reads feature 0 but writes elsewhere
    t = through_gains(W_in, W_out)
    assert t[1, 1].item() == pytest.approx(-0.3) and t[0, 3].item() == pytest.approx(
        0.045
    )
    # neuron 1 writes -0.6 to output 1: a harmful path, not a representation
    assert neuron_feature_counts(W_in, W_out).tolist() == [1, 1, 0, 0]
    W_out[1, 1] = 0.6
    assert neuron_feature_counts(W_in, W_out).tolist() == [1, 2, 0, 0]
    assert features_in_superposition(W_in, W_out).tolist() == [True, True, False]
    ratio = primary_secondary_ratio(W_in)
    assert ratio[0].item() == pytest.approx(20.0) and ratio[1].item() == pytest.approx(
        2.0
    )
    assert primary_features(W_in)[:2].tolist() == [0, 0]
    # rescaling neurons changes nothing (the definition is scale-free)
    s = torch.tensor([3.0, 0.2, 1.0, 1.0])
    assert neuron_feature_counts(W_in * s, W_out / s[:, None]).tolist() == [1, 2, 0, 0]
    # tied model, non-negative inputs: only positive weights carry a feature
    W = torch.tensor([[1.0, 0.5], [0.0, -0.9], [0.0, 0.4]])
    assert neuron_feature_counts(W, signed_inputs=False).tolist() == [1, 2]
    assert neuron_feature_counts(W, signed_inputs=True).tolist() == [1, 2]
    W[2, 1] = 0.2
    assert neuron_feature_counts(W, signed_inputs=False).tolist() == [1, 1]


def test_gains_closed_form_equals_measured_response_curves():
    model = TwoLayerMLP(12, 4, 2, out_activation="linear", out_bias=False, seed=3)
    u = torch.linspace(-1, 1, 41)
    responses = one_hot_responses(model, u)  # [U, I, n, n]
    assert responses.shape == (41, 2, 12, 12)
    G_pos, G_neg = signed_gains(model.W_in.detach(), model.W_out.detach())
    assert torch.allclose(gains_from_responses(u, responses), G_pos, atol=1e-5)
    # the negative side: y(u) = |u| G_neg for u < 0
    assert torch.allclose(responses[0].double(), G_neg, atol=1e-5)  # u = -1
    W_eff = model.W_in.detach().double() @ model.W_out.detach().double()
    assert torch.allclose(G_pos - G_neg, W_eff)
    diag, off = self_and_cross(G_pos)
    assert diag.shape == (2, 12) and off.shape == (2, 12, 11)
    assert torch.allclose(off[0, 3], torch.cat([G_pos[0, 3, :3], G_pos[0, 3, 4:]]))


def test_conditional_feature_error_ignores_inactive_samples():
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 0.5]], [[0.5, 0.0]]])  # [B=3, I=1, n=2]
    target = x.clone()
    output = torch.tensor([[[0.0, 9.0]], [[0.0, 0.0]], [[0.5, 9.0]]])
    err = conditional_feature_error(x, output, target)
    assert torch.allclose(err, torch.tensor([[0.5, 0.25]], dtype=torch.float64))


def test_mean_abs_cosine():
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    expected = (0 + 2 * (1 / math.sqrt(2))) / 3
    assert mean_abs_cosine(W).item() == pytest.approx(expected)


# ------------------------------------------------------------------------- the motif detector
def pm_pairs(n: int):
    """The dense abs-value solution: neuron 2i = ReLU(x_i), neuron 2i+1 = ReLU(-x_i). No motif."""
    W_in = torch.zeros(n, 2 * n)
    W_out = torch.zeros(2 * n, n)
    for i in range(n):
        W_in[i, 2 * i], W_in[i, 2 * i + 1] = 1.0, -1.0
        W_out[2 * i, i] = W_out[2 * i + 1, i] = 1.0
    return W_in, W_out


def hand_built_motif():
    """The paper's example on features 0 (strong) and 1 (weak), embedded in a ± pair model.

    Neuron 4 stores x_0 with weight 2 and x_1 with -1/2 and reads them back with 1/2 and 2:
    it computes ReLU(x_0) and ReLU(-x_1) with unit gain, but x_0 > 0 leaks 2·2 = 4 onto
    output 1. Neuron 5 fires on x_0 > 0 and inhibits output 1 with -5.
    """
    W_in, W_out = pm_pairs(3)
    W_in = torch.cat([W_in, torch.zeros(3, 2)], dim=1)
    W_out = torch.cat([W_out, torch.zeros(2, 3)], dim=0)
    W_in[0, 6], W_in[1, 6] = 2.0, -0.5
    W_out[6, 0], W_out[6, 1] = 0.5, 2.0
    W_in[0, 7], W_out[7, 1] = 1.0, -5.0
    return W_in, W_out


def test_motif_detector_finds_the_hand_built_motif():
    W_in, W_out = hand_built_motif()
    motifs = asymmetric_motifs(W_in, W_out)
    assert len(motifs) == 1
    motif = motifs[0]
    assert (motif.neuron, motif.strong, motif.weak, motif.inhibitor) == (6, 0, 1, 7)
    assert motif.gains == pytest.approx((1.0, 1.0))
    assert motif.interference == pytest.approx(
        4.0
    ) and motif.inhibition == pytest.approx(-5.0)
    assert motif.net == pytest.approx(-1.0)


def test_motif_detector_finds_nothing_in_motif_free_models():
    W_in, W_out = pm_pairs(3)
    assert asymmetric_motifs(W_in, W_out) == []
    # symmetric superposition: one neuron stores two features with equal weights
    W_in2, W_out2 = pm_pairs(3)
    W_in2[0, 0], W_in2[1, 0] = 1.0, -1.0
    W_out2[0, 0], W_out2[0, 1] = 1.0, 1.0
    assert asymmetric_motifs(W_in2, W_out2) == []
    # asymmetric superposition without the inhibiting neuron is not the motif
    W_in3, W_out3 = hand_built_motif()
    W_out3[7, 1] = 0.0
    assert asymmetric_motifs(W_in3, W_out3) == []
    # ... nor with an inhibitor too weak to cancel the positive interference
    W_in4, W_out4 = hand_built_motif()
    W_out4[7, 1] = -1.0
    assert asymmetric_motifs(W_in4, W_out4) == []


def test_motif_detector_takes_one_model():
    with pytest.raises(ValueError, match="one model"):
        asymmetric_motifs(torch.zeros(2, 3, 4), torch.zeros(2, 4, 3))


# ------------------------------------------------------------------------- closed forms
def test_naive_baseline_error_matches_simulation():
    n, m, p = 20, 4, 0.1
    expected = naive_dedicated_error(n, m)
    assert expected == pytest.approx((n - m) / n / 6)
    model = dedicated_neurons_mlp(n, m, 1)
    x = SparseUniform(np.full((1, n), p), low=-1, high=1, seed=0)(200_000)
    with torch.no_grad():
        per_feature = conditional_feature_error(x, model(x), torch.relu(x))
    assert per_feature[0, :m].abs().max().item() < 1e-12  # computed exactly
    assert per_feature[0, m:].mean().item() == pytest.approx(
        1 / 6, rel=0.02
    )  # ignored: E[ReLU(u)^2]
    assert per_feature[0].mean().item() == pytest.approx(expected, rel=0.02)
    # the L4 version: E[ReLU(u)^4] = 1/10
    with torch.no_grad():
        l4 = conditional_feature_error(x, model(x), torch.relu(x), exponent=4)
    assert l4[0].mean().item() == pytest.approx(
        naive_dedicated_error(n, m, 4), rel=0.03
    )


def test_attenuation_error_matches_simulation():
    u = torch.rand(400_000, dtype=torch.float64) * 2 - 1
    g, gn = 0.4, -0.05
    y = torch.where(u > 0, g * u, gn * u.abs())
    for q in (2, 4):
        mc = (y - torch.relu(u)).abs().pow(q).mean().item()
        assert attenuation_error(g, q, negative_gain=gn) == pytest.approx(mc, rel=0.01)
    assert relu_moment(2) == pytest.approx(1 / 6) and relu_moment(4) == pytest.approx(
        0.1
    )
    assert relu_moment(2, (0, 1)) == pytest.approx(1 / 3)


def test_uniform_attenuation_gain_is_the_minimiser():
    gains = np.linspace(0, 1, 100_001)
    for q, K in ((4, 2.4545), (2, 9.0), (3, 1.7), (6, 5.0)):
        loss = np.abs(1 - gains) ** q + K * gains**q
        assert uniform_attenuation_gain(K, q) == pytest.approx(
            gains[np.argmin(loss)], abs=1e-4
        )
    assert gaussian_abs_moment(2) == pytest.approx(1.0)
    assert gaussian_abs_moment(4) == pytest.approx(3.0)
    assert tight_frame_crosstalk(100, 10, 2) == pytest.approx(9.0)
    assert uniform_attenuation_gain(
        tight_frame_crosstalk(100, 10, 2), 2
    ) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="exponent"):
        uniform_attenuation_gain(1.0, 1.0)


def test_tight_frame_identity_behind_the_crosstalk():
    # a unit-norm tight frame (the harmonic frame): sum_{j != i} cos_ij^2 = n/m - 1 for every i
    n, m = 60, 6
    k = torch.arange(n, dtype=torch.float64)[:, None]
    freqs = torch.arange(1, m // 2 + 1, dtype=torch.float64)[None, :]
    F = torch.cat(
        [
            torch.cos(2 * math.pi * k * freqs / n),
            torch.sin(2 * math.pi * k * freqs / n),
        ],
        dim=1,
    )
    F = F / F.norm(dim=1, keepdim=True)
    cos2 = cosine_similarity(F).pow(2)
    assert torch.allclose(
        cos2.sum(dim=1) - 1, torch.full((n,), n / m - 1, dtype=torch.float64), atol=1e-9
    )


def test_random_directions_mean_abs_cosine():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(400, 10, generator=g, dtype=torch.float64)
    assert mean_abs_cosine(W).item() == pytest.approx(
        expected_abs_cosine_random(10), abs=0.005
    )
    assert expected_abs_cosine_random(10) == pytest.approx(0.2587, abs=1e-4)


def test_report_ratios_are_reproduced_by_the_closed_form():
    # the report's "8.5x under L4" and "~2.7x under L2" at gain 0.43
    assert naive_over_attenuation(100, 10, 0.43, 4) == pytest.approx(8.5, abs=0.1)
    assert naive_over_attenuation(100, 10, 0.43, 2) == pytest.approx(2.77, abs=0.01)


def test_shared_across_instances_gives_restarts_identical_data():
    base = SparseUniform(np.array([[0.5] * 4, [0.1] * 4]), low=-1, high=1, seed=3)

    sampler = SharedAcrossInstances(base, [0, 0, 0, 1, 1])
    x = sampler(64)
    assert x.shape == (64, 5, 4)
    assert (
        torch.equal(x[:, 0], x[:, 2])
        and torch.equal(x[:, 3], x[:, 4])
        and not torch.equal(x[:, 0], x[:, 3])
    )
    state = sampler.state_dict()
    again = sampler(8)
    sampler.load_state_dict(state)
    assert torch.equal(sampler(8), again)
    with pytest.raises(ValueError, match="groups"):
        SharedAcrossInstances(base, [0, 2])


def test_select_instances_keeps_the_chosen_models():

    model = TwoLayerMLP(
        6, 4, 5, n_active_hidden=[1, 2, 3, 4, 4], hidden_bias=True, seed=1
    )
    sub = select_instances(model, [3, 1])
    assert sub.n_instances == 2 and sub.hidden_mask.shape == (2, 4)
    x = torch.rand(7, 5, 6)
    with torch.no_grad():
        assert torch.allclose(sub(x[:, [3, 1]]), model(x)[:, [3, 1]])
    tied = ReLUHiddenModel(5, 2, 3, hidden_bias=True)
    assert select_instances(tied, [2]).b_hidden.shape == (1, 2)
    with pytest.raises(ValueError, match="indices"):
        select_instances(model, [5])

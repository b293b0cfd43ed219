"""Chapter 5 (the frustrated denoiser): sampler, model, losses, config, sign-structure metrics."""

import math

import numpy as np
import pytest
import torch

from lib.core.fit import fit
from lib.core.training import TrainConfig
from lib.denoiser.basins import sign_basin_encoder
from lib.denoiser.config import DenoiserConfig
from lib.denoiser.data import KHotNoise, denoising_target
from lib.denoiser.losses import (
    RebalancedLoss,
    denoising_mse,
    rebalanced_loss,
    softmax_cross_entropy,
)
from lib.denoiser.model import Denoiser, tanh_cubed
from lib.denoiser.structure import (
    blob_coupling,
    distinct_values,
    encoder_clusters,
    iid_sign_matrix,
    iid_structure_test,
    row_degrees,
    sign_constant_neurons,
    sign_structure,
)


# ------------------------------------------------------------------ sampler
def test_khot_noise_has_exactly_k_ones_and_the_stated_noise():
    s = KHotNoise(50, 3, k=3, noise_std=0.1, seed=0)
    x = s(4000)
    assert x.shape == (4000, 3, 50) and x.dtype == torch.float32
    clean = denoising_target(x)
    assert torch.all(clean.sum(-1) == 3) and set(clean.unique().tolist()) == {0.0, 1.0}
    noise = (x - clean).flatten()
    # 600k draws: the std of N(0, 0.1²) is estimated to ~1e-4; the clip at 0.49 (4.9σ) is invisible
    assert abs(noise.std().item() - 0.1) < 1e-3
    assert abs(noise.mean().item()) < 1e-3
    assert noise.abs().max() <= 0.49


def test_khot_support_is_uniform_over_features_and_pairs():
    x = KHotNoise(6, 1, k=2, noise_std=0.0, seed=1)(60_000)[:, 0]
    assert torch.all(x.sum(-1) == 2)
    freq = x.mean(0).numpy()  # each feature active with probability k/d = 1/3
    assert np.all(np.abs(freq - 1 / 3) < 5 * math.sqrt((1 / 3) * (2 / 3) / 60_000))
    pairs = torch.unique(x.nonzero()[:, 1].view(-1, 2), dim=0, return_counts=True)[
        1
    ].float()
    assert len(pairs) == 15  # all C(6, 2) pairs occur, about equally often
    assert (pairs.max() / pairs.min()).item() < 1.15


def test_khot_target_is_the_clean_vector_and_streams_are_seeded():
    s = KHotNoise(20, 2, k=2, noise_std=0.05, seed=3)
    state = s.state_dict()
    x = s(64)
    s.load_state_dict(state)
    assert torch.equal(
        s.clean(64), denoising_target(x)
    )  # the clean draw comes first in a batch
    assert torch.equal(KHotNoise(20, 2, seed=4)(8), KHotNoise(20, 2, seed=4)(8))
    assert not torch.equal(KHotNoise(20, 2, seed=4)(8), KHotNoise(20, 2, seed=5)(8))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "k"),
        ({"k": 11}, "k"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"noise_std": 0.3}, "noise_std"),
    ],
)
def test_khot_noise_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KHotNoise(10, 1, **kwargs)


# ------------------------------------------------------------------ model
def test_denoiser_forward_matches_the_formula_per_instance():
    m = Denoiser(7, 4, 3, seed=2)
    assert m.E.shape == (3, 4, 7) and m.D.shape == (3, 7, 4)
    x = torch.randn(5, 3, 7)
    y = m(x)
    for k in range(3):
        expected = torch.tanh(x[:, k] @ m.E[k].T).pow(3) @ m.D[k].T
        assert torch.allclose(y[:, k], expected, atol=1e-6)
    g = Denoiser(7, 4, 1, nonlinearity="gelu", seed=2)
    assert torch.allclose(
        g(x[:, :1])[:, 0],
        torch.nn.functional.gelu(x[:, 0] @ g.E[0].T) @ g.D[0].T,
        atol=1e-6,
    )


def test_denoiser_init_depends_on_seed_and_instance_only():
    a = Denoiser(30, 10, 4, seed=1)
    b = Denoiser(30, 10, 1, seed=1, instance_ids=[2])
    assert torch.equal(a.E[2], b.E[0]) and torch.equal(a.D[2], b.D[0])
    assert not torch.equal(a.E[0], a.E[1])
    big = Denoiser(400, 300, 1, seed=0)
    assert abs(big.E.std().item() - 1 / math.sqrt(3 * 400)) < 0.02 / math.sqrt(3 * 400)
    assert abs(big.D.std().item() - 1 / math.sqrt(3 * 300)) < 0.02 / math.sqrt(3 * 300)
    assert abs(Denoiser(400, 300, 1, encoder_init_std=0.5).E.std().item() - 0.5) < 0.01


def test_tanh_cubed_is_odd_bounded_and_flat_at_zero():
    z = torch.linspace(-5, 5, 101, requires_grad=True)
    f = tanh_cubed(z)
    assert torch.allclose(f, -tanh_cubed(-z)) and f.abs().max() <= 1
    zero = torch.zeros(1, requires_grad=True)
    tanh_cubed(zero).backward()
    assert zero.grad.item() == 0.0


def test_denoiser_rejects_bad_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity"):
        Denoiser(5, 3, nonlinearity="relu6")


# ------------------------------------------------------------------ losses
def test_rebalanced_loss_makes_the_zero_output_far_from_optimal():
    d, k, sigma = 3072, 2, 0.05
    x = KHotNoise(d, 1, k=k, noise_std=sigma, seed=0)(256)
    target = denoising_target(x)
    zero = torch.zeros_like(x)
    # plain MSE: returning 0 (loss k/d) beats even passing the noisy input through (loss σ²)
    assert denoising_mse(zero, target).item() == pytest.approx(k / d, rel=1e-6)
    assert denoising_mse(zero, target) < denoising_mse(x, target)
    for root in (True, False):
        loss = RebalancedLoss(2.0, root)
        assert loss(zero, target).item() == pytest.approx(1.0)  # the on-term alone
        assert loss(target, target).item() == pytest.approx(0.0)
        assert (
            loss(x, target).item() < 0.15 * loss(zero, target).item()
        )  # identity: ~2σ (root) or 2σ²


def test_rebalanced_loss_weighs_on_and_off_groups_equally():
    target = torch.zeros(4, 2, 10)
    target[:, :, 0] = 1
    out = torch.zeros_like(target)
    out[:, :, 0] = 0.5  # on error 0.5
    out[:, :, 1:] = 0.2  # off error 0.2 on nine coordinates
    assert torch.allclose(rebalanced_loss(out, target), torch.full((2,), 0.7))
    assert torch.allclose(
        rebalanced_loss(out, target, root=False), torch.full((2,), 0.25 + 0.04)
    )
    with pytest.raises(ValueError, match="power"):
        RebalancedLoss(power=0)


def test_softmax_cross_entropy():
    target = torch.zeros(3, 1, 8)
    target[:, :, [1, 4]] = 1
    flat = softmax_cross_entropy(torch.zeros_like(target), target)
    assert flat.shape == (1,) and flat.item() == pytest.approx(math.log(8))
    assert (
        softmax_cross_entropy(10 * target, target).item() < 0.7
    )  # peaked on the 2 targets -> ≈ log 2
    assert softmax_cross_entropy(10 * target, target).item() > math.log(2) - 1e-3


# ------------------------------------------------------------------ config
def test_denoiser_config_validates_the_regime():
    with pytest.raises(ValueError, match="n_hidden must be < n_features"):
        DenoiserConfig(64, 64, regime="superposition")
    with pytest.raises(ValueError, match="n_hidden must be > n_features"):
        DenoiserConfig(96, 32, regime="no_superposition")
    cfg = DenoiserConfig(96, 32, regime="superposition")
    control = cfg.swapped()
    assert (control.n_features, control.n_hidden, control.regime) == (
        32,
        96,
        "no_superposition",
    )
    for bad, match in [
        ({"k": 0}, "k"),
        ({"k": 200}, "k"),
        ({"noise_std": 0.5}, "noise_std"),
        ({"loss": "l7"}, "loss"),
        ({"nonlinearity": "relu"}, "nonlinearity"),
        ({"regime": "some"}, "regime"),
        ({"encoder_init_std": -1.0}, "encoder_init_std"),
    ]:
        with pytest.raises(ValueError, match=match):
            DenoiserConfig(96, 32, **bad)


def test_denoiser_fits_in_stages_and_can_freeze_the_encoder():
    cfg = DenoiserConfig(
        24, 8, 2, k=2, noise_std=0.05, regime="superposition", encoder_init_std=1.0
    )
    tc = TrainConfig(steps=200, batch_size=128, lr=1e-2, optimizer="adam", log_every=50)
    run = fit(cfg, tc, seed=0, device="cpu", progress=False, eval_batches=2)
    assert run.history.loss[-1].max() < run.history.loss[
        0
    ].min() and run.eval_loss.shape == (2,)
    E_before, D_before = run.model.E.detach().clone(), run.model.D.detach().clone()
    stage = fit(
        cfg,
        TrainConfig(steps=20, batch_size=64, lr=1e-2, optimizer="adam"),
        model=run.model,
        sampler=run.sampler,
        frozen=("E",),
        device="cpu",
        progress=False,
    )
    assert stage.model is run.model and stage.model.E.requires_grad
    assert torch.equal(stage.model.E.detach(), E_before) and not torch.equal(
        stage.model.D.detach(), D_before
    )


# ------------------------------------------------------------------ sign structure
def planted(h=60, d=180, p=0.08, c=1.5, jitter=0.1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    S = iid_sign_matrix(h, d, p, generator=gen)[0]
    E = c * S.float() + jitter * torch.randn(h, d, generator=gen)
    return S, E


def test_sign_extraction_recovers_a_planted_sign_matrix():
    S, E = planted()
    clusters = encoder_clusters(E)
    assert abs(clusters["centre"].item() - 1.5) < 0.02
    assert abs(clusters["density"].item() - (S != 0).float().mean().item()) < 1e-9
    assert abs(clusters["outer_spread"].item() - 0.1) < 0.02
    assert torch.equal(sign_structure(E), S)
    const, deg = sign_constant_neurons(S)
    assert bool(const.all()) and torch.equal(deg, row_degrees(S))
    mixed = S.clone()
    row = int(torch.argmax(deg))
    mixed[row, mixed[row].nonzero()[0]] *= -1
    assert not sign_constant_neurons(mixed)[0][row]


def test_encoder_clusters_keep_instance_axes():
    Es = torch.stack([planted(seed=s, c=c)[1] for s, c in [(0, 1.2), (1, 1.8)]])
    out = encoder_clusters(Es)
    assert out["centre"].shape == (2,)
    assert torch.allclose(
        out["centre"], torch.tensor([1.2, 1.8], dtype=torch.float64), atol=0.03
    )
    assert sign_structure(Es).shape == Es.shape


def test_distinct_values_counts_discrete_levels():
    gen = torch.Generator().manual_seed(0)
    levels = torch.tensor([-1.4, -0.7, 0.0, 0.7, 1.4])
    values = levels[torch.randint(0, 5, (5000,), generator=gen)] + 1e-4 * torch.randn(
        5000, generator=gen
    )
    out = distinct_values(values, gap=0.05)
    assert len(out["centres"]) == 5 and np.allclose(
        out["centres"], levels.numpy(), atol=1e-3
    )
    assert out["spreads"].max() < 2e-4 and out["n_dropped"] == 0
    assert np.all(out["lows"] <= out["centres"]) and np.all(
        out["centres"] <= out["highs"]
    )
    assert np.all(
        out["highs"][:-1] < out["lows"][1:]
    )  # sorted, non-overlapping clusters
    few = distinct_values(
        torch.cat([values, torch.tensor([3.0])]), gap=0.05, min_share=0.01
    )
    assert len(few["centres"]) == 5 and few["n_dropped"] == 1
    # a sparse chain of strays between two levels must not bridge them
    bridge = torch.linspace(-1.35, -0.75, 30)
    bridged = distinct_values(torch.cat([values, bridge]), gap=0.05, min_share=0.01)
    assert len(bridged["centres"]) == 5 and bridged["n_dropped"] >= 25
    assert bridged["spreads"].max() < 2e-4


def test_iid_test_accepts_iid_and_rejects_structure():
    gen = torch.Generator().manual_seed(5)
    S = iid_sign_matrix(64, 192, 0.1, generator=gen)[0]
    res = iid_structure_test(S, n_null=100, seed=1)
    for key in ("row_degree", "column_degree", "row_overlap"):
        assert res[key]["p_value"] > 1e-3, (key, res[key])
    # regular: every row has exactly 19 nonzeros and every column 6 or 7 (a cyclic design)
    h, d, r = 64, 192, 19
    A = torch.zeros(h, d, dtype=torch.int8)
    for j in range(h):
        A[j, (3 * j + torch.arange(r)) % d] = 1
    reg = iid_structure_test(A, n_null=100, seed=1)
    assert reg["row_degree"]["z"] < -5 and reg["column_degree"]["z"] < -5
    # clumped: two blocks of neurons reading two disjoint halves of the features
    B = torch.zeros(h, d, dtype=torch.int8)
    B[: h // 2, : d // 2] = (torch.rand(h // 2, d // 2, generator=gen) < 0.2).to(
        torch.int8
    )
    B[h // 2 :, d // 2 :] = (torch.rand(h // 2, d // 2, generator=gen) < 0.2).to(
        torch.int8
    )
    clumped = iid_structure_test(B, n_null=100, seed=1)
    assert clumped["row_overlap"]["z"] > 5 and clumped["row_overlap"]["p_value"] < 1e-6


def test_iid_sign_matrix_density_and_row_signs():
    M = iid_sign_matrix(50, 400, 0.2, 3, generator=torch.Generator().manual_seed(0))
    assert M.shape == (3, 50, 400)
    assert abs((M != 0).float().mean().item() - 0.2) < 0.01
    assert bool(sign_constant_neurons(M)[0].all())
    with pytest.raises(ValueError, match="density"):
        iid_sign_matrix(2, 2, 1.5)


def test_sign_basin_encoder():
    S = torch.tensor([[[1, 0, -1]]], dtype=torch.int8)
    assert torch.equal(sign_basin_encoder(S, 1.5), torch.tensor([[[1.5, 0.0, -1.5]]]))


def test_blob_coupling_detects_coupled_blobs_only():
    gen = torch.Generator().manual_seed(0)
    h, d = 80, 200
    mask = torch.rand(h, d, generator=gen) < 0.25
    E = torch.where(mask, -1.0, 0.3) + 0.05 * torch.randn(h, d, generator=gen)
    free = blob_coupling(E, mask)
    assert free["neuron_p"] > 1e-3 and free["feature_p"] > 1e-3
    depth = 0.2 * torch.randn(
        h, 1, generator=gen
    )  # per-neuron shift: deeper blob <-> higher cloud
    coupled = E + torch.where(mask, -depth, depth)
    out = blob_coupling(coupled, mask)
    assert out["neuron_r"] < -0.8 and out["neuron_p"] < 1e-6
    with pytest.raises(ValueError, match="matching"):
        blob_coupling(E, mask[:, :10])

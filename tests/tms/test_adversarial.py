"""The analytic L2 attack, PGD, gradient masking and adversarial training (lib.tms.adversarial)."""

import math

import numpy as np
import pytest
import torch

from lib.core import TrainConfig, fit
from lib.tms import ToyModelConfig
from lib.tms.adversarial import (
    AttackedToyModel,
    analytic_attack,
    analytic_directions,
    dead_outputs_fraction,
    example_loss,
    gram,
    linear_gain,
    mean_input_norm,
    per_feature_attack_losses,
    pgd_attack,
    random_feature_attack,
    reconstruct,
    superposition_free,
    vulnerability,
)
from lib.tms.measures import dimensions_per_feature, feature_dimensionality


def _digon_plus_dedicated(bias=-0.1):
    """n = 3, m = 2: features 0, 1 an antipodal pair on axis 0, feature 2 alone on axis 1."""
    W = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]])
    return W, torch.full((1, 3), bias)


def _sphere_grid(k=200):
    """Unit vectors in R³ on a fine (theta, phi) grid: [k², 3]."""
    th = torch.linspace(0, math.pi, k)
    ph = torch.linspace(0, 2 * math.pi, k)
    T, P = torch.meshgrid(th, ph, indexing="ij")
    return torch.stack([T.sin() * P.cos(), T.sin() * P.sin(), T.cos()], -1).reshape(-1, 3)


def test_gram_and_reconstruct_match_the_toy_model():
    config = ToyModelConfig(n_features=7, n_hidden=3, n_instances=4)
    model = config.build_model(seed=0)
    with torch.no_grad():
        model.b.copy_(torch.randn(4, 7))
    x = torch.rand(5, 4, 7)
    W, b = model.W.detach(), model.b.detach()
    assert gram(W).shape == (4, 7, 7)
    assert torch.allclose(reconstruct(W, b, x), model(x).detach(), atol=1e-6)


def test_analytic_direction_maximises_its_feature_brute_force():
    torch.manual_seed(0)
    W = torch.randn(1, 3, 2)
    U = analytic_directions(W)[0]
    assert torch.allclose(U.norm(dim=-1), torch.ones(3))
    G = gram(W)[0]
    dirs = _sphere_grid()
    for i in range(3):
        best = (dirs @ G[i]).max()
        assert float(best) - 1e-6 <= float(G[i] @ U[i]) <= float(best) + 1e-3


def test_per_feature_losses_match_direct_computation():
    torch.manual_seed(1)
    W = torch.randn(2, 5, 3)
    b = -0.1 * torch.rand(2, 5)
    x = torch.rand(6, 2, 5) * (torch.rand(6, 2, 5) < 0.4)
    imp = torch.rand(2, 5)
    r = torch.tensor([0.2, 0.3])
    L = per_feature_attack_losses(W, b, x, r, importance=imp, chunk=2)
    assert L.shape == (6, 2, 5)
    U = analytic_directions(W)
    for i in range(5):
        direct = example_loss(reconstruct(W, b, x + r[None, :, None] * U[:, i][None]), x, imp)
        assert torch.allclose(L[..., i], direct, atol=1e-6)


def test_analytic_attack_picks_the_worst_feature_at_the_radius():
    torch.manual_seed(2)
    W = torch.randn(3, 6, 2)
    b = -0.2 * torch.rand(3, 6)
    x = torch.rand(8, 3, 6) * (torch.rand(8, 3, 6) < 0.3)
    res = analytic_attack(W, b, x, 0.15)
    assert torch.allclose(res["delta"].norm(dim=-1), torch.full((8, 3), 0.15), atol=1e-5)
    assert torch.allclose(example_loss(reconstruct(W, b, x + res["delta"]), x), res["loss"],
                          atol=1e-6)
    assert torch.allclose(res["loss"], per_feature_attack_losses(W, b, x, 0.15).max(-1).values)
    assert torch.allclose(res["clean"], example_loss(reconstruct(W, b, x), x))
    one = analytic_attack(W, b, x, 0.15, per_example=False)
    assert torch.all(one["feature"] == one["feature"][:1])  # one feature per instance
    assert torch.all(one["loss"].mean(0) <= res["loss"].mean(0) + 1e-7)


def test_analytic_attack_equals_brute_force_on_a_digon_at_zero_input():
    """x = 0: the worst perturbation of the digon model pushes along the pair's axis, the
    analytic direction of feature 0 or 1; brute force over the sphere agrees."""
    W, b = _digon_plus_dedicated()
    x = torch.zeros(1, 1, 3)
    res = analytic_attack(W, b, x, 0.5)
    xs = (0.5 * _sphere_grid())[:, None, :]
    brute = example_loss(reconstruct(W, b, xs), torch.zeros_like(xs)).max()
    assert 0.99 * float(brute) <= float(res["loss"]) <= 1.002 * float(brute)


def test_analytic_attack_is_a_lower_bound_of_the_worst_attack():
    torch.manual_seed(3)
    dirs = _sphere_grid(120)
    for _ in range(5):
        W = torch.randn(1, 3, 2)
        b = -0.1 * torch.rand(1, 3)
        x = torch.rand(1, 1, 3)
        res = analytic_attack(W, b, x, 0.3)
        xs = x + 0.3 * dirs[:, None, :]
        brute = example_loss(reconstruct(W, b, xs), x.expand(dirs.shape[0], -1, -1)).max()
        assert float(res["loss"]) <= 1.002 * float(brute) + 1e-6


def test_linear_gain_is_the_inverse_dimensionality_of_uniform_polytopes():
    W, _ = _digon_plus_dedicated()
    assert torch.allclose(linear_gain(W), torch.tensor([[2.0, 2.0, 1.0]]))
    a = 2 * np.pi * np.arange(5) / 5
    pent = torch.tensor(np.stack([np.cos(a), np.sin(a)], 1), dtype=torch.float32)[None]
    assert torch.allclose(linear_gain(pent), torch.full((1, 5), 2.5), atol=1e-5)
    e = torch.eye(3)
    tetra = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)
    for W in (torch.cat([e, -e])[None], tetra[None], 0.7 * pent):
        expected = W.norm(dim=-1) ** 2 / feature_dimensionality(W).float()   # ‖W_i‖² / D_i
        assert torch.allclose(linear_gain(W), expected, atol=1e-5)


def test_vulnerability_of_a_passthrough_and_of_a_digon():
    """An orthonormal basis passes a perturbation through: gain 1 (no ReLU cut, x large)."""
    W = torch.eye(3)[None]
    b = torch.zeros(1, 3)
    x = torch.full((4, 1, 3), 0.5)
    res = analytic_attack(W, b, x, 0.1)
    assert np.allclose(vulnerability(res["loss"], res["clean"], 0.1, 3), [1.0], atol=1e-4)
    W, b = _digon_plus_dedicated(bias=0.0)
    x = torch.tensor([[[0.5, 0.0, 0.5]]])   # the attack on feature 0 moves outputs 0 and 1
    res = analytic_attack(W, b, x, 0.1)
    assert float(vulnerability(res["loss"], res["clean"], 0.1, 3)[0]) > 1.4


def test_random_feature_attack_rows_and_norms():
    torch.manual_seed(4)
    W = torch.randn(2, 4, 2)
    x = torch.rand(50, 2, 4)
    d = random_feature_attack(W, x, torch.tensor([0.1, 0.4]), torch.Generator().manual_seed(0))
    assert torch.allclose(d.norm(dim=-1), torch.tensor([0.1, 0.4]).expand(50, 2), atol=1e-5)
    U = analytic_directions(W)
    for k in range(2):
        cos = (d[:, k] / d[:, k].norm(dim=-1, keepdim=True)) @ U[k].T  # [50, 4]
        assert torch.all(cos.max(-1).values > 1 - 1e-5)
        assert len(set(cos.argmax(-1).tolist())) > 1  # more than one feature attacked


def test_pgd_is_masked_at_zero_input_and_a_random_start_escapes():
    W, b = _digon_plus_dedicated(bias=-0.2)
    x = torch.zeros(64, 1, 3)
    plain = pgd_attack(W, b, x, 0.5, steps=20)
    assert bool(plain["zero_grad_start"].all())
    assert torch.allclose(plain["loss"], torch.zeros(64, 1))  # stuck at delta = 0
    rs = pgd_attack(W, b, x, 0.5, steps=50, random_start=True,
                    generator=torch.Generator().manual_seed(0))
    analytic = analytic_attack(W, b, x, 0.5)["loss"]
    escaped = ~rs["zero_grad_start"]
    assert 0 < int(escaped.sum()) < 64  # a random start helps only where it lands live
    assert torch.all(rs["loss"][escaped] > 0)
    assert float(rs["loss"][escaped].max()) >= 0.95 * float(analytic.max())
    assert torch.all(rs["loss"] <= analytic * 1.001)
    dead = dead_outputs_fraction(W, b, x)
    assert float(dead["all"]) == 1.0 and float(dead["units"]) == 1.0


def test_pgd_respects_the_radius_and_never_lowers_the_loss():
    torch.manual_seed(5)
    W = torch.randn(2, 5, 3)
    b = torch.zeros(2, 5)
    x = torch.rand(7, 2, 5)
    res = pgd_attack(W, b, x, 0.2, steps=10)
    assert torch.all(res["delta"].norm(dim=-1) <= 0.2 + 1e-5)
    assert torch.all(res["loss"] >= example_loss(reconstruct(W, b, x), x) - 1e-7)
    with pytest.raises(ValueError):
        pgd_attack(W, b, x, 0.2, steps=0)


def test_mean_input_norm():
    x = torch.zeros(2, 1, 3)
    x[0, 0, 0] = 3.0
    x[1, 0, :2] = torch.tensor([3.0, 4.0])
    assert torch.allclose(mean_input_norm(x), torch.tensor([4.0]))


def test_superposition_free():
    e = torch.eye(2)
    W = torch.stack([torch.cat([e, torch.zeros(1, 2)]),        # dedicated + unlearned
                     torch.stack([e[0], -e[0], e[1]]),          # a digon
                     torch.stack([e[0], -0.2 * e[0], e[1]])])   # small partner: interference 0.04
    assert superposition_free(W).tolist() == [True, False, True]


@pytest.mark.parametrize("radius", [-0.1, float("nan"), [0.1, 0.2, 0.3]])
def test_bad_radius(radius):
    with pytest.raises(ValueError):
        analytic_attack(torch.randn(2, 3, 2), torch.zeros(2, 3), torch.rand(4, 2, 3), radius)


def test_bad_shapes():
    with pytest.raises(ValueError):
        analytic_attack(torch.randn(3, 2), torch.zeros(3), torch.rand(4, 3), 0.1)
    with pytest.raises(ValueError):
        pgd_attack(torch.randn(1, 3, 2), torch.zeros(1, 3), torch.rand(4, 1, 4), 0.1)
    with pytest.raises(ValueError):
        random_feature_attack(torch.randn(1, 3, 2), torch.rand(4, 1, 4), 0.1)


def test_attacked_model_same_init_attacks_in_training_and_clean_when_off():
    config = ToyModelConfig(n_features=8, n_hidden=3, n_instances=2, feature_probability=0.2)
    plain = config.build_model(seed=3)
    model = AttackedToyModel.from_config(config, [0.0, 0.5], seed=3, attack_seed=11)
    assert torch.equal(plain.W, model.W) and set(dict(model.named_parameters())) == {"W", "b"}
    x = torch.rand(16, 2, 8)
    out = model(x).detach()
    assert torch.allclose(out[:, 0], plain(x).detach()[:, 0])   # radius 0: unchanged
    assert not torch.allclose(out[:, 1], plain(x).detach()[:, 1])
    model.attacking = False
    assert torch.allclose(model(x), plain(x))
    tc = TrainConfig(steps=30, batch_size=32, lr=1e-2)
    run, again = (fit(config, tc, seed=3, progress=False, model=AttackedToyModel.from_config(
        config, [0.0, 0.5], seed=3, attack_seed=11)) for _ in range(2))
    assert torch.equal(run.model.W, again.model.W)   # the attack stream is seeded
    ref = fit(config, tc, seed=3, progress=False)
    assert torch.allclose(run.model.W[0], ref.model.W[0], atol=1e-6)   # radius 0: plain
    assert not torch.allclose(run.model.W[1], ref.model.W[1], atol=1e-4)


def test_adversarial_training_reduces_superposition():
    """n = 20, m = 5, 1 - S = 0.2: a large attack leaves fewer features per dimension."""
    config = ToyModelConfig(n_features=20, n_hidden=5, n_instances=2, feature_probability=0.2)
    norm = float(mean_input_norm(config.build_sampler(seed=1)(4096)).mean())
    model = AttackedToyModel.from_config(config, [0.0, norm], seed=0, attack_seed=1)
    run = fit(config, TrainConfig(steps=1000, batch_size=256, lr=1e-2, schedule="cosine"),
              seed=0, model=model, progress=False)
    dstar = dimensions_per_feature(run.model.W.detach())
    assert float(dstar[0]) < 0.5 and float(dstar[1]) > 2 * float(dstar[0])
    assert superposition_free(run.model.W.detach()).tolist()[0] is False

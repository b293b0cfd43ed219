"""Density sweeps: layout of the instances, best restarts, and the per-model counts."""

import math

import numpy as np
import pytest
import torch

from lib.core import TrainConfig
from lib.tms.expansion import kept_features_loss
from lib.tms.sweeps import (
    antipodal_share,
    density_sweep,
    feature_counts,
    importance_order_auc,
    shuffle_features,
)


def square_and_rest(n: int = 6) -> torch.Tensor:
    """Features 0, 2 antipodal on x; 1, 3 antipodal on y; 4 short; 5 zero: [n, 2]."""
    W = torch.zeros(n, 2, dtype=torch.float64)
    W[0, 0], W[2, 0], W[1, 1], W[3, 1], W[4, 0] = 1, -1, 1, -1, 0.1
    return W


def test_density_sweep_layout_and_best_restart():
    tc = TrainConfig(steps=30, batch_size=64, lr=1e-2)
    imp = 0.9 ** np.arange(4)
    sweep = density_sweep(4, 2, imp, [1.0, 0.1], tc, restarts=3, seed=0, device="cpu",
                          eval_batches=2, progress=False)
    assert sweep.W.shape == (6, 4, 2) and sweep.b.shape == (6, 4) and sweep.eval_loss.shape == (6,)
    assert sweep.groups.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.allclose(sweep.instance_density, [1, 1, 1, 0.1, 0.1, 0.1])
    best = sweep.best
    assert best.shape == (2,) and 0 <= best[0] < 3 <= best[1] < 6
    assert sweep.eval_loss[best[0]] == sweep.eval_loss[:3].min()
    assert torch.equal(sweep.best_W[1], sweep.W[best[1]])
    assert np.allclose(sweep.trivial_loss[:3], kept_features_loss(imp, 1.0))
    assert np.allclose(sweep.top_m_loss(2), [kept_features_loss(imp, p, range(2)) for p in (1, 0.1)])
    # initial weights depend on (seed, instance id) only: the same run gives the same result
    again = density_sweep(4, 2, imp, [1.0, 0.1], tc, restarts=3, seed=0, device="cpu",
                          eval_batches=2, progress=False)
    assert torch.equal(again.W, sweep.W)


def test_density_sweep_passes_the_init_scale_and_activation():
    tc = TrainConfig(steps=1, batch_size=8, lr=1e-12)
    small = density_sweep(20, 5, np.ones(20), [1.0], tc, seed=0, device="cpu", eval_batches=1,
                          progress=False)
    xavier = density_sweep(20, 5, np.ones(20), [1.0], tc, seed=0, device="cpu", eval_batches=1,
                           progress=False, init_std=math.sqrt(2 / 25), activation="linear")
    ratio = (xavier.W.std() / small.W.std()).item()
    assert ratio == pytest.approx(math.sqrt(2 / 25) / math.sqrt(1 / 100), rel=1e-3)
    assert xavier.activation == "linear" and xavier.run.model.activation == "linear"


def test_feature_counts_on_a_known_geometry():
    W = square_and_rest()[None]  # [1, 6, 2]
    b = torch.tensor([[0.0, 0.0, 0.0, 0.0, -0.5, -0.1]], dtype=torch.float64)
    counts = feature_counts(W, b)
    assert counts["represented"].tolist() == [4]
    assert counts["superposed"].tolist() == [4] and counts["dedicated"].tolist() == [0]
    assert counts["antipodal"].tolist() == [4]
    assert counts["D*"][0] == pytest.approx(2 / 4.01)
    # output 4: -0.5 + 0.1 * 1 + 0.01 <= 0 -> dead; output 5: -0.1 -> dead
    assert counts["dead outputs"].tolist() == [2]
    assert feature_counts(W, b, activation="linear")["dead outputs"].tolist() == [0]


def test_antipodal_share():
    square = square_and_rest()
    pent = torch.zeros(6, 2, dtype=torch.float64)
    angles = 2 * math.pi * torch.arange(5, dtype=torch.float64) / 5
    pent[:5] = torch.stack([angles.cos(), angles.sin()], dim=1)
    dedicated = torch.zeros(6, 2, dtype=torch.float64)
    dedicated[0, 0] = dedicated[1, 1] = 1
    share = antipodal_share(torch.stack([square, pent, dedicated]))
    assert share[0] == 1 and share[1] == 0 and math.isnan(share[2])


def test_importance_order_auc_and_its_shuffled_control():
    # 4-D: features 0, 1 dedicated, 2 and 3 antipodal, 4 dedicated again, 5 and 6 antipodal
    W = torch.zeros(7, 4, dtype=torch.float64)
    W[0, 0] = W[1, 1] = W[4, 3] = 1
    W[2, 2], W[3, 2] = 1, -1
    W[5, 2], W[6, 2] = 0.0, 0.0  # not represented: they do not count
    # superposed {2, 3}, dedicated {0, 1, 4}: 4 of the 6 pairs have the superposed feature later
    assert importance_order_auc(W).item() == pytest.approx(4 / 6)
    clean = W.clone()
    clean[[2, 3, 4]] = W[[4, 2, 3]]  # dedicated {0, 1, 2}, superposed {3, 4}
    assert importance_order_auc(clean).item() == 1.0
    assert math.isnan(importance_order_auc(torch.eye(3, dtype=torch.float64)).item())
    shuffled = shuffle_features(clean[None].repeat(2, 1, 1), copies=400, seed=0)
    assert shuffled.shape == (400, 2, 7, 4)
    assert torch.equal(shuffled[:, 0], shuffled[:, 1])  # one permutation per copy
    assert abs(np.nanmean(importance_order_auc(shuffled)) - 0.5) < 0.05


def test_packing_is_one_for_tight_frames_and_less_for_random_directions():
    from lib.tms.measures import random_spread
    from lib.tms.sweeps import packing

    pent = torch.zeros(6, 2, dtype=torch.float64)
    angles = 2 * math.pi * torch.arange(5, dtype=torch.float64) / 5
    pent[:5] = torch.stack([angles.cos(), angles.sin()], dim=1)
    assert packing(pent) == pytest.approx(1.0)
    assert packing(square_and_rest()) == pytest.approx(1.0, abs=0.01)  # the short feature 4
    W = torch.zeros(12, 5, dtype=torch.float64)
    W[:10] = torch.cat([torch.eye(5), -torch.eye(5)]).double()
    assert packing(W) == pytest.approx(1.0)
    spread = random_spread(W.expand(200, -1, -1), seed=0)
    assert (packing(spread) < 0.95).all()  # random directions do not pack tightly
    assert (packing(torch.randn(50, 30, 4, dtype=torch.float64)) <= 1 + 1e-9).all()


def test_declines_gradually():
    from lib.tms.sweeps import declines_gradually

    more = [5, 7, 9, 10, 12]  # represented: superposition from the second density on
    assert declines_gradually([5, 3, 1, 0, 0], more, 5)
    assert declines_gradually([4, 3, 1, 0, 0], more, 5)  # a dense-end mixing does not matter
    assert declines_gradually([5, 3, 4, 1, 0], more, 5)  # a rise of one is tolerated
    assert not declines_gradually([5, 1, 3, 0, 0], more, 5)  # a rise of two is not
    assert not declines_gradually([5, 0, 0, 0, 0], more, 5)  # all at once
    assert not declines_gradually([5, 3, 1, 1, 1], more, 5)  # never the most important
    assert not declines_gradually([5, 5, 5, 5, 5], [5] * 5, 5)  # no extra features at all


def test_order_and_shape_on_a_staged_sweep():
    from lib.tms.sweeps import order_and_shape

    # densest: 4 dedicated; then 2 dedicated + two antipodal pairs (6 features in 4-D);
    # sparsest: a pentagon in one plane of the 4-D space
    dense = torch.zeros(6, 4, dtype=torch.float64)
    dense[:4] = torch.eye(4)
    mid = torch.zeros(6, 4, dtype=torch.float64)
    mid[0, 0] = mid[1, 1] = 1
    mid[2, 2], mid[3, 2], mid[4, 3], mid[5, 3] = 1, -1, 1, -1
    sparse = torch.zeros(6, 4, dtype=torch.float64)
    angles = 2 * math.pi * torch.arange(5, dtype=torch.float64) / 5
    sparse[:5, :2] = torch.stack([angles.cos(), angles.sin()], dim=1)
    stats = order_and_shape(torch.stack([dense, mid, sparse]), seed=0, draws=200, shuffles=100)
    assert stats["dedicated"] == [4, 2, 0]
    assert stats["onset"] == 1  # the first density with more features than dimensions
    assert stats["onset share"] == 1.0 and stats["onset share random"] < 0.9
    assert stats["order AUC"] == 1.0 and abs(stats["shuffled AUC"] - 0.5) < 0.15
    assert stats["sparse share"] == 0.0
    assert stats["sparse packing"] == pytest.approx(0.5)  # a pentagon fills 2 of 4 dims
    assert 0 <= stats["random packing pass"] <= 1

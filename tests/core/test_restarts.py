"""Restarts as instances: best, all but the worst, and a plurality vote per group."""

import numpy as np
import pytest
import torch

from lib.core.restarts import (
    all_but_worst_per_group,
    best_of_restarts,
    best_per_group,
    plurality_per_group,
)
from lib.core.sampling import SparseUniform


def test_best_and_all_but_worst():
    loss = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    groups = np.array([0, 0, 0, 1, 1])
    assert best_per_group(loss, groups).tolist() == [1, 4]
    assert all_but_worst_per_group(loss, groups).tolist() == [1, 2, 4]
    with pytest.raises(ValueError, match="same shape"):
        best_per_group(loss, groups[:3])


def test_plurality_vote_with_members_and_ties():
    labels = np.array([0, 1, 1, 2, 2, 0])
    groups = np.array([5, 5, 5, 7, 7, 7])
    plurality, share = plurality_per_group(labels, groups, 3)
    assert plurality.tolist() == [1, 2] and share.tolist() == [2 / 3, 2 / 3]
    # group 7 ties 2-vs-0 after dropping instance 4; the tie goes to instance 5's label
    plurality, share = plurality_per_group(labels, groups, 3, members=[0, 1, 2, 3, 5],
                                           tie_break=np.array([0, 5]))
    assert plurality.tolist() == [1, 0] and share.tolist() == [2 / 3, 1 / 2]
    with pytest.raises(ValueError, match="labels"):
        plurality_per_group(labels, groups, 2)


class Scaled(torch.nn.Module):
    """x' = a x per instance: restart k's loss is (1 - a_k)² E[x²]."""

    def __init__(self, a):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))
        self.n_instances = len(a)

    def forward(self, x):
        return x * self.a[:, None]


def test_best_of_restarts_ranks_on_identical_data():
    model = Scaled([0.5, 0.9, 0.7, 1.0, 0.0])
    groups = np.array([0, 0, 0, 1, 1])
    base = SparseUniform(np.full((2, 3), 0.5), seed=0)
    loss = lambda out, y: (out - y).pow(2).mean(dim=(0, 2))
    best, eval_loss = best_of_restarts(model, loss, base, groups, batch_size=64, n_batches=2)
    assert best.tolist() == [1, 3] and eval_loss[3] == 0.0


def test_best_of_k_agreement():
    from lib.core.restarts import best_of_k_agreement

    # group 0: the best restart (loss 0) is the only one labelled 1; group 1: all agree
    loss = np.array([0.0, 1, 2, 3, 0.5, 0.6, 0.7, 0.8])
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    labels = np.array([1, 0, 0, 0, 5, 5, 5, 5])
    share = best_of_k_agreement(loss, groups, labels, [1, 2, 4], n_draws=2000)
    assert share.shape == (2, 3)
    assert share[0] == pytest.approx([0.25, 0.5, 1.0], abs=0.04)
    assert np.all(share[1] == 1.0)
    with pytest.raises(ValueError, match="exceeds"):
        best_of_k_agreement(loss, groups, labels, [5])

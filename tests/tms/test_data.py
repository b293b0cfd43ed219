"""Correlated / anticorrelated feature sets: joint statistics of the sampler, config checks, training recipe."""

import numpy as np
import pytest
import torch

from lib.core.fit import fit
from lib.core.sampling import SharedSparseUniform, SparseUniform
from lib.core.training import TrainConfig
from lib.tms.config import FeatureSetsConfig, ToyModelConfig
from lib.tms.data import FeatureSets

N = 40_000


def five_sigma(p, n):
    return 5 * np.sqrt(p * (1 - p) / n) + 1e-9


@pytest.fixture(scope="module")
def mixed():
    """Instance 0 and 1 with different probabilities; sets: correlated 3, anticorrelated 4, independent 2."""
    p = np.array([[0.3, 0.4, 0.2], [0.05, 0.8, 0.6]])
    x = FeatureSets(
        [3, 4, 2], ["correlated", "anticorrelated", "independent"], p, seed=5
    )(N)
    return p, x.numpy()


def test_shape_and_values(mixed):
    _, x = mixed
    assert x.shape == (N, 2, 9)
    nz = x[x != 0]
    assert nz.min() > 0 and nz.max() < 1
    assert abs(nz.mean() - 0.5) < 0.01 and abs(nz.var() - 1 / 12) < 0.005


def test_correlated_set_is_all_zero_or_all_active(mixed):
    p, x = mixed
    active = x[..., 0:3] != 0  # [N, I, 3]
    assert np.all(active.all(-1) | ~active.any(-1))  # never a mixed pattern
    rate = active[..., 0].mean(0)
    assert np.all(np.abs(rate - p[:, 0]) <= five_sigma(p[:, 0], N))
    # the values of co-active members are independent draws (correlation ~ 0)
    both = active[:, 0, 0]
    corr = np.corrcoef(x[both, 0, 0], x[both, 0, 1])[0, 1]
    assert abs(corr) < 5 / np.sqrt(both.sum())


def test_anticorrelated_set_has_at_most_one_active_member(mixed):
    p, x = mixed
    count = (x[..., 3:7] != 0).sum(-1)  # [N, I]
    assert count.max() == 1
    rate = (count == 1).mean(0)
    assert np.all(np.abs(rate - p[:, 1]) <= five_sigma(p[:, 1], N))
    # the active member is uniform over the 4 members
    member_rate = (x[..., 3:7] != 0).mean(0)  # [I, 4]
    expected = p[:, 1:2] / 4
    assert np.all(np.abs(member_rate - expected) <= five_sigma(expected, N))


def test_independent_set_and_sets_are_mutually_independent(mixed):
    p, x = mixed
    a = x[..., 7] != 0
    b = x[..., 8] != 0
    assert np.all(np.abs(a.mean(0) - p[:, 2]) <= five_sigma(p[:, 2], N))
    assert np.all(np.abs((a & b).mean(0) - p[:, 2] ** 2) <= five_sigma(p[:, 2] ** 2, N))
    corr_active = x[..., 0] != 0
    anti_active = (x[..., 3:7] != 0).any(-1)
    joint = (corr_active & anti_active).mean(0)
    expected = p[:, 0] * p[:, 1]
    assert np.all(np.abs(joint - expected) <= five_sigma(expected, N))


def test_seeded_and_resumable():
    p = np.full((2, 2), 0.3)
    make = lambda seed: FeatureSets([2, 2], "correlated", p, seed=seed)
    assert torch.equal(make(1)(16), make(1)(16))
    assert not torch.equal(make(1)(16), make(2)(16))
    s = make(3)
    state = s.state_dict()
    first = s(8)
    s.load_state_dict(state)
    assert torch.equal(first, s(8))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(set_sizes=[2, 0], kinds="correlated"), "set_sizes"),
        (dict(set_sizes=[2, 2], kinds=["correlated"]), "kinds"),
        (dict(set_sizes=[2, 2], kinds=["correlated", "together"]), "kinds"),
        (
            dict(
                set_sizes=[2, 2],
                kinds="correlated",
                set_probability=np.full((1, 2), 1.5),
            ),
            "set_probability",
        ),
        (
            dict(
                set_sizes=[2, 2],
                kinds="correlated",
                set_probability=np.full((1, 3), 0.5),
            ),
            "set_probability",
        ),
    ],
)
def test_bad_sampler_arguments(kwargs, match):
    kwargs.setdefault("set_probability", np.full((1, 2), 0.5))
    with pytest.raises(ValueError, match=match):
        FeatureSets(**kwargs)


def test_config_validates_and_broadcasts():
    cfg = FeatureSetsConfig(
        [2, 2, 2],
        "correlated",
        n_hidden=2,
        n_instances=4,
        set_probability=[0.1, 0.2, 0.3, 0.4],
    )
    assert cfg.n_features == 6 and cfg.set_probability_matrix.shape == (4, 3)
    assert np.allclose(cfg.set_probability_matrix[:, 0], [0.1, 0.2, 0.3, 0.4])
    assert cfg.importance_matrix.shape == (4, 6)
    with pytest.raises(ValueError, match="set_probability"):
        FeatureSetsConfig([2, 2], "correlated", n_hidden=2, set_probability=0.0)
    with pytest.raises(ValueError, match="n_hidden"):
        FeatureSetsConfig([2, 2], "correlated", n_hidden=0)
    with pytest.raises(ValueError, match="importance"):
        FeatureSetsConfig([2, 2], "anticorrelated", n_hidden=1, importance=-1.0)


def test_training_recipe_learns_antipodal_anticorrelated_pair():
    # two anticorrelated features in one dimension: the ideal solution is an antipodal pair
    cfg = FeatureSetsConfig(
        [2], "anticorrelated", n_hidden=1, n_instances=2, set_probability=0.3
    )
    run = fit(
        cfg,
        TrainConfig(steps=600, batch_size=128, lr=2e-2),
        device="cpu",
        progress=False,
        eval_batches=2,
    )
    W = run.model.W.detach()[..., 0]
    assert (
        run.eval_loss.shape == (2,)
        and run.history.loss[-1].mean() < run.history.loss[0].mean()
    )
    assert torch.all(W[:, 0] * W[:, 1] < -0.5)  # opposite signs, both represented


def test_shared_sparse_uniform_couples_instances_but_keeps_marginals():

    p = np.array([[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]])
    x = SharedSparseUniform(p, seed=2)(N).numpy()
    rate = (x != 0).mean(0)  # [I, n]
    assert np.all(np.abs(rate - p) <= five_sigma(p, N))
    # common random numbers: whenever the sparser instance is active, the denser one is too, with the same value
    active0 = x[:, 0] != 0
    assert np.all(x[:, 1][active0] == x[:, 0][active0])
    with pytest.raises(ValueError, match="feature_probability"):
        SharedSparseUniform(np.array([0.5, 0.5]))


def test_configs_build_the_data_they_describe():
    assert isinstance(
        ToyModelConfig(4, 2, 2, feature_probability=0.1).build_sampler(), SparseUniform
    )
    assert isinstance(
        ToyModelConfig(4, 2, 2).build_sampler(shared=True), SharedSparseUniform
    )
    sets = FeatureSetsConfig([2, 2], "anticorrelated", 2)
    assert isinstance(sets.build_sampler(), FeatureSets)
    with pytest.raises(ValueError, match="shared"):
        sets.build_sampler(shared=True)


def test_initial_weights_start_the_chosen_instances():

    cfg = ToyModelConfig(3, 2, 3, feature_probability=0.1)
    W0 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    tiny = TrainConfig(steps=1, batch_size=8, lr=1e-6)
    model = fit(cfg, tiny, initial={"W": {1: W0}}, device="cpu", progress=False).model
    assert torch.allclose(
        model.W[1].detach(), torch.tensor(W0, dtype=torch.float32), atol=1e-4
    )
    assert not torch.allclose(
        model.W[0].detach(), torch.tensor(W0, dtype=torch.float32), atol=1e-1
    )
    with pytest.raises(ValueError, match="initial"):
        fit(cfg, tiny, initial={"W": {3: W0}}, device="cpu", progress=False)
    with pytest.raises(ValueError, match="initial"):
        fit(cfg, tiny, initial={"W": {0: W0[:2]}}, device="cpu", progress=False)
    with pytest.raises(ValueError, match="not a parameter"):
        fit(cfg, tiny, initial={"V": {0: W0}}, device="cpu", progress=False)


def test_feature_sets_marginal_probability_matches_the_sampler():
    config = FeatureSetsConfig([2, 3, 2], ["correlated", "anticorrelated", "independent"], 2,
                               n_instances=2, set_probability=np.array([[0.3, 0.6, 0.2],
                                                                        [0.1, 0.9, 0.5]]))
    p = config.feature_probability_matrix
    assert p.shape == (2, 7)
    assert np.allclose(p[0], [0.3, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2])
    x = config.build_sampler(seed=1)(N).numpy()
    rate = (x != 0).mean(0)
    assert np.all(np.abs(rate - p) <= five_sigma(p, N))

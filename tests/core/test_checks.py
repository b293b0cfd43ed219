"""Bad parameters fail at once, with a ValueError that names the parameter."""

import numpy as np
import pytest
import torch

from lib.core.checks import resolve_device
from lib.core.features import importance_decay
from lib.core.sampling import SparseUniform
from lib.core.training import TrainConfig
from lib.tms.config import ToyModelConfig
from lib.tms.model import ToyModel

BAD_TOY = [
    (dict(n_features=0, n_hidden=2), "n_features"),
    (dict(n_features=5, n_hidden=-1), "n_hidden"),
    (dict(n_features=5.5, n_hidden=2), "n_features"),
    (dict(n_features=5, n_hidden=2, n_instances=0), "n_instances"),
    (dict(n_features=5, n_hidden=2, feature_probability=0.0), "feature_probability"),
    (dict(n_features=5, n_hidden=2, feature_probability=1.5), "feature_probability"),
    (dict(n_features=5, n_hidden=2, feature_probability=-0.1), "feature_probability"),
    (
        dict(n_features=5, n_hidden=2, feature_probability=float("nan")),
        "feature_probability",
    ),
    (
        dict(n_features=5, n_hidden=2, n_instances=3, feature_probability=[0.1, 0.2]),
        "feature_probability",
    ),
    (dict(n_features=5, n_hidden=2, importance=[1.0, 0.5, 0.2]), "importance"),
    (dict(n_features=5, n_hidden=2, importance=np.ones((2, 5))), "importance"),
    (dict(n_features=5, n_hidden=2, importance=-1.0), "importance"),
    (dict(n_features=5, n_hidden=2, activation="tanh"), "activation"),
    (dict(n_features=5, n_hidden=5, require_superposition=True), "n_hidden"),
    (
        dict(
            n_features=4,
            n_hidden=2,
            n_instances=4,
            feature_probability=[0.1, 0.2, 0.3, 0.4],
        ),
        "ambiguous",
    ),
]


@pytest.mark.parametrize("kwargs, name", BAD_TOY)
def test_bad_toy_config_names_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ToyModelConfig(**kwargs)


BAD_TRAIN = [
    (dict(steps=0), "steps"),
    (dict(batch_size=-4), "batch_size"),
    (dict(lr=0), "lr"),
    (dict(lr=float("inf")), "lr"),
    (dict(optimizer="sgd"), "optimizer"),
    (dict(schedule="linear"), "schedule"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(schedule="warmup", warmup_steps=0), "warmup_steps"),
    (dict(steps=10, schedule="warmup_cosine", warmup_steps=10), "warmup_steps"),
    (dict(log_every=0), "log_every"),
]


@pytest.mark.parametrize("kwargs, name", BAD_TRAIN)
def test_bad_train_config_names_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("device", ["tpu", "gpu", "cuda:banana", 3])
def test_unknown_device(device):
    with pytest.raises(ValueError, match="device"):
        resolve_device(device)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the error raised when CUDA is absent"
)
def test_cuda_requested_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_auto_device_resolves():
    assert resolve_device("auto").type == (
        "cuda" if torch.cuda.is_available() else "cpu"
    )


def test_bad_sampler_and_model_arguments():
    with pytest.raises(ValueError, match="feature_probability"):
        SparseUniform(np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="high must be > low"):
        SparseUniform(np.full((2, 3), 0.5), low=1, high=0)
    with pytest.raises(ValueError, match="activation"):
        ToyModel(5, 2, activation="gelu")
    with pytest.raises(ValueError, match="instance_ids"):
        ToyModel(5, 2, 3, instance_ids=[0, 1])


def test_good_config_broadcasts():
    cfg = ToyModelConfig(
        6,
        2,
        n_instances=3,
        feature_probability=[1.0, 0.1, 0.01],
        importance=importance_decay(6, 0.9),
    )
    assert cfg.feature_probability_matrix.shape == (3, 6)
    assert np.allclose(cfg.feature_probability_matrix[:, 0], [1.0, 0.1, 0.01])
    assert np.allclose(cfg.importance_matrix[1], 0.9 ** np.arange(6))

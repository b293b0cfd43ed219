"""The sparse-uniform sampler: density, value range, per-instance/per-feature probabilities, seeding."""

import numpy as np
import pytest
import torch

from lib.core.sampling import SparseUniform
from lib.core.seeds import instance_seed


def test_shape_density_and_values_per_instance():
    p = np.array([[1.0] * 4, [0.3] * 4, [0.05] * 4])
    x = SparseUniform(p, seed=0)(20_000)
    assert x.shape == (20_000, 3, 4) and x.dtype == torch.float32
    density = (x != 0).float().mean(dim=(0, 2)).numpy()
    # binomial standard error of the density estimate over 80k draws, 5 sigma
    se = np.sqrt(p[:, 0] * (1 - p[:, 0]) / 80_000)
    assert np.all(np.abs(density - p[:, 0]) <= 5 * se + 1e-9)
    nz = x[x != 0]
    assert nz.min() >= 0 and nz.max() <= 1
    # active values are U[0, 1]: mean 1/2, variance 1/12
    assert abs(nz.mean().item() - 0.5) < 0.01
    assert abs(nz.var().item() - 1 / 12) < 0.005


def test_per_feature_probability():
    p = np.array([[0.9, 0.5, 0.1, 0.02]])
    x = SparseUniform(p, seed=1)(50_000)
    density = (x != 0).float().mean(dim=0)[0].numpy()
    se = np.sqrt(p[0] * (1 - p[0]) / 50_000)
    assert np.all(np.abs(density - p[0]) <= 5 * se)


def test_signed_values():
    x = SparseUniform(np.full((1, 10), 0.5), low=-1, high=1, seed=2)(10_000)
    nz = x[x != 0]
    assert nz.min() >= -1 and nz.max() <= 1
    assert abs(nz.mean().item()) < 0.02
    assert abs(nz.var().item() - 1 / 3) < 0.01


def test_seeded_streams_repeat_and_differ():
    p = np.full((2, 5), 0.3)
    a, b, c = (
        SparseUniform(p, seed=7),
        SparseUniform(p, seed=7),
        SparseUniform(p, seed=8),
    )
    xa, xb, xc = a(64), b(64), c(64)
    assert torch.equal(xa, xb)
    assert not torch.equal(xa, xc)


def test_state_dict_roundtrip_resumes_stream():
    s = SparseUniform(np.full((1, 3), 0.5), seed=3)
    state = s.state_dict()
    first = s(8)
    s.load_state_dict(state)
    assert torch.equal(first, s(8))


def test_instance_seed_depends_only_on_seed_and_id():
    assert instance_seed(0, 5) == instance_seed(0, 5)
    assert len({instance_seed(s, k) for s in range(4) for k in range(50)}) == 200


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        SparseUniform(np.full((1, 3), 0.5))(0)

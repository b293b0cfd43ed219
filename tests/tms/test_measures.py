"""Metrics on geometries whose answers are known in closed form."""

import math

import numpy as np
import pytest
import torch

from lib.tms.measures import (
    antipodal_partners,
    dimensions_per_feature,
    feature_dimensionality,
    feature_norms,
    interference,
    represented,
)


def regular_polygon(k: int) -> torch.Tensor:
    angles = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def tetrahedron() -> torch.Tensor:
    v = torch.tensor(
        [[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64
    )
    return v / math.sqrt(3)


def test_orthogonal_features_have_dimensionality_one():
    W = torch.eye(4, dtype=torch.float64)[:, :4]
    assert torch.allclose(feature_dimensionality(W), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(interference(W), torch.zeros(4, dtype=torch.float64))
    assert dimensions_per_feature(W).item() == pytest.approx(1.0)


def test_antipodal_pair_has_dimensionality_one_half():
    W = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    D = feature_dimensionality(W)
    assert torch.allclose(D, torch.tensor([0.5, 0.5, 1.0], dtype=torch.float64))
    assert interference(W)[0].item() == pytest.approx(1.0)
    assert antipodal_partners(W).tolist() == [1, 0, -1]


@pytest.mark.parametrize("k, expected", [(3, 2 / 3), (5, 2 / 5)])
def test_regular_polygon_dimensionality(k, expected):
    D = feature_dimensionality(regular_polygon(k))
    assert torch.allclose(D, torch.full((k,), expected, dtype=torch.float64))


def test_tetrahedron_in_3d_has_dimensionality_three_quarters():
    D = feature_dimensionality(tetrahedron())
    assert torch.allclose(D, torch.full((4,), 0.75, dtype=torch.float64))


def test_scale_invariance_and_unlearned_features():
    W = torch.cat([2.5 * regular_polygon(5), torch.zeros(2, 2, dtype=torch.float64)])
    D = feature_dimensionality(W)
    assert torch.allclose(D[:5], torch.full((5,), 0.4, dtype=torch.float64))
    assert torch.all(D[5:] == 0)
    assert represented(W).tolist() == [True] * 5 + [False] * 2


def test_instance_axis_is_kept():
    W = torch.stack([regular_polygon(5), 2 * regular_polygon(5)])  # [2, 5, 2]
    assert feature_norms(W).shape == (2, 5)
    assert dimensions_per_feature(W).shape == (2,)
    # D* = m / ||W||_F^2 = 2 / 5 for unit norms, 2 / 20 for norm 2
    assert np.allclose(dimensions_per_feature(W).numpy(), [0.4, 0.1])


def test_interference_counts_projection_onto_own_direction():
    W = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    # feature 0: (W0_hat . W1)^2 = 0.25; feature 1: (W1_hat . W0)^2 = (0.5/sqrt(0.5))^2 = 0.5
    assert torch.allclose(
        interference(W), torch.tensor([0.25, 0.5], dtype=torch.float64)
    )


def test_pentagon_is_not_antipodal():
    assert (antipodal_partners(regular_polygon(5)) == -1).all()
    # a digon next to an orthogonal third feature: only the digon pairs up
    square = regular_polygon(4)  # two antipodal pairs, orthogonal to each other
    assert antipodal_partners(square).tolist() == [2, 3, 0, 1]

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


def test_mean_predictor_loss_is_the_weighted_variance():
    from lib.tms.measures import mean_predictor_loss

    p = torch.tensor([[1.0, 0.5], [0.1, 0.1]], dtype=torch.float64)
    loss = mean_predictor_loss(p, torch.tensor([1.0, 2.0], dtype=torch.float64))
    var = p / 3 - p**2 / 4
    assert torch.allclose(loss, (var * torch.tensor([1.0, 2.0])).mean(-1))
    # Monte-Carlo check of the variance of a sparse uniform feature
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(200_000, generator=g) < 0.3) * torch.rand(200_000, generator=g)
    assert mean_predictor_loss(torch.tensor([0.3])).item() == pytest.approx(x.var().item(), rel=0.02)
    with pytest.raises(ValueError, match="feature_probability"):
        mean_predictor_loss(torch.tensor([1.5]))


def test_dead_outputs_never_turn_on():
    from lib.tms.measures import dead_outputs

    W = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.1]], dtype=torch.float64)
    # output 2: at most 0.01 + b; dead with b = -0.02, alive with b = 0
    assert dead_outputs(W, torch.tensor([0.0, 0.0, -0.02])).tolist() == [False, False, True]
    assert not dead_outputs(W, torch.zeros(3)).any()
    # a brute-force check over the corners of [0, 1]^3
    b = torch.tensor([-0.5, -1.2, -0.005], dtype=torch.float64)
    corners = torch.tensor([[i >> k & 1 for k in range(3)] for i in range(8)], dtype=torch.float64)
    on = ((corners @ W @ W.T + b) > 0).any(0)
    assert dead_outputs(W, b).tolist() == (~on).tolist()


def test_partner_cosines_and_the_principal_share():
    from lib.tms.measures import partner_cosines, set_sum_directions, share_in_span

    collapsed = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    side_by_side = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    assert partner_cosines(collapsed, [2, 2]).tolist() == [1.0, 1.0]
    assert partner_cosines(side_by_side, [2, 2]).tolist() == [0.0, 0.0]
    U = set_sum_directions([2, 2])
    assert torch.allclose(U @ U.T, torch.eye(2, dtype=torch.float64))
    # collapsed pairs live in the span of the pair sums; side-by-side pairs only half
    assert share_in_span(collapsed, U).item() == pytest.approx(1.0)
    assert share_in_span(side_by_side, U).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="set_sizes"):
        partner_cosines(collapsed, [1, 3])
# ---- chapter 1: superposed, dead outputs, top-m deviation, 2-D geometry, controls
from lib.tms.measures import (  # noqa: E402
    angular_gaps,
    dead_outputs,
    output_ceiling,
    polygon_deviation,
    random_spread,
    superposed,
    top_m_deviation,
)


def test_superposed_separates_pairs_from_dedicated_and_unlearned():
    W = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 0.1]], dtype=torch.float64)
    # features 0, 1 share a dimension; 2 is dedicated (0.1^2 = 0.01 of interference); 3 unlearned
    assert superposed(W).tolist() == [True, True, False, False]


def test_dead_outputs_use_the_supremum_over_the_unit_cube():
    W = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([-0.5, -1.5, 0.0], dtype=torch.float64)
    # output 0: b + relu(G[0]) = -0.5 + 1 = 0.5 > 0; output 1: -1.5 + 1 < 0; output 2: exactly 0
    assert torch.allclose(output_ceiling(W, b), torch.tensor([0.5, -0.5, 0.0], dtype=torch.float64))
    assert dead_outputs(W, b).tolist() == [False, True, True]
    # brute force over the corners of the cube agrees
    corners = torch.tensor([[a, c, d] for a in (0, 1) for c in (0, 1) for d in (0, 1)], dtype=torch.float64)
    pre = corners @ (W @ W.T) + b
    assert torch.allclose(pre.max(0).values, output_ceiling(W, b))


def test_top_m_deviation_is_zero_at_the_linear_optimum_only():
    W = torch.zeros(6, 3, dtype=torch.float64)
    W[:3] = torch.eye(3)
    assert top_m_deviation(W, 3).item() == 0
    W[4, 0] = 0.2
    assert top_m_deviation(W, 3).item() == pytest.approx(0.2)
    W[1] *= 0.7
    assert top_m_deviation(W, 3).item() == pytest.approx(0.3)
    assert top_m_deviation(torch.stack([W, W]), 3).shape == (2,)
    with pytest.raises(ValueError, match="m must be"):
        top_m_deviation(W, 0)


def test_angular_gaps_and_polygon_deviation():
    pent = regular_polygon(5)
    assert torch.allclose(angular_gaps(pent), torch.full((5,), 72.0, dtype=torch.float64))
    assert polygon_deviation(pent, 5) == pytest.approx(0.0, abs=1e-9)
    assert polygon_deviation(pent, 4) == float("inf")  # five represented, not four
    square_plus_short = torch.cat([regular_polygon(4), 0.1 * regular_polygon(5)[:1]])
    assert angular_gaps(square_plus_short).sum().item() == pytest.approx(360.0)
    assert polygon_deviation(square_plus_short, 4) == pytest.approx(0.0, abs=1e-9)
    bent = pent.clone()
    bent[0] = torch.tensor([math.cos(0.2), math.sin(0.2)])  # vertex 0 moved by 11.46 degrees
    assert polygon_deviation(bent, 5) == pytest.approx(math.degrees(0.2), rel=1e-6)
    with pytest.raises(ValueError, match="m = 2"):
        angular_gaps(torch.ones(3, 3))


def test_random_spread_keeps_norms_and_breaks_geometry():
    W = torch.cat([regular_polygon(4), torch.zeros(1, 2, dtype=torch.float64)]).repeat(1, 1)
    W = torch.cat([W, torch.zeros(5, 3, dtype=torch.float64)], dim=1)  # [5, 5]: a square in 5-D
    R = random_spread(W, seed=1)
    assert torch.allclose(feature_norms(R), feature_norms(W))
    assert torch.equal(R, random_spread(W, seed=1)) and not torch.equal(R, random_spread(W, seed=2))
    assert (antipodal_partners(W) >= 0).sum() == 4
    assert (antipodal_partners(R) >= 0).sum() == 0

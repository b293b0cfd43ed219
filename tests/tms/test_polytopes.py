"""Chapter 3 geometry: leverage scores, tegum factors and polytope names on exact constructions."""

import math

import numpy as np
import pytest
import torch

from lib.tms import polytopes
from lib.tms.measures import feature_dimensionality
from lib.tms.polytopes import (
    _square_antiprism,
    identify_polytope,
    leverage_scores,
    numerical_rank,
    polytope_census,
    polytope_dimensionality,
    tegum_factors,
)


def embed(blocks: list[np.ndarray], m: int | None = None) -> torch.Tensor:
    """Tegum product: put each block [k_b, r_b] in its own orthogonal coordinates; return [Σk, m]."""
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    W = np.zeros((rows, max(cols, m or 0)))
    i = j = 0
    for b in blocks:
        W[i : i + b.shape[0], j : j + b.shape[1]] = b
        i, j = i + b.shape[0], j + b.shape[1]
    return torch.tensor(W)


def random_rotation(m: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(
            m, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
        )
    )
    return q


@pytest.mark.parametrize("name", list(polytopes.POLYTOPES))
def test_every_template_identifies_itself_after_rotation_scaling_and_shuffling(name):
    v = torch.tensor(polytopes.POLYTOPES[name])
    k, r = v.shape
    m = r + 2
    W = embed([v.numpy()], m) @ random_rotation(m, k) * 1.3
    W = W[torch.randperm(k, generator=torch.Generator().manual_seed(0))]
    found, err = identify_polytope(W)
    assert found == name and err < 1e-9
    factors = tegum_factors(W)
    assert [f.name for f in factors] == [name]
    assert factors[0].rank == r and factors[0].size == k
    assert (
        factors[0].dimensionality
        == pytest.approx(r / k)
        == pytest.approx(factors[0].ideal)
    )


def test_tegum_product_of_triangle_and_digon_splits_into_two_factors():
    # the triangular bipyramid: a triangle in a plane and a digon on the axis orthogonal to it
    tri, digon = polytopes.POLYTOPES["triangle"], polytopes.POLYTOPES["digon"]
    W = embed([tri, digon]) @ random_rotation(3, 1)
    D = feature_dimensionality(W)
    # a split line (2/3 and 1/2), not the 3/5 a uniform 5-vertex polytope in 3-D would give
    assert torch.allclose(
        D, torch.tensor([2 / 3] * 3 + [1 / 2] * 2, dtype=torch.float64)
    )
    factors = tegum_factors(W)
    assert [(f.name, f.features, f.rank) for f in factors] == [
        ("triangle", (0, 1, 2), 2),
        ("digon", (3, 4), 1),
    ]
    assert factors[0].dimensionality == pytest.approx(2 / 3) and factors[
        1
    ].dimensionality == pytest.approx(0.5)
    assert polytope_census(factors) == {"digon": 1, "triangle": 1}


def test_noisy_tegum_product_with_unlearned_and_dedicated_features():
    blocks = [
        polytopes.POLYTOPES[n]
        for n in ("pentagon", "tetrahedron", "triangle", "digon", "dedicated")
    ]
    W = embed(blocks, 10)  # 2 + 3 + 2 + 1 + 1 = 9 dims used of 10
    gen = torch.Generator().manual_seed(3)
    W = torch.cat(
        [W, 0.05 * torch.randn(4, 10, generator=gen, dtype=torch.float64)]
    )  # 4 unlearned features
    norms = 1 + 0.1 * torch.rand(
        W.shape[0], 1, generator=gen, dtype=torch.float64
    )  # off the unit sphere
    W = (
        W * norms + 0.02 * torch.randn(W.shape, generator=gen, dtype=torch.float64)
    ) @ random_rotation(10, 2)
    factors = tegum_factors(W)
    assert sorted(f.name for f in factors) == sorted(
        ["pentagon", "tetrahedron", "triangle", "digon", "dedicated"]
    )
    by_name = {f.name: f for f in factors}
    assert by_name["pentagon"].features == (0, 1, 2, 3, 4)
    assert by_name["dedicated"].features == (14,)
    assert all(f.error < 0.1 for f in factors)
    for f in factors:
        assert f.dimensionality == pytest.approx(f.ideal, abs=0.05)
    assert sum(f.size for f in factors) == 15  # unlearned features belong to no factor


def test_distorted_polytopes_are_other():
    angles = (
        np.array([0, 60, 150, 220, 290]) * np.pi / 180
    )  # five points, far from regular
    pent = np.stack([np.cos(angles), np.sin(angles)], 1)
    assert identify_polytope(pent)[0] == "other"
    # two features at 90 degrees are two separate dedicated factors, at 45 degrees one 'other' factor
    assert [f.name for f in tegum_factors(torch.eye(2, dtype=torch.float64))] == [
        "dedicated"
    ] * 2
    v = torch.tensor(
        [[1.0, 0.0], [math.cos(math.pi / 4), math.sin(math.pi / 4)]],
        dtype=torch.float64,
    )
    assert [f.name for f in tegum_factors(v)] == ["other"]


def test_square_antiprism_of_any_height_and_cube_are_told_apart():
    flat = _square_antiprism(0.28)  # the shape trained m = 3 models find
    assert identify_polytope(flat)[0] == "square antiprism"
    assert identify_polytope(torch.tensor(polytopes.POLYTOPES["cube"]))[0] == "cube"
    # the family's D_i depend on the height; only the isotropic member sits exactly on 3/8
    D = feature_dimensionality(torch.tensor(flat))
    assert torch.all((D - 3 / 8).abs() < 0.02) and not torch.allclose(
        D, torch.full((8,), 3 / 8, dtype=torch.float64)
    )


def test_rank_decides_between_polytopes_with_equal_cosines_lists():
    # a digon lives in one dimension: two antipodal features plus noise still have rank 1
    W = torch.tensor([[1.0, 0.01], [-1.0, 0.02]], dtype=torch.float64)
    assert numerical_rank(W) == 1 and identify_polytope(W)[0] == "digon"
    # a hexagon is not a triangle even though every row contains the triangle's -1/2 cosines
    assert (
        identify_polytope(torch.tensor(polytopes.POLYTOPES["hexagon"]))[0] == "hexagon"
    )


def test_leverage_scores_sum_to_rank_and_equal_dimensionality_for_uniform_polytopes():
    W = embed([polytopes.POLYTOPES["pentagon"], polytopes.POLYTOPES["tetrahedron"]])
    tau = leverage_scores(W)
    assert tau.sum().item() == pytest.approx(5.0)
    assert torch.allclose(tau, feature_dimensionality(W))
    # a non-isotropic set: leverage still sums to the rank, D_i does not
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(3, 12, 4, generator=gen, dtype=torch.float64)  # instance axis kept
    tau = leverage_scores(W)
    assert tau.shape == (3, 12)
    assert torch.allclose(tau.sum(-1), torch.full((3,), 4.0, dtype=torch.float64))
    assert torch.all(tau <= 1 + 1e-12) and torch.all(tau >= 0)
    # an orthogonal feature has leverage 1
    W = torch.tensor(
        [[1.0, 0, 0], [0, 1.0, 0.0], [0, -1.0, 0], [0, 0, 0]], dtype=torch.float64
    )
    assert leverage_scores(W).tolist() == pytest.approx([1.0, 0.5, 0.5, 0.0])


def test_polytope_dimensionalities_are_the_papers_lines():
    lines = {
        n: polytope_dimensionality(n)
        for n in (
            "dedicated",
            "tetrahedron",
            "triangle",
            "digon",
            "pentagon",
            "square antiprism",
        )
    }
    assert lines == pytest.approx(
        {
            "dedicated": 1,
            "tetrahedron": 3 / 4,
            "triangle": 2 / 3,
            "digon": 1 / 2,
            "pentagon": 2 / 5,
            "square antiprism": 3 / 8,
        }
    )
    with pytest.raises(ValueError, match="name"):
        polytope_dimensionality("dodecahedron")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="W"):
        tegum_factors(torch.zeros(2, 3, 2))
    with pytest.raises(ValueError, match="cos_threshold"):
        tegum_factors(torch.eye(2), cos_threshold=1.5)
    assert tegum_factors(torch.zeros(3, 2)) == []


def test_plane_geometries_of_the_perturbed_pentagon_and_the_hexagon():
    from lib.tms.polytopes import (
        canonical_2d,
        neighbour_gap,
        pentagon_or_digons,
        polygon_with_adjacent_partners,
    )

    pentagon = torch.tensor(polytopes.POLYTOPES["pentagon"]) @ random_rotation(2, 3)
    assert pentagon_or_digons(pentagon) == "pentagon"
    assert neighbour_gap(pentagon, 0) == pytest.approx(144.0)
    digons = torch.tensor([[0.01, 0.0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float64)
    assert pentagon_or_digons(digons) == "two digons"
    assert pentagon_or_digons(torch.cat([digons[1:], digons[1:2]])) == "other"
    W = canonical_2d(pentagon)
    assert W[0, 0].item() == pytest.approx(0.0, abs=1e-12) and W[0, 1] > 0 and W[1, 0] > 0
    assert torch.allclose(W @ W.T, pentagon @ pentagon.T)  # a rotation / reflection
    hexagon = torch.tensor(polytopes.POLYTOPES["hexagon"])  # vertices in angular order
    assert polygon_with_adjacent_partners(hexagon, [2, 2, 2])
    assert not polygon_with_adjacent_partners(hexagon[[0, 2, 1, 3, 4, 5]], [2, 2, 2])
    with pytest.raises(ValueError, match="m = 2"):
        neighbour_gap(torch.ones(5, 3), 0)


def test_factor_names_and_features_per_polytope():
    from lib.tms.polytopes import factor_names, features_per_polytope

    tri, digon = polytopes.POLYTOPES["triangle"], polytopes.POLYTOPES["digon"]
    W = torch.cat([embed([tri, digon]), torch.zeros(2, 3, dtype=torch.float64)])
    factors = tegum_factors(W)
    assert factor_names(factors, 7).tolist() == ["triangle"] * 3 + ["digon"] * 2 + [""] * 2
    assert features_per_polytope(factors) == {"digon": 2, "triangle": 3}


@pytest.mark.parametrize("k, name", [(2, "digon"), (3, "triangle"), (4, "tetrahedron"),
                                     (5, "5-cell")])
def test_projecting_the_basis_orthogonal_to_the_dense_direction_gives_a_regular_simplex(k, name):
    # TMS "Polytopes and Low-Rank Matrices": W ⊥ (1, 1, ..., 1) gives a regular simplex,
    # "minimal superposition"; rows of the projector are the projected basis vectors
    projector = torch.eye(k, dtype=torch.float64) - 1.0 / k
    assert identify_polytope(projector)[0] == name
    assert torch.allclose(feature_dimensionality(projector),
                          torch.full((k,), (k - 1) / k, dtype=torch.float64))


@pytest.mark.parametrize("height2", [0.1, 0.25, 1 / 3, 0.45, 0.7])
def test_square_antiprisms_reach_three_eighths_only_when_isotropic(height2):
    # every vertex of an antiprism is alike, so D_i = sum_j D_j / 8 <= rank / 8 = 3/8,
    # with equality only for the isotropic height h^2 = 1/3
    D = feature_dimensionality(torch.tensor(_square_antiprism(height2)))
    assert torch.allclose(D, D[0].expand(8))
    if math.isclose(height2, 1 / 3):
        assert D[0].item() == pytest.approx(3 / 8)
    else:
        assert D[0].item() < 3 / 8 - 1e-3

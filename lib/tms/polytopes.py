"""Leverage scores, tegum factors and the polytopes they form (TMS, "The Geometry of
Superposition").

``W: [..., n, m]`` as in ``lib.tms.measures``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.tensors import EPS, as_float64
from .measures import cosine_similarity, feature_dimensionality, represented


def leverage_scores(W, rtol: float = 1e-6) -> torch.Tensor:
    """Leverage score τ_i of every feature direction: ``[..., n, m] -> [..., n]``.

    τ_i = max_x (W_i · x)² / Σ_j (W_j · x)² = W_i (WᵀW)⁺ W_iᵀ: the diagonal of the
    projector onto the span of the columns of W (rows of W are features). It lies in
    [0, 1], is 1 for a feature orthogonal to all others, and the τ_i sum to rank(W)
    exactly. Singular values below ``rtol`` × the largest count as zero.
    """
    W = as_float64(W)
    U, s, _ = torch.linalg.svd(W, full_matrices=False)  # U: [..., n, r], s: [..., r]
    keep = s > rtol * s.amax(dim=-1, keepdim=True).clamp_min(EPS)
    return (U.pow(2) * keep[..., None, :]).sum(dim=-1)


def _regular_polygon(k: int) -> np.ndarray:
    angles = 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _regular_simplex(k: int) -> np.ndarray:
    """k unit vectors in k-1 dimensions with pairwise cosine -1/(k-1): e_i - mean, in
    the plane ⊥ (1,...,1).
    """
    centred = np.eye(k) - 1.0 / k
    U, s, _ = np.linalg.svd(centred)
    coords = U[:, : k - 1] * s[: k - 1]
    return coords / np.linalg.norm(coords, axis=1, keepdims=True)


def _square_antiprism(height2: float = 1 / 3) -> np.ndarray:
    """Two squares at heights ±h on the unit sphere, the second turned by 45°; ``height2`` = h².

    The default h² = 1/3 (radius √(2/3)) is the isotropic one, Σ_i W_iᵀW_i ∝ identity, so
    each vertex has dimensionality exactly 3/8 (the paper's 3/8 line). Other heights give
    the rest of the family (the Thomson problem's 8-point solution is one of them).
    """
    r, h = math.sqrt(1 - height2), math.sqrt(height2)
    top = [(r * math.cos(a), r * math.sin(a), h) for a in np.pi / 2 * np.arange(4)]
    bottom = [(r * math.cos(a), r * math.sin(a), -h) for a in np.pi / 2 * np.arange(4) + np.pi / 4]
    return np.array(top + bottom)


def _icosahedron() -> np.ndarray:
    phi = (1 + math.sqrt(5)) / 2
    v = [(0, s1, s2 * phi) for s1 in (1, -1) for s2 in (1, -1)]
    v = [p for c in v for p in (c, (c[1], c[2], c[0]), (c[2], c[0], c[1]))]
    v = np.array(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _cube() -> np.ndarray:
    v = np.array([(a, b, c) for a in (1, -1) for b in (1, -1) for c in (1, -1)], dtype=np.float64)
    return v / math.sqrt(3)


#: Uniform polytopes a tegum factor is compared against: name -> unit vertices [k, r].
#: Their vertices are all alike, so each feature of one has dimensionality r / k.
#: Tegum products (square = 2 digons, octahedron = 3 digons, triangular bipyramid =
#: triangle + digon, ...) are not listed: ``tegum_factors`` splits them into factors.
#: The square antiprism is a one-parameter family (its height); ``identify_polytope``
#: accepts any member of it (``_FAMILIES``), the isotropic one stands for the family here.
POLYTOPES: dict[str, np.ndarray] = {
    "dedicated": np.ones((1, 1)),
    "digon": np.array([[1.0], [-1.0]]),
    "triangle": _regular_polygon(3),
    "tetrahedron": _regular_simplex(4),
    "pentagon": _regular_polygon(5),
    "5-cell": _regular_simplex(5),
    "hexagon": _regular_polygon(6),
    "heptagon": _regular_polygon(7),
    "square antiprism": _square_antiprism(),
    "cube": _cube(),
    "octagon": _regular_polygon(8),
    "icosahedron": _icosahedron(),
}


#: Polytopes with a free shape parameter: name -> templates over a grid of that parameter.
_FAMILIES: dict[str, list[np.ndarray]] = {
    "square antiprism": [_square_antiprism(h2) for h2 in np.linspace(0.05, 0.95, 91)]
}


def polytope_dimensionality(name: str) -> float:
    """Dimensionality r / k of each vertex of the uniform polytope ``name`` (k vertices
    spanning r dimensions).
    """
    if name not in POLYTOPES:
        raise ValueError(f"name must be one of {list(POLYTOPES)}, got {name!r}")
    k, r = POLYTOPES[name].shape
    return r / k


def _sorted_rows(cos: np.ndarray) -> np.ndarray:
    """Each row's cosines to the other vertices, sorted descending: ``[k, k-1]``."""
    k = cos.shape[0]
    off = cos[~np.eye(k, dtype=bool)].reshape(k, k - 1)
    return -np.sort(-off, axis=1)


def numerical_rank(W, cos_tolerance: float = 0.1) -> int:
    """Rank of the directions ``W: [k, m]`` as seen by ``identify_polytope``.

    Counts the eigenvalues of the k × k cosine matrix (the squared singular values of the
    unit directions) above min((k - 1) × ``cos_tolerance``, 1/2). Changing every cosine
    by at most ``cos_tolerance`` moves each eigenvalue by at most (k - 1) × that (Weyl's
    inequality with the max-row-sum norm), so a configuration within tolerance of a
    polytope has the polytope's rank; the cap at 1/2 (half a feature's squared length
    along a direction) keeps large factors from losing real dimensions. Only
    directions count, not norms.
    """
    W = as_float64(W)
    k = W.shape[0]
    if k == 1:
        return int(W.norm() > EPS)
    eig = torch.linalg.eigvalsh(cosine_similarity(W))
    return int((eig > min((k - 1) * cos_tolerance, 0.5)).sum())


@dataclass
class Factor:
    """One tegum factor of a trained model: features whose directions interfere with each other.

    name            the uniform polytope it matches (``POLYTOPES``), or "other"
    features        indices of its features (rows of W), ascending
    rank            the dimension of the subspace it spans (``numerical_rank``)
    dimensionality  mean D_i of its features, measured on the whole W
    ideal           r / k of the matched polytope (nan for "other")
    error           largest deviation of a cosine from the matched polytope's (nan for "other")
    """

    name: str
    features: tuple[int, ...]
    rank: int
    dimensionality: float
    ideal: float = math.nan
    error: float = math.nan

    @property
    def size(self) -> int:
        return len(self.features)


def identify_polytope(W, *, cos_tolerance: float = 0.1) -> tuple[str, float]:
    """Name the polytope formed by the directions ``W: [k, m]``; return (name, error).

    A polytope of ``POLYTOPES`` matches when it has the same number of vertices k, the
    same rank (``numerical_rank`` with the same tolerance), and every vertex's sorted
    cosines to the other k-1 vertices are within ``cos_tolerance`` of the polytope's (the
    templates are vertex-transitive, so every row must match the same list); for a
    family (the square antiprism, of any height) the best-fitting member counts. The
    error is the largest such deviation. Returns ("other", nan) when nothing matches.
    """
    W = as_float64(W)
    k = W.shape[0]
    rank = numerical_rank(W, cos_tolerance)
    cos = cosine_similarity(W).numpy()
    best, best_err = "other", math.inf
    rows = _sorted_rows(cos) if k > 1 else None
    for name, vertices in POLYTOPES.items():
        if vertices.shape != (k, rank):
            continue
        if k == 1:
            return name, 0.0
        for member in [vertices, *_FAMILIES.get(name, [])]:
            template = _sorted_rows(member @ member.T)[0]
            err = float(np.abs(rows - template[None]).max())
            if err < best_err:
                best, best_err = name, err
    if best_err <= cos_tolerance:
        return best, best_err
    return "other", math.nan


def tegum_factors(
    W, *, norm_threshold: float = 0.5, cos_threshold: float = 0.2, cos_tolerance: float = 0.1
) -> list[Factor]:
    """Split the represented features of one model ``W: [n, m]`` into tegum factors and name each.

    Represented features (‖W_i‖ > ``norm_threshold``) are the nodes of the *interference
    graph*, with an edge between i and j when |cos(W_i, W_j)| > ``cos_threshold``. Its
    connected components are the tegum factors: groups of features that are (nearly)
    orthogonal to every feature outside the group. Each factor is named by
    ``identify_polytope``. Factors are returned largest first.
    """
    W = as_float64(W)
    if W.ndim != 2:
        raise ValueError(f"tegum_factors takes one model's W [n, m], got shape {tuple(W.shape)}")
    if not 0 <= cos_threshold < 1:
        raise ValueError(f"cos_threshold must lie in [0, 1), got {cos_threshold}")
    from scipy.sparse.csgraph import connected_components

    rep = torch.nonzero(represented(W, norm_threshold)).flatten().tolist()
    if not rep:
        return []
    D = feature_dimensionality(W)
    cos = cosine_similarity(W[rep]).numpy()
    _, labels = connected_components(np.abs(cos) > cos_threshold, directed=False)
    factors = []
    for label in np.unique(labels):
        members = [rep[i] for i in np.flatnonzero(labels == label)]
        name, err = identify_polytope(W[members], cos_tolerance=cos_tolerance)
        factors.append(
            Factor(
                name=name,
                features=tuple(members),
                rank=numerical_rank(W[members], cos_tolerance),
                dimensionality=float(D[members].mean()),
                ideal=polytope_dimensionality(name) if name in POLYTOPES else math.nan,
                error=err,
            )
        )
    return sorted(factors, key=lambda f: (-f.size, f.features))


def polytope_census(factors: list[Factor]) -> dict[str, int]:
    """How many factors of each name, ``{"digon": 7, "triangle": 2, ...}``.

    Names in ``POLYTOPES`` order, then "other"; names with no factor are left out.
    """
    counts = {name: 0 for name in [*POLYTOPES, "other"]}
    for f in factors:
        counts[f.name] += 1
    return {k: v for k, v in counts.items() if v}


def factor_names(factors: list[Factor], n_features: int) -> np.ndarray:
    """``[n]`` the name of the factor each feature belongs to ("" if not represented)."""
    names = np.full(int(n_features), "", dtype=object)
    for f in factors:
        names[list(f.features)] = f.name
    return names


def features_per_polytope(factors: list[Factor]) -> dict[str, int]:
    """How many features sit in factors of each name, ``{"digon": 14, "pentagon": 5, ...}``
    (names in ``POLYTOPES`` order, then "other"; names without a feature left out)."""
    counts = {name: 0 for name in [*POLYTOPES, "other"]}
    for f in factors:
        counts[f.name] += f.size
    return {k: v for k, v in counts.items() if v}


def _angles_2d(W) -> np.ndarray:
    W = as_float64(W)
    if W.ndim != 2 or W.shape[1] != 2:
        raise ValueError(f"needs one model's W [n, 2] (m = 2), got shape {tuple(W.shape)}")
    return np.degrees(np.arctan2(W[:, 1].numpy(), W[:, 0].numpy()))


def neighbour_gap(W, feature: int = 0) -> float:
    """Angle in degrees between the two angular neighbours of ``feature``, measured through
    it, for one model ``W: [n, 2]`` (144° for a vertex of a regular pentagon)."""
    theta = _angles_2d(W)
    rel = np.sort((np.delete(theta, feature) - theta[feature]) % 360)
    return float(360 - rel[-1] + rel[0])


def pentagon_or_digons(W, feature: int = 0, **factor_options) -> str:
    """Geometry of five features in a plane, ``W: [5, 2]``: "pentagon" (all five in one
    factor), "two digons" (``feature`` not represented, the other four in two antipodal
    pairs) or "other" (TMS, "Perturbing a Single Feature")."""
    W = as_float64(W)
    if W.shape != (5, 2):
        raise ValueError(f"needs W of shape (5, 2), got {tuple(W.shape)}")
    factors = tegum_factors(W, **factor_options)
    if [f.size for f in factors] == [5]:
        return "pentagon"
    if polytope_census(factors) == {"digon": 2} and not represented(W)[feature]:
        return "two digons"
    return "other"


def canonical_2d(W, anchor: int = 0, second: int = 1) -> torch.Tensor:
    """Rotate and reflect a plane solution ``W: [n, 2]`` so that ``anchor`` points up and
    ``second`` lies to its right (to compare solutions by eye; the paper's
    canonicalisation). If ``anchor`` is not represented, the next feature anchors."""
    W = as_float64(W).clone()
    _angles_2d(W)
    if not represented(W)[anchor]:
        anchor, second = anchor + 1, second + 1
    a = torch.atan2(W[anchor, 1], W[anchor, 0])
    c, s = torch.cos(torch.pi / 2 - a), torch.sin(torch.pi / 2 - a)
    W = W @ torch.stack([torch.stack([c, s]), torch.stack([-s, c])])
    return W * torch.tensor([-1.0 if W[second, 0] < 0 else 1.0, 1.0], dtype=W.dtype)


def polygon_with_adjacent_partners(W, set_sizes) -> bool:
    """Do the features of one plane model ``W: [n, 2]`` form one polygon (a single rank-2
    factor of all n features) in which the two members of each pair are angular
    neighbours? ``set_sizes`` are the consecutive sets, all pairs (e.g. [2, 2, 2]: the
    hexagon of three correlated pairs)."""
    sizes = [int(s) for s in set_sizes]
    if any(s != 2 for s in sizes):
        raise ValueError(f"set_sizes must all be 2 (pairs), got {sizes}")
    theta = _angles_2d(W)
    n = theta.size
    if sum(sizes) != n:
        raise ValueError(f"set_sizes must add up to the {n} features, got {sizes}")
    factors = tegum_factors(W)
    if [f.size for f in factors] != [n] or factors[0].rank != 2:
        return False
    order = list(np.argsort(theta))
    position = {i: k for k, i in enumerate(order)}
    return all((position[i] - position[i + 1]) % n in (1, n - 1) for i in range(0, n, 2))

"""Measures of superposition. Plain tensors in, plain tensors out.

All functions take feature directions ``W: [..., n, m]`` — row i is the direction W_i
of feature i in the m-dimensional hidden space (the paper's column W_i) — with any
number of leading (instance) axes, and return tensors with those axes kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch

_EPS = 1e-12


def _as_tensor(W) -> torch.Tensor:
    W = torch.as_tensor(W)
    return W.detach().to(torch.float64) if W.dtype != torch.float64 else W.detach()


def feature_norms(W) -> torch.Tensor:
    """‖W_i‖: ``[..., n, m] -> [..., n]``. Near 1: represented; near 0: not learned."""
    return _as_tensor(W).norm(dim=-1)


def _projections(W: torch.Tensor) -> torch.Tensor:
    """``[..., n, n]`` with entry (i, j) = Ŵ_i · W_j (zero rows for zero-norm features)."""
    norms = W.norm(dim=-1, keepdim=True)
    unit = W / norms.clamp_min(_EPS)
    return unit @ W.transpose(-1, -2)


def interference(W) -> torch.Tensor:
    """Σ_{j≠i} (Ŵ_i · W_j)²: ``[..., n, m] -> [..., n]``.

    0 when feature i is orthogonal to every other feature; >= 1 when some group of other
    features can activate W_i as strongly as feature i itself.
    """
    W = _as_tensor(W)
    proj2 = _projections(W).pow(2)
    return proj2.sum(dim=-1) - proj2.diagonal(dim1=-2, dim2=-1)


def feature_dimensionality(W) -> torch.Tensor:
    """D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)²: ``[..., n, m] -> [..., n]``.

    The fraction of a dimension feature i gets: 1 for a dedicated dimension, 1/2 for an
    antipodal pair, 2/5 for a pentagon in 2-D, 3/4 for a tetrahedron in 3-D. The sum
    includes j = i. Defined as 0 for a feature with zero norm.
    """
    W = _as_tensor(W)
    norm2 = W.pow(2).sum(dim=-1)
    denom = _projections(W).pow(2).sum(dim=-1)
    return torch.where(norm2 > _EPS, norm2 / denom.clamp_min(_EPS), torch.zeros_like(norm2))


def dimensions_per_feature(W) -> torch.Tensor:
    """D* = m / ‖W‖_F²: ``[..., n, m] -> [...]``; roughly m divided by the number of features learned."""
    W = _as_tensor(W)
    return W.shape[-1] / W.pow(2).sum(dim=(-1, -2)).clamp_min(_EPS)


def represented(W, threshold: float = 0.5) -> torch.Tensor:
    """Boolean ``[..., n]``: ‖W_i‖ > threshold (the book's definition of "represented")."""
    return feature_norms(W) > threshold


def cosine_similarity(W) -> torch.Tensor:
    """``[..., n, n]`` cosines between feature directions (0 for zero-norm features)."""
    W = _as_tensor(W)
    unit = W / W.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return unit @ unit.transpose(-1, -2)


def antipodal_partners(W, *, norm_threshold: float = 0.5, cos_threshold: float = -0.95,
                       share_threshold: float = 0.9) -> torch.Tensor:
    """Index of feature i's antipodal partner, or -1: ``[..., n, m] -> [..., n]`` (long).

    Features i and j form an antipodal pair when both are represented
    (‖W‖ > ``norm_threshold``), point in opposite directions (cos < ``cos_threshold``),
    and the partner accounts for most of each one's interference
    ((Ŵ_i · W_j)² > ``share_threshold`` × interference_i): the pair shares a
    dimension with nobody else.
    """
    W = _as_tensor(W)
    cos = cosine_similarity(W)
    proj2 = _projections(W).pow(2)
    inter = interference(W)
    rep = represented(W, norm_threshold)
    ok = (cos < cos_threshold) & rep[..., :, None] & rep[..., None, :]
    ok &= proj2 > share_threshold * inter[..., :, None]
    ok = ok & ok.transpose(-1, -2)  # the relation must hold both ways
    has = ok.any(dim=-1)
    return torch.where(has, ok.to(torch.int64).argmax(dim=-1), torch.full_like(has, -1, dtype=torch.int64))


# ---------------------------------------------- chapter 2: phase change
#: the three outcomes for a feature (TMS "Superposition as a Phase Change"), as integer codes
NOT_LEARNED, SUPERPOSED, DEDICATED = 0, 1, 2
PHASE_NAMES = ("not learned", "superposed", "dedicated")


def feature_phase(W, feature: int = -1, *, norm_threshold: float = 0.5,
                  interference_threshold: float = 0.1) -> torch.Tensor:
    """Phase of one feature in each model: ``[..., n, m] -> [...]`` int64 codes.

    NOT_LEARNED (0)  ‖W_i‖ <= ``norm_threshold``
    SUPERPOSED  (1)  represented, and interference Σ_{j≠i}(Ŵ_i·W_j)² > ``interference_threshold``
    DEDICATED   (2)  represented, interference at most the threshold

    Both measures depend on W only through W Wᵀ, so the phase is the same for W and -W
    and for any rotation of the hidden space: restarts that differ by such a symmetry
    get the same phase.
    """
    W = _as_tensor(W)
    norm = feature_norms(W)[..., feature]
    inter = interference(W)[..., feature]
    phase = torch.full_like(norm, DEDICATED, dtype=torch.int64)
    phase = torch.where(inter > interference_threshold, torch.full_like(phase, SUPERPOSED), phase)
    return torch.where(norm > norm_threshold, phase, torch.full_like(phase, NOT_LEARNED))


# ----------------------------------------------------------------------------- chapter 3: geometry
# Leverage scores, tegum factors and the polytopes they form (TMS, "The Geometry of Superposition").


def leverage_scores(W, rtol: float = 1e-6) -> torch.Tensor:
    """Leverage score τ_i of every feature direction: ``[..., n, m] -> [..., n]``.

    τ_i = max_x (W_i · x)² / Σ_j (W_j · x)² = W_i (WᵀW)⁺ W_iᵀ: the diagonal of the
    projector onto the span of the columns of W (rows of W are features). It lies in
    [0, 1], is 1 for a feature orthogonal to all others, and the τ_i sum to rank(W)
    exactly. Singular values below ``rtol`` × the largest count as zero.
    """
    W = _as_tensor(W)
    U, s, _ = torch.linalg.svd(W, full_matrices=False)          # U: [..., n, r], s: [..., r]
    keep = s > rtol * s.amax(dim=-1, keepdim=True).clamp_min(_EPS)
    return (U.pow(2) * keep[..., None, :]).sum(dim=-1)


def _regular_polygon(k: int) -> np.ndarray:
    angles = 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _regular_simplex(k: int) -> np.ndarray:
    """k unit vectors in k-1 dimensions with pairwise cosine -1/(k-1): e_i - mean, in the plane ⊥ (1,...,1)."""
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
    "square antiprism": [_square_antiprism(h2) for h2 in np.linspace(0.05, 0.95, 91)],
}


def polytope_dimensionality(name: str) -> float:
    """Dimensionality r / k of each vertex of the uniform polytope ``name`` (k vertices spanning r dimensions)."""
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
    W = _as_tensor(W)
    k = W.shape[0]
    if k == 1:
        return int(W.norm() > _EPS)
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
    W = _as_tensor(W)
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


def tegum_factors(W, *, norm_threshold: float = 0.5, cos_threshold: float = 0.2,
                  cos_tolerance: float = 0.1) -> list[Factor]:
    """Split the represented features of one model ``W: [n, m]`` into tegum factors and name each.

    Represented features (‖W_i‖ > ``norm_threshold``) are the nodes of the *interference
    graph*, with an edge between i and j when |cos(W_i, W_j)| > ``cos_threshold``. Its
    connected components are the tegum factors: groups of features that are (nearly)
    orthogonal to every feature outside the group. Each factor is named by
    ``identify_polytope``. Factors are returned largest first.
    """
    W = _as_tensor(W)
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
        factors.append(Factor(name=name, features=tuple(members),
                              rank=numerical_rank(W[members], cos_tolerance),
                              dimensionality=float(D[members].mean()),
                              ideal=polytope_dimensionality(name) if name in POLYTOPES else math.nan,
                              error=err))
    return sorted(factors, key=lambda f: (-f.size, f.features))


def polytope_census(factors: list[Factor]) -> dict[str, int]:
    """How many factors of each name, ``{"digon": 7, "triangle": 2, ...}``.

    Names in ``POLYTOPES`` order, then "other"; names with no factor are left out.
    """
    counts = {name: 0 for name in [*POLYTOPES, "other"]}
    for f in factors:
        counts[f.name] += 1
    return {k: v for k, v in counts.items() if v}


# ---------------------------------------------------------------- chapter 4: computation
# Neuron-level measures for models with a privileged hidden basis. Layout as in lib.models:
# input weights W_in: [..., n, m] (feature i -> neuron j), output weights W_out: [..., m, n_out]
# (neuron j -> output i). For the tied ReLU-hidden-layer model W_in = W and W_out = Wᵀ.

def rescale_neurons(W_in, W_out=None):
    """The paper's display normalisation: divide each neuron's input weights by
    α_j = max_i |W_in[i, j]| and multiply its output weights by α_j. The network computes
    the same function (ReLU(α z) = α ReLU(z) for α > 0). Dead neurons (α = 0) are left as
    they are. Returns ``(W_in / α, W_out · α)`` (``W_out`` may be None): ``[..., n, m]``, ``[..., m, n_out]``.
    """
    W_in = _as_tensor(W_in)
    alpha = W_in.abs().amax(dim=-2)                       # [..., m]
    safe = torch.where(alpha > 0, alpha, torch.ones_like(alpha))
    scaled_in = W_in / safe[..., None, :]
    scaled_out = None if W_out is None else _as_tensor(W_out) * safe[..., :, None]
    return scaled_in, scaled_out


def through_gains(W_in, W_out=None, *, signed_inputs: bool = True) -> torch.Tensor:
    """Gain of each feature to its OWN output through each single neuron, ``[..., n, m]``.

    t_ij = drive_ij · W_out[j, i]: how much of x_i reaches output i if neuron j were the
    only path. With signed inputs either sign of x_i can fire neuron j, so the drive is
    |W_in[i, j]|; with non-negative inputs (``signed_inputs=False``) only a positive weight
    fires it, so the drive is ReLU(W_in[i, j]). ``W_out`` None means a tied model
    (W_out = W_inᵀ, so t_ij = ReLU(W_ij)·W_ij for non-negative inputs). Unchanged by the
    rescaling of ``rescale_neurons``. A weight left over from initialisation whose neuron
    does not write back to the feature's output has t ≈ 0, however large the weight.
    """
    W_in = _as_tensor(W_in)
    n = W_in.shape[-2]
    back = W_in if W_out is None else _as_tensor(W_out)[..., :, :n].transpose(-1, -2)
    drive = W_in.abs() if signed_inputs else torch.relu(W_in)
    return drive * back


def neuron_feature_counts(W_in, W_out=None, *, signed_inputs: bool = True,
                          threshold: float = 0.1) -> torch.Tensor:
    """Number of features each neuron represents, ``[..., n, m] -> [..., m]`` (long).

    Neuron j represents feature i iff its through-gain t_ij (``through_gains``) is at least
    ``threshold``: routing x_i through that neuron alone returns at least that fraction
    of the unit gain the target needs. Count 1: monosemantic; >= 2: polysemantic;
    0: the neuron represents nothing (dead, or only interferes).
    """
    return (through_gains(W_in, W_out, signed_inputs=signed_inputs) >= threshold).sum(dim=-2)


def primary_secondary_ratio(W_in) -> torch.Tensor:
    """Largest over second-largest |W_in[i, j]| of each neuron, ``[..., n, m] -> [..., m]``.

    1 when a neuron weights two features equally; large for a neuron with one "primary"
    feature and smaller "secondary" ones; inf when only one weight is non-zero.
    """
    top2 = _as_tensor(W_in).abs().topk(2, dim=-2).values   # [..., 2, m]
    return top2[..., 0, :] / top2[..., 1, :]


def primary_features(W_in) -> torch.Tensor:
    """Index of each neuron's largest-|weight| feature, ``[..., n, m] -> [..., m]``."""
    return _as_tensor(W_in).abs().argmax(dim=-2)


def features_in_superposition(W_in, W_out=None, *, signed_inputs: bool = True,
                               threshold: float = 0.1) -> torch.Tensor:
    """Boolean ``[..., n]``: feature i is represented (``neuron_feature_counts``' definition)
    by at least one polysemantic neuron."""
    t = through_gains(W_in, W_out, signed_inputs=signed_inputs) >= threshold     # [..., n, m]
    poly = t.sum(dim=-2) >= 2
    return (t & poly[..., None, :]).any(dim=-1)


def signed_gains(W_in, W_out) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot gains of a bias-free y = ReLU(x W_in) W_out: ``(G_pos, G_neg)``, each ``[..., n, n_out]``.

    With only feature i active at value u, output o is exactly u · G_pos[i, o] for u > 0
    and |u| · G_neg[i, o] for u < 0, where G_pos = ReLU(W_in) W_out and
    G_neg = ReLU(-W_in) W_out (the positively homogeneous ReLU makes the response curves
    two straight lines). Self-gains are the diagonal, cross-gains the rest. W_out W_in
    (the report's "W_eff", transposed to this layout) equals G_pos - G_neg.
    """
    W_in, W_out = _as_tensor(W_in), _as_tensor(W_out)
    return torch.relu(W_in) @ W_out, torch.relu(-W_in) @ W_out


def gains_from_responses(values, responses) -> torch.Tensor:
    """Least-squares slope through the origin of response curves on the positive side.

    ``values: [U]`` the swept input u, ``responses: [U, ..., n, n_out]`` outputs for the
    one-hot input u·e_i (``lib.experiments.one_hot_responses``). Returns ``[..., n, n_out]``
    = Σ_{u>0} u y(u) / Σ_{u>0} u². For a bias-free ReLU MLP this equals ``signed_gains``' G_pos.
    """
    u = _as_tensor(values).reshape(-1)
    y = _as_tensor(responses)
    pos = u > 0
    up = u[pos].reshape(-1, *([1] * (y.ndim - 1)))
    return (up * y[pos]).sum(0) / up.pow(2).sum()


def self_and_cross(G) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a square gain matrix ``[..., n, n]`` into its diagonal ``[..., n]`` and the
    off-diagonal entries ``[..., n, n-1]`` (row i: feature i's effect on every other output)."""
    G = _as_tensor(G)
    n = G.shape[-1]
    off = ~torch.eye(n, dtype=torch.bool, device=G.device)
    return G.diagonal(dim1=-2, dim2=-1), G[..., off].reshape(*G.shape[:-2], n, n - 1)


def conditional_feature_error(x, output, target, exponent: float = 2.0) -> torch.Tensor:
    """Per-feature error given that the feature is active, ``[B, I, n] -> [I, n]``.

    E[ |y'_i - y_i|^q | x_i ≠ 0 ]: the mean over the samples in which feature i is
    non-zero of the error on output i (the report's "per-feature MSE" for q = 2). Errors
    that feature i's presence causes on other, inactive outputs are not counted here.
    NaN for a feature never active in the batch.
    """
    x, output, target = _as_tensor(x), _as_tensor(output), _as_tensor(target)
    active = (x != 0).to(torch.float64)
    err = (output - target).abs().pow(exponent)
    return (err * active).sum(0) / active.sum(0)


def mean_abs_cosine(W) -> torch.Tensor:
    """Mean |cos| over all pairs i < j of feature directions, ``[..., n, m] -> [...]``."""
    cos = cosine_similarity(W).abs()
    n = cos.shape[-1]
    iu = torch.triu_indices(n, n, offset=1)
    return cos[..., iu[0], iu[1]].mean(dim=-1)


@dataclass
class AsymmetricMotif:
    """One instance of the TMS asymmetric superposition motif (in one model).

    Neuron ``neuron`` stores the ``strong`` feature with a large input weight and the
    ``weak`` feature with a small one, and reads them back with reciprocal output weights,
    so each gets a useful gain but the strong feature leaks into the weak feature's output
    (``interference`` per unit input). Neuron ``inhibitor`` fires on the same sign of the
    strong feature and pushes the weak output down (``inhibition`` < 0), so the net
    effect ``net`` of the strong feature on the weak output is no longer positive.
    """

    neuron: int
    strong: int
    weak: int
    inhibitor: int
    w_in: tuple[float, float]      # (strong, weak) input weights of the motif neuron
    w_out: tuple[float, float]     # (strong, weak) output weights of the motif neuron
    gains: tuple[float, float]     # |w_in| · w_out for (strong, weak) through the motif neuron
    interference: float            # strong feature -> weak output through the motif neuron
    inhibition: float              # strong feature -> weak output through the inhibitor
    net: float                     # strong feature -> weak output through all neurons


def asymmetric_motifs(W_in, W_out, *, ratio: float = 2.0, min_gain: float = 0.25,
                      inhibition_share: float = 0.5, max_net: float = 0.0) -> list[AsymmetricMotif]:
    """Find asymmetric-superposition motifs in ONE model: ``W_in [n, m]``, ``W_out [m, n]``.

    A motif is a neuron j and an ordered feature pair (strong s, weak w) such that
      1. both are read back positively: W_out[j, s] > 0 and W_out[j, w] > 0;
      2. the neuron computes both: gains |W_in[s, j]| W_out[j, s] and |W_in[w, j]| W_out[j, w]
         are each >= ``min_gain``;
      3. asymmetric storage: |W_in[s, j]| >= ``ratio`` · |W_in[w, j]|, with reciprocal readout
         W_out[j, w] >= ``ratio`` · W_out[j, s];
      4. an inhibitor: another neuron k that fires on the same sign of x_s
         (sign W_in[s, k] = sign W_in[s, j]) and whose push on the weak output,
         |W_in[s, k]| W_out[k, w] < 0, cancels at least ``inhibition_share`` of the
         interference |W_in[s, j]| W_out[j, w] on its own;
      5. the net effect of x_s (on that sign) on output w, summed over all neurons, is
         <= ``max_net``: positive interference has been turned into non-positive.
    Returns the motifs, strongest interference first.
    """
    W_in, W_out = _as_tensor(W_in), _as_tensor(W_out)
    if W_in.ndim != 2 or W_out.ndim != 2 or W_in.shape[1] != W_out.shape[0]:
        raise ValueError(f"asymmetric_motifs takes one model: W_in [n, m] and W_out [m, n_out], "
                         f"got {tuple(W_in.shape)} and {tuple(W_out.shape)}")
    n_out = W_out.shape[1]
    n = min(W_in.shape[0], n_out)                         # features that have an output
    a = W_in[:n].T                                         # [m, n] input weight of feature i on neuron j
    r = W_out[:, :n]                                       # [m, n] output weight of neuron j to output i
    gain = a.abs() * r                                     # [m, n] gain of feature i through neuron j
    # conditions 1-3 for every (neuron j, strong s, weak w) at once: [m, n(s), n(w)]
    readback = (r[:, :, None] > 0) & (r[:, None, :] > 0)
    useful = (gain[:, :, None] >= min_gain) & (gain[:, None, :] >= min_gain)
    asymmetric = ((a.abs()[:, :, None] >= ratio * a.abs()[:, None, :])
                  & (r[:, None, :] >= ratio * r[:, :, None]))
    off_diagonal = ~torch.eye(n, dtype=torch.bool)[None]
    candidates = torch.nonzero(readback & useful & asymmetric & off_diagonal & (a[:, None, :] != 0))
    found = []
    for j, s, w in candidates.tolist():
        fires = torch.relu(torch.sign(a[j, s]) * W_in[s])     # [m] how each neuron fires on x_s (its sign)
        push = fires * W_out[:, w]                            # [m] each neuron's effect on output w
        interference = push[j]
        others = push.clone()
        others[j] = float("inf")
        k = int(torch.argmin(others))
        if not others[k] <= -inhibition_share * interference:
            continue                                          # condition 4: a strong enough inhibitor
        net = push.sum()
        if net > max_net:
            continue                                          # condition 5: interference no longer positive
        found.append(AsymmetricMotif(
            neuron=j, strong=s, weak=w, inhibitor=k,
            w_in=(float(a[j, s]), float(a[j, w])), w_out=(float(r[j, s]), float(r[j, w])),
            gains=(float(gain[j, s]), float(gain[j, w])), interference=float(interference),
            inhibition=float(others[k]), net=float(net)))
    return sorted(found, key=lambda motif: -motif.interference)


# ---------------------------------------------------------------- chapter 5: the frustrated denoiser
# Encoder matrices E: [..., h, d] (row j = neuron j's weights on the d features). A sign
# matrix S in {-1, 0, 1} has the same shape.
def _flat_abs(E: torch.Tensor) -> torch.Tensor:
    return E.abs().reshape(*E.shape[:-2], -1)


def encoder_clusters(E, iterations: int = 100) -> dict:
    """Split the encoder weights into a central cluster at 0 and outer clusters at ±c.

    Method: 1-D 2-means (Lloyd) on |E|, started at (0, max|E|); the threshold is the
    midpoint of the two means. Returns tensors over the leading axes ``[...]``:

        threshold     τ: entries with |E| > τ are "outer"
        centre        c = mean |E| over the outer entries
        inner_centre  mean |E| over the central entries
        outer_spread  std of |E| over the outer entries (the width of the ±c clusters)
        inner_spread  std of E over the central entries
        density       p = fraction of outer entries
        ambiguous     fraction of entries with τ/2 < |E| < (τ + c)/2, the zone between
                      the clusters (small when the clusters are well separated)
    """
    E = _as_tensor(E)
    a = _flat_abs(E)
    lo = torch.zeros(a.shape[:-1], dtype=a.dtype)
    hi = a.max(dim=-1).values
    for _ in range(iterations):
        thr = (lo + hi) / 2
        outer = a > thr[..., None]
        n_out = outer.sum(-1).clamp_min(1)
        n_in = (~outer).sum(-1).clamp_min(1)
        new_hi = (a * outer).sum(-1) / n_out
        new_lo = (a * ~outer).sum(-1) / n_in
        if torch.allclose(new_hi, hi) and torch.allclose(new_lo, lo):
            break
        lo, hi = new_lo, new_hi
    thr = (lo + hi) / 2
    outer = a > thr[..., None]
    n_out = outer.sum(-1).clamp_min(1)
    n_in = (~outer).sum(-1).clamp_min(1)
    centre = (a * outer).sum(-1) / n_out
    outer_var = ((a - centre[..., None]).pow(2) * outer).sum(-1) / n_out
    flat = E.reshape(*E.shape[:-2], -1)
    inner_mean = (flat * ~outer).sum(-1) / n_in
    inner_var = ((flat - inner_mean[..., None]).pow(2) * ~outer).sum(-1) / n_in
    ambiguous = ((a > thr[..., None] / 2) & (a < (thr + centre)[..., None] / 2)).to(a.dtype).mean(-1)
    return {"threshold": thr, "centre": centre, "inner_centre": (a * ~outer).sum(-1) / n_in,
            "outer_spread": outer_var.sqrt(), "inner_spread": inner_var.sqrt(),
            "density": outer.to(a.dtype).mean(-1), "ambiguous": ambiguous}


def sign_structure(E, threshold=None) -> torch.Tensor:
    """S = sign(E) where |E| > threshold, else 0: ``[..., h, d]`` int8 in {-1, 0, 1}.

    ``threshold`` (scalar or ``[...]``) defaults to the 2-means threshold of
    ``encoder_clusters``.
    """
    E = _as_tensor(E)
    thr = encoder_clusters(E)["threshold"] if threshold is None else torch.as_tensor(threshold, dtype=E.dtype)
    keep = E.abs() > thr[..., None, None]
    return (torch.sign(E) * keep).to(torch.int8)


def sign_constant_neurons(S) -> tuple[torch.Tensor, torch.Tensor]:
    """Per neuron (row of S): (sign-constant, degree), both ``[..., h]``.

    A neuron is sign-constant when its nonzero entries all share one sign (trivially
    true for degree 0 or 1; count those separately with the degree).
    """
    S = torch.as_tensor(S)
    pos, neg = (S > 0).any(dim=-1), (S < 0).any(dim=-1)
    return ~(pos & neg), (S != 0).sum(dim=-1)


def distinct_values(values, gap: float, min_share: float = 0.0) -> dict:
    """Group 1-D values into dense clusters separated by gaps larger than ``gap``.

    A 1-D density rule first: a value is *dense* when at least ``min_share`` of all
    values (and at least 2) lie within ``gap / 2`` of it; the other values are strays
    and are left out, so that a few stray values between two clusters cannot bridge
    them. The dense values are then split wherever two neighbours differ by more than
    ``gap``. Returns numpy arrays ``centres``, ``counts``, ``spreads`` (std within each
    cluster), ``lows`` and ``highs`` (its smallest and largest value) of the clusters
    holding at least ``min_share`` of the values, and ``n_dropped``, the number of
    values left out (strays and smaller clusters). Used on the control model, whose
    weights sit on a few discrete values.
    """
    v = np.sort(np.asarray(_as_tensor(values).reshape(-1)))
    if v.size == 0:
        raise ValueError("distinct_values needs at least one value")
    neighbours = np.searchsorted(v, v + gap / 2, side="right") - np.searchsorted(v, v - gap / 2, side="left")
    dense = v[neighbours >= max(2, min_share * v.size)]
    cuts = np.flatnonzero(np.diff(dense) > gap) + 1
    groups = np.split(dense, cuts) if dense.size else []
    keep = [g for g in groups if g.size >= min_share * v.size]
    return {"centres": np.array([g.mean() for g in keep]), "counts": np.array([g.size for g in keep]),
            "spreads": np.array([g.std() for g in keep]),
            "lows": np.array([g[0] for g in keep]), "highs": np.array([g[-1] for g in keep]),
            "n_dropped": int(v.size - sum(g.size for g in keep))}


def row_degrees(S) -> torch.Tensor:
    """Number of nonzero entries in each row (features per neuron): ``[..., h, d] -> [..., h]``."""
    return (torch.as_tensor(S) != 0).sum(dim=-1)


def column_degrees(S) -> torch.Tensor:
    """Number of nonzero entries in each column (neurons per feature): ``[..., h, d] -> [..., d]``."""
    return (torch.as_tensor(S) != 0).sum(dim=-2)


def row_overlaps(S) -> torch.Tensor:
    """Shared support of every pair of rows j < j': ``[..., h, d] -> [..., h(h-1)/2]``."""
    A = (torch.as_tensor(S) != 0).to(torch.float32)
    G = A @ A.transpose(-1, -2)
    h = G.shape[-1]
    iu = torch.triu_indices(h, h, offset=1)
    return G[..., iu[0], iu[1]].round().to(torch.int64)


def iid_sign_matrix(n_rows: int, n_cols: int, density: float, n_matrices: int = 1, *,
                    generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """``[M, n_rows, n_cols]`` iid sign matrices: each entry nonzero with probability
    ``density``, one random sign per row (the post's null model of the frozen structure)."""
    if not 0 <= density <= 1:
        raise ValueError(f"density must lie in [0, 1], got {density!r}")
    support = torch.rand((n_matrices, n_rows, n_cols), generator=generator, device=device) < density
    signs = torch.randint(0, 2, (n_matrices, n_rows, 1), generator=generator, device=device) * 2 - 1
    return (support * signs).to(torch.int8)


def _dispersion(counts: torch.Tensor) -> torch.Tensor:
    counts = counts.to(torch.float64)
    return counts.var(dim=-1) / counts.mean(dim=-1).clamp_min(_EPS)


def iid_structure_test(S, n_null: int = 200, seed: int = 0, device=None) -> dict:
    """Is the support of one sign matrix ``S: [h, d]`` consistent with iid entries?

    Three statistics, each the dispersion index var/mean of a count:
      row_degree     features per neuron (iid: Binomial(d, p), dispersion 1 - p)
      column_degree  neurons per feature (iid: Binomial(h, p))
      row_overlap    shared features of each pair of neurons (iid: ≈ Binomial(d, p²); the
                     pairs are dependent, hence the simulated null below)
    Null: ``n_null`` iid matrices of the same shape and density (``iid_sign_matrix``).
    For each statistic returns observed value, null mean and std, z-score and the
    two-sided normal p-value of z (the null distributions of these means of many terms
    are close to normal). Regular structure (equal degrees) gives z << 0; clumped
    structure (hubs, blocks) z >> 0. The null matrices are drawn on ``device``
    (default: S's device; a GPU makes the paper-scale test fast).
    """
    S = torch.as_tensor(S)
    device = S.device if device is None else torch.device(device)
    S = S.to(device)
    if S.ndim != 2:
        raise ValueError(f"S must be one matrix [h, d], got shape {tuple(S.shape)}")
    h, d = S.shape
    p = float((S != 0).to(torch.float64).mean())
    gen = torch.Generator(device=device).manual_seed(int(seed))
    stats = {"row_degree": lambda M: _dispersion(row_degrees(M)),
             "column_degree": lambda M: _dispersion(column_degrees(M)),
             "row_overlap": lambda M: _dispersion(row_overlaps(M))}
    null = {k: [] for k in stats}
    chunk = max(1, min(n_null, int(2e8 // max(1, h * d))))
    done = 0
    while done < n_null:
        m = min(chunk, n_null - done)
        M = iid_sign_matrix(h, d, p, m, generator=gen, device=device)
        for k, f in stats.items():
            null[k].append(f(M))
        done += m
    out = {"density": p}
    for k, f in stats.items():
        obs = float(f(S[None])[0])
        ref = torch.cat(null[k]).cpu().numpy()
        mu, sd = float(ref.mean()), float(ref.std(ddof=1))
        z = (obs - mu) / max(sd, _EPS)
        out[k] = {"observed": obs, "null_mean": mu, "null_std": sd, "z": z,
                  "p_value": float(2 * scipy.stats.norm.sf(abs(z)))}
    return out


def blob_coupling(E, in_blob) -> dict:
    """Are the weights of one blob coupled to those of the rest? (the post's "2-particle" test)

    ``E: [h, d]`` encoder, ``in_blob: [h, d]`` bool marking the pairs of one blob (e.g. the
    negative outer cluster). For every neuron (row) it takes the mean weight inside the
    blob and the mean weight outside it, and returns their Pearson correlation over
    neurons (``neuron_r``, ``neuron_p``); the same over features (columns:
    ``feature_r``, ``feature_p``). If the 2-D blobs were independent draws per pair (a
    one-particle picture) both correlations would vanish up to ~1/√n.
    """
    E = _as_tensor(E)
    mask = torch.as_tensor(in_blob, dtype=torch.bool)
    if E.ndim != 2 or mask.shape != E.shape:
        raise ValueError(f"E and in_blob must be matching [h, d] matrices, got {tuple(E.shape)}, {tuple(mask.shape)}")
    out = {}
    for name, dim in (("neuron", 1), ("feature", 0)):
        inside, outside = mask.sum(dim), (~mask).sum(dim)
        ok = (inside > 0) & (outside > 0)
        a = ((E * mask).sum(dim) / inside.clamp_min(1))[ok].numpy()
        b = ((E * ~mask).sum(dim) / outside.clamp_min(1))[ok].numpy()
        if a.size < 3:
            r, p = float("nan"), float("nan")
        else:
            r, p = scipy.stats.pearsonr(a, b)
        out[f"{name}_r"], out[f"{name}_p"], out[f"{name}_n"] = float(r), float(p), int(a.size)
    return out

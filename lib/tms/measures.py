"""Measures of superposition in the TMS autoencoder. Plain tensors in, plain tensors out.

All functions take feature directions ``W: [..., n, m]`` (row i is the direction W_i of
feature i in the m-dimensional hidden space, the paper's column W_i) with any number of
leading (instance) axes, and return tensors with those axes kept.
"""

from __future__ import annotations

import torch

from ..core.tensors import EPS, as_float64, cosine_similarity
from .expansion import kept_features_loss


def feature_norms(W) -> torch.Tensor:
    """‖W_i‖: ``[..., n, m] -> [..., n]``. Near 1: represented; near 0: not learned."""
    return as_float64(W).norm(dim=-1)


def _projections(W: torch.Tensor) -> torch.Tensor:
    """``[..., n, n]`` with entry (i, j) = Ŵ_i · W_j (zero rows for zero-norm features)."""
    norms = W.norm(dim=-1, keepdim=True)
    unit = W / norms.clamp_min(EPS)
    return unit @ W.transpose(-1, -2)


def interference(W) -> torch.Tensor:
    """Σ_{j≠i} (Ŵ_i · W_j)²: ``[..., n, m] -> [..., n]``.

    0 when feature i is orthogonal to every other feature; >= 1 when some group of other
    features can activate W_i as strongly as feature i itself.
    """
    W = as_float64(W)
    proj2 = _projections(W).pow(2)
    return proj2.sum(dim=-1) - proj2.diagonal(dim1=-2, dim2=-1)


def feature_dimensionality(W) -> torch.Tensor:
    """D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)²: ``[..., n, m] -> [..., n]``.

    The fraction of a dimension feature i gets: 1 for a dedicated dimension, 1/2 for an
    antipodal pair, 2/5 for a pentagon in 2-D, 3/4 for a tetrahedron in 3-D. The sum
    includes j = i. Defined as 0 for a feature with zero norm.
    """
    W = as_float64(W)
    norm2 = W.pow(2).sum(dim=-1)
    denom = _projections(W).pow(2).sum(dim=-1)
    return torch.where(norm2 > EPS, norm2 / denom.clamp_min(EPS), torch.zeros_like(norm2))


def dimensions_per_feature(W) -> torch.Tensor:
    """D* = m / ‖W‖_F²: ``[..., n, m] -> [...]``; roughly m divided by the number of
    features learned.
    """
    W = as_float64(W)
    return W.shape[-1] / W.pow(2).sum(dim=(-1, -2)).clamp_min(EPS)


def represented(W, threshold: float = 0.5) -> torch.Tensor:
    """Boolean ``[..., n]``: ‖W_i‖ > threshold (the book's definition of "represented")."""
    return feature_norms(W) > threshold


def antipodal_partners(
    W, *, norm_threshold: float = 0.5, cos_threshold: float = -0.95, share_threshold: float = 0.9
) -> torch.Tensor:
    """Index of feature i's antipodal partner, or -1: ``[..., n, m] -> [..., n]`` (long).

    Features i and j form an antipodal pair when both are represented
    (‖W‖ > ``norm_threshold``), point in opposite directions (cos < ``cos_threshold``),
    and the partner accounts for most of each one's interference
    ((Ŵ_i · W_j)² > ``share_threshold`` × interference_i): the pair shares a
    dimension with nobody else.
    """
    W = as_float64(W)
    cos = cosine_similarity(W)
    proj2 = _projections(W).pow(2)
    inter = interference(W)
    rep = represented(W, norm_threshold)
    ok = (cos < cos_threshold) & rep[..., :, None] & rep[..., None, :]
    ok &= proj2 > share_threshold * inter[..., :, None]
    ok = ok & ok.transpose(-1, -2)  # the relation must hold both ways
    has = ok.any(dim=-1)
    return torch.where(
        has, ok.to(torch.int64).argmax(dim=-1), torch.full_like(has, -1, dtype=torch.int64)
    )


#: the three outcomes for a feature (TMS "Superposition as a Phase Change"), as integer codes
NOT_LEARNED, SUPERPOSED, DEDICATED = 0, 1, 2
PHASE_NAMES = ("not learned", "superposed", "dedicated")


def feature_phase(
    W, feature: int = -1, *, norm_threshold: float = 0.5, interference_threshold: float = 0.1
) -> torch.Tensor:
    """Phase of one feature in each model: ``[..., n, m] -> [...]`` int64 codes.

    NOT_LEARNED (0)  ‖W_i‖ <= ``norm_threshold``
    SUPERPOSED  (1)  represented, and interference Σ_{j≠i}(Ŵ_i·W_j)² > ``interference_threshold``
    DEDICATED   (2)  represented, interference at most the threshold

    Both measures depend on W only through W Wᵀ, so the phase is the same for W and -W
    and for any rotation of the hidden space: restarts that differ by such a symmetry
    get the same phase.
    """
    W = as_float64(W)
    norm = feature_norms(W)[..., feature]
    inter = interference(W)[..., feature]
    phase = torch.full_like(norm, DEDICATED, dtype=torch.int64)
    phase = torch.where(inter > interference_threshold, torch.full_like(phase, SUPERPOSED), phase)
    return torch.where(norm > norm_threshold, phase, torch.full_like(phase, NOT_LEARNED))


def mean_predictor_loss(feature_probability, importance=1.0) -> torch.Tensor:
    """Loss of the trivial predictor that outputs each feature's mean: ``[I, n] -> [I]``.

    For a feature active with probability p, uniform on [0, 1] when active, the best
    constant output is its mean p/2 and leaves its variance p/3 - p²/4; the
    importance-weighted MSE (mean over features) of that predictor is
    mean_i I_i (p_i/3 - p_i²/4). A trained model worse than this has learned less than
    nothing: e.g. outputs stuck at zero (``dead_outputs``). ``feature_probability`` is the
    marginal probability of each feature (a config's ``feature_probability_matrix``),
    ``importance`` broadcasts against it.
    """
    p = as_float64(feature_probability)
    if p.ndim == 0 or bool(((p < 0) | (p > 1)).any()):
        raise ValueError("feature_probability must be an array of probabilities in [0, 1]")
    return torch.as_tensor(kept_features_loss(importance, p.numpy()), dtype=torch.float64)


def partner_cosines(W, set_sizes) -> torch.Tensor:
    """Cosine between the first two members of each feature set: ``[..., n, m] -> [..., K]``.

    ``set_sizes [K]`` partitions the features into consecutive sets (as in
    ``FeatureSetsConfig``), each of at least two features; for pairs this is the cosine
    between the partners.
    """
    sizes = [int(s) for s in set_sizes]
    if any(s < 2 for s in sizes) or sum(sizes) != as_float64(W).shape[-2]:
        raise ValueError(
            f"set_sizes must partition the {as_float64(W).shape[-2]} features into sets of "
            f"at least 2, got {sizes}"
        )
    starts = torch.tensor([sum(sizes[:k]) for k in range(len(sizes))])
    cos = cosine_similarity(W)
    return cos[..., starts, starts + 1]


def set_sum_directions(set_sizes) -> torch.Tensor:
    """``[K, n]`` unit vectors (1, ..., 1)/√k on each set's features: the first principal
    component of a correlated set (its members' sum), one per set."""
    sizes = [int(s) for s in set_sizes]
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"set_sizes must be positive integers, got {sizes}")
    out = torch.zeros(len(sizes), sum(sizes), dtype=torch.float64)
    start = 0
    for k, s in enumerate(sizes):
        out[k, start : start + s] = 1 / s**0.5
        start += s
    return out


def share_in_span(W, directions) -> torch.Tensor:
    """How much of the model's map x -> WᵀW x lives in a subspace of feature space:
    ``[..., n, m] -> [...]``.

    ``directions [K, n]`` orthonormal rows spanning the subspace (e.g.
    ``set_sum_directions``); with P their projector and M the n × n matrix of W_i · W_j,
    returns ‖P M P‖_F² / ‖M‖_F²: 1 when the model reads and writes only inside the span
    (PCA keeps only those components), less when it also represents directions outside.
    """
    W, U = as_float64(W), as_float64(directions)
    M = W @ W.transpose(-1, -2)
    P = U.transpose(0, 1) @ U
    inside = P @ M @ P
    return inside.pow(2).sum(dim=(-1, -2)) / M.pow(2).sum(dim=(-1, -2)).clamp_min(EPS)
# ---- chapter 1: classifying features, dead outputs, the intro's 2-D geometry


def superposed(W, *, norm_threshold: float = 0.5, interference_threshold: float = 0.1
               ) -> torch.Tensor:
    """Boolean ``[..., n]``: represented (‖W_i‖ > ``norm_threshold``) and sharing its
    dimension (interference Σ_{j≠i}(Ŵ_i·W_j)² > ``interference_threshold``).

    A represented feature that is not superposed has a dedicated dimension.
    """
    W = as_float64(W)
    return represented(W, norm_threshold) & (interference(W) > interference_threshold)


def output_ceiling(W, b) -> torch.Tensor:
    """The largest pre-activation output j can reach on any input, ``[..., n]``.

    Inputs lie in [0, 1]ⁿ and every pattern of active features has positive probability,
    so sup_x (WᵀW x + b)_j = b_j + Σ_i max(G_ji, 0) with G = W Wᵀ (take x_i = 1 where
    G_ji > 0, x_i = 0 elsewhere). ``W: [..., n, m]``, ``b: [..., n]``.
    """
    W, b = as_float64(W), as_float64(b)
    G = W @ W.transpose(-1, -2)
    return b + G.clamp_min(0).sum(dim=-1)


def dead_outputs(W, b) -> torch.Tensor:
    """Boolean ``[..., n]``: outputs the ReLU never lets through (``output_ceiling <= 0``).

    A dead output predicts x'_j = 0 on every input: for a ReLU-output model it is worse
    than the constant E[x_j] by I_j E[x_j]² (exactly what ``dead`` costs in the loss).
    """
    return output_ceiling(W, b) <= 0


def top_m_deviation(W, m: int) -> torch.Tensor:
    """How far W is from keeping exactly its first m features at unit norm, ``[...]``.

    max( max_{i<m} |‖W_i‖ - 1| , max_{j>=m} ‖W_j‖ ): 0 for the linear model's optimum
    with features sorted by importance (rows 0..m-1 orthonormal, the rest zero).
    """
    norms = feature_norms(W)
    if not 0 < m <= norms.shape[-1]:
        raise ValueError(f"m must be in [1, n={norms.shape[-1]}], got {m!r}")
    kept = (norms[..., :m] - 1).abs().amax(dim=-1)
    if m == norms.shape[-1]:
        return kept
    return torch.maximum(kept, norms[..., m:].amax(dim=-1))


def angular_gaps(W, threshold: float = 0.5) -> torch.Tensor:
    """Angles (degrees) between neighbouring represented directions of a 2-D hidden space.

    ``W: [n, 2]`` (one model). The represented directions (‖W_i‖ > ``threshold``) are
    sorted by angle; the k gaps between neighbours (the last one wrapping around) sum to
    360. Fewer than two represented features give ``[360]`` or ``[]``.
    """
    W = as_float64(W)
    if W.ndim != 2 or W.shape[-1] != 2:
        raise ValueError(
            f"angular_gaps needs one model with m = 2, got W of shape {tuple(W.shape)}"
        )
    keep = W[represented(W, threshold)]
    if keep.shape[0] == 0:
        return torch.zeros(0, dtype=torch.float64)
    angles = torch.atan2(keep[:, 1], keep[:, 0]).rad2deg().sort().values
    return torch.diff(torch.cat([angles, angles[:1] + 360.0]))


def polygon_deviation(W, k: int, threshold: float = 0.5) -> float:
    """max |gap - 360/k| (degrees) over ``angular_gaps``: 0 for a regular k-gon; ``inf``
    unless exactly k features are represented. ``W: [n, 2]``."""
    gaps = angular_gaps(W, threshold)
    if gaps.numel() != k:
        return float("inf")
    return float((gaps - 360.0 / k).abs().max())


def random_spread(W, *, seed: int = 0) -> torch.Tensor:
    """The negative control for geometric claims: the same norms in random directions.

    Row i keeps ‖W_i‖ and gets a direction uniform on the sphere, independently of the
    other rows. ``[..., n, m] -> [..., n, m]`` float64, reproducible from ``seed``.
    """
    W = as_float64(W)
    gen = torch.Generator().manual_seed(int(seed))
    g = torch.randn(W.shape, generator=gen, dtype=torch.float64)
    unit = g / g.norm(dim=-1, keepdim=True).clamp_min(EPS)
    return unit * W.norm(dim=-1, keepdim=True)

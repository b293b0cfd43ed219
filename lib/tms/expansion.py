"""The sparsity expansion of the ReLU-output model's expected loss (TMS, "Mathematical
Understanding").

With every feature active independently with probability p, the expected loss splits by
the number k of active features:

    L = (1-p)^n L_0 + p (1-p)^(n-1) Σ_i L_1^(i) + O(p²)

L_0 is the loss on the zero vector (a penalty on positive biases) and L_1^(i) the loss
when only feature i is active. Both are computed here exactly: the integrand over the
active value u ~ U[a, b] is piecewise quadratic, so Gauss-Legendre quadrature with two
nodes on each piece between the ReLU kinks is exact. ``stratified_loss`` gives the whole
expected loss of a small model, stratified by the active set.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.tensors import as_numpy64

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(2)


def _act(z: np.ndarray, activation: str) -> np.ndarray:
    return np.maximum(z, 0.0) if activation == "relu" else z


def zero_sparse_loss(W, b, importance, activation: str = "relu") -> float:
    """L_0: the loss on the zero input, (1/n) Σ_j I_j act(b_j)². ``W: [n, m]``, ``b,
    importance: [n]``.
    """
    b, imp = as_numpy64(b), as_numpy64(importance)
    return float(np.mean(imp * _act(b, activation) ** 2))


def one_sparse_loss(
    W, b, importance, *, activation: str = "relu", value_range: tuple[float, float] = (0.0, 1.0)
) -> np.ndarray:
    """L_1^(i) for every i: expected loss when only feature i is active, ``[n]``.

    Feature i takes u ~ U[value_range]; output j is act(G_ji u + b_j) with G = W Wᵀ, so

        L_1^(i) = (1/n) E_u[ I_i (u - act(G_ii u + b_i))²  +  Σ_{j≠i} I_j act(G_ji u + b_j)² ]

    (feature benefit and interference; the 1/n matches the loss's mean over features).
    ``W: [n, m]``, ``b, importance: [n]``.
    """
    W, b, imp = as_numpy64(W), as_numpy64(b), as_numpy64(importance)
    n = W.shape[0]
    G = W @ W.T
    lo, hi = value_range
    out = np.empty(n)
    for i in range(n):
        slopes = G[:, i]
        # kinks of act(slope u + b_j) inside (lo, hi) split the interval into polynomial pieces
        with np.errstate(divide="ignore", invalid="ignore"):
            kinks = -b / slopes
        cuts = np.unique(np.concatenate([[lo, hi], kinks[(kinks > lo) & (kinks < hi)]]))
        total = 0.0
        for a, c in zip(cuts[:-1], cuts[1:]):
            u = 0.5 * (c - a) * _GL_NODES + 0.5 * (c + a)  # [2]
            w = 0.5 * (c - a) * _GL_WEIGHTS
            pred = _act(slopes[:, None] * u[None, :] + b[:, None], activation)  # [n, 2]
            target = np.zeros_like(pred)
            target[i] = u
            total += float(((imp[:, None] * (pred - target) ** 2).sum(0) * w).sum())
        out[i] = total / (hi - lo) / n
    return out


def sparse_expansion_loss(W, b, importance, feature_probability: float, *, activation: str = "relu",
                          value_range: tuple[float, float] = (0.0, 1.0)) -> float:
    """The k <= 1 terms of the expected loss: (1-p)^n L_0 + p (1-p)^(n-1) Σ_i L_1^(i).

    Accurate to O(n² p²) relative to the full loss when features are sparse (n p << 1).
    """
    n = as_numpy64(W).shape[0]
    p = float(feature_probability)
    l0 = zero_sparse_loss(W, b, importance, activation)
    l1 = one_sparse_loss(W, b, importance, activation=activation, value_range=value_range).sum()
    return (1 - p) ** n * l0 + p * (1 - p) ** (n - 1) * l1


def sparse_expansion_terms(
    W,
    b,
    importance,
    feature_probability: float,
    *,
    activation: str = "relu",
    value_range: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """The k = 0, 1, 2 terms of the expected loss, each weighted by its probability, ``[3]``:

        (1-p)^n L_0,   p (1-p)^(n-1) Σ_i L_1^(i),   p² (1-p)^(n-2) Σ_{i<k} L_2^(i,k).

    Their sum is exact up to the k >= 3 terms, O((np)³) of the probability mass.
    """
    n = as_numpy64(W).shape[0]
    p = float(feature_probability)
    l0 = zero_sparse_loss(W, b, importance, activation)
    l1 = one_sparse_loss(W, b, importance, activation=activation, value_range=value_range).sum()
    l2 = np.triu(
        two_sparse_loss(W, b, importance, activation=activation, value_range=value_range), 1
    ).sum()
    return np.array(
        [(1 - p) ** n * l0, p * (1 - p) ** (n - 1) * l1, p**2 * (1 - p) ** (n - 2) * l2]
    )


def two_sparse_loss(W, b, importance, *, activation: str = "relu", grid: int = 64,
                    value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """L_2^(i,k): expected loss when exactly features i and k are active, ``[n, n]`` (0
    on the diagonal).

    Features i, k take independent u, v ~ U[value_range]; output j is act(G_ji u + G_jk v + b_j).
    The ReLU kinks are lines across the square, so the exact piecewise trick of
    ``one_sparse_loss`` does not apply; a composite midpoint rule on a ``grid x grid``
    lattice is used instead (the integrand is C¹, so the error falls as 1/grid²:
    below 1e-4 relative at the default for trained TMS models). ``W: [n, m]``, ``b,
    importance: [n]``.
    """
    W, b, imp = as_numpy64(W), as_numpy64(b), as_numpy64(importance)
    n = W.shape[0]
    G = W @ W.T
    lo, hi = value_range
    t = lo + (hi - lo) * (np.arange(grid) + 0.5) / grid
    u, v = (a.ravel() for a in np.meshgrid(t, t, indexing="ij"))  # [grid²]
    out = np.zeros((n, n))
    for i in range(n):
        for k in range(i + 1, n):
            pred = _act(
                G[:, i, None] * u + G[:, k, None] * v + b[:, None], activation
            )  # [n, grid²]
            target = np.zeros_like(pred)
            target[i], target[k] = u, v
            out[i, k] = out[k, i] = float((imp[:, None] * (pred - target) ** 2).sum(0).mean()) / n
    return out


# ---- expected loss of any small toy model, stratified by which features are active
def stratified_loss(W, b, importance, feature_probability, *, activation: str = "relu",
                    samples: int = 4096, seed: int = 0) -> np.ndarray:
    """Per-instance expected loss of the TMS toy model (eq-loss), stratified by the active set.

    ``W [I, n, m]``, ``b [I, n]``, ``importance`` and ``feature_probability`` ``[I, n]``
    (arrays or tensors). The expectation is split over the 2^n sets A of active
    features: P(A) = Π_{i∈A} p_i Π_{i∉A} (1 - p_i) exactly, and E[loss | A] by Monte
    Carlo over the U[0, 1] values with ``samples`` draws shared by every instance (common
    random numbers, so restarts are ranked on the same draws). Unlike plain sampling it
    has no rare events: two features active together at density 0.01 weigh 10⁻⁴ but get
    as many samples as any other set. Exact for the zero set; cost 2^n × samples × I × n,
    so meant for small n (n <= 12). Returns ``[I]`` float64.
    """
    W = torch.as_tensor(W, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    imp = torch.as_tensor(importance, dtype=torch.float64)
    p = torch.as_tensor(feature_probability, dtype=torch.float64)
    n = W.shape[-2]
    if n > 12:
        raise ValueError(
            f"stratified_loss enumerates 2^n active sets; n_features={n} is too many (max 12)"
        )
    if activation not in ("relu", "linear"):
        raise ValueError(f"activation must be 'relu' or 'linear', got {activation!r}")
    gen = torch.Generator().manual_seed(int(seed))
    values = torch.rand((samples, n), generator=gen, dtype=torch.float64)
    total = torch.zeros(W.shape[0], dtype=torch.float64)
    chunk = max(1, int(2**24 // (samples * n)))  # bounds the [samples, chunk, n] work array
    for start in range(0, W.shape[0], chunk):
        part = slice(start, start + chunk)
        for mask in range(2**n):
            active = torch.tensor([(mask >> i) & 1 for i in range(n)], dtype=torch.bool)
            prob = torch.where(active, p[part], 1 - p[part]).prod(dim=-1)  # [chunk]
            x = values * active if mask else torch.zeros((1, n), dtype=torch.float64)
            out = torch.einsum("sn,inm,ikm->sik", x, W[part], W[part]) + b[part]  # [S, chunk, n]
            out = torch.relu(out) if activation == "relu" else out
            total[part] += prob * (imp[part] * (out - x[:, None, :]) ** 2).mean(dim=(0, 2))
    return total.numpy()


# ---- baselines in closed form: the mean predictor and the linear model's optimum
def feature_variance(feature_probability, value_range: tuple[float, float] = (0.0, 1.0)
                     ) -> np.ndarray:
    """Var(x_i) of a sparse-uniform feature: p E[u²] - p² E[u]², u ~ U[value_range].

    ``feature_probability``: any shape (p = 1 - S); returns the same shape. On [0, 1]
    it is p/3 - p²/4.
    """
    p = as_numpy64(feature_probability)
    lo, hi = value_range
    mean_u, mean_u2 = (lo + hi) / 2, (lo * lo + lo * hi + hi * hi) / 3
    return p * mean_u2 - (p * mean_u) ** 2


def kept_features_loss(importance, feature_probability, kept=(), *,
                       value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Loss (eq-loss) of a model that reconstructs the features ``kept`` exactly and
    predicts every other feature by its mean: (1/n) Σ_{i ∉ kept} I_i Var(x_i).

    ``importance`` and ``feature_probability`` broadcast to ``[..., n]``; returns ``[...]``.
    With ``kept = ()`` it is the **trivial predictor** (W = 0, b = E[x]), the loss any
    trained model should beat. With ``kept`` the m features of largest I_i Var(x_i) it
    is the exact optimum of the linear model x' = WᵀWx + b with m hidden dimensions:
    with b free the loss is the importance-weighted error of a rank-m map on centred,
    uncorrelated features, and the best rank-m map keeps the m largest diagonal entries
    of diag(I) Cov(x) (Eckart-Young), a projection that WᵀW can realise.
    """
    imp, p = np.broadcast_arrays(as_numpy64(importance), as_numpy64(feature_probability))
    per_feature = imp * feature_variance(p, value_range)
    keep = np.zeros(per_feature.shape[-1], dtype=bool)
    keep[list(kept)] = True
    return np.where(keep, 0.0, per_feature).mean(axis=-1)


def linear_expected_loss(W, b, importance, feature_probability, *,
                         value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Exact expected loss (eq-loss) of the linear model x' = WᵀWx + b, ``[...]``.

    With A = I - G (G = W Wᵀ in the library's ``[n, m]`` layout) and independent features
    of mean μ_j and variance σ_j², output i errs by e_i = (A x)_i - b_i, so
    E[e_i²] = Σ_j A_ij² σ_j² + ((A μ)_i - b_i)². ``W: [..., n, m]``, ``b: [..., n]``;
    ``importance`` and ``feature_probability`` broadcast to ``[..., n]``.
    """
    W, b = as_numpy64(W), as_numpy64(b)
    n = W.shape[-2]
    imp, p = np.broadcast_arrays(as_numpy64(importance), as_numpy64(feature_probability))
    lo, hi = value_range
    mean = p * (lo + hi) / 2  # [..., n]
    var = feature_variance(p, value_range)
    A = np.eye(n) - W @ np.swapaxes(W, -1, -2)  # [..., n, n]
    spread = (A**2 * var[..., None, :]).sum(-1)
    offset = (A @ mean[..., :, None])[..., 0] - b
    return (imp * (spread + offset**2)).mean(-1)

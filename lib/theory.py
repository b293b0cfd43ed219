"""Closed forms and exact (deterministic) expected losses.

Section 1 — the sparsity expansion of the ReLU-output model's loss (TMS, "Mathematical
Understanding"). With every feature active independently with probability p, the
expected loss splits by the number k of active features:

    L = (1-p)^n L_0 + p (1-p)^(n-1) Σ_i L_1^(i) + O(p²)

L_0 is the loss on the zero vector (a penalty on positive biases) and L_1^(i) the loss
when only feature i is active. Both are computed here exactly: the integrand over the
active value u ~ U[a, b] is piecewise quadratic, so Gauss-Legendre quadrature with two
nodes on each piece between the ReLU kinks is exact.
"""

from __future__ import annotations

import numpy as np
import torch

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(2)


def _np64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _act(z: np.ndarray, activation: str) -> np.ndarray:
    return np.maximum(z, 0.0) if activation == "relu" else z


def zero_sparse_loss(W, b, importance, activation: str = "relu") -> float:
    """L_0: the loss on the zero input, (1/n) Σ_j I_j act(b_j)². ``W: [n, m]``, ``b, importance: [n]``."""
    b, imp = _np64(b), _np64(importance)
    return float(np.mean(imp * _act(b, activation) ** 2))


def one_sparse_loss(W, b, importance, *, activation: str = "relu",
                    value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """L_1^(i) for every i: expected loss when only feature i is active, ``[n]``.

    Feature i takes u ~ U[value_range]; output j is act(G_ji u + b_j) with G = W Wᵀ, so

        L_1^(i) = (1/n) E_u[ I_i (u - act(G_ii u + b_i))²  +  Σ_{j≠i} I_j act(G_ji u + b_j)² ]

    (feature benefit and interference; the 1/n matches the loss's mean over features).
    ``W: [n, m]``, ``b, importance: [n]``.
    """
    W, b, imp = _np64(W), _np64(b), _np64(importance)
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
            u = 0.5 * (c - a) * _GL_NODES + 0.5 * (c + a)               # [2]
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
    n = _np64(W).shape[0]
    p = float(feature_probability)
    l0 = zero_sparse_loss(W, b, importance, activation)
    l1 = one_sparse_loss(W, b, importance, activation=activation, value_range=value_range).sum()
    return (1 - p) ** n * l0 + p * (1 - p) ** (n - 1) * l1

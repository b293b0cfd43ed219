"""Closed forms for the attenuated ReLU (the work-trial report).

Features are active with value u ~ U[low, high]; the target is ReLU(x). Errors are
"conditional": the expected error on output i given that feature i is active.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar


def relu_moment(exponent: float = 2.0, value_range: tuple[float, float] = (-1.0, 1.0)) -> float:
    """E[ReLU(u)^q] for u ~ U[low, high]: 1/(2(q+1)) on [-1, 1] (1/6 for q = 2)."""
    lo, hi = (float(v) for v in value_range)
    q = float(exponent)
    if not hi > lo or q <= 0:
        raise ValueError(f"need low < high and exponent > 0, got {value_range}, {exponent}")
    if hi <= 0:
        return 0.0
    return (hi ** (q + 1) - max(lo, 0.0) ** (q + 1)) / ((q + 1) * (hi - lo))


def naive_dedicated_error(n_features: int, n_hidden: int, exponent: float = 2.0,
                          value_range: tuple[float, float] = (-1.0, 1.0)) -> float:
    """Mean over features of E[|y'_i - ReLU(x_i)|^q | x_i active] for the naive baseline.

    m neurons compute ReLU(x_i) exactly for m features; the other n - m outputs are 0, an
    error ReLU(u) whenever such a feature is active. Interference is zero (each neuron
    sees one feature). Value: (n - m)/n · E[ReLU(u)^q] = 0.9/6 = 0.15 for n=100, m=10, q=2.
    Multiply by the feature probability p for the unconditional per-feature error.
    """
    if not 0 < n_hidden <= n_features:
        raise ValueError(
            f"need 0 < n_hidden <= n_features, got n_hidden={n_hidden}, n_features={n_features}"
        )
    return (n_features - n_hidden) / n_features * relu_moment(exponent, value_range)


def attenuation_error(
    gain, exponent: float = 2.0, negative_gain=0.0, value_range: tuple[float, float] = (-1.0, 1.0)
):
    """E|y'(u) - ReLU(u)|^q for the one-feature response y' = g u (u > 0), g₋ |u| (u < 0).

    The error of a feature that is alone (no interference); on [-1, 1]:
    (|1 - g|^q + |g₋|^q) / (2(q + 1)). Broadcasts over array-valued gains.
    """
    lo, hi = (float(v) for v in value_range)
    q = float(exponent)
    g, gn = (np.asarray(gain, dtype=np.float64), np.asarray(negative_gain, dtype=np.float64))
    pos = relu_moment(q, (lo, hi))
    neg = relu_moment(q, (-hi, -lo))  # E[ReLU(-u)^q]
    return np.abs(1 - g) ** q * pos + np.abs(gn) ** q * neg


def gaussian_abs_moment(exponent: float) -> float:
    """E|Z|^q for Z ~ N(0, 1): 2^{q/2} Γ((q+1)/2) / √π (1 for q = 2, 3 for q = 4)."""
    q = float(exponent)
    return math.exp(q / 2 * math.log(2) + math.lgamma((q + 1) / 2) - 0.5 * math.log(math.pi))


def tight_frame_crosstalk(n_features: int, n_hidden: int, exponent: float) -> float:
    """K_q = Σ_{j≠i} |c_ij / g|^q for n unit feature directions forming a tight frame in R^m
    with Gaussian-distributed overlaps (a stand-in for "spread out as evenly as possible").

    A tight frame of n unit vectors in R^m has Σ_{j≠i} cos²_ij = n/m - 1 exactly; taking
    the n - 1 overlaps as Gaussian with that total variance gives
    K_q = (n - 1) ((n/m - 1)/(n - 1))^{q/2} E|Z|^q  (K_2 = n/m - 1 = 9 for n=100, m=10).
    """
    n, m = int(n_features), int(n_hidden)
    if not 0 < m < n:
        raise ValueError(f"need 0 < n_hidden < n_features, got n_hidden={m}, n_features={n}")
    q = float(exponent)
    var = (n / m - 1) / (n - 1)
    return (n - 1) * var ** (q / 2) * gaussian_abs_moment(q)


def uniform_attenuation_gain(crosstalk, exponent: float):
    """The gain g minimising the one-feature loss |1 - g|^q + K g^q of uniform attenuation.

    Every feature has self-gain g and cross-gains g·c_ij onto the other outputs with
    K = Σ_j |c_ij|^q: shrinking g trades attenuation error for interference. Setting the
    derivative to 0 gives g* = 1 / (1 + K^{1/(q-1)}) for q > 1 (0.426 for the tight frame
    with n=100, m=10, q=4; m/n for q = 2). Broadcasts over array-valued K.
    """
    q = float(exponent)
    if q <= 1:
        raise ValueError(f"exponent must be > 1 for a unique optimal gain, got {exponent}")
    K = np.asarray(crosstalk, dtype=np.float64)
    return 1.0 / (1.0 + K ** (1.0 / (q - 1.0)))


def uniform_attenuation_l4_loss(
    gain, feature_probability: float, crosstalk2: float, crosstalk4: float
):
    """Expected L4 loss per output of uniform attenuation, to second order in p,
    ``[...]`` like ``gain``.

    Output i's error is e_i = -(1 - g) R_i + g Σ_{j≠i} κ_ij R_j with R = ReLU(x) of
    independent features (active with probability p, value U[-1, 1]; E R^k = p μ_k,
    μ_k = 1/(2(k+1))) and cross-talk coefficients κ symmetric about 0 with
    K₂ = Σ_j κ_ij², K₄ = Σ_j κ_ij⁴. Expanding E e_i⁴ and dropping the odd moments of κ:

        E e⁴ = p μ₄ (1-g)⁴ + 6 p² μ₂² K₂ (1-g)² g² + [p μ₄ K₄ + 3 p² μ₂² (K₂² - K₄)] g⁴.

    The first and last p-linear terms are the one-feature loss (``uniform_attenuation_gain``);
    the p² terms are pairs of co-active features, which push the optimal gain down.
    """
    g = np.asarray(gain, dtype=np.float64)
    p = float(feature_probability)
    mu2, mu4 = relu_moment(2), relu_moment(4)
    K2, K4 = float(crosstalk2), float(crosstalk4)
    return (
        p * mu4 * (1 - g) ** 4
        + 6 * p**2 * mu2**2 * K2 * (1 - g) ** 2 * g**2
        + (p * mu4 * K4 + 3 * p**2 * mu2**2 * (K2**2 - K4)) * g**4
    )


def uniform_attenuation_gain_l4(n_features: int, n_hidden: int, feature_probability: float,
                                crosstalk: tuple[float, float] | None = None) -> float:
    """The gain minimising ``uniform_attenuation_l4_loss`` (second order in p) on [0, 1].

    ``crosstalk`` = (K₂, K₄); default: the tight frame with Gaussian overlaps,
    K₂ = n/m - 1, K₄ = 3 K₂²/(n - 1). As p -> 0 this tends to the one-feature optimum
    ``uniform_attenuation_gain(K₄, 4)`` (0.426 for n=100, m=10); at p = 0.02 it is 0.3885.
    """
    if crosstalk is None:
        K2 = tight_frame_crosstalk(n_features, n_hidden, 2)
        K4 = tight_frame_crosstalk(n_features, n_hidden, 4)
    else:
        K2, K4 = (float(v) for v in crosstalk)
    grid = np.linspace(0.0, 1.0, 20_001)
    loss = uniform_attenuation_l4_loss(grid, feature_probability, K2, K4)
    return float(grid[np.argmin(loss)])


def expected_abs_cosine_random(n_hidden: int) -> float:
    """E|cos| between two independent uniformly random directions in R^m:
    Γ(m/2) / (√π Γ((m+1)/2)) (0.2587 for m = 10)."""
    m = int(n_hidden)
    if m < 1:
        raise ValueError(f"n_hidden must be >= 1, got {n_hidden}")
    return math.exp(math.lgamma(m / 2) - 0.5 * math.log(math.pi) - math.lgamma((m + 1) / 2))


def naive_over_attenuation(n_features: int, n_hidden: int, gain, exponent: float) -> float:
    """Ratio of the naive baseline's one-feature error to pure attenuation at ``gain``:
    ((n - m)/n) / |1 - g|^q (the report's "8.5x" for q = 4 and "2.7x" for q = 2 at g = 0.43)."""
    return naive_dedicated_error(n_features, n_hidden, exponent) / float(
        attenuation_error(gain, exponent)
    )


def _raw_to_cumulants(m1, m2, m3, m4):
    """The first four cumulants from the first four raw moments (arrays)."""
    k2 = m2 - m1**2
    k3 = m3 - 3 * m2 * m1 + 2 * m1**3
    k4 = m4 - 4 * m3 * m1 - 3 * m2**2 + 12 * m2 * m1**2 - 6 * m1**4
    return m1, k2, k3, k4


def additive_error(G_pos, G_neg, feature_probability: float, exponent: float = 4.0, *,
                   scale: float = 1.0, symmetric_crosstalk: bool = False) -> np.ndarray:
    """``[n]`` expected |y'_i - ReLU(x_i)|^q (q = 2 or 4) of each output of a bias-free
    y' = W_out ReLU(W_in x), if the one-feature responses simply added up.

    ``G_pos, G_neg: [n, n]`` one-hot gains (``signed_gains``: row = input feature, column =
    output), all multiplied by ``scale``. Features are independent, active with probability
    p, value U[-1, 1]. Output i's error is then a sum of independent terms, one per
    feature j: c·u·G±_ji (j ≠ i) and (c·G+_ii - 1)·u or c·u·G-_ii (j = i), each active with
    probability p/2 per sign, u ~ U[0, 1]. Cumulants of independent terms add, which gives
    E e² and E e⁴ exactly, at every order in p. The model is exact when at most one
    feature is active; with several, the hidden ReLU makes the true response
    non-additive. ``symmetric_crosstalk`` drops the odd moments of the cross terms, as if
    each leak were equally likely to have either sign (the assumption of
    ``uniform_attenuation_l4_loss``).
    """
    q = float(exponent)
    if q not in (2.0, 4.0):
        raise ValueError(f"exponent must be 2 or 4, got {exponent!r}")
    p = float(feature_probability)
    if not 0 < p <= 1:
        raise ValueError(f"feature_probability must lie in (0, 1], got {feature_probability!r}")
    a = float(scale) * np.asarray(G_pos, dtype=np.float64).T  # [i (output), j (input)]
    b = float(scale) * np.asarray(G_neg, dtype=np.float64).T
    if a.ndim != 2 or a.shape[0] != a.shape[1] or b.shape != a.shape:
        raise ValueError(f"G_pos and G_neg must be square [n, n], got {a.shape}, {b.shape}")
    a = a - np.eye(len(a))  # the target ReLU(x_i) on the positive side of feature i
    raw = [p / 2 * (a**k + b**k) / (k + 1) for k in (1, 2, 3, 4)]  # [n, n] each
    if symmetric_crosstalk:
        off = ~np.eye(len(a), dtype=bool)
        raw[0] = np.where(off, 0.0, raw[0])
        raw[2] = np.where(off, 0.0, raw[2])
    k1, k2, k3, k4 = (c.sum(-1) for c in _raw_to_cumulants(*raw))
    if q == 2.0:
        return k2 + k1**2
    return k4 + 4 * k3 * k1 + 3 * k2**2 + 6 * k2 * k1**2 + k1**4


def additive_optimal_scale(G_pos, G_neg, feature_probability: float, exponent: float = 4.0,
                           *, symmetric_crosstalk: bool = False) -> float:
    """The output scale c in [0, 2] minimising the mean over outputs of ``additive_error``:
    the gain the additive model would choose for the trained geometry (c = 1: the trained
    model is where the additive model puts its optimum)."""
    def loss(c):
        return additive_error(G_pos, G_neg, feature_probability, exponent, scale=c,
                              symmetric_crosstalk=symmetric_crosstalk).mean()

    return float(minimize_scalar(loss, bounds=(0.0, 2.0), method="bounded",
                                 options={"xatol": 1e-6}).x)


def constant_predictor_loss(importance, feature_probability) -> np.ndarray:
    """``[...]`` importance-weighted MSE of the best constant output, the trivial predictor.

    For a target that is 0 with probability 1 - p and uniform on [0, 1] otherwise (x on
    [0, 1], or |x| for x on [-1, 1]) the best constant is its mean p/2 and the loss its
    variance p/3 - p²/4, averaged over features with the importances ``[..., n]``
    (``feature_probability`` a number or ``[..., n]``). A trained model should beat it;
    one that does not has dead outputs or has not learned.
    """
    imp, p = np.broadcast_arrays(np.asarray(importance, dtype=np.float64),
                                 np.asarray(feature_probability, dtype=np.float64))
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"feature_probability must lie in [0, 1], got {feature_probability!r}")
    return (imp * (p / 3 - p**2 / 4)).mean(axis=-1)

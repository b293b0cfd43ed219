"""Superposition as a phase change: candidate configurations and the exact n = 2, m = 1 loss.

"Toy models of the toy model" (TMS, "Superposition as a Phase Change"), and the exact
expected loss surface of McGrath's appendix comment.
"""

from __future__ import annotations

import numpy as np

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(2)

# "toy models of the toy model" (TMS, "Superposition as a Phase Change").
# n = 2 features in m = 1 dimension, or n = 3 in m = 2; every feature has density s
# (probability 1 - S of being active, value U[0, 1]); the first n - 1 ("normal") features
# have importance 1, the last ("extra") one importance r. Losses here use the library's
# normalisation, the MEAN over features (eq-loss): they are 1/n times the sums quoted in
# the paper's notebook and in REFERENCE.md, which leaves every comparison unchanged.

PHASE_CANDIDATES = {
    2: ("drop_extra", "drop_normal", "extra_antipodal"),
    3: ("drop_extra", "drop_normal", "extra_antipodal", "normal_antipodal"),
}
#: what each candidate does with the extra feature (the paper's three outcomes)
EXTRA_FEATURE_PHASE = {
    "drop_extra": "not learned",
    "drop_normal": "dedicated",
    "extra_antipodal": "superposed",
    "normal_antipodal": "dedicated",
}
EXTRA_PHASES = ("not learned", "superposed", "dedicated")


def _check_phase_args(n_features, r, density):
    if n_features not in PHASE_CANDIDATES:
        raise ValueError(
            f"n_features must be 2 (m = 1) or 3 (m = 2) for the phase-change candidates, "
            f"got {n_features!r}"
        )
    r = np.asarray(r, dtype=np.float64)
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"r (the extra feature's importance) must be positive and finite, got {r}")
    s = None
    if density is not None:
        s = np.asarray(density, dtype=np.float64)
        if not np.all(np.isfinite(s)) or np.any(s <= 0) or np.any(s > 1):
            raise ValueError(f"density (1 - S) must lie in (0, 1], got {s}")
    return r, s


def candidate_losses(n_features: int, r, density) -> dict[str, np.ndarray]:
    """Expected loss of each candidate configuration, mean over features (eq-loss).

    ``r`` and ``density`` broadcast against each other; every value has their broadcast
    shape. With v(s) = s/3 - s²/4 the variance of one feature, the summed losses are

        drop_extra        r v(s)        extra feature dropped, its bias b = s/2
        drop_normal       v(s)          a normal feature dropped, bias s/2
        extra_antipodal   (1 + r) s²/6  extra and a normal feature at W_j = -W_i, b = 0
        normal_antipodal  s²/3          (n = 3) the two normal ones antipodal, extra dedicated

    and each is divided by ``n_features``. Derivation: chapter 2, eq-02-drop and eq-02-antipodal.
    """
    r, s = _check_phase_args(n_features, r, density)
    r, s = np.broadcast_arrays(r, s)
    var = s / 3 - s**2 / 4
    sums = {"drop_extra": r * var, "drop_normal": var, "extra_antipodal": (1 + r) * s**2 / 6}
    if n_features == 3:
        sums["normal_antipodal"] = s**2 / 3
    return {name: value / n_features for name, value in sums.items()}


def candidate_parameters(
    n_features: int, name: str, density: float
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate as toy-model parameters ``(W [n, m], b [n])`` (rows are feature directions).

    Feeding these to the ReLU output model gives exactly ``candidate_losses`` (tested).
    """
    _check_phase_args(n_features, 1.0, density)
    if name not in PHASE_CANDIDATES[n_features]:
        raise ValueError(f"name must be one of {list(PHASE_CANDIDATES[n_features])}, got {name!r}")
    half = float(density) / 2  # the best constant output for a dropped feature: its mean
    if n_features == 2:
        W = {
            "drop_extra": [[1.0], [0.0]],
            "drop_normal": [[0.0], [1.0]],
            "extra_antipodal": [[1.0], [-1.0]],
        }[name]
        b = {"drop_extra": [0.0, half], "drop_normal": [half, 0.0], "extra_antipodal": [0.0, 0.0]}[
            name
        ]
    else:
        W = {
            "drop_extra": [[1, 0], [0, 1], [0, 0]],
            "drop_normal": [[0, 0], [1, 0], [0, 1]],
            "extra_antipodal": [[1, 0], [0, 1], [0, -1]],
            "normal_antipodal": [[1, 0], [-1, 0], [0, 1]],
        }[name]
        b = {"drop_extra": [0, 0, half], "drop_normal": [half, 0, 0]}.get(name, [0, 0, 0])
    return np.array(W, dtype=np.float64), np.array(b, dtype=np.float64)


def optimal_configurations(n_features: int, r, density) -> np.ndarray:
    """Vectorised ``optimal_configuration``: an array of candidate names, shape of r ⊗ density."""
    losses = candidate_losses(n_features, r, density)
    names = list(losses)
    index = np.argmin(np.stack([losses[k] for k in names]), axis=0)
    return np.array(names, dtype=object)[index]


def optimal_configuration(n_features: int, r: float, density: float) -> str:
    """The candidate with the lowest expected loss at extra importance ``r`` and density
    ``density``.

    One of ``"drop_extra"``, ``"drop_normal"``, ``"extra_antipodal"`` and (n = 3 only)
    ``"normal_antipodal"``. Ties (measure zero) go to the first in that order.
    """
    if np.ndim(r) or np.ndim(density):
        raise ValueError(
            "optimal_configuration takes scalars; use optimal_configurations for arrays"
        )
    return str(optimal_configurations(n_features, r, density))


def phase_boundary(n_features: int, r) -> float | np.ndarray:
    """Density below which a superposition candidate wins, for extra importance ``r``.

    n = 2:  4r / (2 + 5r) for r <= 1 (extra_antipodal vs drop_extra),
            4 / (5 + 2r) for r >= 1  (extra_antipodal vs drop_normal); triple point (1, 4/7).
    n = 3:  4r / (2 + 5r) for r <= 1 (as for n = 2), 4/7 for r >= 1 (normal_antipodal vs
            drop_normal). Derivation: chapter 2, eq-02-boundary.
    """
    r, _ = _check_phase_args(n_features, r, None)
    low = 4 * r / (2 + 5 * r)
    high = 4 / (5 + 2 * r) if n_features == 2 else np.full_like(r, 4 / 7)
    out = np.where(r <= 1, low, high)
    return float(out) if out.ndim == 0 else out


def extra_feature_phases(n_features: int, r, density) -> np.ndarray:
    """The theoretical phase of the extra feature as ``lib.tms.measures`` codes (0 not learned,
    1 superposed, 2 dedicated), shape of r ⊗ density."""
    names = optimal_configurations(n_features, r, density)
    code = {name: EXTRA_PHASES.index(phase) for name, phase in EXTRA_FEATURE_PHASE.items()}
    return np.vectorize(code.__getitem__, otypes=[np.int64])(names)


def away_from_boundaries(n_features: int, r, density, *, samples: int = 9) -> np.ndarray:
    """``[R, S]`` bool: is grid point (r_i, s_j) at least one grid step from every
    theoretical boundary?

    ``r [R]`` and ``density [S]`` are log-spaced grids. A point counts as "away" when the
    theoretical phase of the extra feature is the same everywhere in the open box of
    half-width one grid step in log r and log s around it (checked on ``samples``² points;
    densities above 1 are clipped to 1). The box is open: a boundary exactly one step away
    (the line r = 1 seen from the grid columns next to it) does not count, so the answer
    does not depend on how the ties at r = 1 round.
    """
    r, s = np.asarray(r, np.float64), np.asarray(density, np.float64)
    if r.ndim != 1 or s.ndim != 1 or r.size < 2 or s.size < 2:
        raise ValueError("r and density must be 1-D grids with at least two points each")
    dr, ds = np.diff(np.log(r)).mean(), np.diff(np.log(s)).mean()
    offsets = np.linspace(-1, 1, samples) * (1 - 1e-6)  # open box: shrink by a relative 1e-6
    rr = r[:, None, None, None] * np.exp(dr * offsets)[None, None, :, None]
    ss = np.minimum(s[None, :, None, None] * np.exp(ds * offsets)[None, None, None, :], 1.0)
    phases = extra_feature_phases(n_features, rr, ss).reshape(r.size, s.size, -1)
    return np.all(phases == phases[..., :1], axis=-1)


# ---- the exact expected loss of the n = 2, m = 1 ReLU output model (McGrath's comment)
def _kink(numerator, denominator):
    """Where a ReLU argument crosses zero along a unit segment, clipped to [0, 1] (0.5
    if it never does).

    Any point is a valid split when the argument does not depend on the variable, so 0.5
    stands in for "no kink" (the integrand is one polynomial on each side either way).
    """
    num, den = np.broadcast_arrays(
        np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    )
    safe = np.where(den == 0, 1.0, den)
    return np.where(den == 0, 0.5, np.clip(num / safe, 0.0, 1.0))


def _pieces(*cuts):
    """Consecutive sub-intervals of [0, 1] split at one or two ``cuts`` (arrays, any order)."""
    if len(cuts) == 1:
        return [(0.0, cuts[0]), (cuts[0], 1.0)]
    first, second = np.minimum(*cuts), np.maximum(*cuts)
    return [(0.0, first), (first, second), (second, 1.0)]


def _gl(lo, hi):
    """Gauss-Legendre nodes and weights (2 per piece: exact for cubics) on [lo, hi]."""
    half = (hi - lo) / 2
    return [(lo + half * (1 + x), half * w) for x, w in zip(_GL_NODES, _GL_WEIGHTS)]


def _one_active(target, slope, bias):
    """E_u[(target·u - ReLU(slope·u + bias))²], u ~ U[0, 1]; ``target`` is 1 (own feature) or 0."""
    total = 0.0
    for lo, hi in _pieces(_kink(-bias, slope)):
        for u, w in _gl(lo, hi):
            total = total + w * (target * u - np.maximum(slope * u + bias, 0.0)) ** 2
    return total


def _both_active(own, cross, bias):
    """E_{u,v}[(u - ReLU(own·u + cross·v + bias))²] over the unit square.

    Exact: for fixed u the integrand is quadratic in v on each side of the kink
    v*(u) = -(own·u + bias)/cross, so two nodes per side integrate it exactly; the result
    is a cubic in u between the u where v* crosses 0 or 1, so two nodes per u-piece suffice.
    """
    total = 0.0
    for ulo, uhi in _pieces(_kink(-bias, own), _kink(-(bias + cross), own)):
        for u, wu in _gl(ulo, uhi):
            inner = 0.0
            for vlo, vhi in _pieces(_kink(-(own * u + bias), cross)):
                for v, wv in _gl(vlo, vhi):
                    inner = inner + wv * (u - np.maximum(own * u + cross * v + bias, 0.0)) ** 2
            total = total + wu * inner
    return total


def _feature_error_2x1(own, cross, bias, density):
    """E[(x_i - ReLU(own·x_i + cross·x_j + bias))²] for one feature of the n=2, m=1 model.

    own = W_i², cross = W_i W_j. Split by which of (x_i, x_j) are active: none
    (prob (1-s)²), one of them (s(1-s) each), both (s²).
    """
    s = density
    return ((1 - s) ** 2 * np.maximum(bias, 0.0) ** 2 + s * (1 - s) * (_one_active(1.0, own,
            bias) + _one_active(0.0, cross, bias)) + s**2 * _both_active(own, cross, bias))


def exact_feature_losses_2x1(W1, W2, b1, b2, density) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature expected squared errors (E[(x_1 - x'_1)²], E[(x_2 - x'_2)²]) of the
    n=2, m=1 model.

    x' = ReLU(Wᵀ W x + b) with W = [W1, W2] (one hidden dimension), every feature active
    with probability ``density`` and then U[0, 1]. All arguments broadcast. Feature i's
    error depends on b only through b_i, which is what makes the bias easy to optimise.
    """
    s = np.asarray(density, dtype=np.float64)
    if not np.all((s > 0) & (s <= 1)):
        raise ValueError(f"density must lie in (0, 1], got {s}")
    W1, W2, b1, b2 = (np.asarray(v, dtype=np.float64) for v in (W1, W2, b1, b2))
    cross = W1 * W2
    return _feature_error_2x1(W1 * W1, cross, b1, s), _feature_error_2x1(W2 * W2, cross, b2, s)


def exact_loss_2x1(W1, W2, b1, b2, r, density) -> np.ndarray:
    """The exact expected loss L(W1, W2, b1, b2) of the n=2, m=1 ReLU output model (eq-loss).

    Importances (1, r); mean over the two features. Deterministic (piecewise Gauss-Legendre
    quadrature that is exact for this piecewise-polynomial integrand), vectorised: every
    argument broadcasts. Unlike McGrath's closed form it keeps the biases.
    """
    e1, e2 = exact_feature_losses_2x1(W1, W2, b1, b2, density)
    return (e1 + np.asarray(r, dtype=np.float64) * e2) / 2


def _argmin_1d(f, lo: float, hi: float, shape, grid: int = 25, iterations: int = 32):
    """Vectorised minimiser of f(x) -> array ``shape`` over x in [lo, hi]: grid, then
    golden section.
    """
    xs = np.linspace(lo, hi, grid)
    values = np.stack([f(np.full(shape, x)) for x in xs])
    # ties go to the LAST grid point: a bias below every ReLU input leaves the output at 0,
    # so the error is flat to the left; the minimum lies at the right end of a flat run
    best = grid - 1 - np.argmin(values[::-1], axis=0)
    step = (hi - lo) / (grid - 1)
    a, b = xs[best] - step, xs[best] + step
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iterations):
        left = fc < fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        c_new, d_new = b - ratio * (b - a), a + ratio * (b - a)
        f_new = f(np.where(left, c_new, d_new))
        fd, fc = np.where(left, fc, f_new), np.where(left, f_new, fd)
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
    x = (a + b) / 2
    return x, f(x)


def optimal_bias_2x1(W1, W2, r, density, *, bias_range: tuple[float, float] = (-2.0, 1.0)):
    """For fixed weights, the biases minimising ``exact_loss_2x1`` and the loss there.

    Returns ``(b1, b2, loss)``, arrays of the broadcast shape of the inputs. Each feature's
    error depends only on its own bias, so this is two independent 1-D searches (a grid
    over ``bias_range``, then golden-section refinement to ~1e-7).
    """
    W1, W2, r, s = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (W1, W2, r, density))
    )
    cross = W1 * W2
    b1, e1 = _argmin_1d(lambda b: _feature_error_2x1(W1 * W1, cross, b, s), *bias_range, W1.shape)
    b2, e2 = _argmin_1d(lambda b: _feature_error_2x1(W2 * W2, cross, b, s), *bias_range, W1.shape)
    return b1, b2, (e1 + r * e2) / 2


def _compass_search(f, x: np.ndarray, fx: np.ndarray, step: float, tol: float, max_iter: int):
    """Compass search from each row of x [P, d] (loss fx [P]); see ``_compass_minimize``."""
    p, d = x.shape
    dirs = [np.eye(d)[k] for k in range(d)]
    if d >= 2:
        dirs += [(np.eye(d)[0] + sign * np.eye(d)[1]) / np.sqrt(2) for sign in (1, -1)]
    dirs = np.array(dirs + [-v for v in dirs])  # [D, d]
    h = np.full(p, float(step))
    for _ in range(max_iter):
        live = np.flatnonzero(h > tol)  # only unconverged problems are evaluated
        if live.size == 0:
            break
        trial = x[live, None, :] + h[live, None, None] * dirs[None]  # [P', D, d]
        ft = f(trial, live)
        best = np.argmin(ft, axis=1)
        fbest = ft[np.arange(live.size), best]
        move = fbest < fx[live]
        x[live[move]] = trial[np.arange(live.size), best][move]
        fx[live[move]] = fbest[move]
        # grow the step after a success (to travel along valleys), halve it after a failure
        h[live] = np.where(move, np.minimum(h[live] * 1.5, step), h[live] / 2)
    return x, fx


def _hessians(f, x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Central-difference Hessians ``[P, d, d]`` of f at each row of x [P, d] (one call of f)."""
    p, d = x.shape
    eye = np.eye(d) * h
    offsets = [np.zeros(d)] + [s * eye[i] for i in range(d) for s in (1, -1)]
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    offsets += [si * eye[i] + sj * eye[j] for i, j in pairs for si in (1, -1) for sj in (1, -1)]
    values = f(x[:, None, :] + np.array(offsets)[None], np.arange(p))  # [P, K]
    H = np.empty((p, d, d))
    for i in range(d):
        H[:, i, i] = (values[:, 1 + 2 * i] - 2 * values[:, 0] + values[:, 2 + 2 * i]) / h**2
    base = 1 + 2 * d
    for k, (i, j) in enumerate(pairs):
        pp, pm, mp, mm = (values[:, base + 4 * k + q] for q in range(4))
        H[:, i, j] = H[:, j, i] = (pp - pm - mp + mm) / (4 * h**2)
    return H


def _compass_minimize(f, x0: np.ndarray, step: float = 0.1, tol: float = 1e-6, max_iter: int = 2000,
                      escapes: int = 4, escape_step: float = 0.05):
    """Vectorised compass (pattern) search from each row of x0 [P, d], with saddle escapes.

    ``f(x [P', k, d], rows [P']) -> [P', k]`` evaluates problems ``rows`` at k points each.

    Compass search tries ±step along every axis and along the two diagonals of the first
    two axes (the valleys of the n=2 loss run diagonally in (W1, W2)); it moves to the
    best improvement, else halves the step. It can stall at a saddle whose descent
    direction mixes several axes (for the n=2 loss: weights and biases together), so at
    convergence a finite-difference Hessian is checked; along a direction of negative
    curvature the search restarts ``escape_step`` away, at most ``escapes`` times.
    Deterministic and derivative-free.
    """
    x = np.array(x0, dtype=np.float64)
    p, _ = x.shape
    fx = f(x[:, None], np.arange(p))[:, 0]
    rows = np.arange(p)
    for attempt in range(escapes + 1):
        sub = lambda y, live, rows=rows: f(y, rows[live])
        x[rows], fx[rows] = _compass_search(
            sub, x[rows].copy(), fx[rows].copy(), step, tol, max_iter
        )
        if attempt == escapes:
            break
        eigval, eigvec = np.linalg.eigh(
            _hessians(lambda y, live, rows=rows: f(y, rows[live]), x[rows])
        )
        # curvature well below the finite-difference noise of a loss of order 1e-2 .. 1
        saddle = eigval[:, 0] < -1e-5
        if not saddle.any():
            break
        rows = rows[saddle]
        direction = eigvec[saddle, :, 0]  # [P', d]
        trial = x[rows, None, :] + escape_step * np.stack([direction, -direction], axis=1)
        ft = f(trial, rows)
        pick = np.argmin(ft, axis=1)
        better = ft[np.arange(rows.size), pick] < fx[rows]
        x[rows[better]] = trial[np.arange(rows.size), pick][better]
        fx[rows[better]] = ft[np.arange(rows.size), pick][better]
        rows = rows[better]
        if rows.size == 0:
            break
    return x, fx


def exact_minima_2x1(
    r, density, starts=None, *, optimise_bias: bool = True, step: float = 0.1, tol: float = 1e-4
):
    """Local minima of ``exact_loss_2x1``, one per start, for every (r, s).

    ``r`` and ``density`` broadcast to a shape ``G``; ``starts`` is ``[K, 4]`` or
    ``[*G, K, 4]`` rows (W1, W2, b1, b2), by default the three fixed-bias candidates plus
    the "confused" W1 = W2 = 1/√2 start (``default_starts_2x1``). With
    ``optimise_bias=False`` the biases stay at their start values and only (W1, W2) move
    (McGrath's bias-free setting when they start at 0). Returns
    ``(params [*G, K, 4], loss [*G, K])``: a local minimum per start, so the best of
    them is an upper bound on the global minimum (see ``exact_optimum_2x1``).
    """
    r, s = np.broadcast_arrays(np.asarray(r, np.float64), np.asarray(density, np.float64))
    _check_phase_args(2, r, s)
    if starts is None:
        starts = default_starts_2x1(s)  # [*G, K, 4]
    else:  # [K, 4] shared by every (r, s), or [*G, K, 4]
        starts = np.asarray(starts, np.float64)
        starts = np.broadcast_to(starts, (*r.shape, *starts.shape[-2:]))
    k = starts.shape[-2]
    x0 = starts.reshape(-1, 4)
    rr = np.repeat(r.reshape(-1), k)[:, None]  # [P, 1]
    ss = np.repeat(s.reshape(-1), k)[:, None]
    if optimise_bias:
        f = lambda x, rows: exact_loss_2x1(
            x[..., 0], x[..., 1], x[..., 2], x[..., 3], rr[rows], ss[rows]
        )
        x, fx = _compass_minimize(f, x0, step=step, tol=tol)
    else:
        b1, b2 = x0[:, 2:3], x0[:, 3:4]
        f = lambda x, rows: exact_loss_2x1(
            x[..., 0], x[..., 1], b1[rows], b2[rows], rr[rows], ss[rows]
        )
        w, fx = _compass_minimize(f, x0[:, :2], step=step, tol=tol)
        x = np.concatenate([w, x0[:, 2:]], axis=1)
    return x.reshape(*r.shape, k, 4), fx.reshape(*r.shape, k)


def default_starts_2x1(density) -> np.ndarray:
    """``[*shape(density), 4, 4]`` starts (W1, W2, b1, b2): the three candidates and W1
    = W2 = 1/√2.
    """
    s = np.asarray(density, np.float64)
    rows = []
    for name in PHASE_CANDIDATES[2]:
        W, b = candidate_parameters(2, name, 0.5)
        rows.append(np.broadcast_to(np.array([W[0, 0], W[1, 0], 0.0, 0.0]), (*s.shape, 4)).copy())
        if name == "drop_extra":
            rows[-1][..., 3] = s / 2
        elif name == "drop_normal":
            rows[-1][..., 2] = s / 2
    confused = np.broadcast_to(np.array([2**-0.5, 2**-0.5, 0.0, 0.0]), (*s.shape, 4))
    return np.stack(rows + [confused], axis=-2)


def exact_optimum_2x1(r, density, *, grid_step: float = 0.25, w_max: float = 1.5):
    """Global minimum of ``exact_loss_2x1`` over (W1, W2, b1, b2) for every (r, s).

    Two stages, both deterministic: (1) the bias-optimised loss on a grid of (W1, W2)
    (W1 >= 0 only: L(W) = L(-W)) with spacing ``grid_step``; (2) compass search from the
    best grid point, from the ``default_starts_2x1`` and from eight unit directions
    (``direction_starts_2x1``: needed where the minima form a nearly flat ring, r ≈ 1).
    Returns ``(params [*G, 4], loss [*G])`` with ``G`` the broadcast shape of ``r`` and
    ``density``.
    """
    r, s = np.broadcast_arrays(np.asarray(r, np.float64), np.asarray(density, np.float64))
    _check_phase_args(2, r, s)
    w1 = np.arange(0.0, w_max + 1e-9, grid_step)
    w2 = np.arange(-w_max, w_max + 1e-9, grid_step)
    A, B = (v.reshape(-1) for v in np.meshgrid(w1, w2, indexing="ij"))
    b1, b2, L = optimal_bias_2x1(A, B, r[..., None], s[..., None])  # [*G, grid]
    best = np.argmin(L, axis=-1)[..., None]
    pick = lambda v: np.take_along_axis(np.broadcast_to(v, L.shape), best, axis=-1)[..., 0]
    grid_start = np.stack([pick(A), pick(B), pick(b1), pick(b2)], axis=-1)[..., None, :]
    ring = np.broadcast_to(direction_starts_2x1(8), (*r.shape, 8, 4))
    starts = np.concatenate([grid_start, default_starts_2x1(s), ring], axis=-2)  # [*G, 13, 4]
    params, loss = exact_minima_2x1(r, s, starts)
    k = np.argmin(loss, axis=-1)[..., None]
    return (
        np.take_along_axis(params, k[..., None], axis=-2)[..., 0, :],
        np.take_along_axis(loss, k, axis=-1)[..., 0],
    )


def direction_starts_2x1(n_directions: int = 8) -> np.ndarray:
    """``[n_directions, 4]`` starts (W1, W2, b1, b2): unit W at evenly spaced angles in
    [0°, 180°), b = 0.

    Half a circle suffices because L(W) = L(-W).
    """
    angle = np.pi * np.arange(n_directions) / n_directions
    return np.stack([np.cos(angle), np.sin(angle), 0 * angle, 0 * angle], axis=-1)


def distinct_minima_2x1(params, loss, *, tol: float = 0.05) -> list[tuple[float, np.ndarray]]:
    """The distinct minima among local-search results at one (r, s), up to W -> -W.

    ``params [K, 4]``, ``loss [K]`` (e.g. one cell of ``exact_minima_2x1``). Each result
    is put in a canonical sign (first non-negligible weight positive); results whose
    (W1, W2) lie within ``tol`` of a lower one are merged. Returns ``[(loss, params)]``
    sorted by loss.
    """
    params, loss = np.asarray(params, np.float64), np.asarray(loss, np.float64)
    canon = canonical_sign_2x1(params)
    kept: list[int] = []
    for k in np.argsort(loss, kind="stable"):
        if all(np.linalg.norm(canon[k, :2] - canon[j, :2]) > tol for j in kept):
            kept.append(int(k))
    return [(float(loss[k]), canon[k]) for k in kept]


# ---- the candidates' optimal loss, its kink, and the boundaries as curves
def optimal_candidate_loss(n_features: int, r, density) -> np.ndarray:
    """The lowest candidate loss (mean over features), shape of r ⊗ density."""
    losses = candidate_losses(n_features, r, density)
    return np.min(np.stack(list(losses.values())), axis=0)


def candidate_slope_jump(n_features: int, r: float, h: float = 1e-7) -> tuple[float, float]:
    """One-sided slopes (below s*, above s*) of ``optimal_candidate_loss`` in the density
    at the boundary s*(r): a first-order transition has two different slopes there."""
    sb = phase_boundary(n_features, r)
    at = lambda s: float(optimal_candidate_loss(n_features, r, s))
    return (at(sb) - at(sb - h)) / h, (at(sb + h) - at(sb)) / h


def boundary_curves(n_features: int, r, density_min: float = 0.01
                    ) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The theoretical boundaries as ``(r_curve, density_curve, label)`` for
    ``plots.plot_phase_diagram``, drawn over the increasing grid ``r [R]``; the vertical
    line r = 1 of n = 3 runs from ``density_min`` to 1."""
    r = np.asarray(r, np.float64)
    if n_features == 2:
        return [(r, phase_boundary(2, r), "superposition boundary s*(r)"),
                (np.array([1.0, 1.0]), np.array([4 / 7, 1.0]), "drop extra | drop normal")]
    low, high = r[r <= 1], r[r >= 1]
    return [(low, phase_boundary(3, low), "extra-feature superposition s*(r)"),
            (np.array([1.0, 1.0]), np.array([density_min, 1.0]),
             "extra dropped or superposed | dedicated"),
            (high, np.full(high.size, 4 / 7), "normal pair boundary")]


# ---- the n = 2, m = 1 exact loss: minima by kind, tracks, basins, dropped states
#: kinds of minimum of the n = 2 exact loss (the extra feature's phase, with "confused")
NOT_LEARNED, ANTIPODAL, DEDICATED, CONFUSED = 0, 1, 2, 3
MINIMUM_KINDS = ("extra not learned", "antipodal (superposed)", "dedicated",
                 "confused (W1 W2 > 0)")


def canonical_sign_2x1(params) -> np.ndarray:
    """``params [..., 4]`` (W1, W2, b1, b2) with W flipped so that its first non-negligible
    weight is positive (L(W) = L(-W): one representative per pair)."""
    out = np.array(params, dtype=np.float64)
    lead = np.where(np.abs(out[..., 0]) > 1e-3, out[..., 0], out[..., 1])
    out[..., :2] *= np.where(lead < 0, -1.0, 1.0)[..., None]
    return out


def minimum_kind_2x1(params, *, norm_threshold: float = 0.5,
                     interference_threshold: float = 0.1) -> np.ndarray:
    """Kind of an n = 2 configuration ``params [..., 4]``: the extra feature's phase
    (``measures.feature_phase`` rule: ‖W_2‖, and W_1² its interference), with superposed
    split into ANTIPODAL (W1 W2 < 0) and CONFUSED (W1 W2 > 0, McGrath's phase)."""
    p = np.asarray(params, np.float64)
    w1, w2 = p[..., 0], p[..., 1]
    kind = np.where(w1**2 > interference_threshold,
                    np.where(w1 * w2 > 0, CONFUSED, ANTIPODAL), DEDICATED)
    return np.where(np.abs(w2) > norm_threshold, kind, NOT_LEARNED).astype(np.int64)


def minima_map_2x1(r, density, starts, *, optimise_bias: bool = True):
    """Local search from every row of ``starts [K, 4]`` at each (r, s) of the grid.

    ``r [R]``, ``density [S]``. Returns ``(kind [R, S], count [R, S], best [R, S, 4])``:
    the kind of the lowest minimum (``minimum_kind_2x1``), the number of distinct minima
    found (up to W -> -W, ``distinct_minima_2x1``) and the lowest one's parameters.
    """
    R, S = np.meshgrid(np.asarray(r, np.float64), np.asarray(density, np.float64),
                       indexing="ij")
    params, loss = exact_minima_2x1(R, S, starts, optimise_bias=optimise_bias)
    count = np.zeros(R.shape, dtype=np.int64)
    best = np.zeros(R.shape + (4,))
    for index in np.ndindex(R.shape):
        found = distinct_minima_2x1(params[index], loss[index])
        count[index], best[index] = len(found), found[0][1]
    return minimum_kind_2x1(best), count, best


def optimum_track_2x1(r, density) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The global minimum (biases optimised) along densities ``[T]`` at fixed r.

    ``r`` a scalar or ``[K]`` (one track per value, computed together). Returns
    ``(params [..., T, 4]`` in canonical sign, ``loss [..., T]``, ``steps [..., T-1])``,
    with ``...`` empty for a scalar r and ``[K]`` otherwise; steps are the distance |ΔW|
    in (W1, W2) between neighbouring densities: a jump is a step of order 1, a
    continuous move a small one.
    """
    r = np.asarray(r, np.float64)
    params, loss = exact_optimum_2x1(r[..., None], np.asarray(density, np.float64))
    params = canonical_sign_2x1(params)
    return params, loss, np.linalg.norm(np.diff(params[..., :2], axis=-2), axis=-1)


def basin_crossing_2x1(r: float, density) -> dict:
    """Follow the dropping and the antipodal minimum through the transition at r.

    ``density [T]`` densities around s*(r). From each candidate's start (drop the extra
    feature for r < 1, the normal one for r > 1; antipodal) the local search gives one
    branch; a branch counts only while it stays in its basin (dropped weight below 0.1;
    W1 W2 < -0.25). Returns ``{"loss": [T, 2]`` (NaN outside the basin; columns dropping,
    antipodal), ``"s_cross"``: where the two cross (linear interpolation), ``"slopes"``:
    their slopes dL/ds there, ``"jump"``: |difference| / larger |slope|}. A jump above
    0 is the derivative discontinuity of a first-order transition.
    """
    s = np.asarray(density, np.float64)
    drop = 0 if r < 1 else 1  # index of the dropping start in default_starts_2x1
    params, loss = exact_minima_2x1(r, s, default_starts_2x1(s)[:, [drop, 2]])
    in_basin = np.stack([np.abs(params[:, 0, 1 - drop]) < 0.1,
                         params[:, 1, 0] * params[:, 1, 1] < -0.25], axis=1)
    loss = np.where(in_basin, loss, np.nan)
    diff = loss[:, 1] - loss[:, 0]
    sign_change = np.isfinite(diff[:-1]) & np.isfinite(diff[1:]) & (diff[:-1] * diff[1:] < 0)
    if not sign_change.any():
        raise ValueError(f"the two basins do not cross between densities {s[0]} and {s[-1]}")
    k = int(np.flatnonzero(sign_change)[0])
    s_cross = float(s[k] - diff[k] * (s[k + 1] - s[k]) / (diff[k + 1] - diff[k]))
    slopes = np.gradient(loss, s, axis=0)[k : k + 2].mean(axis=0)
    jump = float(abs(slopes[1] - slopes[0]) / np.abs(slopes).max())
    return {"loss": loss, "s_cross": s_cross, "slopes": slopes, "jump": jump}


def dropped_profile_2x1(r, density, eps, *, dropped: str = "extra"):
    """Loss along the dropped weight, everything else re-optimised, relative to eps = 0.

    At a dropping state (``dropped="extra"``: W = (1, 0), b = (0, s/2); ``"normal"``: the
    mirror image) set the dropped feature's weight to each ``eps [E]`` and minimise the
    exact loss over the kept weight and both biases. Returns ``[*G, E]`` relative loss
    changes L(eps) / L(0) - 1, ``G`` the broadcast shape of r and density. Positive at
    both signs of a small eps: the dropping state is a local minimum; negative at one
    sign: a saddle; negative at both: a ridge the weight leaves either way.
    """
    if dropped not in ("extra", "normal"):
        raise ValueError(f"dropped must be 'extra' or 'normal', got {dropped!r}")
    r, s = np.broadcast_arrays(np.asarray(r, np.float64), np.asarray(density, np.float64))
    _check_phase_args(2, r, s)
    # L(W1, W2, b1, b2; r) = r L(W2, W1, b2, b1; 1/r): dropping the normal feature at r is
    # dropping the extra one at 1/r, and relative changes are the same
    r = r if dropped == "extra" else 1 / r
    eps = np.concatenate([[0.0], np.asarray(eps, np.float64).ravel()])
    shape = (*r.shape, eps.size)
    rr, ss, ee = (np.broadcast_to(v, shape) for v in (r[..., None], s[..., None], eps))
    kept_loss = lambda w: optimal_bias_2x1(w, ee, rr, ss)[2]
    # the kept weight stays near 1: a coarse grid and 16 golden steps fix it to ~2e-4
    _, loss = _argmin_1d(kept_loss, 0.2, 1.8, shape, grid=9, iterations=16)
    return loss[..., 1:] / loss[..., :1] - 1


def params_2x1(W, b) -> np.ndarray:
    """Trained n = 2, m = 1 models as ``[..., 4]`` rows (W1, W2, b1, b2) in canonical sign.

    ``W [..., 2, 1]`` and ``b [..., 2]`` (arrays or tensors, e.g. ``grid.W[best]``), ready
    for ``exact_loss_2x1(*params.T, r, s)`` and for comparison with ``exact_optimum_2x1``.
    """
    W = np.asarray(W.detach().cpu() if hasattr(W, "detach") else W, np.float64)
    b = np.asarray(b.detach().cpu() if hasattr(b, "detach") else b, np.float64)
    if W.shape[-2:] != (2, 1) or b.shape[-1] != 2 or W.shape[:-2] != b.shape[:-1]:
        raise ValueError(f"W must be [..., 2, 1] and b [..., 2] alike, got {W.shape}, {b.shape}")
    return canonical_sign_2x1(np.concatenate([W[..., 0], b], axis=-1))


def distance_2x1(p, q) -> np.ndarray:
    """Largest absolute difference between n = 2 configurations ``p, q [..., 4]``
    (W1, W2, b1, b2), up to the symmetry W -> -W: ``[...]``.

    Comparing canonical signs is not enough where a weight is near 0 (a dropped
    feature's 0.004 and -0.004 pick opposite signs for the other weight).
    """
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    flipped = p * np.array([-1.0, -1.0, 1.0, 1.0])
    return np.minimum(np.abs(p - q).max(axis=-1), np.abs(flipped - q).max(axis=-1))

"""Pinning fields: the continuous deviations that a frozen sign structure leaves in the weights.

Chapter 6 (Vaintrob 2026, "Continuous fluctuations from frozen structure"). A trained
denoiser ``y = D φ(E x)`` has encoder weights in a central cluster at 0 and outer
clusters at ±c; the sign matrix ``S`` says which cluster each weight is in. What is left,

    δE = E - c S,      δD = Dᵀ - b S       (both [h, d], row j = neuron j),

are the *deviations*; the post's claim is that they are quenched disorder: a function of
``S`` (the frozen field), Gaussian by a central-limit argument, "pinning fields".

Shapes: one model at a time, ``E: [h, d]``, ``D: [d, h]``, ``S: [h, d]`` in {-1, 0, 1}
(the chapter loops over instances). Everything returns numpy.

Sections: spin systems (frustration by exhaustive search), the deviations and their
clusters, shape statistics (skew, kurtosis, a normality test, a two-component mixture),
replicate correlations with a neuron bootstrap, local structure of ``S`` and a held-out
regression on it, random wirings and power-law fits for the size sweep, and the
in-basin training that all of these measure.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.special
import scipy.stats
import torch

from ..core.checks import check_positive_int
from ..core.fit import Fit, fit
from ..core.seeds import stream
from ..core.tensors import as_numpy64
from ..core.training import TrainConfig
from .structure import sign_structure

CLUSTERS = ("central", "outer", "positive", "negative")


# ----------------------------------------------------------------------------- spin systems
def ising_states(n_spins: int) -> np.ndarray:
    """All ``2^N`` spin configurations, ``[2^N, N]`` int8 in {-1, +1} (N <= 22)."""
    n = check_positive_int("n_spins", n_spins)
    if n > 22:
        raise ValueError(f"n_spins must be <= 22 for an exhaustive search, got {n}")
    codes = np.arange(2**n, dtype=np.int64)[:, None]
    bits = (codes >> np.arange(n, dtype=np.int64)) & 1
    return (2 * bits - 1).astype(np.int8)


def _couplings(J) -> np.ndarray:
    J = np.asarray(J, dtype=np.float64)
    if J.ndim != 2 or J.shape[0] != J.shape[1] or not np.allclose(J, J.T):
        raise ValueError(f"J must be a symmetric [N, N] matrix, got shape {J.shape}")
    return J - np.diag(np.diag(J))


def ising_energy(J, states) -> np.ndarray:
    """E(s) = -Σ_{i<j} J_ij s_i s_j for each row of ``states`` ``[M, N]``: ``[M]``.

    J_ij > 0 is a ferromagnetic bond (the pair wants to align), J_ij < 0 an
    antiferromagnetic one (the pair wants to anti-align).
    """
    J = _couplings(J)
    s = np.asarray(states, dtype=np.float64)
    return -0.5 * np.einsum("mi,ij,mj->m", s, J, s)


def ground_states(J, atol: float = 1e-9) -> dict:
    """Exhaustive ground states of the Ising energy ``ising_energy``.

    Returns ``energy`` (the minimum), ``states`` ``[G, N]`` (every minimiser, both members
    of each pair related by the global flip), ``degeneracy`` G, ``bonds`` (number of
    nonzero couplings) and ``unsatisfied`` ``[G]``: per ground state, the bonds whose
    preference it violates (J_ij s_i s_j < 0). A system is *frustrated* when even its
    ground states leave bonds unsatisfied.
    """
    J = _couplings(J)
    states = ising_states(J.shape[0])
    energies = ising_energy(J, states)
    e0 = energies.min()
    gs = states[energies <= e0 + atol]
    iu = np.triu_indices(J.shape[0], 1)
    bond = J[iu] != 0
    sat = J[iu][None, :] * gs[:, iu[0]] * gs[:, iu[1]]
    return {"energy": float(e0), "states": gs, "degeneracy": int(gs.shape[0]),
            "bonds": int(bond.sum()), "unsatisfied": (sat < 0).sum(axis=1)}


def frustrated_triangles(J) -> float:
    """Share of triangles (three mutually coupled spins) whose bond signs multiply to < 0.

    Such a loop cannot satisfy all three bonds whatever the spins (an odd number of
    antiferromagnetic bonds around it): the classic local witness of frustration.
    NaN if there is no triangle.
    """
    J = _couplings(J)
    n = J.shape[0]
    total, bad = 0, 0
    for i, j, k in itertools.combinations(range(n), 3):
        prod = J[i, j] * J[j, k] * J[k, i]
        if prod != 0:
            total += 1
            bad += prod < 0
    return bad / total if total else float("nan")


def aligned_fields(J, state) -> np.ndarray:
    """s_i h_i with the local field h_i = Σ_j J_ij s_j, ``[N]`` for one state ``[N]``.

    In a ground state every s_i h_i >= 0 (else flipping spin i lowers the energy). In an
    unfrustrated system every bond is satisfied, so s_i h_i = Σ_j |J_ij|: the fields are
    fixed by the couplings' sizes alone. Frustration spreads them: the field on each spin
    depends on the whole frozen configuration around it.
    """
    J = _couplings(J)
    s = np.asarray(state, dtype=np.float64)
    return s * (J @ s)


def mattis_couplings(signs, magnitudes) -> np.ndarray:
    """J_ij = ε_i ε_j |J_ij|: random-looking signs that are a relabelling of a ferromagnet.

    Gauge-transforming the spins s_i -> ε_i s_i maps it to the ferromagnet with the same
    |J|, so it is unfrustrated (ground state s = ±ε satisfies every bond), although each
    sign J_ij alone looks like a coin flip.
    """
    eps = np.asarray(signs, dtype=np.float64).reshape(-1)
    mag = np.abs(_couplings(magnitudes))
    if mag.shape[0] != eps.size:
        raise ValueError(f"signs has {eps.size} entries, magnitudes is {mag.shape}")
    return np.outer(eps, eps) * mag


def lattice_couplings(side: int, lattice: str = "triangular", coupling: float = -1.0,
                      *, periodic: bool = True) -> np.ndarray:
    """Nearest-neighbour couplings on a ``side`` x ``side`` patch of a lattice.

    "square": bonds to the right and upper neighbours (with an even ``side`` it is
    bipartite, and an antiferromagnet, ``coupling`` < 0, is unfrustrated: its
    checkerboard satisfies every bond); "triangular": the same plus one diagonal per
    square, so that every bond sits in two triangles (an antiferromagnet on it is the
    classic frustrated system). ``periodic`` wraps the patch into a torus (side >= 3),
    so that no site is special; otherwise the boundary is open. Returns ``[N, N]`` with
    N = side², site (x, y) at index x + side·y.
    """
    n = check_positive_int("side", side)
    if lattice not in ("square", "triangular"):
        raise ValueError(f"lattice must be 'square' or 'triangular', got {lattice!r}")
    if periodic and n < 3:
        raise ValueError(f"a periodic lattice needs side >= 3, got {n}")
    steps = [(1, 0), (0, 1)] + ([(1, 1)] if lattice == "triangular" else [])
    J = np.zeros((n * n, n * n))
    for x, y in itertools.product(range(n), range(n)):
        for dx, dy in steps:
            u, v = x + dx, y + dy
            if periodic:
                u, v = u % n, v % n
            elif u >= n or v >= n:
                continue
            a, b = x + n * y, u + n * v
            J[a, b] = J[b, a] = coupling
    return J


def random_sign_couplings(n_spins: int, *, seed: int = 0) -> np.ndarray:
    """All-to-all couplings J_ij = ±1 with independent fair signs (a ±J spin glass)."""
    n = check_positive_int("n_spins", n_spins)
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.choice([-1.0, 1.0], size=(n, n)), 1)
    return upper + upper.T


# ----------------------------------------------------------------------------- deviations
@dataclass
class Deviations:
    """One model's weights split into frozen signs and continuous deviations.

    signs      S ``[h, d]`` int8 (row j: neuron j's signs on the d features)
    centre     c, the mean |E| over the outer entries
    decoder_centre  b, the mean of Dᵀ S over the outer entries (the decoder's outer value)
    encoder    δE = E - c S ``[h, d]``
    decoder    δD = Dᵀ - b S ``[h, d]`` (transposed to the encoder's layout)
    """

    signs: np.ndarray
    centre: float
    decoder_centre: float
    encoder: np.ndarray
    decoder: np.ndarray

    def mask(self, cluster: str) -> np.ndarray:
        """``[h, d]`` bool: the entries of ``cluster`` in CLUSTERS."""
        if cluster not in CLUSTERS:
            raise ValueError(f"cluster must be one of {CLUSTERS}, got {cluster!r}")
        s = self.signs
        return {"central": s == 0, "outer": s != 0, "positive": s > 0,
                "negative": s < 0}[cluster]

    def outward(self, which: str = "encoder") -> np.ndarray:
        """Deviation times the sign, ``[h, d]``: > 0 means further out than the centre, so
        the two outer clusters can be pooled (zero on central entries)."""
        values = {"encoder": self.encoder, "decoder": self.decoder}[which]
        return values * self.signs


def deviations(E, D, signs=None) -> Deviations:
    """Split one model into S, c, b and the deviations δE, δD.

    ``E: [h, d]``, ``D: [d, h]``; ``signs`` defaults to ``sign_structure(E)`` (the 2-means
    threshold of ``encoder_clusters``). Pass a fixed S to measure deviations from a
    structure the model was started in.
    """
    E, D = as_numpy64(E), as_numpy64(D)
    if E.ndim != 2 or D.shape != E.T.shape:
        raise ValueError(f"E [h, d] and D [d, h] must match, got {E.shape} and {D.shape}")
    S = (sign_structure(torch.as_tensor(E)).numpy() if signs is None
         else np.asarray(as_numpy64(signs)).astype(np.int8))
    if S.shape != E.shape:
        raise ValueError(f"signs must have E's shape {E.shape}, got {S.shape}")
    outer = S != 0
    if not outer.any():
        raise ValueError("the sign matrix has no outer entries: the model has no clusters")
    c = float(np.abs(E[outer]).mean())
    b = float((D.T * S)[outer].mean())
    return Deviations(S, c, b, E - c * S, D.T - b * S)


def row_offsets(values, mask) -> np.ndarray:
    """Per row, the mean of ``values`` over the entries in ``mask``: ``[h]`` (NaN if none).

    On the central cluster of δE this is neuron j's mean off-support weight: with exactly
    k features active in every input, a constant offset μ_j on them adds k μ_j to the
    neuron's input on every sample, i.e. it acts as the bias the model does not have.
    """
    v, m = as_numpy64(values), np.asarray(mask, dtype=bool)
    n = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (v * m).sum(axis=1) / n, np.nan)


def within_rows(values, mask) -> np.ndarray:
    """``values`` minus its row offsets (``row_offsets``) on ``mask``; 0 elsewhere."""
    v, m = as_numpy64(values), np.asarray(mask, dtype=bool)
    return np.where(m, v - np.nan_to_num(row_offsets(v, m))[:, None], 0.0)


def live_rows(signs) -> np.ndarray:
    """``[h, d]`` bool: entries of neurons that read at least one feature (row degree > 0).

    A neuron that reads no feature has tiny activations (φ'(0) = 0), so its weights get
    almost no gradient and keep whatever the initialisation gave them: not pinned by
    anything. The control model, with more neurons than features, has many of them.
    """
    S = np.asarray(signs)
    return np.broadcast_to(((S != 0).sum(axis=1) > 0)[:, None], S.shape)


def shared_feature_pairs(signs) -> int:
    """Pairs of features that share at least one neuron in ``S: [h, d]``.

    Two such features interfere (one active drives the other's output), so each pair is
    a broken "do not share" preference: the denoiser's unsatisfied bonds.
    """
    A = (np.asarray(as_numpy64(signs)) != 0).astype(np.float64)
    G = A.T @ A
    return int(((G - np.diag(np.diag(G))) > 0).sum() // 2)


def forced_shared_pairs(n_features: int, n_hidden: int) -> int:
    """The fewest feature pairs that must share a neuron when each of ``d`` features is
    read by at least one of ``h`` neurons: spread the features as evenly as possible, so
    ``d mod h`` neurons read ⌈d/h⌉ and the rest ⌊d/h⌋, each neuron contributing the
    pairs among its own features (0 when h >= d). A counting bound: frustration forced
    by d > h alone."""
    d, h = check_positive_int("n_features", n_features), check_positive_int("n_hidden",
                                                                           n_hidden)
    q, rem = divmod(d, h)
    return int(rem * math.comb(q + 1, 2) + (h - rem) * math.comb(q, 2))


def deviation_parts(dev: Deviations) -> dict:
    """The four parts of δ as 1-D arrays, in units of the cluster separation.

    "E central" (δE / c on central entries of live neurons), "E outer" (S δE / c),
    "D central" (δD / b, live neurons), "D outer" (S δD / b). Dividing by the separation
    makes models with different centres comparable.
    """
    live = live_rows(dev.signs)
    cen, out = dev.mask("central") & live, dev.mask("outer")
    return {"E central": dev.encoder[cen] / dev.centre,
            "E outer": dev.outward("encoder")[out] / dev.centre,
            "D central": dev.decoder[cen] / dev.decoder_centre,
            "D outer": dev.outward("decoder")[out] / dev.decoder_centre}


def outer_spread_within_degree(dev: Deviations, which: str = "decoder") -> float:
    """Spread of the folded outer deviations once each column degree's mean is removed,
    in units of the separation (c or b).

    Without superposition the outer weights sit on a few discrete values, one per number
    of readers of the feature; this is the spread left around those values.
    """
    out = dev.mask("outer")
    v = dev.outward(which)[out]
    m = local_structure(dev.signs)["column_degree"][out]
    means = {x: v[m == x].mean() for x in np.unique(m)}
    resid = v - np.array([means[x] for x in m])
    return float(resid.std() / (dev.centre if which == "encoder" else dev.decoder_centre))


def folded_outer(dev: Deviations) -> np.ndarray:
    """``[n_outer, 2]``: (S δE / c, S δD / b) of every outer entry, the post's corner
    clusters folded onto one and zoomed in."""
    out = dev.mask("outer")
    return np.c_[dev.outward("encoder")[out] / dev.centre,
                 dev.outward("decoder")[out] / dev.decoder_centre]


# ----------------------------------------------------------------------------- shape statistics
def shape_statistics(values, *, n_boot: int = 1000, level: float = 0.01,
                     seed: int = 0) -> dict:
    """Skew, excess kurtosis and a normality test of a 1-D sample.

    Returns n, mean, std, ``skew`` and ``kurtosis`` (excess: 0 for a Gaussian) with 95 %
    percentile-bootstrap intervals (``skew_ci``, ``kurtosis_ci``; ``n_boot`` resamples),
    ``normal_p``, the p-value of D'Agostino and Pearson's K² test (skew and kurtosis
    combined; ``scipy.stats.normaltest``), and ``gaussian``: whether the test keeps the
    Gaussian hypothesis at ``level``. With many points the test detects small departures:
    read it with the effect sizes.
    """
    x = as_numpy64(values).reshape(-1)
    if x.size < 20 or not np.all(np.isfinite(x)):
        raise ValueError(f"values must hold at least 20 finite numbers, got {x.size}")
    rng = np.random.default_rng(seed)
    n_boot = check_positive_int("n_boot", n_boot)
    skews, kurts = np.empty(n_boot), np.empty(n_boot)
    chunk = max(1, int(2e7 // x.size))
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        sample = x[rng.integers(0, x.size, (m, x.size))]
        skews[start:start + m] = scipy.stats.skew(sample, axis=1)
        kurts[start:start + m] = scipy.stats.kurtosis(sample, axis=1)
    p = float(scipy.stats.normaltest(x).pvalue)
    return {"n": int(x.size), "mean": float(x.mean()), "std": float(x.std()),
            "skew": float(scipy.stats.skew(x)), "kurtosis": float(scipy.stats.kurtosis(x)),
            "skew_ci": tuple(np.quantile(skews, [0.025, 0.975]).tolist()),
            "kurtosis_ci": tuple(np.quantile(kurts, [0.025, 0.975]).tolist()),
            "normal_p": p, "gaussian": bool(p >= level)}


def _gaussian_logpdf(X, mean, cov) -> np.ndarray:
    dim = X.shape[1]
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(L, (X - mean).T)
    return -0.5 * (z * z).sum(0) - np.log(np.diag(L)).sum() - 0.5 * dim * math.log(2 * math.pi)


def gaussian_mixture(values, n_components: int = 2, *, n_init: int = 5,
                     iterations: int = 300, seed: int = 0) -> dict:
    """Maximum-likelihood Gaussian mixture (full covariances, EM) of ``[N]`` or ``[N, D]``.

    Returns ``weights`` ``[K]``, ``means`` ``[K, D]``, ``covariances`` ``[K, D, D]``,
    ``labels`` ``[N]`` (most probable component), ``log_likelihood`` and ``bic``
    (-2 log L + (number of parameters) log N). The best of ``n_init`` starts (means at
    random points) is kept.
    """
    X = as_numpy64(values)
    X = X[:, None] if X.ndim == 1 else X
    n, dim = X.shape
    k = check_positive_int("n_components", n_components)
    if n < 5 * k * dim:
        raise ValueError(f"need at least {5 * k * dim} points for {k} components, got {n}")
    rng = np.random.default_rng(seed)
    ridge = 1e-6 * np.eye(dim) * max(X.var(axis=0).mean(), 1e-12)
    best = None
    for _ in range(max(1, n_init)):
        means = X[rng.choice(n, k, replace=False)]
        covs = np.stack([np.cov(X.T).reshape(dim, dim) + ridge] * k)
        weights = np.full(k, 1 / k)
        prev = -np.inf
        for _ in range(iterations):
            logp = np.stack([np.log(weights[c]) + _gaussian_logpdf(X, means[c], covs[c])
                             for c in range(k)], axis=1)
            norm = scipy.special.logsumexp(logp, axis=1)
            ll = float(norm.sum())
            resp = np.exp(logp - norm[:, None])
            nk = resp.sum(0) + 1e-12
            weights = nk / n
            means = (resp.T @ X) / nk[:, None]
            covs = np.stack([((resp[:, c, None] * (X - means[c])).T @ (X - means[c])) / nk[c]
                             + ridge for c in range(k)])
            if ll - prev < 1e-8 * abs(ll):
                break
            prev = ll
        if best is None or ll > best["log_likelihood"]:
            best = {"weights": weights, "means": means, "covariances": covs,
                    "labels": logp.argmax(axis=1), "log_likelihood": ll}
    n_params = (k - 1) + k * dim + k * dim * (dim + 1) // 2
    best["bic"] = -2 * best["log_likelihood"] + n_params * math.log(n)
    return best


def two_components(values, *, n_init: int = 5, seed: int = 0) -> dict:
    """Does a sample split into two kinds of points? ``delta_bic`` = BIC(1) - BIC(2).

    ΔBIC > 10 is "very strong" evidence for two Gaussian components over one (Kass and
    Raftery's scale); a single Gaussian gives ΔBIC < 0 up to chance. Also returns the
    two-component fit (``weights``, ``means``, ``labels``, with component 0 the larger).
    """
    one = gaussian_mixture(values, 1, n_init=1, seed=seed)
    two = gaussian_mixture(values, 2, n_init=n_init, seed=seed)
    order = np.argsort(-two["weights"])
    relabel = np.empty(2, dtype=int)
    relabel[order] = np.arange(2)
    return {"delta_bic": float(one["bic"] - two["bic"]), "weights": two["weights"][order],
            "means": two["means"][order], "labels": relabel[two["labels"]]}


# ----------------------------------------------------------------------------- replicates
def replicate_correlation(a, b, mask, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Pearson correlation of two ``[h, d]`` deviation maps over the entries in ``mask``.

    The interval resamples whole rows (neurons) with replacement, not single entries:
    entries of one neuron share its structure, so they are not independent. Returns
    ``r``, ``ci`` (95 % percentile interval) and ``n`` (entries used). Two replicate runs
    with independent noise ε_a, ε_b around one frozen part f have
    r = Var f / (Var f + Var ε): the share of the variance that is frozen.
    """
    a, b = as_numpy64(a), as_numpy64(b)
    m = np.asarray(mask, dtype=bool)
    if a.shape != b.shape or m.shape != a.shape or a.ndim != 2:
        raise ValueError(f"a, b and mask must be matching [h, d], got {a.shape}, {b.shape}, "
                         f"{m.shape}")
    rows = np.nonzero(m)[0]
    x, y = a[m], b[m]
    if x.size < 3:
        raise ValueError(f"mask selects {x.size} entries; need at least 3")
    r = float(np.corrcoef(x, y)[0, 1])
    rng = np.random.default_rng(seed)
    h = a.shape[0]
    n_boot = check_positive_int("n_boot", n_boot)
    rs = np.empty(n_boot)
    chunk = max(1, int(2e7 // x.size))
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        counts = np.stack([np.bincount(rng.integers(0, h, h), minlength=h) for _ in range(k)])
        w = counts[:, rows].astype(np.float64)
        sw = w.sum(1, keepdims=True)
        mx, my = (w * x).sum(1, keepdims=True) / sw, (w * y).sum(1, keepdims=True) / sw
        cov = (w * (x - mx) * (y - my)).sum(1)
        var = np.sqrt((w * (x - mx) ** 2).sum(1) * (w * (y - my) ** 2).sum(1))
        rs[start:start + k] = cov / np.maximum(var, 1e-300)
    return {"r": r, "ci": tuple(np.quantile(rs, [0.025, 0.975]).tolist()), "n": int(x.size)}


def replicate_parts(a: Deviations, b: Deviations, *, outer: bool = True,
                    n_boot: int = 1000, seed: int = 0) -> dict:
    """``replicate_correlation`` of each part of δ between two models.

    Parts: "E central", "E within neuron" (central minus each neuron's offset),
    "D central" (entries central in both models, live neurons), "E neuron offsets" and
    "D neuron offsets" (one number per neuron: the mean central deviation) and, with
    ``outer`` (models in the same basin), "E outer" and "D outer" (folded, on entries in
    the same outer cluster in both). Returns part -> {r, ci, n}.
    """
    live = live_rows(a.signs) & live_rows(b.signs)
    cen = (a.signs == 0) & (b.signs == 0) & live
    kw = {"n_boot": n_boot, "seed": seed}
    parts = {"E central": (a.encoder, b.encoder, cen),
             "E within neuron": (within_rows(a.encoder, cen), within_rows(b.encoder, cen),
                                 cen),
             "D central": (a.decoder, b.decoder, cen)}
    if outer:
        same = (a.signs == b.signs) & (a.signs != 0)
        parts["E outer"] = (a.outward("encoder"), b.outward("encoder"), same)
        parts["D outer"] = (a.outward("decoder"), b.outward("decoder"), same)
    out = {name: replicate_correlation(x, y, m, **kw) for name, (x, y, m) in parts.items()}
    for name, x, y in [("E neuron offsets", a.encoder, b.encoder),
                       ("D neuron offsets", a.decoder, b.decoder)]:
        ox, oy = row_offsets(x, cen), row_offsets(y, cen)
        ok = np.isfinite(ox) & np.isfinite(oy)
        out[name] = replicate_correlation(ox[ok, None], oy[ok, None],
                                          np.ones((int(ok.sum()), 1), bool), **kw)
    return out


# ----------------------------------------------------------------------------- local structure
def local_structure(signs) -> dict:
    """Local quantities of the frozen structure at every entry (j, i), each ``[h, d]``.

    row_degree        r_j, features neuron j reads
    column_degree     m_i, neurons that read feature i
    mixed_row         1 if neuron j reads features with both signs (the footnote's rule
                      "one sign per row" broken), else 0
    neuron_overlap    Σ_{j'≠j} |supp j ∩ supp j'|: features neuron j shares with others
    feature_overlap   Σ_{i'≠i} |N(i) ∩ N(i')|: how many (neuron, feature) pairs share a
                      neuron with feature i
    co_reader_agreement  Σ_{j'∈N(i), j'≠j} s_j'i σ_j, with σ_j the majority sign of row j:
                      do the other readers of feature i share neuron j's sign
    signed_paths      (S Sᵀ S)_ji without the back-tracking terms: signed 3-step paths
                      j → i' → j' → i through other features and neurons
    unsigned_paths    the same count on |S|
    """
    S = np.asarray(as_numpy64(signs))
    A = (S != 0).astype(np.float64)
    h, d = S.shape
    r, m = A.sum(1), A.sum(0)
    row_sign = np.sign(S.sum(1))
    mixed = ((S > 0).any(1) & (S < 0).any(1)).astype(np.float64)
    G_rows = A @ A.T
    G_cols = A.T @ A
    co = (S.sum(0)[None, :] - S) * row_sign[:, None]
    signed = S @ S.T @ S - (r[:, None] + m[None, :] - 1) * S
    unsigned = A @ A.T @ A - (r[:, None] + m[None, :] - 1) * A
    full = lambda v, axis: np.broadcast_to(v[:, None] if axis == 0 else v[None, :],  # noqa: E731
                                           (h, d)).copy()
    return {
        "row_degree": full(r, 0),
        "column_degree": full(m, 1),
        "mixed_row": full(mixed, 0),
        "neuron_overlap": full(G_rows.sum(1) - np.diag(G_rows), 0),
        "feature_overlap": full(G_cols.sum(1) - np.diag(G_cols), 1),
        "co_reader_agreement": co,
        "signed_paths": signed,
        "unsigned_paths": unsigned,
    }


def regress_on_structure(values, signs, mask, predictors, *, categorical=(),
                         folds: int = 5, shuffle: bool = False, seed: int = 0) -> dict:
    """Least squares of ``values`` on local quantities of S (``local_structure``), cross-validated.

    values      ``[h, d]`` deviations; only the entries in ``mask`` are used
    predictors  names of ``local_structure`` entries (linear terms)
    categorical names entered as one indicator per value instead (e.g. the column
                degree: features read by 1, 2 or 3 neurons are different kinds)
    folds       the entries are dealt at random into ``folds`` parts; each part is
                predicted by the fit to the others (k-fold cross-validation)
    Returns ``r2_test`` (1 - SSE/SST of the out-of-fold predictions of every entry:
    the held-out R², pooled over folds; with a few hundred entries and a few heavy
    points a single half/half split swings by ±0.3 with the split, the pooled figure
    does not), ``r2_train`` (in-sample R² of the fit to all entries), ``fitted`` (that
    fit's prediction at every masked entry, ``[h, d]``, 0 elsewhere), ``coefficients``
    (name -> value, of that fit) and ``n``. ``shuffle`` permutes the values among the
    masked entries first: the negative control, whose held-out R² should be ~0.
    """
    y_all = as_numpy64(values)
    m = np.asarray(mask, dtype=bool)
    folds = check_positive_int("folds", folds)
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds!r}")
    structure = local_structure(signs)
    unknown = [p for p in (*predictors, *categorical) if p not in structure]
    if unknown:
        raise ValueError(f"unknown predictors {unknown}; known: {sorted(structure)}")
    rng = np.random.default_rng(seed)
    y = y_all[m]
    if shuffle:
        y = rng.permutation(y)
    columns, names = [np.ones(y.size)], ["intercept"]
    for p in predictors:
        columns.append(structure[p][m])
        names.append(p)
    for p in categorical:
        levels = np.unique(structure[p][m])
        for level in levels[1:]:
            columns.append((structure[p][m] == level).astype(np.float64))
            names.append(f"{p}={level:g}")
    X = np.stack(columns, axis=1)
    part = rng.permutation(y.size) % folds
    held_out = np.empty_like(y)
    for k in range(folds):
        coef_k, *_ = np.linalg.lstsq(X[part != k], y[part != k], rcond=None)
        held_out[part == k] = X[part == k] @ coef_k
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    pred = X @ coef

    def r2(prediction):
        total = ((y - y.mean()) ** 2).sum()
        return float(1 - ((y - prediction) ** 2).sum() / total) if total > 0 else float("nan")

    fitted = np.zeros_like(y_all)
    fitted[m] = pred
    return {"r2_train": r2(pred), "r2_test": r2(held_out), "fitted": fitted,
            "coefficients": dict(zip(names, coef.tolist())), "n": int(y.size)}


def two_components_beyond_structure(dev: Deviations, predictors, *, categorical=(),
                                    seed: int = 0) -> dict:
    """How much of the outer clusters' split into two groups local structure explains.

    Fits ``two_components`` to ``folded_outer(dev)`` (``before``), then to the same
    points minus the least-squares prediction from local structure of both coordinates
    (``regress_on_structure`` with ``predictors`` / ``categorical``; ``after``), and
    returns both ΔBIC, ``explained`` = 1 - max(after, 0) / before, and the minority
    ``labels`` of the first fit (1 = the smaller group).
    """
    out = dev.mask("outer")
    before = two_components(folded_outer(dev), seed=seed)
    fitted = [regress_on_structure(dev.outward(w), dev.signs, out, predictors,
                                   categorical=categorical, seed=seed)["fitted"][out]
              for w in ("encoder", "decoder")]
    resid = folded_outer(dev) - np.c_[fitted[0] / dev.centre, fitted[1] / dev.decoder_centre]
    after = two_components(resid, seed=seed)
    share = (1 - max(after["delta_bic"], 0) / before["delta_bic"]
             if before["delta_bic"] > 0 else float("nan"))
    return {"before": before["delta_bic"], "after": after["delta_bic"],
            "explained": float(share), "labels": before["labels"]}


def structural_defects(signs, column_degree: int = 2) -> np.ndarray:
    """Entries (j, i) of ``S: [h, d]`` with a defect in their local structure: feature i
    is read by other than ``column_degree`` neurons, or neuron j is mixed (reads features
    with both signs). ``[h, d]`` bool (defined at every entry; used on the outer ones)."""
    st = local_structure(signs)
    return (st["column_degree"] != column_degree) | (st["mixed_row"] > 0)


def defect_enrichment(dev: Deviations, labels, *, column_degree: int = 2,
                      n_perm: int = 200, seed: int = 0) -> dict:
    """Are the minority points of the outer clusters structural defects?

    ``labels``: one per outer entry (in ``dev.mask("outer")`` order), 1 = the minority
    kind (e.g. ``two_components``' labels). Returns the share of defects
    (``structural_defects``) in each kind, ``ratio`` = P(defect | minority) /
    P(defect | majority), and ``random_ratio``: the mean ratio over ``n_perm`` random
    splits of the same sizes (the negative control, about 1).
    """
    defect = structural_defects(dev.signs, column_degree)[dev.mask("outer")]
    lab = np.asarray(labels).astype(bool).reshape(-1)
    if lab.shape != defect.shape or lab.all() or not lab.any():
        raise ValueError(f"labels must mark a proper subset of the {defect.size} outer "
                         f"entries, got {lab.sum()} of {lab.size}")

    def ratio(mark):
        base = defect[~mark].mean()
        return float(defect[mark].mean() / base) if base > 0 else float("inf")

    rng = np.random.default_rng(seed)
    random = [ratio(rng.permutation(lab)) for _ in range(check_positive_int("n_perm",
                                                                            n_perm))]
    return {"defect_share": float(defect.mean()), "minority": float(defect[lab].mean()),
            "majority": float(defect[~lab].mean()), "ratio": ratio(lab),
            "random_ratio": float(np.mean(random))}


# ----------------------------------------------------------------------------- random wirings
def random_wiring(n_hidden: int, n_features: int, column_degree: int, *,
                  seed: int = 0) -> np.ndarray:
    """A random frozen structure with fixed degrees: ``[h, d]`` int8 in {-1, 0, 1}.

    Every feature is read by exactly ``column_degree`` distinct neurons, the rows share
    the m·d readings as evenly as possible (degrees ⌊md/h⌋ or ⌈md/h⌉), the pairing is
    uniformly random (a configuration model, repeated pairs re-drawn), and each neuron
    has one random sign for all its features (the post's footnote on row signs).
    """
    h = check_positive_int("n_hidden", n_hidden)
    d = check_positive_int("n_features", n_features)
    m = check_positive_int("column_degree", column_degree)
    if m > h:
        raise ValueError(f"column_degree must be <= n_hidden={h}, got {m}")
    rng = np.random.default_rng(seed)
    total = m * d
    per_row = np.full(h, total // h)
    per_row[rng.choice(h, total % h, replace=False)] += 1
    row_stubs = np.repeat(np.arange(h), per_row)
    col_stubs = np.repeat(np.arange(d), m)
    for _ in range(1000):
        rows = rng.permutation(row_stubs)
        pairs = rows * d + col_stubs
        if np.unique(pairs).size == total:
            break
        # repair: swap each duplicated stub with a random other one until none is left
        for _ in range(100 * total):
            _, first = np.unique(pairs, return_index=True)
            dup = np.setdiff1d(np.arange(total), first)
            if dup.size == 0:
                break
            t, u = dup[0], rng.integers(total)
            rows[t], rows[u] = rows[u], rows[t]
            pairs = rows * d + col_stubs
        if np.unique(pairs).size == total:
            break
    else:  # pragma: no cover - needs m close to h
        raise ValueError(f"could not place column degree {m} in {h} rows without repeats")
    S = np.zeros((h, d), dtype=np.int8)
    S[rows, col_stubs] = 1
    return (S * rng.choice(np.array([-1, 1], dtype=np.int8), size=(h, 1))).astype(np.int8)


def power_law(x, y) -> dict:
    """Least-squares fit of log y = a + β log x over all points (several y per x allowed).

    Returns ``exponent`` β, ``prefactor`` e^a, ``stderr`` of β and its 95 % t-interval
    ``ci``; the spread of the y at one x enters the interval through the residuals.
    """
    lx, ly = np.log(as_numpy64(x).reshape(-1)), np.log(as_numpy64(y).reshape(-1))
    if lx.size != ly.size or lx.size < 3 or np.unique(lx).size < 2:
        raise ValueError("power_law needs >= 3 points at >= 2 distinct x")
    fit_ = scipy.stats.linregress(lx, ly)
    t = scipy.stats.t.ppf(0.975, lx.size - 2)
    return {"exponent": float(fit_.slope), "prefactor": float(np.exp(fit_.intercept)),
            "stderr": float(fit_.stderr),
            "ci": (float(fit_.slope - t * fit_.stderr), float(fit_.slope + t * fit_.stderr))}


# ----------------------------------------------------------------------------- in-basin training
def basin_starts(signs, centre, noise_std: float, *, seed: int = 0,
                 noise_ids=None) -> torch.Tensor:
    """Starting encoders inside given basins: E₀ = c S + noise, ``[I, h, d]`` float32.

    signs     ``[I, h, d]`` sign matrices (one basin per instance)
    centre    c, a number or one per instance
    noise_std the size of the re-drawn continuous part
    noise_ids instance k's noise is drawn from the stream ``(seed, noise_ids[k])``
              (default k): equal ids give equal noise, so two basins can be started
              with the same continuous values
    """
    S = torch.as_tensor(np.asarray(as_numpy64(signs)), dtype=torch.float32)
    if S.ndim != 3:
        raise ValueError(f"signs must be [I, h, d], got shape {tuple(S.shape)}")
    n = S.shape[0]
    ids = list(range(n)) if noise_ids is None else list(noise_ids)
    if len(ids) != n:
        raise ValueError(f"noise_ids must have one id per instance ({n}), got {len(ids)}")
    c = torch.as_tensor(np.broadcast_to(np.asarray(centre, dtype=np.float64), (n,)).copy(),
                        dtype=torch.float32)
    noise = torch.stack([
        torch.randn(S.shape[1:], generator=torch.Generator().manual_seed(
            stream(seed, f"basin noise {k}")))
        for k in ids])
    return c[:, None, None] * S + float(noise_std) * noise


def fit_in_basins(config, signs, centre, train_config: TrainConfig, *, noise_std: float,
                  decoder_steps: int, seed: int = 0, device="auto", noise_ids=None,
                  eval_batches: int = 0, progress: bool = True,
                  description: str = "in-basin") -> tuple[Fit, torch.Tensor]:
    """Train one model per given basin, starting inside it; return (fit, starting E).

    Instance k starts at ``basin_starts`` (E₀ = c S_k + noise) with a fresh decoder
    (the config's init, from the stream ``(seed, "basin decoder")``); first the decoder
    alone trains for ``decoder_steps`` at ``train_config``'s lr (so that the encoder is
    not pulled out of its basin by a random decoder), then everything trains under
    ``train_config``. The data come from the stream ``(seed, "basin data")``: other
    data than a chapter's learned model with the same ``seed``. ``config.n_instances``
    must equal the number of basins.
    """
    E0 = basin_starts(signs, centre, noise_std, seed=seed, noise_ids=noise_ids)
    if E0.shape[0] != config.n_instances or tuple(E0.shape[1:]) != (
            config.n_hidden, config.n_features):
        raise ValueError(
            f"signs {tuple(E0.shape)} must be [n_instances={config.n_instances}, "
            f"n_hidden={config.n_hidden}, n_features={config.n_features}]")
    model = config.build_model(seed=stream(seed, "basin decoder"), device=device)
    decoder_config = replace(train_config, steps=check_positive_int("decoder_steps",
                                                                    decoder_steps),
                             schedule="constant", warmup_steps=0, decay_steps=0,
                             log_every=min(train_config.log_every, decoder_steps))
    data_seed = stream(seed, "basin data")
    first = fit(config, decoder_config, seed=data_seed, device=device, model=model,
                initial={"E": dict(enumerate(E0))}, frozen=("E",), progress=progress,
                description=f"{description}: decoder")
    run = fit(config, train_config, seed=data_seed, device=device, model=first.model,
              sampler=first.sampler, eval_batches=eval_batches, progress=progress,
              description=description)
    return run, E0


def cluster_summary(E, D, *, signs=None) -> dict:
    """The spreads a size sweep tracks, for one model: c, b and the standard deviations
    of δE and δD on the outer entries and on the central entries of live neurons, and the
    share of S's support that differs from ``signs`` (when given) after training."""
    dev = deviations(E, D)
    live = live_rows(dev.signs)
    out = {"centre": dev.centre, "decoder_centre": dev.decoder_centre,
           "encoder_outer": float(dev.encoder[dev.mask("outer")].std()),
           "decoder_outer": float(dev.decoder[dev.mask("outer")].std()),
           "encoder_central": float(dev.encoder[dev.mask("central") & live].std()),
           "decoder_central": float(dev.decoder[dev.mask("central") & live].std())}
    if signs is not None:
        S0 = np.asarray(as_numpy64(signs))
        out["moved"] = float((dev.signs != S0).sum() / max(1, (S0 != 0).sum()))
    return out


__all__ = [
    "CLUSTERS", "Deviations", "aligned_fields", "deviation_parts", "folded_outer",
    "outer_spread_within_degree", "replicate_parts", "shared_feature_pairs",
    "two_components_beyond_structure", "basin_starts", "cluster_summary",
    "defect_enrichment", "deviations", "fit_in_basins", "forced_shared_pairs",
    "frustrated_triangles",
    "gaussian_mixture", "ground_states", "ising_energy", "ising_states", "lattice_couplings",
    "live_rows",
    "local_structure", "mattis_couplings", "power_law", "random_sign_couplings",
    "random_wiring", "regress_on_structure", "replicate_correlation", "row_offsets",
    "shape_statistics", "structural_defects", "two_components", "within_rows",
]

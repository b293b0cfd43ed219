"""The learned structure of the denoiser: weight clusters, the sign matrix S, its statistics.

``E: [..., h, d]`` encoders (row j: neuron j's weights on the d features); a sign matrix
``S: [..., h, d]`` in {-1, 0, 1}. Vocabulary (the post's): a *row* of S is a neuron, a
*column* a feature; the *row degree* is the number of features a neuron reads, the
*column degree* the number of neurons that read a feature (neurons per feature, m).

The post's null model of the frozen structure ("iid random configuration"): every entry
nonzero independently with probability p, one random sign per row (its footnote: "choose
'zero or nonzero' independently for each matrix coordinate, and choose signs
independently for each row"): ``iid_sign_matrix``. Tests against it: ``iid_tests``
(degrees and overlaps); given the degrees, ``wiring_tests`` (random bipartite graphs with
the same degrees, ``fixed_degree_support``). Summaries: ``structure_summary`` (hubs,
duplicates, overlaps), ``frustration_verdict``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats
import torch

from ..core.tensors import EPS, as_float64


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
    E = as_float64(E)
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
    ambiguous = (
        ((a > thr[..., None] / 2) & (a < (thr + centre)[..., None] / 2)).to(a.dtype).mean(-1)
    )
    return {
        "threshold": thr,
        "centre": centre,
        "inner_centre": (a * ~outer).sum(-1) / n_in,
        "outer_spread": outer_var.sqrt(),
        "inner_spread": inner_var.sqrt(),
        "density": outer.to(a.dtype).mean(-1),
        "ambiguous": ambiguous,
    }


def sign_structure(E, threshold=None) -> torch.Tensor:
    """S = sign(E) where |E| > threshold, else 0: ``[..., h, d]`` int8 in {-1, 0, 1}.

    ``threshold`` (scalar or ``[...]``) defaults to the 2-means threshold of
    ``encoder_clusters``.
    """
    E = as_float64(E)
    thr = (encoder_clusters(E)["threshold"] if threshold is None else torch.as_tensor(threshold,
           dtype=E.dtype))
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
    v = np.sort(np.asarray(as_float64(values).reshape(-1)))
    if v.size == 0:
        raise ValueError("distinct_values needs at least one value")
    neighbours = np.searchsorted(v, v + gap / 2, side="right") - np.searchsorted(
        v, v - gap / 2, side="left"
    )
    dense = v[neighbours >= max(2, min_share * v.size)]
    cuts = np.flatnonzero(np.diff(dense) > gap) + 1
    groups = np.split(dense, cuts) if dense.size else []
    keep = [g for g in groups if g.size >= min_share * v.size]
    return {
        "centres": np.array([g.mean() for g in keep]),
        "counts": np.array([g.size for g in keep]),
        "spreads": np.array([g.std() for g in keep]),
        "lows": np.array([g[0] for g in keep]),
        "highs": np.array([g[-1] for g in keep]),
        "n_dropped": int(v.size - sum(g.size for g in keep)),
    }


def row_degrees(S) -> torch.Tensor:
    """Number of nonzero entries in each row (features per neuron): ``[..., h, d] -> [..., h]``."""
    return (torch.as_tensor(S) != 0).sum(dim=-1)


def column_degrees(S) -> torch.Tensor:
    """Number of nonzero entries in each column (neurons per feature): ``[..., h, d] ->
    [..., d]``.
    """
    return (torch.as_tensor(S) != 0).sum(dim=-2)


def _pair_overlaps(A: torch.Tensor) -> torch.Tensor:
    """Shared support of every pair of rows of a 0/1 matrix: ``[..., n, m] -> [..., n(n-1)/2]``."""
    A = A.to(torch.float32)
    G = A @ A.transpose(-1, -2)
    n = G.shape[-1]
    iu = torch.triu_indices(n, n, offset=1, device=G.device)
    return G[..., iu[0], iu[1]].round().to(torch.int64)


def row_overlaps(S) -> torch.Tensor:
    """Shared support of every pair of rows j < j' (features both neurons read):
    ``[..., h, d] -> [..., h(h-1)/2]``."""
    return _pair_overlaps(torch.as_tensor(S) != 0)


def column_overlaps(S) -> torch.Tensor:
    """Shared support of every pair of columns i < i' (neurons both features are read by):
    ``[..., h, d] -> [..., d(d-1)/2]``."""
    return _pair_overlaps((torch.as_tensor(S) != 0).transpose(-1, -2))


def sign_constancy(S) -> dict:
    """Do the nonzero entries of each neuron share one sign? ``S: [..., h, d]``.

    Returns tensors over the leading axes ``[...]``: ``multi``, the number of neurons with
    >= 2 nonzero entries; ``constant``, the fraction of them that are sign-constant (nan
    when there are none); ``chance``, the fraction expected if every nonzero sign were an
    independent fair coin, the mean of 2^(1 - degree) over the same neurons.
    """
    S = torch.as_tensor(S)
    constant, degree = sign_constant_neurons(S)
    multi = degree >= 2
    n = multi.sum(dim=-1)
    weights = multi.to(torch.float64)
    per = n.to(torch.float64).where(n > 0, torch.tensor(float("nan"), dtype=torch.float64))
    return {"multi": n,
            "constant": (constant.to(torch.float64) * weights).sum(-1) / per,
            "chance": (2.0 ** (1 - degree.to(torch.float64)) * weights).sum(-1) / per}


def structure_summary(S) -> dict:
    """The headline statistics of one sign matrix ``S: [h, d]`` (floats and ints).

    density p; mean column degree m (neurons per feature) and the share of features with
    0, 1 and >= 2 neurons; mean row degree (features per neuron); sign constancy and its
    chance level (``sign_constancy``); the mean overlap of two neurons' supports against
    its iid expectation d p^2, and the share of neuron pairs that share >= 1 feature;
    ``duplicate_rows``, the share of neurons with >= 2 features whose support equals
    another neuron's (redundant copies: an unfrustrated way of giving a feature several
    neurons); ``hub_neurons``, the number of neurons reading more than half the features
    (without biases a neuron that reads every feature with one sign fires on every input
    and acts as a bias: it adds one to every column degree without any frustration) and
    ``col_deg_nohub_mean``, the mean column degree without them.
    """
    S = torch.as_tensor(S).cpu()
    if S.ndim != 2:
        raise ValueError(f"S must be one matrix [h, d], got shape {tuple(S.shape)}")
    h, d = S.shape
    A = S != 0
    cd, rd = column_degrees(S).double(), row_degrees(S).double()
    ov = row_overlaps(S).double() if h > 1 else torch.zeros(1, dtype=torch.float64)
    sc = sign_constancy(S)
    multi = rd >= 2
    rows = np.packbits(A.numpy(), axis=1)
    _, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    duplicated = torch.as_tensor(counts[inverse.reshape(-1)] > 1) & multi
    hubs = rd > 0.5 * d
    p = float(A.double().mean())
    return {
        "density": p,
        "col_deg_mean": float(cd.mean()),
        "col_deg0": float((cd == 0).double().mean()),
        "col_deg1": float((cd == 1).double().mean()),
        "col_deg2plus": float((cd >= 2).double().mean()),
        "row_deg_mean": float(rd.mean()),
        "sign_constant": float(sc["constant"]),
        "sign_chance": float(sc["chance"]),
        "overlap_mean": float(ov.mean()),
        "overlap_iid": d * p * p,
        "overlap_pairs_share": float((ov > 0).double().mean()),
        "duplicate_rows": float(duplicated.sum()) / max(1, int(multi.sum())),
        "hub_neurons": int(hubs.sum()),
        "col_deg_nohub_mean": float(column_degrees(S[~hubs]).double().mean())
        if bool((~hubs).any()) else 0.0,
    }


def iid_sign_matrix(n_rows: int, n_cols: int, density: float, n_matrices: int = 1, *,
                    generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """``[M, n_rows, n_cols]`` iid sign matrices: each entry nonzero with probability
    ``density``, one random sign per row (the post's null model of the frozen structure)."""
    if not 0 <= density <= 1:
        raise ValueError(f"density must lie in [0, 1], got {density!r}")
    if min(n_rows, n_cols, n_matrices) < 1:
        raise ValueError(
            f"n_rows, n_cols and n_matrices must be >= 1, got {n_rows}, {n_cols}, {n_matrices}"
        )
    support = torch.rand((n_matrices, n_rows, n_cols), generator=generator, device=device) < density
    signs = torch.randint(0, 2, (n_matrices, n_rows, 1), generator=generator, device=device) * 2 - 1
    return (support * signs).to(torch.int8)


def fixed_degree_support(row_degree, column_degree, rng: np.random.Generator,
                         max_rounds: int = 1000) -> np.ndarray:
    """A random simple bipartite graph with the given degrees: ``[h, d]`` bool.

    ``row_degree [h]`` and ``column_degree [d]`` must have equal sums. Stub matching (a
    random pairing of row stubs with column stubs), then every duplicate edge is moved by
    a swap with a random other edge that creates no new duplicate: close to uniform over
    the simple graphs with these degrees (the configuration-model null of
    ``wiring_tests``, and the degree-matched random patterns of
    ``lib.denoiser.basins``). Raises ValueError if the sums differ or the repair fails
    (degrees too dense for a simple graph).
    """
    rows = np.asarray(row_degree, dtype=np.int64)
    cols = np.asarray(column_degree, dtype=np.int64)
    if rows.sum() != cols.sum():
        raise ValueError(
            f"row_degree and column_degree must have equal sums, got {rows.sum()} and "
            f"{cols.sum()}"
        )
    if (rows < 0).any() or (cols < 0).any() or rows.max(initial=0) > cols.size \
            or cols.max(initial=0) > rows.size:
        raise ValueError("degrees must lie in [0, size of the other side]")
    h, d = rows.size, cols.size
    r = np.repeat(np.arange(h), rows)
    c = rng.permutation(np.repeat(np.arange(d), cols))
    key = r * d + c
    for _ in range(max_rounds):
        order = np.argsort(key, kind="stable")
        dup = order[1:][key[order][1:] == key[order][:-1]]
        if dup.size == 0:
            break
        present = set(key.tolist())
        for e in dup:
            for _try in range(1000):
                f = int(rng.integers(key.size))
                n1, n2 = r[e] * d + c[f], r[f] * d + c[e]
                if r[e] != r[f] and c[e] != c[f] and n1 not in present and n2 not in present:
                    present.discard(int(key[f]))
                    c[e], c[f] = c[f], c[e]
                    key[e], key[f] = n1, n2
                    present.update((int(n1), int(n2)))
                    break
    else:
        raise ValueError("could not repair duplicate edges (degrees too dense for a simple graph?)")
    A = np.zeros((h, d), dtype=bool)
    A[r, c] = True
    if A.sum() != key.size:
        raise ValueError("fixed_degree_support left duplicate edges")
    return A


def _dispersion(counts: torch.Tensor) -> torch.Tensor:
    counts = counts.to(torch.float64)
    return counts.var(dim=-1) / counts.mean(dim=-1).clamp_min(EPS)


def _z_and_p(obs: float, ref: np.ndarray) -> dict:
    """z-score of ``obs`` against the null draws ``ref``, its two-sided normal p-value, and
    the two-sided Monte-Carlo p-value from its rank among the draws (valid whatever the
    null's shape; floor 2 / (n + 1): use >= 200 draws to test at level 0.01)."""
    mu, sd = float(ref.mean()), float(ref.std(ddof=1))
    scale = 1e-9 * max(1.0, abs(mu))
    if sd < scale:  # a degenerate null: every draw gives the same value
        z = 0.0 if abs(obs - mu) < scale else math.copysign(math.inf, obs - mu)
    else:
        z = (obs - mu) / sd
    n = ref.size
    rank = min((1 + (ref >= obs).sum()) / (n + 1), (1 + (ref <= obs).sum()) / (n + 1))
    return {"observed": obs, "null_mean": mu, "null_std": sd, "z": z,
            "p_value": float(min(1.0, 2 * rank)),
            "p_normal": float(2 * scipy.stats.norm.sf(abs(z)))}


_IID_FUNCTIONS = {
    "row_degree": lambda M: _dispersion(row_degrees(M)),
    "column_degree": lambda M: _dispersion(column_degrees(M)),
    "row_overlap": lambda M: _dispersion(row_overlaps(M)),
    "column_overlap": lambda M: _dispersion(column_overlaps(M)),
}
IID_STATISTICS = tuple(_IID_FUNCTIONS)


def _checked_sign_matrix(S, n_null: int, device) -> tuple[torch.Tensor, torch.device]:
    """S as one ``[h, d]`` tensor on ``device`` (default: its own), with ``n_null`` >= 2
    checked: the common preamble of the null-model tests."""
    S = torch.as_tensor(S)
    device = S.device if device is None else torch.device(device)
    S = S.to(device)
    if S.ndim != 2:
        raise ValueError(f"S must be one matrix [h, d], got shape {tuple(S.shape)}")
    if n_null < 2:
        raise ValueError(f"n_null must be >= 2, got {n_null}")
    return S, device


def iid_tests(S, n_null: int = 200, seed: int = 0, statistics=IID_STATISTICS,
              device=None) -> dict:
    """Is the support of one sign matrix ``S: [h, d]`` consistent with iid entries?

    Each statistic is the dispersion index (var / mean) of a count:
      row_degree      features per neuron  (iid: Binomial(d, p), dispersion 1 - p)
      column_degree   neurons per feature  (iid: Binomial(h, p))
      row_overlap     features shared by a pair of neurons
      column_overlap  neurons shared by a pair of features
    Null: ``n_null`` iid matrices of the same shape and density (``iid_sign_matrix``),
    drawn on ``device`` (default: S's; a GPU makes the paper-scale test fast). Regular
    structure (equal degrees) gives z << 0; hubs, blocks or duplicated neurons z >> 0.
    Returns ``{"density": p, statistic: {observed, null_mean, null_std, z, p_value,
    p_normal}}`` with ``p_value`` the Monte-Carlo p-value (``_z_and_p``).
    """
    S, device = _checked_sign_matrix(S, n_null, device)
    for k in statistics:
        if k not in _IID_FUNCTIONS:
            raise ValueError(f"unknown statistic {k!r}; choose from {IID_STATISTICS}")
    h, d = S.shape
    p = float((S != 0).to(torch.float64).mean())
    gen = torch.Generator(device=device).manual_seed(int(seed))
    null = {k: [] for k in statistics}
    chunk = max(1, min(n_null, int(2e7 // max(1, h * d, d * d, h * h))))
    done = 0
    while done < n_null:
        m = min(chunk, n_null - done)
        M = iid_sign_matrix(h, d, p, m, generator=gen, device=device)
        for k in statistics:
            null[k].append(_IID_FUNCTIONS[k](M))
        done += m
    out = {"density": p}
    for k in statistics:
        obs = float(_IID_FUNCTIONS[k](S[None])[0])
        out[k] = _z_and_p(obs, torch.cat(null[k]).cpu().numpy())
    return out


def iid_structure_test(S, n_null: int = 200, seed: int = 0, device=None) -> dict:
    """``iid_tests`` on row degree, column degree and row overlap, with ``p_value`` the
    two-sided *normal* p-value of z (the earlier interface, kept for callers that rely
    on p-values below the Monte-Carlo floor)."""
    out = iid_tests(S, n_null, seed, ("row_degree", "column_degree", "row_overlap"), device)
    for k in ("row_degree", "column_degree", "row_overlap"):
        out[k] = {**out[k], "p_value": out[k]["p_normal"]}
    return out


def wiring_tests(S, n_null: int = 200, seed: int = 0, device=None) -> dict:
    """Given its degrees, is the wiring of ``S: [h, d]`` random?

    Null: ``n_null`` random simple bipartite graphs with exactly the row and column
    degrees of S (``fixed_degree_support``). Statistics: the dispersion of the row
    overlaps and of the column overlaps. A repeated block (duplicated neurons, features
    always read by the same pair of neurons) gives z >> 0; a packing that keeps overlaps
    more even than chance, z << 0. With both degree sequences fixed the two statistics
    carry the same information (the sum of squared off-diagonal overlaps is
    ||A Aᵀ||² - Σ r_j² = ||Aᵀ A||² - Σ c_i²), so their z-scores agree up to the null's
    sampling noise. Same output format as ``iid_tests``. The null graphs are drawn on the
    CPU and their overlaps computed one at a time on ``device`` (default: S's), so the
    paper-scale test fits in memory.
    """
    S, device = _checked_sign_matrix(S, n_null, device)
    rng = np.random.default_rng(seed)
    rd, cd = row_degrees(S).cpu().numpy(), column_degrees(S).cpu().numpy()
    fns = {"row_overlap": row_overlaps, "column_overlap": column_overlaps}
    null = {name: [] for name in fns}
    for _ in range(n_null):
        A = torch.as_tensor(fixed_degree_support(rd, cd, rng)).to(device)
        for name, fn in fns.items():
            null[name].append(float(_dispersion(fn(A)[None])[0]))
    return {name: _z_and_p(float(_dispersion(fn(S)[None])[0]), np.array(null[name]))
            for name, fn in fns.items()}


def frustration_verdict(S, n_null: int = 200, seed: int = 0, level: float = 0.01) -> dict:
    """The statistics and tests of one sign matrix ``S: [h, d]``, and a verdict.

    ``structure_summary``, the z-scores of ``iid_tests`` (``z_iid_<statistic>``), the
    wiring test's row-overlap z (``z_wire``, nan when the mean column degree is < 1), and
    ``frustrated_like``: True when the mean column degree without hubs is >= 1.5, at
    least half the features have >= 2 neurons, no neuron is a hub, fewer than 5 % of the
    neurons duplicate another's support, and the wiring given the degrees is random (the
    wiring test does not reject at ``level``): many neurons per feature, with
    overlapping supports wired like a random draw. The iid tests (degrees included) are
    reported but not required: regular degrees with random wiring are still frustrated
    (the post calls its iid model "simplistic").
    """
    summary = structure_summary(S)
    iid = iid_tests(S, n_null=n_null, seed=seed)
    out = {**summary, **{f"z_iid_{k}": iid[k]["z"] for k in IID_STATISTICS}}
    random_wiring = False
    out["z_wire"] = float("nan")
    if summary["col_deg_mean"] >= 1.0:
        wire = wiring_tests(S, n_null=n_null, seed=seed)["row_overlap"]
        out["z_wire"] = wire["z"]
        random_wiring = wire["p_value"] >= level
    out["frustrated_like"] = bool(
        summary["col_deg_nohub_mean"] >= 1.5 and summary["col_deg2plus"] >= 0.5
        and summary["hub_neurons"] == 0 and summary["duplicate_rows"] < 0.05
        and random_wiring
    )
    return out


def first_clustered_step(snapshots: dict, max_ambiguous: float = 0.02,
                         min_centre: float = 1.0) -> list:
    """Per instance, the first snapshot step from which the encoder stays clustered.

    ``snapshots``: ``{step: E [I, h, d]}`` (e.g. from ``History.snapshots``). Clustered:
    at most ``max_ambiguous`` of the weights between the clusters, outer centre
    c >= ``min_centre``, and some outer weight (``encoder_clusters``); the step returned
    is the first of the final unbroken run of clustered snapshots, or None (never, or not
    at the end). The "cloud" of the plateau fails the test (a third or more of the
    weights between the clusters).
    """
    steps = sorted(snapshots)
    ok = []
    for s in steps:
        cl = encoder_clusters(snapshots[s])
        ok.append(((cl["ambiguous"] <= max_ambiguous) & (cl["centre"] >= min_centre)
                   & (cl["density"] > 0)).reshape(-1))
    ok = torch.stack(ok)  # [T, I]
    out = []
    for i in range(ok.shape[1]):
        first = None
        for t in range(len(steps) - 1, -1, -1):
            if not ok[t, i]:
                break
            first = steps[t]
        out.append(first)
    return out


def decoder_by_degree(E, D, threshold=None) -> dict:
    """Sign-aligned decoder weights of the outer pairs, by the column degree of their feature.

    ``E: [h, d]``, ``D: [d, h]`` of one model. An outer pair (neuron j, feature i) has
    |E[j, i]| > τ (``encoder_clusters``, or ``threshold``); its sign-aligned decoder weight
    is D[i, j] · sign(E[j, i]). Returns ``{m: values}`` (numpy) for each column degree m
    present: if m neurons share a feature's read-out equally, each writes about
    1 / (m φ(c)) back (the decoder's scaling between the bumps).
    """
    E, D = as_float64(E).cpu(), as_float64(D).cpu()
    if E.ndim != 2 or D.shape != E.T.shape:
        raise ValueError(f"E [h, d] and D [d, h] must match, got {tuple(E.shape)}, "
                         f"{tuple(D.shape)}")
    S = sign_structure(E, threshold)
    m = column_degrees(S)
    aligned = (D.T * S.to(torch.float64)).numpy()
    outer = (S != 0).numpy()
    out = {}
    for degree in sorted(set(m[m > 0].tolist())):
        cols = (m == degree).numpy()
        out[int(degree)] = aligned[:, cols][outer[:, cols]]
    return out


def distinct_pairs(E, D, gap_e: float, gap_d: float, min_share: float = 0.0) -> dict:
    """Clusters of the 2-D weight pairs (E[j, i], D[i, j]) of one model (``E: [h, d]``).

    The encoder values are grouped first (``distinct_values`` with ``gap_e``), then the
    decoder values within each encoder group (``gap_d``); a pair cluster is kept when it
    holds at least ``min_share`` of all pairs. Returns numpy ``centres [n, 2]``, ``counts``,
    ``spreads [n, 2]`` (std within each cluster) and ``n_dropped``.
    """
    E, D = as_float64(E).cpu().numpy(), as_float64(D).cpu().numpy()
    if E.ndim != 2 or D.shape != E.T.shape:
        raise ValueError(f"E [h, d] and D [d, h] must match, got {E.shape}, {D.shape}")
    enc, dec = E.reshape(-1), D.T.reshape(-1)
    total = enc.size
    groups = distinct_values(enc, gap_e, min_share)
    centres, counts, spreads = [], [], []
    for lo, hi in zip(groups["lows"], groups["highs"]):
        inside = (enc >= lo) & (enc <= hi)
        sub = distinct_values(dec[inside], gap_d, min_share * total / max(1, inside.sum()))
        for dlo, dhi in zip(sub["lows"], sub["highs"]):
            pts = inside & (dec >= dlo) & (dec <= dhi)
            if pts.sum() >= max(2, min_share * total):
                centres.append([enc[pts].mean(), dec[pts].mean()])
                counts.append(int(pts.sum()))
                spreads.append([enc[pts].std(), dec[pts].std()])
    return {"centres": np.array(centres).reshape(-1, 2), "counts": np.array(counts, dtype=int),
            "spreads": np.array(spreads).reshape(-1, 2),
            "n_dropped": int(total - sum(counts))}


def blob_coupling(E, in_blob) -> dict:
    """Are the weights of one blob coupled to those of the rest? (the post's "2-particle" test)

    ``E: [h, d]`` encoder, ``in_blob: [h, d]`` bool marking the pairs of one blob (e.g. the
    negative outer cluster). For every neuron (row) it takes the mean weight inside the
    blob and the mean weight outside it, and returns their Pearson correlation over
    neurons (``neuron_r``, ``neuron_p``); the same over features (columns:
    ``feature_r``, ``feature_p``). If the 2-D blobs were independent draws per pair (a
    one-particle picture) both correlations would vanish up to ~1/√n.
    """
    E = as_float64(E)
    mask = torch.as_tensor(in_blob, dtype=torch.bool)
    if E.ndim != 2 or mask.shape != E.shape:
        raise ValueError(
            f"E and in_blob must be matching [h, d] matrices, got {tuple(E.shape)}, "
            f"{tuple(mask.shape)}"
        )
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
        out[f"{name}_r"], out[f"{name}_p"], out[f"{name}_n"] = (float(r), float(p), int(a.size))
    return out

"""The learned structure of the denoiser: weight clusters, the sign matrix S, its statistics.

``E: [..., h, d]`` encoders (row j: neuron j's weights on the d features); a sign matrix
``S: [..., h, d]`` in {-1, 0, 1}.
"""

from __future__ import annotations

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
    return counts.var(dim=-1) / counts.mean(dim=-1).clamp_min(EPS)


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
    stats = {
        "row_degree": lambda M: _dispersion(row_degrees(M)),
        "column_degree": lambda M: _dispersion(column_degrees(M)),
        "row_overlap": lambda M: _dispersion(row_overlaps(M)),
    }
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
        z = (obs - mu) / max(sd, EPS)
        out[k] = {
            "observed": obs,
            "null_mean": mu,
            "null_std": sd,
            "z": z,
            "p_value": float(2 * scipy.stats.norm.sf(abs(z))),
        }
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

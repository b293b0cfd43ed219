"""Neuron-level measures for models with a privileged hidden basis.

Layout as in ``lib.computation.model``: input weights ``W_in: [..., n, m]`` (feature i ->
neuron j), output weights ``W_out: [..., m, n_out]`` (neuron j -> output i). For the tied
ReLU-hidden-layer model W_in = W and W_out = Wᵀ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from ..core.tensors import as_float64, cosine_similarity


def rescale_neurons(W_in, W_out=None):
    """The paper's display normalisation: divide each neuron's input weights by
    α_j = max_i |W_in[i, j]| and multiply its output weights by α_j. The network computes
    the same function (ReLU(α z) = α ReLU(z) for α > 0). Dead neurons (α = 0) are left as
    they are. Returns ``(W_in / α, W_out · α)`` (``W_out`` may be None): ``[..., n,
    m]``, ``[..., m, n_out]``.
    """
    W_in = as_float64(W_in)
    alpha = W_in.abs().amax(dim=-2)  # [..., m]
    safe = torch.where(alpha > 0, alpha, torch.ones_like(alpha))
    scaled_in = W_in / safe[..., None, :]
    scaled_out = None if W_out is None else as_float64(W_out) * safe[..., :, None]
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
    W_in = as_float64(W_in)
    n = W_in.shape[-2]
    back = W_in if W_out is None else as_float64(W_out)[..., :, :n].transpose(-1, -2)
    drive = W_in.abs() if signed_inputs else torch.relu(W_in)
    return drive * back


def neuron_feature_counts(
    W_in, W_out=None, *, signed_inputs: bool = True, threshold: float = 0.1
) -> torch.Tensor:
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
    top2 = as_float64(W_in).abs().topk(2, dim=-2).values  # [..., 2, m]
    return top2[..., 0, :] / top2[..., 1, :]


def primary_features(W_in) -> torch.Tensor:
    """Index of each neuron's largest-|weight| feature, ``[..., n, m] -> [..., m]``."""
    return as_float64(W_in).abs().argmax(dim=-2)


def features_in_superposition(
    W_in, W_out=None, *, signed_inputs: bool = True, threshold: float = 0.1
) -> torch.Tensor:
    """Boolean ``[..., n]``: feature i is represented (``neuron_feature_counts``' definition)
    by at least one polysemantic neuron."""
    t = through_gains(W_in, W_out, signed_inputs=signed_inputs) >= threshold  # [..., n, m]
    poly = t.sum(dim=-2) >= 2
    return (t & poly[..., None, :]).any(dim=-1)


def signed_gains(W_in, W_out) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot gains of a bias-free y = ReLU(x W_in) W_out: ``(G_pos, G_neg)``, each
    ``[..., n, n_out]``.

    With only feature i active at value u, output o is exactly u · G_pos[i, o] for u > 0
    and |u| · G_neg[i, o] for u < 0, where G_pos = ReLU(W_in) W_out and
    G_neg = ReLU(-W_in) W_out (the positively homogeneous ReLU makes the response curves
    two straight lines). Self-gains are the diagonal, cross-gains the rest. W_out W_in
    (the report's "W_eff", transposed to this layout) equals G_pos - G_neg.
    """
    W_in, W_out = as_float64(W_in), as_float64(W_out)
    return torch.relu(W_in) @ W_out, torch.relu(-W_in) @ W_out


def gains_from_responses(values, responses) -> torch.Tensor:
    """Least-squares slope through the origin of response curves on the positive side.

    ``values: [U]`` the swept input u, ``responses: [U, ..., n, n_out]`` outputs for the
    one-hot input u·e_i (``one_hot_responses``). Returns ``[..., n, n_out]``
    = Σ_{u>0} u y(u) / Σ_{u>0} u². For a bias-free ReLU MLP this equals ``signed_gains``' G_pos.
    """
    u = as_float64(values).reshape(-1)
    y = as_float64(responses)
    pos = u > 0
    up = u[pos].reshape(-1, *([1] * (y.ndim - 1)))
    return (up * y[pos]).sum(0) / up.pow(2).sum()


def self_and_cross(G) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a square gain matrix ``[..., n, n]`` into its diagonal ``[..., n]`` and the
    off-diagonal entries ``[..., n, n-1]`` (row i: feature i's effect on every other output)."""
    G = as_float64(G)
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
    x, output, target = as_float64(x), as_float64(output), as_float64(target)
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
    w_in: tuple[float, float]  # (strong, weak) input weights of the motif neuron
    w_out: tuple[float, float]  # (strong, weak) output weights of the motif neuron
    gains: tuple[float, float]  # |w_in| · w_out for (strong, weak) through the motif neuron
    interference: float  # strong feature -> weak output through the motif neuron
    inhibition: float  # strong feature -> weak output through the inhibitor
    net: float  # strong feature -> weak output through all neurons


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
    W_in, W_out = as_float64(W_in), as_float64(W_out)
    if W_in.ndim != 2 or W_out.ndim != 2 or W_in.shape[1] != W_out.shape[0]:
        raise ValueError(
            f"asymmetric_motifs takes one model: W_in [n, m] and W_out [m, n_out], "
            f"got {tuple(W_in.shape)} and {tuple(W_out.shape)}"
        )
    n_out = W_out.shape[1]
    n = min(W_in.shape[0], n_out)  # features that have an output
    a = W_in[:n].T  # [m, n] input weight of feature i on neuron j
    r = W_out[:, :n]  # [m, n] output weight of neuron j to output i
    gain = a.abs() * r  # [m, n] gain of feature i through neuron j
    # conditions 1-3 for every (neuron j, strong s, weak w) at once: [m, n(s), n(w)]
    readback = (r[:, :, None] > 0) & (r[:, None, :] > 0)
    useful = (gain[:, :, None] >= min_gain) & (gain[:, None, :] >= min_gain)
    asymmetric = (a.abs()[:, :, None] >= ratio * a.abs()[:, None, :]) & (
        r[:, None, :] >= ratio * r[:, :, None]
    )
    off_diagonal = ~torch.eye(n, dtype=torch.bool)[None]
    candidates = torch.nonzero(readback & useful & asymmetric & off_diagonal & (a[:, None, :] != 0))
    found = []
    for j, s, w in candidates.tolist():
        fires = torch.relu(
            torch.sign(a[j, s]) * W_in[s]
        )  # [m] how each neuron fires on x_s (its sign)
        push = fires * W_out[:, w]  # [m] each neuron's effect on output w
        interference = push[j]
        others = push.clone()
        others[j] = float("inf")
        k = int(torch.argmin(others))
        if not others[k] <= -inhibition_share * interference:
            continue  # condition 4: a strong enough inhibitor
        net = push.sum()
        if net > max_net:
            continue  # condition 5: interference no longer positive
        found.append(
            AsymmetricMotif(neuron=j, strong=s, weak=w, inhibitor=k, w_in=(float(a[j, s]),
                            float(a[j, w])), w_out=(float(r[j, s]), float(r[j, w])),
                            gains=(float(gain[j, s]), float(gain[j, w])),
                            interference=float(interference), inhibition=float(others[k]),
                            net=float(net))
        )
    return sorted(found, key=lambda motif: -motif.interference)


def one_hot_responses(model, values):
    """The model's outputs when exactly one feature is active: ``[U, I, n, n_out]``.

    Entry (u, k, i, j) is output j of instance k for the input u·e_i, with u running over
    ``values`` ``[U]``. The response curves of the attenuated-ReLU report; their slopes
    are the self- and cross-gains. No gradients are recorded.
    """
    param = next(model.parameters())
    n, n_inst = model.n_features, model.n_instances
    u = torch.as_tensor(values, dtype=param.dtype, device=param.device).reshape(-1)
    eye = torch.eye(n, dtype=param.dtype, device=param.device)
    x = u[:, None, None] * eye[None]  # [U, n(active), n]
    x = x.reshape(-1, 1, n).expand(-1, n_inst, n)  # [U*n, I, n]
    with torch.no_grad():
        y = model(x)  # [U*n, I, n_out]
    return y.reshape(len(u), n, n_inst, -1).transpose(1, 2).contiguous()


# ------------------------------------------------------------------ neuron census
def neuron_census(W_in, W_out=None, *, signed_inputs: bool = True,
                  threshold: float = 0.1) -> dict[str, torch.Tensor]:
    """Counts per model of the neuron classes of ``neuron_feature_counts``, ``[..., n, m]``.

    Returns ``{"monosemantic", "polysemantic", "unused", "features represented"}``, each a
    long tensor ``[...]``: neurons representing exactly one feature, two or more, none, and
    the number of features that at least one neuron represents (through-gain >=
    ``threshold``).
    """
    t = through_gains(W_in, W_out, signed_inputs=signed_inputs) >= threshold  # [..., n, m]
    counts = t.sum(dim=-2)
    return {"monosemantic": (counts == 1).sum(-1), "polysemantic": (counts >= 2).sum(-1),
            "unused": (counts == 0).sum(-1), "features represented": t.any(-1).sum(-1)}


def neuron_order(W_in) -> np.ndarray:
    """Display order of one model's neurons, ``[n, m] -> [m]``: sorted by the index
    (importance rank) of each neuron's largest-|weight| feature, ties in neuron order
    (the paper's "sorted by the importance of the largest feature")."""
    return np.argsort(primary_features(W_in).cpu().numpy(), kind="stable")


def plus_minus_pairs(W_in, W_out, *, gain: float = 0.5, threshold: float = 0.1) -> torch.Tensor:
    """Does feature i have a monosemantic ReLU(x_i) neuron AND a monosemantic ReLU(-x_i)
    neuron (through-gain >= ``gain`` each)? Boolean ``[..., n]`` (signed inputs).

    The dense absolute-value solution |x| = ReLU(x) + ReLU(-x), one neuron per side.
    """
    W_in = as_float64(W_in)
    t = through_gains(W_in, W_out)  # [..., n, m]
    mono = ((t >= threshold).sum(dim=-2) == 1)[..., None, :]  # [..., 1, m]
    carries = (t >= gain) & mono
    return ((W_in > 0) & carries).any(-1) & ((W_in < 0) & carries).any(-1)


def dead_neurons(W_in, b_hidden=None) -> torch.Tensor:
    """Neurons that no non-negative input can fire, boolean ``[..., n, m] -> [..., m]``.

    With x >= 0 (the privileged-basis data) neuron j is dead iff every input weight and
    its hidden bias are <= 0: it outputs 0 on all data and gets no gradient again.
    """
    W_in = as_float64(W_in)
    dead = (W_in <= 0).all(dim=-2)
    return dead if b_hidden is None else dead & (as_float64(b_hidden) <= 0)


def random_rotation(m: int, seed: int, n_models: int = 1) -> torch.Tensor:
    """``[n_models, m, m]`` orthogonal matrices drawn uniformly (Haar), seeded by ``seed``.

    The negative control of a privileged basis: a model whose hidden basis carries no
    meaning (a linear hidden layer) looks, neuron by neuron, like ``W @ O``.
    """
    gen = torch.Generator().manual_seed(int(seed))
    q, r = torch.linalg.qr(torch.randn(n_models, m, m, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[..., None, :]


def primary_rank_by_kind(W_in, W_out, *, threshold: float = 0.1) -> dict[str, float]:
    """Mean importance rank of the primary (largest-|W_in|) feature of four kinds of used
    neuron in ONE model ``W_in [n, m]``, ``W_out [m, n]``; NaN for a kind with no neuron.

    "monosemantic" / "polysemantic": by through-gain count (``neuron_feature_counts``);
    "ratio >= 2" / "ratio < 2": by input weights alone, whether the largest |W_in| is at
    least twice the second (what a stack plot of |W_in| shows). Feature 0 is the most
    important, so a lower mean rank means more important features. Also returns the
    number of neurons of each kind under ``"neurons, <kind>"``.
    """
    counts = neuron_feature_counts(W_in, W_out, threshold=threshold).cpu().numpy()
    primary = primary_features(W_in).cpu().numpy()
    dominant = primary_secondary_ratio(W_in).cpu().numpy() >= 2
    used = counts >= 1
    kinds = {"monosemantic": counts == 1, "polysemantic": counts >= 2,
             "ratio >= 2": used & dominant, "ratio < 2": used & ~dominant}
    out = {f"rank, {k}": float(primary[v].mean()) if v.any() else float("nan")
           for k, v in kinds.items()}
    out.update({f"neurons, {k}": int(v.sum()) for k, v in kinds.items()})
    return out


def activation_purity(x, hidden, W_in, *, top: float = 0.01,
                      low: tuple[float, float] = (0.0, 0.5), nearly_all: float = 0.9,
                      drop: float = 0.2) -> dict[str, torch.Tensor]:
    """Is a neuron's strongest activity caused by its primary feature? One model.

    x       ``[B, n]`` inputs, ``hidden`` ``[B, m]`` the neuron activations on them,
    W_in    ``[n, m]``: each neuron's primary feature is its largest-|weight| one.
    For each neuron, over the samples where it is active (h > 0), ranked by activation:
      "top"  share of its top ``top`` fraction in which the primary feature is active
             with the sign that fires the neuron (the paper: "the largest activations ...
             all or nearly-all associated with the presence of the primary feature");
      "low"  the same share among the activations between the ``low`` quantiles (default
             the weaker half: "the lower-magnitude activations were much more
             polysemantic").
      "primary"  bool: the neuron has a primary feature in that sense, top >=
             ``nearly_all`` and low <= top - ``drop``.
    "top" and "low" are ``[m]`` float64 (NaN for a neuron active on fewer than 1/``top``
    samples), "primary" ``[m]`` bool.
    """
    x, hidden, W_in = as_float64(x), as_float64(hidden), as_float64(W_in)
    primary = primary_features(W_in)  # [m]
    sign = torch.sign(W_in[primary, torch.arange(W_in.shape[1])])  # [m]
    present = (x[:, primary] * sign) > 0  # [B, m]: primary active on the firing side
    top_share = torch.full((hidden.shape[1],), float("nan"), dtype=torch.float64)
    low_share = top_share.clone()
    for j in range(hidden.shape[1]):
        on = hidden[:, j] > 0
        k = int(on.sum())
        if k * top < 1:
            continue
        order = torch.argsort(hidden[on, j], descending=True)
        hits = present[on, j][order].to(torch.float64)  # strongest first
        top_share[j] = hits[: max(1, int(k * top))].mean()
        lo, hi = (int(k * (1 - q)) for q in (low[1], low[0]))
        low_share[j] = hits[lo:hi].mean() if hi > lo else float("nan")
    primary = (top_share >= nearly_all) & (low_share <= top_share - drop)
    return {"top": top_share, "low": low_share, "primary": primary}


def side_r2(values, own_responses, target=torch.abs) -> torch.Tensor:
    """R² of each feature's own output against ``target(u)``, per input sign.

    ``values: [U]`` the swept u (none at 0), ``own_responses: [U, ..., n]`` output i for
    the one-hot input u·e_i. Returns ``[2, ..., n]``: row 0 for u > 0, row 1 for u < 0,
    R² = 1 - E[(y'_i - target(u))²] / Var(target(u)) over the u of that sign. A constant
    output scores 0 and an output stuck at 0 scores -3 for target |u| on a uniform grid.
    """
    u = as_float64(values).reshape(-1)
    y = as_float64(own_responses)
    rows = []
    for side in (u > 0, u < 0):
        t = target(u[side]).reshape(-1, *([1] * (y.ndim - 1)))
        rows.append(1 - ((y[side] - t) ** 2).mean(0) / t.var(unbiased=False))
    return torch.stack(rows)


def feature_errors(model, sampler, target, *, samples: int, batch_size: int = 10_000,
                   exponents=(2.0, 4.0)) -> dict[float, tuple]:
    """Per-feature and plain errors of ``model`` on ``samples`` inputs from ``sampler``.

    ``sampler(B) -> [B, I, n]``, ``target(x) -> y``; drawn in batches of ``batch_size`` so
    that large evaluations fit in memory. Returns ``{q: (conditional [I, n], plain [I])}``
    for each exponent q: E[|y'_i - y_i|^q | x_i active] (``conditional_feature_error``, the
    report's "per-feature MSE" for q = 2) and the plain mean of |y' - y|^q over all
    outputs and samples (what an Lq training loss averages). NaN for a feature never
    active.
    """
    sums, plain, active, done = {}, {}, None, 0
    with torch.no_grad():
        while done < samples:
            x = sampler(min(batch_size, samples - done))
            err = (as_float64(model(x)) - as_float64(target(x))).abs()
            on = (x != 0).to(torch.float64)
            active = on.sum(0) if active is None else active + on.sum(0)
            for q in exponents:
                e = err.pow(float(q))
                sums[q] = sums.get(q, 0) + (e * on).sum(0)
                plain[q] = plain.get(q, 0) + e.sum(dim=(0, 2))
            done += x.shape[0]
    n = active.shape[-1]
    return {float(q): ((sums[q] / active).cpu(), (plain[q] / (done * n)).cpu())
            for q in exponents}


def motif_weights(motif: AsymmetricMotif, W_in, W_out) -> dict[str, dict[str, float]]:
    """The rescaled (``rescale_neurons``) weights of one motif: for the motif neuron and
    its inhibitor, the input weights of the strong and weak features and the output
    weights to their outputs. ``{"motif neuron": {...}, "inhibitor": {...}}``."""
    R_in, R_out = rescale_neurons(W_in, W_out)
    s, w = motif.strong, motif.weak
    return {name: {"W1[strong]": float(R_in[s, j]), "W1[weak]": float(R_in[w, j]),
                   "W2[-> strong]": float(R_out[j, s]), "W2[-> weak]": float(R_out[j, w])}
            for name, j in (("motif neuron", motif.neuron), ("inhibitor", motif.inhibitor))}


def optimal_output_scale(output, target, exponent: float = 4.0) -> float:
    """The c in [0, 2] minimising mean |c·y' - y|^q over a batch (one model, any shape).

    For a network with a linear output layer, c·y' is the network with W_out scaled by c:
    c = 1 means the trained model already sits at the best overall gain for its own
    geometry and the loss it was trained on.
    """
    y_hat, y = as_float64(output).reshape(-1), as_float64(target).reshape(-1)
    q = float(exponent)
    result = minimize_scalar(lambda c: float((c * y_hat - y).abs().pow(q).mean()),
                             bounds=(0.0, 2.0), method="bounded", options={"xatol": 1e-6})
    return float(result.x)


def rank_gap(rows, first: str, second: str) -> float:
    """How much more important the primaries of neuron kind ``first`` are than those of
    ``second``, compared within each model and then averaged.

    ``rows``: one ``primary_rank_by_kind`` dict per model (e.g. per sparsity). For every
    model with neurons of both kinds, the gap is rank(second) - rank(first) (> 0: the
    ``first`` kind serves more important features); the gaps are averaged with weights
    n1 n2 / (n1 + n2), the numbers of neurons of each kind. Comparing within a model
    first avoids the trap of pooling neurons across models whose mixes of kinds differ
    (Simpson's paradox). NaN if no model has both kinds.
    """
    gaps, weights = [], []
    for row in rows:
        n1, n2 = row[f"neurons, {first}"], row[f"neurons, {second}"]
        if n1 and n2:
            gaps.append(row[f"rank, {second}"] - row[f"rank, {first}"])
            weights.append(n1 * n2 / (n1 + n2))
    return float(np.average(gaps, weights=weights)) if gaps else float("nan")

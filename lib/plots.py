"""The recurring figures. Arrays in, matplotlib figures out; one consistent style.

Colour conventions (as in the TMS paper): weights on a symmetric red-blue map (blue
positive, red negative); interference on a dark-blue (0: orthogonal) to yellow
(>= 1: fully shared) map; importance on a sequential map (dark = important).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors

from . import metrics

WEIGHT_CMAP = "RdBu"
INTERFERENCE_CMAP = "viridis"
IMPORTANCE_CMAP = "viridis"


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def plot_gram(W, b=None, ax=None, *, title: str | None = None, vmax: float = 1.0, colorbar: bool = False):
    """Heatmap of WᵀW (features × features) with the bias b as an extra column.

    ``W: [n, m]`` (rows are feature directions), ``b: [n]``.
    """
    W = _np(W)
    gram = W @ W.T
    n = gram.shape[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3))
    shown = gram if b is None else np.concatenate([gram, np.full((n, 1), np.nan), _np(b)[:, None]], axis=1)
    im = ax.imshow(shown, cmap=WEIGHT_CMAP, vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_ylabel("feature i")
    ax.set_xlabel("feature j" + ("   |   b" if b is not None else ""))
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, label="(WᵀW)_ij, b_i")
    return ax


def plot_feature_bars(W, ax=None, *, title: str | None = None, max_norm: float = 1.5):
    """Bars of ‖W_i‖ per feature (top: most important), coloured by interference Σ_{j≠i}(Ŵ_i·W_j)²."""
    W = torch.as_tensor(_np(W))
    norms = metrics.feature_norms(W).numpy()
    inter = metrics.interference(W).numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(2.5, 3))
    cmap = plt.get_cmap(INTERFERENCE_CMAP)
    n = norms.shape[0]
    ax.barh(np.arange(n), norms, color=cmap(np.clip(inter, 0, 1)), height=0.85)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, max(max_norm, float(norms.max()) * 1.05))
    ax.axvline(1.0, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("‖W_i‖")
    ax.set_ylabel("feature i (importance ↓)")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def interference_colorbar(fig, axes, label: str = "interference Σ_{j≠i}(Ŵ_i·W_j)²"):
    """A shared colour bar for ``plot_feature_bars`` panels (0 = orthogonal, 1 = fully shared)."""
    sm = plt.cm.ScalarMappable(norm=colors.Normalize(0, 1), cmap=INTERFERENCE_CMAP)
    return fig.colorbar(sm, ax=axes, fraction=0.02, pad=0.01, label=label)


def plot_feature_directions(W, ax=None, *, importance=None, title: str | None = None, lim: float = 1.5):
    """Features of a 2-D hidden space (m = 2) as arrows from the origin, coloured by importance."""
    W = _np(W)
    if W.shape[-1] != 2:
        raise ValueError(f"plot_feature_directions needs m = 2 hidden dimensions, got W of shape {W.shape}")
    n = W.shape[0]
    imp = np.arange(n)[::-1] if importance is None else _np(importance)
    norm = colors.Normalize(vmin=float(np.min(imp)), vmax=float(np.max(imp)) + 1e-12)
    cmap = plt.get_cmap(IMPORTANCE_CMAP)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.5, 2.5))
    for i in range(n):
        c = cmap(norm(imp[i]))
        ax.plot([0, W[i, 0]], [0, W[i, 1]], color=c, lw=1.5)
        ax.scatter([W[i, 0]], [W[i, 1]], color=c, s=14, zorder=3)
    ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.85", lw=0.5, zorder=0), ax.axvline(0, color="0.85", lw=0.5, zorder=0)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_models_grid(Ws: Sequence, bs: Sequence, titles: Sequence[str], *, suptitle: str | None = None):
    """One column per model: WᵀW with b on top, feature-norm bars below (the paper's layout)."""
    k = len(Ws)
    fig, axes = plt.subplots(2, k, figsize=(1.9 * k + 1.2, 4.6), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 1.1]})
    for j, (W, b, t) in enumerate(zip(Ws, bs, titles)):
        plot_gram(W, b, axes[0, j], title=t)
        plot_feature_bars(W, axes[1, j])
        if j:
            axes[0, j].set_ylabel(""), axes[1, j].set_ylabel("")
            axes[1, j].set_yticklabels([])
    interference_colorbar(fig, axes[1, :].tolist())
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig


# ---------------------------------------------- chapter 2: phase change
#: colours of the three outcomes for a feature, indexed by lib.metrics phase codes
PHASE_COLORS = ("#cfcfcf", "#e6762d", "#3a6fb0")   # not learned, superposed, dedicated


def _log_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges (geometric midpoints) of a log-spaced grid of cell centres."""
    v = np.log(np.asarray(values, dtype=np.float64))
    mid = (v[1:] + v[:-1]) / 2
    return np.exp(np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]]))


def plot_phase_diagram(phase, r, density, ax=None, *, title: str | None = None, share=None,
                       boundaries: Sequence[tuple] = (), legend: bool = True,
                       palette: Sequence[str] = PHASE_COLORS, names: Sequence[str] | None = None):
    """Phase of the extra feature on an (r, density) grid, both axes logarithmic.

    ``phase: [R, S]`` integer codes (``lib.metrics`` NOT_LEARNED, SUPERPOSED, DEDICATED) at
    extra importances ``r [R]`` and densities ``density [S]``. ``share: [R, S]`` in [0, 1]
    (optional) fades cells whose restarts disagree (1 = unanimous). ``boundaries``: tuples
    ``(r_curve, density_curve, label)`` drawn as lines on top. ``palette`` and ``names``
    (default: the three phases of the extra feature) colour and label other categories.
    """
    names = [f"extra feature {p}" for p in metrics.PHASE_NAMES] if names is None else list(names)
    phase = _np(phase).astype(int)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.2))
    rgba = np.array([colors.to_rgba(palette[k]) for k in phase.ravel()]).reshape(*phase.shape, 4)
    if share is not None:
        # blend towards white: a 50/50 split of restarts is drawn at half strength
        strength = np.clip(_np(share), 0, 1)[..., None]
        rgba[..., :3] = 1 - (1 - rgba[..., :3]) * (0.35 + 0.65 * strength)
    # pcolormesh wants [y, x]: density on y, r on x
    ax.pcolormesh(_log_edges(r), _log_edges(density), np.transpose(rgba, (1, 0, 2)), shading="flat")
    for k, (rc, sc, label) in enumerate(boundaries):
        ax.plot(rc, sc, color="k", lw=1.4, ls=("-", "--", ":")[k % 3], label=label)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("importance r of the extra feature")
    ax.set_ylabel("feature density 1 - S")
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        from matplotlib.patches import Patch
        present = set(np.unique(phase).tolist())
        handles = [Patch(color=palette[k], label=names[k]) for k in range(len(names)) if k in present]
        handles += ax.get_legend_handles_labels()[0]
        # below the axes, so that no cell of the diagram is hidden
        ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  frameon=False)
    return ax


def plot_loss_surface(W1, W2, loss, ax=None, *, minima=(), title: str | None = None, levels: int = 20):
    """Filled contours of a loss over the (W1, W2) plane (n = 2, m = 1), minima marked.

    ``W1, W2, loss: [A, B]`` (a meshgrid with ``indexing="ij"``); ``minima``: (W1, W2)
    points to mark. Contours are spaced in log(loss - min + 1e-4 × range), so the basins
    near the minimum stay visible.
    """
    W1, W2, loss = _np(W1), _np(W2), _np(loss)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3))
    lo, hi = float(loss.min()), float(loss.max())
    shown = np.log10(loss - lo + 1e-4 * (hi - lo))
    ax.contourf(W1, W2, shown, levels=levels, cmap="viridis_r")
    ax.contour(W1, W2, shown, levels=levels, colors="k", linewidths=0.2, alpha=0.5)
    for w1, w2 in minima:
        ax.plot([w1], [w2], marker="*", color="red", ms=9, mec="white", mew=0.6)
    ax.set_aspect("equal")
    ax.set_xlabel("W₁ (normal feature)")
    ax.set_ylabel("W₂ (extra feature)")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


# ----------------------------------------------------------------------------- chapter 3: geometry
def plot_dimensions_per_feature(feature_probability, dimensions_per_feature, ax=None, *,
                                title: str | None = None, label: str | None = None):
    """D* = m / ‖W‖_F² against 1/(1-S) (log axis), with the sticky values 1 and 1/2 marked.

    ``feature_probability: [S]`` (1 - S of each model), ``dimensions_per_feature: [S]``.
    """
    p, d = _np(feature_probability), _np(dimensions_per_feature)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for level in (1.0, 0.5):
        ax.axhline(level, color="0.7", lw=0.8, ls="--", zorder=0)
    ax.semilogx(1 / p, d, "o-", ms=4, label=label)
    ax.set_xlabel("1 / (1 - S)   (inverse feature probability)")
    ax.set_ylabel("D* = m / ‖W‖²_F   (dimensions per feature)")
    ax.set_ylim(0, 1.1)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_dimensionality_scatter(feature_probability, dimensionality, ax=None, *, lines: dict | None = None,
                                title: str | None = None, jitter: float = 0.04, seed: int = 0):
    """Per-feature dimensionality D_i against 1/(1-S), one column of points per model.

    ``feature_probability: [S]``, ``dimensionality: [S, n]`` (NaN entries are skipped, e.g.
    unlearned features). ``lines`` maps a label to a fraction drawn as a horizontal line
    (e.g. {"tetrahedron": 3/4, ...}). Points are jittered horizontally (in log space) so
    that coinciding values stay visible.
    """
    p, D = _np(feature_probability), _np(dimensionality)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    rng = np.random.default_rng(seed)
    for label, value in (lines or {}).items():
        ax.axhline(value, color="0.75", lw=0.7, zorder=0)
        ax.text(1.005, value, f"{label} ({value:.3g})", transform=ax.get_yaxis_transform(), fontsize=7,
                va="center", ha="left", color="0.35")
    for pk, Dk in zip(p, D):
        Dk = Dk[np.isfinite(Dk)]
        x = (1 / pk) * np.exp(jitter * rng.standard_normal(Dk.shape))
        ax.scatter(x, Dk, s=5, alpha=0.5, color="C0", lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("1 / (1 - S)")
    ax.set_ylabel("feature dimensionality D_i")
    ax.set_ylim(-0.03, 1.08)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_census(feature_probability, counts: dict, ax=None, *, title: str | None = None):
    """Stacked bars: how many features sit in each kind of tegum factor, per model.

    ``feature_probability: [S]``; ``counts`` maps a polytope name to ``[S]`` numbers (of
    features, or of factors). Bars are placed at 1/(1-S) on a log axis.
    """
    p = _np(feature_probability)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(p))
    bottom = np.zeros(len(p))
    cmap = plt.get_cmap("tab10")
    for k, (name, values) in enumerate(counts.items()):
        values = _np(values).astype(float)
        ax.bar(x, values, bottom=bottom, color=cmap(k % 10), label=name, width=0.8)
        bottom += values
    ax.set_xticks(x, [f"{1 / v:.3g}" for v in p], rotation=60, fontsize=7)
    ax.set_xlabel("1 / (1 - S)")
    ax.set_ylabel("features in factor")
    ax.legend(fontsize=7, ncol=2, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


# ---------------------------------------------------------------- chapter 4: computation
NEURON_CLASS_COLOURS = {0: "white", 1: "#e8f1fb", 2: "#fdece6"}   # none / monosemantic / polysemantic


def plot_neuron_weights(W, ax=None, *, title: str | None = None, vmax: float | None = None,
                        colorbar: bool = False, xlabel: str = "neuron j", ylabel: str = "feature i"):
    """Heatmap of a feature × neuron weight matrix ``W: [n, m]`` (blue positive, red negative)."""
    W = _np(W)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.6, 3.2))
    v = float(np.abs(W).max()) if vmax is None else vmax
    im = ax.imshow(W, cmap=WEIGHT_CMAP, vmin=-v, vmax=v, interpolation="nearest", aspect="auto")
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
    for axis, size in ((ax.yaxis, W.shape[0]), (ax.xaxis, W.shape[1])):
        if size <= 12:                       # integer ticks for small matrices
            axis.set_ticks(np.arange(size))
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, label="weight")
    return ax


def plot_neuron_stack(W_in, ax=None, *, represented=None, neuron_counts=None, order=None,
                      title: str | None = None, cmap: str = "viridis_r", ylabel: str = "|W_in[i, j]|",
                      min_fraction: float = 0.005):
    """The paper's neuron stack plot: one bar per neuron, stacked |W_in[i, j]| over features i.

    ``W_in: [n, m]``. Segments are coloured by feature index: with a qualitative ``cmap``
    (tab10, tab20) the colours cycle, with a sequential one dark = first (most important);
    segments of features the neuron does not represent (``represented: bool [n, m]`` False)
    are drawn pale grey. ``neuron_counts: [m]`` shades the background of each bar:
    blue = monosemantic (1), red = polysemantic (>= 2). ``order``: neuron display order.
    Segments thinner than ``min_fraction`` of the tallest bar are not drawn (invisible anyway).
    All segments are one ``PolyCollection``, so a 100 x 40 plot draws in milliseconds.
    """
    from matplotlib.collections import PolyCollection

    W = np.abs(_np(W_in))
    n, m = W.shape
    order = np.arange(m) if order is None else _np(order)
    rep = np.ones_like(W, dtype=bool) if represented is None else _np(represented).astype(bool)
    cm = plt.get_cmap(cmap)
    # a qualitative map (tab10, tab20) cycles, so neighbouring features differ; else a gradient
    palette = (cm(np.arange(n) % cm.N) if isinstance(cm, colors.ListedColormap) and cm.N <= 20
               else cm(np.linspace(0.1, 0.95, n)))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.18 * m + 1), 2.6))
    top = float(W.sum(0).max()) if W.size else 0.0
    boxes, face = [], []
    for pos, j in enumerate(order):
        if neuron_counts is not None:
            cls = min(int(_np(neuron_counts)[j]), 2)
            ax.axvspan(pos - 0.5, pos + 0.5, color=NEURON_CLASS_COLOURS[cls], zorder=0, lw=0)
        bottom = 0.0
        for i in np.argsort(-W[:, j]):        # largest weight at the bottom
            h = W[i, j]
            if h <= min_fraction * top:
                break
            boxes.append([(pos - 0.4, bottom), (pos + 0.4, bottom), (pos + 0.4, bottom + h), (pos - 0.4, bottom + h)])
            face.append(palette[i] if rep[i, j] else (0.85, 0.85, 0.85, 1.0))
            bottom += h
    ax.add_collection(PolyCollection(boxes, facecolors=face, edgecolors="white", linewidths=0.3, zorder=2))
    ax.set_xlim(-0.5, m - 0.5), ax.set_ylim(0, top * 1.05 if top > 0 else 1)
    ax.set_xticks([])
    ax.set_xlabel("neuron"), ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_response_curves(values, responses, ax=None, *, target=None, title: str | None = None,
                         alpha: float = 0.3, colour: str = "C0"):
    """Response curves y_i(u·e_i) against u, one line per feature.

    ``values: [U]``, ``responses: [U, n]`` (a feature's own output as it alone sweeps u);
    ``target``: a function of u drawn dashed for reference (e.g. ReLU).
    """
    u, y = _np(values), _np(responses)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 2.8))
    ax.plot(u, y, color=colour, alpha=alpha, lw=0.8)
    if target is not None:
        ax.plot(u, _np(target(torch.as_tensor(u))), "k--", lw=1.2, label="target")
        ax.legend(loc="upper left", fontsize=8)
    ax.axhline(0, color="0.8", lw=0.5), ax.axvline(0, color="0.8", lw=0.5)
    ax.set_xlabel("input u (only this feature active)"), ax.set_ylabel("output y'_i")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


# ---------------------------------------------------------------- chapter 5: the frustrated denoiser
def weight_pairs(E, D) -> tuple[np.ndarray, np.ndarray]:
    """The post's dots: (E[j, i], D[i, j]) for every neuron j and feature i. ``E: [h, d]``, ``D: [d, h]``."""
    E, D = _np(E), _np(D)
    if E.shape != D.T.shape:
        raise ValueError(f"E [h, d] and D [d, h] must match, got {E.shape} and {D.shape}")
    return E.reshape(-1), D.T.reshape(-1)


def _subsample(n: int, max_points: int | None, seed: int) -> np.ndarray:
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.random.default_rng(seed).choice(n, size=max_points, replace=False)


def plot_weight_pairs(E, D, fig=None, *, title: str | None = None, max_points: int | None = 100_000,
                      color: str = "C0", bins: int = 120, seed: int = 0):
    """Scatter of the weight pairs (E[j, i], D[i, j]) with marginal histograms (log counts).

    ``fig`` may be a Figure or a SubFigure (to draw models side by side); at most
    ``max_points`` random pairs are drawn in the scatter, all of them in the histograms.
    Returns the (scatter, top histogram, right histogram) axes.
    """
    enc, dec = weight_pairs(E, D)
    if fig is None:
        fig = plt.figure(figsize=(4.6, 4.4))
    gs = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4), hspace=0.04, wspace=0.04)
    ax = fig.add_subplot(gs[1, 0])
    top = fig.add_subplot(gs[0, 0], sharex=ax)
    right = fig.add_subplot(gs[1, 1], sharey=ax)
    idx = _subsample(enc.size, max_points, seed)
    ax.scatter(enc[idx], dec[idx], s=1.5, alpha=0.25, color=color, linewidths=0, rasterized=True)
    ax.set_xlabel("encoder weight E[j, i]")
    ax.set_ylabel("decoder weight D[i, j]")
    top.hist(enc, bins=bins, color=color, log=True)
    right.hist(dec, bins=bins, color=color, log=True, orientation="horizontal")
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    top.set_ylabel("count")
    right.set_xlabel("count")
    if title:
        top.set_title(title, fontsize=10)
    return ax, top, right


def plot_weight_pair_snapshots(snapshots: Sequence, titles: Sequence[str], *, max_points: int | None = 30_000,
                               color: str = "C0", suptitle: str | None = None, axes=None):
    """Small multiples: one (E[j, i], D[i, j]) scatter per snapshot ``(E, D)``, shared axes."""
    k = len(snapshots)
    if axes is None:
        _, axes = plt.subplots(1, k, figsize=(2.4 * k, 2.5), sharex=True, sharey=True, squeeze=False)
        axes = axes[0]
    for j, ((E, D), t) in enumerate(zip(snapshots, titles)):
        enc, dec = weight_pairs(E, D)
        idx = _subsample(enc.size, max_points, j)
        axes[j].scatter(enc[idx], dec[idx], s=1, alpha=0.25, color=color, linewidths=0, rasterized=True)
        axes[j].set_title(t, fontsize=9)
        axes[j].set_xlabel("E[j, i]")
    axes[0].set_ylabel("D[i, j]")
    if suptitle:
        axes[0].figure.suptitle(suptitle, fontsize=10)
    return axes


def plot_degree_histogram(observed, null, ax=None, *, label: str, title: str | None = None):
    """Histogram of a count (degree or overlap) of a sign matrix against the same count
    pooled over iid null matrices (normalised to frequencies)."""
    observed, null = _np(observed).reshape(-1), _np(null).reshape(-1)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 2.5))
    hi = int(max(observed.max(), null.max()))
    edges = np.arange(-0.5, hi + 1.5)
    ax.hist(null, bins=edges, density=True, color="0.7", label="iid null")
    ax.hist(observed, bins=edges, density=True, histtype="step", color="C3", lw=1.5, label="learned S")
    ax.set_xlabel(label)
    ax.set_ylabel("frequency")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax

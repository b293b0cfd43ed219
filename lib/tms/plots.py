"""The TMS figures: Gram matrices, feature norms, directions, phase diagrams, geometry.

Arrays in, matplotlib figures out; colours from ``lib.core.style``.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors

from ..core.style import IMPORTANCE_CMAP, INTERFERENCE_CMAP, WEIGHT_CMAP, to_numpy
from . import measures


def plot_gram(
    W, b=None, ax=None, *, title: str | None = None, vmax: float = 1.0, colorbar: bool = False
):
    """Heatmap of WᵀW (features × features) with the bias b as an extra column.

    ``W: [n, m]`` (rows are feature directions), ``b: [n]``.
    """
    W = to_numpy(W)
    gram = W @ W.T
    n = gram.shape[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3))
    shown = (gram if b is None else np.concatenate([gram, np.full((n, 1), np.nan), to_numpy(b)[:,
             None]], axis=1))
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
    """Bars of ‖W_i‖ per feature (top: most important), coloured by interference
    Σ_{j≠i}(Ŵ_i·W_j)².
    """
    W = torch.as_tensor(to_numpy(W))
    norms = measures.feature_norms(W).numpy()
    inter = measures.interference(W).numpy()
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


def plot_feature_directions(
    W, ax=None, *, importance=None, title: str | None = None, lim: float = 1.5
):
    """Features of a 2-D hidden space (m = 2) as arrows from the origin, coloured by importance."""
    W = to_numpy(W)
    if W.shape[-1] != 2:
        raise ValueError(
            f"plot_feature_directions needs m = 2 hidden dimensions, got W of shape {W.shape}"
        )
    n = W.shape[0]
    imp = np.arange(n)[::-1] if importance is None else to_numpy(importance)
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
    (ax.axhline(0, color="0.85", lw=0.5, zorder=0), ax.axvline(0, color="0.85", lw=0.5, zorder=0))
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_models_grid(
    Ws: Sequence, bs: Sequence, titles: Sequence[str], *, suptitle: str | None = None
):
    """One column per model: WᵀW with b on top, feature-norm bars below (the paper's layout)."""
    k = len(Ws)
    fig, axes = plt.subplots(
        2, k, figsize=(1.9 * k + 1.2, 4.6), squeeze=False, gridspec_kw={"height_ratios": [1, 1.1]}
    )
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


#: colours of the three outcomes for a feature, indexed by lib.tms.measures phase codes
PHASE_COLORS = ("#cfcfcf", "#e6762d", "#3a6fb0")  # not learned, superposed, dedicated


def _log_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges (geometric midpoints) of a log-spaced grid of cell centres."""
    v = np.log(np.asarray(values, dtype=np.float64))
    mid = (v[1:] + v[:-1]) / 2
    return np.exp(np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]]))


def plot_phase_diagram(phase, r, density, ax=None, *, title: str | None = None, share=None,
                       boundaries: Sequence[tuple] = (), legend: bool = True,
                       palette: Sequence[str] = PHASE_COLORS, names: Sequence[str] | None = None):
    """Phase of the extra feature on an (r, density) grid, both axes logarithmic.

    ``phase: [R, S]`` integer codes (``lib.tms.measures`` NOT_LEARNED, SUPERPOSED, DEDICATED) at
    extra importances ``r [R]`` and densities ``density [S]``. ``share: [R, S]`` in [0, 1]
    (optional) fades cells whose restarts disagree (1 = unanimous). ``boundaries``: tuples
    ``(r_curve, density_curve, label)`` drawn as lines on top. ``palette`` and ``names``
    (default: the three phases of the extra feature) colour and label other categories.
    """
    names = [f"extra feature {p}" for p in measures.PHASE_NAMES] if names is None else list(names)
    phase = to_numpy(phase).astype(int)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.2))
    rgba = np.array([colors.to_rgba(palette[k]) for k in phase.ravel()]).reshape(*phase.shape, 4)
    if share is not None:
        # blend towards white: a 50/50 split of restarts is drawn at half strength
        strength = np.clip(to_numpy(share), 0, 1)[..., None]
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
        handles = [
            Patch(color=palette[k], label=names[k]) for k in range(len(names)) if k in present
        ]
        handles += ax.get_legend_handles_labels()[0]
        # below the axes, so that no cell of the diagram is hidden
        ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  ncol=2, frameon=False)
    return ax


def plot_loss_surface(
    W1, W2, loss, ax=None, *, minima=(), title: str | None = None, levels: int = 20
):
    """Filled contours of a loss over the (W1, W2) plane (n = 2, m = 1), minima marked.

    ``W1, W2, loss: [A, B]`` (a meshgrid with ``indexing="ij"``); ``minima``: (W1, W2)
    points to mark. Contours are spaced in log(loss - min + 1e-4 × range), so the basins
    near the minimum stay visible.
    """
    W1, W2, loss = to_numpy(W1), to_numpy(W2), to_numpy(loss)
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


def plot_dimensions_per_feature(feature_probability, dimensions_per_feature, ax=None, *,
                                title: str | None = None, label: str | None = None):
    """D* = m / ‖W‖_F² against 1/(1-S) (log axis), with the sticky values 1 and 1/2 marked.

    ``feature_probability: [S]`` (1 - S of each model), ``dimensions_per_feature: [S]``.
    """
    p, d = to_numpy(feature_probability), to_numpy(dimensions_per_feature)
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


def plot_dimensionality_scatter(feature_probability, dimensionality, ax=None, *,
                                lines: dict | None = None, title: str | None = None,
                                jitter: float = 0.04, seed: int = 0):
    """Per-feature dimensionality D_i against 1/(1-S), one column of points per model.

    ``feature_probability: [S]``, ``dimensionality: [S, n]`` (NaN entries are skipped, e.g.
    unlearned features). ``lines`` maps a label to a fraction drawn as a horizontal line
    (e.g. {"tetrahedron": 3/4, ...}). Points are jittered horizontally (in log space) so
    that coinciding values stay visible.
    """
    p, D = to_numpy(feature_probability), to_numpy(dimensionality)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    rng = np.random.default_rng(seed)
    for label, value in (lines or {}).items():
        ax.axhline(value, color="0.75", lw=0.7, zorder=0)
        ax.text(1.005, value, f"{label} ({value:.3g})", transform=ax.get_yaxis_transform(),
                fontsize=7, va="center", ha="left", color="0.35")
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
    p = to_numpy(feature_probability)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(p))
    bottom = np.zeros(len(p))
    cmap = plt.get_cmap("tab10")
    for k, (name, values) in enumerate(counts.items()):
        values = to_numpy(values).astype(float)
        ax.bar(x, values, bottom=bottom, color=cmap(k % 10), label=name, width=0.8)
        bottom += values
    ax.set_xticks(x, [f"{1 / v:.3g}" for v in p], rotation=60, fontsize=7)
    ax.set_xlabel("1 / (1 - S)")
    ax.set_ylabel("features in factor")
    ax.legend(fontsize=7, ncol=2, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_energy_levels(steps, D, loss, axes=None, *, drops=(), norms=None,
                       min_norm: float = 0.5, title: str | None = None):
    """The paper's energy-level figure for one model: D_i(t) above, the loss below.

    ``steps: [S]``, ``D: [S, n]`` (per-feature dimensionality), ``loss: [S]``, both on a
    log step axis; ``drops``: ``LossDrop``s shaded on both panels. With ``norms``
    (``[S, n]``), a feature is drawn only where ‖W_i‖ >= ``min_norm`` (elsewhere its D
    means nothing), and only features represented at some snapshot.
    """
    steps, D, loss = to_numpy(steps), to_numpy(D), to_numpy(loss)
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(6, 4.5), sharex=True,
                               gridspec_kw={"height_ratios": [2, 1]})
    top, bottom = axes
    cmap = plt.get_cmap("tab20")
    for i in range(D.shape[1]):
        y = D[:, i].copy()
        if norms is not None:
            keep = to_numpy(norms)[:, i] >= min_norm
            if not keep.any():
                continue
            y[~keep] = np.nan
        top.semilogx(steps, y, lw=0.9, color=cmap(i % 20))
    for level in (1, 0.5):
        top.axhline(level, color="0.6", lw=0.5, ls=":")
    bottom.loglog(steps, loss, "k", lw=1)
    for d in drops:
        for ax in axes:
            ax.axvspan(d.start, d.end, color="gold", alpha=0.3, lw=0)
    top.set_ylabel("feature dimensionality D_i")
    top.set_ylim(-0.05, 1.05)
    bottom.set_ylabel("loss (fixed batch)")
    bottom.set_xlabel("training step")
    if title:
        top.set_title(title, fontsize=9)
    return axes


def plot_embedding_3d(W, ax, *, set_sizes: Sequence[int] = (), title: str | None = None,
                      colors_of_sets=("tab:blue", "tab:orange", "tab:green")):
    """Feature directions ``W: [n, 3]`` as arrows from the origin in a 3-D axis ``ax``
    (``projection="3d"``), coloured by consecutive feature set (``set_sizes``)."""
    W = to_numpy(W)
    if W.ndim != 2 or W.shape[1] != 3:
        raise ValueError(f"W must be [n, 3], got shape {W.shape}")
    set_of = np.repeat(np.arange(len(set_sizes)), list(set_sizes)) if set_sizes else \
        np.zeros(W.shape[0], dtype=int)
    for i, w in enumerate(W):
        c = colors_of_sets[set_of[i] % len(colors_of_sets)]
        ax.plot([0, w[0]], [0, w[1]], [0, w[2]], color=c, lw=1.5)
        ax.scatter(*w, color=c, s=12)
    lim = max(1.0, float(np.abs(W).max()))
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-lim, lim)
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    ax.set_xlabel("h1", labelpad=-12), ax.set_ylabel("h2", labelpad=-12)
    ax.set_zlabel("h3", labelpad=-12)
    if title:
        ax.set_title(title, fontsize=8)
    return ax

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

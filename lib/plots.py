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

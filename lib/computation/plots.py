"""Figures of the computation models: neuron weights, neuron stacks, response curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors

from ..core.style import WEIGHT_CMAP, to_numpy

NEURON_CLASS_COLOURS = {
    0: "white",
    1: "#e8f1fb",
    2: "#fdece6",
}  # none / monosemantic / polysemantic


def plot_neuron_weights(
    W,
    ax=None,
    *,
    title: str | None = None,
    vmax: float | None = None,
    colorbar: bool = False,
    xlabel: str = "neuron j",
    ylabel: str = "feature i",
):
    """Heatmap of a feature × neuron weight matrix ``W: [n, m]`` (blue positive, red negative)."""
    W = to_numpy(W)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.6, 3.2))
    v = float(np.abs(W).max()) if vmax is None else vmax
    im = ax.imshow(W, cmap=WEIGHT_CMAP, vmin=-v, vmax=v, interpolation="nearest", aspect="auto")
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
    for axis, size in ((ax.yaxis, W.shape[0]), (ax.xaxis, W.shape[1])):
        if size <= 12:  # integer ticks for small matrices
            axis.set_ticks(np.arange(size))
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, label="weight")
    return ax


def plot_neuron_stack(W_in, ax=None, *, represented=None, neuron_counts=None, order=None,
                      title: str | None = None, cmap: str = "viridis_r",
                      ylabel: str = "|W_in[i, j]|", min_fraction: float = 0.005):
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

    W = np.abs(to_numpy(W_in))
    n, m = W.shape
    order = np.arange(m) if order is None else to_numpy(order)
    rep = np.ones_like(W, dtype=bool) if represented is None else to_numpy(represented).astype(bool)
    cm = plt.get_cmap(cmap)
    # a qualitative map (tab10, tab20) cycles, so neighbouring features differ; else a gradient
    palette = (cm(np.arange(n) % cm.N) if isinstance(cm,
               colors.ListedColormap) and cm.N <= 20 else cm(np.linspace(0.1, 0.95, n)))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.18 * m + 1), 2.6))
    top = float(W.sum(0).max()) if W.size else 0.0
    boxes, face = [], []
    for pos, j in enumerate(order):
        if neuron_counts is not None:
            cls = min(int(to_numpy(neuron_counts)[j]), 2)
            ax.axvspan(pos - 0.5, pos + 0.5, color=NEURON_CLASS_COLOURS[cls], zorder=0, lw=0)
        bottom = 0.0
        for i in np.argsort(-W[:, j]):  # largest weight at the bottom
            h = W[i, j]
            if h <= min_fraction * top:
                break
            boxes.append(
                [(pos - 0.4, bottom), (pos + 0.4, bottom), (pos + 0.4, bottom + h), (pos - 0.4,
                 bottom + h)]
            )
            face.append(palette[i] if rep[i, j] else (0.85, 0.85, 0.85, 1.0))
            bottom += h
    ax.add_collection(
        PolyCollection(boxes, facecolors=face, edgecolors="white", linewidths=0.3, zorder=2)
    )
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
    u, y = to_numpy(values), to_numpy(responses)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 2.8))
    ax.plot(u, y, color=colour, alpha=alpha, lw=0.8)
    if target is not None:
        ax.plot(u, to_numpy(target(torch.as_tensor(u))), "k--", lw=1.2, label="target")
        ax.legend(loc="upper left", fontsize=8)
    ax.axhline(0, color="0.8", lw=0.5), ax.axvline(0, color="0.8", lw=0.5)
    ax.set_xlabel("input u (only this feature active)"), ax.set_ylabel("output y'_i")
    if title:
        ax.set_title(title, fontsize=9)
    return ax

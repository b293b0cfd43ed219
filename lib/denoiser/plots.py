"""Figures of the denoiser: (encoder, decoder) weight pairs and degree histograms."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..core.style import to_numpy


def weight_pairs(E, D) -> tuple[np.ndarray, np.ndarray]:
    """The post's dots: (E[j, i], D[i, j]) for every neuron j and feature i. ``E: [h,
    d]``, ``D: [d, h]``.
    """
    E, D = to_numpy(E), to_numpy(D)
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


def plot_weight_pair_snapshots(snapshots: Sequence, titles: Sequence[str], *,
                               max_points: int | None = 30_000, color: str = "C0",
                               suptitle: str | None = None, axes=None):
    """Small multiples: one (E[j, i], D[i, j]) scatter per snapshot ``(E, D)``, shared axes."""
    k = len(snapshots)
    if axes is None:
        _, axes = plt.subplots(
            1, k, figsize=(2.4 * k, 2.5), sharex=True, sharey=True, squeeze=False
        )
        axes = axes[0]
    for j, ((E, D), t) in enumerate(zip(snapshots, titles)):
        enc, dec = weight_pairs(E, D)
        idx = _subsample(enc.size, max_points, j)
        axes[j].scatter(
            enc[idx], dec[idx], s=1, alpha=0.25, color=color, linewidths=0, rasterized=True
        )
        axes[j].set_title(t, fontsize=9)
        axes[j].set_xlabel("E[j, i]")
    axes[0].set_ylabel("D[i, j]")
    if suptitle:
        axes[0].figure.suptitle(suptitle, fontsize=10)
    return axes


def plot_degree_histogram(observed, null, ax=None, *, label: str, title: str | None = None):
    """Histogram of a count (degree or overlap) of a sign matrix against the same count
    pooled over iid null matrices (normalised to frequencies)."""
    observed, null = to_numpy(observed).reshape(-1), to_numpy(null).reshape(-1)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 2.5))
    hi = int(max(observed.max(), null.max()))
    edges = np.arange(-0.5, hi + 1.5)
    ax.hist(null, bins=edges, density=True, color="0.7", label="iid null")
    ax.hist(
        observed, bins=edges, density=True, histtype="step", color="C3", lw=1.5, label="learned S"
    )
    ax.set_xlabel(label)
    ax.set_ylabel("frequency")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


REGIME_AXES = {  # panel: (x key, y key, title)
    "loss": ("encoder_init_std", "loss_power", "loss power p x initial scale"),
    "noise": ("k", "noise_std", "noise σ x k (p = 4)"),
    "ratio": ("loss_power", "d_over_h", "d / h x p (d = 192)"),
    "size": ("batch_size", "n_features", "size d (d / h = 3) x batch"),
}


def plot_regime_map(records, axes=None, *, max_ambiguous: float = 0.05):
    """The regime map: mean neurons per feature (column degree of the learned sign matrix)
    in each cell of each panel, averaged over instances (``lib.denoiser.regime`` records).

    Colour: log2 of the mean column degree (1 = one neuron per feature); cells whose
    encoder did not cluster (ambiguous share > ``max_ambiguous``: the dense "cloud") are
    grey and labelled "cloud". Returns the axes, one per panel.
    """
    import pandas as pd

    frame = pd.DataFrame(records)
    frame["encoder_init_std"] = [c["encoder_init_std"] for c in frame["config"]]
    frame["loss_power"] = [c["loss_power"] for c in frame["config"]]
    frame["noise_std"] = [c["noise_std"] for c in frame["config"]]
    frame["k"] = [c["k"] for c in frame["config"]]
    frame["n_features"] = [c["n_features"] for c in frame["config"]]
    frame["d_over_h"] = [c["n_features"] / c["n_hidden"] for c in frame["config"]]
    frame["encoder_init_std"] = frame["encoder_init_std"].fillna(0.0)
    panels = [p for p in REGIME_AXES if p in set(frame["panel"])]
    if axes is None:
        _, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.2))
    axes = np.atleast_1d(axes)
    cmap = plt.get_cmap("viridis")
    for ax, panel in zip(axes, panels):
        xk, yk, title = REGIME_AXES[panel]
        sub = frame[frame["panel"] == panel].groupby([xk, yk]).agg(
            m=("col_deg_mean", "mean"), amb=("ambiguous", "max")).reset_index()
        xs, ys = sorted(sub[xk].unique()), sorted(sub[yk].unique())
        for _, row in sub.iterrows():
            i, j = xs.index(row[xk]), ys.index(row[yk])
            cloud = row["amb"] > max_ambiguous
            level = np.clip(np.log2(max(row["m"], 1e-3)), 0, 3) / 3
            ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1,
                                       color="0.8" if cloud else cmap(level)))
            label = "cloud" if cloud else f"{row['m']:.2f}"
            ax.text(i, j, label, ha="center", va="center", fontsize=7,
                    color="k" if cloud or level > 0.5 else "w")
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_ylim(-0.5, len(ys) - 0.5)
        ax.set_xticks(range(len(xs)), [_tick(xk, v) for v in xs], fontsize=7)
        ax.set_yticks(range(len(ys)), [_tick(yk, v) for v in ys], fontsize=7)
        ax.set_xlabel(xk.replace("_", " "), fontsize=8)
        ax.set_ylabel(yk.replace("_", " "), fontsize=8)
        ax.set_title(title, fontsize=9)
    return axes


def _tick(key: str, value) -> str:
    if key == "encoder_init_std" and value == 0:
        return "default"
    return f"{value:g}"

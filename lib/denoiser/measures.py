"""What a trained denoiser does: outputs by group, recall, served features, convergence,
and the encoder clusters along a run.

Models are ``Denoiser``s (``[B, I, d] -> [B, I, d]``), configs ``DenoiserConfig``s; every
function draws its inputs from a named stream of the given seed, never from the training
stream.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..core.seeds import stream
from .data import denoising_target
from .structure import column_degrees, encoder_clusters, sign_structure


def _inputs(model, config, n: int, seed: int) -> torch.Tensor:
    device = next(model.parameters()).device
    config = replace(config, n_instances=model.n_instances)
    return config.build_sampler(seed=stream(seed, "outputs"), device=device)(n)


@torch.no_grad()
def outputs_by_group(model, config, *, n: int = 4096, seed: int = 0) -> dict:
    """Outputs on the on-coordinates (x* = 1) and on the off-coordinates (x* = 0) of ``n``
    fresh inputs, pooled over instances: ``{"on": [..], "off": [..]}`` CPU tensors."""
    x = _inputs(model, config, n, seed)
    y, target = model(x), denoising_target(x)
    return {"on": y[target > 0.5].cpu(), "off": y[target < 0.5].cpu()}


@torch.no_grad()
def recall(model, config, *, n: int = 4096, seed: int = 0) -> np.ndarray:
    """``[I]`` fraction of active features whose output exceeds 1/2 (what rounding the
    output would recover), on ``n`` fresh inputs."""
    x = _inputs(model, config, n, seed)
    on = denoising_target(x) > 0.5
    hit = (model(x) > 0.5) & on
    return (hit.sum(dim=(0, 2)) / on.sum(dim=(0, 2))).cpu().numpy()


@torch.no_grad()
def served_features(model) -> np.ndarray:
    """``[I]`` number of features whose clean one-hot input alone gives an output > 1/2 on
    that feature (the features the model reads and writes back)."""
    d = model.n_features
    device = next(model.parameters()).device
    eye = torch.eye(d, device=device)[:, None, :].expand(d, model.n_instances, d)
    return (model(eye).diagonal(dim1=0, dim2=2) > 0.5).sum(-1).cpu().numpy()


def window_mean(history, end_step: int, span: int) -> np.ndarray:
    """``[I]`` mean training loss over the logging windows ending in (end - span, end]
    (``History`` from ``lib.core.train``)."""
    steps = np.asarray(history.step)
    pick = (steps > end_step - span) & (steps <= end_step)
    if not pick.any():
        raise ValueError(f"no logged step in ({end_step - span}, {end_step}]")
    return np.asarray(history.loss)[pick].mean(axis=0)


def plateau_drop(history, end_step: int, span: int) -> np.ndarray:
    """``[I]`` relative fall of the training loss over ``span`` steps before ``end_step``:
    1 - mean(last window) / mean(window ``span`` earlier), each window ``span / 4`` long.

    Near 0 on a plateau (converged at that learning rate); a still-falling loss gives a
    clearly positive value.
    """
    width = max(1, span // 4)
    late = window_mean(history, end_step, width)
    early = window_mean(history, end_step - span + width, width)
    return 1 - late / early


def cluster_trace(snapshots: dict) -> dict:
    """The encoder clusters along a run: ``snapshots`` ``{step: E [I, h, d]}``.

    Returns numpy arrays ``step [T]`` and, each ``[T, I]``, ``centre`` (c), ``ambiguous``
    (share between the clusters), ``density`` (p) and ``neurons_per_feature`` (mean
    column degree of the sign matrix at that step).
    """
    steps = sorted(snapshots)
    rows = {"centre": [], "ambiguous": [], "density": [], "neurons_per_feature": []}
    for s in steps:
        E = snapshots[s]
        cl = encoder_clusters(E)
        for key in ("centre", "ambiguous", "density"):
            rows[key].append(cl[key].numpy())
        rows["neurons_per_feature"].append(
            column_degrees(sign_structure(E)).double().mean(-1).numpy())
    return {"step": np.array(steps), **{k: np.stack(v) for k, v in rows.items()}}

"""Recipes: config -> sampler + model + loss -> ``train()``. One function per experiment family.

These are the only places that know how the pieces fit together, so a chapter's
training cell is one line and the same code path runs on CPU and GPU.
"""

from __future__ import annotations

import numpy as np

from .configs import ToyModelConfig, TrainConfig, resolve_device
from .data import SparseUniform
from .losses import ImportanceWeightedMSE
from .models import ToyModel
from .train import History, evaluate, train


def train_toy_model(config: ToyModelConfig, train_config: TrainConfig, *, seed: int = 0,
                    device="auto", progress: bool = True, description: str = "toy model",
                    eval_batches: int = 0) -> tuple[ToyModel, History, np.ndarray | None]:
    """Train every instance of a TMS toy model; return (model, history, eval_loss).

    ``eval_loss`` is the per-instance loss ``[I]`` on ``eval_batches`` fresh batches of
    ``train_config.batch_size`` after training (``None`` when ``eval_batches == 0``);
    use it to pick the best of several restarts.
    """
    dev = resolve_device(device)
    sampler = SparseUniform(config.feature_probability_matrix, seed=seed, device=dev)
    model = ToyModel(config.n_features, config.n_hidden, config.n_instances,
                     activation=config.activation, seed=seed, device=dev)
    loss = ImportanceWeightedMSE(config.importance_matrix).to(dev)
    history = train(model, sampler, loss, train_config, device=dev, progress=progress,
                    description=description)
    eval_loss = None
    if eval_batches:
        eval_sampler = SparseUniform(config.feature_probability_matrix, seed=seed + 10_007, device=dev)
        eval_loss = evaluate(model, eval_sampler, loss, batch_size=train_config.batch_size,
                             n_batches=eval_batches)
    return model, history, eval_loss


def best_per_group(loss: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Index of the lowest-loss instance of each group (restarts of one setting).

    ``loss: [I]``, ``groups: [I]`` integer labels; returns ``[G]`` instance indices, groups
    in sorted label order. Best-of-k restarts are more instances plus this arg-min.
    """
    loss, groups = np.asarray(loss), np.asarray(groups)
    if loss.shape != groups.shape:
        raise ValueError(f"loss {loss.shape} and groups {groups.shape} must have the same shape")
    out = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        out.append(members[np.argmin(loss[members])])
    return np.array(out, dtype=np.int64)


# ---------------------------------------------- chapter 2: phase change
def all_but_worst_per_group(loss: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Indices of every instance except the highest-loss one of each group (the paper's
    "train ten models, discard the one with the highest loss"). Groups of one are kept."""
    loss, groups = np.asarray(loss), np.asarray(groups)
    if loss.shape != groups.shape:
        raise ValueError(f"loss {loss.shape} and groups {groups.shape} must have the same shape")
    keep = np.ones(loss.shape, dtype=bool)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if members.size > 1:
            keep[members[np.argmax(loss[members])]] = False
    return np.flatnonzero(keep)


def phase_grid_config(n_features: int, n_hidden: int, extra_importance, densities, restarts: int,
                      activation: str = "relu") -> tuple[ToyModelConfig, np.ndarray]:
    """One ``ToyModelConfig`` whose instances are every (r, s) grid point × ``restarts``.

    The first n - 1 features have importance 1, the last ("extra") one r; every feature
    has density s. Instance order: r slowest, then s, then restart. Returns the config
    and ``group [I]``, the flat grid-point index (r_index * len(densities) + s_index) of
    each instance.
    """
    r = np.asarray(extra_importance, dtype=np.float64)
    s = np.asarray(densities, dtype=np.float64)
    if r.ndim != 1 or s.ndim != 1 or r.size == 0 or s.size == 0:
        raise ValueError("extra_importance and densities must be non-empty 1-D sequences")
    from .configs import check_positive_int
    k = check_positive_int("restarts", restarts)
    rr, ss = (v.reshape(-1) for v in np.meshgrid(r, s, indexing="ij"))
    rr, ss = np.repeat(rr, k), np.repeat(ss, k)
    importance = np.ones((rr.size, n_features))
    importance[:, -1] = rr
    probability = np.repeat(ss[:, None], n_features, axis=1)
    config = ToyModelConfig(n_features, n_hidden, n_instances=rr.size, feature_probability=probability,
                            importance=importance, activation=activation, require_superposition=True)
    return config, np.repeat(np.arange(r.size * s.size), k)

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

"""Empirical phase diagrams: train an (r, s) grid of models, aggregate restarts, compare.

TMS, "Superposition as a Phase Change": n = 2 features in m = 1 dimension (or 3 in 2),
the last ("extra") feature of importance r, every feature of density s = 1 - S; "we train
ten models for each point and average over the results, discarding the model with the
highest loss". Every (r, s) point and every restart is one instance of a single batched
model (``phase_grid_config``), so a whole diagram is one ``fit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.fit import fit
from ..core.restarts import all_but_worst_per_group, best_per_group, plurality_per_group
from ..core.seeds import stream
from ..core.training import TrainConfig
from . import measures
from .config import phase_grid_config
from .expansion import stratified_loss


@dataclass
class PhaseGrid:
    """One trained phase diagram.

    r, density     ``[R]`` extra importances, ``[S]`` densities 1 - S of the grid
    restarts       K, models per grid point
    W, b           ``[I, n, m]``, ``[I, n]`` trained parameters (float64, CPU), I = R S K,
                   instance order r slowest, then s, then restart
    W_initial      ``[I, n, m]`` the same instances before training (a negative control)
    loss           ``[I]`` expected loss of each model (``stratified_loss``, exact in the
                   active sets, common random numbers for the values)
    group          ``[I]`` grid point of each instance, r_index * S + s_index
    seconds        training wall time
    """

    r: np.ndarray
    density: np.ndarray
    restarts: int
    W: torch.Tensor
    b: torch.Tensor
    W_initial: torch.Tensor
    loss: np.ndarray
    group: np.ndarray
    seconds: float

    @property
    def shape(self) -> tuple[int, int]:
        """``(R, S)``, the grid."""
        return (self.r.size, self.density.size)


def train_phase_grid(n_features: int, n_hidden: int, extra_importance, densities,
                     restarts: int, train_config: TrainConfig, *, seed: int = 0,
                     device="auto", rank_samples: int = 2048,
                     progress: bool = True) -> PhaseGrid:
    """Train ``restarts`` models at every (r, s) of the grid as one batched run.

    Initial weights depend on (seed, instance id) only (``ToyModel``); the ranking loss
    draws its uniform values from ``stream(seed, "rank")``. ``rank_samples`` draws per
    active set rank the restarts: a plain Monte Carlo estimate cannot, because at
    s = 0.01 two features are active together once in 10⁴ inputs, and that is where the
    configurations differ.
    """
    config, group = phase_grid_config(n_features, n_hidden, extra_importance, densities,
                                      restarts)
    W0 = config.build_model(seed=seed, device="cpu").W.detach().double()
    run = fit(config, train_config, seed=seed, device=device, progress=progress,
              description=f"n={n_features} m={n_hidden} grid")
    W = run.model.W.detach().cpu().double()
    b = run.model.b.detach().cpu().double()
    loss = stratified_loss(W, b, config.importance_matrix, config.feature_probability_matrix,
                           samples=rank_samples, seed=stream(seed, "rank"))
    return PhaseGrid(np.asarray(extra_importance, np.float64),
                     np.asarray(densities, np.float64), int(restarts), W, b, W0, loss,
                     group, run.history.seconds)


@dataclass
class PhaseAggregate:
    """A trained diagram reduced to one phase per grid point (``[R, S]`` unless said).

    paper     the paper's aggregation: each model's outcome for the extra feature (not
              learned / superposed / dedicated) averaged over the models kept (all but
              the highest-loss one), shown as the outcome with the largest share (ties:
              the lowest-loss model's outcome)
    shares    ``[R, S, 3]`` that average: the share of the kept models with each outcome
    share     the largest share (1 = the kept models agree)
    best      outcome of the lowest-loss model
    restart   ``[I]`` outcome of every model
    """

    paper: np.ndarray
    shares: np.ndarray
    share: np.ndarray
    best: np.ndarray
    restart: np.ndarray


def aggregate_restarts(grid: PhaseGrid, W=None) -> PhaseAggregate:
    """Aggregate the restarts of every grid point (see ``PhaseAggregate``).

    ``W [I, n, m]`` replaces the trained weights (e.g. ``grid.W_initial`` for the
    untrained control); the models kept and the best one are still chosen by
    ``grid.loss``. Outcomes are averaged, never weights: W and -W (and, for m = 2, any
    rotation of the hidden plane) are the same model, so independent restarts land on
    different copies and their weights cancel.
    """
    W = grid.W if W is None else torch.as_tensor(W, dtype=torch.float64)
    shape = grid.shape
    restart = measures.feature_phase(W).numpy()
    keep = all_but_worst_per_group(grid.loss, grid.group)
    best = best_per_group(grid.loss, grid.group)
    paper, share = plurality_per_group(restart, grid.group, 3, members=keep, tie_break=best)
    counts = np.zeros((shape[0] * shape[1], 3))
    np.add.at(counts, (grid.group[keep], restart[keep]), 1.0)
    shares = counts / counts.sum(axis=1, keepdims=True)
    return PhaseAggregate(paper.reshape(shape), shares.reshape(*shape, 3),
                          share.reshape(shape), restart[best].reshape(shape), restart)


def phase_recall(phase, reference, where=None) -> dict[str, float]:
    """For each outcome of ``reference`` (``[R, S]`` codes), the fraction of its grid points
    (restricted to the bool mask ``where``) at which ``phase`` has the same outcome.

    Keys are ``measures.PHASE_NAMES``; outcomes absent from ``reference`` are left out.
    Per-outcome, so that a map which gets the largest region right and the others wrong
    scores low (a constant map scores 0 on every outcome but one).
    """
    phase, reference = np.asarray(phase), np.asarray(reference)
    where = np.ones(reference.shape, bool) if where is None else np.asarray(where, bool)
    out = {}
    for code, name in enumerate(measures.PHASE_NAMES):
        here = where & (reference == code)
        if here.any():
            out[name] = float((phase[here] == code).mean())
    return out


def fitted_switch(values, labels, below) -> tuple[float, int]:
    """Where along a 1-D grid the label ``below`` gives way to the others.

    ``values [N]`` increasing grid values, ``labels [N]`` a label at each. Returns the
    threshold t (geometric midpoint between neighbouring values) that leaves the fewest
    labels on the wrong side (``below`` at values > t, or another label at values < t),
    and that number. Ties go to the lowest threshold.
    """
    values, is_below = np.asarray(values, np.float64), np.asarray(labels) == below
    if values.ndim != 1 or values.size < 2 or is_below.shape != values.shape:
        raise ValueError("values and labels must be 1-D of the same length >= 2")
    errors = [int((~is_below[: k + 1]).sum() + is_below[k + 1 :].sum())
              for k in range(values.size - 1)]
    k = int(np.argmin(errors))
    return float(np.sqrt(values[k] * values[k + 1])), errors[k]


def trivial_agreement(reference) -> float:
    """Agreement of the best constant map with ``reference`` (the share of its most
    common label): the level a phase map reaches without knowing anything."""
    _, counts = np.unique(np.asarray(reference), return_counts=True)
    return float(counts.max() / counts.sum())

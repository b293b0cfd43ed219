"""Restarts as instances: train k copies of a setting side by side, then pick.

A setting trained k times is k more instances with the same config row and a group label
``[I]``; "best of k", "all but the worst" and a plurality vote are arg-min / arg-max /
counts over those groups, never a Python loop over models. ``best_of_restarts`` ranks the
restarts of each setting on common random numbers, so the ranking reflects what the
models learned rather than which restart drew easier data.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .checks import check_positive_int
from .sampling import SharedAcrossInstances
from .training import evaluate


def _check_groups(values: np.ndarray, groups: np.ndarray, name: str = "loss") -> None:
    if values.shape != groups.shape or values.ndim != 1:
        raise ValueError(
            f"{name} {values.shape} and groups {groups.shape} must be 1-D of the same shape"
        )


def best_per_group(loss: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Index of the lowest-loss instance of each group (restarts of one setting).

    ``loss: [I]``, ``groups: [I]`` integer labels; returns ``[G]`` instance indices, groups
    in sorted label order. Best-of-k restarts are more instances plus this arg-min.
    """
    loss, groups = np.asarray(loss), np.asarray(groups)
    _check_groups(loss, groups)
    out = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        out.append(members[np.argmin(loss[members])])
    return np.array(out, dtype=np.int64)


def all_but_worst_per_group(loss: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Indices of every instance except the highest-loss one of each group (the paper's
    "train ten models, discard the one with the highest loss"). Groups of one are kept."""
    loss, groups = np.asarray(loss), np.asarray(groups)
    _check_groups(loss, groups)
    keep = np.ones(loss.shape, dtype=bool)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if members.size > 1:
            keep[members[np.argmax(loss[members])]] = False
    return np.flatnonzero(keep)


def plurality_per_group(
    labels, groups, n_labels: int, *, members=None, tie_break=None
) -> tuple[np.ndarray, np.ndarray]:
    """The most common label of each group, and its share of the group's votes.

    labels     ``[I]`` integer labels in [0, n_labels) (e.g. a phase per restart)
    groups     ``[I]`` group of each instance; groups are returned in sorted label order
    members    optional ``[K]`` indices of the instances that vote (e.g. all but the worst);
               default every instance
    tie_break  optional ``[G]`` instance index per group whose label wins ties (e.g. the
               best restart)
    Returns (plurality ``[G]`` int64, share ``[G]`` in (0, 1]).
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    _check_groups(labels, groups, "labels")
    k = check_positive_int("n_labels", n_labels)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(
            f"labels must lie in [0, n_labels={k}), got values in [{labels.min()}, {labels.max()}]"
        )
    names, index = np.unique(groups, return_inverse=True)
    voters = np.arange(labels.size) if members is None else np.asarray(members, dtype=np.int64)
    votes = np.zeros((names.size, k))
    np.add.at(votes, (index[voters], labels[voters]), 1.0)
    if tie_break is not None:
        tie_break = np.asarray(tie_break, dtype=np.int64)
        if tie_break.shape != (names.size,):
            raise ValueError(
                f"tie_break must have one instance per group ({names.size}), got {tie_break.shape}"
            )
        votes[np.arange(names.size), labels[tie_break]] += 0.5
    plurality = np.argmax(votes, axis=1)
    counts = np.floor(votes[np.arange(names.size), plurality])
    totals = np.bincount(index[voters], minlength=names.size)
    if np.any(totals == 0):
        raise ValueError("every group needs at least one voting member")
    return plurality.astype(np.int64), counts / totals


def best_of_restarts(
    model: torch.nn.Module,
    loss,
    base_sampler,
    groups,
    *,
    target: Callable | None = None,
    batch_size: int = 1024,
    n_batches: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the lowest-loss restart of every setting, comparing restarts on identical data.

    base_sampler  a sampler with one instance per setting (G of them), e.g. a config's
                  ``build_sampler`` for the G distinct settings, seeded with a named stream
    groups        ``[I]`` setting of each instance of ``model``, in [0, G)
    target        ``target(x) -> y`` (None: autoencoding)
    Every restart of a setting is evaluated on the same ``n_batches`` batches
    (``SharedAcrossInstances``), so the arg-min reflects what the models learned. Returns
    (best instance per setting ``[G]``, evaluation loss ``[I]``).
    """
    eval_loss = evaluate(model, SharedAcrossInstances(base_sampler, groups), loss, target=target,
                         batch_size=batch_size, n_batches=n_batches)
    return best_per_group(eval_loss, np.asarray(groups)), eval_loss


def best_of_k_agreement(loss, groups, labels, ks, *, n_draws: int = 200,
                        seed: int = 0) -> np.ndarray:
    """How often the best of k restarts has the same label as the best of all of them.

    loss     ``[I]`` evaluation loss of every restart, ``groups`` ``[I]`` its setting,
    labels   ``[I]`` an outcome of each restart to compare (e.g. a count of
             monosemantic neurons), ks: the subset sizes to try (each <= a group's size)
    For every group and k, draws ``n_draws`` random subsets of k restarts (without
    replacement, seeded by ``seed``), takes each subset's lowest-loss member and counts
    how often its label equals the label of the group's overall best. Returns ``[G, K]``
    shares in [0, 1]: a share near 1 at k well below the group size says that more
    restarts would not change the outcome.
    """
    loss, groups, labels = np.asarray(loss), np.asarray(groups), np.asarray(labels)
    _check_groups(loss, groups)
    _check_groups(labels, groups, "labels")
    rng = np.random.default_rng(seed)
    draws = check_positive_int("n_draws", n_draws)
    out = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        target = labels[members[np.argmin(loss[members])]]
        row = []
        for k in ks:
            k = check_positive_int("k", k)
            if k > members.size:
                raise ValueError(f"k={k} exceeds the {members.size} restarts of group {g}")
            picks = np.array([rng.choice(members, size=k, replace=False) for _ in range(draws)])
            winners = picks[np.arange(draws), np.argmin(loss[picks], axis=1)]
            row.append(float(np.mean(labels[winners] == target)))
        out.append(row)
    return np.array(out)

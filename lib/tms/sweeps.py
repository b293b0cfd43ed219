"""Density sweeps: one TMS setting trained at several feature probabilities at once.

Every density x restart is an instance of one ``ToyModelConfig`` (density slowest, then
restart), trained by one ``fit``; the restarts of a density are then compared on common
random numbers and the lowest-loss one is kept (``Sweep.best``). The per-density
statistics of chapter 1 (how many features are represented, dedicated, superposed, in
antipodal pairs; which features superpose first) are computed from a sweep here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.checks import check_positive_int
from ..core.fit import Fit, fit
from ..core.restarts import best_per_group
from ..core.training import TrainConfig
from . import measures
from .config import ToyModelConfig
from .expansion import kept_features_loss


@dataclass
class Sweep:
    """A trained density sweep (every restart kept).

    densities   ``[S]`` feature probabilities 1 - S, in the order given
    restarts    k, instances per density
    importance  ``[n]`` importances I_i
    activation  "relu" or "linear"
    W, b        ``[S k, n, m]``, ``[S k, n]`` every instance, on the CPU (density
                slowest, then restart)
    eval_loss   ``[S k]`` held-out loss, restarts of a density on identical data
    run         the ``Fit`` (model, history, sampler)
    config      the ``ToyModelConfig`` of all instances (e.g. to rebuild the initial
                weights: ``config.build_model(seed=seed)``)
    """

    densities: np.ndarray
    restarts: int
    importance: np.ndarray
    activation: str
    W: torch.Tensor
    b: torch.Tensor
    eval_loss: np.ndarray
    run: Fit
    config: ToyModelConfig

    @property
    def groups(self) -> np.ndarray:
        """``[S k]`` density index of each instance."""
        return np.repeat(np.arange(len(self.densities)), self.restarts)

    @property
    def instance_density(self) -> np.ndarray:
        """``[S k]`` feature probability of each instance."""
        return self.densities[self.groups]

    @property
    def best(self) -> np.ndarray:
        """``[S]`` index of the lowest-loss restart of each density."""
        return best_per_group(self.eval_loss, self.groups)

    @property
    def best_W(self) -> torch.Tensor:
        """``[S, n, m]`` the best restart of each density."""
        return self.W[self.best]

    @property
    def best_b(self) -> torch.Tensor:
        """``[S, n]``."""
        return self.b[self.best]

    @property
    def best_loss(self) -> np.ndarray:
        """``[S]``."""
        return self.eval_loss[self.best]

    @property
    def trivial_loss(self) -> np.ndarray:
        """``[S k]`` loss of the trivial predictor x' = E[x] at each instance's density."""
        return kept_features_loss(self.importance, self.instance_density[:, None])

    def top_m_loss(self, m: int) -> np.ndarray:
        """``[S]`` the linear model's optimum: features 0..m-1 exact, the rest at their
        mean (importances must be sorted, most important first)."""
        return kept_features_loss(self.importance, self.densities[:, None], range(m))


def density_sweep(n_features: int, n_hidden: int, importance, densities, train_config:
                  TrainConfig, *, restarts: int = 1, activation: str = "relu", seed: int = 0,
                  device="auto", eval_batches: int = 20, init_std: float | None = None,
                  description: str = "sweep", progress: bool = True) -> Sweep:
    """Train ``restarts`` models at each feature probability in ``densities``; one batched run.

    ``importance``: ``[n]`` (the same at every density). Instance ``s * restarts + r`` is
    restart r at density s; its initial weights depend on (seed, that id) only. The
    held-out loss uses common random numbers (``eval_shared``), so the restarts of a
    density are ranked on identical inputs.
    """
    densities = np.asarray(densities, dtype=np.float64).reshape(-1)
    k = check_positive_int("restarts", restarts)
    p = np.repeat(densities, k)[:, None] * np.ones(n_features)  # [S k, n]
    config = ToyModelConfig(n_features, n_hidden, n_instances=len(p), feature_probability=p,
                            importance=importance, activation=activation, init_std=init_std)
    run = fit(config, train_config, seed=seed, device=device, eval_batches=eval_batches,
              eval_shared=True, progress=progress, description=description)
    W = run.model.W.detach().cpu()
    b = run.model.b.detach().cpu()
    return Sweep(densities, k, np.asarray(importance, dtype=np.float64), activation, W, b,
                 run.eval_loss, run, config)


def feature_counts(W, b=None, *, activation: str = "relu") -> dict[str, np.ndarray]:
    """Chapter 1's table of a sweep, ``W: [S, n, m]`` (and ``b: [S, n]``) -> ``[S]`` each.

    represented      ‖W_i‖ > 0.5
    dedicated        represented, interference <= 0.1
    superposed       represented, interference > 0.1 (``measures.superposed``)
    antipodal        features in an antipodal pair (``measures.antipodal_partners``)
    antipodal share  the fraction of superposed features in an antipodal pair
    order AUC        ``importance_order_auc``: superposed features after dedicated ones
    packing          Σ_i D_i / m, at most 1 (``packing``)
    D*               dimensions per feature m / ‖W‖_F²
    dead outputs     ``measures.dead_outputs`` (ReLU models with ``b`` given; else 0)
    """
    rep = measures.represented(W)
    sup = measures.superposed(W)
    dead = (measures.dead_outputs(W, b) if b is not None and activation == "relu"
            else torch.zeros_like(rep))
    return {
        "represented": rep.sum(-1).numpy(),
        "dedicated": (rep & ~sup).sum(-1).numpy(),
        "superposed": sup.sum(-1).numpy(),
        "antipodal": (measures.antipodal_partners(W) >= 0).sum(-1).numpy(),
        "antipodal share": antipodal_share(W),
        "order AUC": importance_order_auc(W),
        "packing": packing(W),
        "D*": measures.dimensions_per_feature(W).numpy(),
        "dead outputs": dead.sum(-1).numpy(),
    }


def packing(W) -> np.ndarray:
    """Σ_i D_i / m, per model ``[..., n, m] -> [...]``: how fully the features use the
    hidden space.

    D_i = ‖W_i‖⁴ / W_iᵀ M W_i with M = Σ_j W_j W_jᵀ, and by Cauchy-Schwarz D_i <= W_iᵀ M⁺
    W_i, the leverage score of feature i; leverage scores sum to rank(W) <= m. So the
    packing is at most 1, with equality when every W_i is an eigenvector of M (a sum of
    tight frames in orthogonal subspaces: dedicated features, antipodal pairs, regular
    polygons, ...). Directions spread at random waste part of the space: the median is
    0.77 for 58 unit vectors in 20 dimensions, 0.81 for 13 in 5 (1000 draws each).
    """
    W = torch.as_tensor(W)
    return (measures.feature_dimensionality(W).sum(-1) / W.shape[-1]).numpy()


def antipodal_share(W) -> np.ndarray:
    """``[S]``: the fraction of each model's superposed features that sit in an antipodal
    pair (NaN where no feature is superposed). ``W: [S, n, m]``."""
    sup = measures.superposed(W)
    anti = (measures.antipodal_partners(W) >= 0) & sup
    count = sup.sum(-1).double()
    return torch.where(count > 0, anti.sum(-1) / count.clamp_min(1),
                       torch.full_like(count, float("nan"))).numpy()


def importance_order_auc(W) -> np.ndarray:
    """How strictly superposition sits at the unimportant end, per model ``[..., n, m] -> [...]``.

    The probability that a superposed feature is less important (a higher index: features
    are sorted most important first) than a dedicated one, over all (superposed,
    dedicated) pairs: 1 when every superposed feature comes after every dedicated one, 1/2
    for no relation (e.g. shuffled features), NaN when either set is empty. "It starts
    with less important features" (TMS, Basic Results) reads: close to 1.
    """
    rep = measures.represented(W)
    sup = measures.superposed(W)
    ded = (rep & ~sup).double()
    sup = sup.double()
    ded_before = torch.cumsum(ded, dim=-1) - ded  # dedicated features more important than i
    pairs = sup.sum(-1) * ded.sum(-1)
    later = (sup * ded_before).sum(-1)
    return torch.where(pairs > 0, later / pairs.clamp_min(1),
                       torch.full_like(pairs, float("nan"))).numpy()


def shuffle_features(W, *, copies: int = 1, seed: int = 0) -> torch.Tensor:
    """The negative control for claims about importance order: ``copies`` random
    relabellings of the features, ``[..., n, m] -> [copies, ..., n, m]``.

    Each copy permutes the feature axis (the same permutation for every leading index,
    so a sweep stays one model per density, just with its features' importances
    shuffled). Geometry and counts are unchanged; only the order is lost.
    """
    W = torch.as_tensor(W)
    gen = torch.Generator().manual_seed(int(seed))
    n = W.shape[-2]
    perms = [torch.randperm(n, generator=gen) for _ in range(check_positive_int("copies", copies))]
    return torch.stack([W[..., perm, :] for perm in perms])


def order_and_shape(W, *, seed: int = 0, draws: int = 1000, shuffles: int = 200) -> dict:
    """The statistics behind "It starts with less important features, and gradually
    affects the most important ones. Initially this involves arranging them in antipodal
    pairs [...] but we observe it gradually transition to other geometric structures"
    (TMS, Basic Results), with their negative controls.

    ``W: [S, n, m]``: the best model at each density, densest first. Returns
        order AUC        mean ``importance_order_auc`` over densities where it is defined
        shuffled AUC     the same on ``shuffles`` relabellings of the features (control)
        dedicated        ``[S]`` dedicated features per density
        onset            index of the first density where more features are represented
                         than there are dimensions (-1: none), where superposition in
                         the paper's sense ("represent more features") begins. (A
                         superposed feature alone can appear earlier: at the dense end
                         features m-1 and m may share the last dimension, a slowly
                         optimised rotation, not extra features.)
        onset share      antipodal share there (NaN without superposition)
        onset share random   the same for the same norms in random directions (control)
        sparse share     antipodal share at the last (sparsest) density
        sparse packing   ``packing`` at the last density
        random packing pass  fraction of ``draws`` random spreads of those norms with
                         packing >= 0.95 (control)
    Seeds of the controls are drawn from ``seed`` (pass a named stream).
    """
    W = torch.as_tensor(W)
    counts = feature_counts(W)
    gen = np.random.default_rng(seed)
    control_seeds = gen.integers(0, 2**62, size=3)
    shuffled = shuffle_features(W, copies=shuffles, seed=int(control_seeds[0]))
    m = W.shape[-1]
    extra = counts["represented"] > m
    onset = int(np.argmax(extra)) if extra.any() else -1
    nan = float("nan")
    onset_random = (antipodal_share(measures.random_spread(W[onset], seed=int(
        control_seeds[1]))[None])[0] if onset >= 0 else nan)
    spread = measures.random_spread(W[-1].expand(draws, -1, -1), seed=int(control_seeds[2]))
    auc = counts["order AUC"]
    return {
        "order AUC": float(np.nanmean(auc)) if np.isfinite(auc).any() else nan,
        "shuffled AUC": float(np.nanmean(importance_order_auc(shuffled))),
        "dedicated": counts["dedicated"].tolist(),
        "onset": onset,
        "onset share": float(counts["antipodal share"][onset]) if onset >= 0 else nan,
        "onset share random": float(onset_random),
        "sparse share": float(counts["antipodal share"][-1]),
        "sparse packing": float(counts["packing"][-1]),
        "random packing pass": float((packing(spread) >= 0.95).mean()),
    }


def declines_gradually(dedicated, represented, m: int) -> bool:
    """"It starts with less important features, and gradually affects the most
    important ones": from the first density with more than ``m`` features represented
    (densest first), some features still have a dedicated dimension there, their count
    never rises by more than one as features get sparser, and it reaches 0 at the
    sparsest density (even the most important feature shares its dimension).
    ``dedicated``, ``represented``: ``[S]`` counts per density."""
    d, r = np.asarray(dedicated), np.asarray(represented)
    if not (r > m).any():
        return False
    d = d[int(np.argmax(r > m)):]
    rises = np.maximum.accumulate(d[::-1])[::-1] - d  # how far a later count exceeds d
    return bool(d[0] > 0 and d[-1] == 0 and rises.max() <= 1)

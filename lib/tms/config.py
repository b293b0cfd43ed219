"""Configs of the TMS family: independent sparse features, or features in sets.

A config is validated once, when built, and builds the run: ``build_model``,
``build_sampler``, ``build_loss`` and ``build_target`` (the ``lib.core.fit`` protocol).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core.checks import (
    ACTIVATIONS,
    check_choice,
    check_importance,
    check_positive_float,
    check_positive_int,
    check_probabilities,
    per_instance_feature,
)
from ..core.features import ImportanceMatrix, SparseFeatures, WeightedAutoencoder
from ..core.sampling import SharedSparseUniform
from .data import FeatureSets, check_feature_sets
from .model import ToyModel


class ToyModelBuilder(WeightedAutoencoder):
    """``build_model`` (with the loss and target of ``WeightedAutoencoder``) for the TMS
    configs; validates ``activation`` and ``init_std``."""

    n_features: int
    n_hidden: int
    n_instances: int
    activation: str
    init_std: float | None

    def check_model_options(self) -> None:
        check_choice("activation", self.activation, ACTIVATIONS)
        if self.init_std is not None:
            self.init_std = check_positive_float("init_std", self.init_std)

    def build_model(self, *, seed: int = 0, device="cpu") -> ToyModel:
        """A fresh ``ToyModel`` (instance k drawn from (seed, k))."""
        return ToyModel(self.n_features, self.n_hidden, self.n_instances,
                        activation=self.activation, init_std=self.init_std, seed=seed,
                        device=device)  # fmt: skip


@dataclass
class ToyModelConfig(ToyModelBuilder, SparseFeatures):
    """The TMS autoencoder family: n features squeezed into m hidden dimensions.

    n_features           n, the number of input features
    n_hidden             m, the hidden dimension
    n_instances          I, models trained side by side
    feature_probability  1 - S: scalar, [I], [n] or [I, n]; each entry in (0, 1]
    importance           I_i: scalar, [n], [I] or [I, n]; each entry > 0 (a 1-D vector of
                         length n is per feature, even when n == I)
    activation           "relu" (x' = ReLU(WᵀWx + b)) or "linear" (x' = WᵀWx + b)
    require_superposition  if True, insist on n_hidden < n_features
    init_std             std of W's initial entries (None: ``tms.model.default_init_std``)
    """

    n_features: int
    n_hidden: int
    n_instances: int = 1
    feature_probability: float | Sequence[float] | np.ndarray = 1.0
    importance: float | Sequence[float] | np.ndarray = 1.0
    activation: str = "relu"
    require_superposition: bool = False
    init_std: float | None = None
    _p: np.ndarray = field(init=False, repr=False)
    _imp: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.check_sizes_and_features()
        if self.require_superposition and self.n_hidden >= self.n_features:
            raise ValueError(
                f"n_hidden must be < n_features for superposition to be possible, "
                f"got n_hidden={self.n_hidden}, n_features={self.n_features}"
            )
        self.check_model_options()

    def build_sampler(self, *, seed: int = 0, device="cpu", shared: bool = False):
        """The data: ``SparseUniform`` on [0, 1] (``shared``: its common-random-numbers twin)."""
        if shared:
            return SharedSparseUniform(self.feature_probability_matrix, seed=seed, device=device)
        return super().build_sampler(seed=seed, device=device)


@dataclass
class FeatureSetsConfig(ToyModelBuilder, ImportanceMatrix):
    """The TMS toy model on features grouped into correlated / anticorrelated / independent sets.

    set_sizes        [K] sizes of consecutive feature sets; n_features = Σ set_sizes
    kinds            [K] (or one for all) "correlated", "anticorrelated" or "independent"
                     (see ``lib.tms.data.FeatureSets``)
    n_hidden         m, the hidden dimension
    n_instances      I, models trained side by side
    set_probability  1 - S of each set: scalar, [K], [I] or [I, K]; entries in (0, 1]
    importance       I_i: scalar, [n] or [I, n]; entries > 0
    activation       "relu" or "linear"
    init_std         std of W's initial entries (None: ``tms.model.default_init_std``)
    """

    set_sizes: Sequence[int]
    kinds: str | Sequence[str]
    n_hidden: int
    n_instances: int = 1
    set_probability: float | Sequence[float] | np.ndarray = 1.0
    importance: float | Sequence[float] | np.ndarray = 1.0
    activation: str = "relu"
    init_std: float | None = None
    _p: np.ndarray = field(init=False, repr=False)
    _imp: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.set_sizes, self.kinds = check_feature_sets(self.set_sizes, self.kinds)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden)
        self.n_instances = check_positive_int("n_instances", self.n_instances)
        per_set = len(self.set_sizes) != self.n_instances
        p = per_instance_feature("set_probability", self.set_probability, self.n_instances,
                                 len(self.set_sizes), vector_is_per_feature=per_set)  # fmt: skip
        self._p = check_probabilities("set_probability", p)
        self._imp = check_importance(self.importance, self.n_instances, self.n_features)
        self.check_model_options()

    @property
    def n_features(self) -> int:
        return int(sum(self.set_sizes))

    @property
    def set_probability_matrix(self) -> np.ndarray:
        """``[I, K]`` probability that each set is active (1 - S)."""
        return self._p

    @property
    def feature_probability_matrix(self) -> np.ndarray:
        """``[I, n]`` marginal probability that each feature is non-zero: its set's
        probability, divided by the set's size for an anticorrelated set (one member at a
        time)."""
        set_of = np.repeat(np.arange(len(self.set_sizes)), self.set_sizes)
        share = np.array([1.0 / s if k == "anticorrelated" else 1.0
                          for s, k in zip(self.set_sizes, self.kinds)])  # fmt: skip
        return self._p[:, set_of] * share[set_of]

    def build_sampler(self, *, seed: int = 0, device="cpu", shared: bool = False) -> FeatureSets:
        """The data: ``FeatureSets`` (no common-random-numbers variant)."""
        if shared:
            raise ValueError(
                "shared=True is only available for a ToyModelConfig (independent features)"
            )
        return FeatureSets(self.set_sizes, self.kinds, self.set_probability_matrix, seed=seed,
                           device=device)  # fmt: skip


def phase_grid_config(
    n_features: int,
    n_hidden: int,
    extra_importance,
    densities,
    restarts: int,
    activation: str = "relu",
    init_std: float | None = None,
) -> tuple[ToyModelConfig, np.ndarray]:
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
    k = check_positive_int("restarts", restarts)
    rr, ss = (v.reshape(-1) for v in np.meshgrid(r, s, indexing="ij"))
    rr, ss = np.repeat(rr, k), np.repeat(ss, k)
    importance = np.ones((rr.size, n_features))
    importance[:, -1] = rr
    probability = np.repeat(ss[:, None], n_features, axis=1)
    config = ToyModelConfig(n_features, n_hidden, n_instances=rr.size,
                            feature_probability=probability, importance=importance,
                            activation=activation, require_superposition=True, init_std=init_std)
    return config, np.repeat(np.arange(r.size * s.size), k)

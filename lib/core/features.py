"""Sparse features with importances: what the configs of the TMS-like families share.

A config that draws features independently (each active with probability p = 1 - S,
uniform on ``value_range`` when active, its loss weighted by an importance) stores p and
the importances as ``[I, n]`` arrays. ``SparseFeatures`` validates the sizes and these
arrays once, exposes them, and builds the data (``SparseUniform``); ``WeightedAutoencoder``
adds the loss and target of a model that reconstructs its input. ``importance_decay``
builds the papers' geometric importances.
"""

from __future__ import annotations

import numpy as np

from .checks import (
    check_importance,
    check_positive_float,
    check_positive_int,
    check_probabilities,
    per_instance_feature,
)
from .losses import ImportanceWeightedMSE
from .sampling import SparseUniform


class ImportanceMatrix:
    """``importance_matrix`` of a validated config (set as ``_imp`` in ``__post_init__``)."""

    _imp: np.ndarray

    @property
    def importance_matrix(self) -> np.ndarray:
        """``[I, n]`` importance weights of the loss."""
        return self._imp


class SparseFeatures(ImportanceMatrix):
    """Independent sparse features of a config with fields ``n_features``, ``n_hidden``,
    ``n_instances``, ``feature_probability``, ``importance`` (and optionally
    ``value_range``, default (0, 1))."""

    n_features: int
    n_hidden: int
    n_instances: int
    feature_probability: object
    importance: object
    _p: np.ndarray

    def check_sizes_and_features(self) -> None:
        """Validate n, m, I, p (each in (0, 1]) and the importances (each > 0); call once,
        in ``__post_init__``."""
        self.n_features = check_positive_int("n_features", self.n_features)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden)
        self.n_instances = check_positive_int("n_instances", self.n_instances)
        p = per_instance_feature(
            "feature_probability", self.feature_probability, self.n_instances, self.n_features
        )
        self._p = check_probabilities("feature_probability", p)
        self._imp = check_importance(self.importance, self.n_instances, self.n_features)

    @property
    def feature_probability_matrix(self) -> np.ndarray:
        """``[I, n]`` probability that each feature is non-zero (1 - S)."""
        return self._p

    def build_sampler(self, *, seed: int = 0, device="cpu") -> SparseUniform:
        """The data: ``SparseUniform`` with this config's p on ``value_range``."""
        low, high = getattr(self, "value_range", (0.0, 1.0))
        return SparseUniform(self._p, low=low, high=high, seed=seed, device=device)


class WeightedAutoencoder:
    """Loss and target of a model that reconstructs its input: the importance-weighted MSE
    (TMS eq. 1) and y = x."""

    importance_matrix: np.ndarray

    def build_loss(self) -> ImportanceWeightedMSE:
        """The importance-weighted MSE, one value per instance ``[I]``."""
        return ImportanceWeightedMSE(self.importance_matrix)

    def build_target(self):
        """None: the target is the input."""
        return None


def importance_decay(n_features: int, base: float) -> np.ndarray:
    """Geometric importances ``base**i`` for i = 0..n-1 (the paper's 0.7^i, 0.9^i, ...)."""
    n = check_positive_int("n_features", n_features)
    b = check_positive_float("base", base)
    return b ** np.arange(n, dtype=np.float64)

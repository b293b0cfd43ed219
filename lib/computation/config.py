"""Configs of the computation models: the privileged basis and the untied MLPs.

Each config is validated once, when built, and builds its run (``lib.core.fit`` protocol).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..core.checks import (
    ACTIVATIONS,
    check_choice,
    check_positive_float,
    check_value_range,
)
from ..core.features import SparseFeatures, WeightedAutoencoder
from ..core.losses import LpLoss
from .model import ReLUHiddenModel, TwoLayerMLP

TARGETS = ("identity", "abs", "relu")


@dataclass
class ReLUHiddenConfig(WeightedAutoencoder, SparseFeatures):
    """The TMS "ReLU hidden layer" model h = ReLU(W x [+ b_h]), x' = ReLU(Wᵀ h + b).

    n_features, n_hidden, n_instances, feature_probability, importance: as ``ToyModelConfig``
    hidden_bias   give the hidden layer a bias b_h (the paper's "weakness" experiment):
                  a bool, or one bool per instance
    value_range   active features are uniform on this interval (TMS: (0, 1))
    """

    n_features: int
    n_hidden: int
    n_instances: int = 1
    feature_probability: float | Sequence[float] | np.ndarray = 1.0
    importance: float | Sequence[float] | np.ndarray = 1.0
    hidden_bias: bool | Sequence[bool] = False
    value_range: tuple[float, float] = (0.0, 1.0)
    _p: np.ndarray = field(init=False, repr=False)
    _imp: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.check_sizes_and_features()
        self.value_range = check_value_range(self.value_range)
        flags = np.asarray(self.hidden_bias).reshape(-1)
        if flags.size not in (1, self.n_instances) or flags.dtype != np.bool_:
            raise ValueError(
                f"hidden_bias must be a bool or n_instances={self.n_instances} bools, "
                f"got {self.hidden_bias!r}"
            )

    def build_model(self, *, seed: int = 0, device="cpu") -> ReLUHiddenModel:
        """A fresh ``ReLUHiddenModel`` (instance k drawn from (seed, k))."""
        return ReLUHiddenModel(self.n_features, self.n_hidden, self.n_instances,
                               hidden_bias=self.hidden_bias, seed=seed, device=device)


@dataclass
class MLPConfig(SparseFeatures):
    """An untied MLP y' = act_out(W_out act_h(W_in x [+ b_in]) [+ b]) computing ``target(x)``.

    n_features, n_hidden, n_instances, feature_probability, importance: as ``ToyModelConfig``
    value_range        active features are uniform on this interval; (-1, 1) for signed data
    target             "abs" (TMS absolute value), "relu" (attenuated ReLU) or "identity"
    exponent           q of the Lp loss mean I_i |y_i - y'_i|^q: a number >= 1 or one per
                       instance ``[I]`` (2: MSE; 4: the attenuated-ReLU report's L4)
    hidden_activation  "relu" or "linear";  out_activation: "relu" or "linear"
    hidden_bias        hidden bias b_in;  out_bias: output bias b
    n_active_hidden    None (all neurons), or an int / ``[I]`` ints in [1, n_hidden]:
                       instance k uses only its first n_active_hidden[k] neurons
    init_scale         multiplies the Xavier-normal init std of both weight matrices (> 0)
    """

    n_features: int
    n_hidden: int
    n_instances: int = 1
    feature_probability: float | Sequence[float] | np.ndarray = 1.0
    importance: float | Sequence[float] | np.ndarray = 1.0
    value_range: tuple[float, float] = (-1.0, 1.0)
    target: str = "abs"
    exponent: float | Sequence[float] | np.ndarray = 2.0
    hidden_activation: str = "relu"
    out_activation: str = "relu"
    hidden_bias: bool = False
    out_bias: bool = True
    n_active_hidden: int | Sequence[int] | None = None
    init_scale: float = 1.0
    _p: np.ndarray = field(init=False, repr=False)
    _imp: np.ndarray = field(init=False, repr=False)
    _q: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.check_sizes_and_features()
        self.value_range = check_value_range(self.value_range)
        check_choice("target", self.target, TARGETS)
        check_choice("hidden_activation", self.hidden_activation, ACTIVATIONS)
        check_choice("out_activation", self.out_activation, ACTIVATIONS)
        q = np.asarray(self.exponent, dtype=np.float64)
        q = np.full(self.n_instances, float(q)) if q.ndim == 0 else q
        if q.shape != (self.n_instances,) or not np.all(np.isfinite(q)) or np.any(q < 1):
            raise ValueError(
                f"exponent must be a number >= 1 or n_instances={self.n_instances} of them, "
                f"got {self.exponent!r}"
            )
        self._q = q
        self.init_scale = check_positive_float("init_scale", self.init_scale)
        if self.n_active_hidden is not None:
            counts = np.asarray(self.n_active_hidden).reshape(-1)
            whole = np.all(counts == np.round(counts))
            if counts.size not in (1, self.n_instances) or not whole:
                raise ValueError(
                    f"n_active_hidden must be an int or n_instances={self.n_instances} ints, "
                    f"got {self.n_active_hidden!r}"
                )
            if counts.min() < 1 or counts.max() > self.n_hidden:
                raise ValueError(
                    f"n_active_hidden must lie in [1, n_hidden={self.n_hidden}], "
                    f"got {self.n_active_hidden!r}"
                )

    @property
    def exponents(self) -> np.ndarray:
        """``[I]`` loss exponent q of each instance."""
        return self._q

    def build_target(self):
        """y = target(x) for ``self.target`` (None for "identity")."""
        return target_function(self.target)

    def build_model(self, *, seed: int = 0, device="cpu") -> TwoLayerMLP:
        """A fresh ``TwoLayerMLP`` (instance k drawn from (seed, k))."""
        return TwoLayerMLP(
            self.n_features, self.n_hidden, self.n_instances,
            hidden_activation=self.hidden_activation, out_activation=self.out_activation,
            hidden_bias=self.hidden_bias, out_bias=self.out_bias,
            n_active_hidden=self.n_active_hidden, init_scale=self.init_scale,
            seed=seed, device=device,
        )  # fmt: skip

    def build_loss(self) -> LpLoss:
        """The Lp loss with this config's exponents and importances, ``[I]``."""
        return LpLoss(self.exponents, self.importance_matrix)


def target_function(name: str):
    """The map x -> y a computation model learns: "identity" (None), "abs" or "relu"."""
    check_choice("target", name, TARGETS)
    return {"identity": None, "abs": torch.abs, "relu": torch.relu}[name]

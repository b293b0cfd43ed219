"""Experiment configurations: validated dataclasses, one per experiment family.

A config is plain data. It checks its own values when built, so a bad parameter fails
at once with a ``ValueError`` that names the parameter and the allowed range, instead of
as a shape error (or a silently wrong result) ten thousand steps later.

Shapes follow the instance convention of the whole library: a per-instance, per-feature
quantity is an array ``[I, n]`` (I instances, n features).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup", "warmup_cosine")
ACTIVATIONS = ("relu", "linear")
PRECISIONS = ("tf32", "fp32", "bf16")


# ----------------------------------------------------------------------------- checks
def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value!r}")
    return int(value)


def check_nonnegative_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def check_positive_float(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_probabilities(name: str, values, *, allow_zero: bool = False) -> np.ndarray:
    """Return ``values`` as a float array, or raise unless every entry lies in (0, 1].

    ``allow_zero=True`` widens the range to [0, 1] (a feature that is never active).
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    lo_ok = arr >= 0 if allow_zero else arr > 0
    if not np.all(np.isfinite(arr)) or not np.all(lo_ok & (arr <= 1)):
        rng = "[0, 1]" if allow_zero else "(0, 1]"
        bad = arr[~(np.isfinite(arr) & lo_ok & (arr <= 1))].ravel()[:3]
        raise ValueError(f"{name} must lie in {rng}, got values such as {bad.tolist()}")
    return arr


def per_instance_feature(name: str, values, n_instances: int, n_features: int,
                         *, vector_is_per_feature: bool = False) -> np.ndarray:
    """Broadcast a scalar, an ``[I]`` vector, an ``[n]`` vector or an ``[I, n]`` array to ``[I, n]``.

    An ``[I]`` vector varies across instances (e.g. one sparsity per instance); an ``[n]``
    vector varies across features (e.g. importance). When I == n a 1-D vector is ambiguous:
    it is read per feature if ``vector_is_per_feature``, else it must be given as 2-D.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return np.full((n_instances, n_features), float(arr))
    if arr.ndim == 1:
        if (n_instances == n_features and arr.shape[0] == n_features and n_instances > 1
                and not vector_is_per_feature):
            raise ValueError(
                f"{name}: a 1-D array is ambiguous when n_instances == n_features "
                f"({n_features}); pass a 2-D array of shape [n_instances, n_features]")
        if arr.shape[0] == n_features:
            return np.broadcast_to(arr[None, :], (n_instances, n_features)).copy()
        if arr.shape[0] == n_instances:
            return np.broadcast_to(arr[:, None], (n_instances, n_features)).copy()
    if arr.ndim == 2 and arr.shape == (n_instances, n_features):
        return arr.copy()
    raise ValueError(
        f"{name} must be a scalar, a vector of length n_instances={n_instances} or "
        f"n_features={n_features}, or an array [n_instances, n_features]; got shape {arr.shape}")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda if available else cpu; otherwise check that the device exists."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda[:k]' or 'mps', got {device!r}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device {device!r} is not a valid torch device: {err}") from None
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available; use 'auto' or 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} requested but MPS is not available; use 'auto' or 'cpu'")
    return dev


def check_importance(values, n_instances: int, n_features: int) -> np.ndarray:
    """Importances I_i as ``[I, n]`` (a 1-D vector of length n is per feature); every entry > 0 and finite."""
    imp = per_instance_feature("importance", values, n_instances, n_features, vector_is_per_feature=True)
    if not np.all(np.isfinite(imp)) or np.any(imp <= 0):
        raise ValueError("importance must be positive and finite for every feature")
    return imp


# ----------------------------------------------------------------------------- training
@dataclass
class TrainConfig:
    """How to optimise: shared by every experiment family.

    steps          number of optimiser steps (one fresh batch each)
    batch_size     samples per step, per instance
    lr             peak learning rate
    optimizer      "adam" or "adamw" (decoupled weight decay)
    weight_decay   AdamW decay (ignored by "adam"); torch's AdamW default is 0.01
    schedule       "constant", "cosine" (to 0), "warmup" (linear, then constant),
                   "warmup_cosine" (linear warm-up, then cosine to 0)
    warmup_steps   length of the linear warm-up for the warmup schedules
    log_every      steps between loss-history entries (each is the mean over its window)
    checkpoint_path  file to save to every ``checkpoint_every`` steps and resume from
    compile        torch.compile the forward + loss: "auto" (on CUDA only, see
                   ``lib.train.should_compile``), True, or False; falls back to eager if it fails
    precision      CUDA matmuls: "tf32" (default), "fp32", or "bf16" (autocast, fp32 loss);
                   ignored on the CPU, which always computes in fp32
    """

    steps: int = 10_000
    batch_size: int = 1024
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    schedule: str = "constant"
    warmup_steps: int = 0
    log_every: int = 100
    checkpoint_path: str | None = None
    checkpoint_every: int = 1000
    compile: bool | str = "auto"
    precision: str = "tf32"

    def __post_init__(self):
        self.steps = check_positive_int("steps", self.steps)
        self.batch_size = check_positive_int("batch_size", self.batch_size)
        self.lr = check_positive_float("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        wd = float(self.weight_decay)
        if not math.isfinite(wd) or wd < 0:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        self.weight_decay = wd
        check_choice("schedule", self.schedule, SCHEDULES)
        self.warmup_steps = check_nonnegative_int("warmup_steps", self.warmup_steps)
        if self.schedule.startswith("warmup") and not 0 < self.warmup_steps < self.steps:
            raise ValueError(
                f"warmup_steps must be in [1, steps) for schedule {self.schedule!r}, "
                f"got {self.warmup_steps} with steps={self.steps}")
        self.log_every = check_positive_int("log_every", self.log_every)
        self.checkpoint_every = check_positive_int("checkpoint_every", self.checkpoint_every)
        if self.compile not in (True, False, "auto"):
            raise ValueError(f"compile must be True, False or 'auto', got {self.compile!r}")
        check_choice("precision", self.precision, PRECISIONS)


# ----------------------------------------------------------------------------- TMS toy model
class ImportanceMatrix:
    """``importance_matrix`` of a validated config (set as ``_imp`` in ``__post_init__``)."""

    _imp: np.ndarray

    @property
    def importance_matrix(self) -> np.ndarray:
        """``[I, n]`` importance weights of the loss."""
        return self._imp


class FeatureMatrices(ImportanceMatrix):
    """Adds ``feature_probability_matrix`` (set as ``_p`` in ``__post_init__``)."""

    _p: np.ndarray

    @property
    def feature_probability_matrix(self) -> np.ndarray:
        """``[I, n]`` probability that each feature is non-zero (1 - S)."""
        return self._p


@dataclass
class ToyModelConfig(FeatureMatrices):
    """The TMS autoencoder family: n features squeezed into m hidden dimensions.

    n_features           n, the number of input features
    n_hidden             m, the hidden dimension
    n_instances          I, models trained side by side
    feature_probability  1 - S: scalar, [I], [n] or [I, n]; each entry in (0, 1]
    importance           I_i: scalar, [n], [I] or [I, n]; each entry > 0 (a 1-D vector of
                         length n is per feature, even when n == I)
    activation           "relu" (x' = ReLU(WᵀWx + b)) or "linear" (x' = WᵀWx + b)
    require_superposition  if True, insist on n_hidden < n_features
    """

    n_features: int
    n_hidden: int
    n_instances: int = 1
    feature_probability: float | Sequence[float] | np.ndarray = 1.0
    importance: float | Sequence[float] | np.ndarray = 1.0
    activation: str = "relu"
    require_superposition: bool = False
    _p: np.ndarray = field(init=False, repr=False)
    _imp: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.n_features = check_positive_int("n_features", self.n_features)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden)
        self.n_instances = check_positive_int("n_instances", self.n_instances)
        if self.require_superposition and self.n_hidden >= self.n_features:
            raise ValueError(
                f"n_hidden must be < n_features for superposition to be possible, "
                f"got n_hidden={self.n_hidden}, n_features={self.n_features}")
        check_choice("activation", self.activation, ACTIVATIONS)
        p = per_instance_feature("feature_probability", self.feature_probability,
                                 self.n_instances, self.n_features)
        self._p = check_probabilities("feature_probability", p)
        self._imp = check_importance(self.importance, self.n_instances, self.n_features)


def importance_decay(n_features: int, base: float) -> np.ndarray:
    """Geometric importances ``base**i`` for i = 0..n-1 (the paper's 0.7^i, 0.9^i, ...)."""
    n = check_positive_int("n_features", n_features)
    b = check_positive_float("base", base)
    return b ** np.arange(n, dtype=np.float64)


# ----------------------------------------------------------------------------- chapter 3: geometry
@dataclass
class FeatureSetsConfig(ImportanceMatrix):
    """The TMS toy model on features grouped into correlated / anticorrelated / independent sets.

    set_sizes        [K] sizes of consecutive feature sets; n_features = Σ set_sizes
    kinds            [K] (or one for all) "correlated", "anticorrelated" or "independent"
                     (see ``lib.data.FeatureSets``)
    n_hidden         m, the hidden dimension
    n_instances      I, models trained side by side
    set_probability  1 - S of each set: scalar, [K], [I] or [I, K]; entries in (0, 1]
    importance       I_i: scalar, [n] or [I, n]; entries > 0
    activation       "relu" or "linear"
    """

    set_sizes: Sequence[int]
    kinds: str | Sequence[str]
    n_hidden: int
    n_instances: int = 1
    set_probability: float | Sequence[float] | np.ndarray = 1.0
    importance: float | Sequence[float] | np.ndarray = 1.0
    activation: str = "relu"
    _p: np.ndarray = field(init=False, repr=False)
    _imp: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        from .data import check_feature_sets  # data imports configs: import here, not at the top

        self.set_sizes, self.kinds = check_feature_sets(self.set_sizes, self.kinds)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden)
        self.n_instances = check_positive_int("n_instances", self.n_instances)
        check_choice("activation", self.activation, ACTIVATIONS)
        p = per_instance_feature("set_probability", self.set_probability, self.n_instances, len(self.set_sizes),
                                 vector_is_per_feature=len(self.set_sizes) != self.n_instances)
        self._p = check_probabilities("set_probability", p)
        self._imp = check_importance(self.importance, self.n_instances, self.n_features)

    @property
    def n_features(self) -> int:
        return int(sum(self.set_sizes))

    @property
    def set_probability_matrix(self) -> np.ndarray:
        """``[I, K]`` probability that each set is active (1 - S)."""
        return self._p


# ---------------------------------------------------------------- chapter 4: computation
TARGETS = ("identity", "abs", "relu")


def _check_value_range(value_range) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(f"value_range must satisfy low < high (finite), got {value_range!r}")
    return low, high


@dataclass
class ReLUHiddenConfig(FeatureMatrices):
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
        self.n_features = check_positive_int("n_features", self.n_features)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden)
        self.n_instances = check_positive_int("n_instances", self.n_instances)
        self.value_range = _check_value_range(self.value_range)
        p = per_instance_feature("feature_probability", self.feature_probability,
                                 self.n_instances, self.n_features)
        self._p = check_probabilities("feature_probability", p)
        self._imp = check_importance(self.importance, self.n_instances, self.n_features)
        flags = np.asarray(self.hidden_bias).reshape(-1)
        if flags.size not in (1, self.n_instances) or flags.dtype != np.bool_:
            raise ValueError(f"hidden_bias must be a bool or n_instances={self.n_instances} bools, "
                             f"got {self.hidden_bias!r}")


@dataclass
class MLPConfig(FeatureMatrices):
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
        self.n_features = check_positive_int("n_features", self.n_features)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden)
        self.n_instances = check_positive_int("n_instances", self.n_instances)
        self.value_range = _check_value_range(self.value_range)
        check_choice("target", self.target, TARGETS)
        check_choice("hidden_activation", self.hidden_activation, ACTIVATIONS)
        check_choice("out_activation", self.out_activation, ACTIVATIONS)
        p = per_instance_feature("feature_probability", self.feature_probability,
                                 self.n_instances, self.n_features)
        self._p = check_probabilities("feature_probability", p)
        self._imp = check_importance(self.importance, self.n_instances, self.n_features)
        q = np.asarray(self.exponent, dtype=np.float64)
        q = np.full(self.n_instances, float(q)) if q.ndim == 0 else q
        if q.shape != (self.n_instances,) or not np.all(np.isfinite(q)) or np.any(q < 1):
            raise ValueError(f"exponent must be a number >= 1 or n_instances={self.n_instances} of them, "
                             f"got {self.exponent!r}")
        self._q = q
        self.init_scale = check_positive_float("init_scale", self.init_scale)
        if self.n_active_hidden is not None:
            counts = np.asarray(self.n_active_hidden).reshape(-1)
            if counts.size not in (1, self.n_instances) or not np.all(counts == np.round(counts)):
                raise ValueError(f"n_active_hidden must be an int or n_instances={self.n_instances} ints, "
                                 f"got {self.n_active_hidden!r}")
            if counts.min() < 1 or counts.max() > self.n_hidden:
                raise ValueError(f"n_active_hidden must lie in [1, n_hidden={self.n_hidden}], "
                                 f"got {self.n_active_hidden!r}")

    @property
    def exponents(self) -> np.ndarray:
        """``[I]`` loss exponent q of each instance."""
        return self._q


# ---------------------------------------------------------------- chapter 5: the frustrated denoiser
DENOISER_LOSSES = ("rebalanced", "mse", "softmax")
DENOISER_REGIMES = ("any", "superposition", "no_superposition")


@dataclass
class DenoiserConfig:
    """The sparse denoiser y = D φ(E x) on noisy k-hot inputs (Vaintrob 2026).

    n_features        d, input/output dimension (the features)
    n_hidden          h, the hidden layer (neurons)
    n_instances       I, models trained side by side
    k                 active features per input (the post: 2 or 3), 1 <= k <= d
    noise_std         σ of the Gaussian noise on every coordinate, in [0, 0.15]
    nonlinearity      "tanh3" (φ = tanh³) or "gelu"
    loss              "rebalanced" (on/off L^p, see ``lib.losses.rebalanced_loss``),
                      "mse" (plain, degenerate), "softmax" (cross-entropy)
    loss_power        p of the re-balanced loss (> 0); loss_root: take the 1/p-th power
    encoder_init_std, decoder_init_std   init scales (None: torch's nn.Linear default
                      std, 1/√(3d) and 1/√(3h))
    regime            "superposition" insists on h < d, "no_superposition" on h > d
    """

    n_features: int
    n_hidden: int
    n_instances: int = 1
    k: int = 2
    noise_std: float = 0.05
    nonlinearity: str = "tanh3"
    loss: str = "rebalanced"
    loss_power: float = 2.0
    loss_root: bool = True
    encoder_init_std: float | None = None
    decoder_init_std: float | None = None
    regime: str = "any"

    def __post_init__(self):
        self.n_features = check_positive_int("n_features", self.n_features)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden)
        self.n_instances = check_positive_int("n_instances", self.n_instances)
        check_choice("regime", self.regime, DENOISER_REGIMES)
        if self.regime == "superposition" and self.n_hidden >= self.n_features:
            raise ValueError(
                f"n_hidden must be < n_features for superposition (regime='superposition'), "
                f"got n_hidden={self.n_hidden}, n_features={self.n_features}")
        if self.regime == "no_superposition" and self.n_hidden <= self.n_features:
            raise ValueError(
                f"n_hidden must be > n_features for the control without superposition "
                f"(regime='no_superposition'), got n_hidden={self.n_hidden}, n_features={self.n_features}")
        self.k = check_positive_int("k", self.k)
        if self.k > self.n_features:
            raise ValueError(f"k must be <= n_features={self.n_features}, got {self.k}")
        std = float(self.noise_std)
        if not (math.isfinite(std) and 0 <= std <= 0.15):
            raise ValueError(f"noise_std must lie in [0, 0.15], got {self.noise_std!r}")
        self.noise_std = std
        check_choice("nonlinearity", self.nonlinearity, ("tanh3", "gelu"))
        check_choice("loss", self.loss, DENOISER_LOSSES)
        self.loss_power = check_positive_float("loss_power", self.loss_power)
        for name in ("encoder_init_std", "decoder_init_std"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, check_positive_float(name, value))

    def swapped(self) -> "DenoiserConfig":
        """The control with d and h exchanged: the same number of weights, h > d."""
        from dataclasses import replace
        regime = {"superposition": "no_superposition", "no_superposition": "superposition"}.get(self.regime, "any")
        return replace(self, n_features=self.n_hidden, n_hidden=self.n_features, regime=regime)

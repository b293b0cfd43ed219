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
@dataclass
class ToyModelConfig:
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
        imp = per_instance_feature("importance", self.importance, self.n_instances, self.n_features,
                                   vector_is_per_feature=True)
        if not np.all(np.isfinite(imp)) or np.any(imp <= 0):
            raise ValueError("importance must be positive and finite for every feature")
        self._imp = imp

    @property
    def feature_probability_matrix(self) -> np.ndarray:
        """``[I, n]`` probability that each feature is non-zero (1 - S)."""
        return self._p

    @property
    def importance_matrix(self) -> np.ndarray:
        """``[I, n]`` importance weights of the loss."""
        return self._imp


def importance_decay(n_features: int, base: float) -> np.ndarray:
    """Geometric importances ``base**i`` for i = 0..n-1 (the paper's 0.7^i, 0.9^i, ...)."""
    n = check_positive_int("n_features", n_features)
    b = check_positive_float("base", base)
    return b ** np.arange(n, dtype=np.float64)

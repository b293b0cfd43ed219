"""Validation helpers: a bad value fails at once, with a ``ValueError`` naming it.

Every config of the library checks its fields with these when it is built, so a bad
parameter fails before training starts, never as a shape error ten thousand steps later.
Shapes follow the instance convention: a per-instance, per-feature quantity is ``[I, n]``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

ACTIVATIONS = ("relu", "linear")


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


def per_instance_feature(
    name: str, values, n_instances: int, n_features: int, *, vector_is_per_feature: bool = False
) -> np.ndarray:
    """Broadcast a scalar, an ``[I]`` vector, an ``[n]`` vector or an ``[I, n]`` array
    to ``[I, n]``.

    An ``[I]`` vector varies across instances (e.g. one sparsity per instance); an ``[n]``
    vector varies across features (e.g. importance). When I == n a 1-D vector is ambiguous:
    it is read per feature if ``vector_is_per_feature``, else it must be given as 2-D.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return np.full((n_instances, n_features), float(arr))
    if arr.ndim == 1:
        if (
            n_instances == n_features
            and arr.shape[0] == n_features
            and n_instances > 1
            and not vector_is_per_feature
        ):
            raise ValueError(
                f"{name}: a 1-D array is ambiguous when n_instances == n_features "
                f"({n_features}); pass a 2-D array of shape [n_instances, n_features]"
            )
        if arr.shape[0] == n_features:
            return np.broadcast_to(arr[None, :], (n_instances, n_features)).copy()
        if arr.shape[0] == n_instances:
            return np.broadcast_to(arr[:, None], (n_instances, n_features)).copy()
    if arr.ndim == 2 and arr.shape == (n_instances, n_features):
        return arr.copy()
    raise ValueError(
        f"{name} must be a scalar, a vector of length n_instances={n_instances} or "
        f"n_features={n_features}, or an array [n_instances, n_features]; got shape {arr.shape}"
    )


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
            raise ValueError(
                f"device {device!r} requested but CUDA is not available; use 'auto' or 'cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(
            f"device {device!r} requested but MPS is not available; use 'auto' or 'cpu'"
        )
    return dev


def check_importance(values, n_instances: int, n_features: int) -> np.ndarray:
    """Importances I_i as ``[I, n]`` (a 1-D vector of length n is per feature); every
    entry > 0 and finite.
    """
    imp = per_instance_feature(
        "importance", values, n_instances, n_features, vector_is_per_feature=True
    )
    if not np.all(np.isfinite(imp)) or np.any(imp <= 0):
        raise ValueError("importance must be positive and finite for every feature")
    return imp


def check_value_range(value_range) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(f"value_range must satisfy low < high (finite), got {value_range!r}")
    return low, high

"""Losses shared by the families. Each returns one value per instance, ``[I]``.

Summing (not averaging) over instances in the trainer keeps every instance's gradient
exactly what it would be if that instance were trained alone.
"""

from __future__ import annotations

import numpy as np
import torch


def weighted_mse(
    output: torch.Tensor, target: torch.Tensor, importance: torch.Tensor
) -> torch.Tensor:
    """Importance-weighted MSE, mean over batch and features: ``[B, I, n] -> [I]``.

    L_k = mean_{b, i} I_{k,i} (x_{b,k,i} - x'_{b,k,i})²   with ``importance: [I, n]``.
    """
    return (importance * (output - target).pow(2)).mean(dim=(0, 2))


class ImportanceWeightedMSE:
    """``weighted_mse`` with the importances bound: a ``loss(output, target) -> [I]``."""

    def __init__(self, importance):
        self.importance = torch.as_tensor(importance, dtype=torch.float32)

    def to(self, device) -> "ImportanceWeightedMSE":
        self.importance = self.importance.to(device)
        return self

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return weighted_mse(output, target, self.importance)


def _abs_power(err: torch.Tensor, exponent: float) -> torch.Tensor:
    """|err|^q; small integer q by repeated multiplication (pow with a float exponent goes
    through exp/log and dominated the step time on CPU)."""
    q = float(exponent)
    if q.is_integer() and 1 <= q <= 16:
        k, base, out = int(q), err.abs(), None
        while k:
            if k & 1:
                out = base if out is None else out * base
            k >>= 1
            if k:
                base = base * base
        return out
    return err.abs().pow(q)


def lp_loss(
    output: torch.Tensor, target: torch.Tensor, exponent: float = 2.0, importance=None
) -> torch.Tensor:
    """Lp loss with one exponent q, mean over batch and features: ``[B, I, n] -> [I]``.

    L_k = mean_{b, i} I_{k,i} |y_{b,k,i} - y'_{b,k,i}|^q. ``importance``: None (all 1)
    or ``[I, n]``. q = 2 is the (importance-weighted) MSE; q = 4 the loss of the
    attenuated-ReLU report. For one exponent per instance use ``LpLoss``.
    """
    powered = _abs_power(output - target, exponent)
    if importance is not None:
        powered = importance * powered
    return powered.mean(dim=(0, 2))


class LpLoss:
    """Lp loss with exponents and importances bound: a ``loss(output, target) -> [I]``.

    exponent    q >= 1: a number, or one per instance ``[I]`` (models trained with
                different losses share one batched run)
    importance  None, or ``[I, n]`` positive weights
    """

    def __init__(self, exponent, importance=None):
        q = np.asarray(exponent, dtype=np.float64)
        if q.ndim > 1 or q.size == 0 or not np.all(np.isfinite(q)) or np.any(q < 1):
            raise ValueError(
                f"exponent must be a number >= 1 or a vector [I] of them, got {exponent!r}"
            )
        # one shared exponent: the cheap multiplication path; else a per-instance pow
        self.exponent = (
            float(q.flat[0]) if np.all(q == q.flat[0]) else torch.as_tensor(q, dtype=torch.float32)
        )
        self.importance = (
            None if importance is None else torch.as_tensor(importance, dtype=torch.float32)
        )

    def to(self, device) -> "LpLoss":
        if isinstance(self.exponent, torch.Tensor):
            self.exponent = self.exponent.to(device)
        if self.importance is not None:
            self.importance = self.importance.to(device)
        return self

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.exponent, torch.Tensor):
            return lp_loss(output, target, self.exponent, self.importance)
        if len(self.exponent) != output.shape[1]:
            raise ValueError(
                f"LpLoss has {len(self.exponent)} exponents but the output has "
                f"{output.shape[1]} instances"
            )
        powered = (output - target).abs().pow(self.exponent[:, None])
        if self.importance is not None:
            powered = self.importance * powered
        return powered.mean(dim=(0, 2))

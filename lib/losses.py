"""Losses. Each returns one value per instance, ``[I]``; the trainer sums them.

Summing (not averaging) over instances keeps every instance's gradient exactly what
it would be if that instance were trained alone.
"""

from __future__ import annotations

import torch


def weighted_mse(output: torch.Tensor, target: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
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

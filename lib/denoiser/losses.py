"""The denoiser's losses, each ``[B, I, d] -> [I]``: re-balanced on/off, plain MSE, softmax."""

from __future__ import annotations

import torch


def rebalanced_loss(
    output: torch.Tensor, target: torch.Tensor, *, power: float = 2.0, root: bool = True
) -> torch.Tensor:
    """The re-balanced denoising loss, ``[B, I, d] -> [I]``.

    Splits the coordinates by the clean target: "on" (x* = 1) and "off" (x* = 0), and
    averages each group separately, so the k on-coordinates weigh as much as the d - k
    off-coordinates:

        L = (mean_on |y - 1|^p)^(1/p) + (mean_off |y|^p)^(1/p)      (root=True)
        L =  mean_on |y - 1|^p        +  mean_off |y|^p             (root=False)

    Means are over the batch and the coordinates of each group. The all-zero output
    scores 1 (root) or 1 (no root) whatever d, where plain MSE would give it k/d.
    """
    on = target > 0.5
    err = (output - target).abs().pow(power)
    n_on = on.sum(dim=(0, 2)).clamp_min(1)
    n_off = (~on).sum(dim=(0, 2)).clamp_min(1)
    on_term = torch.where(on, err, torch.zeros((), device=err.device)).sum(dim=(0, 2)) / n_on
    off_term = torch.where(on, torch.zeros((), device=err.device), err).sum(dim=(0, 2)) / n_off
    if root:
        return on_term.pow(1 / power) + off_term.pow(1 / power)
    return on_term + off_term


class RebalancedLoss:
    """``rebalanced_loss`` with its options bound: a ``loss(output, target) -> [I]``."""

    def __init__(self, power: float = 2.0, root: bool = True):
        if not float(power) > 0:
            raise ValueError(f"power must be > 0, got {power!r}")
        self.power, self.root = float(power), bool(root)

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return rebalanced_loss(output, target, power=self.power, root=self.root)


def denoising_mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Plain MSE, mean over batch and coordinates: ``[B, I, d] -> [I]`` (degenerate for
    sparse x*).
    """
    return (output - target).pow(2).mean(dim=(0, 2))


def softmax_cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of softmax(y) against the normalised target x*/‖x*‖₁, ``[B, I, d] -> [I]``.

    Treats the output as logits over the d features; for a k-hot target this is the mean
    of -log softmax(y)_i over the k active features i.
    """
    weights = target / target.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return -(weights * torch.log_softmax(output, dim=-1)).sum(dim=-1).mean(dim=0)

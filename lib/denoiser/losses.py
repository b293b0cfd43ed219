"""The denoiser's losses, each ``[B, I, d] -> [I]``: re-balanced on/off, plain MSE, softmax."""

from __future__ import annotations

import torch

_TINY = 1e-30  # floor of a group mean under a root (its derivative is infinite at 0)


def _root(mean: torch.Tensor, power: float) -> torch.Tensor:
    return mean.clamp_min(_TINY).pow(1 / power)


def _power(e: torch.Tensor, power: float) -> torch.Tensor:
    """|e|^p, by repeated squaring for p = 2 and 4 (``pow`` with a float exponent is
    several times slower on the CPU)."""
    if power == 2.0:
        return e * e
    if power == 4.0:
        return (e * e).square_()
    return e.abs().pow(power)


class _Rebalanced(torch.autograd.Function):
    """The re-balanced loss with a hand-written backward (see ``rebalanced_loss``).

    Works on the instance-first view ``[I, B, d]`` (the layout of the denoiser's batches
    and outputs, so no copies). Forward: the error e = y - x*, |e|^p, and two dot products
    per instance (on and off group). Backward: dL/dy = p |e|^(p-1) sign(e) (α on + β off),
    with α, β the derivatives of L with respect to the two group sums: a few elementwise
    passes where autograd's version takes about three times as many.
    """

    @staticmethod
    def forward(ctx, output, target, power, root):
        y, t = output.transpose(0, 1), target.transpose(0, 1)  # [I, B, d]
        n_instances = y.shape[0]
        on = torch.gt(t, 0.5, out=torch.empty_like(y))  # 0/1 in the output's dtype
        e = y - t
        err = _power(e, power).reshape(n_instances, -1)
        flat_on = on.reshape(n_instances, -1)
        n_on = flat_on.sum(-1)
        n_off = (flat_on.shape[-1] - n_on).clamp_min(1)
        on_mean = torch.linalg.vecdot(err, flat_on) / n_on.clamp_min(1)
        off_mean = torch.linalg.vecdot(err, 1.0 - flat_on) / n_off
        ctx.power, ctx.root = power, root
        ctx.save_for_backward(e, on, on_mean, off_mean, n_on.clamp_min(1), n_off)
        if root:
            return _root(on_mean, power) + _root(off_mean, power)
        return on_mean + off_mean

    @staticmethod
    def backward(ctx, grad):
        e, on, on_mean, off_mean, n_on, n_off = ctx.saved_tensors
        p = ctx.power
        if ctx.root:  # d/dm m^(1/p) = m^(1/p - 1) / p
            alpha = grad * _root(on_mean, p) / (p * on_mean.clamp_min(_TINY) * n_on)
            beta = grad * _root(off_mean, p) / (p * off_mean.clamp_min(_TINY) * n_off)
        else:
            alpha, beta = grad / n_on, grad / n_off
        shape = (-1, 1, 1)
        weight = torch.mul(on, ((alpha - beta) * p).to(e.dtype).view(shape))
        weight.add_((beta * p).to(e.dtype).view(shape))  # [I, B, d]: p (α on + β off)
        if p == 2.0:
            slope = e * weight
        else:
            slope = (e * e).mul_(e) if p == 4.0 else e.abs().pow(p - 1).mul_(e.sign())
            slope.mul_(weight)
        return slope.transpose(0, 1), None, None, None


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
    Computed by ``_Rebalanced`` (hand-written backward; first derivatives only).
    """
    return _Rebalanced.apply(output, target, float(power), bool(root))


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

"""The plain reference: the official TMS notebook's recipe, written out without lib's speed-ups.

Two dense ``torch.rand`` draws per step for the batch (activity mask and values), an
einsum forward pass, a per-step loss, ``torch.optim.AdamW`` with its defaults (the
per-tensor loop on the CPU). Nothing here imports ``lib``: it is what ``lib.train`` is
measured against, on the same initial weights and the same data distribution.
"""

from __future__ import annotations

import time

import torch
from torch import nn


def sparse_uniform_batch(
    generator: torch.Generator,
    probability: torch.Tensor,
    batch_size: int,
    low: float = 0.0,
    high: float = 1.0,
) -> torch.Tensor:
    """``[B, I, n]``: each entry U[low, high] with probability p, else 0 (two dense draws)."""
    shape = (batch_size, *probability.shape)
    values = (
        torch.rand(shape, generator=generator, device=probability.device) * (high - low)
        + low
    )
    active = (
        torch.rand(shape, generator=generator, device=probability.device) <= probability
    )
    return torch.where(active, values, torch.zeros((), device=probability.device))


def k_hot_noise_batch(
    generator: torch.Generator,
    n_instances: int,
    n_features: int,
    batch_size: int,
    k: int,
    noise_std: float,
    clip: float,
    device,
) -> torch.Tensor:
    """``[B, I, d]`` noisy k-hot inputs: k random coordinates set to 1, plus clipped Gaussian noise."""
    shape = (batch_size, n_instances, n_features)
    idx = torch.rand(shape, generator=generator, device=device).topk(k, dim=-1).indices
    clean = torch.zeros(shape, device=device).scatter_(-1, idx, 1.0)
    noise = torch.randn(shape, generator=generator, device=device) * noise_std
    return clean + noise.clamp(-clip, clip)


class ToyModel(nn.Module):
    """x' = act(Wᵀ W x + b) with einsum, as in the notebook; ``W: [I, n, m]``, ``b: [I, n]``."""

    def __init__(
        self,
        W: torch.Tensor,
        b: torch.Tensor,
        relu: bool = True,
        relu_hidden: bool = False,
    ):
        super().__init__()
        self.W = nn.Parameter(W.detach().clone())
        self.b_final = nn.Parameter(b.detach().clone())
        self.relu, self.relu_hidden = relu, relu_hidden

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = torch.einsum("...if,ifh->...ih", features, self.W)
        if self.relu_hidden:
            hidden = torch.relu(hidden)
        out = torch.einsum("...ih,ifh->...if", hidden, self.W) + self.b_final
        return torch.relu(out) if self.relu else out


class Denoiser(nn.Module):
    """y = D φ(E x), φ = tanh³, no biases; ``E: [I, h, d]``, ``D: [I, d, h]``."""

    def __init__(self, E: torch.Tensor, D: torch.Tensor):
        super().__init__()
        self.E = nn.Parameter(E.detach().clone())
        self.D = nn.Parameter(D.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(torch.einsum("bid,ihd->bih", x, self.E)) ** 3
        return torch.einsum("bih,idh->bid", hidden, self.D)


def rebalanced_loss(output: torch.Tensor, target: torch.Tensor, power: float) -> torch.Tensor:
    """``[I]``: (mean_on |y - 1|^p)^(1/p) + (mean_off |y|^p)^(1/p), written with autograd."""
    on = target > 0.5
    err = (output - target).abs().pow(power)
    zero = torch.zeros((), device=err.device)
    on_mean = torch.where(on, err, zero).sum(dim=(0, 2)) / on.sum(dim=(0, 2)).clamp_min(1)
    off_mean = torch.where(on, zero, err).sum(dim=(0, 2)) / (~on).sum(dim=(0, 2)).clamp_min(1)
    return on_mean.pow(1 / power) + off_mean.pow(1 / power)
class GrowthAdamW(torch.optim.Optimizer):
    """The AdamW of Liu, Liu & Gore's public code (``exp/adamw.py``) written out as a plain
    per-tensor loop, with one weight decay per instance (``weight_decay: [I]`` over the first
    axis of every parameter of the group): gamma >= 0 decays, gamma < 0 moves each row
    (last axis) towards norm 1, p <- p + lr gamma p (1 - 1 / (|row| + eps))."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                wd = torch.as_tensor(group["weight_decay"], dtype=p.dtype, device=p.device)
                wd = wd.reshape(-1, *([1] * (p.dim() - 1))) if wd.dim() else wd
                norms = p.norm(dim=-1, keepdim=True) + eps
                grow = p + lr * wd * p * (1 - 1 / norms)
                p.copy_(torch.where(wd >= 0, p * (1 - lr * wd), grow))
                state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                state["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (state["v"].sqrt() / (1 - b2 ** state["step"]) ** 0.5).add_(eps)
                p.addcdiv_(state["m"], denom, value=-lr / (1 - b1 ** state["step"]))


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[I]``: plain squared error, mean over batch and features."""
    return ((target - output) ** 2).mean(dim=(0, 2))


def weighted_mse(
    output: torch.Tensor, target: torch.Tensor, importance: torch.Tensor
) -> torch.Tensor:
    """``[I]``: importance-weighted squared error, mean over batch and features."""
    return (importance * (target - output) ** 2).mean(dim=(0, 2))


class Loop:
    """The notebook's loop, one ``step()`` at a time (so that bench/ can interleave it with lib's)."""

    def __init__(
        self,
        model: nn.Module,
        make_batch,
        loss_fn,
        *,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        target=None,
        optimizer=None,
    ):
        self.model, self.make_batch, self.loss_fn, self.target = (
            model,
            make_batch,
            loss_fn,
            target,
        )
        # ``optimizer(model)``: another optimiser (a case's own reference), else torch's AdamW
        self.optimizer = (
            optimizer(model)
            if optimizer is not None
            else torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        )
        self.steps, self.last_loss = 0, None

    def step(self, log_every: int = 100) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        batch = self.make_batch()
        per_instance = self.loss_fn(
            self.model(batch), batch if self.target is None else self.target(batch)
        )
        per_instance.sum().backward()
        self.optimizer.step()
        if self.steps % log_every == 0:
            self.last_loss = per_instance.detach().cpu()
        self.steps += 1


def train(
    model: nn.Module, make_batch, loss_fn, steps: int, *, target=None, **kw
) -> dict:
    """``steps`` steps of ``Loop``; returns wall seconds (total and first step) and the loop."""
    loop = Loop(model, make_batch, loss_fn, target=target, **kw)
    t0 = time.perf_counter()
    loop.step()
    first = time.perf_counter() - t0
    for _ in range(steps - 1):
        loop.step()
    return {
        "seconds": time.perf_counter() - t0,
        "first_step_seconds": first,
        "loop": loop,
    }

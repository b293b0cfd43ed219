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
    ):
        self.model, self.make_batch, self.loss_fn, self.target = (
            model,
            make_batch,
            loss_fn,
            target,
        )
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=lr, weight_decay=weight_decay
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

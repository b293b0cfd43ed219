"""The toy models, batched over an instance axis.

Every parameter carries a leading instance axis ``I``: instance k is an independent
model whose parameters are ``param[k]``. Forward passes take ``x: [B, I, n]`` and
return ``[B, I, n]``. Models know nothing of data or training.

Initialisation is per instance: instance k is initialised from a generator seeded by
``(seed, instance_ids[k])``, so a model's initial weights never depend on how many
instances it is trained beside.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .configs import ACTIVATIONS, check_choice, check_positive_int, resolve_device
from .data import instance_seed


def init_per_instance(shape: Sequence[int], std: float, seed: int,
                      instance_ids: Sequence[int]) -> torch.Tensor:
    """Normal(0, std²) tensor ``[I, *shape]``; slice k drawn from seed (seed, instance_ids[k]).

    Drawn on the CPU, so the values are the same whatever device the model later runs on.
    """
    out = torch.empty((len(instance_ids), *shape))
    for k, iid in enumerate(instance_ids):
        gen = torch.Generator().manual_seed(instance_seed(seed, iid))
        out[k] = torch.randn(tuple(shape), generator=gen) * std
    return out


def _instance_ids(n_instances: int, instance_ids) -> list[int]:
    n_instances = check_positive_int("n_instances", n_instances)
    ids = list(range(n_instances)) if instance_ids is None else [int(i) for i in instance_ids]
    if len(ids) != n_instances:
        raise ValueError(f"instance_ids must have n_instances={n_instances} entries, got {len(ids)}")
    return ids


class ToyModel(nn.Module):
    """The TMS autoencoder: h = W x, x' = act(Wᵀ h + b), act = ReLU or identity.

    Parameters (instance axis first)
        W: [I, n, m]   row W[k, i] is the m-dimensional direction of feature i
                       (the paper's column W_i; the paper's W is ``W[k].T``)
        b: [I, n]      output bias

    Init as in the official notebook: W Xavier-normal (std = sqrt(2 / (n + m))), b = 0.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *,
                 activation: str = "relu", seed: int = 0, device="cpu",
                 instance_ids: Sequence[int] | None = None):
        super().__init__()
        self.n_features = check_positive_int("n_features", n_features)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        ids = _instance_ids(n_instances, instance_ids)
        std = math.sqrt(2.0 / (self.n_features + self.n_hidden))
        dev = resolve_device(device)
        self.W = nn.Parameter(init_per_instance((self.n_features, self.n_hidden), std, seed, ids).to(dev))
        self.b = nn.Parameter(torch.zeros(len(ids), self.n_features, device=dev))

    @property
    def n_instances(self) -> int:
        return self.W.shape[0]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = W x: ``[B, I, n] -> [B, I, m]``."""
        return torch.einsum("bin,inm->bim", x, self.W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x' = act(Wᵀ W x + b): ``[B, I, n] -> [B, I, n]``."""
        if self.n_features * self.n_hidden <= 4 and torch.compiler.is_compiling():
            # tiny models (the phase diagrams) under torch.compile: multiply-and-sum fuses
            # into one pass, 1.6x faster than thousands of tiny matmuls (README, "Speed")
            h = (x[..., None] * self.W).sum(-2)                                   # [B, I, m]
            out = (h[..., None, :] * self.W).sum(-1) + self.b
        else:
            out = torch.einsum("bim,inm->bin", self.hidden(x), self.W) + self.b
        return torch.relu(out) if self.activation == "relu" else out

"""The tied autoencoder of TMS: x' = act(WᵀW x + b), many instances at once."""

from __future__ import annotations

import math

import torch

from ..core.checks import ACTIVATIONS, check_choice, check_positive_float
from ..core.instances import InstanceModule


def default_init_std(n_features: int, n_hidden: int) -> float:
    """The default std of W's entries: sqrt(1 / (n m)), so that E‖W‖_F² = 1 at any size.

    Why not Xavier-normal on the [n, m] matrix, sqrt(2 / (n + m))? The official notebook
    calls ``xavier_normal_`` on the whole ``[I, n, m]`` tensor, so torch takes fan_in = n m
    and fan_out = I m: std sqrt(2 / (m (n + I))), 0.021 for its n = 200, m = 20, I = 20,
    and a scale that depends on how many instances train together. sqrt(1 / (n m)) is
    0.016 there, keeps the notebook's small-init regime without the instance count, and
    on that experiment gives the notebook's losses and D* within seed noise, where
    sqrt(2 / (n + m)) = 0.095 leaves the densest instances with dead outputs and a loss
    above the trivial predictor's (chapter 1 shows the comparison).
    """
    return 1.0 / math.sqrt(n_features * n_hidden)


class ToyModel(InstanceModule):
    """The TMS autoencoder: h = W x, x' = act(Wᵀ h + b), act = ReLU or identity.

    Parameters (instance axis first)
        W: [I, n, m]   row W[k, i] is the m-dimensional direction of feature i
                       (the paper's column W_i; the paper's W is ``W[k].T``)
        b: [I, n]      output bias

    Init: W normal with std ``init_std`` (default ``default_init_std(n, m)``), b = 0;
    instance k's W is drawn from (seed, instance id k) alone. ``seed``, ``device`` and
    ``instance_ids`` go to ``InstanceModule``.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *,
                 activation: str = "relu", init_std: float | None = None, **instances):
        super().__init__(n_features, n_hidden, n_instances, **instances)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        n, m = self.n_features, self.n_hidden
        if init_std is not None:
            init_std = check_positive_float("init_std", init_std)
        std = default_init_std(n, m) if init_std is None else init_std
        self.W = self.normal((n, m), std)
        self.b = self.zeros(n)

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
            h = (x[..., None] * self.W).sum(-2)  # [B, I, m]
            out = (h[..., None, :] * self.W).sum(-1) + self.b
        else:
            out = torch.einsum("bim,inm->bin", self.hidden(x), self.W) + self.b
        return torch.relu(out) if self.activation == "relu" else out

"""Adversarial vulnerability of the ReLU-output toy model (TMS, "Relationship to
Adversarial Robustness"), batched over instances.

The model is x' = ReLU(G x + b) with G = WᵀW in the paper's notation; with the library's
``W: [I, n, m]`` (row W[k, i] is feature i's direction) G[k] = W[k] W[k]ᵀ, ``[I, n, n]``.
Inputs ``x: [B, I, n]``. An attack δ is scored by the loss of the attacked input against
the *clean* one, mean_j I_j (x'(x + δ)_j - x_j)².

The paper's analytic L2 attack: for each feature i, δ = λ G_i / ‖G_i‖ (G_i the i-th row
of WᵀW) is the point of the L2 ball of radius λ that raises feature i's pre-activation
the most; of the n candidates the one that harms the model most is taken, with
λ = 0.1 × the mean input norm E‖x‖₂. For adversarial training the paper used "the
analytic optimal attack against a random feature" (``AttackedToyModel``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..core.seeds import make_generator
from ..core.tensors import EPS, as_float64
from .measures import interference, represented
from .model import ToyModel


def _check(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor | None = None) -> None:
    if W.ndim != 3:
        raise ValueError(f"W must be [I, n, m], got shape {tuple(W.shape)}")
    if b.shape != W.shape[:2]:
        raise ValueError(f"b must be [I, n] = {tuple(W.shape[:2])}, got {tuple(b.shape)}")
    if x is not None and (x.ndim != 3 or x.shape[1:] != W.shape[:2]):
        raise ValueError(
            f"x must be [B, I, n] with [I, n] = {tuple(W.shape[:2])}, got {tuple(x.shape)}"
        )


def _radius(radius, n_instances: int, device) -> torch.Tensor:
    r = torch.as_tensor(radius, dtype=torch.float32, device=device).reshape(-1)
    if r.numel() == 1:
        r = r.expand(n_instances)
    if r.numel() != n_instances or torch.any(r < 0) or not torch.all(torch.isfinite(r)):
        raise ValueError(
            f"radius must be a finite number >= 0 or one per instance ({n_instances}), "
            f"got {radius!r}"
        )
    return r


def gram(W: torch.Tensor) -> torch.Tensor:
    """G = WᵀW of the paper: ``[I, n, m] -> [I, n, n]``, G[k, i, j] = W_i · W_j."""
    return W @ W.transpose(-1, -2)


def reconstruct(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """x' = ReLU(WᵀW x + b): ``x [B, I, n] -> [B, I, n]``."""
    h = torch.einsum("bin,inm->bim", x, W)
    return torch.relu(torch.einsum("bim,inm->bin", h, W) + b)


def example_loss(output: torch.Tensor, target: torch.Tensor, importance=None) -> torch.Tensor:
    """Loss of each example, mean_j I_j (output_j - target_j)²: ``[.., B, I, n] -> [.., B, I]``."""
    err = (output - target).pow(2)
    if importance is not None:
        err = err * importance
    return err.mean(-1)


def mean_input_norm(x: torch.Tensor) -> torch.Tensor:
    """E‖x‖₂ per instance: ``[B, I, n] -> [I]`` (the scale of the paper's attack budget)."""
    return x.norm(dim=-1).mean(0)


def analytic_directions(W: torch.Tensor) -> torch.Tensor:
    """Unit attack directions u_i = G_i / ‖G_i‖: ``[I, n, m] -> [I, n (attacked), n (input)]``.

    Row i is the unit vector δ that maximises (G δ)_i = G_i · δ, feature i's
    pre-activation: the paper's optimal L2 attack on feature i. A feature with G_i = 0
    gets a zero row.
    """
    G = gram(W)
    return G / G.norm(dim=-1, keepdim=True).clamp_min(EPS)


def linear_gain(W: torch.Tensor) -> torch.Tensor:
    """‖G u_i‖, how far the attack on feature i moves the pre-activations per unit of
    attack norm: ``[I, n, m] -> [I, n]``.

    For features of a uniform polytope with norm r (a tight frame: WᵀW = (r² / D) times
    the projector on its span, so G² = (r² / D) G) this is exactly r² / D_i: for unit
    norms 1 for a dedicated dimension, 2 in a digon, 5/2 in a pentagon. The attack's
    leverage is the number of features per dimension.
    """
    G = gram(W)
    return torch.einsum("iaj,ikj->iak", analytic_directions(W), G).norm(dim=-1)


def per_feature_attack_losses(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, radius, *,
                              importance=None, chunk: int = 32) -> torch.Tensor:
    """Loss of every example under each candidate attack λ u_i: ``[B, I, n]``.

    ``radius`` λ: a number or ``[I]``. Under attack the pre-activation is
    G x + b + λ G u_i, so each candidate costs one pass over ``[B, I, n]`` (in chunks of
    ``chunk`` candidates, bounding memory at B × I × chunk × n floats).
    """
    _check(W, b, x)
    n = W.shape[1]
    r = _radius(radius, W.shape[0], x.device)
    G = gram(W)
    shift = torch.einsum("iaj,ikj->iak", analytic_directions(W), G) * r[:, None, None]
    base = torch.einsum("bij,ikj->bik", x, G) + b  # [B, I, n]
    imp = None if importance is None else torch.as_tensor(importance)[:, None, :]
    out = []
    for a0 in range(0, n, chunk):
        pre = base[:, :, None, :] + shift[None, :, a0:a0 + chunk, :]  # [B, I, c, n]
        out.append(example_loss(torch.relu(pre), x[:, :, None, :], imp))
    return torch.cat(out, dim=-1)


@torch.no_grad()
def analytic_attack(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, radius, *,
                    importance=None, per_example: bool = True, chunk: int = 32) -> dict:
    """The paper's attack: the worst of the per-feature optimal attacks λ u_i.

    per_example  True: each input gets its own worst feature (an adversarial *example*);
                 False: one feature per instance, the one with the largest mean loss
    Returns dict(delta ``[B, I, n]``, feature ``[B, I]`` (the attacked feature), loss
    ``[B, I]`` (each example's loss under attack), clean ``[B, I]``).
    """
    _check(W, b, x)
    n = W.shape[1]
    r = _radius(radius, W.shape[0], x.device)
    losses = per_feature_attack_losses(W, b, x, r, importance=importance, chunk=chunk)
    if per_example:
        best = losses.argmax(-1)  # [B, I]
    else:
        best = losses.mean(0).argmax(-1)[None].expand(x.shape[0], -1)
    U = analytic_directions(W)[None].expand(x.shape[0], -1, -1, -1)
    rows = torch.gather(U, 2, best[..., None, None].expand(-1, -1, 1, n))[:, :, 0]
    return {"delta": r[None, :, None] * rows, "feature": best,
            "loss": torch.gather(losses, -1, best[..., None])[..., 0],
            "clean": example_loss(reconstruct(W, b, x), x, importance)}


def random_feature_attack(W: torch.Tensor, x: torch.Tensor, radius,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """λ u_i for a uniformly random feature i per example: ``[B, I, n]`` (no gradient).

    The paper's adversarial training: "we used the analytic optimal attack against a
    random feature".
    """
    if W.ndim != 3 or x.ndim != 3 or x.shape[1:] != W.shape[:2]:
        raise ValueError(
            f"W must be [I, n, m] and x [B, I, n]; got {tuple(W.shape)} and {tuple(x.shape)}"
        )
    B, I, n = x.shape
    r = _radius(radius, I, x.device)
    U = analytic_directions(W.detach())  # [I, n, n]
    pick = torch.randint(0, n, (B, I), generator=generator, device=x.device)
    inst = torch.arange(I, device=x.device)[None, :].expand(B, -1)
    return U[inst, pick] * r[None, :, None]


def pgd_attack(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, radius, *, steps: int = 30,
               step_size: float = 0.25, random_start: bool = False, importance=None,
               generator: torch.Generator | None = None) -> dict:
    """Projected gradient ascent on each example's loss in the L2 ball of ``radius``.

    Each step moves δ by ``step_size`` × radius along the normalised gradient and
    projects back onto ‖δ‖ <= radius; the best δ seen is kept. ``random_start``: start
    at a uniformly random point of the ball instead of 0. Returns dict(delta
    ``[B, I, n]``, loss ``[B, I]``, zero_grad_start ``[B, I]`` bool: the gradient at the
    start is exactly 0, so gradient ascent cannot move; the gradient masking of inputs
    whose outputs are all below the ReLU's threshold).
    """
    _check(W, b, x)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    r = _radius(radius, W.shape[0], x.device)[None, :, None]
    W, b = W.detach(), b.detach()
    if random_start:
        d0 = torch.randn(x.shape, generator=generator, device=x.device)
        u = torch.rand(x.shape[:2], generator=generator, device=x.device)[..., None]
        delta = r * u ** (1.0 / x.shape[-1]) * d0 / d0.norm(dim=-1, keepdim=True).clamp_min(EPS)
    else:
        delta = torch.zeros_like(x)
    zero_start = None
    best_loss = torch.full(x.shape[:2], -math.inf, device=x.device)
    best_delta = delta.clone()
    for t in range(steps + 1):
        delta = delta.detach().requires_grad_(True)
        loss = example_loss(reconstruct(W, b, x + delta), x, importance)
        with torch.no_grad():
            better = loss > best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_delta = torch.where(better[..., None], delta, best_delta)
        if t == steps:
            break
        (grad,) = torch.autograd.grad(loss.sum(), delta)
        gnorm = grad.norm(dim=-1, keepdim=True)
        if zero_start is None:
            zero_start = gnorm[..., 0] == 0
        with torch.no_grad():
            delta = delta + step_size * r * grad / gnorm.clamp_min(EPS)
            delta = delta * torch.clamp(r / delta.norm(dim=-1, keepdim=True).clamp_min(EPS),
                                        max=1.0)  # fmt: skip
    return {"delta": best_delta.detach(), "loss": best_loss.detach(),
            "zero_grad_start": zero_start}


@torch.no_grad()
def dead_outputs_fraction(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> dict:
    """How often the output ReLUs are off: dict(units ``[I]``: fraction of (example,
    output) pairs with pre-activation <= 0; all ``[I]``: fraction of examples with every
    output off, where the input gradient of the loss is exactly zero)."""
    _check(W, b, x)
    off = torch.einsum("bij,ikj->bik", x, gram(W)) + b <= 0
    return {"units": off.float().mean((0, 2)), "all": off.all(-1).float().mean(0)}


def vulnerability(attacked, clean, radius, n_features: int) -> np.ndarray:
    """The attack's gain, sqrt(n (E L_attacked - E L_clean)) / λ, per instance: ``[I]``.

    ``attacked``, ``clean``: per-example losses ``[B, I]``; ``radius`` λ: ``[I]`` or a
    number. With the loss a mean over n outputs, n ΔL is the mean squared change of the
    output vector, so this is the RMS output damage per unit of attack norm: 1 for a
    model that passes a perturbation through unchanged (a dedicated, orthonormal
    feature basis), 1/D for features packed D to a dimension (``linear_gain``).
    """
    gap = (torch.as_tensor(attacked).double().mean(0)
           - torch.as_tensor(clean).double().mean(0)).clamp_min(0)  # fmt: skip
    lam = torch.as_tensor(radius, dtype=torch.float64).reshape(-1).expand_as(gap)
    return (torch.sqrt(n_features * gap) / lam.clamp_min(EPS)).numpy()


def superposition_free(W, *, norm_threshold: float = 0.5,
                       interference_threshold: float = 0.1) -> torch.Tensor:
    """Boolean ``[...]``: no represented feature (‖W_i‖ > ``norm_threshold``) is superposed
    (interference Σ_{j≠i} (Ŵ_i · W_j)² > ``interference_threshold``), the book's
    definitions of chapters 1 and 2. A model that represents nothing is free of it."""
    W = as_float64(W)
    superposed = represented(W, norm_threshold) & (interference(W) > interference_threshold)
    return ~superposed.any(dim=-1)


class AttackedToyModel(ToyModel):
    """A ``ToyModel`` that sees attacked inputs while ``attacking``: adversarial training.

    forward(x) = ReLU(WᵀW (x + δ) + b) with δ = ``random_feature_attack`` (radius ``[I]``
    per instance, a random feature per example, from its own generator seeded with
    ``attack_seed``); the loss still compares with the clean x. δ is recomputed from the
    current W at every call and carries no gradient, as in the paper. Set
    ``attacking = False`` to evaluate on clean inputs. Parameters, initial weights and
    their names are those of ``ToyModel`` (same seed: same W at step 0).
    """

    def __init__(self, *args, radius, attack_seed: int, **kwargs):
        super().__init__(*args, **kwargs)
        r = _radius(radius, self.n_instances, "cpu").clone()
        self.register_buffer("radius", r, persistent=False)
        self.attack_seed = int(attack_seed)
        self.attacking = True
        self._generator = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.attacking:
            if self._generator is None or self._generator.device != x.device:
                self._generator = make_generator(self.attack_seed, x.device)
            x = x + random_feature_attack(self.W, x, self.radius, self._generator)
        return super().forward(x)

    @classmethod
    def from_config(cls, config, radius, *, seed: int, attack_seed: int, device="cpu"):
        """The attacked twin of ``config.build_model(seed=seed)`` (same initial W)."""
        return cls(config.n_features, config.n_hidden, config.n_instances,
                   activation=config.activation, init_std=config.init_std, seed=seed,
                   device=device, radius=radius, attack_seed=attack_seed)  # fmt: skip

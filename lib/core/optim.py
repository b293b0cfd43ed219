"""Decoupled AdamW whose weight decay may be negative and may differ per instance.

``torch.optim.AdamW`` takes one weight decay gamma >= 0 per parameter group. Training
many instances side by side with different decays (a sweep over gamma is an instance
axis), or with gamma < 0 ("growth"), needs the update written out; ``SignedAdamW`` is
that update, step for step torch's AdamW whenever gamma >= 0.

For a parameter ``p: [I, ...]`` (instance axis first) and a decay gamma that is a number
or a tensor ``[I]`` (one value per instance, broadcast over the other axes), one step at
learning rate lr is, in torch's AdamW order:

    1. decay   p <- p * f
    2. Adam    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
               p <- p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)

with the decay factor f chosen by the group's ``growth`` rule:

    "linear"     f = 1 - lr gamma for every gamma: gamma > 0 is torch's AdamW; gamma < 0
                 multiplies every weight by 1 + lr |gamma| each step, a geometric growth
                 that only the loss can stop (in a ReLU autoencoder it does not: the
                 weights diverge).
    "unit_norm"  gamma >= 0: f = 1 - lr gamma (torch's AdamW);
                 gamma < 0:  f = 1 + lr gamma (1 - 1 / (||p_r|| + eps)) for each row r, the
                 norm taken over ``norm_dim`` (for W: [I, n, m] the m coordinates of row i).
                 Rows shorter than 1 grow and rows longer than 1 shrink: the growth drives
                 every row towards unit norm, and is continuous at gamma = 0. This is the
                 rule of the optimizer published with Liu, Liu & Gore's "Superposition
                 Yields Robust Neural Scaling" (its ``exp/adamw.py``).

A parameter group holds ``weight_decay`` (a number or a tensor [I]), ``growth`` and
``norm_dim``: give the parameters that decay (e.g. W) and those that do not (b) separate
groups. ``training.signed_optimizer`` builds the groups from a ``TrainConfig``.
"""

from __future__ import annotations

import math

import torch

GROWTH_RULES = ("linear", "unit_norm")


def _check_number(name: str, value, *, low: float = 0.0, low_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < low or (low_open and v == low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def check_weight_decay(weight_decay, param: torch.Tensor | None = None):
    """``weight_decay`` as a float or a float tensor ``[I]`` (any sign); ``ValueError`` if bad.

    A tensor (or sequence) must be 1-D, finite and, when ``param`` is given, have one entry
    per instance of it: length ``param.shape[0]``.
    """
    if isinstance(weight_decay, (int, float)) and not isinstance(weight_decay, bool):
        v = float(weight_decay)
        if not math.isfinite(v):
            raise ValueError(f"weight_decay must be finite, got {weight_decay!r}")
        return v
    try:
        wd = torch.as_tensor(weight_decay, dtype=torch.float32).detach()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"weight_decay must be a number or a 1-D tensor [I], got {weight_decay!r}"
        ) from None
    if wd.ndim == 0:
        return check_weight_decay(float(wd))
    if wd.ndim != 1 or wd.numel() == 0:
        raise ValueError(
            f"weight_decay must be a number or a 1-D tensor [I], got shape {tuple(wd.shape)}"
        )
    if not torch.isfinite(wd).all():
        raise ValueError("weight_decay must be finite in every instance")
    if param is not None and (param.ndim == 0 or param.shape[0] != wd.numel()):
        raise ValueError(
            f"weight_decay has {wd.numel()} entries (one per instance) but the parameter of "
            f"shape {tuple(param.shape)} has {param.shape[0] if param.ndim else 0} instances "
            "on axis 0"
        )
    return wd


def decay_factor(p: torch.Tensor, weight_decay, lr: float, growth: str, norm_dim: int = -1,
                 eps: float = 1e-8):
    """The factor f of the decay step ``p <- p * f``: a number or a tensor broadcastable to p.

    p: [I, ...]; weight_decay: a number or a tensor [I] (see the module docstring).
    """
    if isinstance(weight_decay, float):
        if growth == "linear" or weight_decay >= 0:
            return 1.0 - lr * weight_decay
        norm = torch.linalg.vector_norm(p, dim=norm_dim, keepdim=True).add_(eps)
        return 1.0 + lr * weight_decay * (1.0 - norm.reciprocal())
    wd = weight_decay.to(device=p.device, dtype=p.dtype).view(-1, *([1] * (p.ndim - 1)))
    linear = 1.0 - lr * wd
    if growth == "linear" or bool((wd >= 0).all()):
        return linear
    norm = torch.linalg.vector_norm(p, dim=norm_dim, keepdim=True).add_(eps)
    return torch.where(wd >= 0, linear, 1.0 + lr * wd * (1.0 - norm.reciprocal()))


class SignedAdamW(torch.optim.Optimizer):
    """AdamW with decoupled weight decay of any sign, per instance (module docstring).

    params        parameters or parameter groups; a parameter is ``[I, ...]`` when its
                  group's ``weight_decay`` is a tensor ``[I]``
    lr            learning rate (>= 0); schedulers such as ``LambdaLR`` may change it
    betas         (b1, b2), each in [0, 1)
    eps           > 0, added to sqrt(v) (and to the row norm of the "unit_norm" rule)
    weight_decay  gamma: a number, or a tensor ``[I]`` over each parameter's instance axis
    growth        "unit_norm" or "linear": what gamma < 0 does
    norm_dim      axis of the row norm of the "unit_norm" rule (default -1: for W [I, n, m]
                  the norm of each feature's direction)

    With gamma >= 0 both rules reproduce ``torch.optim.AdamW`` step for step.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay=0.0, growth: str = "unit_norm", norm_dim: int = -1):
        lr = _check_number("lr", lr)
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of numbers, got {betas!r}") from None
        for name, b in (("betas[0]", b1), ("betas[1]", b2)):
            if not (math.isfinite(b) and 0.0 <= b < 1.0):
                raise ValueError(f"{name} must lie in [0, 1), got {b!r}")
        eps = _check_number("eps", eps, low_open=True)
        if growth not in GROWTH_RULES:
            raise ValueError(f"growth must be one of {list(GROWTH_RULES)}, got {growth!r}")
        defaults = dict(lr=lr, betas=(b1, b2), eps=eps,
                        weight_decay=check_weight_decay(weight_decay), growth=growth,
                        norm_dim=int(norm_dim))  # fmt: skip
        super().__init__(params, defaults)  # checks each group in add_param_group

    def _check_group(self, group: dict) -> None:
        _check_number("lr", group["lr"])
        if group["growth"] not in GROWTH_RULES:
            raise ValueError(
                f"growth must be one of {list(GROWTH_RULES)}, got {group['growth']!r}"
            )
        group["weight_decay"] = check_weight_decay(group["weight_decay"])
        for p in group["params"]:
            check_weight_decay(group["weight_decay"], p)
            if group["growth"] == "unit_norm" and p.ndim == 0:
                raise ValueError(
                    "growth='unit_norm' needs parameters with at least one axis (rows)"
                )

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (as ``torch.optim.Optimizer``), its decay checked against its
        parameters."""
        super().add_param_group(param_group)
        try:
            self._check_group(self.param_groups[-1])
        except ValueError:
            self.param_groups.pop()
            raise

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("SignedAdamW does not support sparse gradients")
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
                state["step"] += 1
                t = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                f = decay_factor(p, group["weight_decay"], lr, group["growth"],
                                 group["norm_dim"], eps)  # fmt: skip
                if not (isinstance(f, float) and f == 1.0):
                    p.mul_(f)
                exp_avg.lerp_(p.grad, 1 - b1)
                exp_avg_sq.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (exp_avg_sq.sqrt() / math.sqrt(1 - b2**t)).add_(eps)
                p.addcdiv_(exp_avg, denom, value=-lr / (1 - b1**t))
        return loss

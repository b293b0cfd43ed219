"""``fit()``: run a family's (data, model, loss) for a config.

A family's config is validated once, when it is built, and then builds everything a
run needs; ``fit`` knows nothing of any family beyond this protocol:

    config.n_instances                        I, models trained side by side
    config.build_model(seed=, device=)        a fresh model, instance k drawn from (seed, k)
    config.build_sampler(seed=, device=)      x = sampler(B): [B, I, n] on the device
    config.build_loss()                       loss(output, target) -> [I]
    config.build_target()                     y = target(x), or None (autoencoding)

and, where common random numbers make sense, ``build_sampler(..., shared=True)``.
The training data is seeded by ``seed`` itself, the held-out evaluation data by
``stream(seed, "eval")``, and the initial weights by ``(seed, instance id)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np
import torch

from .checks import check_nonnegative_int, resolve_device
from .seeds import stream
from .training import History, TrainConfig, evaluate, train


class Experiment(Protocol):
    """What ``fit`` needs from a family's config (see the module docstring)."""

    n_instances: int

    def build_model(self, *, seed: int, device) -> torch.nn.Module: ...

    def build_sampler(self, *, seed: int, device) -> Callable[[int], torch.Tensor]: ...

    def build_loss(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]: ...

    def build_target(self) -> Callable[[torch.Tensor], torch.Tensor] | None: ...


@dataclass
class Fit:
    """The outcome of ``fit``.

    model      the trained model (all instances)
    history    per-instance loss history (``History``)
    sampler    the training sampler, its stream where training stopped (pass it back to
               ``fit`` to continue in another stage)
    eval_loss  ``[I]`` loss on held-out batches, or None when ``eval_batches == 0``
    """

    model: torch.nn.Module
    history: History
    sampler: Callable[[int], torch.Tensor]
    eval_loss: np.ndarray | None = None


def fit(config: Experiment, train_config: TrainConfig, *, seed: int = 0, device="auto",
        model: torch.nn.Module | None = None, sampler=None, initial: dict | None = None,
        frozen: Sequence[str] = (), eval_batches: int = 0, eval_shared: bool = False,
        progress: bool = True, description: str = "train", snapshot_steps=(),
        project=None) -> Fit:
    """Train every instance of ``config``'s model on its data; return a ``Fit``.

    model, sampler  continue from these (a previous stage) instead of building fresh ones
    initial         ``{parameter name: {instance: value}}``: start these instances there
                    instead of the random init (e.g. ``{"W": {3: W0}}`` to follow the
                    basin of one geometry), each value the parameter's shape without the
                    instance axis
    frozen          names of parameters that do not train in this call (e.g. ``("E",)``)
    eval_batches    if > 0, ``eval_loss`` is the mean loss over that many fresh batches of
                    ``train_config.batch_size`` from the stream ``stream(seed, "eval")``
    eval_shared     evaluate with common random numbers across instances (the config's
                    ``build_sampler(shared=True)``)
    snapshot_steps  steps at which to keep a copy of the parameters (``History.snapshots``)
    project         ``project(model)`` after every optimiser step (``train``): hold the
                    parameters on a constraint set, e.g. a fixed sign pattern
    """
    dev = resolve_device(device)
    eval_batches = check_nonnegative_int("eval_batches", eval_batches)
    model = config.build_model(seed=seed, device=dev) if model is None else model.to(dev)
    sampler = config.build_sampler(seed=seed, device=dev) if sampler is None else sampler
    params = dict(model.named_parameters())
    for name in [*frozen, *(initial or {})]:
        if name not in params:
            raise ValueError(
                f"{name!r} is not a parameter of {type(model).__name__} "
                f"(parameters: {sorted(params)})"
            )
    with torch.no_grad():
        for name, values in (initial or {}).items():
            for k, value in values.items():
                value = torch.as_tensor(np.asarray(value), dtype=params[name].dtype)
                if not 0 <= int(k) < config.n_instances or value.shape != params[name].shape[1:]:
                    raise ValueError(
                        f"initial[{name!r}]: instance {k} must be in [0, {config.n_instances}) "
                        f"with a "
                        f"value of shape {tuple(params[name].shape[1:])}, got {tuple(value.shape)}"
                    )
                params[name][int(k)] = value.to(dev)
    loss = config.build_loss()
    for name in frozen:
        params[name].requires_grad_(False)
    try:
        history = train(model, sampler, loss, train_config, target=config.build_target(),
                        device=dev, progress=progress, description=description,
                        snapshot_steps=snapshot_steps, project=project)
    finally:
        for name in frozen:
            params[name].requires_grad_(True)
    result = Fit(model, history, sampler)
    if eval_batches:
        result.eval_loss = evaluate_config(model, config, seed=seed,
                                           batch_size=train_config.batch_size,
                                           n_batches=eval_batches, shared=eval_shared)
    return result


def evaluate_config(
    model: torch.nn.Module,
    config: Experiment,
    *,
    seed: int = 0,
    batch_size: int = 1024,
    n_batches: int = 10,
    shared: bool = False,
    loss=None,
) -> np.ndarray:
    """``[I]`` expected loss of ``model`` on the config's held-out stream ``stream(seed, "eval")``.

    ``loss`` overrides the config's loss (e.g. to score a model on another loss).
    """
    dev = next(model.parameters()).device
    kwargs = {"shared": True} if shared else {}
    sampler = config.build_sampler(seed=stream(seed, "eval"), device=dev, **kwargs)
    return evaluate(model, sampler, config.build_loss() if loss is None else loss,
                    target=config.build_target(), batch_size=batch_size, n_batches=n_batches)

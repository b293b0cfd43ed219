"""The instance axis: many small models in one set of tensors.

Every model of the library carries a leading instance axis on each parameter
(``W: [I, n, m]``); an instance's initial weights depend only on ``(seed, instance id)``.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from .checks import check_positive_int, resolve_device
from .seeds import instance_seed


def init_per_instance(
    shape: Sequence[int], std: float, seed: int, instance_ids: Sequence[int]
) -> torch.Tensor:
    """Normal(0, std²) tensor ``[I, *shape]``; slice k drawn from seed (seed, instance_ids[k]).

    Drawn on the CPU, so the values are the same whatever device the model later runs on.
    """
    out = torch.empty((len(instance_ids), *shape))
    for k, iid in enumerate(instance_ids):
        gen = torch.Generator().manual_seed(instance_seed(seed, iid))
        out[k] = torch.randn(tuple(shape), generator=gen) * std
    return out


def check_instance_ids(n_instances: int, instance_ids=None) -> list[int]:
    """The instance ids of a model of ``n_instances`` (default 0 .. I-1), checked."""
    n_instances = check_positive_int("n_instances", n_instances)
    ids = list(range(n_instances)) if instance_ids is None else [int(i) for i in instance_ids]
    if len(ids) != n_instances:
        raise ValueError(
            f"instance_ids must have n_instances={n_instances} entries, got {len(ids)}"
        )
    return ids


class InstanceModule(nn.Module):
    """Base of the batched models: sizes, instance ids, seed and device, checked once.

    ``normal(shape, std)`` draws the initial value of a parameter ``[I, *shape]``,
    instance k from (seed, instance_ids[k]) alone.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *, seed: int = 0,
                 device="cpu", instance_ids: Sequence[int] | None = None):
        super().__init__()
        self.n_features = check_positive_int("n_features", n_features)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.instance_ids = check_instance_ids(n_instances, instance_ids)
        self.seed = int(seed)
        self.init_device = resolve_device(device)

    def normal(
        self, shape: Sequence[int], std: float, *, stream: int = 0, streams: int = 1
    ) -> nn.Parameter:
        """A parameter ``[I, *shape]`` of N(0, std²) entries on the model's device.

        Parameters drawn from the same (seed, instance) need distinct streams: the draw of
        stream s of ``streams`` uses instance id ``streams * id + s``.
        """
        ids = [streams * i + stream for i in self.instance_ids]
        value = init_per_instance(tuple(shape), std, self.seed, ids)
        return nn.Parameter(value.to(self.init_device))

    def zeros(self, *shape: int) -> nn.Parameter:
        """A parameter ``[I, *shape]`` of zeros on the model's device."""
        return nn.Parameter(torch.zeros(len(self.instance_ids), *shape, device=self.init_device))


def select_instances(model: nn.Module, indices: Sequence[int]) -> nn.Module:
    """A copy of a batched model keeping only the given instances (in that order).

    Every parameter and buffer carries the instance axis first, so this slices each of
    them along axis 0. Useful to evaluate a few instances of a large run on big batches.
    """
    idx = [int(i) for i in indices]
    if not idx or min(idx) < 0 or max(idx) >= model.n_instances:
        raise ValueError(
            f"indices must be non-empty and lie in [0, {model.n_instances}), got {indices!r}"
        )
    out = copy.deepcopy(model)
    with torch.no_grad():
        for module in out.modules():
            for name, param in list(module.named_parameters(recurse=False)):
                setattr(module, name, nn.Parameter(param[idx].clone()))
            for name, buf in list(module.named_buffers(recurse=False)):
                module.register_buffer(name, buf[idx].clone())
    return out

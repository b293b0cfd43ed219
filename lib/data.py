"""Samplers: synthetic feature batches, generated on the device, seeded.

Every sampler is a callable ``sampler(batch_size) -> x`` with ``x: [B, I, n]`` (batch,
instance, feature). It owns a ``torch.Generator`` on its device, so two samplers built
with the same seed produce the same stream, and its state can be saved with a checkpoint
(``state_dict`` / ``load_state_dict``). Samplers know nothing of models.
"""

from __future__ import annotations

import numpy as np
import torch

from .configs import check_positive_int, check_probabilities, resolve_device


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def instance_seed(seed: int, instance_id: int) -> int:
    """A 63-bit seed that depends only on (seed, instance_id), never on the instance count."""
    state = np.random.SeedSequence([int(seed), int(instance_id)]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class SparseUniform:
    """Sparse features: x_i = 0 with probability 1 - p_i, else uniform on [low, high].

    The TMS data (low=0, high=1) and the signed data of the computation models
    (low=-1, high=1). ``feature_probability`` p is broadcastable to ``[I, n]``; each
    entry is the probability 1 - S that the feature is active, in (0, 1].

    Draws two dense uniforms per call (an activity mask and a value) — the plain
    reference algorithm, whose cost does not depend on sparsity.
    """

    def __init__(self, feature_probability, *, low: float = 0.0, high: float = 1.0,
                 seed: int = 0, device="cpu"):
        p = check_probabilities("feature_probability", feature_probability)
        if p.ndim != 2:
            raise ValueError(f"feature_probability must be [n_instances, n_features], got shape {p.shape}")
        if not high > low:
            raise ValueError(f"high must be > low, got low={low}, high={high}")
        self.device = resolve_device(device)
        self.probability = torch.as_tensor(p, dtype=torch.float32, device=self.device)
        self.low, self.high = float(low), float(high)
        self.generator = make_generator(seed, self.device)

    @property
    def n_instances(self) -> int:
        return self.probability.shape[0]

    @property
    def n_features(self) -> int:
        return self.probability.shape[1]

    def __call__(self, batch_size: int) -> torch.Tensor:
        """Return ``x: [B, I, n]`` float32 on the sampler's device."""
        b = check_positive_int("batch_size", batch_size)
        shape = (b, self.n_instances, self.n_features)
        active = torch.rand(shape, generator=self.generator, device=self.device) < self.probability
        values = torch.rand(shape, generator=self.generator, device=self.device)
        values = values * (self.high - self.low) + self.low
        return torch.where(active, values, torch.zeros((), device=self.device))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

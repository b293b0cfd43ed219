"""Seeds as named streams.

One integer ``seed`` per run (a chapter's ``seed`` parameter) fans out into independent
streams by name: ``stream(seed, "eval")`` seeds the held-out evaluation data,
``stream(seed, "restarts")`` a set of restarts, and so on. Names replace the magic
offsets (``seed + 10_007``) that collide silently when two of them happen to coincide.
Initial weights depend only on ``(seed, instance id)`` (``instance_seed``), so an
instance starts from the same point however many instances train beside it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def stream(seed: int, name: str) -> int:
    """A 63-bit seed for the stream ``name`` of ``seed``; distinct names give independent streams.

    >>> stream(0, "eval") == stream(0, "eval") != stream(0, "train")
    True
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
    state = np.random.SeedSequence([int(seed) & (2**64 - 1), key]).generate_state(
        2, dtype=np.uint32
    )
    return int(state[0]) << 31 | int(state[1]) >> 1


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def instance_seed(seed: int, instance_id: int) -> int:
    """A 63-bit seed that depends only on (seed, instance_id), never on the instance count."""
    state = np.random.SeedSequence([int(seed), int(instance_id)]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1

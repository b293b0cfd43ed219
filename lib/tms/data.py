"""Correlated and anticorrelated feature sets (TMS, "Correlated and Anticorrelated Features").

Independent sparse features are ``lib.core.sampling.SparseUniform``; this sampler draws
features in consecutive sets that are active together, one at a time, or independently.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.checks import check_positive_int, check_probabilities, resolve_device
from ..core.seeds import make_generator

SET_KINDS = ("independent", "correlated", "anticorrelated")


def check_feature_sets(set_sizes, kinds) -> tuple[list[int], list[str]]:
    """Validate a partition of the features into consecutive sets; return (sizes, kinds)."""
    sizes = [
        check_positive_int("set_sizes entry", s)
        for s in np.atleast_1d(np.asarray(set_sizes)).tolist()
    ]
    kinds = [kinds] * len(sizes) if isinstance(kinds, str) else list(kinds)
    if len(kinds) != len(sizes):
        raise ValueError(f"kinds must name one kind per set ({len(sizes)} sets), got {len(kinds)}")
    for k in kinds:
        if k not in SET_KINDS:
            raise ValueError(f"kinds entries must be one of {list(SET_KINDS)}, got {k!r}")
    return sizes, kinds


class FeatureSets:
    """Features in consecutive sets that are active together, one at a time, or independently.

    ``set_sizes`` [K] partitions the n = Σ set_sizes features into consecutive sets, and
    ``kinds`` [K] says how each set is drawn, with p = ``set_probability[k, s]`` (1 - S of
    set s in instance k; broadcastable to ``[I, K]``, entries in (0, 1]):

    - ``"correlated"``: one draw decides whether the whole set is zero (prob. 1 - p);
      otherwise every member takes its own independent U[0, 1] value;
    - ``"anticorrelated"``: the set is zero with prob. 1 - p; otherwise exactly one
      member, chosen uniformly, takes a U[0, 1] value and the others are zero;
    - ``"independent"``: each member is active with prob. p on its own (``SparseUniform``).

    Different sets are independent of each other.
    """

    def __init__(self, set_sizes, kinds, set_probability, *, seed: int = 0, device="cpu"):
        sizes, kinds = check_feature_sets(set_sizes, kinds)
        p = check_probabilities("set_probability", set_probability)
        if p.ndim != 2 or p.shape[1] != len(sizes):
            raise ValueError(
                f"set_probability must be [n_instances, n_sets={len(sizes)}], got shape {p.shape}"
            )
        self.device = resolve_device(device)
        self.set_sizes, self.kinds = sizes, kinds
        self.probability = torch.as_tensor(p, dtype=torch.float32, device=self.device)  # [I, K]
        set_of = np.repeat(np.arange(len(sizes)), sizes)  # [n]
        position = np.concatenate([np.arange(s) for s in sizes])  # [n]
        kind_of = np.array([SET_KINDS.index(kinds[s]) for s in set_of])
        as_t = lambda a, dtype: torch.as_tensor(a, dtype=dtype, device=self.device)
        self.set_of = as_t(set_of, torch.long)
        self.position = as_t(position, torch.float32)
        self.size_of = as_t(np.asarray(sizes)[set_of], torch.float32)
        self.independent = as_t(kind_of == 0, torch.bool)
        self.anticorrelated = as_t(kind_of == 2, torch.bool)
        self.generator = make_generator(seed, self.device)

    @property
    def n_instances(self) -> int:
        return self.probability.shape[0]

    @property
    def n_features(self) -> int:
        return int(self.set_of.shape[0])

    def __call__(self, batch_size: int) -> torch.Tensor:
        """Return ``x: [B, I, n]`` float32 on the sampler's device."""
        b = check_positive_int("batch_size", batch_size)
        n_sets = len(self.set_sizes)
        rand = lambda *shape: torch.rand(shape, generator=self.generator, device=self.device)
        p_feature = self.probability[:, self.set_of]  # [I, n]
        set_active = (rand(b, self.n_instances, n_sets) < self.probability)[..., self.set_of]
        own_active = rand(b, self.n_instances, self.n_features) < p_feature
        active = torch.where(self.independent, own_active, set_active)
        # anticorrelated: member floor(u * size) of the set is the active one
        chosen = (rand(b, self.n_instances, n_sets)[..., self.set_of] * self.size_of).floor()
        active &= ~self.anticorrelated | (chosen == self.position)
        values = rand(b, self.n_instances, self.n_features)
        return torch.where(active, values, torch.zeros((), device=self.device))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def feature_sets_covariance(set_sizes, kinds, set_probability) -> np.ndarray:
    """Covariance ``[n, n]`` of one instance's features under ``FeatureSets``' law.

    ``set_probability``: ``[K]`` (one p per set). Each active value is U[0, 1] (mean 1/2,
    second moment 1/3). Within a set of size k and probability p:

    - correlated: variance p/3 - p²/4, covariance p/4 - p²/4 (one switch for the set);
    - anticorrelated: variance p/(3k) - (p/(2k))², covariance -(p/(2k))² (one member);
    - independent: variance p/3 - p²/4, covariance 0.

    Different sets are independent (zero covariance).
    """
    sizes, kinds = check_feature_sets(set_sizes, kinds)
    p = check_probabilities("set_probability", set_probability).reshape(-1)
    if p.size != len(sizes):
        raise ValueError(f"set_probability must hold one value per set ({len(sizes)}), "
                         f"got {p.size}")  # fmt: skip
    n = int(sum(sizes))
    cov = np.zeros((n, n))
    start = 0
    for k, kind, q in zip(sizes, kinds, p):
        block = slice(start, start + k)
        if kind == "anticorrelated":
            mean, second, cross = q / (2 * k), q / (3 * k), 0.0
        else:
            mean, second = q / 2, q / 3
            cross = q / 4 if kind == "correlated" else q * q / 4
        cov[block, block] = cross - mean**2
        np.fill_diagonal(cov[block, block], second - mean**2)
        start += k
    return cov

"""The denoiser's data: noisy k-hot vectors and their clean target."""

from __future__ import annotations

import torch

from ..core.checks import check_positive_int, resolve_device
from ..core.seeds import make_generator

DENOISER_NOISE_CLIP = 0.49  # |ξ| is clipped here so that round(x) recovers x* exactly
# The post: noise "standard deviation << 1 on a coordinatewise level". Up to σ = 0.25 the
# clip at 0.49 (1.96 σ) touches at most 5 % of the coordinates (σ = 0.15: 0.1 %; 0.1: 1e-6).
DENOISER_MAX_NOISE = 0.25


class KHotNoise:
    """Noisy k-hot inputs of the sparse denoiser: x = x* + ξ, ``[B, I, d]``.

    x* has exactly ``k`` coordinates equal to 1 (a uniformly random k-subset of the d
    features, drawn independently for every sample and instance) and 0 elsewhere; ξ is
    iid Gaussian with standard deviation ``noise_std`` on every coordinate, clipped to
    ``|ξ| <= 0.49`` so that the clean target is exactly ``torch.round(x)``
    (see ``denoising_target``): the target stays a function of the input and the
    ``train(..., target=...)`` protocol is unchanged. For ``noise_std <= 0.1`` the clip
    acts on fewer than one coordinate in a million (|ξ| > 4.9 σ); ``noise_std`` is
    capped at ``DENOISER_MAX_NOISE`` = 0.25, where it acts on 5 %.
    """

    def __init__(self, n_features: int, n_instances: int = 1, *, k: int = 2,
                 noise_std: float = 0.05, seed: int = 0, device="cpu"):
        self.n_features = check_positive_int("n_features", n_features)
        self.n_instances = check_positive_int("n_instances", n_instances)
        self.k = check_positive_int("k", k)
        if self.k > self.n_features:
            raise ValueError(f"k must be <= n_features={self.n_features}, got {k}")
        std = float(noise_std)
        if not 0 <= std <= DENOISER_MAX_NOISE:
            raise ValueError(
                f"noise_std must lie in [0, {DENOISER_MAX_NOISE}] (noise must stay << 1 so "
                f"that rounding denoises), got {noise_std!r}"
            )
        self.noise_std = std
        self.device = resolve_device(device)
        self.generator = make_generator(seed, self.device)

    def _chosen(self, b: int) -> torch.Tensor:
        """The active features of ``b`` samples per instance: ``[I, B, k]`` int64.

        Sampling without replacement in O(k²) per sample: the m-th index is uniform over
        the d - m features not chosen yet (r-th free one: step r past each chosen index
        <= r).
        """
        chosen = torch.empty((b, self.n_instances, 0), dtype=torch.int64, device=self.device)
        for m in range(self.k):
            r = torch.randint(0, self.n_features - m, (b, self.n_instances),
                              generator=self.generator, device=self.device)
            for c in chosen.sort(dim=-1).values.unbind(-1):
                r = r + (r >= c)
            chosen = torch.cat([chosen, r[..., None]], dim=-1)
        return chosen.transpose(0, 1)

    def clean(self, batch_size: int) -> torch.Tensor:
        """x*: ``[B, I, d]`` k-hot vectors (float32, exactly k ones per sample and instance)."""
        b = check_positive_int("batch_size", batch_size)
        x = torch.zeros((self.n_instances, b, self.n_features), device=self.device)
        return x.scatter_(-1, self._chosen(b), 1.0).transpose(0, 1)

    def __call__(self, batch_size: int) -> torch.Tensor:
        """x = x* + ξ: ``[B, I, d]`` float32 on the sampler's device.

        Laid out ``[I, B, d]`` in memory (the returned tensor is its ``[B, I, d]`` view),
        so that the model's batched matmuls read each instance's batch contiguously. The
        active features are drawn first, then the noise, in place: one buffer, no
        separate clean vector.
        """
        b = check_positive_int("batch_size", batch_size)
        chosen = self._chosen(b)
        shape = (self.n_instances, b, self.n_features)
        x = torch.empty(shape, device=self.device)
        if self.noise_std > 0:
            x.normal_(generator=self.generator).mul_(self.noise_std)
            x.clamp_(-DENOISER_NOISE_CLIP, DENOISER_NOISE_CLIP)
        else:
            x.zero_()
        ones = torch.ones(chosen.shape, device=self.device)
        return x.scatter_add_(-1, chosen, ones).transpose(0, 1)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def denoising_target(x: torch.Tensor) -> torch.Tensor:
    """The denoiser's target x* = round(x) ("round each coordinate to the nearest integer")."""
    return torch.round(x)

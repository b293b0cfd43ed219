"""Plain conversions for measures: tensors or arrays in, float64 out (no gradients)."""

from __future__ import annotations

import numpy as np
import torch

EPS = 1e-12  # guards divisions by a norm that can be zero


def as_float64(x) -> torch.Tensor:
    """``x`` (tensor, array or nested lists) as a detached float64 tensor on its device."""
    x = torch.as_tensor(x)
    return x.detach().to(torch.float64) if x.dtype != torch.float64 else x.detach()


def as_numpy64(x) -> np.ndarray:
    """``x`` (tensor or array) as a float64 numpy array on the host."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def cosine_similarity(W) -> torch.Tensor:
    """``[..., n, n]`` cosines between the rows of W (e.g. feature directions) (0 for
    zero-norm features).
    """
    W = as_float64(W)
    unit = W / W.norm(dim=-1, keepdim=True).clamp_min(EPS)
    return unit @ unit.transpose(-1, -2)

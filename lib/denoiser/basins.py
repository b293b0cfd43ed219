"""Random basins: encoders placed at the centre of a given sign structure."""

from __future__ import annotations

import torch


def sign_basin_encoder(signs, centre: float) -> torch.Tensor:
    """The centre of the basin of a sign matrix: E = c · S, ``[I, h, d]`` float32."""
    return centre * torch.as_tensor(signs, dtype=torch.float32)

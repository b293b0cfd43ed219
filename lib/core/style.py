"""Figure style shared by every family: colour maps and array conversion for plots.

Colour conventions (as in the TMS paper): weights on a symmetric red-blue map (blue
positive, red negative); interference on a dark-blue (0: orthogonal) to yellow
(>= 1: fully shared) map; importance on a sequential map (yellow = most important).
"""

from __future__ import annotations

import numpy as np
import torch

WEIGHT_CMAP = "RdBu"
INTERFERENCE_CMAP = "viridis"
IMPORTANCE_CMAP = "viridis"


def to_numpy(x) -> np.ndarray:
    """A tensor (any device, detached) or array-like as a numpy array, for plotting."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

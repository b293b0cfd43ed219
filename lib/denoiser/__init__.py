"""The frustrated sparse denoiser (Vaintrob 2026; chapters 5-6). Imports no other family.

config      DenoiserConfig
data        KHotNoise (x = x* + ξ), denoising_target
model       Denoiser: y = D φ(E x)
losses      re-balanced on/off loss, plain MSE, softmax cross-entropy
structure   weight clusters, the sign matrix S and its statistics
basins      encoders at the centre of a given sign structure (held or free)
regime      the regime map: which knobs make the model frustrated
measures    recall, served features, plateaus, cluster traces
pinning     pinning fields: deviations from c S, frozen vs thermal, defects, scaling
plots       the figures
"""

from .config import DenoiserConfig
from .data import KHotNoise, denoising_target
from .model import Denoiser

__all__ = ["Denoiser", "DenoiserConfig", "KHotNoise", "denoising_target"]

"""Computation in superposition (chapter 4): privileged basis, absolute value, attenuated ReLU.

config     ReLUHiddenConfig, MLPConfig, target_function
model      ReLUHiddenModel, TwoLayerMLP, dedicated_neurons_mlp
measures   neuron-level measures, gains, responses, motifs
theory     closed forms for the attenuated ReLU
plots      the figures
"""

from .config import MLPConfig, ReLUHiddenConfig, target_function
from .model import ReLUHiddenModel, TwoLayerMLP, dedicated_neurons_mlp

__all__ = ["MLPConfig", "ReLUHiddenConfig", "ReLUHiddenModel", "TwoLayerMLP",
           "dedicated_neurons_mlp", "target_function"]

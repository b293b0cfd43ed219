"""The tied autoencoders of Toy Models of Superposition (chapters 1-3, 7, 8).

config      ToyModelConfig (independent sparse features), FeatureSetsConfig
            (correlated / anticorrelated sets), phase_grid_config
model       ToyModel: x' = act(WᵀW x + b), W: [I, n, m]
data        FeatureSets, the sampler of feature sets
measures    norms, interference, D_i, D*, represented, antipodal pairs, phases
polytopes   tegum factors and the polytopes they form
dimensionality  sticky plateaus of D* and lines of D_i (count lines, not bands)
expansion   the sparsity expansion of the loss, stratified exact losses, closed-form
            baselines (trivial predictor, the linear model's optimum and exact loss)
sweeps      density sweeps (restarts as instances), chapter 1's per-density statistics
phase       candidate configurations and the exact n = 2, m = 1 loss
phase_grid  empirical phase diagrams: train an (r, s) grid, aggregate restarts
plots       the figures
dynamics    snapshots during training, dimensionality jumps, loss drops, set geometries
adversarial the analytic L2 attack, PGD, gradient masking, adversarial training
scaling     power-law feature frequencies, growth/decay training, loss against width
"""

from .config import FeatureSetsConfig, ToyModelConfig, phase_grid_config
from .model import ToyModel

__all__ = ["FeatureSetsConfig", "ToyModel", "ToyModelConfig", "phase_grid_config"]

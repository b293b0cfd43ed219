"""The denoiser's config: validated once, it builds the model, data and loss of a run."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..core.checks import check_choice, check_positive_float, check_positive_int
from .data import DENOISER_MAX_NOISE, KHotNoise, denoising_target
from .losses import RebalancedLoss, denoising_mse, softmax_cross_entropy
from .model import Denoiser

DENOISER_LOSSES = ("rebalanced", "mse", "softmax")
DENOISER_REGIMES = ("any", "superposition", "no_superposition")


@dataclass
class DenoiserConfig:
    """The sparse denoiser y = D φ(E x) on noisy k-hot inputs (Vaintrob 2026).

    n_features        d, input/output dimension (the features)
    n_hidden          h, the hidden layer (neurons)
    n_instances       I, models trained side by side
    k                 active features per input (the post: 2 or 3), 1 <= k <= d
    noise_std         σ of the Gaussian noise on every coordinate, in [0, 0.25] (the
                      post: "≪ 1"; see ``lib.denoiser.data.DENOISER_MAX_NOISE``)
    nonlinearity      "tanh3" (φ = tanh³) or "gelu"
    loss              "rebalanced" (on/off L^p, see ``lib.denoiser.losses.rebalanced_loss``),
                      "mse" (plain, degenerate), "softmax" (cross-entropy)
    loss_power        p of the re-balanced loss (> 0); loss_root: take the 1/p-th power
    encoder_init_std, decoder_init_std   init scales (None: torch's nn.Linear default
                      std, 1/√(3d) and 1/√(3h))
    regime            "superposition" insists on h < d, "no_superposition" on h > d
    """

    n_features: int
    n_hidden: int
    n_instances: int = 1
    k: int = 2
    noise_std: float = 0.05
    nonlinearity: str = "tanh3"
    loss: str = "rebalanced"
    loss_power: float = 2.0
    loss_root: bool = True
    encoder_init_std: float | None = None
    decoder_init_std: float | None = None
    regime: str = "any"

    def __post_init__(self):
        self.n_features = check_positive_int("n_features", self.n_features)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden)
        self.n_instances = check_positive_int("n_instances", self.n_instances)
        check_choice("regime", self.regime, DENOISER_REGIMES)
        if self.regime == "superposition" and self.n_hidden >= self.n_features:
            raise ValueError(
                f"n_hidden must be < n_features for superposition (regime='superposition'), "
                f"got n_hidden={self.n_hidden}, n_features={self.n_features}"
            )
        if self.regime == "no_superposition" and self.n_hidden <= self.n_features:
            raise ValueError(
                f"n_hidden must be > n_features for the control without superposition "
                f"(regime='no_superposition'), got n_hidden={self.n_hidden}, "
                f"n_features={self.n_features}"
            )
        self.k = check_positive_int("k", self.k)
        if self.k > self.n_features:
            raise ValueError(f"k must be <= n_features={self.n_features}, got {self.k}")
        std = float(self.noise_std)
        if not (math.isfinite(std) and 0 <= std <= DENOISER_MAX_NOISE):
            raise ValueError(
                f"noise_std must lie in [0, {DENOISER_MAX_NOISE}], got {self.noise_std!r}"
            )
        self.noise_std = std
        check_choice("nonlinearity", self.nonlinearity, ("tanh3", "gelu"))
        check_choice("loss", self.loss, DENOISER_LOSSES)
        self.loss_power = check_positive_float("loss_power", self.loss_power)
        for name in ("encoder_init_std", "decoder_init_std"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, check_positive_float(name, value))

    def swapped(self) -> "DenoiserConfig":
        """The control with d and h exchanged: the same number of weights, h > d."""
        regime = {"superposition": "no_superposition", "no_superposition": "superposition"}.get(
            self.regime, "any"
        )
        return replace(self, n_features=self.n_hidden, n_hidden=self.n_features, regime=regime)

    def build_model(self, *, seed: int = 0, device="cpu") -> Denoiser:
        """A freshly initialised ``Denoiser`` (instance k drawn from (seed, k))."""
        return Denoiser(self.n_features, self.n_hidden, self.n_instances,
                        nonlinearity=self.nonlinearity, encoder_init_std=self.encoder_init_std,
                        decoder_init_std=self.decoder_init_std, seed=seed, device=device)

    def build_sampler(self, *, seed: int = 0, device="cpu") -> KHotNoise:
        """Noisy k-hot inputs x = x* + ξ."""
        return KHotNoise(self.n_features, self.n_instances, k=self.k, noise_std=self.noise_std,
                         seed=seed, device=device)

    def build_loss(self):
        """The loss named by ``self.loss``: a ``loss(output, target) -> [I]``."""
        if self.loss == "rebalanced":
            return RebalancedLoss(power=self.loss_power, root=self.loss_root)
        return {"mse": denoising_mse, "softmax": softmax_cross_entropy}[self.loss]

    def build_target(self):
        """x* = round(x): the clean k-hot vector."""
        return denoising_target

"""The bias-free sparse denoiser y = D φ(E x) (Vaintrob 2026), many instances at once."""

from __future__ import annotations

import math

import torch

from ..core.checks import check_choice
from ..core.instances import InstanceModule


class _TanhCubed(torch.autograd.Function):
    """tanh(z)³ with a hand-written backward, φ'(z) = 3 t² (1 - t²) with t = tanh z.

    Keeps only t² for the backward and does it in three elementwise passes (autograd's
    chain of ``tanh`` and ``pow`` takes about twice as many); first derivatives only.
    """

    @staticmethod
    def forward(ctx, z):
        t = torch.tanh(z)
        t2 = t * t
        if not ctx.needs_input_grad[0]:
            return t2.mul_(t)
        ctx.save_for_backward(t2)
        return t2 * t

    @staticmethod
    def backward(ctx, grad):
        (t2,) = ctx.saved_tensors
        return torch.addcmul(t2, t2, t2, value=-1).mul_(grad).mul_(3)


def tanh_cubed(z: torch.Tensor) -> torch.Tensor:
    """φ(z) = tanh(z)³: odd, analytic, bounded, φ'(0) = 0 (the post's theory-friendly choice)."""
    return _TanhCubed.apply(z)


DENOISER_NONLINEARITIES = {"tanh3": tanh_cubed, "gelu": torch.nn.functional.gelu}


class Denoiser(InstanceModule):
    """The bias-free sparse denoiser y = D φ(E x), batched over instances.

    Parameters (instance axis first)
        E: [I, h, d]   encoder; row E[k, j] holds neuron j's weights on the d features
        D: [I, d, h]   decoder; column D[k, :, j] is neuron j's output direction

    ``nonlinearity`` is "tanh3" (φ = tanh³) or "gelu". No biases, as in the post.
    Init: E ~ N(0, encoder_init_std²), D ~ N(0, decoder_init_std²), per instance.
    Defaults 1/√(3d) and 1/√(3h): the standard deviation of torch's ``nn.Linear``
    default init (uniform on ±1/√fan_in), i.e. what a plain implementation starts from.
    ``seed``, ``device`` and ``instance_ids`` go to ``InstanceModule``.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *,
                 nonlinearity: str = "tanh3", encoder_init_std: float | None = None,
                 decoder_init_std: float | None = None, **instances):
        super().__init__(n_features, n_hidden, n_instances, **instances)
        choices = tuple(DENOISER_NONLINEARITIES)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, choices)
        d, h = self.n_features, self.n_hidden
        e_std = 1 / math.sqrt(3 * d) if encoder_init_std is None else float(encoder_init_std)
        d_std = 1 / math.sqrt(3 * h) if decoder_init_std is None else float(decoder_init_std)
        if not (e_std >= 0 and d_std >= 0):
            raise ValueError(f"init stds must be >= 0, got encoder {e_std}, decoder {d_std}")
        # distinct streams for E and D: instance id k -> ids 2k (E) and 2k+1 (D) of the same seed
        self.E = self.normal((h, d), e_std, stream=0, streams=2)
        self.D = self.normal((d, h), d_std, stream=1, streams=2)

    @property
    def n_instances(self) -> int:
        return self.E.shape[0]

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        # [I, B, h]: one batched matmul per layer, instance axis first (KHotNoise lays its
        # batches out [I, B, d] in memory, so x.transpose(0, 1) is contiguous)
        z = torch.bmm(x.transpose(0, 1), self.E.transpose(1, 2))
        return DENOISER_NONLINEARITIES[self.nonlinearity](z)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """φ(E x): ``[B, I, d] -> [B, I, h]``."""
        return self._hidden(x).transpose(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = D φ(E x): ``[B, I, d] -> [B, I, d]``."""
        return torch.bmm(self._hidden(x), self.D.transpose(1, 2)).transpose(0, 1)

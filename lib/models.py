"""The toy models, batched over an instance axis.

Every parameter carries a leading instance axis ``I``: instance k is an independent
model whose parameters are ``param[k]``. Forward passes take ``x: [B, I, n]`` and
return ``[B, I, n]``. Models know nothing of data or training.

Initialisation is per instance: instance k is initialised from a generator seeded by
``(seed, instance_ids[k])``, so a model's initial weights never depend on how many
instances it is trained beside.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .configs import ACTIVATIONS, check_choice, check_positive_float, check_positive_int, resolve_device
from .data import instance_seed


def init_per_instance(shape: Sequence[int], std: float, seed: int,
                      instance_ids: Sequence[int]) -> torch.Tensor:
    """Normal(0, std²) tensor ``[I, *shape]``; slice k drawn from seed (seed, instance_ids[k]).

    Drawn on the CPU, so the values are the same whatever device the model later runs on.
    """
    out = torch.empty((len(instance_ids), *shape))
    for k, iid in enumerate(instance_ids):
        gen = torch.Generator().manual_seed(instance_seed(seed, iid))
        out[k] = torch.randn(tuple(shape), generator=gen) * std
    return out


def _instance_ids(n_instances: int, instance_ids) -> list[int]:
    n_instances = check_positive_int("n_instances", n_instances)
    ids = list(range(n_instances)) if instance_ids is None else [int(i) for i in instance_ids]
    if len(ids) != n_instances:
        raise ValueError(f"instance_ids must have n_instances={n_instances} entries, got {len(ids)}")
    return ids


class ToyModel(nn.Module):
    """The TMS autoencoder: h = W x, x' = act(Wᵀ h + b), act = ReLU or identity.

    Parameters (instance axis first)
        W: [I, n, m]   row W[k, i] is the m-dimensional direction of feature i
                       (the paper's column W_i; the paper's W is ``W[k].T``)
        b: [I, n]      output bias

    Init as in the official notebook: W Xavier-normal (std = sqrt(2 / (n + m))), b = 0.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *,
                 activation: str = "relu", seed: int = 0, device="cpu",
                 instance_ids: Sequence[int] | None = None):
        super().__init__()
        self.n_features = check_positive_int("n_features", n_features)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        ids = _instance_ids(n_instances, instance_ids)
        std = math.sqrt(2.0 / (self.n_features + self.n_hidden))
        dev = resolve_device(device)
        self.W = nn.Parameter(init_per_instance((self.n_features, self.n_hidden), std, seed, ids).to(dev))
        self.b = nn.Parameter(torch.zeros(len(ids), self.n_features, device=dev))

    @property
    def n_instances(self) -> int:
        return self.W.shape[0]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = W x: ``[B, I, n] -> [B, I, m]``."""
        return torch.einsum("bin,inm->bim", x, self.W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x' = act(Wᵀ W x + b): ``[B, I, n] -> [B, I, n]``."""
        if self.n_features * self.n_hidden <= 4 and torch.compiler.is_compiling():
            # tiny models (the phase diagrams) under torch.compile: multiply-and-sum fuses
            # into one pass, 1.6x faster than thousands of tiny matmuls (README, "Speed")
            h = (x[..., None] * self.W).sum(-2)                                   # [B, I, m]
            out = (h[..., None, :] * self.W).sum(-1) + self.b
        else:
            out = torch.einsum("bim,inm->bin", self.hidden(x), self.W) + self.b
        return torch.relu(out) if self.activation == "relu" else out


# ---------------------------------------------------------------- chapter 4: computation
class ReLUHiddenModel(nn.Module):
    """TMS "ReLU hidden layer" model: h = ReLU(W x [+ b_h]), x' = ReLU(Wᵀ h + b).

    The tied autoencoder of chapter 1 with a ReLU on the hidden layer, which gives the
    hidden space a privileged basis: row ``W[k, i]`` now connects feature i to the m
    basis-aligned neurons.

    Parameters (instance axis first)
        W: [I, n, m]        feature i -> neuron j weight ``W[k, i, j]`` (the paper's W[j, i])
        b: [I, n]           output bias
        b_hidden: [I, m]    hidden bias, present if ``hidden_bias`` is True for any instance
                            (the model then tends to make every neuron linear; see chapter 4)

    ``hidden_bias``: a bool for all instances, or one bool per instance; instances without
    one keep b_hidden masked to 0 (zero gradient), so both variants can share one run.
    Init as ``ToyModel``: W Xavier-normal, biases 0.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *,
                 hidden_bias=False, seed: int = 0, device="cpu",
                 instance_ids: Sequence[int] | None = None):
        super().__init__()
        self.n_features = check_positive_int("n_features", n_features)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        ids = _instance_ids(n_instances, instance_ids)
        std = math.sqrt(2.0 / (self.n_features + self.n_hidden))
        dev = resolve_device(device)
        self.W = nn.Parameter(init_per_instance((self.n_features, self.n_hidden), std, seed, ids).to(dev))
        self.b = nn.Parameter(torch.zeros(len(ids), self.n_features, device=dev))
        flags = torch.as_tensor(hidden_bias, dtype=torch.bool).reshape(-1)
        if flags.numel() not in (1, len(ids)):
            raise ValueError(f"hidden_bias must be a bool or one bool per instance ({len(ids)}), "
                             f"got {flags.numel()} values")
        flags = flags.expand(len(ids))
        self.b_hidden = nn.Parameter(torch.zeros(len(ids), self.n_hidden, device=dev)) if flags.any() else None
        # instances without a hidden bias: keep theirs at exactly 0 (None when all have one)
        self.register_buffer("hidden_bias_mask", None if flags.all() or not flags.any()
                             else flags.to(torch.float32)[:, None].to(dev))

    @property
    def n_instances(self) -> int:
        return self.W.shape[0]

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """W x [+ b_h], before the hidden ReLU: ``[B, I, n] -> [B, I, m]``."""
        pre = torch.einsum("bin,inm->bim", x, self.W)
        if self.b_hidden is None:
            return pre
        return pre + (self.b_hidden if self.hidden_bias_mask is None else self.b_hidden * self.hidden_bias_mask)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = ReLU(W x [+ b_h]): ``[B, I, n] -> [B, I, m]``."""
        return torch.relu(self.preactivation(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x' = ReLU(Wᵀ h + b): ``[B, I, n] -> [B, I, n]``."""
        return torch.relu(torch.einsum("bim,inm->bin", self.hidden(x), self.W) + self.b)


class TwoLayerMLP(nn.Module):
    """Untied one-hidden-layer MLP: h = act_h(x W_in [+ b_in]), y' = act_out(h W_out [+ b]).

    Covers the computation models of chapter 4:
      * absolute value (TMS): act_h = act_out = ReLU, output bias b, no hidden bias;
      * attenuated ReLU (Wadhwa): y' = W_out ReLU(W_in x), no biases, linear output.

    Parameters (instance axis first; weights stored "from -> to")
        W_in:  [I, n, m]      feature i -> neuron j is ``W_in[k, i, j]`` (the paper's W₁[j, i])
        W_out: [I, m, n_out]  neuron j -> output i is ``W_out[k, j, i]`` (the paper's W₂[i, j])
        b_in:  [I, m]         hidden bias, only if ``hidden_bias``
        b:     [I, n_out]     output bias, only if ``out_bias``

    ``init_scale`` multiplies both init stds (default 1: Xavier-normal). A small scale starts
    the model near the origin, where it learns features one at a time; chapter 4 uses 0.1
    for the absolute-value model, which otherwise sits on a long loss plateau.

    ``n_active_hidden`` (an int or one per instance, each in [1, m]) keeps only the first
    neurons of each instance: the others are zeroed at init and masked in the forward pass,
    so instances of different widths train side by side in one model of width m (their
    masked weights get exactly zero gradient).

    Init: W_in and W_out Xavier-normal (std sqrt(2/(fan_in + fan_out))), biases 0; both
    weight matrices of instance k come from one draw seeded by (seed, instance id).
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *, n_out: int | None = None,
                 hidden_activation: str = "relu", out_activation: str = "relu",
                 hidden_bias: bool = False, out_bias: bool = True, n_active_hidden=None,
                 init_scale: float = 1.0, seed: int = 0, device="cpu",
                 instance_ids: Sequence[int] | None = None):
        super().__init__()
        self.n_features = check_positive_int("n_features", n_features)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.n_out = self.n_features if n_out is None else check_positive_int("n_out", n_out)
        self.hidden_activation = check_choice("hidden_activation", hidden_activation, ACTIVATIONS)
        self.out_activation = check_choice("out_activation", out_activation, ACTIVATIONS)
        ids = _instance_ids(n_instances, instance_ids)
        n, m, n_out = self.n_features, self.n_hidden, self.n_out
        dev = resolve_device(device)
        scale = check_positive_float("init_scale", init_scale)
        # one standard-normal draw per instance, split: W_out is never a copy of W_in's stream
        z = init_per_instance((n * m + m * n_out,), scale, seed, ids)
        W_in = z[:, : n * m].reshape(len(ids), n, m) * math.sqrt(2.0 / (n + m))
        W_out = z[:, n * m:].reshape(len(ids), m, n_out) * math.sqrt(2.0 / (m + n_out))
        mask = hidden_mask(n_active_hidden, len(ids), m)
        self.W_in = nn.Parameter((W_in * mask[:, None, :]).to(dev))
        self.W_out = nn.Parameter((W_out * mask[:, :, None]).to(dev))
        # no mask at all when every neuron is active: it would cost a multiply per step
        self.register_buffer("hidden_mask", None if n_active_hidden is None else mask.to(dev))
        self.b_in = nn.Parameter(torch.zeros(len(ids), m, device=dev)) if hidden_bias else None
        self.b = nn.Parameter(torch.zeros(len(ids), n_out, device=dev)) if out_bias else None

    @property
    def n_instances(self) -> int:
        return self.W_in.shape[0]

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """x W_in [+ b_in]: ``[B, I, n] -> [B, I, m]``."""
        pre = torch.einsum("bin,inm->bim", x, self.W_in)
        return pre if self.b_in is None else pre + self.b_in

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = act_h(x W_in [+ b_in]) on the active neurons: ``[B, I, n] -> [B, I, m]``."""
        pre = self.preactivation(x)
        h = torch.relu(pre) if self.hidden_activation == "relu" else pre
        return h if self.hidden_mask is None else h * self.hidden_mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y' = act_out(h W_out [+ b]): ``[B, I, n] -> [B, I, n_out]``."""
        out = torch.einsum("bim,imo->bio", self.hidden(x), self.W_out)
        if self.b is not None:
            out = out + self.b
        return torch.relu(out) if self.out_activation == "relu" else out


def hidden_mask(n_active_hidden, n_instances: int, n_hidden: int) -> torch.Tensor:
    """``[I, m]`` float mask keeping the first ``n_active_hidden[k]`` neurons of instance k.

    ``n_active_hidden``: None (all m), an int, or one int per instance, each in [1, m].
    """
    if n_active_hidden is None:
        return torch.ones(n_instances, n_hidden)
    counts = torch.as_tensor(n_active_hidden).reshape(-1)
    if counts.numel() == 1:
        counts = counts.expand(n_instances)
    if counts.numel() != n_instances:
        raise ValueError(f"n_active_hidden must be an int or have n_instances={n_instances} entries, "
                         f"got {counts.numel()}")
    if counts.is_floating_point() and not torch.equal(counts, counts.round()):
        raise ValueError(f"n_active_hidden must hold integers, got {counts.tolist()[:5]}")
    counts = counts.long()
    if counts.min() < 1 or counts.max() > n_hidden:
        raise ValueError(f"n_active_hidden must lie in [1, n_hidden={n_hidden}], got values in "
                         f"[{int(counts.min())}, {int(counts.max())}]")
    return (torch.arange(n_hidden)[None, :] < counts[:, None]).float()


def dedicated_neurons_mlp(n_features: int, n_hidden: int, n_instances: int = 1, *,
                          device="cpu") -> TwoLayerMLP:
    """The naive hand-built solution for y = ReLU(x): neuron j computes ReLU(x_j) exactly
    for the first m features (W_in[j, j] = W_out[j, j] = 1) and the other n - m outputs
    are always 0. A bias-free ``TwoLayerMLP`` with linear output."""
    n, m = check_positive_int("n_features", n_features), check_positive_int("n_hidden", n_hidden)
    if m > n:
        raise ValueError(f"n_hidden must be <= n_features for the dedicated-neuron baseline, got {m} > {n}")
    model = TwoLayerMLP(n, m, n_instances, out_activation="linear", out_bias=False, device=device)
    eye = torch.eye(n, m, device=model.W_in.device)
    with torch.no_grad():
        model.W_in.copy_(eye.expand(n_instances, n, m))
        model.W_out.copy_(eye.T.expand(n_instances, m, n))
    return model


def select_instances(model: nn.Module, indices: Sequence[int]) -> nn.Module:
    """A copy of a batched model keeping only the given instances (in that order).

    Every parameter and buffer carries the instance axis first, so this slices each of
    them along axis 0. Useful to evaluate a few instances of a large run on big batches.
    """
    import copy

    idx = [int(i) for i in indices]
    if not idx or min(idx) < 0 or max(idx) >= model.n_instances:
        raise ValueError(f"indices must be non-empty and lie in [0, {model.n_instances}), got {indices!r}")
    out = copy.deepcopy(model)
    with torch.no_grad():
        for module in out.modules():
            for name, param in list(module.named_parameters(recurse=False)):
                setattr(module, name, nn.Parameter(param[idx].clone()))
            for name, buf in list(module.named_buffers(recurse=False)):
                module.register_buffer(name, buf[idx].clone())
    return out


# ---------------------------------------------------------------- chapter 5: the frustrated denoiser
def tanh_cubed(z: torch.Tensor) -> torch.Tensor:
    """φ(z) = tanh(z)³: odd, analytic, bounded, φ'(0) = 0 (the post's theory-friendly choice)."""
    return torch.tanh(z).pow(3)


DENOISER_NONLINEARITIES = {"tanh3": tanh_cubed, "gelu": torch.nn.functional.gelu}


class Denoiser(nn.Module):
    """The bias-free sparse denoiser y = D φ(E x), batched over instances.

    Parameters (instance axis first)
        E: [I, h, d]   encoder; row E[k, j] holds neuron j's weights on the d features
        D: [I, d, h]   decoder; column D[k, :, j] is neuron j's output direction

    ``nonlinearity`` is "tanh3" (φ = tanh³) or "gelu". No biases, as in the post.
    Init: E ~ N(0, encoder_init_std²), D ~ N(0, decoder_init_std²), per instance.
    Defaults 1/√(3d) and 1/√(3h): the standard deviation of torch's ``nn.Linear``
    default init (uniform on ±1/√fan_in), i.e. what a plain implementation starts from.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *,
                 nonlinearity: str = "tanh3", encoder_init_std: float | None = None,
                 decoder_init_std: float | None = None, seed: int = 0, device="cpu",
                 instance_ids: Sequence[int] | None = None):
        super().__init__()
        self.n_features = check_positive_int("n_features", n_features)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, tuple(DENOISER_NONLINEARITIES))
        ids = _instance_ids(n_instances, instance_ids)
        e_std = 1 / math.sqrt(3 * self.n_features) if encoder_init_std is None else float(encoder_init_std)
        d_std = 1 / math.sqrt(3 * self.n_hidden) if decoder_init_std is None else float(decoder_init_std)
        if not (e_std >= 0 and d_std >= 0):
            raise ValueError(f"init stds must be >= 0, got encoder {e_std}, decoder {d_std}")
        dev = resolve_device(device)
        # distinct streams for E and D: instance id k -> ids 2k (E) and 2k+1 (D) of the same seed
        self.E = nn.Parameter(init_per_instance((self.n_hidden, self.n_features), e_std, seed,
                                                [2 * i for i in ids]).to(dev))
        self.D = nn.Parameter(init_per_instance((self.n_features, self.n_hidden), d_std, seed,
                                                [2 * i + 1 for i in ids]).to(dev))

    @property
    def n_instances(self) -> int:
        return self.E.shape[0]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """φ(E x): ``[B, I, d] -> [B, I, h]``."""
        return DENOISER_NONLINEARITIES[self.nonlinearity](torch.einsum("bid,ihd->bih", x, self.E))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = D φ(E x): ``[B, I, d] -> [B, I, d]``."""
        return torch.einsum("bih,idh->bid", self.hidden(x), self.D)

"""The computation models: the ReLU hidden layer (privileged basis) and untied MLPs."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.checks import (
    ACTIVATIONS,
    check_choice,
    check_positive_float,
    check_positive_int,
)
from ..core.instances import InstanceModule, init_per_instance


class ReLUHiddenModel(InstanceModule):
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
    Init: W Xavier-normal, std sqrt(2 / (n + m)), biases 0. Not the ToyModel's
    sqrt(1 / (n m)): here a neuron dies only if all its input weights turn negative; from
    Xavier under 1 % of restarts end so and the best restart of a density never does
    (chapter 4 counts them), while the smaller start reached worse losses at the sparsest
    densities in development runs. ``seed``, ``device`` and ``instance_ids`` go to
    ``InstanceModule``.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *, hidden_bias=False,
                 **instances):
        super().__init__(n_features, n_hidden, n_instances, **instances)
        n, m, n_inst = self.n_features, self.n_hidden, len(self.instance_ids)
        self.W = self.normal((n, m), math.sqrt(2.0 / (n + m)))
        self.b = self.zeros(n)
        flags = torch.as_tensor(hidden_bias, dtype=torch.bool).reshape(-1)
        if flags.numel() not in (1, n_inst):
            raise ValueError(
                f"hidden_bias must be a bool or one bool per instance ({n_inst}), "
                f"got {flags.numel()} values"
            )
        flags = flags.expand(n_inst)
        self.b_hidden = self.zeros(m) if flags.any() else None
        # instances without a hidden bias: keep theirs at exactly 0 (None when all have one)
        mask = None if flags.all() or not flags.any() else flags.to(torch.float32)[:, None]
        mask = None if mask is None else mask.to(self.init_device)
        self.register_buffer("hidden_bias_mask", mask)

    @property
    def n_instances(self) -> int:
        return self.W.shape[0]

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """W x [+ b_h], before the hidden ReLU: ``[B, I, n] -> [B, I, m]``."""
        pre = torch.einsum("bin,inm->bim", x, self.W)
        if self.b_hidden is None:
            return pre
        mask = self.hidden_bias_mask
        return pre + (self.b_hidden if mask is None else self.b_hidden * mask)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = ReLU(W x [+ b_h]): ``[B, I, n] -> [B, I, m]``."""
        return torch.relu(self.preactivation(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x' = ReLU(Wᵀ h + b): ``[B, I, n] -> [B, I, n]``."""
        return torch.relu(torch.einsum("bim,inm->bin", self.hidden(x), self.W) + self.b)


class TwoLayerMLP(InstanceModule):
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
    ``seed``, ``device`` and ``instance_ids`` go to ``InstanceModule``.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, *,
                 n_out: int | None = None, hidden_activation: str = "relu",
                 out_activation: str = "relu", hidden_bias: bool = False, out_bias: bool = True,
                 n_active_hidden=None, init_scale: float = 1.0, **instances):
        super().__init__(n_features, n_hidden, n_instances, **instances)
        self.n_out = self.n_features if n_out is None else check_positive_int("n_out", n_out)
        self.hidden_activation = check_choice("hidden_activation", hidden_activation, ACTIVATIONS)
        self.out_activation = check_choice("out_activation", out_activation, ACTIVATIONS)
        n, m, n_out, ids = self.n_features, self.n_hidden, self.n_out, self.instance_ids
        dev = self.init_device
        scale = check_positive_float("init_scale", init_scale)
        # one standard-normal draw per instance, split: W_out is never a copy of W_in's stream
        z = init_per_instance((n * m + m * n_out,), scale, self.seed, ids)
        W_in = z[:, : n * m].reshape(len(ids), n, m) * math.sqrt(2.0 / (n + m))
        W_out = z[:, n * m :].reshape(len(ids), m, n_out) * math.sqrt(2.0 / (m + n_out))
        mask = hidden_mask(n_active_hidden, len(ids), m)
        self.W_in = nn.Parameter((W_in * mask[:, None, :]).to(dev))
        self.W_out = nn.Parameter((W_out * mask[:, :, None]).to(dev))
        # no mask at all when every neuron is active: it would cost a multiply per step
        self.register_buffer("hidden_mask", None if n_active_hidden is None else mask.to(dev))
        self.b_in = self.zeros(m) if hidden_bias else None
        self.b = self.zeros(n_out) if out_bias else None

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
        raise ValueError(
            f"n_active_hidden must be an int or have n_instances={n_instances} entries, "
            f"got {counts.numel()}"
        )
    if counts.is_floating_point() and not torch.equal(counts, counts.round()):
        raise ValueError(f"n_active_hidden must hold integers, got {counts.tolist()[:5]}")
    counts = counts.long()
    if counts.min() < 1 or counts.max() > n_hidden:
        raise ValueError(
            f"n_active_hidden must lie in [1, n_hidden={n_hidden}], got values in "
            f"[{int(counts.min())}, {int(counts.max())}]"
        )
    return (torch.arange(n_hidden)[None, :] < counts[:, None]).float()


def dedicated_neurons_mlp(
    n_features: int, n_hidden: int, n_instances: int = 1, *, device="cpu"
) -> TwoLayerMLP:
    """The naive hand-built solution for y = ReLU(x): neuron j computes ReLU(x_j) exactly
    for the first m features (W_in[j, j] = W_out[j, j] = 1) and the other n - m outputs
    are always 0. A bias-free ``TwoLayerMLP`` with linear output."""
    n, m = (check_positive_int("n_features", n_features), check_positive_int("n_hidden", n_hidden))
    if m > n:
        raise ValueError(
            f"n_hidden must be <= n_features for the dedicated-neuron baseline, got {m} > {n}"
        )
    model = TwoLayerMLP(n, m, n_instances, out_activation="linear", out_bias=False, device=device)
    eye = torch.eye(n, m, device=model.W_in.device)
    with torch.no_grad():
        model.W_in.copy_(eye.expand(n_instances, n, m))
        model.W_out.copy_(eye.T.expand(n_instances, m, n))
    return model

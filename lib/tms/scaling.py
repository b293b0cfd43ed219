"""Superposition and neural scaling (Liu, Liu & Gore): the TMS autoencoder with power-law
feature frequencies, trained at many widths with weight decay of either sign.

Data. Feature i (1-based rank) is active with probability p_i proportional to
i^-(1+alpha), normalised so that sum_i p_i = ``expected_active`` (the paper: 1, about one
active feature per input); an active feature takes a value v ~ U[0, ``value_max``] (the
paper: U[0, 2], so E v = 1), independently of the others.

Model. The ReLU-output autoencoder x' = ReLU(W W^T x + b) of ``lib.tms.model.ToyModel``,
one instance per (alpha, weight decay, width), trained on the plain MSE
(mean over batch and features). ``ScalingModel`` draws the paper's initial weights,
W ~ N(0, 1/m) and b ~ N(0, 1), and lets instances of different widths m share one tensor
``W: [I, n, M]`` (M the largest width): instance k uses its first m_k columns and the
others are zero, and stay exactly zero under training (their gradient, Adam update and
decay are all zero), so instance k is exactly a width-m_k model.

Training. ``lib.core.optim.SignedAdamW`` with the weight decay gamma on W only
(``TrainConfig(optimizer="signed_adamw", decay_parameters=("W",), growth="unit_norm")``),
one gamma per instance; ``fit_grid`` trains a whole grid through ``lib.core.fit`` in a
few groups of padded width. On the CPU the loss ``ReLUAutoencoderMSE`` supplies a
hand-written gradient (``fused_gradients``, tested equal to autograd) that ``train`` uses
instead of autograd.

Measures: the represented fraction (||W_i|| > 1/2), the weak-superposition prediction of
the loss, the mean squared overlap of the represented directions and the Welch bound,
per-feature losses.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..core.checks import (
    check_choice,
    check_positive_float,
    check_positive_int,
    resolve_device,
)
from ..core.fit import fit
from ..core.instances import check_instance_ids, init_per_instance
from ..core.sampling import SparseUniform
from ..core.seeds import instance_seed, stream
from ..core.stats import fit_power_law
from ..core.training import TrainConfig
from . import measures
from .model import ToyModel

SAMPLINGS = ("auto", "dense", "columns", "sparse")


# ---------------------------------------------------------------------------- the data law
def feature_frequencies(n_features: int, alpha: float, expected_active: float = 1.0) -> np.ndarray:
    """p: ``[n]`` with p_i = c i^-(1+alpha), i = 1..n, and sum_i p_i = ``expected_active``.

    Raises ``ValueError`` for n < 1, a non-finite alpha, expected_active <= 0, or a law whose
    most frequent feature would need p_1 > 1.
    """
    n = check_positive_int("n_features", n_features)
    if isinstance(alpha, bool) or not math.isfinite(float(alpha)):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    expected = check_positive_float("expected_active", expected_active)
    weights = np.arange(1, n + 1, dtype=np.float64) ** -(1.0 + float(alpha))
    p = expected * weights / weights.sum()
    if p[0] > 1.0:
        raise ValueError(
            f"expected_active={expected_active} needs p_1 = {p[0]:.3g} > 1 for n_features={n}, "
            f"alpha={alpha}: lower expected_active"
        )
    return p


def value_moments(value_max: float = 2.0) -> tuple[float, float]:
    """(E v, E v^2) of an active value v ~ U[0, value_max]: (1, 4/3) for the paper's U[0, 2]."""
    v = check_positive_float("value_max", value_max)
    return v / 2.0, v**2 / 3.0


def unlearned_feature_loss(p, value_max: float = 2.0) -> np.ndarray:
    """Var x_i = p_i E v^2 - p_i^2 (E v)^2: the loss of a feature the model does not
    represent, whose best output is the constant max(b_i, 0) = E x_i. ``p: [..., n]``."""
    mean, second = value_moments(value_max)
    p = np.asarray(p, dtype=np.float64)
    return p * second - p**2 * mean**2


def weak_superposition_loss(p, n_represented, value_max: float = 2.0) -> np.ndarray:
    """The loss (mean over the n features) when exactly the k most frequent features are
    represented without interference and the others are not: (1/n) sum_{i > k} Var x_i.

    ``p: [n]`` sorted by decreasing frequency; ``n_represented``: k, an int or an array of
    ints in [0, n]. For p_i ~ i^-(1+alpha) and 1 << k << n it falls as k^-alpha.
    """
    p = np.asarray(p, dtype=np.float64)
    var = unlearned_feature_loss(p, value_max)
    tail = np.concatenate([np.cumsum(var[::-1])[::-1], [0.0]])  # tail[k] = sum_{i >= k}
    k = np.asarray(n_represented)
    if np.any(k < 0) or np.any(k > p.size) or np.any(k != np.round(k)):
        raise ValueError(f"n_represented must be integers in [0, n={p.size}], got {k!r}")
    return tail[k.astype(int)] / p.size


# ---------------------------------------------------------------------------- model and loss
class ScalingModel(ToyModel):
    """The ReLU-output TMS autoencoder at the paper's initialisation, instances of
    different widths in one tensor.

    Parameters (instance axis first)
        W: [I, n, M]   instance k: rows N(0, 1/m_k) on its first m_k columns, zero beyond
        b: [I, n]      N(0, bias_std^2)
    Buffer ``widths: [I]`` (m_k). Instance k's W is drawn from (seed, 2 id_k) and its b from
    (seed, 2 id_k + 1) alone: neither depends on M or on the other instances.
    """

    def __init__(self, n_features: int, widths: Sequence[int], *, bias_std: float = 1.0,
                 seed: int = 0, device="cpu", instance_ids: Sequence[int] | None = None):
        widths = [check_positive_int("widths entry", m) for m in widths]
        ids = check_instance_ids(len(widths), instance_ids)
        super().__init__(n_features, max(widths), len(widths), activation="relu",
                         init_std=1.0, seed=seed, device="cpu", instance_ids=ids)
        bias_std = check_positive_float("bias_std", bias_std)
        n, dev = self.n_features, resolve_device(device)
        W = torch.zeros(len(widths), n, max(widths))
        for k, (iid, m) in enumerate(zip(ids, widths)):
            gen = torch.Generator().manual_seed(instance_seed(seed, 2 * iid))
            W[k, :, :m] = torch.randn(n, m, generator=gen) / math.sqrt(m)
        b = init_per_instance((n,), bias_std, seed, [2 * i + 1 for i in ids])
        self.W = torch.nn.Parameter(W.to(dev))
        self.b = torch.nn.Parameter(b.to(dev))
        self.register_buffer("widths", torch.tensor(widths, dtype=torch.long, device=dev))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x' = ReLU(W^T W x + b): ``[B, I, n] -> [B, I, n]``; x may be a sparse batch."""
        return super().forward(x.to_dense() if x.is_sparse else x)


class ReLUAutoencoderMSE:
    """The plain MSE, mean over batch and features: ``loss(output, target) -> [I]``, plus a
    hand-written gradient for ``x' = ReLU(W W^T x + b)`` (``fused_gradients``).

    With h = x W, z = h W^T + b and G = 2 (ReLU(z) - y) 1[z > 0] / (B n):

        dL/dW = G^T h + x^T (G W),      dL/db = sum_batch G.

    ``fused_gradients`` computes the loss and these gradients a few instances at a time
    (``chunk_elements`` batch entries per chunk, so that a chunk stays in the CPU's cache),
    in one pass where autograd makes about five over the whole ``[I, B, n]`` batch. On a
    sparse batch (``SparseUniform(layout="sparse")``) the products with x, h = x W and
    x^T (G W), read only the active entries, and (ReLU(z) - x)^2 is ReLU(z)^2 corrected at
    them. ``tests/tms/test_scaling.py`` checks both paths against autograd; ``bench`` (case
    "scaling-500x32") times them against a plain loop.
    """

    def __init__(self, chunk_elements: int = 1 << 18):
        self.chunk_elements = check_positive_int("chunk_elements", chunk_elements)

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.to_dense() if target.is_sparse else target
        return (output - target).pow(2).mean(dim=(0, 2))

    def fused_gradients(self, model: torch.nn.Module, x: torch.Tensor,
                        y: torch.Tensor) -> torch.Tensor:
        """The per-instance loss ``[I]`` of ``model`` on ``x, y: [B, I, n]``; sets
        ``model.W.grad`` and ``model.b.grad`` (those that require grad) to the gradient of
        the sum."""
        if getattr(model, "activation", None) != "relu" or not hasattr(model, "b"):
            raise ValueError(
                "fused_gradients needs a ReLU-output ToyModel (parameters W and b), got "
                f"{type(model).__name__}"
            )
        W, b = model.W.detach(), model.b.detach()
        if x.is_sparse and y is x:
            loss, dW, db = self._sparse(W, b, x)
        else:
            loss, dW, db = self._dense(W, b, x.to_dense() if x.is_sparse else x,
                                       y.to_dense() if y.is_sparse else y)  # fmt: skip
        if model.W.requires_grad:
            model.W.grad = dW
        if model.b.requires_grad:
            model.b.grad = db
        return loss

    def _dense(self, W, b, x, y):
        xi = x.transpose(0, 1).contiguous()  # [I, B, n]: a view of the sampler's layout
        yi = xi if y is x else y.transpose(0, 1).contiguous()
        n_inst, batch, n = xi.shape
        chunk = max(1, self.chunk_elements // (batch * n))
        scale = 2.0 / (batch * n)
        loss = torch.empty(n_inst, dtype=W.dtype, device=W.device)
        dW, db = torch.empty_like(W), torch.empty_like(b)
        for s in range(0, n_inst, chunk):
            sl = slice(s, s + chunk)
            Wc, xc = W[sl], xi[sl]
            h = torch.bmm(xc, Wc)  # [c, B, m]
            r = torch.baddbmm(b[sl, None, :], h, Wc.transpose(1, 2)).relu_()  # ReLU(z)
            err = r - yi[sl]
            loss[sl] = torch.linalg.vector_norm(err.flatten(1), dim=1).square_() / (batch * n)
            g = torch.ops.aten.threshold_backward(err, r, 0.0)  # err where z > 0, else 0
            torch.bmm(g.transpose(1, 2), h, out=dW[sl])
            dW[sl].baddbmm_(xc.transpose(1, 2), torch.bmm(g, Wc)).mul_(scale)
            torch.sum(g, dim=1, out=db[sl]).mul_(scale)
        return loss, dW, db

    def _sparse(self, W, b, x):
        """The autoencoder's loss and gradients from the active entries of ``x`` (sparse
        ``[B, I, n]``): G = ReLU(z) everywhere but there, G = (ReLU(z) - v) 1[z > 0]."""
        x = x.coalesce()  # each entry once
        (sample, inst, feat), value = x.indices(), x.values()
        batch, n_inst, n = x.shape
        m = W.shape[-1]
        order = torch.argsort(inst, stable=True)
        sample, inst, feat, value = sample[order], inst[order], feat[order], value[order]
        starts = torch.cat([inst.new_zeros(1), torch.bincount(inst, minlength=n_inst).cumsum(0)])
        chunk = max(1, self.chunk_elements // (batch * n))
        scale = 2.0 / (batch * n)
        loss = torch.empty(n_inst, dtype=W.dtype, device=W.device)
        dW, db = torch.empty_like(W), torch.empty_like(b)
        for s in range(0, n_inst, chunk):
            e = min(s + chunk, n_inst)
            a0, a1 = int(starts[s]), int(starts[e])
            k, v = inst[a0:a1] - s, value[a0:a1, None]
            row = k * batch + sample[a0:a1]  # the entry's sample, a row of [c B, m]
            frow = k * n + feat[a0:a1]  # its feature, a row of [c n, m]
            flat = row * n + feat[a0:a1]  # its place in [c B n]
            Wc = W[s:e]
            Wf = Wc.reshape(-1, m)
            h = W.new_zeros((e - s) * batch, m).index_add_(0, row, Wf[frow] * v)
            h = h.view(e - s, batch, m)
            r = torch.baddbmm(b[s:e, None, :], h, Wc.transpose(1, 2)).relu_()
            rf = r.view(-1)
            ra = rf[flat]
            sq = torch.linalg.vector_norm(r.view(e - s, -1), dim=1).square_()
            loss[s:e] = sq.index_add_(0, k, value[a0:a1] * (value[a0:a1] - 2 * ra)) / (
                batch * n)
            rf[flat] = torch.where(ra > 0, ra - value[a0:a1], torch.zeros_like(ra))  # r -> G
            gW = torch.bmm(r, Wc)  # [c, B, m]
            dWc = torch.bmm(r.transpose(1, 2), h)  # G^T h
            dWc.view(-1, m).index_add_(0, frow, gW.view(-1, m)[row] * v)  # + x^T (G W)
            dW[s:e] = dWc.mul_(scale)
            torch.sum(r, dim=1, out=db[s:e]).mul_(scale)
        return loss, dW, db


@dataclass
class ScalingConfig:
    """Instances of the TMS autoencoder on power-law feature frequencies.

    n_features       n
    widths           ``[I]`` hidden width m of each instance
    alphas           ``[I]`` exponent of each instance's frequency law p_i ~ i^-(1+alpha)
    expected_active  sum_i p_i, the expected number of active features per input
    value_max        active values ~ U[0, value_max]
    bias_std         std of b's initial entries
    instance_ids     ``[I]`` ids that seed the initial weights (default 0 .. I-1): give the
                     instances of a grid trained in several groups distinct ids
    sampling         how batches are drawn: "dense" (``SparseUniform(method="dense")``),
                     "columns" (method "columns", CPU only), "sparse" (the same walk, the
                     batch as a sparse tensor of its active entries, CPU only), or "auto"
                     ("sparse" on the CPU, else "dense")
    """

    n_features: int
    widths: Sequence[int]
    alphas: Sequence[float]
    expected_active: float = 1.0
    value_max: float = 2.0
    bias_std: float = 1.0
    instance_ids: Sequence[int] | None = None
    sampling: str = "auto"
    _p: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.n_features = check_positive_int("n_features", self.n_features)
        self.widths = [check_positive_int("widths entry", m) for m in np.atleast_1d(self.widths)]
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=np.float64))
        if alphas.ndim != 1 or alphas.size != len(self.widths):
            raise ValueError(
                f"alphas must give one exponent per instance ({len(self.widths)}), got "
                f"shape {alphas.shape}"
            )
        self.alphas = alphas.tolist()
        self.value_max = check_positive_float("value_max", self.value_max)
        self.bias_std = check_positive_float("bias_std", self.bias_std)
        self.instance_ids = check_instance_ids(len(self.widths), self.instance_ids)
        check_choice("sampling", self.sampling, SAMPLINGS)
        laws = {a: feature_frequencies(self.n_features, a, self.expected_active)
                for a in set(self.alphas)}  # fmt: skip
        self._p = np.stack([laws[a] for a in self.alphas])

    @property
    def n_instances(self) -> int:
        return len(self.widths)

    @property
    def n_hidden(self) -> int:
        """M, the width of the shared tensor W (the largest width)."""
        return max(self.widths)

    @property
    def feature_probability_matrix(self) -> np.ndarray:
        """``[I, n]`` probability p_i that each feature is active."""
        return self._p

    def build_model(self, *, seed: int = 0, device="cpu") -> ScalingModel:
        """A fresh ``ScalingModel`` (instance k drawn from (seed, its instance id))."""
        return ScalingModel(self.n_features, self.widths, bias_std=self.bias_std, seed=seed,
                            device=device, instance_ids=self.instance_ids)  # fmt: skip

    def build_sampler(self, *, seed: int = 0, device="cpu") -> SparseUniform:
        """The data: ``SparseUniform`` on [0, value_max] at each instance's frequencies."""
        dev = resolve_device(device)
        method = self.sampling
        if method == "auto":
            method = "sparse" if dev.type == "cpu" else "dense"
        layout = "sparse" if method == "sparse" else "strided"
        return SparseUniform(self._p, low=0.0, high=self.value_max, seed=seed, device=dev,
                             method="columns" if method == "sparse" else method,
                             layout=layout)  # fmt: skip

    def build_loss(self) -> ReLUAutoencoderMSE:
        """The plain MSE, with its hand-written gradient for the CPU."""
        return ReLUAutoencoderMSE()

    def build_target(self):
        """None: the target is the input."""
        return None


def growth_train_config(weight_decay, *, steps: int, batch_size: int, lr: float,
                        warmup_steps: int, final_lr_ratio: float = 0.05,
                        growth: str = "unit_norm", log_every: int = 100) -> TrainConfig:
    """The paper's optimisation: ``SignedAdamW`` with decay ``weight_decay`` (one per
    instance) on W only, linear warm-up then cosine to ``final_lr_ratio`` of lr."""
    return TrainConfig(steps=steps, batch_size=batch_size, lr=lr, optimizer="signed_adamw",
                       weight_decay=weight_decay, decay_parameters=("W",), growth=growth,
                       schedule="warmup_cosine", warmup_steps=warmup_steps,
                       final_lr_ratio=final_lr_ratio, log_every=log_every)  # fmt: skip


# ---------------------------------------------------------------------------- a grid of runs
def padded_width(m: int, pad_to: Sequence[int]) -> int:
    """The smallest entry of ``pad_to`` that is >= m (m itself if none is)."""
    return min([w for w in pad_to if w >= m] or [m])


@dataclass
class GridFit:
    """A trained grid (``fit_grid``): one entry per instance, in grid order.

    alpha, decay, width  ``[I]`` the instance's settings
    W                    list of ``[n, m_k]`` trained directions (the unused columns cut)
    b                    ``[I, n]``
    per_feature          ``[I, n]`` held-out E (x'_i - x_i)^2, feature by feature
    eval_loss            ``[I]`` held-out loss, the mean of ``per_feature`` over features
    steps, history       ``[T]`` steps and ``[T, I]`` training loss of each logging window
    groups               list of (instance indices, ScalingConfig, trained model): the
                         padded-width groups, each one ``fit`` call
    seconds              training wall time, all groups
    """

    alpha: np.ndarray
    decay: np.ndarray
    width: np.ndarray
    W: list
    b: torch.Tensor
    per_feature: np.ndarray
    eval_loss: np.ndarray
    steps: np.ndarray
    history: np.ndarray
    groups: list
    seconds: float

    def select(self, *, alpha=None, decay=None, width=None) -> np.ndarray:
        """Indices of the instances with these settings (None: any), in grid order."""
        keep = np.ones(self.alpha.size, dtype=bool)
        for values, wanted in ((self.alpha, alpha), (self.decay, decay), (self.width, width)):
            if wanted is not None:
                keep &= np.isclose(values, wanted)
        return np.flatnonzero(keep)

    def curve(self, alpha: float, decay: float) -> np.ndarray:
        """Indices of the (alpha, decay) instances, ordered by width."""
        idx = self.select(alpha=alpha, decay=decay)
        return idx[np.argsort(self.width[idx], kind="stable")]



def grid_settings(alphas, decays, widths, extra=()) -> tuple[np.ndarray, ...]:
    """``(alpha, decay, width)``, each ``[I]``: every (alpha, decay, width) of the three
    lists, alpha slowest, then the ``extra`` (alpha, decay, width) triples not already in."""
    rows = [(float(a), float(d), int(m)) for a in alphas for d in decays for m in widths]
    for a, d, m in extra:
        if (float(a), float(d), int(m)) not in rows:
            rows.append((float(a), float(d), int(m)))
    if not rows:
        raise ValueError("the grid is empty: give at least one alpha, decay and width")
    alpha, decay, width = (np.array(v) for v in zip(*rows))
    return alpha, decay, width.astype(np.int64)


def chapter_grid(alphas, widths, width_decays, *, sweep_width: int, sweep_decays=(),
                 strong_decay: float, weak_decay: float) -> tuple[np.ndarray, ...]:
    """The grid of chapter 8: every (alpha, decay, width) of ``width_decays`` x ``widths``,
    plus ``sweep_decays`` at ``sweep_width`` (``grid_settings``). Raises ``ValueError``
    naming the parameter when the strong or weak decay is not trained at every width, the
    sweep width is not one of the widths, or fewer than 3 widths are given (no fit)."""
    widths = [check_positive_int("widths entry", m) for m in widths]
    if len(set(widths)) < 3:
        raise ValueError(f"widths must hold at least 3 distinct widths to fit, got {widths}")
    decays = [float(d) for d in width_decays]
    for name, value in (("strong_decay", strong_decay), ("weak_decay", weak_decay)):
        if not np.isclose(decays, float(value)).any():
            raise ValueError(f"{name}={value} must be one of width_decays={decays}")
    if sweep_width not in widths:
        raise ValueError(f"sweep_width={sweep_width} must be one of widths={widths}")
    extra = [(a, d, sweep_width) for a in alphas for d in sweep_decays]
    return grid_settings(alphas, decays, widths, extra)


def fit_grid(n_features: int, alpha, decay, width, train_config: TrainConfig, *, seed: int,
             device="auto", pad_to: Sequence[int] = (16, 32, 64, 128), eval_batches: int = 16,
             eval_batch_size: int = 1024, expected_active: float = 1.0,
             value_max: float = 2.0, progress: bool = True, untrained: bool = False) -> GridFit:
    """Train every (alpha, decay, width) instance through ``lib.core.fit``, grouped by
    padded width (``padded_width(m, pad_to)``): one ``fit`` call per group, instance ids
    = grid positions (so initial weights do not depend on the grouping), each group's data
    from the stream ``stream(seed, "width group M")`` and its held-out data
    (``eval_batches`` of ``eval_batch_size``) from ``stream(that, "eval")``.
    ``train_config.weight_decay`` is replaced by each group's decays. ``untrained=True``
    skips training: the initial weights, evaluated the same way (a negative control).
    """
    alpha, decay = np.asarray(alpha, dtype=np.float64), np.asarray(decay, dtype=np.float64)
    width = np.asarray(width, dtype=np.int64)
    if not (alpha.shape == decay.shape == width.shape) or alpha.ndim != 1:
        raise ValueError(
            f"alpha, decay and width must be 1-D of one length, got {alpha.shape}, "
            f"{decay.shape}, {width.shape}"
        )
    dev = resolve_device(device)
    n_inst = alpha.size
    W, b = [None] * n_inst, torch.zeros(n_inst, n_features)
    per_feature, groups, seconds = np.zeros((n_inst, n_features)), [], 0.0
    steps, history = None, None
    padded = np.array([padded_width(int(m), pad_to) for m in width])
    for M in sorted(set(padded.tolist())):
        ids = np.flatnonzero(padded == M)
        config = ScalingConfig(n_features, width[ids].tolist(), alpha[ids].tolist(),
                               expected_active=expected_active, value_max=value_max,
                               instance_ids=ids.tolist())  # fmt: skip
        group_seed = stream(seed, f"width group {M}")
        if untrained:
            model = config.build_model(seed=seed, device=dev)
        else:
            tc = dataclasses.replace(train_config, weight_decay=tuple(decay[ids].tolist()))
            run = fit(config, tc, seed=seed, device=dev,
                      sampler=config.build_sampler(seed=group_seed, device=dev),
                      progress=progress, description=f"width group {M}")  # fmt: skip
            model = run.model
            seconds += run.history.seconds
            if history is None:
                steps, history = run.history.step, np.zeros((run.history.step.size, n_inst))
            history[:, ids] = run.history.loss
        if eval_batches:
            held_out = config.build_sampler(seed=stream(group_seed, "eval"), device=dev)
            per_feature[ids] = per_feature_loss(model, held_out, eval_batch_size, eval_batches)
        for j, k in enumerate(ids):
            W[k] = model.W[j, :, : width[k]].detach().cpu().clone()
        b[ids] = model.b.detach().cpu()
        groups.append((ids, config, model))
    if history is None:
        steps, history = np.zeros(0, dtype=np.int64), np.zeros((0, n_inst))
    return GridFit(alpha, decay, width, W, b, per_feature, per_feature.mean(-1), steps,
                   history, groups, seconds)


def loss_exponents(grid: GridFit, decay: float, alphas, *, loss=None,
                   level: float = 0.95) -> dict:
    """``{alpha: fit_power_law(widths, loss, level)}`` of the (alpha, decay) curves of a
    grid (``loss``: ``[I]`` another per-instance quantity than the held-out loss;
    ``level``: the coverage of each exponent's t-interval)."""
    values = grid.eval_loss if loss is None else np.asarray(loss)
    out = {}
    for a in alphas:
        idx = grid.curve(a, decay)
        out[a] = fit_power_law(grid.width[idx], values[idx], level)
    return out


def prediction_gaps(fits: dict, predicted: dict) -> dict:
    """``{f"{alpha:g}": (exponent - predicted) / half-width}`` per alpha of ``fits``
    (``{alpha: fit_power_law(...)}``, e.g. ``loss_exponents``) against ``predicted``
    (``{alpha: exponent}``): |gap| <= 1 when the prediction lies in the fit's interval."""
    return {f"{a:g}": (f["exponent"] - predicted[a]) / (0.5 * (f["high"] - f["low"]))
            for a, f in fits.items()}  # fmt: skip


def weak_prediction_exponents(n_features: int, alphas, widths, *,
                              expected_active: float = 1.0, value_max: float = 2.0) -> dict:
    """``{alpha: exponent}`` of ``weak_superposition_loss`` with k = m over the widths: the
    weak-superposition law at this n (the m most frequent features represented)."""
    m = np.asarray(sorted(widths))
    return {a: fit_power_law(m, weak_superposition_loss(
        feature_frequencies(n_features, a, expected_active), m, value_max))["exponent"]
        for a in alphas}  # fmt: skip


def decay_sweep(grid: GridFit, alpha: float, width: int, values=None):
    """(decays ``[D]`` ascending, values ``[D]``) of the (alpha, width) instances of a grid;
    ``values`` ``[I]`` defaults to the represented fraction of each trained W."""
    idx = grid.select(alpha=alpha, width=width)
    idx = idx[np.argsort(grid.decay[idx], kind="stable")]
    if values is None:
        values = np.array([represented_fraction(W) for W in grid.W])
    return grid.decay[idx], np.asarray(values)[idx]


# ---------------------------------------------------------------------------- measures
@torch.no_grad()
def per_feature_loss(model: torch.nn.Module, sampler, batch_size: int,
                     n_batches: int) -> np.ndarray:
    """``[I, n]`` Monte-Carlo E (x'_i - x_i)^2 of an autoencoder, feature by feature."""
    total = None
    for _ in range(check_positive_int("n_batches", n_batches)):
        x = sampler(check_positive_int("batch_size", batch_size))
        x = x.to_dense() if x.is_sparse else x
        err = (model(x) - x).pow(2).mean(dim=0).double()
        total = err if total is None else total + err
    return (total / n_batches).cpu().numpy()


def represented_fraction(W, threshold: float = 0.5) -> np.ndarray:
    """``[...]``: the fraction of the n features with ||W_i|| > threshold (the paper's
    fraction of represented features at 1/2); W ``[..., n, m]``."""
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    return measures.represented(W, threshold).double().mean(dim=-1).cpu().numpy()


def mean_squared_overlap(W, threshold: float = 0.5) -> float:
    """The mean over ordered pairs i != j of represented features (||W_i|| > threshold) of
    the squared cosine (W_i . W_j)^2 / (|W_i|^2 |W_j|^2), for one model ``W: [n, m]``.

    Independent uniformly random directions in R^m give 1/m in expectation; any k unit
    vectors give at least ``welch_bound(k, m)``. NaN when fewer than two are represented.
    """
    W = torch.as_tensor(W).detach().double()
    if W.ndim != 2:
        raise ValueError(f"W must be one model's [n, m], got shape {tuple(W.shape)}")
    V = W[measures.represented(W, threshold)]
    k = V.shape[0]
    if k < 2:
        return float("nan")
    V = V / V.norm(dim=-1, keepdim=True)
    G2 = (V @ V.T).pow(2)
    return float((G2.sum() - G2.diagonal().sum()) / (k * (k - 1)))


def welch_bound(k, m) -> np.ndarray:
    """Lower bound on the mean over ordered pairs i != j of (u_i . u_j)^2 for k unit
    vectors in R^m: (k - m) / (m (k - 1)) when k > m (reached by tight frames), else 0."""
    k = np.asarray(k, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k > m, (k - m) / (m * (k - 1)), 0.0)


def random_directions_like(W, *, seed: int) -> torch.Tensor:
    """The rows of ``W: [n, m]`` turned to independent uniformly random directions, norms
    kept (a negative control of a geometric statistic)."""
    W = torch.as_tensor(W).detach().double()
    gen = torch.Generator().manual_seed(int(seed) % 2**63)
    R = torch.randn(W.shape, generator=gen, dtype=torch.float64)
    return R / R.norm(dim=-1, keepdim=True) * W.norm(dim=-1, keepdim=True)


def exponents(fit_or_curves, x, *, level: float = 0.95) -> dict:
    """``{key: fit_power_law(x, y)}`` for a dict ``{key: y [k]}`` of curves over x."""
    return {key: fit_power_law(x, y, level) for key, y in fit_or_curves.items()}


def rank_split(per_feature: np.ndarray, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """The loss ``[..., n]`` per feature split into the contributions (to the mean over
    features) of the frequent ranks 1..cut and of the rare ranks cut+1..n."""
    per_feature = np.asarray(per_feature, dtype=np.float64)
    n = per_feature.shape[-1]
    if not 0 < cut < n:
        raise ValueError(f"cut must lie in [1, n - 1 = {n - 1}], got {cut!r}")
    return per_feature[..., :cut].sum(-1) / n, per_feature[..., cut:].sum(-1) / n


# ---------------------------------------------------------------------------- figures
def plot_power_laws(ax, x, curves: dict, *, fits: dict | None = None, xlabel: str = "width m",
                    ylabel: str = "loss", markers: str = "os^vD<>"):
    """Log-log curves ``{label: y [k]}`` over x, each with its fitted line and exponent in
    the legend when ``fits`` (``{label: fit_power_law(...)}``) is given."""
    x = np.asarray(x, dtype=np.float64)
    for j, (label, y) in enumerate(curves.items()):
        line, = ax.loglog(x, y, markers[j % len(markers)], ms=4, label=label)
        if fits is not None and label in fits:
            f = fits[label]
            ax.loglog(x, np.exp(f["intercept"]) * x ** -f["exponent"], "-", lw=0.8,
                      color=line.get_color(),
                      label=f"  slope -{f['exponent']:.2f} [{f['low']:.2f}, {f['high']:.2f}]")
    ax.set_xticks(x, [f"{v:g}" for v in x])  # the grid's widths, no crowded minor labels
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_frequency_laws(ax, n_features: int, alphas, expected_active: float = 1.0):
    """p_i against rank i, log-log, one line per alpha."""
    rank = np.arange(1, n_features + 1)
    for a in alphas:
        ax.loglog(rank, feature_frequencies(n_features, a, expected_active),
                  label=f"alpha = {a:g}")  # fmt: skip
    ax.set_xlabel("feature rank i")
    ax.set_ylabel("frequency p_i")
    return ax


def new_figure(ncols: int, width: float = 3.4, height: float = 3.0):
    """A row of ``ncols`` axes."""
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0]

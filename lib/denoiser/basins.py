"""Basins of sign patterns: encoders started at, or held in, a given sign structure.

The post's picture of training: early on every encoder weight settles near 0 or near ±c,
so a model sits in the *basin* of a sign matrix S (``lib.denoiser.structure``); the
continuous weights then find the local minimum of that basin. Its frustration claim is a
statement about these minima: with superposition, the basin of essentially any iid random
S (of the right density) is about as deep as the learned one ("compare the loss in a
random basin to the learned loss").

Here a basin's minimum is found by training with the sign pattern *held*: after every
optimiser step ``HeldSignPattern`` projects the encoder back into the basin (through the
``project`` hook of ``lib.core.fit.fit``), so only the continuous values move. The same
start trained *free* (no projection) shows where the dynamics take the pattern instead.

Patterns: the learned S itself (a check of the procedure: it should come back to the
learned loss), ``iid_sign_matrix`` (the post's null), and ``degree_matched_pattern``
(random wiring with exactly the learned row and column degrees). Every function takes
``[I, h, d]`` patterns, one per instance.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..core.checks import check_nonnegative_int
from ..core.fit import Fit, evaluate_config, fit
from ..core.training import TrainConfig
from .structure import column_degrees, fixed_degree_support, row_degrees


def sign_basin_encoder(signs, centre) -> torch.Tensor:
    """The centre of the basin of a sign matrix: E = c · S, ``[I, h, d]`` float32.

    ``centre``: a scalar or one value per matrix (``[I]``).
    """
    S = torch.as_tensor(signs, dtype=torch.float32)
    c = torch.as_tensor(centre, dtype=torch.float32)
    return c.reshape(-1, *([1] * (S.ndim - 1))) * S if c.ndim else c * S


class HeldSignPattern:
    """A projection that keeps a model's encoder in the basin of a sign pattern.

    ``signs``: ``[I, h, d]`` in {-1, 0, 1}, one pattern per instance; ``margin`` and
    ``inner``: scalars or ``[I]``, with 0 <= inner < margin. After the projection, on the
    support of S every weight has the sign of S and magnitude >= margin
    (E = S · max(S · E, margin)); off the support every weight lies in [-inner, inner]
    (``inner=0``: exactly 0). So the sign structure of every instance at any threshold
    in [inner, margin) is its pattern. Default ``inner``: margin / 2 (the central cluster
    keeps small values, as in a learned model). Called as ``project(model)`` on
    ``model.<parameter>`` (default ``E``), without gradients.
    """

    def __init__(self, signs, margin, inner=None, *, parameter: str = "E"):
        self.signs = torch.as_tensor(signs).to(torch.int8)
        if self.signs.ndim != 3:
            raise ValueError(f"signs must be [I, h, d], got shape {tuple(self.signs.shape)}")
        n = self.signs.shape[0]
        margin = torch.as_tensor(margin, dtype=torch.float32).reshape(-1)
        inner = margin / 2 if inner is None else torch.as_tensor(inner, dtype=torch.float32)
        inner = inner.reshape(-1)
        if margin.numel() not in (1, n) or inner.numel() not in (1, n):
            raise ValueError(f"margin and inner must be scalars or one per pattern ({n}), "
                             f"got {margin.numel()} and {inner.numel()} values")
        if not bool((inner >= 0).all() and (margin > inner).all()):
            raise ValueError(f"need 0 <= inner < margin, got inner {inner}, margin {margin}")
        self.margin, self.inner = margin.reshape(-1, 1, 1), inner.reshape(-1, 1, 1)
        self.parameter = parameter
        self._device = None

    def _to(self, device) -> None:
        if self._device != device:
            self.signs = self.signs.to(device)
            self.margin, self.inner = self.margin.to(device), self.inner.to(device)
            self._sign = self.signs.to(torch.float32)
            self._support = self.signs != 0
            self._device = device

    def __call__(self, model: torch.nn.Module) -> None:
        E = getattr(model, self.parameter)
        if E.shape != self.signs.shape:
            raise ValueError(
                f"model.{self.parameter} has shape {tuple(E.shape)}, the patterns "
                f"{tuple(self.signs.shape)}"
            )
        self._to(E.device)
        held = self._sign * torch.maximum(self._sign * E, self.margin.expand_as(E))
        inner = self.inner.expand_as(E)
        E.copy_(torch.where(self._support, held, torch.minimum(torch.maximum(E, -inner), inner)))


def degree_matched_pattern(S, rng: np.random.Generator) -> torch.Tensor:
    """A random sign pattern with exactly the row and column degrees of ``S: [h, d]``.

    The support is a random simple bipartite graph with those degrees
    (``fixed_degree_support``); every row gets one random sign. ``[h, d]`` int8.
    """
    S = torch.as_tensor(S)
    if S.ndim != 2:
        raise ValueError(f"S must be one matrix [h, d], got shape {tuple(S.shape)}")
    A = fixed_degree_support(row_degrees(S).numpy(), column_degrees(S).numpy(), rng)
    signs = rng.choice([-1, 1], size=(A.shape[0], 1))
    return torch.as_tensor(A * signs, dtype=torch.int8)


def support_moved(start, end) -> torch.Tensor:
    """Entries of a sign pattern that changed (zero <-> nonzero, or sign), relative to the
    size of the starting support: ``[..., h, d]`` pairs -> ``[...]`` float64."""
    start, end = torch.as_tensor(start), torch.as_tensor(end)
    changed = (start != end).sum(dim=(-1, -2)).to(torch.float64)
    return changed / (start != 0).sum(dim=(-1, -2)).clamp_min(1).to(torch.float64)


def train_in_basins(config, patterns, centre, train_config: TrainConfig, *,
                    decoder_steps: int, held: bool = True, margin=None, inner=None,
                    seed: int = 0, device="auto", eval_batches: int = 0,
                    eval_seed: int | None = None, description: str = "basins",
                    progress: bool = True) -> Fit:
    """Train one model per sign pattern, started in its basin; return the ``Fit``.

    config          the family's config (e.g. ``DenoiserConfig``): one instance is made
                    per pattern (``n_instances`` replaced)
    patterns        ``[I, h, d]`` sign patterns
    centre          c, scalar or ``[I]``: the encoder starts at E = c · S
                    (``sign_basin_encoder``)
    train_config    the schedule of the main stage (e.g. the learned model's)
    decoder_steps   first a decoder-only fit at the same lr (the encoder frozen), so that
                    the main stage does not start from a random read-out
    held            hold the pattern during the main stage (``HeldSignPattern`` with
                    ``margin``, default c / 2, and ``inner``, default margin / 2), or
                    leave it free
    seed            seeds the models' fresh decoders (``config.build_model``) and their
                    data stream
    eval_batches    if > 0, ``eval_loss`` on held-out batches of the stream of
                    ``eval_seed`` (default ``seed``): pass the learned model's seed to
                    score both on the same stream (``lib.core.fit.evaluate_config``)

    The decoder-only fit and the main stage run through ``lib.core.fit.fit`` (the first
    with ``initial=`` and ``frozen=("E",)``, the second with ``project=``), so a basin is
    trained exactly like the learned model, and on the same data law.
    """
    P = torch.as_tensor(patterns).to(torch.int8)
    if P.ndim != 3:
        raise ValueError(f"patterns must be [I, h, d], got shape {tuple(P.shape)}")
    decoder_steps = check_nonnegative_int("decoder_steps", decoder_steps)
    basin_config = replace(config, n_instances=P.shape[0])
    E0 = sign_basin_encoder(P, centre)
    kwargs = dict(seed=seed, device=device, progress=progress)
    run = None
    if decoder_steps:
        decoder = replace(train_config, steps=decoder_steps, schedule="constant",
                          warmup_steps=0, decay_steps=0,
                          log_every=min(train_config.log_every, decoder_steps))
        run = fit(basin_config, decoder, initial={"E": dict(enumerate(E0))},
                  frozen=("E",), description=f"{description}: decoder", **kwargs)
    c = torch.as_tensor(centre, dtype=torch.float32).reshape(-1)
    margin = c / 2 if margin is None else margin
    project = HeldSignPattern(P, margin, inner) if held else None
    start = {} if run else {"initial": {"E": dict(enumerate(E0))}}
    result = fit(basin_config, train_config, model=run.model if run else None,
                 sampler=run.sampler if run else None, project=project,
                 description=description, **start, **kwargs)
    if eval_batches:
        result.eval_loss = evaluate_config(
            result.model, basin_config, seed=seed if eval_seed is None else eval_seed,
            batch_size=train_config.batch_size, n_batches=eval_batches)
    return result

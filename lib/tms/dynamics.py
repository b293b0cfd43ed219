"""Learning dynamics of superposition (TMS, "Superposition and Learning Dynamics").

Snapshots of the weights during training (``lib.core.fit(..., snapshot_steps=...)``,
cheap: one copy at each chosen step), then everything else afterwards:

- the loss of every snapshot on one fixed batch (``snapshot_losses``);
- *energy-level jumps*: changes of a feature's dimensionality D_i(t) from one plateau
  to another (``dimensionality_jumps``), features jumping together grouped into events
  (``group_events``);
- *loss drops*: stretches where the loss falls much faster (in log time) than on the
  plateaus beside them (``loss_drops``);
- matching the two in log time, with the rate expected by chance (``match_events``),
  per instance and pooled, with a next-instance control (``jump_drop_census``);
- for features in sets (two correlated triples in m = 3): a coarse geometry label per
  snapshot (``set_geometry_label``) and the trajectory of each instance
  (``set_trajectories``).

Conventions: snapshots ``W: [S, I, n, m]`` at steps ``steps: [S]`` (instance axis after
the snapshot axis), per-feature series ``D: [S, n]`` for one instance.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..core.checks import check_nonnegative_int, check_positive_int, resolve_device
from ..core.fit import fit
from ..core.tensors import as_float64, as_numpy64, cosine_similarity
from .measures import feature_dimensionality, feature_norms


# ----------------------------------------------------------------------------- snapshots
def log_spaced_steps(total_steps: int, n_snapshots: int, *, first: int = 1) -> np.ndarray:
    """Sorted unique steps ``[S]`` from 0 to ``total_steps``, log-spaced from ``first``.

    Always holds 0 (the initial weights) and ``total_steps`` (the end). Early on the grid
    is finer than one step, so rounding merges points and S can be below ``n_snapshots``.
    """
    total_steps = check_positive_int("total_steps", total_steps)
    n_snapshots = check_positive_int("n_snapshots", n_snapshots)
    if n_snapshots < 2:
        raise ValueError(f"n_snapshots must be >= 2, got {n_snapshots}")
    if not 1 <= first <= total_steps:
        raise ValueError(f"first must lie in [1, total_steps={total_steps}], got {first!r}")
    grid = np.geomspace(first, total_steps, n_snapshots - 1).round().astype(np.int64)
    return np.unique(np.concatenate([[0], grid, [total_steps]]))


def snapshot_schedule(total_steps: int, n_log: int, n_linear: int) -> np.ndarray:
    """Union of ``log_spaced_steps(total_steps, n_log)`` and ``n_linear`` even steps: ``[S]``.

    Log spacing resolves the fast start of training; the evenly spaced part keeps a late
    jump from falling between two distant snapshots (a log grid is coarse at the end).
    """
    n_linear = check_nonnegative_int("n_linear", n_linear)
    even = np.linspace(0, total_steps, n_linear + 1).round().astype(np.int64)
    return np.unique(np.concatenate([log_spaced_steps(total_steps, n_log), even]))


def stack_snapshots(history, name: str) -> tuple[np.ndarray, torch.Tensor]:
    """(steps ``[S]``, parameter ``name`` at each step ``[S, I, ...]``) from a ``History``."""
    steps = np.array(sorted(history.snapshots), dtype=np.int64)
    if steps.size == 0:
        raise ValueError("the history holds no snapshots: train with snapshot_steps=...")
    if name not in history.snapshots[int(steps[0])]:
        raise ValueError(
            f"no parameter {name!r} in the snapshots "
            f"(have {sorted(history.snapshots[int(steps[0])])})"
        )
    return steps, torch.stack([history.snapshots[int(s)][name] for s in steps])


@torch.no_grad()
def snapshot_losses(config, history, x: torch.Tensor, *, device="cpu") -> np.ndarray:
    """Loss of every snapshot of ``history`` on one fixed batch ``x: [B, I, n]``: ``[S, I]``.

    One batch for all snapshots: the loss curve then has no sampling noise from step to
    step, only the changes of the weights. ``config`` builds the model and the loss.
    Snapshots in step order (``stack_snapshots``).
    """
    dev = resolve_device(device)
    model = config.build_model(seed=0, device=dev)
    loss = config.build_loss()
    if hasattr(loss, "to"):
        loss = loss.to(dev)
    target = config.build_target()
    x = x.to(dev)
    y = x if target is None else target(x)
    params = dict(model.named_parameters())
    out = []
    for step in sorted(history.snapshots):
        for name, value in history.snapshots[step].items():
            params[name].copy_(value.to(dev))
        out.append(loss(model(x), y).cpu().numpy())
    return np.stack(out).astype(np.float64)


def tracking_overhead(config, train_config, *, n_snapshots: int, seed: int = 0,
                      steps: int = 200, repeats: int = 5, device="cpu") -> dict:
    """What snapshots cost in training, measured in CPU time (robust to other processes).

    Trains ``config`` for ``steps`` steps (``train_config`` otherwise) ``repeats`` times
    each without snapshots and with a snapshot after *every* step, alternating, timing
    each run with ``time.process_time``. Each kind is summarised by its *fastest* run:
    other processes and the kernels' spin-waiting under contention only ever add CPU
    time, so the minimum is the least noisy estimate of what a step costs (the
    convention of :mod:`timeit`). Returns dict(``plain``, ``tracked``: fastest CPU
    seconds per step; ``every_step``: tracked / plain - 1, the overhead of snapshotting
    every step, an upper bound; ``per_snapshot``: (tracked - plain) per step, floored at
    0; ``overhead``: ``per_snapshot`` × ``n_snapshots`` / (``plain`` ×
    ``train_config.steps``), the cost of a full run with ``n_snapshots`` snapshots as a
    fraction of its training).
    """
    steps = check_positive_int("steps", steps)
    repeats = check_positive_int("repeats", repeats)
    short = replace(train_config, steps=steps, checkpoint_path=None)
    times = {"plain": [], "tracked": []}
    for _ in range(repeats):
        for kind, snaps in (("plain", ()), ("tracked", range(steps + 1))):
            t0 = time.process_time()
            fit(config, short, seed=seed, device=device, progress=False, snapshot_steps=snaps)
            times[kind].append((time.process_time() - t0) / steps)
    plain, tracked = (float(np.min(times[k])) for k in ("plain", "tracked"))
    per_snapshot = max(tracked - plain, 0.0)
    return {"plain": plain, "tracked": tracked, "every_step": tracked / plain - 1,
            "per_snapshot": per_snapshot,
            "overhead": per_snapshot * n_snapshots / (plain * train_config.steps)}


def trace_dimensionality(W, *, chunk: int = 16, device="cpu") -> tuple[np.ndarray, np.ndarray]:
    """(D ``[S, I, n]``, ‖W_i‖ ``[S, I, n]``) of snapshots ``W: [S, I, n, m]``, computed
    ``chunk`` snapshots at a time on ``device`` (the n × n projections of all snapshots
    at once would need S I n² floats)."""
    chunk = check_positive_int("chunk", chunk)
    W = torch.as_tensor(W)
    if W.ndim != 4:
        raise ValueError(f"W must be [S, I, n, m], got shape {tuple(W.shape)}")
    dev = resolve_device(device)
    D, norms = [], []
    for s0 in range(0, W.shape[0], chunk):
        part = W[s0:s0 + chunk].to(dev)
        D.append(feature_dimensionality(part).cpu().numpy())
        norms.append(feature_norms(part).cpu().numpy())
    return np.concatenate(D), np.concatenate(norms)


# ----------------------------------------------------------------------------- jumps
def noise_scale(y) -> float:
    """Robust std of the point-to-point noise of ``y: [T]``: MAD of differences / (0.6745 √2)."""
    d = np.diff(np.asarray(y, dtype=np.float64))
    if d.size == 0:
        return 0.0
    return float(np.median(np.abs(d - np.median(d))) / (0.6745 * math.sqrt(2)))


def flat_runs(y, *, tol: float, half_width: int = 8, min_points: int = 8) -> list:
    """Plateaus of ``y: [T]``: maximal runs of *flat* points, at least ``min_points`` long.

    Point k is flat when the means of the ``half_width`` points after it and before it
    (clipped to the series; k itself in neither) differ by less than ``tol``: a robust
    local slope, so a slow ramp is not flat while jitter around a level is. Returns
    ``[(first, last)]`` index pairs (inclusive).
    """
    y = np.asarray(y, dtype=np.float64)
    T = y.size
    c = np.concatenate([[0.0], np.cumsum(y)])
    k = np.arange(T)
    lo, hi = np.maximum(0, k - half_width), np.minimum(T, k + 1 + half_width)
    n_left, n_right = k - lo, hi - k - 1
    left = np.where(n_left > 0, (c[k] - c[lo]) / np.maximum(n_left, 1), y)
    right = np.where(n_right > 0, (c[hi] - c[k + 1]) / np.maximum(n_right, 1), y)
    flat = np.abs(right - left) < tol
    runs, k = [], 0
    while k < T:
        if not flat[k]:
            k += 1
            continue
        e = k
        while e + 1 < T and flat[e + 1]:
            e += 1
        if e - k + 1 >= min_points:
            runs.append((k, e))
        k = e + 1
    return runs


@dataclass(frozen=True)
class Jump:
    """One jump of one feature's dimensionality, from plateau ``before`` to ``after``.

    step        first recorded step at which the series has crossed the midpoint of the
                two levels
    start, end  recorded steps bounding the transition (last point of the plateau before,
                first point of the plateau after)
    before, after  mean levels of the two plateaus
    """

    feature: int
    step: int
    start: int
    end: int
    before: float
    after: float

    @property
    def size(self) -> float:
        return self.after - self.before


def dimensionality_jumps(D, steps, *, min_jump: float = 0.15, flat_tol: float | None = None,
                         half_width: int = 8, min_plateau: int = 8, noise_floor: float = 0.01,
                         norms=None, min_norm: float = 0.5) -> list[Jump]:
    """Jumps of per-feature dimensionality between plateaus: ``D: [S, n]`` (or ``[S]``).

    For each feature, plateaus are runs of at least ``min_plateau`` flat snapshots
    (``flat_runs``; default tolerance max(0.03, 4 σ √(2 / half_width)), σ the larger of
    ``noise_scale`` and ``noise_floor``). Between two consecutive plateaus whose levels
    differ by at least ``min_jump`` there is one jump, however gradual the transition,
    placed where the series first crosses the midpoint of the two levels. A feature
    that leaves a level and comes back to it has no jump. With ``norms`` (‖W_i‖ at the
    same snapshots, ``[S, n]``) a jump counts only if the feature is represented
    (norm >= ``min_norm``) at its start or its end: the dimensionality of a feature
    learned on neither side means nothing. Returns jumps sorted by step.
    """
    D = np.asarray(D, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.int64)
    D = D[:, None] if D.ndim == 1 else D
    if D.ndim != 2 or D.shape[0] != steps.size:
        raise ValueError(f"D must be [S, n] with S = len(steps) = {steps.size}, got {D.shape}")
    if not min_jump > 0:
        raise ValueError(f"min_jump must be > 0, got {min_jump!r}")
    min_plateau = check_positive_int("min_plateau", min_plateau)
    norms = None if norms is None else np.asarray(norms, dtype=np.float64).reshape(D.shape)
    out = []
    for i in range(D.shape[1]):
        y = D[:, i]
        sigma = max(noise_scale(y), noise_floor)
        tol = max(0.03, 4 * sigma * math.sqrt(2 / half_width)) if flat_tol is None else flat_tol
        runs = flat_runs(y, tol=tol, half_width=half_width, min_points=min_plateau)
        plateaus = [(a, b, float(y[a:b + 1].mean())) for a, b in runs]
        for (_, b0, lev0), (a1, _, lev1) in zip(plateaus[:-1], plateaus[1:]):
            if abs(lev1 - lev0) < min_jump:
                continue
            if norms is not None and max(norms[b0, i], norms[a1, i]) < min_norm:
                continue
            crossed = (y[b0:a1 + 1] - 0.5 * (lev0 + lev1)) * np.sign(lev1 - lev0) >= 0
            k = b0 + int(np.argmax(crossed))
            out.append(Jump(i, int(steps[k]), int(steps[b0]), int(steps[a1]), lev0, lev1))
    return sorted(out, key=lambda j: (j.step, j.feature))


# ----------------------------------------------------------------------------- loss drops
@dataclass(frozen=True)
class LossDrop:
    """One sudden drop of the loss.

    step        recorded step of the steepest descent within the drop
    start, end  recorded steps bounding the run of steep descent
    relative    fractional decrease of the loss over the run, 1 - L(end) / L(start)
    """

    step: int
    start: int
    end: int
    relative: float


def descent_rate(loss, steps) -> tuple[np.ndarray, np.ndarray]:
    """(rate ``[S-1]``, midpoints ``[S-1]``): -d log L / d log t between consecutive records.

    Midpoints are geometric means of consecutive steps; steps must increase from > 0.
    """
    loss = np.asarray(loss, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.float64)
    if np.any(steps <= 0) or np.any(np.diff(steps) <= 0):
        raise ValueError("descent_rate needs increasing steps > 0 (leave out step 0)")
    if np.any(loss <= 0):
        raise ValueError("loss must be > 0")
    rate = -np.diff(np.log(loss)) / np.diff(np.log(steps))
    return rate, np.sqrt(steps[1:] * steps[:-1])


def loss_drops(loss, steps, *, min_relative: float = 0.003, min_rate: float = 0.01,
               rate_factor: float = 3.0, floor_decades: float = 0.5, smooth: int = 5,
               max_gap: int = 2, start_step: int = 1) -> list[LossDrop]:
    """Sudden drops of a loss curve ``loss: [S]`` recorded at ``steps: [S]``.

    The descent rate r = -d log L / d log t between consecutive records, smoothed by a
    running mean over ``smooth`` intervals, is compared with its *floor*: the minimum of
    r within ``floor_decades`` decades of log time on either side (the rate on the
    plateaus beside it). An interval is *steep* when r > ``min_rate`` and
    r > ``rate_factor`` × max(floor, 0). Steep runs separated by at most ``max_gap``
    other intervals merge; a run is a drop if the loss falls by at least
    ``min_relative`` across it. Only steps >= ``start_step``. Use a loss without
    sampling noise (every snapshot on one fixed batch: ``snapshot_losses``).
    """
    loss = np.asarray(loss, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.int64)
    if loss.ndim != 1 or loss.shape != steps.shape:
        raise ValueError(
            f"loss and steps must be 1-D of the same length, got {loss.shape} and {steps.shape}"
        )
    if not 0 < min_relative < 1:
        raise ValueError(f"min_relative must lie in (0, 1), got {min_relative!r}")
    smooth = check_positive_int("smooth", smooth)
    keep = steps >= max(start_step, 1)
    loss, steps = loss[keep], steps[keep]
    if steps.size < 3:
        return []
    raw, mid = descent_rate(loss, steps)
    padded = np.pad(raw, smooth // 2, mode="edge")
    rate = np.convolve(padded, np.ones(smooth) / smooth, mode="valid")[:raw.size]
    logm = np.log10(mid)
    floor = np.array([rate[np.abs(logm - lm) <= floor_decades].min() for lm in logm])
    steep = (rate > min_rate) & (rate > rate_factor * np.maximum(floor, 0.0))
    idx = np.flatnonzero(steep)
    for a, b in zip(idx[:-1], idx[1:]):  # close short gaps between steep runs
        if 1 < b - a <= max_gap + 1:
            steep[a:b] = True
    out, k = [], 0
    while k < rate.size:
        if not steep[k]:
            k += 1
            continue
        e = k
        while e + 1 < rate.size and steep[e + 1]:
            e += 1
        rel = 1.0 - loss[e + 1] / loss[k]
        if rel >= min_relative:
            peak = k + int(np.argmax(rate[k:e + 1]))
            out.append(LossDrop(int(steps[peak + 1]), int(steps[k]), int(steps[e + 1]),
                                float(rel)))  # fmt: skip
        k = e + 1
    return out


# ----------------------------------------------------------------------------- matching
def group_events(event_steps, gap_factor: float) -> list[tuple[int, int]]:
    """Merge steps lying within a factor ``gap_factor`` of the previous one: ``[(first, last)]``.

    Several features jumping together (the two members of a forming digon) are one event
    of the model.
    """
    if not gap_factor >= 1:
        raise ValueError(f"gap_factor must be >= 1, got {gap_factor!r}")
    s = np.sort(np.asarray(event_steps, dtype=np.int64))
    if s.size == 0:
        return []
    groups, first, prev = [], int(s[0]), int(s[0])
    for v in s[1:]:
        if v > max(prev, 1) * gap_factor:
            groups.append((first, prev))
            first = int(v)
        prev = int(v)
    groups.append((first, prev))
    return groups


def _interval(d) -> tuple[int, int]:
    return (d.start, d.end) if hasattr(d, "start") else (int(d), int(d))


def _overlap(a, b, window: float) -> bool:
    """Whether intervals a and b overlap once b is widened by a factor ``window`` each side."""
    return a[0] <= b[1] * window and b[0] / window <= a[1]


def _chance(moving, fixed, window: float, span) -> float:
    """Mean over ``moving`` intervals of the fraction of log-uniform placements inside
    ``span`` (same log length) at which it would overlap some widened ``fixed`` interval."""
    if not moving:
        return math.nan
    lo, hi = math.log(max(span[0], 1)), math.log(max(span[1], 1))
    lw = math.log(window)
    rates = []
    for a, b in moving:
        length = math.log(max(b, 1)) - math.log(max(a, 1))
        starts = np.linspace(lo, max(lo, hi - length), 2001)
        hit = np.zeros(starts.size, dtype=bool)
        for fa, fb in fixed:
            hit |= (starts <= math.log(max(fb, 1)) + lw) & (
                starts + length >= math.log(max(fa, 1)) - lw)
        rates.append(hit.mean())
    return float(np.mean(rates))


def match_events(jump_steps, drops, *, window: float = 1.1, gap_factor: float = 1.1,
                 span=None) -> dict:
    """Match loss drops with dimensionality-jump events in log time.

    jump_steps  steps of single-feature jumps, grouped into events [first, last]
                (``group_events`` with ``gap_factor``)
    drops       ``LossDrop``s (their [start, end]) or plain steps
    window      an event and a drop match when their intervals overlap once the event's
                is widened to [first / window, last × window]
    span        (lo, hi) steps of the record: with it, also the rates expected by chance,
                each interval placed log-uniformly at random in the span
    Returns counts and rates (nan when there is nothing to rate): ``drops``,
    ``drops_matched``, ``drop_match_rate``, ``events``, ``events_matched``,
    ``event_match_rate`` and, with ``span``, ``chance_drop_match_rate`` and
    ``chance_event_match_rate``.
    """
    if not window >= 1:
        raise ValueError(f"window must be >= 1 (a factor on the step), got {window!r}")
    events = group_events(jump_steps, gap_factor)
    ivals = [_interval(d) for d in drops]
    dm = sum(any(_overlap(d, ev, window) for ev in events) for d in ivals)
    em = sum(any(_overlap(d, ev, window) for d in ivals) for ev in events)
    out = {"drops": len(ivals), "drops_matched": dm,
           "drop_match_rate": dm / len(ivals) if ivals else math.nan,
           "events": len(events), "events_matched": em,
           "event_match_rate": em / len(events) if events else math.nan}
    if span is not None:
        # a drop widened by the window against fixed events = the same overlap test
        out["chance_drop_match_rate"] = _chance(ivals, events, window, span)
        out["chance_event_match_rate"] = _chance(events, ivals, window, span)
    return out


def late_phase_start(event_steps, drops, *, window: float = 1.1) -> int | None:
    """The step where the *late phase* of a run begins, or None without jump events.

    Early in training the loss falls in steps shared by every seed: the linear (PCA)
    stage, before any feature's dimensionality moves, then the collective formation of
    the polytopes. The late phase starts at the end of the largest drop that ends after
    the first jump event began (start / ``window``): what follows are single features
    rearranging one at a time.
    """
    if len(event_steps) == 0:
        return None
    first = group_events(event_steps, 1.0)[0][0]
    after = [d for d in drops if d.end >= first / window]
    if not after:
        return None
    return int(max(after, key=lambda d: d.relative).end)


def coincide(drops, events, steps, *, tolerance: int = 3) -> np.ndarray:
    """Whether each drop's steepest step lies within ``tolerance`` snapshots of an event:
    ``[len(drops)]`` bool.

    drops      ``LossDrop``s recorded at ``steps: [S]``
    events     ``[(first, last)]`` recorded steps (``group_events`` of jump steps)
    tolerance  snapshots either side of [first, last]: the resolution of the record (a
               jump's step is its midpoint crossing, good to one snapshot; a drop's
               steepest step comes from a rate smoothed over a few snapshots)
    """
    steps = np.asarray(steps, dtype=np.int64)
    tolerance = check_nonnegative_int("tolerance", tolerance)
    where = lambda t: int(np.searchsorted(steps, t))
    spans = [(where(a) - tolerance, where(b) + tolerance) for a, b in events]
    return np.array([any(lo <= where(d.step) <= hi for lo, hi in spans) for d in drops],
                    dtype=bool)  # fmt: skip


def coincidence_chance(events, steps, first: int, *, tolerance: int = 3) -> float:
    """The rate ``coincide`` would give a drop whose steepest step fell on a snapshot drawn
    uniformly from those after step ``first``: the fraction of them within ``tolerance``
    snapshots of an event. nan if no snapshot lies after ``first``."""
    steps = np.asarray(steps, dtype=np.int64)
    idx = np.flatnonzero(steps > first)
    if idx.size == 0:
        return math.nan
    hit = np.zeros(steps.size, dtype=bool)
    for a, b in events:
        lo = max(int(np.searchsorted(steps, a)) - tolerance, 0)
        hit[lo:int(np.searchsorted(steps, b)) + tolerance + 1] = True
    return float(hit[idx].mean())


def jump_drop_census(D, norms, loss, steps, *, tolerance: int = 3, gap_factor: float = 1.1,
                     window: float = 1.1, **jump_options) -> pd.DataFrame:
    """Jumps, drops and their coincidences, one row per instance: ``D, norms: [S, I, n]``,
    ``loss: [S, I]`` at ``steps: [S]`` (steps > 0; leave out step 0).

    Columns: ``jumps`` (single-feature jumps), ``features`` (features that jump),
    ``events`` (``group_events`` with ``gap_factor``), ``drops``,
    ``drops_before_jumps`` (drops that end before the first event begins: the linear
    stage), ``formation_events`` (events inside the largest drop after the first event,
    widened by ``window``: the collective formation of the polytopes), ``late_start``
    (``late_phase_start``, -1 if none), ``late_events`` and ``late_drops`` (those that
    start after it), ``late_drops_matched`` (``coincide`` with a late event, within
    ``tolerance`` snapshots), ``late_events_matched`` (events with a late drop's steepest
    step within ``tolerance``), ``late_chance`` (``coincidence_chance``), and the control:
    the late drops of every *other* instance that start after this instance's late
    start, matched against this instance's late events (``control_late_drops``,
    ``control_late_drops_matched``). Seeds share the schedule of training (their loss
    curves fall at similar steps), so a drop of another seed matches a jump by timing
    alone as often as the control says.
    """
    D, norms, loss = as_numpy64(D), as_numpy64(norms), as_numpy64(loss)
    steps = np.asarray(steps, dtype=np.int64)
    if D.ndim != 3 or D.shape != norms.shape or loss.shape != D.shape[:2]:
        raise ValueError(
            f"D and norms must be [S, I, n] and loss [S, I]; got {D.shape}, {norms.shape}, "
            f"{loss.shape}"
        )
    if steps.shape != (D.shape[0],) or np.any(steps <= 0):
        raise ValueError("steps must be [S] with every step > 0 (leave out step 0)")
    I = D.shape[1]
    jumps = [dimensionality_jumps(D[:, k], steps, norms=norms[:, k], **jump_options)
             for k in range(I)]  # fmt: skip
    drops = [loss_drops(loss[:, k], steps) for k in range(I)]
    starts = [late_phase_start([j.step for j in jumps[k]], drops[k], window=window)
              for k in range(I)]  # fmt: skip
    rows = []
    for k in range(I):
        events = group_events([j.step for j in jumps[k]], gap_factor)
        first = events[0][0] if events else int(steps[-1])
        after = [d for d in drops[k] if d.end >= first / window]
        big = max(after, key=lambda d: d.relative) if after else None
        start = starts[k]
        row = {"jumps": len(jumps[k]), "features": len({j.feature for j in jumps[k]}),
               "events": len(events), "drops": len(drops[k]),
               "drops_before_jumps": sum(d.end < first for d in drops[k]),
               "formation_events": 0 if big is None else sum(
                   _overlap((big.start, big.end), ev, window) for ev in events),
               "late_start": -1 if start is None else start}
        if start is None:
            row.update(dict.fromkeys(["late_events", "late_events_matched", "late_drops",
                                      "late_drops_matched", "control_late_drops",
                                      "control_late_drops_matched"], 0), late_chance=math.nan)
        else:
            late = group_events([j.step for j in jumps[k] if j.start > start], gap_factor)
            mine = [d for d in drops[k] if d.start > start]
            others = [d for j in range(I) if j != k for d in drops[j] if d.start > start]
            row.update(late_events=len(late), late_drops=len(mine),
                       late_drops_matched=int(coincide(mine, late, steps,
                                                       tolerance=tolerance).sum()),
                       late_events_matched=sum(bool(coincide(mine, [ev], steps,
                                                             tolerance=tolerance).any())
                                               for ev in late),
                       late_chance=coincidence_chance(late, steps, start, tolerance=tolerance),
                       control_late_drops=len(others),
                       control_late_drops_matched=int(coincide(others, late, steps,
                                                               tolerance=tolerance).sum()))
        rows.append(row)
    return pd.DataFrame(rows, index=pd.RangeIndex(I, name="instance"))


def pooled_rates(census: pd.DataFrame) -> dict:
    """Rates pooled over the instances of a ``jump_drop_census``.

    ``late_match_rate``: late drops matched / late drops; ``late_chance``: the chance
    rate weighted by each instance's late drops; ``control_late_match_rate``: the
    control's late drops matched / its late drops; ``late_event_match_rate``: late events
    with a drop / late events. nan where nothing was counted.
    """
    c = census
    ratio = lambda a, b: float(c[a].sum() / c[b].sum()) if c[b].sum() else math.nan
    w = c["late_drops"].to_numpy(dtype=np.float64)
    chance = float(np.nansum(c["late_chance"].to_numpy() * w) / w.sum()) if w.sum() else math.nan
    return {"late_match_rate": ratio("late_drops_matched", "late_drops"),
            "late_chance": chance,
            "control_late_match_rate": ratio("control_late_drops_matched",
                                             "control_late_drops"),
            "late_event_match_rate": ratio("late_events_matched", "late_events"),
            "late_drops": int(c["late_drops"].sum()),
            "control_late_drops": int(c["control_late_drops"].sum())}


# ----------------------------------------------------------------------------- feature sets
#: coarse stage labels of ``set_geometry_label``, in the order training usually visits them
SET_STAGES = ("small", "collapsed sets", "partly split", "orthogonal sets",
              "antipodal across sets", "other")


def set_geometry_label(W, set_sizes: Sequence[int], *, small: float = 0.3, merged: float = 0.5,
                       ortho_tol: float = 0.2, antipodal: float = -0.9) -> str:
    """Coarse geometry of one model ``W: [n, m]`` whose features come in consecutive sets.

    small                  every ‖W_i‖ < ``small`` (nothing learned yet)
    collapsed sets         every pair within a set has cos > ``merged``: each set near one
                           direction (its principal component: the PCA-like solution)
    antipodal across sets  every within-set pair orthogonal (|cos| < ``ortho_tol``) and
                           every feature has an antipode (cos < ``antipodal``) in another
                           set; for two triples in m = 3, the paper's octahedron
    orthogonal sets        every within-set pair orthogonal, the antipodes not all formed
    partly split           some within-set pairs still merged (cos > ``merged``)
    other                  none of these
    """
    W = as_float64(W)
    if W.ndim != 2 or W.shape[0] != sum(set_sizes):
        raise ValueError(
            f"W must be [n, m] with n = sum(set_sizes) = {sum(set_sizes)}, got {tuple(W.shape)}"
        )
    if bool((W.norm(dim=-1) < small).all()):
        return "small"
    cos = cosine_similarity(W).cpu().numpy()
    set_of = np.repeat(np.arange(len(set_sizes)), list(set_sizes))
    off = ~np.eye(len(set_of), dtype=bool)
    same = (set_of[:, None] == set_of[None, :]) & off
    within = cos[same]
    if np.all(within > merged):
        return "collapsed sets"
    if np.all(np.abs(within) < ortho_tol):
        cross = np.where(~same & off, cos, 1.0)
        return ("antipodal across sets" if np.all(cross.min(axis=1) < antipodal)
                else "orthogonal sets")  # fmt: skip
    return "partly split" if np.any(within > merged) else "other"


def linear_optimum_loss(covariance, n_hidden: int) -> float:
    """Loss of the best *linear* tied autoencoder x' = WᵀW x + b with m = ``n_hidden``
    on data of covariance ``[n, n]`` (all importances 1): (1/n) × the sum of the n - m
    smallest eigenvalues.

    WᵀW is then the projector on the top-m principal components and b = (1 - WᵀW) E[x]:
    PCA. A ReLU model that first learns "a linear PCA solution" (TMS) sits near this
    loss on its first plateau.
    """
    cov = as_numpy64(covariance)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"covariance must be a square [n, n] matrix, got shape {cov.shape}")
    m = check_positive_int("n_hidden", n_hidden)
    eig = np.sort(np.linalg.eigvalsh(0.5 * (cov + cov.T)))
    return float(eig[:max(cov.shape[0] - m, 0)].sum() / cov.shape[0])


def random_directions_like(W, *, seed: int) -> torch.Tensor:
    """``W: [..., n, m]`` with every row turned to a uniformly random direction, norms
    kept (float64, CPU): the negative control of a geometry test."""
    W = as_float64(W).cpu()
    gen = torch.Generator().manual_seed(int(seed))
    g = torch.randn(W.shape, generator=gen, dtype=torch.float64)
    return g / g.norm(dim=-1, keepdim=True) * W.norm(dim=-1, keepdim=True)


def distinct_directions(W, *, cos_threshold: float = 0.8, norm_threshold: float = 0.3) -> int:
    """Number of distinct directions among the features of ``W: [n, m]`` with norm above
    ``norm_threshold``: features chained by cos > ``cos_threshold`` count once."""
    W = as_float64(W)
    keep = (W.norm(dim=-1) > norm_threshold).cpu().numpy()
    close = (cosine_similarity(W).cpu().numpy() > cos_threshold)[np.ix_(keep, keep)]
    label = np.arange(close.shape[0])
    for _ in range(close.shape[0]):  # propagate the smallest label along close pairs
        label = np.where(close, label[None, :], close.shape[0]).min(axis=1)
    return int(np.unique(label).size)


def loss_plateaus(drops: Sequence[LossDrop], steps) -> list[tuple[int, int, int]]:
    """The stretches between loss drops: ``[(first, last, representative step)]``.

    ``steps: [S]`` are the recorded steps (the first and last bound the first and last
    plateau); the representative is the recorded step nearest the geometric middle. A
    drop at the very start or end leaves no plateau there.
    """
    steps = np.asarray(steps, dtype=np.int64)
    bounds = [int(steps[0])] + [x for d in drops for x in (d.start, d.end)] + [int(steps[-1])]
    out = []
    for a, b in zip(bounds[0::2], bounds[1::2]):
        if b <= a:
            continue
        mid = math.log(math.sqrt(max(a, 1) * max(b, 1)))
        rep = int(steps[np.argmin(np.abs(np.log(np.maximum(steps, 1)) - mid))])
        out.append((a, b, rep))
    return out


def longest_run(labels: Sequence[str], steps, label: str) -> int:
    """Longest stretch of training (in steps) over which ``labels`` stay equal to ``label``."""
    steps = np.asarray(steps, dtype=np.int64)
    best, first = 0, None
    for s, lab in zip(steps, labels):
        if lab == label:
            first = s if first is None else first
            best = max(best, int(s - first))
        else:
            first = None
    return best


def set_trajectories(W, loss, steps, set_sizes: Sequence[int]) -> pd.DataFrame:
    """The path of each instance through the set geometries: ``W: [S, I, n, m]``,
    ``loss: [S, I]`` at ``steps: [S]`` (> 0).

    Columns: ``drops`` (``loss_drops``), ``first_plateau_directions``
    (``distinct_directions`` at the representative step of the plateau after the first
    drop), ``first_plateau`` (its ``set_geometry_label``), ``collapsed_set`` (some set's
    features all share one direction there), ``orthogonal_dwell`` (longest stretch, in
    steps, labelled "orthogonal sets": two frames not yet antipodal), ``final`` (label
    at the last snapshot), ``final_loss``.
    """
    W, loss = as_float64(W).cpu(), as_numpy64(loss)
    steps = np.asarray(steps, dtype=np.int64)
    if W.ndim != 4 or loss.shape != W.shape[:2] or steps.shape != (W.shape[0],):
        raise ValueError("W must be [S, I, n, m], loss [S, I] and steps [S]")
    bounds = np.cumsum([0, *set_sizes])
    rows = []
    for k in range(W.shape[1]):
        drops = loss_drops(loss[:, k], steps)
        after = [p for p in loss_plateaus(drops, steps) if drops and p[0] >= drops[0].end]
        rep = after[0][2] if after else int(steps[-1])
        Wp = W[int(np.searchsorted(steps, rep)), k]
        cos = cosine_similarity(Wp).numpy()
        collapsed = any(np.all(cos[a:b, a:b] > 0.8) for a, b in zip(bounds[:-1], bounds[1:]))
        labels = [set_geometry_label(W[s, k], set_sizes) for s in range(steps.size)]
        rows.append({"drops": len(drops),
                     "first_plateau_directions": distinct_directions(Wp),
                     "first_plateau": set_geometry_label(Wp, set_sizes),
                     "collapsed_set": bool(collapsed),
                     "orthogonal_dwell": longest_run(labels, steps, "orthogonal sets"),
                     "final": labels[-1], "final_loss": float(loss[-1, k])})
    return pd.DataFrame(rows, index=pd.RangeIndex(W.shape[1], name="instance"))

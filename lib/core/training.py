"""One ``train()`` for every model in the book, and its ``TrainConfig``.

    x = sampler(batch_size)          [B, I, n]   fresh batch each step, on the device
    y = target(x)                    (identity for autoencoders)
    per_instance = loss(model(x), y) [I]
    per_instance.sum().backward()    instances stay independent

The optimiser (Adam/AdamW), the learning-rate schedule (``torch.optim.lr_scheduler``),
a tqdm progress bar, the per-instance loss history, weight snapshots at chosen steps,
NaN detection and checkpoint/resume live here and nowhere else.

Speed without changing the result: the optimiser step is fused (one kernel for all
parameters), the forward + loss can be ``torch.compile``d (``TrainConfig.compile``), the
loss reaches the host only once per logging window, and on CUDA matmuls use TF32 (or
bf16 autocast) as ``TrainConfig.precision`` says. ``bench/`` measures it against a plain
loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .checks import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    resolve_device,
)

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup", "warmup_cosine", "constant_cosine")
PRECISIONS = ("tf32", "fp32", "bf16")


@dataclass
class TrainConfig:
    """How to optimise: shared by every experiment family.

    steps          number of optimiser steps (one fresh batch each)
    batch_size     samples per step, per instance
    lr             peak learning rate
    optimizer      "adam" or "adamw" (decoupled weight decay)
    weight_decay   AdamW decay (ignored by "adam"); torch's AdamW default is 0.01
    schedule       "constant", "cosine" (to 0), "warmup" (linear, then constant),
                   "warmup_cosine" (linear warm-up, then cosine to 0),
                   "constant_cosine" (constant, then a cosine to 0 over the last
                   ``decay_steps``: one optimiser state for both phases)
    warmup_steps   length of the linear warm-up for the warmup schedules
    decay_steps    length of the final cosine decay of "constant_cosine"
    log_every      steps between loss-history entries (each is the mean over its window)
    checkpoint_path  file to save to every ``checkpoint_every`` steps and resume from
    compile        torch.compile the forward + loss: "auto" (on CUDA only, see
                   ``should_compile``), True, or False; falls back to eager if it fails
    precision      CUDA matmuls: "tf32" (default), "fp32", or "bf16" (autocast, fp32 loss);
                   ignored on the CPU, which always computes in fp32
    """

    steps: int = 10_000
    batch_size: int = 1024
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    schedule: str = "constant"
    warmup_steps: int = 0
    log_every: int = 100
    checkpoint_path: str | None = None
    checkpoint_every: int = 1000
    compile: bool | str = "auto"
    precision: str = "tf32"
    decay_steps: int = 0

    def __post_init__(self):
        self.steps = check_positive_int("steps", self.steps)
        self.batch_size = check_positive_int("batch_size", self.batch_size)
        self.lr = check_positive_float("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        wd = float(self.weight_decay)
        if not math.isfinite(wd) or wd < 0:
            raise ValueError(
                f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}"
            )
        self.weight_decay = wd
        check_choice("schedule", self.schedule, SCHEDULES)
        self.warmup_steps = check_nonnegative_int("warmup_steps", self.warmup_steps)
        if self.schedule.startswith("warmup") and not 0 < self.warmup_steps < self.steps:
            raise ValueError(
                f"warmup_steps must be in [1, steps) for schedule {self.schedule!r}, "
                f"got {self.warmup_steps} with steps={self.steps}"
            )
        self.decay_steps = check_nonnegative_int("decay_steps", self.decay_steps)
        if self.schedule == "constant_cosine" and not 0 < self.decay_steps <= self.steps:
            raise ValueError(
                f"decay_steps must be in [1, steps] for schedule 'constant_cosine', "
                f"got {self.decay_steps} with steps={self.steps}"
            )
        self.log_every = check_positive_int("log_every", self.log_every)
        self.checkpoint_every = check_positive_int("checkpoint_every", self.checkpoint_every)
        if self.compile not in (True, False, "auto"):
            raise ValueError(f"compile must be True, False or 'auto', got {self.compile!r}")
        check_choice("precision", self.precision, PRECISIONS)


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class History:
    """What happened during training.

    step   [T]      the last step of each logging window
    loss   [T, I]   mean per-instance loss over each window
    lr     [T]      learning rate at the end of each window
    seconds         wall-clock time of the whole run (this process only)
    first_step_seconds  wall-clock time of the first step (includes torch.compile, if any)
    compiled        whether the forward + loss ran compiled
    snapshots       {step: {parameter name: tensor on the CPU}} at the steps asked for
                    (``train(..., snapshot_steps=...)``; step 0 is the initial state)
    """

    step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    loss: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    lr: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seconds: float = 0.0
    first_step_seconds: float = 0.0
    compiled: bool = False
    snapshots: dict = field(default_factory=dict)

    @property
    def final_loss(self) -> np.ndarray:
        """``[I]`` loss of the last logging window."""
        return self.loss[-1]

    def append(self, step: int, loss: np.ndarray, lr: float) -> None:
        self.step = np.append(self.step, step)
        self.loss = loss[None] if self.loss.size == 0 else np.vstack([self.loss, loss[None]])
        self.lr = np.append(self.lr, lr)


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    """Multiplier of the peak lr at step t for ``config.schedule``."""
    total, warm = config.steps, config.warmup_steps

    def cosine(t: int, start: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (t - start) / max(1, total - start))))

    def multiplier(t: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if config.schedule == "cosine":
            return cosine(t, 0)
        if config.schedule == "constant_cosine":
            start = total - config.decay_steps
            return 1.0 if t < start else cosine(t, start)
        if t < warm:
            return (t + 1) / warm
        return 1.0 if config.schedule == "warmup" else cosine(t, warm)

    return multiplier


def make_optimizer(params, config: TrainConfig, device="cpu") -> torch.optim.Optimizer:
    # fused: one kernel updates every parameter (same Adam math as the per-tensor loop)
    fused = torch.device(device).type in ("cpu", "cuda")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, fused=fused)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)


def should_compile(config: TrainConfig, batch_elements: int, device: torch.device) -> bool:
    """``config.compile``, with "auto" resolved: on CUDA only.

    On the CPU compiling costs 20-45 s per run (and a C++ toolchain) and saves a few ns per
    batch element and step (README, "Speed"): worth it only for long runs, so it is opt-in
    there (``compile=True``). Keeping the CPU default eager also keeps a chapter's numbers
    independent of whether a compiler happens to be installed.
    """
    if config.compile != "auto":
        return bool(config.compile)
    return device.type == "cuda"


def compiled(fn: Callable, device: torch.device) -> Callable:
    """``torch.compile(fn)`` for one run (static shapes; on CUDA with CUDA graphs).

    Compiled from a fresh copy of ``fn``'s code object: dynamo keeps its graphs per code
    object, at most 8, and falls back to eager beyond that, which a chapter calling
    ``train`` more than 8 times would otherwise hit.
    """
    fresh = types.FunctionType(
        fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    # CUDA graphs remove the kernel-launch overhead that dominates tiny models on a GPU
    return torch.compile(
        fresh, dynamic=False, mode="reduce-overhead" if device.type == "cuda" else None
    )


@contextlib.contextmanager
def matmul_precision(device: torch.device, precision: str):
    """TF32 matmuls on CUDA for "tf32" / "bf16" (restored afterwards); nothing on the CPU."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision != "fp32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _save_checkpoint(path: Path, step: int, model, optimizer, scheduler, sampler, history) -> None:
    state = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "history": history,
    }
    if hasattr(sampler, "state_dict"):
        state["sampler"] = sampler.state_dict()
    tmp = path.with_suffix(path.suffix + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a crash mid-save never leaves a broken checkpoint


def _load_checkpoint(path: Path, model, optimizer, scheduler, sampler) -> tuple[int, History]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if "sampler" in state and hasattr(sampler, "load_state_dict"):
        sampler.load_state_dict(state["sampler"])
    return int(state["step"]), state["history"]


def train(
    model: torch.nn.Module,
    sampler: Callable[[int], torch.Tensor],
    loss: Loss,
    config: TrainConfig,
    *,
    target: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device="auto",
    progress: bool = True,
    description: str = "train",
    snapshot_steps=(),
    project: Callable[[torch.nn.Module], None] | None = None,
) -> History:
    """Train all instances of ``model`` together; return the per-instance loss history.

    model     an ``nn.Module`` mapping ``[B, I, n] -> [B, I, n_out]``, moved to ``device``
    sampler   ``sampler(batch_size) -> x`` generating on the same device
    loss      ``loss(output, target) -> [I]``; moved to the device if it has ``.to``
    target    ``target(x) -> y``; default: the autoencoder target y = x
    device    "auto" (cuda if available), "cpu", "cuda[:k]"
    snapshot_steps  steps after which to copy every parameter to the CPU (0: before the
              first step), kept in ``history.snapshots``; a copy costs one transfer, so
              log-spaced steps trace a whole run for little time
    project   ``project(model)``, called without gradients after every optimiser step
              (and once before the first): a projection onto a constraint set, e.g. a
              sign pattern held fixed while the continuous values train

    If ``config.checkpoint_path`` is set, a checkpoint is written every
    ``config.checkpoint_every`` steps and at the end, and an existing checkpoint there is
    resumed from (the run continues where it stopped, with the same data stream).
    Raises ``FloatingPointError`` naming the instances and step when a loss turns NaN/inf.
    """
    dev = resolve_device(device)
    model.to(dev)
    if hasattr(loss, "to"):
        loss = loss.to(dev)
    optimizer = make_optimizer(model.parameters(), config, dev)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    history, start = History(), 0
    ckpt = Path(config.checkpoint_path) if config.checkpoint_path else None
    if ckpt is not None and ckpt.exists():
        start, history = _load_checkpoint(ckpt, model, optimizer, scheduler, sampler)
    bf16 = dev.type == "cuda" and config.precision == "bf16"
    snapshot_at = {int(s) for s in snapshot_steps}
    if any(s < 0 or s > config.steps for s in snapshot_at):
        raise ValueError(
            f"snapshot_steps must lie in [0, steps={config.steps}], got {sorted(snapshot_at)}"
        )

    def snapshot(step: int) -> None:
        if step in snapshot_at:
            history.snapshots[step] = {
                name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters()
            }

    if project is not None:
        with torch.no_grad():
            project(model)
    if start == 0:
        snapshot(0)

    def per_instance_loss(x: torch.Tensor) -> torch.Tensor:
        y = x if target is None else target(x)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            output = model(x)
        return loss(output.float() if bf16 else output, y)  # the loss itself in fp32

    def gradients(forward: Callable, x: torch.Tensor) -> torch.Tensor:
        per_instance = forward(x)
        optimizer.zero_grad(set_to_none=True)
        per_instance.sum().backward()
        return per_instance

    forward = per_instance_loss
    window_sum, window_len = None, 0
    t0 = time.perf_counter()
    bar = tqdm(total=config.steps, initial=start, desc=description, disable=not progress,
               mininterval=1.0, leave=False)
    with matmul_precision(dev, config.precision):
        for step in range(start, config.steps):
            x = sampler(config.batch_size)
            if step == start:
                if x.device.type != dev.type:
                    raise ValueError(f"sampler generates on {x.device}, but the model is on {dev}")
                if should_compile(config, x.numel(), dev):
                    forward = compiled(per_instance_loss, dev)
            if forward is not per_instance_loss and dev.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            try:
                per_instance = gradients(forward, x)
            except Exception as err:  # a compiler missing or failing must not stop the book
                if step != start or forward is per_instance_loss:
                    raise
                warnings.warn(
                    f"torch.compile failed ({type(err).__name__}: {err}); training eagerly",
                    stacklevel=2,
                )
                forward = per_instance_loss
                per_instance = gradients(forward, x)
            optimizer.step()
            if project is not None:
                with torch.no_grad():
                    project(model)
            scheduler.step()

            detached = per_instance.detach()
            window_sum = detached.clone() if window_sum is None else window_sum.add_(detached)
            window_len += 1
            last = step + 1 == config.steps
            if (step + 1) % config.log_every == 0 or last:
                mean = (window_sum / window_len).cpu().numpy()  # the only host sync in the loop
                if not np.all(np.isfinite(mean)):
                    bad = np.flatnonzero(~np.isfinite(mean))
                    raise FloatingPointError(
                        f"loss became non-finite at step {step + 1} in instance(s) "
                        f"{bad[:10].tolist()}"
                        f"{' ...' if bad.size > 10 else ''}: lower lr (now {config.lr}) or "
                        "check the data"
                    )
                history.append(step + 1, mean.astype(np.float64), scheduler.get_last_lr()[0])
                window_sum, window_len = None, 0
                bar.set_postfix(loss=f"{mean.mean():.4g}")
            if step == start:
                history.first_step_seconds = time.perf_counter() - t0
            snapshot(step + 1)
            bar.update(1)
            if ckpt is not None and ((step + 1) % config.checkpoint_every == 0 or last):
                _save_checkpoint(ckpt, step + 1, model, optimizer, scheduler, sampler, history)
    bar.close()
    history.seconds += time.perf_counter() - t0
    history.compiled = forward is not per_instance_loss
    return history


@torch.no_grad()
def evaluate(model: torch.nn.Module, sampler: Callable[[int], torch.Tensor], loss: Loss, *,
             target: Callable[[torch.Tensor], torch.Tensor] | None = None, batch_size: int = 4096,
             n_batches: int = 10) -> np.ndarray:
    """Monte-Carlo estimate of the per-instance expected loss, ``[I]`` (no gradients)."""
    total = None
    for _ in range(n_batches):
        x = sampler(batch_size)
        y = x if target is None else target(x)
        value = loss(model(x), y)
        total = value if total is None else total + value
    return (total / n_batches).cpu().numpy().astype(np.float64)

"""``python -m bench``: lib.train against the plain reference loop, side by side, in one process.

For every case (``bench/cases.py``) and seed, the reference loop (``bench/reference.py``)
and ``lib.train`` train the same initial weights on the same data distribution. On the CPU
they alternate step by step inside one ``lib.train`` call (the sampler wrapper
``Interleaved`` runs one reference step before each lib batch), so both see the same
machine load and thread count, and per-step medians ignore load spikes; on CUDA each runs
alone, synchronised. Printed per case: steps/s of both and their ratio (median over seeds),
lib's useful GFLOP/s and its fraction of a measured sgemm peak, lib's first step (compile
included), and the losses of both trained models on one fixed evaluation stream with their
seed-to-seed spread. Written to ``--out`` as JSON, with machine load and thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lib.core.checks import resolve_device
from lib.core.training import TrainConfig, evaluate, should_compile, train

from . import reference
from .cases import all_cases


def matmul_peak(device: torch.device, tf32: bool = False, repeats: int = 10) -> float:
    """Best GFLOP/s of a square float32 matmul (2048² on the CPU, 8192² on CUDA) over ``repeats``."""
    size = 8192 if device.type == "cuda" else 2048
    a, b = (
        torch.randn(size, size, device=device),
        torch.randn(size, size, device=device),
    )
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    best = float("inf")
    for _ in range(repeats + 1):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    torch.backends.cuda.matmul.allow_tf32 = before
    return 2 * size**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steady(seconds: float, first: float, steps: int) -> float:
    """Steps per second after the first step (which pays for compilation and warm-up)."""
    return (steps - 1) / max(seconds - first, 1e-9)


def reference_optimizer(config: TrainConfig, parts: dict | None = None) -> dict:
    """The reference's AdamW settings for lib's optimiser (Adam = AdamW without weight decay),
    or the case's own reference optimiser (``parts["ref_optimizer"]``) when it has one."""
    if parts is not None and "ref_optimizer" in parts:
        return {"lr": config.lr, "optimizer": parts["ref_optimizer"]}
    return {
        "lr": config.lr,
        "weight_decay": config.weight_decay if config.optimizer == "adamw" else 0.0,
    }


class Interleaved:
    """lib's sampler, wrapped so that one reference step runs before each lib batch.

    The two loops then alternate step by step under the same machine load; lib's step k
    is timed from its batch request k (after the reference step) to request k + 1.
    """

    def __init__(self, sampler, loop: reference.Loop):
        self.sampler, self.loop = sampler, loop
        self.ref_seconds, self.lib_seconds, self.mark = [], [], None

    def __call__(self, batch_size: int) -> torch.Tensor:
        self.threads = torch.get_num_threads()  # as lib.train set it, for both loops
        start = time.perf_counter()
        if self.mark is not None:
            self.lib_seconds.append(start - self.mark)
        self.loop.step()
        self.mark = time.perf_counter()
        self.ref_seconds.append(self.mark - start)
        return self.sampler(batch_size)


def run_interleaved(parts: dict, config: TrainConfig) -> dict:
    """CPU: both loops step by step in one ``lib.train`` call; per-step medians."""
    loop = reference.Loop(
        parts["ref_model"],
        parts["ref_batch"],
        parts["ref_loss"],
        target=parts["ref_target"],
        **reference_optimizer(config, parts),
    )
    both = Interleaved(parts["sampler"], loop)
    hist = train(
        parts["model"],
        both,
        parts["loss"],
        config,
        target=parts["target"],
        device="cpu",
        progress=False,
    )
    ref, lib = np.array(both.ref_seconds), np.array(both.lib_seconds)
    return {
        "ref": {
            "step_seconds": ref.tolist(),
            "first_step_seconds": float(ref[0]),
            "steps_per_s": 1 / float(np.median(ref[1:])),
        },
        "lib": {
            "step_seconds": lib.tolist(),
            "first_step_seconds": float(lib[0]),
            "compiled": hist.compiled,
            "steps_per_s": 1 / float(np.median(lib[1:])),
        },
        "threads": both.threads,
    }


def run_sequential(
    parts: dict,
    config: TrainConfig,
    device: torch.device,
    lib_first: bool,
    lib_only: bool = False,
) -> dict:
    """CUDA (a dedicated card, no load to share): each loop alone, timed with synchronisation."""

    def run_ref():
        _sync(device)
        out = reference.train(
            parts["ref_model"],
            parts["ref_batch"],
            parts["ref_loss"],
            config.steps,
            target=parts["ref_target"],
            **reference_optimizer(config, parts),
        )
        _sync(device)
        return {
            "seconds": out["seconds"],
            "first_step_seconds": out["first_step_seconds"],
            "steps_per_s": steady(
                out["seconds"], out["first_step_seconds"], config.steps
            ),
        }

    def run_lib():
        hist = train(
            parts["model"],
            parts["sampler"],
            parts["loss"],
            config,
            target=parts["target"],
            device=device,
            progress=False,
        )
        _sync(device)
        return {
            "seconds": hist.seconds,
            "first_step_seconds": hist.first_step_seconds,
            "compiled": hist.compiled,
            "steps_per_s": steady(hist.seconds, hist.first_step_seconds, config.steps),
        }

    if lib_first:
        lib = run_lib()
        return {"lib": lib} if lib_only else {"lib": lib, "ref": run_ref()}
    return {"ref": run_ref(), "lib": run_lib()}


def eval_loss(parts: dict, model: torch.nn.Module, batch_size: int) -> float:
    """Summed per-instance loss of ``model`` on the case's fixed evaluation stream (8 batches)."""
    loss = evaluate(
        model,
        parts["eval_sampler"](),
        parts["loss"],
        target=parts["target"],
        batch_size=batch_size,
        n_batches=8,
    )
    return float(loss.sum())


def compare_precisions(
    case, seed: int, device: torch.device, config: TrainConfig
) -> dict:
    """CUDA: lib alone from the same seed under each matmul precision; speed and final loss."""
    out = {}
    for precision in ("fp32", "tf32", "bf16"):
        parts = case.build(seed, device)
        config.precision = precision
        lib = run_sequential(parts, config, device, lib_first=True, lib_only=True)[
            "lib"
        ]
        lib["eval_loss"] = eval_loss(parts, parts["model"], case.batch_size)
        out[precision] = lib
        print(
            f"    {precision}: {lib['steps_per_s']:8.1f} steps/s, loss {lib['eval_loss']:.6g}",
            flush=True,
        )
    return out


def run_case(case, seeds, device, compile_mode, precision) -> list[dict]:
    """Both loops for every seed, then both trained models scored on one evaluation stream."""
    runs = []
    for seed in seeds:
        parts = case.build(seed, device)
        config = TrainConfig(
            steps=case.steps,
            batch_size=case.batch_size,
            log_every=case.steps,
            lr=case.lr,
            optimizer=case.optimizer,
            compile=compile_mode,
            precision=precision,
            **case.train_options,
        )
        if compile_mode == "auto":  # decide as the book's full-length run would
            elements = case.batch_size * parts["eval_sampler"]()(1).numel()
            config.compile = should_compile(
                TrainConfig(steps=case.book_steps), elements, device
            )
        if device.type == "cpu":
            result = {"seed": seed, **run_interleaved(parts, config)}
        else:
            result = {
                "seed": seed,
                **run_sequential(parts, config, device, lib_first=seed % 2 == 1),
            }
        for side, model in (("ref", parts["ref_model"]), ("lib", parts["model"])):
            result[side]["eval_loss"] = eval_loss(parts, model, case.batch_size)
        result["ratio"] = result["lib"]["steps_per_s"] / result["ref"]["steps_per_s"]
        result["load"] = os.getloadavg()[0]
        if device.type == "cuda" and case.name.startswith("denoiser"):
            result["precisions"] = compare_precisions(case, seed, device, config)
        runs.append(result)
        print(
            f"  seed {seed}: ref {result['ref']['steps_per_s']:7.2f} steps/s, lib {result['lib']['steps_per_s']:7.2f}"
            f" steps/s (x{result['ratio']:.2f}), lib first step {result['lib']['first_step_seconds']:.1f} s,"
            f" loss ref {result['ref']['eval_loss']:.5g} lib {result['lib']['eval_loss']:.5g},"
            f" {result.get('threads', torch.get_num_threads())} thread(s), load {result['load']:.1f}",
            flush=True,
        )
    return runs


def summarize(case, runs, peak):
    ref_loss = np.array([r["ref"]["eval_loss"] for r in runs])
    lib_loss = np.array([r["lib"]["eval_loss"] for r in runs])
    k = len(runs)
    # seed-to-seed spread: pooled sd of the two samples; agreement: |mean difference| <= 3 sd of the difference
    spread = (
        float(np.sqrt((ref_loss.var(ddof=1) + lib_loss.var(ddof=1)) / 2))
        if k > 1
        else float("nan")
    )
    diff = float(lib_loss.mean() - ref_loss.mean())
    lib_sps = statistics.median(r["lib"]["steps_per_s"] for r in runs)
    return {
        "case": case.name,
        "describe": case.describe,
        "batch_size": case.batch_size,
        "steps": case.steps,
        "ref_steps_per_s": statistics.median(r["ref"]["steps_per_s"] for r in runs),
        "lib_steps_per_s": lib_sps,
        "ratio": statistics.median(r["ratio"] for r in runs),
        "lib_gflops": case.flops * lib_sps / 1e9,
        "lib_fraction_of_peak": case.flops * lib_sps / 1e9 / peak,
        "ref_gflops": case.flops
        * statistics.median(r["ref"]["steps_per_s"] for r in runs)
        / 1e9,
        "lib_first_step_seconds": max(r["lib"]["first_step_seconds"] for r in runs),
        "compiled": runs[0]["lib"]["compiled"],
        "ref_loss": float(ref_loss.mean()),
        "lib_loss": float(lib_loss.mean()),
        "loss_spread": spread,
        "losses_agree": bool(abs(diff) <= 3 * spread * np.sqrt(2 / k))
        if k > 1
        else None,
        "precision_losses": {
            prec: float(np.mean([r["precisions"][prec]["eval_loss"] for r in runs]))
            for prec in runs[0].get("precisions", {})
        },
        "runs": runs,
    }


def print_table(rows, peak, device, threads):
    head = (
        f"{'case':20s} {'ref st/s':>9s} {'lib st/s':>9s} {'x ref':>6s} {'GFLOP/s':>8s} "
        f"{'%peak':>6s} {'1st s':>6s} {'ref loss':>9s} {'lib loss':>9s} {'spread':>8s} agree"
    )
    print(
        f"\nsgemm peak on {device}: {peak:.1f} GFLOP/s (fp32, {threads} thread(s))\n{head}\n{'-' * len(head)}"
    )
    for r in rows:
        if "skipped" in r:
            print(f"{r['case']:20s} NOT RUN: {r['skipped']}")
            continue
        print(
            f"{r['case']:20s} {r['ref_steps_per_s']:9.2f} {r['lib_steps_per_s']:9.2f} {r['ratio']:6.2f} "
            f"{r['lib_gflops']:8.2f} {100 * r['lib_fraction_of_peak']:5.1f}% "
            f"{r['lib_first_step_seconds']:6.1f} {r['ref_loss']:9.5f} {r['lib_loss']:9.5f} "
            f"{r['loss_spread']:8.5f} {'yes' if r['losses_agree'] else 'NO'}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="seeds per case (the loss spread needs >= 2)",
    )
    parser.add_argument(
        "--cases", default="", help="comma-separated case names (default: all)"
    )
    parser.add_argument(
        "--steps", type=int, default=0, help="override the steps of every timed run"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (default: torch's choice)",
    )
    parser.add_argument(
        "--compile",
        default="auto",
        choices=["auto", "on", "off"],
        help="lib.train's compile: auto = as the book's full-length run would decide",
    )
    parser.add_argument(
        "--precision",
        default="tf32",
        choices=["tf32", "fp32", "bf16"],
        help="CUDA only",
    )
    parser.add_argument("--out", default="_build/bench/bench.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    compile_mode = {"auto": "auto", "on": True, "off": False}[args.compile]
    wanted = {c for c in args.cases.split(",") if c}
    cases = [c for c in all_cases() if not wanted or c.name in wanted]
    load_before = os.getloadavg()
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} (1/5/15 min)",
        flush=True,
    )
    peak, peak_threads = matmul_peak(device), torch.get_num_threads()
    peak_tf32 = matmul_peak(device, tf32=True) if device.type == "cuda" else None
    rows = []
    for case in cases:
        case.steps = args.steps or case.steps
        skip = case.missing
        if case.cuda_only and device.type != "cuda":
            skip = "GPU only, and there is no CUDA device here"
        if skip:
            rows.append({"case": case.name, "skipped": skip})
            print(f"{case.name}: NOT RUN: {skip}", flush=True)
            continue
        print(
            f"{case.name}: {case.describe}, batch {case.batch_size}, {case.steps} steps per run",
            flush=True,
        )
        runs = run_case(case, range(args.seeds), device, compile_mode, args.precision)
        row = summarize(
            case, runs, peak_tf32 if peak_tf32 and args.precision != "fp32" else peak
        )
        row["load"] = os.getloadavg()
        rows.append(row)
    print_table(rows, peak, device, peak_threads)
    if peak_tf32:
        print(
            f"TF32 matmul peak: {peak_tf32:.0f} GFLOP/s (the %peak column uses it unless --precision fp32)"
        )
    load_after = os.getloadavg()
    print(f"load after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    report = {
        "device": str(device),
        "cuda": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "sgemm_peak_gflops": peak,
        "sgemm_peak_threads": peak_threads,
        "tf32_peak_gflops": peak_tf32,
        "load_before": load_before,
        "load_after": load_after,
        "argv": sys.argv[1:],
        "precision": args.precision,
        "compile": args.compile,
        "cases": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

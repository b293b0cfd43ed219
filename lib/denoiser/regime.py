"""The regime map of the denoiser: learned sign structure against what the post leaves open.

Each *cell* trains a few instances of one ``DenoiserConfig`` with one schedule and
records, per instance, the statistics of its learned sign matrix
(``structure.frustration_verdict``: neurons per feature, features per neuron, sign
constancy, overlaps, hubs, the iid and wiring z-scores) with the encoder clusters and the
held-out loss. The cells form coarse grids ("panels") over the loss power and initial
scale, the noise and k, the ratio d / h, and the size d. Chapter 5 reads the committed
results file; this module regenerates it:

    python -m lib.denoiser.regime --out results/05_frustrated_denoiser/regime_map/regime_map.jsonl

One JSON line per (cell, instance); cells already in the file are skipped, so an
interrupted run resumes. ``--panels`` and ``--cells`` select, ``--list`` prints the grid
with an estimate of its cost. One thread is enough (and polite on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..core.fit import fit
from ..core.seeds import stream
from ..core.training import TrainConfig
from .config import DenoiserConfig
from .structure import encoder_clusters, frustration_verdict, sign_structure

# The chapter's defaults (d = 3h; k = 2; σ = 0.05; p = 4 with roots; E init std 0.3;
# Adam lr 0.02, batch 256) and the map's shorter schedule: 8000 steps, the last 30 % a
# cosine decay (3-4 % above the converged loss at d = 192, the structure already fixed).
BASE = dict(n_features=192, n_hidden=64, k=2, noise_std=0.05, loss_power=4.0,
            encoder_init_std=0.3)
BASE_TRAIN = dict(steps=8000, batch_size=256, lr=0.02, decay_fraction=0.3)
# the size panel: lr = 0.02 (256 / 192²) (d² / B) keeps lr d² / B fixed


def _cells() -> list[dict]:
    cells = []
    for p in (1.5, 2.0, 3.0, 4.0, 6.0):  # panel "loss": power x initial scale
        for e in (None, 0.3, 1.0):
            cells.append({"panel": "loss", "loss_power": p, "encoder_init_std": e})
    for s in (0.05, 0.1, 0.2):  # panel "noise": sigma x k at p = 4
        for k in (2, 3):
            cells.append({"panel": "noise", "noise_std": s, "k": k})
    for h in (32, 64, 128):  # panel "ratio": d / h = 6, 3, 1.5 at d = 192
        for p in (2.0, 4.0):
            cells.append({"panel": "ratio", "n_hidden": h, "loss_power": p})
    # panel "size" (d / h = 3): the default recipe at 384, then the learning rate scaled
    # as lr ~ batch / d^2 (the gradient noise of a weight, per step, grows as d / sqrt(B))
    cells.append({"panel": "size", "n_features": 384, "batch_size": 256})
    cells.append({"panel": "size", "n_features": 384, "batch_size": 512, "lr": 0.01})
    cells.append({"panel": "size", "n_features": 768, "batch_size": 1024, "instances": 1})
    cells.append({"panel": "size", "n_features": 768, "batch_size": 1024, "lr": 0.005,
                  "steps": 16000, "instances": 1})
    for cell in cells:
        cell["name"] = cell_name(cell)
    return cells


def cell_name(cell: dict) -> str:
    """A short stable name from the cell's overrides (``p4-e0.3``, ``d768-h256-b1024``)."""
    keys = [("n_features", "d"), ("n_hidden", "h"), ("batch_size", "b"), ("lr", "lr"),
            ("steps", "t"), ("k", "k"), ("noise_std", "s"), ("loss_power", "p"),
            ("encoder_init_std", "e")]
    parts = [cell["panel"]]
    for key, short in keys:
        if key in cell:
            value = cell[key]
            parts.append(f"{short}{'default' if value is None else f'{value:g}'}")
    return "-".join(parts)


CELLS = _cells()
PANELS = tuple(dict.fromkeys(c["panel"] for c in CELLS))


def cell_configs(cell: dict, n_instances: int, steps: int | None = None):
    """The ``DenoiserConfig`` and ``TrainConfig`` of a cell (``BASE`` and ``BASE_TRAIN``
    with the cell's overrides)."""
    model = {**BASE, **{k: v for k, v in cell.items() if k in BASE}}
    if "n_features" in cell and "n_hidden" not in cell:
        model["n_hidden"] = cell["n_features"] // 3
    schedule = {**BASE_TRAIN, **{k: v for k, v in cell.items() if k in BASE_TRAIN}}
    total = int(steps or schedule["steps"])
    config = DenoiserConfig(model["n_features"], model["n_hidden"], n_instances,
                            k=model["k"], noise_std=model["noise_std"],
                            loss_power=model["loss_power"],
                            encoder_init_std=model["encoder_init_std"])
    train_config = TrainConfig(steps=total, batch_size=schedule["batch_size"],
                               lr=schedule["lr"], optimizer="adam",
                               schedule="constant_cosine",
                               decay_steps=max(1, int(total * schedule["decay_fraction"])),
                               log_every=max(1, total // 40))
    return config, train_config


def run_cell(cell: dict, *, seed: int = 0, n_instances: int = 2, steps: int | None = None,
             n_null: int = 200, device="cpu") -> list[dict]:
    """Train one cell and return one record per instance (see the module docstring)."""
    n_instances = int(cell.get("instances", n_instances))
    config, train_config = cell_configs(cell, n_instances, steps)
    started, cpu = time.perf_counter(), time.process_time()
    run = fit(config, train_config, seed=seed, device=device, progress=False,
              eval_batches=10)
    E = run.model.E.detach().cpu()
    clusters = encoder_clusters(E)
    S = sign_structure(E)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    records = []
    for i in range(n_instances):
        verdict = frustration_verdict(S[i], n_null=n_null, seed=stream(seed, f"null {i}"))
        records.append({
            "name": cell["name"], "panel": cell["panel"], "instance": i, "seed": seed,
            "config": asdict(config), "steps": train_config.steps,
            "batch_size": train_config.batch_size, "lr": train_config.lr,
            "decay_steps": train_config.decay_steps,
            "centre": float(clusters["centre"][i]), "ambiguous": float(clusters["ambiguous"][i]),
            "loss": float(run.eval_loss[i]), "final_train_loss": float(run.history.loss[-1, i]),
            "seconds": seconds, "cpu_seconds": cpu, **verdict,
        })
    return records


def cost_estimate(cell: dict, n_instances: int, steps: int | None = None) -> float:
    """Useful GFLOP of a cell's training (5 matmuls of B d h per step and instance)."""
    n_instances = int(cell.get("instances", n_instances))
    config, train_config = cell_configs(cell, n_instances, steps)
    per_step = 10.0 * train_config.batch_size * config.n_features * config.n_hidden
    return per_step * n_instances * train_config.steps / 1e9


def load(path) -> list[dict]:
    """The records of a results file (one JSON object per line)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.denoiser.regime",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/05_frustrated_denoiser/regime_map/"
                        "regime_map.jsonl")
    parser.add_argument("--panels", default="", help="comma-separated (default: all)")
    parser.add_argument("--cells", default="", help="comma-separated cell names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0, help="override every cell's steps")
    parser.add_argument("--null", type=int, default=200, help="null draws of each test")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--list", action="store_true", help="print the grid and exit")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    panels = {p for p in args.panels.split(",") if p}
    names = {c for c in args.cells.split(",") if c}
    cells = [c for c in CELLS if (not panels or c["panel"] in panels)
             and (not names or c["name"] in names)]
    steps = args.steps or None
    if args.list:
        for c in cells:
            print(f"{c['name']:32s} {cost_estimate(c, args.instances, steps):8.0f} GFLOP")
        total = sum(cost_estimate(c, args.instances, steps) for c in cells)
        print(f"{len(cells)} cells, {total:.0f} GFLOP in all")
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {r["name"] for r in load(out)} if out.exists() else set()
    for cell in cells:
        if cell["name"] in done:
            continue
        records = run_cell(cell, seed=args.seed, n_instances=args.instances, steps=steps,
                           n_null=args.null)
        with out.open("a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        cd = "/".join(f"{r['col_deg_mean']:.2f}" for r in records)
        print(f"{cell['name']:32s} m {cd}  {records[0]['cpu_seconds']:.0f} s CPU "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["BASE", "BASE_TRAIN", "CELLS", "PANELS", "cell_configs", "cell_name",
           "cost_estimate", "load", "run_cell"]

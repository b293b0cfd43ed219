"""Fan chapter runs out on Dask distributed: ``python -m lib.reporting.sweep``.

One job is (chapter, parameter file, seed): ``python -m lib.run CHAPTER -f FILE -p seed
SEED --out <results>/<chapter>/<run>/`` in a subprocess on a Dask worker, with
``<run> = <parameter set>-seed<SEED>`` (``gpu-seed0``), so a finished job leaves the
claims, provenance, compact weights and figures that the book shows beside the CPU run
once committed (see ``lib.reporting.results.paper_runs``).

Where the jobs run:

- default: a ``distributed.LocalCluster`` on this machine, one worker per GPU (each job
  sees only its worker's GPU through ``CUDA_VISIBLE_DEVICES``), or, without a GPU, one
  worker per ``--threads`` cores (``OMP_NUM_THREADS`` set to match);
- ``--address tcp://HOST:8786``: an existing Dask scheduler (its workers need this
  checkout importable and the chapter's dependencies; give each GPU worker one GPU, as
  ``dask-cuda`` does).

Every job's input is checked before any job starts (an unknown parameter or a bad file is
a one-line error, as with ``lib.run``). A job that fails (a cell raises, a claim fails, a
worker dies) is reported with the end of its log, and the others go on. Exit status 1 if
any job failed.

Examples::

    python -m lib.reporting.sweep --chapters 01 02 03 --params gpu --seeds 0 1 2
    python -m lib.reporting.sweep --chapters 05 --params gpu --seeds 0 --address tcp://10.0.0.5:8786
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .pages import count_statuses
from .results import project_root
from .run import find_chapter, parse_parameters, prepare


def parameter_files(params: str, chapter: str, book: Path) -> tuple[str, list[str]]:
    """``--params`` value -> (run name prefix, files): ``default`` (the chapter's own
    defaults), a folder name under ``book/params/`` (``gpu`` -> ``book/params/gpu/<chapter>.yml``)
    or a YAML file used for every chapter."""
    if params == "default":
        return "default", []
    folder_file = book / "params" / params / f"{chapter}.yml"
    if folder_file.exists():
        return params, [str(folder_file)]
    if Path(params).suffix in (".yml", ".yaml"):
        return Path(params).stem, [params]
    raise SystemExit(f"lib.reporting.sweep: no parameter file {folder_file} for --params "
                     f"{params!r} (give 'default', a folder of book/params/ or a .yml file)")


def make_jobs(chapters: list[str], params: list[str], seeds: list[int], book: Path,
              results: Path, extra: list[str] | None = None) -> list[dict]:
    """Every (chapter, parameter set, seed), checked like ``lib.run`` checks its input."""
    jobs = []
    for chapter in chapters:
        stem = find_chapter(chapter, book).stem
        for param in params:
            name, files = parameter_files(param, stem, book)
            files = files + list(extra or [])
            for seed in seeds:
                values, origin = parse_parameters([["seed", str(seed)]], files)
                prepare(stem, values, origin=origin, book_dir=book)
                jobs.append({"chapter": stem, "files": files, "seed": seed,
                             "run": f"{name}-seed{seed}",
                             "out": str(results / stem / f"{name}-seed{seed}"),
                             "book": str(book)})
    return jobs


def run_job(job: dict, threads: int = 1, pin_gpu: int = 0) -> dict:
    """Run one job in a subprocess (on a Dask worker); never raises for a failed chapter.
    ``pin_gpu``: the number of GPUs of a local cluster; worker k then runs on GPU k mod it."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(project_root(
        Path(__file__).parent)) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if pin_gpu:
        try:
            from distributed import get_worker

            env["CUDA_VISIBLE_DEVICES"] = str(int(get_worker().name) % pin_gpu)
        except (ImportError, ValueError, TypeError):
            pass
    command = [sys.executable, "-m", "lib.run", job["chapter"], "--book", job["book"],
               "--out", job["out"], "-p", "seed", str(job["seed"])]
    for file in job["files"]:
        command += ["-f", file]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env,
                          cwd=project_root(Path(__file__).parent))
    claims = Path(job["out"]) / f"{job['chapter']}.claims.json"
    counts = count_statuses(json.loads(claims.read_text())) if claims.exists() else None
    log = (done.stdout + done.stderr).strip().splitlines()
    return {**job, "returncode": done.returncode, "seconds": round(time.perf_counter() - start, 1),
            "counts": counts, "log_tail": log[-8:],
            "gpu": env.get("CUDA_VISIBLE_DEVICES")}


def local_cluster(threads: int, workers: int | None):
    """One worker per GPU, else one per ``threads`` cores; returns (cluster, GPU count)."""
    from distributed import LocalCluster

    gpus = 0
    try:
        import torch

        gpus = torch.cuda.device_count()
    except ImportError:
        pass
    n = workers or (gpus if gpus else max(1, (os.cpu_count() or 1) // threads))
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    return cluster, gpus


def describe(result: dict) -> str:
    counts = result.get("counts")
    claims = ("no claims file" if not counts else
              f"{counts['pass']} pass, {counts['disagree']} disagree, {counts['fail']} fail")
    status = "ok  " if result["returncode"] == 0 else "FAIL"
    where = f" gpu {result['gpu']}" if result.get("gpu") else ""
    return (f"{status} {result['chapter']} {result['run']}: {claims}, "
            f"{result['seconds']:.0f} s{where} -> {result['out']}")


def sweep(jobs: list[dict], address: str | None = None, threads: int = 1,
          workers: int | None = None, echo=print) -> list[dict]:
    """Run ``jobs`` on Dask; return one result per job (in completion order)."""
    from distributed import Client, as_completed

    cluster, pin = (None, 0) if address else local_cluster(threads, workers)
    results = []
    try:
        with Client(address or cluster) as client:
            echo(f"sweep: {len(jobs)} job(s) on {client.scheduler_info()['address']} "
                 f"({len(client.scheduler_info()['workers'])} worker(s))")
            futures = {client.submit(run_job, job, threads, pin, pure=False,
                                     key=f"{job['chapter']}-{job['run']}"): job for job in jobs}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    result = future.result()
                except Exception as err:  # the worker died or the job could not start
                    result = {**job, "returncode": -1, "seconds": 0.0, "counts": None,
                              "log_tail": [f"{type(err).__name__}: {err}"], "gpu": None}
                echo(describe(result))
                if result["returncode"] != 0:
                    for line in result["log_tail"]:
                        echo(f"       {line}")
                results.append(result)
    finally:
        if cluster is not None:
            cluster.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.reporting.sweep",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="+", required=True, help="e.g. 01 02 05")
    parser.add_argument("--params", nargs="+", default=["gpu"],
                        help="parameter sets: 'default', a folder of book/params/ ('gpu'), "
                        "or a .yml file (default: gpu)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--extra", action="append", default=[],
                        help="a YAML file applied after each job's parameter file")
    parser.add_argument("--results", default=None,
                        help="where runs land (default <project>/results)")
    parser.add_argument("--book", default=None, help="folder of the chapters")
    parser.add_argument("--address", help="an existing Dask scheduler (default: a local cluster)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads per job on a local cluster without GPUs")
    parser.add_argument("--workers", type=int, help="local workers (default: see above)")
    parser.add_argument("--report", help="write the results as JSON to this file")
    args = parser.parse_args(argv)

    root = project_root(Path(__file__).parent)
    book = Path(args.book).resolve() if args.book else root / "book"
    results_dir = Path(args.results).resolve() if args.results else root / "results"
    jobs = make_jobs(args.chapters, args.params, args.seeds, book, results_dir, args.extra)
    results = sweep(jobs, args.address, args.threads, args.workers)
    failed = [r for r in results if r["returncode"] != 0]
    print(f"sweep: {len(results) - len(failed)} passed, {len(failed)} failed")
    if args.report:
        Path(args.report).write_text(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The prepared GPU check: ``python3 tools/gpu_check.py`` (``make gpu-check``), <= 8 minutes.

On a machine with a CUDA device it

1. records the machine: device name, memory, capability, driver, torch and CUDA versions;
2. runs ``python -m bench --device cuda --seeds 2`` (every case, the GPU-only one
   included) and keeps each case's speed (steps/s of lib and of the reference loop, their
   ratio, GFLOP/s, first step, whether the losses agree);
3. runs each chapter with its paper-scale file and then its reduced-steps file
   (``-f book/params/gpu/<ch>.yml -f book/params/gpu-check/<ch>.yml``: paper sizes and
   instance counts, short training), up to five chapters at a time on the one GPU, each
   under a time limit (what is left of the budget after bench, per wave of chapters). A
   chapter **passes** when every cell executed: its claims may fail at these lengths
   (recorded, not counted against it); an exception, a refused input, or a timeout fails it;
4. writes ``results/gpu-check/record.json`` and ``record.md`` (the table the README
   quotes), plus each chapter's claims and provenance JSON under ``chapters/``.

Exit status 0 if CUDA was there, bench ran and every chapter passed. ``--allow-cpu`` runs
the same logic without CUDA (the rehearsal on a CPU machine: bench's CUDA-only case is
then skipped by bench itself), ``--book`` points at other chapters (the fixture chapters),
``--skip-bench`` leaves bench out.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict:
    import torch

    record = {"python": platform.python_version(), "host": platform.node(),
              "torch": torch.__version__, "cuda_build": torch.version.cuda,
              "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count(),
              "commit": os.environ.get("BOOK_COMMIT") or _git_commit()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        record.update(device=torch.cuda.get_device_name(0), device_count=torch.cuda.device_count(),
                      memory_gib=round(props.total_memory / 2**30, 1),
                      capability=f"{props.major}.{props.minor}",
                      cudnn=torch.backends.cudnn.version())
        try:
            record["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            record["driver"] = None
    else:
        record["device"] = "cpu (" + (platform.processor() or platform.machine()) + ")"
    return record


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=ROOT, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_limited(command: list[str], limit: float, env: dict, log: Path) -> tuple[int | None, float]:
    """Run ``command`` (its own process group: a kernel it starts dies with it), output to
    ``log``; return (exit status or None on timeout, seconds)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=max(1.0, limit))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    return code, round(time.perf_counter() - start, 1)


def bench(out: Path, limit: float, device: str, env: dict, cases: str = "") -> dict:
    report = out / "bench.json"
    command = [sys.executable, "-m", "bench", "--device", device, "--seeds", "2",
               "--out", str(report)] + (["--cases", cases] if cases else [])
    code, seconds = run_limited(command, limit, env, out / "bench.log")
    result = {"exit": code, "seconds": seconds, "cases": []}
    if code is None:
        result["status"] = f"timeout after {limit:.0f} s"
    if report.exists():
        data = json.loads(report.read_text())
        for row in data["cases"]:
            if "skipped" in row:
                result["cases"].append({"case": row["case"], "skipped": row["skipped"]})
                continue
            result["cases"].append({k: row.get(k) for k in (
                "case", "ref_steps_per_s", "lib_steps_per_s", "ratio", "lib_gflops",
                "lib_fraction_of_peak", "lib_first_step_seconds", "lib_loss", "ref_loss",
                "losses_agree", "precision_losses", "compiled")})
        result["tf32_peak_gflops"] = data.get("tf32_peak_gflops")
    result.setdefault("status", "ran" if code == 0 else f"exit {code}")
    return result


def chapter(stem: str, book: Path, out: Path, limit: float, env: dict) -> dict:
    files = [book / "params" / "gpu" / f"{stem}.yml", book / "params" / "gpu-check" / f"{stem}.yml"]
    missing = [str(f.relative_to(book.parent)) for f in files if not f.exists()]
    if missing:
        return {"chapter": stem, "status": "FAIL", "why": "missing " + ", ".join(missing)}
    run_dir = out / "chapters" / stem
    command = [sys.executable, "-m", "lib.run", stem, "--book", str(book), "--out", str(run_dir),
               "--log-output"]  # cell outputs in the log: where a timeout stopped
    for file in files:
        command += ["-f", str(file)]
    run_dir.mkdir(parents=True, exist_ok=True)
    log = out / "chapters" / f"{stem}.log"
    code, seconds = run_limited(command, limit, env, log)
    text = log.read_text(errors="replace")
    lines = text.splitlines()
    if len(lines) > 300:  # the record travels back from the GPU machine: keep it small
        log.write_text("\n".join(lines[:50] + ["[...]"] + lines[-250:]) + "\n")
    failure = next((ln for ln in text.splitlines() if ln.startswith("lib.run: ")
                    and "warning" not in ln), "")
    claims_file = run_dir / f"{stem}.claims.json"
    counts = None
    if claims_file.exists():
        rows = json.loads(claims_file.read_text())
        counts = {s: sum(r["status"] == s for r in rows) for s in {r["status"] for r in rows}}
    if code is None:
        status, why = "FAIL", f"timeout after {limit:.0f} s"
    elif code == 0:
        status, why = "pass", "every cell ran; claims hold"
    elif "failed: ClaimsFailed" in failure:
        status, why = "pass", "every cell ran; claims fail at reduced steps (expected)"
    else:
        status, why = "FAIL", failure or f"exit {code}: see chapters/{stem}.log"
    for path in sorted(run_dir.rglob("*"), reverse=True):  # keep the JSON: weights of
        if path.is_file() and path.suffix != ".json":      # paper-size models and the
            path.unlink()                                  # notebook are large
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return {"chapter": stem, "status": status, "why": why, "seconds": seconds,
            "claims": counts}


def markdown(record: dict) -> str:
    m = record["machine"]
    lines = [f"# GPU check, {record['created']}", "",
             f"- device: {m.get('device')} ({m.get('memory_gib', '?')} GiB, capability "
             f"{m.get('capability', '?')}, driver {m.get('driver', '?')})",
             f"- torch {m['torch']}, CUDA {m.get('cuda_build')}, cuDNN {m.get('cudnn', '?')}, "
             f"Python {m['python']}; commit {m.get('commit') or 'unknown'}",
             f"- wall time {record['seconds']:.0f} s; overall: **{record['status']}**", "",
             "| bench case | ref steps/s | lib steps/s | x ref | first step s | losses agree |",
             "|---|---|---|---|---|---|"]
    for case in record.get("bench", {}).get("cases", []):
        if "skipped" in case:
            lines.append(f"| {case['case']} | not run: {case['skipped']} | | | | |")
            continue
        def f(key, fmt="{:.2f}", case=case):
            value = case.get(key)
            return fmt.format(value) if isinstance(value, (int, float)) else str(value)
        lines.append(f"| {case['case']} | {f('ref_steps_per_s')} | {f('lib_steps_per_s')} | "
                     f"{f('ratio')} | {f('lib_first_step_seconds', '{:.1f}')} | "
                     f"{case.get('losses_agree')} |")
    lines += ["", "| chapter (gpu file + reduced steps) | result | why | seconds | claims |",
              "|---|---|---|---|---|"]
    for ch in record["chapters"]:
        lines.append(f"| {ch['chapter']} | {ch['status']} | {ch.get('why', '')} | "
                     f"{ch.get('seconds', '')} | {ch.get('claims') or ''} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/gpu_check.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "gpu-check"))
    parser.add_argument("--book", default=str(ROOT / "book"))
    parser.add_argument("--budget", type=float, default=460, help="seconds for everything")
    parser.add_argument("--bench-limit", type=float, default=200, help="seconds for bench")
    parser.add_argument("--parallel", type=int, default=5,
                        help="chapters at once on the GPU (141 GB on an H200; 16 cores compile)")
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument("--bench-cases", default="", help="bench cases (default: all)")
    parser.add_argument("--allow-cpu", action="store_true", help="rehearsal without CUDA")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    book = Path(args.book).resolve()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"), PYTHONUNBUFFERED="1")
    for name, folder in (("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"),
                         ("MPLCONFIGDIR", "matplotlib")):  # writable on a bare machine
        env.setdefault(name, str(Path(os.environ.get("TMPDIR", "/tmp")) / f"gpu-check-{folder}"))
    record = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "argv": sys.argv[1:]}
    cuda = record["machine"]["cuda_available"]
    print(f"gpu check: {record['machine'].get('device')}, torch {record['machine']['torch']}",
          flush=True)
    if not cuda and not args.allow_cpu:
        record.update(status="FAIL: no CUDA device", chapters=[], seconds=0.0)
    else:
        if not args.skip_bench:
            record["bench"] = bench(out, args.bench_limit, "cuda" if cuda else "cpu", env,
                                    args.bench_cases)
            print(f"bench: {record['bench']['status']} ({record['bench']['seconds']} s)",
                  flush=True)
        stems = sorted(p.stem for p in book.glob("[0-9]*.md"))
        left = args.budget - (time.perf_counter() - start)
        waves = -(-len(stems) // max(1, args.parallel))
        limit = max(30.0, left / max(1, waves) - 5)
        with futures.ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            jobs = [pool.submit(chapter, stem, book, out, limit, env) for stem in stems]
            record["chapters"] = []
            for job in futures.as_completed(jobs):
                result = job.result()
                print(f"{result['chapter']}: {result['status']} ({result.get('why', '')}, "
                      f"{result.get('seconds', 0)} s)", flush=True)
                record["chapters"].append(result)
        record["chapters"].sort(key=lambda r: r["chapter"])
        ok = (cuda or args.allow_cpu) and all(c["status"] == "pass" for c in record["chapters"])
        ok = ok and (args.skip_bench or record["bench"]["exit"] == 0)
        record["status"] = "pass" if ok else "FAIL"
        if not cuda:
            record["status"] += " (CPU rehearsal: not a GPU check)"
        record["seconds"] = round(time.perf_counter() - start, 1)
    (out / "record.json").write_text(json.dumps(record, indent=2))
    (out / "record.md").write_text(markdown(record))
    print((out / "record.md").read_text())
    return 0 if record["status"].startswith("pass") else 1


if __name__ == "__main__":
    sys.exit(main())

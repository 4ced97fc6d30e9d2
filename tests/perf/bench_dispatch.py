"""Dispatch benchmarks: per-candidate overhead of each executor, Slurm node scaling, concurrency from sacct.

    HPCMAP_BUILD_DIR=... .venv/bin/python tests/perf/bench_dispatch.py [--only overhead|scaling|overlap]
                                          [--candidates 8] [--skip-slurm] [--skip-mpi]

Overhead is the wall time of a batch run one candidate at a time (one worker, one Slurm node, one
MPI worker rank) minus the application processes' own wall time, per candidate, on a warm executor.
Slurm parts need the local cluster up (slurm/cluster.sh up --nodes 4).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hpcmap.evaluate import EvalRecord, EvalRequest, make_requests  # noqa: E402

SIZE = "nx=200,ny=200,steps=5"
GOALS = {"local": 0.2, "slurm": 2.0, "mpi": 0.1}


def requests(count: int, trials: int = 1, tag: str = "", size: str = SIZE) -> list[EvalRequest]:
    base = make_requests(["default"], "stencil", size, trials=trials, timeout_s=120)[0]
    # Distinct candidates (distinct keys) that all run like the default mapper.
    return [replace(base, name=f"{tag}c{i}", app_args=("-benchtag", f"{tag}{i}")) for i in range(count)]


def app_seconds(records: list[EvalRecord]) -> float:
    return sum(t["wall_s"] for r in records for t in r.trials)


def timed(executor, reqs: list[EvalRequest]) -> tuple[float, list[EvalRecord]]:
    start = time.perf_counter()
    records = list(executor.submit(reqs))
    return time.perf_counter() - start, records


def overhead_line(name: str, wall: float, records: list[EvalRecord]) -> dict:
    app = app_seconds(records)
    per = (wall - app) / len(records)
    bad = [r.outcome for r in records if r.outcome != "ok"]
    status = "meets" if per < GOALS[name] else "MISSES"
    print(f"overhead {name:6s}: {per:.3f} s per candidate ({len(records)} candidates, batch {wall:.2f} s, "
          f"app processes {app:.2f} s); goal < {GOALS[name]} s: {status}" + (f"; outcomes {bad}" if bad else ""))
    return {"executor": name, "per_candidate_s": per, "batch_s": wall, "app_s": app, "n": len(records)}


def bench_local(count: int) -> dict:
    from hpcmap.dispatch.local import LocalExecutor

    ex = LocalExecutor(1)
    try:
        timed(ex, requests(1, tag="warm"))
        wall, records = timed(ex, requests(count, tag="local"))
    finally:
        ex.close()
    return overhead_line("local", wall, records)


def slurm_executor(folder: Path, **sbatch):
    from hpcmap.dispatch.slurm import SlurmExecutor, SlurmOptions

    return SlurmExecutor(SlurmOptions(folder=str(folder), job_name="hpcmap-bench", sbatch=sbatch,
                                      poll_s=0.05, state_poll_s=1.0))


def bench_slurm(count: int, folder: Path) -> dict:
    """Latency of one candidate at a time on the idle cluster, then a batch queued on one 1-CPU node
    (there the cluster's scheduling pass, sched_interval=2 s in slurm/templates, paces the jobs)."""
    ex = slurm_executor(folder / "latency")
    timed(ex, requests(1, tag="warm"))
    walls, records = [], []
    for i in range(count):
        wall, recs = timed(ex, requests(1, tag=f"lat{i}"))
        walls.append(wall)
        records += recs
    result = overhead_line("slurm", sum(walls), records)
    queued = slurm_executor(folder / "queued", nodelist="node1")
    wall, recs = timed(queued, requests(count, tag="queued"))
    per = (wall - app_seconds(recs)) / len(recs)
    print(f"overhead slurm, {count} queued on one node: {per:.3f} s per candidate (batch {wall:.2f} s, "
          f"app processes {app_seconds(recs):.2f} s)")
    return {**result, "queued_one_node_per_candidate_s": per}


def bench_mpi(count: int) -> dict:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    proc = subprocess.run([str(mpiexec), "-n", "2", sys.executable, __file__, "--mpi-rank", str(count)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"mpi benchmark failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    records = [EvalRecord.from_dict(r) for r in result["records"]]
    return overhead_line("mpi", result["wall"], records)


def mpi_rank(count: int) -> None:
    from hpcmap.dispatch import mpi

    if mpi.is_worker_rank():
        mpi.serve()
        return
    ex = mpi.MpiExecutor()
    try:
        timed(ex, requests(1, tag="warm"))
        wall, records = timed(ex, requests(count, tag="mpi"))
    finally:
        ex.close()
    print(json.dumps({"wall": wall, "records": [r.as_dict() for r in records]}))


def sacct_times(job_ids: list[str]) -> list[tuple[datetime, datetime, str]]:
    roots = ",".join(sorted({j.split("_")[0] for j in job_ids}))
    deadline = time.monotonic() + 60
    while True:
        out = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "JobID,Start,End,NodeList,State", "-j", roots],
                             capture_output=True, text=True, timeout=60).stdout
        rows = {line.split("|")[0]: line.split("|") for line in out.splitlines()}
        picked = [rows.get(j) for j in job_ids]
        if all(r and r[4] == "COMPLETED" for r in picked) or time.monotonic() > deadline:
            return [(datetime.fromisoformat(r[1]), datetime.fromisoformat(r[2]), r[3]) for r in picked if r]
        time.sleep(0.5)


def bench_scaling(folder: Path, count: int = 16, trials: int = 3, size: str = SIZE) -> dict:
    results = {}
    for label, sbatch in (("1 node", {"nodelist": "node1"}), ("2 nodes", {"exclude": "node3,node4"})):
        ex = slurm_executor(folder / label.replace(" ", ""), **sbatch)
        wall, records = timed(ex, requests(count, trials, tag=label[0], size=size))
        nodes = sorted({r.worker.get("node") for r in records})
        bad = [r.outcome for r in records if r.outcome != "ok"]
        print(f"scaling {label}: {count} candidates x {trials} trials ({size}) in {wall:.2f} s on {nodes}"
              + (f"; outcomes {bad}" if bad else ""))
        results[label] = wall
    speedup = results["1 node"] / results["2 nodes"]
    print(f"scaling speedup 2 nodes / 1 node: {speedup:.2f}x (goal >= 1.8x: {'meets' if speedup >= 1.8 else 'MISSES'})")
    return {"one_node_s": results["1 node"], "two_nodes_s": results["2 nodes"], "speedup": speedup}


def bench_overlap(folder: Path, trials: int = 8) -> dict:
    ex = slurm_executor(folder / "overlap")
    wall, records = timed(ex, requests(4, trials, tag="o"))
    times = sacct_times([r.worker["job_id"] for r in records])
    starts, ends = [t[0] for t in times], [t[1] for t in times]
    nodes = sorted(t[2] for t in times)
    overlap = (min(ends) - max(starts)).total_seconds()
    for r, (s, e, n) in zip(records, times):
        print(f"overlap job {r.worker['job_id']:>8s} on {n}: {s.time()} .. {e.time()}")
    print(f"overlap: 4 candidates on {nodes}; all four running at once for {overlap:.0f} s "
          f"(sacct has 1 s resolution){'' if overlap > 0 else ' -- NOT concurrent'}")
    return {"nodes": nodes, "overlap_s": overlap}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", choices=("overhead", "scaling", "overlap"))
    p.add_argument("--candidates", type=int, default=8)
    p.add_argument("--scaling-size", default=SIZE, help="app size of the scaling runs")
    p.add_argument("--scaling-trials", type=int, default=3)
    p.add_argument("--skip-slurm", action="store_true")
    p.add_argument("--skip-mpi", action="store_true")
    p.add_argument("--mpi-rank", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mpi_rank is not None:
        mpi_rank(args.mpi_rank)
        return
    folder = Path(tempfile.mkdtemp(prefix="hpcmap-bench-"))
    summary: dict = {}
    if args.only in (None, "overhead"):
        summary["local"] = bench_local(args.candidates)
        if not args.skip_mpi:
            summary["mpi"] = bench_mpi(args.candidates)
        if not args.skip_slurm:
            summary["slurm"] = bench_slurm(args.candidates, folder)
    if not args.skip_slurm and args.only in (None, "scaling"):
        summary["scaling"] = bench_scaling(folder, trials=args.scaling_trials, size=args.scaling_size)
    if not args.skip_slurm and args.only in (None, "overlap"):
        summary["overlap"] = bench_overlap(folder)
    print(json.dumps(summary))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

"""Best mapper found by each optimizer after k evaluations, normalized to the expert mapper.

    .venv/bin/python tests/perf/bench_tune.py [--apps stencil] [--optimizers random,ccd]
                                             [--budgets 10] [--repeats 1] [--machine local]
                                             [--size small] [--trials 3] [--executor local]

For each app, optimizer and repeat (seed = repeat number) it runs a real `hpcmap tune` with the
largest budget and reads the study: after the k-th candidate, the expert's median over the best
median so far (the published table's measure: above 1.0 beats the expert); the answer's speedup
over expert and default after the interleaved re-measurement; whether the answer was valid; and
the wall time from the study's start to the k-th candidate. On a 4-GPU host:

    --apps stencil,circuit,pennant --optimizers random,ccd,opentuner,tpe --budgets 10,50
    --repeats 5 --machine h100x4 --size gpu
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hpcmap.store import Store

REPO = Path(__file__).resolve().parents[2]


def tune(app: str, optimizer: str, seed: int, budget: int, args, folder: Path) -> dict:
    store = folder / f"{app}-{optimizer}-{seed}.h5"
    cmd = [sys.executable, "-m", "hpcmap.cli", "tune", app, "--optimizer", optimizer, "--seed", str(seed),
           "--budget", str(budget), "--trials", str(args.trials), "--machine", args.machine,
           "--executor", args.executor, "--store", str(store), "-o", str(store.with_suffix(".map")), "--json"]
    if args.size:
        cmd += ["--size", args.size]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.time() - start
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1], "wall_s": wall}
    out = json.loads(proc.stdout)
    records = Store(store).records()
    started = min(r["started_at"] for r in records if r.get("started_at"))
    done = sorted(r["finished_at"] for r in records if (r.get("study") or {}).get("role") == "candidate")
    return {"json": out, "wall_s": wall, "started": started, "candidate_done": done}


def at(result: dict, k: int) -> dict:
    """Normalized best-so-far and wall time after the k-th candidate of one tune."""
    rows = result["json"]["history"]
    expert = next((r["median_s"] for r in rows if r["name"] == "expert" and r["outcome"] == "ok"), None)
    upto = [r for r in rows if r["iteration"] == 0] + [r for r in rows if r["iteration"] > 0][:k]
    best = upto[-1]["best_so_far_s"] if upto else None
    done = result["candidate_done"]
    return {"normalized": expert / best if expert and best else None,
            "wall_s": done[min(k, len(done)) - 1] - result["started"] if done else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", default="stencil")
    ap.add_argument("--optimizers", default="random,ccd")
    ap.add_argument("--budgets", default="10", help="comma-separated k; the tune runs the largest")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--machine", default="local")
    ap.add_argument("--size", default=None)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--executor", default="local")
    ap.add_argument("--keep", metavar="DIR", help="keep the study stores here")
    args = ap.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_tune-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"machine {args.machine}, size {args.size or 'small'}, {args.trials} trials per candidate, "
          f"{args.repeats} repeat(s), executor {args.executor}; stores in {folder}")
    print(f"{'app':8s} {'optimizer':10s} {'k':>4s} {'expert/best mean':>17s} {'min':>6s} {'answer/expert':>14s} "
          f"{'answer/default':>15s} {'valid':>6s} {'wall to k (s)':>14s}")
    for app in args.apps.split(","):
        for optimizer in args.optimizers.split(","):
            results = [tune(app, optimizer, seed, budgets[-1], args, folder) for seed in range(args.repeats)]
            for failed in (r for r in results if "error" in r):
                print(f"{app:8s} {optimizer:10s} FAILED after {failed['wall_s']:.0f} s: {failed['error']}")
            good = [r for r in results if "json" in r]
            if not good:
                continue
            valid = sum(r["json"]["best"]["outcome"] == "ok" for r in good)
            answer_e = _mean([r["json"]["best"]["speedup_vs_expert"] for r in good])
            answer_d = _mean([r["json"]["best"]["speedup_vs_default"] for r in good])
            for k in budgets:
                points = [at(r, k) for r in good]
                norm = [p["normalized"] for p in points if p["normalized"] is not None]
                walls = [p["wall_s"] for p in points if p["wall_s"] is not None]
                print(f"{app:8s} {optimizer:10s} {k:4d} {_fmt(_mean(norm)):>17s} {_fmt(min(norm) if norm else None):>6s} "
                      f"{_fmt(answer_e):>14s} {_fmt(answer_d):>15s} {valid:>3d}/{len(results):<2d} "
                      f"{_fmt(_mean(walls), '.0f'):>14s}")


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


if __name__ == "__main__":
    main()

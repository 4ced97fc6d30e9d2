"""Default against expert mapper for each application, trials interleaved, on one machine spec.

    .venv/bin/python tests/perf/bench_expert.py [--apps stencil,circuit,pennant] [--machine local]
                                                [--size small] [--trials 5]

Prints one row per app: the median and 95% confidence interval of each mapper's timed region
and the speedup of expert over default (median ratio). A failed trial is reported, not hidden.
"""
from __future__ import annotations

import argparse

from hpcmap import runner
from hpcmap.legion import launch
from hpcmap.stats import summarize


def measure(app: str, machine: str, size: str | None, trials: int) -> dict:
    plans = {m: runner.prepare(app, machine, size, m) for m in ("default", "expert")}
    times: dict[str, list[float]] = {m: [] for m in plans}
    failures: list[str] = []
    for i in range(trials):
        order = list(plans) if i % 2 == 0 else list(reversed(plans))
        for mapper in order:
            trial = runner.run_trials(plans[mapper], 1, timeout_s=600)[0]
            if trial.outcome == launch.OK and trial.elapsed_s is not None:
                times[mapper].append(trial.elapsed_s)
            else:
                failures.append(f"{mapper} trial {i}: {trial.outcome}: {trial.message}")
    return {"app": app, "size": plans["default"].params, "stats": {m: summarize(t) for m, t in times.items()},
            "times": times, "failures": failures}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", default="stencil,circuit,pennant")
    ap.add_argument("--machine", default="local")
    ap.add_argument("--size", default=None)
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    rows = [measure(app, args.machine, args.size, args.trials) for app in args.apps.split(",")]
    print(f"machine {args.machine}, size {args.size or 'small'}, {args.trials} interleaved trials per mapper")
    print(f"{'app':8s} {'default median (s)':>22s} {'expert median (s)':>22s} {'speedup':>8s}")
    for row in rows:
        d, e = row["stats"]["default"], row["stats"]["expert"]
        cell = lambda s: f"{s['median_s']:.4f} ±{s['ci95_s'] or 0:.4f}" if s["n"] else "failed"
        speed = f"{d['median_s'] / e['median_s']:.2f}x" if d["n"] and e["n"] else "n/a"
        print(f"{row['app']:8s} {cell(d):>22s} {cell(e):>22s} {speed:>8s}")
        for name, t in row["times"].items():
            print(f"    {name}: " + " ".join(f"{x:.4f}" for x in t))
        for failure in row["failures"]:
            print(f"    FAILED {failure}")


if __name__ == "__main__":
    main()

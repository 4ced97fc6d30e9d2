"""Mapper overhead: stencil with Legion's DefaultMapper against a policy stating DefaultMapper's own
choices (tests/mapper_cases/default_equiv.map), interleaved; prints the medians and their ratio.

    HPCMAP_BUILD_DIR=... .venv/bin/python tests/perf/bench_mapper.py [--trials 10] [--size small]
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from hpcmap import runner

ROOT = Path(__file__).resolve().parents[2]
STATED = ROOT / "tests" / "mapper_cases" / "default_equiv.map"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--size", default=None, help="size preset or overrides, as for `hpcmap run`")
    ap.add_argument("--machine", default="local", help="machine spec; the stated policy is CPU-only, "
                                                        "so on a GPU host use a CPU-only spec such as cpu8")
    args = ap.parse_args()
    plans = {name: runner.prepare("stencil", machine_name=args.machine, size=args.size, mapper=mapper)
             for name, mapper in (("default", "default"), ("policy", str(STATED)))}
    times: dict[str, list[float]] = {name: [] for name in plans}
    for i in range(args.trials):
        for name, plan in (plans.items() if i % 2 == 0 else reversed(plans.items())):
            trial = runner.run_trials(plan, 1, timeout_s=300)[0]
            if trial.outcome != "ok" or trial.elapsed_s is None:
                raise SystemExit(f"{name} trial {i} failed: {trial.outcome} {trial.message}")
            times[name].append(trial.elapsed_s)
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:8s} median {med[name]:.6f} s  min {min(t):.6f} s  trials {len(t)}")
    print(f"ratio policy/default (medians): {med['policy'] / med['default']:.4f}  (goal <= 1.02)")
    print(f"ratio policy/default (minima):  {min(times['policy']) / min(times['default']):.4f}")


if __name__ == "__main__":
    main()

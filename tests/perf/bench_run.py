"""hpcmap's own cost around `hpcmap run`: per-trial overhead and Legion process start-up.

Prints: the wall of `hpcmap run stencil --trials 5` minus the app processes' walls, over 5
(goal under 50 ms), and the wall of one Legion process doing almost nothing (start-up and
shutdown), as the median of several runs.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]
TRIALS = 5


def overhead_per_trial(size: str) -> tuple[float, float, float]:
    start = time.perf_counter()
    done = subprocess.run(HPCMAP + ["run", "stencil", "--trials", str(TRIALS), "--size", size, "--json"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    total = time.perf_counter() - start
    app_walls = sum(t["wall_s"] for t in json.loads(done.stdout)["trials"])
    return total, app_walls, (total - app_walls) / TRIALS


def startup_cost(repeats: int = 7) -> float:
    from hpcmap import runner

    plan = runner.prepare("stencil", size="nx=5,ny=5,ntx=1,nty=1,steps=1,prune=0")
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(plan.argv(), env=plan.env, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main() -> None:
    size = "small"
    total, apps, per_trial = overhead_per_trial(size)
    print(f"hpcmap run stencil --trials {TRIALS} --size {size}: total {total:.3f} s, app processes {apps:.3f} s")
    print(f"  hpcmap overhead per trial: {per_trial * 1000:.1f} ms (goal < 50 ms)")
    print(f"Legion start-up + shutdown of one process (stencil 5x5, 1 step), median of 7: {startup_cost():.3f} s")


if __name__ == "__main__":
    main()

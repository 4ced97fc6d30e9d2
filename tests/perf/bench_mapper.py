"""Mapper overhead: an app with Legion's DefaultMapper, with a policy stating DefaultMapper's own
choices, and with its expert mapper, trials interleaved in a rotating order; prints each mapper's
median with its 95% CI and the ratio to the first mapper's median.

    .venv/bin/python tests/perf/bench_mapper.py [--app pennant] [--size small] [--cpus 4] [--trials 10]
    .venv/bin/python tests/perf/bench_mapper.py --app circuit --size medium --machine h100x4 \
        --mappers default,stated_gpu,expert

Each mapper's trial of a round is compared with the first mapper's trial of the same round: the
geometric mean of those paired ratios, with its 95% CI, resolves a small difference better than the
ratio of medians when the host drifts.

`--mapper-time` profiles every trial with Legion Prof and also reports the time spent in mapper
calls (all of them, and map_task alone), and the copies, fills and instances Legion made: measures
of the mapper's own cost and of the work its decisions cause, which the spread of end-to-end times
on a busy host does not drown.

The machine is one node of `--cpus` CPU processors and no GPUs (a spec written for the run) unless
`--machine` names one, so a GPU host measures CPU mapping overhead too; pin the whole run with
`taskset` on a shared host. `stated` is tests/mapper_cases/default_equiv.map (CPUs, system memory,
SOA with the first dimension fastest); `stated_gpu` says what DefaultMapper does on a GPU machine.
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from pathlib import Path

from hpcmap import runner
from hpcmap.stats import summarize, t95

ROOT = Path(__file__).resolve().parents[2]
MAPPERS = {"default": "default", "stated": str(ROOT / "tests" / "mapper_cases" / "default_equiv.map"),
           "expert": "expert", "stated_gpu": "stated_gpu.map"}
STATED_GPU = """# DefaultMapper's own choices on a GPU machine, stated.
Task * GPU,CPU;
Region * * GPU FBMEM;
Region * * CPU SYSMEM;
Layout * * * SOA F_order;
"""


def cpu_machine(directory: Path, cpus: int) -> Path:
    spec = directory / f"cpu{cpus}.toml"
    spec.write_text(f'name = "cpu{cpus}"\nnodes = 1\n[node]\ncpus = {cpus}\nutility = 1\ngpus = 0\n'
                    f"sysmem_mb = 4096\n")
    return spec


def mapper_call_ms(prof_dir: Path) -> tuple[float, float, int, int, int]:
    """Milliseconds inside mapper calls in a run's Legion Prof logs (all calls, and map_task), and the
    copies, fills and instances Legion made."""
    from hpcmap.profile.importer import load_logs

    tables, _, _ = load_logs(sorted(prof_dir.glob("prof_*.gz")))
    calls = tables["mapper_calls"]
    kinds = {int(r["kind"]) for r in tables["mapper_call_kinds"] if str(r["name"]) == "map_task"}
    busy = (calls["stop"] - calls["start"]).astype(float)
    is_map = [int(k) in kinds for k in calls["kind"]]
    return (busy.sum() / 1e6, busy[is_map].sum() / 1e6, len(tables["copies"]), len(tables["fills"]),
            len(tables["instances"]))


def paired_ratio(times: list[float], base: list[float]) -> tuple[float, float, float]:
    """Geometric mean of the per-round ratios times[i] / base[i], and its 95% interval."""
    logs = [math.log(t / b) for t, b in zip(times, base)]
    mean = statistics.fmean(logs)
    half = t95(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else 0.0
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", default="pennant")
    ap.add_argument("--size", default=None, help="size preset or overrides, as for `hpcmap run`")
    ap.add_argument("--cpus", type=int, default=4, help="CPU processors of the machine (no GPUs)")
    ap.add_argument("--machine", default=None, help="a machine spec instead of --cpus")
    ap.add_argument("--mappers", default="default,stated,expert", help=f"comma-separated, of {sorted(MAPPERS)}")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--mapper-time", action="store_true", help="profile each trial; report time in mapper calls")
    args = ap.parse_args()
    names = args.mappers.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        machine = args.machine or str(cpu_machine(Path(tmp), args.cpus))
        (Path(tmp) / MAPPERS["stated_gpu"]).write_text(STATED_GPU)
        plans = {name: runner.prepare(args.app, machine_name=machine, size=args.size,
                                      mapper=str(Path(tmp) / MAPPERS[name]) if name == "stated_gpu" else MAPPERS[name])
                 for name in names}
        times: dict[str, list[float]] = {name: [] for name in names}
        in_mapper: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        for i in range(args.trials):
            for name in names[i % len(names):] + names[:i % len(names)]:  # each mapper leads in turn
                prof = Path(tmp) / f"prof-{name}-{i}" if args.mapper_time else None
                trial = runner.run_trials(plans[name], 1, timeout_s=300, profile_dir=prof)[0]
                if trial.outcome != "ok" or trial.elapsed_s is None:
                    raise SystemExit(f"{name} trial {i} failed: {trial.outcome} {trial.message}")
                times[name].append(trial.elapsed_s)
                if prof:
                    in_mapper[name].append(mapper_call_ms(prof / "trial0"))
                print(f"trial {i} {name} {trial.elapsed_s:.4f} s", flush=True)
    base = statistics.median(times[names[0]])
    print(f"{args.app} size {args.size or 'default'}, machine {Path(machine).stem}, {args.trials} interleaved trials each")
    for name in names:
        s = summarize(times[name])
        print(f"{name:8s} median {s['median_s']:.4f} s  ci95 ±{s['ci95_s'] or 0:.4f}  min {min(times[name]):.4f}  "
              f"ratio to {names[0]} (medians) {s['median_s'] / base:.3f}  trials {' '.join(f'{t:.4f}' for t in times[name])}")
    for name in names[1:]:
        ratio, lo, hi = paired_ratio(times[name], times[names[0]])
        print(f"{name:8s} paired ratio to {names[0]} (geometric mean of rounds) {ratio:.3f}, 95% CI {lo:.3f} to {hi:.3f}")
    for name in names:
        if in_mapper[name]:
            total, mapping, copies, fills, instances = (statistics.median(x) for x in zip(*in_mapper[name]))
            print(f"{name:8s} in mapper calls: median {total:.1f} ms per run, of which map_task {mapping:.1f} ms; "
                  f"Legion made (medians) {copies:.0f} copies, {fills:.0f} fills, {instances:.0f} instances")


if __name__ == "__main__":
    main()

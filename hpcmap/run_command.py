"""`hpcmap run APP`: run the real application N times and report its timings."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from hpcmap import runner
from hpcmap.cli import positive_seconds
from hpcmap.errors import UserError
from hpcmap.legion import launch
from hpcmap.profile import rundir


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run an application N times and print timing statistics",
        description="Build the application if needed, run it TRIALS times as separate Legion processes "
                    "with the chosen mapper, and print per-trial times with mean, median, standard "
                    "deviation and the 95%% confidence interval of the mean.")
    p.add_argument("app", help="application name (specs/apps/APP.toml), e.g. stencil")
    p.add_argument("--machine", default="local", help="machine spec name or .toml path (default: local, detected)")
    p.add_argument("--mapper", default="default", help="default (Legion's DefaultMapper), expert, or a mapper file")
    p.add_argument("--trials", type=int, default=5, help="number of runs (default: 5)")
    p.add_argument("--size", help="size preset and/or key=value overrides, e.g. medium or nx=800,steps=10")
    p.add_argument("--timeout", type=positive_seconds("--timeout"), default=300.0, help="seconds allowed per trial (default: 300)")
    p.add_argument("--profile", metavar="DIR", help="write Legion Prof logs of every trial under DIR "
                                                    "and add them as new runs to DIR/trace.h5")
    p.add_argument("--force", action="store_true",
                   help="with --profile: delete the earlier runs in DIR (trace.h5, trial*/) instead of adding to them")
    p.add_argument("--app-args", default="", metavar="ARGS",
                   help="extra arguments for the application, quoted, e.g. \"-trace 0\"")
    p.add_argument("--legion-root", help="build against this Legion install instead of the wheel's")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    if args.trials < 1:
        raise UserError("--trials must be at least 1")
    try:
        extra = shlex.split(args.app_args)
    except ValueError as exc:
        raise UserError(f"--app-args: {exc}") from None
    profile = _profile_dir(args)
    try:
        plan = runner.prepare(args.app, args.machine, args.size, args.mapper, args.legion_root, extra)
        table = None if args.json else _Table(plan)
        trials = runner.run_trials(plan, args.trials, args.timeout, profile.staging if profile else None,
                                   on_trial=table.add if table else None)
    except BaseException:
        if profile:
            rundir.settle(profile)
        raise
    stats = runner.statistics_of(trials)
    trace = None
    if profile:
        trace, notes = _import_traces(profile, plan, trials)
        for note in notes:
            print(f"hpcmap: warning: profile of {note}", file=sys.stderr)
    failed = next((t for t in trials if t.outcome != launch.OK), None)
    if args.json:
        out = {"app": plan.app.name, "mapper": plan.mapper.label, "machine": plan.machine.name,
               "size": plan.app.typed(plan.params), "command": plan.command_line(),
               "trials": [_trial_json(t) for t in trials], "stats": stats}
        if trace:
            out["trace"] = str(trace)
        if failed:
            out["error"] = {"outcome": failed.outcome, "message": failed.message}
        print(json.dumps(out, indent=2))
    else:
        table.finish(stats, trace)
    if failed:
        if not args.json:
            print(f"hpcmap: error: trial {len(trials)} of {plan.app.name}: {failed.outcome}: {failed.message}",
                  file=sys.stderr)
        return 1
    return 0


def _trial_json(t: launch.Trial) -> dict:
    return {"elapsed_s": t.elapsed_s, "check": t.check, "exit_code": t.exit_code, "outcome": t.outcome,
            "wall_s": t.wall_s, "metric": t.result.get("metric"), "unit": t.result.get("unit"),
            "message": t.message, **({"decisions": t.decisions} if t.decisions else {})}


def _profile_dir(args):
    if not args.profile:
        if args.force:
            raise UserError("--force only applies with --profile DIR")
        return None
    return rundir.prepare(Path(args.profile), force=args.force)


def _import_traces(profile, plan: runner.RunPlan, trials: list[launch.Trial]) -> tuple[Path | None, list[str]]:
    return rundir.collect(profile, lambda index: {
        "app": plan.app.name, "mapper": plan.mapper.label, "machine": plan.machine.name,
        "command": plan.command_line(), "outcome": trials[index].outcome if index < len(trials) else "unknown"})


class _Table:
    """Prints each trial as it finishes, then the statistics."""

    def __init__(self, plan: runner.RunPlan):
        from rich.console import Console

        self.console = Console(highlight=False, soft_wrap=True)
        self.plan = plan
        self.console.print(f"[bold]{plan.app.name}[/] on [bold]{plan.machine.name}[/] with mapper "
                           f"[bold]{plan.mapper.label}[/]; size " + " ".join(f"{k}={v}" for k, v in plan.params.items()))

    def add(self, index: int, trial: launch.Trial) -> None:
        if trial.outcome == launch.OK:
            metric = trial.result.get("metric")
            unit = trial.result.get("unit", "")
            extra = f"  {metric:.2f} {unit}" if isinstance(metric, (int, float)) else ""
            self.console.print(f"  trial {index + 1}: {trial.elapsed_s:.6f} s  (process {trial.wall_s:.3f} s){extra}  check {trial.check}")
        else:
            self.console.print(f"  trial {index + 1}: [red]{trial.outcome}[/]: {trial.message}")

    def finish(self, stats: dict, trace: Path | None) -> None:
        from rich.table import Table

        if not stats["n"]:
            return
        table = Table(title=f"{self.plan.app.name}: timed region over {stats['n']} trial(s)")
        for col in ("mean (s)", "median (s)", "std (s)", "95% CI (s)", "CV"):
            table.add_column(col, justify="right")
        ci = f"±{stats['ci95_s']:.6f}" if stats["ci95_s"] is not None else "n/a"
        cv = f"{stats['cv']:.3f}" if stats["cv"] is not None else "n/a"
        table.add_row(f"{stats['mean_s']:.6f}", f"{stats['median_s']:.6f}", f"{stats['std_s']:.6f}", ci, cv)
        self.console.print(table)
        if trace:
            self.console.print(f"trace: {trace}")

"""Run an application N times as separate Legion processes with a chosen mapper and machine."""
from __future__ import annotations

import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hpcmap import apps, machine, mappers
from hpcmap.legion import build, launch, runtime
from hpcmap.stats import summarize


@dataclass
class RunPlan:
    """Everything needed to launch one trial: the command line pieces and the environment."""

    app: apps.App
    machine: machine.MachineSpec
    params: dict[str, str]
    mapper: mappers.MapperChoice
    policy: Path | None
    exe: Path
    env: dict[str, str]
    extra_args: list[str] = field(default_factory=list)
    decision_logs: bool = False  # keep every process's mapper decisions in each trial (several nodes)

    def argv(self, profile_dir: Path | None = None, mapper_log: Path | None = None) -> list[str]:
        argv = [str(self.exe)] + self.app.arguments(self.params) + self.machine.legion_flags()
        if self.policy:
            argv += ["-hpcmap:policy", str(self.policy)]
        if mapper_log:
            argv += ["-hpcmap:log", str(mapper_log)]
        if profile_dir:
            argv += ["-lg:prof", "1", "-lg:prof_logfile", str(profile_dir / "prof_%.gz")]
        return launch.per_node_argv(argv + self.extra_args, self.machine.nodes, self.machine.gpus)

    def command_line(self) -> str:
        return shlex.join(self.argv())


def prepare(app_name: str, machine_name: str = "local", size: str | None = None, mapper: str = "default",
            legion_root: str | None = None, extra_args: list[str] | None = None, build_quiet: bool = True) -> RunPlan:
    """Resolve names, compile the mapper, and build the app if its sources changed."""
    app = apps.load(app_name)
    spec = machine.load(machine_name)
    preset, overrides = apps.parse_size(size)
    params = app.size(preset, overrides)
    choice = mappers.choose(mapper, app)
    policy = mappers.compile_policy(choice, app.name)
    rt = runtime.for_nodes(spec.nodes, legion_root, quiet=build_quiet)
    launch.check_supported(spec, rt)
    exe = build.ensure_app(rt, app.name, app.binary, quiet=build_quiet)
    return RunPlan(app, spec, params, choice, policy, exe, rt.process_env(), list(extra_args or []),
                   decision_logs=spec.nodes > 1 and policy is not None)


def run_trials(plan: RunPlan, trials: int, timeout_s: float, profile_dir: Path | None = None,
               on_trial: Callable[[int, launch.Trial], None] | None = None,
               stop_on_failure: bool = True) -> list[launch.Trial]:
    """Run `trials` processes one after another; the last one profiles when profile_dir is set."""
    results = []
    for index in range(trials):
        prof = None
        if profile_dir is not None:
            prof = profile_dir / f"trial{index}"
            prof.mkdir(parents=True, exist_ok=True)
        trial = _run_one(plan, prof, timeout_s)
        results.append(trial)
        if on_trial:
            on_trial(index, trial)
        if stop_on_failure and trial.outcome != launch.OK:
            break
    return results


def _run_one(plan: RunPlan, profile_dir: Path | None, timeout_s: float) -> launch.Trial:
    """One trial; with decision logs, every process writes its own, merged into the trial."""
    if not plan.decision_logs:
        return launch.run_process(plan.argv(profile_dir), plan.env, timeout_s)
    logs = Path(tempfile.mkdtemp(prefix="hpcmap-decisions-"))
    try:
        trial = launch.run_process(plan.argv(profile_dir, logs / "decisions_%.jsonl"), plan.env, timeout_s)
        trial.decisions = launch.merge_decision_logs(logs)
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    return trial


def statistics_of(trials: list[launch.Trial]) -> dict:
    return summarize([t.elapsed_s for t in trials if t.outcome == launch.OK and t.elapsed_s is not None])

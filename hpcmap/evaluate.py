"""One candidate: check and compile the mapper, run the app N times, classify the outcome.

The head turns mapper names into `EvalRequest`s (reading files, resolving sizes and building the
app once); `evaluate` runs anywhere the same repository is visible (a local process, a Slurm job,
an MPI rank) and returns an `EvalRecord`. Processes are started by hpcmap.runner and
hpcmap.legion.launch; the records live in hpcmap.records, the environment filter in
hpcmap.environment.
"""
from __future__ import annotations

import hashlib
import os
import platform
import time
from pathlib import Path

from hpcmap import apps, machine, mappers, runner
from hpcmap.environment import app_env
from hpcmap.errors import UserError
from hpcmap.legion import launch
from hpcmap.paths import build_dir
from hpcmap.records import EvalRecord, EvalRequest

INVALID = "invalid"
OUTCOMES = (launch.OK, INVALID, launch.MAP_ERROR, launch.CRASH, launch.TIMEOUT, launch.WRONG_ANSWER,
            launch.INFRA_ERROR)


# ----------------------------------------------------------------------------- head side


def make_requests(mapper_names: list[str], app_name: str, size: str | None = None, machine_name: str = "local",
                  trials: int = 5, timeout_s: float = 300.0, app_args: list[str] | None = None,
                  legion_root: str | None = None, profile_dir: Path | None = None,
                  build: bool = True) -> list[EvalRequest]:
    """Resolve names into requests; builds the app once (unless build=False). Raises UserError."""
    if trials < 1:
        raise UserError("--trials must be at least 1")
    if timeout_s <= 0:
        raise UserError("--timeout must be positive")
    app = apps.load(app_name)
    spec = machine.load(machine_name)
    preset, overrides = apps.parse_size(size)
    params = app.size(preset, overrides)
    choices = [mappers.choose(name, app) for name in mapper_names]
    exe, library_path = "", ""
    if build:
        from hpcmap.legion import build as legion_build, runtime

        rt = runtime.for_nodes(spec.nodes, legion_root, quiet=True)
        launch.check_supported(spec, rt)
        exe = str(legion_build.ensure_app(rt, app.name, app.binary, quiet=True))
        library_path = rt.library_path()
    policy_dir = str(build_dir() / "policies")
    return [EvalRequest(name=choice.label, app=app.name, mapper_text=choice.text, params=params,
                        machine=spec.as_dict(), trials=trials, timeout_s=timeout_s,
                        app_args=tuple(app_args or ()), exe=exe, library_path=library_path,
                        policy_dir=policy_dir, profile_dir=str(profile_dir) if profile_dir else None)
            for choice in choices]


def static_check(req: EvalRequest) -> EvalRecord | None:
    """An `invalid` record when the mapper has static errors (so it is never dispatched), else None."""
    try:
        _compile(req)
    except mappers.InvalidMapper as exc:
        rec = EvalRecord.for_request(req)
        rec.outcome, rec.message, rec.diagnostics = INVALID, str(exc), list(exc.diagnostics)
        rec.worker, rec.finished_at = {"host": platform.node(), "pid": os.getpid(), "executor": "head"}, time.time()
        return rec
    return None


# ----------------------------------------------------------------------------- worker side


def evaluate(req: EvalRequest, worker: dict | None = None) -> EvalRecord:
    """Check, compile and run one candidate. Never raises for the candidate's own failures."""
    rec = EvalRecord.for_request(req)
    rec.worker = {"host": platform.node(), "pid": os.getpid(), "cores": sorted(os.sched_getaffinity(0)),
                  **(worker or {})}
    try:
        _evaluate_into(rec, req)
    except mappers.InvalidMapper as exc:
        rec.outcome, rec.message, rec.diagnostics = INVALID, str(exc), list(exc.diagnostics)
    except UserError as exc:
        rec.outcome, rec.message = launch.INFRA_ERROR, str(exc)
    rec.finished_at = time.time()
    return rec


def _compile(req: EvalRequest) -> tuple[mappers.MapperChoice, Path | None]:
    choice = mappers.MapperChoice(req.name, Path(req.name) if req.mapper_text is not None else None,
                                  req.mapper_text)
    return choice, mappers.compile_policy(choice, req.app, Path(req.policy_dir) if req.policy_dir else None)


def _evaluate_into(rec: EvalRecord, req: EvalRequest) -> None:
    choice, policy = _compile(req)
    if policy is not None:
        rec.ir_hash = hashlib.sha256(policy.read_bytes()).hexdigest()[:16]
    if not req.exe:
        raise UserError("request has no application executable; build it on the head first")
    plan = runner.RunPlan(apps.load(req.app), machine.MachineSpec(**req.machine), dict(req.params), choice,
                          policy, Path(req.exe), app_env(req.library_path), list(req.app_args),
                          decision_logs=req.machine.get("nodes", 1) > 1 and policy is not None)
    rec.command = plan.command_line()
    trials = runner.run_trials(plan, req.trials, req.timeout_s)
    failed = next((t for t in trials if t.outcome != launch.OK), None)
    rec.trials = [_trial_dict(t) for t in trials]
    rec.stats = runner.statistics_of(trials)
    rec.outcome = failed.outcome if failed else launch.OK
    rec.message = failed.message if failed else ""
    rec.stderr_tail = (failed or trials[-1]).stderr_tail
    if req.profile_dir and not failed:
        prof = Path(req.profile_dir) / rec.key
        prof.mkdir(parents=True, exist_ok=True)
        trial = launch.run_process(plan.argv(prof), plan.env, req.timeout_s)
        rec.profile_logs = sorted(str(p) for p in prof.glob("prof_*"))
        if trial.outcome != launch.OK:
            rec.message = f"profiled trial: {trial.outcome}: {trial.message}"


def _trial_dict(t: launch.Trial) -> dict:
    return {"outcome": t.outcome, "elapsed_s": t.elapsed_s, "wall_s": t.wall_s, "check": t.check,
            "exit_code": t.exit_code, "message": t.message, "metric": t.result.get("metric"),
            "unit": t.result.get("unit"), **({"decisions": t.decisions} if t.decisions else {})}

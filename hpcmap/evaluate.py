"""One candidate: check and compile the mapper, run the app N times, classify the outcome.

The head turns mapper names into `EvalRequest`s (reading files, resolving sizes and building the
app once); `evaluate` runs anywhere the same repository is visible (a local process, a Slurm job,
an MPI rank) and returns an `EvalRecord`, a plain dataclass that pickles and converts to JSON.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hpcmap import apps, machine, mappers
from hpcmap.errors import UserError
from hpcmap.legion import launch
from hpcmap.paths import build_dir
from hpcmap.stats import summarize

INVALID = "invalid"
OUTCOMES = (launch.OK, INVALID, launch.MAP_ERROR, launch.CRASH, launch.TIMEOUT, launch.WRONG_ANSWER,
            launch.INFRA_ERROR)
SENSITIVE_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "HYDRA_", "OMPI_", "MPI_LOCALRANKID", "MPI_LOCALNRANKS")


def is_sensitive(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SENSITIVE_MARKERS)


def safe_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without variables whose names mark them as credentials."""
    return {k: v for k, v in (os.environ if env is None else env).items() if not is_sensitive(k)}


def app_env(library_path: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of an application process: safe, no MPI launcher variables, Legion on the path."""
    result = {k: v for k, v in safe_env(env).items() if not k.startswith(LAUNCHER_PREFIXES)}
    old = result.get("LD_LIBRARY_PATH")
    if library_path:
        result["LD_LIBRARY_PATH"] = library_path + (os.pathsep + old if old else "")
    return result


@dataclass(frozen=True)
class EvalRequest:
    """Everything a worker needs to evaluate one candidate; no environment, no open files."""

    name: str
    app: str
    mapper_text: str | None
    params: dict[str, str]
    machine: dict
    trials: int = 5
    timeout_s: float = 300.0
    app_args: tuple[str, ...] = ()
    exe: str = ""
    library_path: str = ""
    policy_dir: str = ""
    profile_dir: str | None = None

    @property
    def key(self) -> str:
        """Identity of the work: mapper text, app, size, machine, trials and extra arguments."""
        return candidate_key(self.mapper_text, self.app, self.params, self.machine, self.trials, self.app_args)


def candidate_key(mapper_text: str | None, app: str, params: dict, machine_spec: dict, trials: int,
                  app_args: tuple[str, ...] | list[str] = ()) -> str:
    blob = json.dumps({"mapper": mapper_text, "app": app, "size": params, "machine": machine_spec,
                       "trials": trials, "app_args": list(app_args)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass
class EvalRecord:
    """The result of one candidate, as stored and printed."""

    key: str
    name: str
    app: str
    machine: str
    size: dict[str, str]
    trials_requested: int
    app_args: list[str]
    mapper_text: str | None
    outcome: str = launch.INFRA_ERROR
    message: str = ""
    ir_hash: str | None = None
    diagnostics: list[str] = field(default_factory=list)
    trials: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=lambda: summarize([]))
    stderr_tail: str = ""
    command: str = ""
    profile_logs: list[str] = field(default_factory=list)
    trace: str | None = None
    worker: dict = field(default_factory=dict)
    attempts: int = 1
    started_at: float = 0.0
    finished_at: float = 0.0

    @classmethod
    def for_request(cls, req: EvalRequest) -> "EvalRecord":
        return cls(key=req.key, name=req.name, app=req.app, machine=str(req.machine.get("name", "")),
                   size=dict(req.params), trials_requested=req.trials, app_args=list(req.app_args),
                   mapper_text=req.mapper_text, started_at=time.time())

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EvalRecord":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


def infra_record(req: EvalRequest, message: str, attempts: int = 1, worker: dict | None = None) -> EvalRecord:
    """A record for a candidate whose worker or scheduler failed."""
    rec = EvalRecord.for_request(req)
    rec.outcome, rec.message, rec.attempts = launch.INFRA_ERROR, message[:2000], attempts
    rec.worker = worker or {}
    rec.finished_at = time.time()
    return rec


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

        rt = runtime.ensure(legion_root, quiet=True)
        exe = str(legion_build.ensure_app(rt, app.name, app.binary, quiet=True))
        library_path = rt.library_path()
    policy_dir = str(build_dir() / "policies")
    return [EvalRequest(name=choice.label, app=app.name, mapper_text=choice.text, params=params,
                        machine=spec.as_dict(), trials=trials, timeout_s=timeout_s,
                        app_args=tuple(app_args or ()), exe=exe, library_path=library_path,
                        policy_dir=policy_dir, profile_dir=str(profile_dir) if profile_dir else None)
            for choice in choices]


# ----------------------------------------------------------------------------- worker side


def evaluate(req: EvalRequest, worker: dict | None = None) -> EvalRecord:
    """Check, compile and run one candidate. Never raises for the candidate's own failures."""
    rec = EvalRecord.for_request(req)
    rec.worker = {"host": platform.node(), "pid": os.getpid(), **(worker or {})}
    try:
        _evaluate_into(rec, req)
    except mappers.InvalidMapper as exc:
        rec.outcome, rec.message, rec.diagnostics = INVALID, str(exc), list(exc.diagnostics)
    except UserError as exc:
        rec.outcome, rec.message = launch.INFRA_ERROR, str(exc)
    rec.finished_at = time.time()
    return rec


def _evaluate_into(rec: EvalRecord, req: EvalRequest) -> None:
    app = apps.load(req.app)
    spec = machine.MachineSpec(**req.machine)
    label = req.name
    choice = mappers.MapperChoice(label, Path(label) if req.mapper_text is not None else None, req.mapper_text)
    policy = mappers.compile_policy(choice, app.name, Path(req.policy_dir) if req.policy_dir else None)
    if policy is not None:
        rec.ir_hash = hashlib.sha256(policy.read_bytes()).hexdigest()[:16]
    if not req.exe:
        raise UserError("request has no application executable; build it on the head first")
    from hpcmap.runner import RunPlan

    plan = RunPlan(app, spec, dict(req.params), choice, policy, Path(req.exe), app_env(req.library_path),
                   list(req.app_args))
    rec.command = plan.command_line()
    trials: list[launch.Trial] = []
    for _ in range(req.trials):
        trial = run_trial(plan.argv(), plan.env, req.timeout_s)
        trials.append(trial)
        if trial.outcome != launch.OK:
            break
    failed = next((t for t in trials if t.outcome != launch.OK), None)
    rec.trials = [_trial_dict(t) for t in trials]
    rec.stats = summarize([t.elapsed_s for t in trials if t.outcome == launch.OK and t.elapsed_s is not None])
    rec.outcome = failed.outcome if failed else launch.OK
    rec.message = failed.message if failed else ""
    rec.stderr_tail = (failed or trials[-1]).stderr_tail
    if req.profile_dir and not failed:
        prof = Path(req.profile_dir) / rec.key
        prof.mkdir(parents=True, exist_ok=True)
        trial = run_trial(plan.argv(prof), plan.env, req.timeout_s)
        rec.profile_logs = sorted(str(p) for p in prof.glob("prof_*"))
        if trial.outcome != launch.OK:
            rec.message = f"profiled trial: {trial.outcome}: {trial.message}"


def _trial_dict(t: launch.Trial) -> dict:
    return {"outcome": t.outcome, "elapsed_s": t.elapsed_s, "wall_s": t.wall_s, "check": t.check,
            "exit_code": t.exit_code, "message": t.message, "metric": t.result.get("metric"),
            "unit": t.result.get("unit")}


_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _child_setup() -> None:
    os.setsid()
    die_with_parent()


def run_trial(argv: list[str], env: dict[str, str], timeout_s: float) -> launch.Trial:
    """One application process in its own session, killed with its worker; classified by launch.py."""
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace", preexec_fn=_child_setup)
    except OSError as exc:
        return launch.Trial(launch.INFRA_ERROR, None, 0.0, message=f"could not start {argv[0]}: {exc.strerror}")
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        stdout, stderr = proc.communicate()
        timed_out = True
    except BaseException:
        _kill_group(proc.pid)
        proc.wait()
        raise
    return launch.classify(proc.returncode, stdout, stderr, time.perf_counter() - start, timed_out, timeout_s)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

"""Slurm executor: each candidate is a submitit job (or a task of a throttled job array).

Scheduler failures (a cancelled, failed or lost job) become `infra_error` records, apart from the
candidate's own outcomes, and are retried `retries` times, each retry announced. Jobs are submitted
with `--requeue` and the job function is checkpointable, so a preempted candidate is requeued and
run again from the start. Job states come from sacct, then squeue; a job that neither knows about
for `lost_s` seconds is lost. sbatch runs with an allowlisted environment only (hpcmap.dispatch.
slurm_env), so credentials reach neither the job nor any file Slurm or submitit writes. A refused
submission, or a controller that does not answer, is one error line and leaves no files behind.
SIGTERM and SIGHUP stop the head like SIGINT, and closing the executor cancels every job it still
waits for; results of jobs that finished while no head waited are collected by the next head before
it submits anything, and jobs still pending or running (the head was killed with SIGKILL) are waited
for, not submitted again.
"""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import submitit
from submitit.core.utils import DelayedSubmission, FailedJobError, JobPaths, UncompletedJobError
from submitit.slurm.slurm import _make_sbatch_string

from hpcmap.dispatch.slurm_env import exported_names, submission_env
from hpcmap.dispatch.slurm_state import is_terminal, job_states
from hpcmap.errors import UserError
from hpcmap.evaluate import evaluate
from hpcmap.records import EvalRecord, EvalRequest, infra_record


@dataclass
class SlurmOptions:
    """Where and how candidates run as Slurm jobs; unset resources come from the machine spec."""

    folder: str = "submitit"
    study: str = "study"
    job_name: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_min: int | None = None
    cpus_per_task: int | None = None
    mem_mb: int | None = None
    gres: str | None = None
    constraint: str | None = None
    exclusive: bool = False
    nodes: int | None = None
    export: list[str] = field(default_factory=list)
    array: bool = True
    use_srun: bool = False
    parallelism: int = 64
    retries: int = 1
    poll_s: float = 0.2
    state_poll_s: float = 1.0
    grace_s: float = 3.0
    lost_s: float = 120.0
    announce: bool = True
    sbatch: dict[str, str] = field(default_factory=dict)


# Threads a Legion process runs beside its processors: Realm's background workers (-ll:bgwork, 2 by
# default) and the process's main thread (which waits for the runtime, or runs an implicit top-level task).
EXTRA_THREADS = 3


def legion_threads(spec: dict) -> int:
    """The threads one Legion process of a machine spec's node keeps: one per CPU, utility, GPU and OpenMP
    processor (-ll:othr is 1 by default) and EXTRA_THREADS; a job asks for that many CPUs."""
    processors = sum(int(spec.get(key, default)) for key, default in
                     (("cpus", 1), ("utility", 1), ("gpus", 0), ("omps", 0)))
    return processors + EXTRA_THREADS


class CandidateJob(submitit.helpers.Checkpointable):
    """The job's function: evaluate one request; requeued from the start when preempted."""

    def __call__(self, req: EvalRequest) -> EvalRecord:
        signal.signal(signal.SIGTERM, _leave_without_result)
        env = submitit.JobEnvironment()
        worker = {"executor": "slurm", "job_id": env.job_id, "node": os.environ.get("SLURMD_NODENAME", ""),
                  "restart": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)}
        record = evaluate(req, worker)
        # The job log tells what happened to the candidate, not only that the job function returned.
        print(f"hpcmap: candidate {req.name}: {record.outcome}"
              + (f": {record.message.strip()}" if record.message.strip() else ""), flush=True)
        if record.outcome != "ok" and record.stderr_tail:
            print(f"hpcmap: the application's last output:\n{record.stderr_tail}", flush=True)
        return record


def _leave_without_result(signum: int, frame) -> None:
    """Slurm is cancelling or preempting the job: exit with no result (the app dies with us), so the
    head sees a scheduler failure, or a requeued job, rather than a candidate that crashed."""
    os._exit(128 + signum)


def _stop_head(signum: int, frame) -> None:
    """SIGTERM or SIGHUP (a dropped ssh session) stops the head as SIGINT does."""
    raise KeyboardInterrupt


class _AllowlistSlurmExecutor(submitit.SlurmExecutor):
    """submitit's SlurmExecutor running sbatch with the allowlisted environment, arrays included."""

    export: tuple[str, ...] = ()

    def _make_submission_command(self, submission_file_path: Path) -> list[str]:
        # sbatch's complaints go to stdout, so a refusal becomes one error line rather than raw output.
        return ["sh", "-c", 'exec "$@" 2>&1', "sbatch", "env", "-i",
                *[f"{k}={v}" for k, v in submission_env(self.export).items()], "sbatch", str(submission_file_path)]

    def _internal_process_submissions(self, delayed_submissions):
        if len(delayed_submissions) == 1:
            return super()._internal_process_submissions(delayed_submissions)
        folder = JobPaths.get_first_id_independent_folder(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        pickles = []
        for d in delayed_submissions:
            path = folder / f"{uuid.uuid4().hex}.pkl"
            d.set_timeout(self.parameters.get("time", 5), self.max_num_timeout)
            d.dump(path)
            pickles.append(path)
        array_ex = type(self)(self.folder, self.max_num_timeout, python=self.python)
        array_ex.export = self.export
        array_ex.update_parameters(**self.parameters)
        array_ex.parameters["map_count"] = len(delayed_submissions)
        first = array_ex._submit_command(self._submitit_command_str)
        jobs = [submitit.SlurmJob(folder=self.folder, job_id=f"{first.job_id}_{a}", tasks=list(range(first.num_tasks)))
                for a in range(len(delayed_submissions))]
        for job, path in zip(jobs, pickles):
            job.paths.move_temporary_file(path, "submitted_pickle")
        return jobs


@dataclass
class _Pending:
    job: submitit.Job
    req: EvalRequest
    attempt: int
    submitted: float
    gone_since: float | None = None
    last_known: float = 0.0


class SlurmExecutor:
    name = "slurm"

    def __init__(self, options: SlurmOptions | None = None):
        self.options = options or SlurmOptions()
        self._executor: _AllowlistSlurmExecutor | None = None
        self._outstanding: dict[str, submitit.Job] = {}
        self._earlier: dict[str, EvalRecord] | None = None
        self._unfinished: dict[str, _Pending] = {}
        self._handlers: dict[int, object] = {}

    # ------------------------------------------------------------ configuration

    def parameters(self, sample: EvalRequest) -> dict:
        """submitit's Slurm parameters for jobs like `sample`: resources from the machine spec and options."""
        opt = self.options
        spec = sample.machine
        trial_budget = (sample.trials + (1 if sample.profile_dir else 0)) * sample.timeout_s
        extra = dict(opt.sbatch)
        prefix = extra.pop("job-name", None) or extra.pop("job_name", None) or opt.job_name or f"hpcmap-{_safe(opt.study)}"
        params: dict = {
            "job_name": prefix,
            "time": opt.time_min or max(2, math.ceil(trial_budget / 60) + 2),
            "cpus_per_task": opt.cpus_per_task or legion_threads(spec),
            "signal_delay_s": 30,
            "array_parallelism": opt.parallelism,
            "stderr_to_stdout": True,
            "use_srun": opt.use_srun,
            "additional_parameters": {"requeue": True, "export": ",".join(exported_names(opt.export)), **extra},
        }
        if int(spec.get("gpus", 0)) and not opt.gres:
            params["gpus_per_node"] = int(spec["gpus"])
        mem = opt.mem_mb or int(spec.get("sysmem_mb", 0))
        if mem:
            params["mem"] = f"{mem}MB"
        for key in ("partition", "account", "qos", "gres", "constraint"):
            if getattr(opt, key):
                params[key] = getattr(opt, key)
        nodes = opt.nodes or int(spec.get("nodes", 1))
        if nodes > 1:   # one Legion process per node, started inside the allocation
            params["nodes"] = nodes
        if opt.exclusive:
            params["exclusive"] = True
        return params

    def _ensure(self, sample: EvalRequest) -> _AllowlistSlurmExecutor:
        if self._executor is None:
            try:
                ex = _AllowlistSlurmExecutor(folder=Path(self.options.folder) / "%j", max_num_timeout=1,
                                             python=sys.executable)
            except RuntimeError as exc:
                raise UserError(f"cannot use Slurm here: {exc}") from None
            ex.export = tuple(self.options.export)
            ex.update_parameters(**self.parameters(sample))
            self._executor = ex
        return self._executor

    # ------------------------------------------------------------ submission

    def _submit_many(self, requests: list[EvalRequest], attempt: int) -> list[_Pending]:
        ex = self._ensure(requests[0])
        single = len(requests) == 1 or not self.options.array
        base_name = ex.parameters["job_name"]
        folder = Path(self.options.folder)
        before = set(folder.iterdir()) if folder.exists() else set()
        created = not folder.exists()
        fn = CandidateJob()
        jobs = []
        try:
            if single:
                for r in requests:
                    ex.update_parameters(job_name=f"{base_name}-{_safe(Path(r.name).stem)}")
                    jobs.append(ex.submit(fn, r))
            else:
                jobs = ex.map_array(fn, requests)
        except (FailedJobError, submitit.core.utils.FailedSubmissionError, subprocess.CalledProcessError,
                OSError) as exc:
            if not jobs:
                _remove_new(folder, before, created)
            for job in jobs:   # submitted before the refusal: they are in the folder for a --resume
                job.cancel(check=False)
            said = getattr(exc.__cause__, "output", None) or str(exc)
            if _CONTROLLER_DOWN.search(said):
                raise UserError(f"the Slurm controller (slurmctld) does not answer: {_refusal(said)}; "
                                "check `scontrol ping`, then rerun with --resume") from None
            raise UserError(f"Slurm refused the job: {_refusal(said)}") from None
        finally:
            ex.update_parameters(job_name=base_name)
        now = time.monotonic()
        for job in jobs:
            self._outstanding[job.job_id] = job
        if self.options.announce:
            ids = sorted({j.job_id.split("_")[0] for j in jobs})
            what = "retry of " if attempt > 1 else ""
            _say(f"slurm: submitted {what}{len(jobs)} candidate(s) as job(s) {', '.join(ids)} "
                 f"named {base_name}*; scripts and logs in {folder}/<job id>/")
        return [_Pending(job, req, attempt, now, last_known=now) for job, req in zip(jobs, requests)]

    def submit(self, requests: Iterable[EvalRequest]) -> Iterator[EvalRecord]:
        """Records of earlier jobs of the same work first, then submit the rest; the iterator yields
        records as jobs finish (and resubmits lost ones)."""
        requests = list(requests)
        if not requests:
            return iter(())
        self._catch_signals()
        earlier, unfinished = self._earlier_jobs()
        done = [earlier.pop(r.key) for r in requests if r.key in earlier]
        attached = [unfinished.pop(r.key) for r in requests if r.key in unfinished]
        for p in attached:
            self._outstanding[p.job.job_id] = p.job
        if attached and self.options.announce:
            _say(f"slurm: waiting for {len(attached)} job(s) an earlier head submitted, still pending or running: "
                 f"{', '.join(p.job.job_id for p in attached)}; not submitting them again")
        busy = {d.key for d in done} | {p.req.key for p in attached}
        todo = [r for r in requests if r.key not in busy]
        pending = self._submit_many(todo, 1) if todo else []
        return self._collect(done, attached + pending)

    def dry_run(self, requests: list[EvalRequest]) -> list[Path]:
        """Write the batch scripts that would be submitted, under `<folder>/dry-run/`; submit nothing."""
        ex = self._ensure(requests[0])
        out = Path(self.options.folder) / "dry-run"
        out.mkdir(parents=True, exist_ok=True)
        base = ex.parameters["job_name"]
        groups = [[r] for r in requests] if not self.options.array or len(requests) == 1 else [requests]
        paths = []
        for group in groups:
            params = dict(ex.parameters)
            if len(group) > 1:
                params["map_count"] = len(group)
            else:
                params["job_name"] = f"{base}-{_safe(Path(group[0].name).stem)}"
            path = out / f"{params['job_name']}.sbatch"
            path.write_text(_make_sbatch_string(command=ex._submitit_command_str, folder=ex.folder, **params))
            paths.append(path)
        return paths

    # ------------------------------------------------------------ waiting

    def _collect(self, done: list[EvalRecord], pending: list[_Pending]) -> Iterator[EvalRecord]:
        yield from done
        last_state = 0.0
        try:
            while pending:
                states: dict[str, str] | None = None
                if time.monotonic() - last_state >= self.options.state_poll_s:
                    states = job_states([p.job.job_id for p in pending])
                    last_state = time.monotonic()
                still: list[_Pending] = []
                for p in pending:
                    record = self._check(p, states)
                    if record is None:
                        still.append(p)
                        continue
                    self._outstanding.pop(p.job.job_id, None)
                    if record.outcome == "infra_error" and p.attempt <= self.options.retries:
                        if self.options.announce:
                            _say(f"slurm: {p.req.name}: {record.message}; resubmitting "
                                 f"(attempt {p.attempt + 1} of {self.options.retries + 1})")
                        still.extend(self._submit_many([p.req], p.attempt + 1))
                    else:
                        yield record
                pending = still
                if pending:
                    time.sleep(self.options.poll_s)
        finally:
            for p in pending:
                self._cancel(p.job)

    def _check(self, p: _Pending, states: dict[str, str] | None) -> EvalRecord | None:
        """The record of a finished job, an infra_error record for an ended or lost one, None while running."""
        worker = {"executor": "slurm", "job_id": p.job.job_id}
        if p.job.paths.result_pickle.exists():
            try:
                # Task 0 alone runs the candidate; a job of several nodes has a task per node that
                # writes no result (its Legion processes are started by mpiexec, not by Slurm's tasks).
                record = p.job.task(0).result()
            except (FailedJobError, UncompletedJobError, EOFError) as exc:
                return infra_record(p.req, f"Slurm job {p.job.job_id} failed: {_last_line(str(exc))}",
                                    p.attempt, worker)
            record.attempts = p.attempt
            return record
        if states is None:
            return None
        now = time.monotonic()
        state = states.get(p.job.job_id)
        if state is None:
            if now - p.last_known >= self.options.lost_s:
                return infra_record(p.req, f"Slurm job {p.job.job_id} lost: neither sacct nor squeue knew it "
                                           f"for {self.options.lost_s:g} s", p.attempt, worker)
            return None
        p.last_known = now
        if not is_terminal(state):
            p.gone_since = None
            return None
        p.gone_since = p.gone_since or now
        if now - p.gone_since < self.options.grace_s:
            return None
        return infra_record(p.req, f"Slurm job {p.job.job_id} ended as {state} without a result",
                            p.attempt, worker)

    # ------------------------------------------------------------ resume and shutdown

    def _earlier_jobs(self) -> tuple[dict[str, EvalRecord], dict[str, _Pending]]:
        """What the jobs an earlier head of this study submitted left, by request key: the records of those
        that finished with a result, and those still pending or running (a head killed with SIGKILL
        cancelled nothing), which this head waits for instead of submitting the work again."""
        if self._earlier is not None:
            return self._earlier, self._unfinished
        self._earlier, self._unfinished = {}, {}
        folder = Path(self.options.folder)
        submitted: dict[str, tuple[EvalRequest, JobPaths]] = {}
        for path in folder.glob("*/*_submitted.pkl") if folder.exists() else []:
            job_id = path.name[: -len("_submitted.pkl")]
            try:
                submitted[job_id] = (DelayedSubmission.load(path).args[0], JobPaths(folder / "%j", job_id=job_id))
            except Exception:
                continue
        without_result = [j for j, (_, paths) in submitted.items() if not paths.result_pickle.exists()]
        states = job_states(without_result) if without_result else {}
        now = time.monotonic()
        for job_id in sorted(submitted, key=_job_order):   # states first: a job may finish meanwhile
            req, paths = submitted[job_id]
            record = _result(paths)
            if record is not None:
                self._earlier[req.key] = record
                self._unfinished.pop(req.key, None)
            elif job_id in states and not is_terminal(states[job_id]) and req.key not in self._earlier:
                job = submitit.SlurmJob(folder=folder / "%j", job_id=job_id)
                self._unfinished[req.key] = _Pending(job, req, 1, now, last_known=now)
        return self._earlier, self._unfinished

    def _catch_signals(self) -> None:
        import threading

        if self._handlers or threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                self._handlers[sig] = signal.signal(sig, _stop_head)

    def _cancel(self, job: submitit.Job) -> None:
        job.cancel(check=False)
        self._outstanding.pop(job.job_id, None)

    def close(self) -> None:
        """Cancel every job still awaited (the head is stopping) and restore the signal handlers."""
        for job in list(self._outstanding.values()):
            self._cancel(job)
        for sig, handler in self._handlers.items():
            signal.signal(sig, handler)
        self._handlers = {}
        self._executor = None


def _result(paths: JobPaths) -> EvalRecord | None:
    """The record a job left in its result file, if it finished with one."""
    try:
        status, record = submitit.core.utils.pickle_load(paths.result_pickle)
    except Exception:
        return None
    return record if status == "success" and isinstance(record, EvalRecord) else None


def _job_order(job_id: str) -> tuple[int, int]:
    """Submission order of job ids (`123`, or `123_4` for an array task)."""
    root, _, task = job_id.partition("_")
    return int(root) if root.isdigit() else 0, int(task) if task.isdigit() else -1


# What sbatch says when it cannot reach the controller (slurmctld stopped, its host or network down).
_CONTROLLER_DOWN = re.compile(r"contact slurm controller|controller not responding|Socket timed out", re.I)


def _safe(name: str) -> str:
    """A name usable in a Slurm job name: letters, digits, dot, dash and underscore."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:48] or "x"


def _remove_new(folder: Path, before: set[Path], created: bool) -> None:
    """Remove what a refused submission left in the study's submitit folder."""
    import shutil

    if not folder.exists():
        return
    for path in set(folder.iterdir()) - before:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
    if created and not any(folder.iterdir()):
        folder.rmdir()


def _refusal(text: str) -> str:
    """sbatch's own reason, e.g. `Invalid partition name specified`."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        m = re.search(r"sbatch: error: (.*)", ln)
        if m and "Batch job submission failed" in m.group(1):
            return m.group(1).replace("Batch job submission failed: ", "")
    reasons = [re.sub(r".*sbatch: error: ", "", ln) for ln in lines if "error:" in ln]
    return (reasons[-1] if reasons else _first_line(text))[:300]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), text)[:300]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


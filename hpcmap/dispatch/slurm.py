"""Slurm executor: each candidate is a submitit job (or a task of a throttled job array).

Scheduler failures (a cancelled, failed or lost job) become `infra_error` records, apart from the
candidate's own outcomes, and are retried `retries` times. Jobs are submitted with `--requeue` and
the job function is checkpointable, so a preempted candidate is requeued and run again from the start.
sbatch runs with credential-like variables removed from its environment, so they reach neither the
job nor any file that Slurm or submitit writes.
"""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import submitit
from submitit.core.utils import FailedJobError, UncompletedJobError

from hpcmap.errors import UserError
from hpcmap.environment import is_sensitive
from hpcmap.evaluate import evaluate
from hpcmap.records import EvalRecord, EvalRequest, infra_record

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TERMINAL = ("BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
            "TIMEOUT", "REVOKED")


@dataclass
class SlurmOptions:
    """Where and how candidates run as Slurm jobs; unset resources come from the machine spec."""

    folder: str = "submitit"
    job_name: str = "hpcmap-eval"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_min: int | None = None
    cpus_per_task: int | None = None
    mem_mb: int | None = None
    array: bool = True
    use_srun: bool = False
    parallelism: int = 64
    retries: int = 1
    poll_s: float = 0.2
    state_poll_s: float = 1.0
    grace_s: float = 3.0
    sbatch: dict[str, str] = field(default_factory=dict)


class CandidateJob(submitit.helpers.Checkpointable):
    """The job's function: evaluate one request; requeued from the start when preempted."""

    def __call__(self, req: EvalRequest) -> EvalRecord:
        signal.signal(signal.SIGTERM, _leave_without_result)
        env = submitit.JobEnvironment()
        worker = {"executor": "slurm", "job_id": env.job_id, "node": os.environ.get("SLURMD_NODENAME", ""),
                  "restart": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)}
        return evaluate(req, worker)


def _leave_without_result(signum: int, frame) -> None:
    """Slurm is cancelling or preempting the job: exit with no result (the app dies with us), so the
    head sees a scheduler failure, or a requeued job, rather than a candidate that crashed."""
    os._exit(128 + signum)


class _FilteredSlurmExecutor(submitit.SlurmExecutor):
    """submitit's SlurmExecutor running sbatch without credential-like environment variables."""

    def _make_submission_command(self, submission_file_path: Path) -> list[str]:
        unset = [arg for name in sorted(os.environ) if is_sensitive(name) for arg in ("-u", name)]
        return ["env", *unset, "sbatch", str(submission_file_path)]


@dataclass
class _Pending:
    job: submitit.Job
    req: EvalRequest
    attempt: int
    submitted: float
    gone_since: float | None = None


class SlurmExecutor:
    name = "slurm"

    def __init__(self, options: SlurmOptions | None = None):
        self.options = options or SlurmOptions()
        self._executor: _FilteredSlurmExecutor | None = None

    def _ensure(self, sample: EvalRequest) -> _FilteredSlurmExecutor:
        if self._executor is not None:
            return self._executor
        opt = self.options
        try:
            ex = _FilteredSlurmExecutor(folder=Path(opt.folder) / "%j", max_num_timeout=1, python=sys.executable)
        except RuntimeError as exc:
            raise UserError(f"cannot use Slurm here: {exc}") from None
        spec = sample.machine
        trial_budget = (sample.trials + (1 if sample.profile_dir else 0)) * sample.timeout_s
        params: dict = {
            "job_name": opt.job_name,
            "time": opt.time_min or max(2, math.ceil(trial_budget / 60) + 2),
            "cpus_per_task": opt.cpus_per_task or int(spec.get("cpus", 1)),
            "signal_delay_s": 30,
            "array_parallelism": opt.parallelism,
            "stderr_to_stdout": True,
            "use_srun": opt.use_srun,
            "additional_parameters": {"requeue": True, "export": ",".join(exported_names()), **opt.sbatch},
        }
        if int(spec.get("gpus", 0)):
            params["gpus_per_node"] = int(spec["gpus"])
        mem = opt.mem_mb or int(spec.get("sysmem_mb", 0))
        if mem:
            params["mem"] = f"{mem}MB"
        for key in ("partition", "account", "qos"):
            if getattr(opt, key):
                params[key] = getattr(opt, key)
        ex.update_parameters(**params)
        self._executor = ex
        return ex

    def _submit_many(self, requests: list[EvalRequest], attempt: int) -> list[_Pending]:
        ex = self._ensure(requests[0])
        fn = CandidateJob()
        try:
            if self.options.array and len(requests) > 1:
                jobs = ex.map_array(fn, requests)
            else:
                jobs = [ex.submit(fn, r) for r in requests]
        except (submitit.core.utils.FailedSubmissionError, subprocess.CalledProcessError, OSError) as exc:
            raise UserError(f"sbatch failed: {_first_line(str(exc))}") from None
        now = time.monotonic()
        return [_Pending(job, req, attempt, now) for job, req in zip(jobs, requests)]

    def submit(self, requests: Iterable[EvalRequest]) -> Iterator[EvalRecord]:
        """Submit now; the iterator yields records as jobs finish (and resubmits lost ones)."""
        requests = list(requests)
        return self._collect(self._submit_many(requests, 1) if requests else [])

    def _collect(self, pending: list[_Pending]) -> Iterator[EvalRecord]:
        last_state = 0.0
        try:
            while pending:
                states: dict[str, str] = {}
                if time.monotonic() - last_state >= self.options.state_poll_s:
                    states = job_states([p.job.job_id for p in pending])
                    last_state = time.monotonic()
                still: list[_Pending] = []
                for p in pending:
                    record = self._check(p, states)
                    if record is None:
                        still.append(p)
                    elif record.outcome == "infra_error" and p.attempt <= self.options.retries:
                        still.extend(self._submit_many([p.req], p.attempt + 1))
                    else:
                        yield record
                pending = still
                if pending:
                    time.sleep(self.options.poll_s)
        finally:
            for p in pending:
                p.job.cancel(check=False)

    def _check(self, p: _Pending, states: dict[str, str]) -> EvalRecord | None:
        """The record of a finished job, an infra_error record for a lost one, None while running."""
        worker = {"executor": "slurm", "job_id": p.job.job_id}
        if p.job.paths.result_pickle.exists():
            try:
                record = p.job.result()
            except (FailedJobError, UncompletedJobError, EOFError) as exc:
                return infra_record(p.req, f"Slurm job {p.job.job_id} failed: {_last_line(str(exc))}",
                                    p.attempt, worker)
            record.attempts = p.attempt
            return record
        state = states.get(p.job.job_id)
        if state is None or state.split()[0] not in TERMINAL:
            return None
        p.gone_since = p.gone_since or time.monotonic()
        if time.monotonic() - p.gone_since < self.options.grace_s:
            return None
        return infra_record(p.req, f"Slurm job {p.job.job_id} ended as {state} without a result",
                            p.attempt, worker)

    def close(self) -> None:
        self._executor = None


def exported_names(env: dict[str, str] | None = None) -> list[str]:
    """Names of the variables a job may inherit: all plain names except credential-like ones."""
    names = os.environ if env is None else env
    return sorted({n for n in names if _NAME.fullmatch(n) and not is_sensitive(n)} | {"SUBMITIT_EXECUTOR"})


def job_states(job_ids: list[str]) -> dict[str, str]:
    """Slurm state of each job (array tasks as ARRAYID_INDEX), from sacct; missing while unknown."""
    if not job_ids:
        return {}
    roots = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(roots)],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    states: dict[str, str] = {}
    for line in out.splitlines():
        job, _, state = line.partition("|")
        if job and "[" not in job:
            states[job] = state
    return states


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), text)[:300]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""

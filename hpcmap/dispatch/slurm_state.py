"""Slurm job states from accounting (sacct), with the queue (squeue) as a fallback.

sacct knows finished jobs but answers nothing while slurmdbd is down or on a cluster without
accounting; squeue knows queued, running and recently ended jobs. A job that neither knows about
is reported as missing, and the executor declares it lost after a bounded time.
"""
from __future__ import annotations

import getpass
import subprocess

TERMINAL = ("BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
            "TIMEOUT", "REVOKED", "PREEMPTED")
PENDING = "PENDING"


def job_states(job_ids: list[str]) -> dict[str, str]:
    """Slurm state of each job (array tasks as ARRAYID_INDEX); a job neither sacct nor squeue knows is missing."""
    if not job_ids:
        return {}
    states = _sacct(job_ids)
    unknown = [j for j in job_ids if j not in states]
    if unknown:
        states.update({j: s for j, s in _squeue().items() if j in unknown or j.split("_")[0] in _roots(unknown)})
    return _expand_pending(job_ids, states)


def is_terminal(state: str | None) -> bool:
    return bool(state) and state.split()[0] in TERMINAL


def _roots(job_ids: list[str]) -> set[str]:
    return {j.split("_")[0] for j in job_ids}


def _sacct(job_ids: list[str]) -> dict[str, str]:
    return _table(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(sorted(_roots(job_ids)))])


def _squeue() -> dict[str, str]:
    """This user's jobs in the queue, recently ended ones included, array tasks one per line."""
    return _table(["squeue", "-h", "-r", "-t", "all", "-u", getpass.getuser(), "-o", "%i|%T"])


def _table(command: list[str]) -> dict[str, str]:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    if proc.returncode != 0:
        return {}
    states: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job and state:
            states[job] = state.strip()
    return states


def _expand_pending(job_ids: list[str], states: dict[str, str]) -> dict[str, str]:
    """Array tasks not started yet are listed as one `ID_[2-7%4]` line: each of them is pending."""
    pending_roots = {j.split("_")[0] for j in states if "[" in j}
    result = {j: s for j, s in states.items() if "[" not in j}
    for j in job_ids:
        if j not in result and j.split("_")[0] in pending_roots:
            result[j] = PENDING
    return result

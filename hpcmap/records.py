"""What travels between the head and a worker: a candidate's request and its result record.

Both are plain dataclasses, so they pickle (local and MPI workers, Slurm jobs) and convert to JSON
(the study store).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field

from hpcmap.legion import launch
from hpcmap.stats import summarize


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


def ran_beside(record: dict, records: list[dict]) -> list[str]:
    """Names of the candidates whose applications ran on the same host while `record`'s did: what the
    local executor recorded, else found from the records' hosts and times (Slurm jobs, MPI ranks)."""
    worker = record.get("worker") or {}
    if "concurrent_with" in worker:
        return list(worker["concurrent_with"])
    if not _ran_app(record):
        return []
    return sorted({other["name"] for other in records
                   if other is not record and _ran_app(other)
                   and (other.get("worker") or {}).get("host") == worker["host"]
                   and other["started_at"] < record["finished_at"] and other["finished_at"] > record["started_at"]})


def _ran_app(record: dict) -> bool:
    return bool(record.get("trials") and (record.get("worker") or {}).get("host")
                and record.get("started_at") and record.get("finished_at"))

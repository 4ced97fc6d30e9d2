"""The executor interface and the choice of an executor by name."""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Iterable, Iterator, Protocol

from hpcmap.errors import UserError
from hpcmap.records import EvalRecord, EvalRequest, infra_record

EXECUTORS = ("local", "slurm", "mpi")


class Executor(Protocol):
    """Evaluates candidates somewhere and hands their records back as they complete."""

    name: str

    def submit(self, requests: Iterable[EvalRequest]) -> Iterator[EvalRecord]: ...

    def close(self) -> None: ...


def as_completed_records(pending: dict[Future, EvalRequest], executor: str) -> Iterator[EvalRecord]:
    """Records of futures as they finish; a worker that died gives an infra_error record."""
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                req = pending.pop(fut)
                try:
                    yield fut.result()
                except Exception as exc:
                    yield infra_record(req, f"{executor} worker failed: {type(exc).__name__}: {exc}",
                                       worker={"executor": executor})
    finally:
        for fut in pending:
            fut.cancel()


def make_executor(name: str, workers: int | None = None, **options) -> Executor:
    if name == "local":
        from hpcmap.dispatch.local import LocalExecutor

        return LocalExecutor(workers)
    if name == "slurm":
        from hpcmap.dispatch.slurm import SlurmExecutor, SlurmOptions

        return SlurmExecutor(SlurmOptions(**options))
    if name == "mpi":
        from hpcmap.dispatch.mpi import MpiExecutor

        return MpiExecutor()
    raise UserError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")

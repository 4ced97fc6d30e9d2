"""The executor interface and the choice of an executor by name."""
from __future__ import annotations

from typing import Iterable, Iterator, Protocol

from hpcmap.errors import UserError
from hpcmap.evaluate import EvalRecord, EvalRequest

EXECUTORS = ("local", "slurm", "mpi")


class Executor(Protocol):
    """Evaluates candidates somewhere and hands their records back as they complete."""

    name: str

    def submit(self, requests: Iterable[EvalRequest]) -> Iterator[EvalRecord]: ...

    def close(self) -> None: ...


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

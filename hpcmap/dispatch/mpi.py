"""MPI executor: inside one allocation, rank 0 is the head and every other rank evaluates candidates.

Run the whole command under the launcher of the mpich wheel, e.g.
`.venv/bin/mpiexec -n 3 hpcmap eval ... --executor mpi`; started without a launcher, the command
re-executes itself under `mpiexec -n WORKERS+1`. Candidates go to idle ranks through
mpi4py.futures.MPICommExecutor, so none of them waits for a scheduler queue.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Iterable, Iterator

from hpcmap.errors import UserError
from hpcmap.dispatch.base import as_completed_records
from hpcmap.environment import safe_env
from hpcmap.evaluate import evaluate
from hpcmap.records import EvalRecord, EvalRequest

_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


def launched_size() -> int:
    """World size announced by an MPI launcher in the environment; 1 when not launched."""
    for var in _SIZE_VARS[:3]:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


def launched_rank() -> int:
    for var in _RANK_VARS:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def is_worker_rank() -> bool:
    return launched_size() > 1 and launched_rank() != 0


def mpiexec() -> str:
    """The launcher that belongs to this Python's mpi4py/mpich install."""
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if not found:
        raise UserError("no mpiexec next to this Python; install the MPI wheels: pip install mpi4py mpich")
    return found


def relaunch(workers: int, argv: list[str]) -> None:
    """Replace this process with `mpiexec -n WORKERS+1 python -m hpcmap.cli ARGV` (safe environment)."""
    if workers < 1:
        raise UserError("--workers must be at least 1 for the mpi executor")
    cmd = [mpiexec(), "-n", str(workers + 1), sys.executable, "-m", "hpcmap.cli", *argv]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, safe_env())


def _comm_executor():
    try:
        from mpi4py import MPI
        from mpi4py.futures import MPICommExecutor
    except ImportError as exc:
        raise UserError(f"the mpi executor needs mpi4py ({exc}); pip install mpi4py mpich") from None
    return MPI.COMM_WORLD, MPICommExecutor


def serve() -> int:
    """Worker ranks: evaluate candidates sent by rank 0 until it closes the executor."""
    comm, MPICommExecutor = _comm_executor()
    with MPICommExecutor(comm, root=0) as ex:
        assert ex is None
    return 0


def _evaluate_rank(req: EvalRequest) -> EvalRecord:
    from mpi4py import MPI

    return evaluate(req, {"executor": "mpi", "rank": MPI.COMM_WORLD.Get_rank()})


class MpiExecutor:
    """Rank 0's side of MPICommExecutor over COMM_WORLD; the other ranks run `serve()`."""

    name = "mpi"

    def __init__(self):
        comm, MPICommExecutor = _comm_executor()
        if comm.Get_size() < 2:
            raise UserError("the mpi executor needs at least 2 ranks (head + workers): "
                            "run under mpiexec -n N, or pass --workers")
        if comm.Get_rank() != 0:
            raise UserError("MpiExecutor runs on rank 0 only")
        self.workers = comm.Get_size() - 1
        self._context = MPICommExecutor(comm, root=0)
        self._pool = self._context.__enter__()

    def submit(self, requests: Iterable[EvalRequest]) -> Iterator[EvalRecord]:
        """Submit now; the iterator yields records as candidates finish."""
        pending = {self._pool.submit(_evaluate_rank, r): r for r in requests}
        return as_completed_records(pending, "mpi")

    def close(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None

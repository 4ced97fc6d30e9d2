"""Executors that evaluate batches of candidates: local processes, Slurm jobs, MPI ranks.

Each executor has `submit(requests) -> Iterator[EvalRecord]`, yielding records as candidates
finish, and `close()`. Results come back to the head, which alone writes the study store.
"""
from __future__ import annotations

from hpcmap.dispatch.base import Executor, make_executor

__all__ = ["Executor", "make_executor"]

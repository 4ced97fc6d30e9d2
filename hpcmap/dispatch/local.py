"""Local executor: a pool of worker processes on this host."""
from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterable, Iterator

from hpcmap.dispatch.base import as_completed_records
from hpcmap.evaluate import evaluate
from hpcmap.legion.launch import die_with_parent
from hpcmap.records import EvalRecord, EvalRequest


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()


def _evaluate_local(req: EvalRequest) -> EvalRecord:
    return evaluate(req, {"executor": "local"})


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // 2)


class LocalExecutor:
    """`workers` processes (default: half the cores), each evaluating one candidate at a time."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker)
        return self._pool

    def submit(self, requests: Iterable[EvalRequest]) -> Iterator[EvalRecord]:
        """Submit now; the iterator yields records as candidates finish."""
        pool = self._ensure_pool()
        pending: dict[Future, EvalRequest] = {pool.submit(_evaluate_local, r): r for r in requests}
        return as_completed_records(pending, "local")

    def close(self) -> None:
        """Stop the workers now, so an interrupted head exits at once; a candidate still running is
        abandoned and its application dies with its worker."""
        if self._pool is not None:
            # ProcessPoolExecutor has no public way to stop busy workers before Python 3.14.
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                proc.kill()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

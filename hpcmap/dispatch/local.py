"""Local executor: a pool of worker processes on this host, each pinned to cores of its own."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.managers import SyncManager
from typing import Iterable, Iterator

from hpcmap.dispatch import placement
from hpcmap.dispatch.base import as_completed_records
from hpcmap.evaluate import evaluate
from hpcmap.legion.launch import die_with_parent
from hpcmap.records import EvalRecord, EvalRequest

# The pool's free slots and its shared table of candidate runs, set in each worker by _init_worker.
_WORKER: dict = {}


def _init_worker(slots, runs) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    _WORKER.update(slots=slots, runs=runs)


def _evaluate_local(req: EvalRequest) -> EvalRecord:
    """Evaluate on a free slot (there is one per worker) and record the candidates that ran on the
    host meanwhile."""
    slots, runs = _WORKER["slots"], _WORKER["runs"]
    slot: placement.Slot = slots.get()
    try:
        os.sched_setaffinity(0, slot.cpus)   # the Legion processes this worker starts inherit the mask
        if slot.gpus is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(slot.gpus)
        token = f"{os.getpid()}-{time.monotonic_ns()}"
        start = time.time()
        runs[token] = (req.name, start, None)
        try:
            rec = evaluate(req, {"executor": "local", **({"gpus": list(slot.gpus)} if slot.gpus else {})})
        finally:
            end = time.time()
            runs[token] = (req.name, start, end)
    finally:
        slots.put(slot)
    beside = sorted({name for other, (name, began, ended) in list(runs.items())
                     if other != token and began < end and (ended is None or ended > start)})
    rec.worker.update(concurrent_with=beside, contention=bool(beside))
    return rec


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // 2)


class LocalExecutor:
    """Up to `workers` processes (default: half the cores), each evaluating one candidate at a time on
    cores of its own; fewer when the machine spec needs more cores than this host can give each."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()
        self._asked = workers is not None
        self.placement: placement.Placement | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._manager: SyncManager | None = None

    def _ensure_pool(self, machine: dict) -> ProcessPoolExecutor:
        """The pool, started at the first submission, when the machine spec is known; says once how
        candidates are placed."""
        if self._pool is None:
            self.placement = placement.plan(machine, self.workers, asked=self._asked)
            if self.placement.note:
                print(f"hpcmap: {self.placement.note}", file=sys.stderr, flush=True)
            context = multiprocessing.get_context("spawn")
            slots = context.Queue()
            for slot in self.placement.slots:
                slots.put(slot)
            runs: dict = {}   # one worker sees all runs in its own table; several share one
            if len(self.placement.slots) > 1:
                self._manager = SyncManager(ctx=context)
                self._manager.start(die_with_parent)
                runs = self._manager.dict()
            self._pool = ProcessPoolExecutor(len(self.placement.slots), mp_context=context,
                                             initializer=_init_worker, initargs=(slots, runs))
        return self._pool

    def submit(self, requests: Iterable[EvalRequest]) -> Iterator[EvalRecord]:
        """Submit now; the iterator yields records as candidates finish."""
        requests = list(requests)
        if not requests:
            return iter(())
        pool = self._ensure_pool(requests[0].machine)
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
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None

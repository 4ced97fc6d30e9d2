"""Critical path through the Realm event graph that Legion Prof records (when event records are present).

Walks backwards from the last operation to finish: an operation was held up either by the event
that made it ready (`critical`) or, when there is none, by the operation that created it
(`creator`). An event is resolved to the operation whose completion it is (`fevent`), or through the
event records: a merger waits for its latest precondition, a completion queue for its earliest, a
trigger for its precondition or else the operation that ran the trigger.
"""
from __future__ import annotations

import numpy as np

from hpcmap.profile.logfile import RawLog
from hpcmap.profile.tables import CRITICAL_TABLES, empty

EVENT_KINDS = ("EventMergerInfo", "CompletionQueueInfo", "EventTriggerInfo", "EventPoisonInfo",
               "BarrierArrivalInfo", "ReservationAcquireInfo", "InstanceReadyInfo", "InstanceRedistrictInfo")
MAX_STEPS = 1_000_000


class EventGraph:
    """Event records indexed by the event they produce; the records themselves stay in the logs' bytes."""

    def __init__(self, logs: list[RawLog]):
        self.sources = []
        for log in logs:
            for kind in EVENT_KINDS:
                if log.kind_id(kind) is None or not log.count(kind):
                    continue
                result = log.column(kind, "result")
                order = np.argsort(result)
                self.sources.append((log, kind, result[order], order))
        self.present = bool(self.sources)

    def records(self, event: int) -> list[tuple[str, np.void]]:
        """Every event record whose result is `event`."""
        found = []
        key = np.uint64(event)
        for log, kind, keys, order in self.sources:
            lo = np.searchsorted(keys, key, "left")
            hi = np.searchsorted(keys, key, "right")
            found.extend((kind, log.row(kind, int(order[j]))) for j in range(lo, hi))
        return found

    def performed(self, event: int) -> int | None:
        recs = self.records(event)
        return int(recs[0][1]["performed"]) if recs else None


class OpIndex:
    """Operations of every kind that has timing, looked up by their completion event."""

    def __init__(self, tables: dict[str, np.ndarray]):
        ev, tab, row = [], [], []
        for code, name in enumerate(CRITICAL_TABLES):
            t = tables[name]
            ev.append(t["fevent"]); tab.append(np.full(len(t), code, "u1")); row.append(np.arange(len(t), dtype="u8"))
        ev, tab, row = np.concatenate(ev), np.concatenate(tab), np.concatenate(row)
        order = np.argsort(ev, kind="stable")
        self.ev, self.tab, self.row = ev[order], tab[order], row[order]
        self.tables = tables

    def find(self, event: int) -> tuple[int, int] | None:
        i = np.searchsorted(self.ev, np.uint64(event))
        if event and i < len(self.ev) and self.ev[i] == event:
            return int(self.tab[i]), int(self.row[i])
        return None

    def get(self, code: int, row: int, col: str) -> int:
        return int(self.tables[CRITICAL_TABLES[code]][col][row])


def critical_path(tables: dict[str, np.ndarray], logs: list[RawLog]) -> np.ndarray | None:
    """The critical path as rows of the `critical_path` table (first step first); None without event records."""
    graph = EventGraph(logs)
    if not graph.present:
        return None
    ops = OpIndex(tables)
    end = _last_leaf(tables)
    if end is None:
        return empty("critical_path")
    path = []
    seen: set[int] = set()
    cur: tuple[int, int] | None = end
    limit: int | None = None
    while cur is not None and len(path) < MAX_STEPS:
        code, row = cur
        fevent = ops.get(code, row, "fevent")
        if fevent in seen:
            break
        seen.add(fevent)
        start, stop = ops.get(code, row, "start"), ops.get(code, row, "stop")
        if limit is not None:
            stop = max(start, min(stop, limit))
        path.append((code, row, start, stop))
        critical = ops.get(code, row, "critical")
        cur = _resolve(critical, graph, ops, seen) if critical else None
        limit = None
        if cur is None:
            creator = ops.get(code, row, "creator")
            cur = ops.find(creator) if creator and creator not in seen else None
            limit = ops.get(code, row, "create")
    path.reverse()
    out = empty("critical_path", len(path))
    if path:
        arr = np.array(path, dtype="i8")
        out["step"] = np.arange(len(path))
        out["table"], out["row"], out["start"], out["stop"] = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
    return out


def _last_leaf(tables: dict[str, np.ndarray]) -> tuple[int, int] | None:
    """The operation that finishes last among those that launch nothing (the top-level task outlives all)."""
    parents = set(np.unique(tables["operations"]["parent_id"]).tolist()) if len(tables["operations"]) else set()
    best = None
    for code, name in enumerate(CRITICAL_TABLES):
        t = tables[name]
        if not len(t):
            continue
        mask = ~np.isin(t["op_id"], list(parents)) if parents and name == "tasks" else np.ones(len(t), bool)
        if name == "tasks":
            mask &= t["implicit"] == 0
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        i = idx[np.argmax(t["stop"][idx])]
        if best is None or t["stop"][i] > best[2]:
            best = (code, int(i), int(t["stop"][i]))
    return None if best is None else best[:2]


def _resolve(event: int, graph: EventGraph, ops: OpIndex, seen: set[int]) -> tuple[int, int] | None:
    """The operation that an event ultimately waited on, following event records."""
    for _ in range(100_000):
        op = ops.find(event)
        if op is not None:
            return None if event in seen else op
        pres: list[int] = []
        by_op: list[int] = []
        earliest = False
        for kind, rec in graph.records(event):
            names = rec.dtype.names
            if "pre0" in names:
                pres.extend(int(rec[f"pre{k}"]) for k in range(4) if rec[f"pre{k}"])
                earliest |= kind == "CompletionQueueInfo"
            else:
                if "precondition" in names and rec["precondition"]:
                    pres.append(int(rec["precondition"]))
                if "fevent" in names and rec["fevent"]:
                    by_op.append(int(rec["fevent"]))
        known = [(t, p) for p in pres if (t := _trigger_time(p, graph, ops)) is not None]
        if known:
            event = (min(known) if earliest else max(known))[1]
            continue
        for candidate in by_op:
            op = ops.find(candidate)
            if op is not None and candidate not in seen:
                return op
        return None
    return None


def _trigger_time(event: int, graph: EventGraph, ops: OpIndex) -> int | None:
    op = ops.find(event)
    if op is not None:
        return ops.get(op[0], op[1], "stop")
    return graph.performed(event)

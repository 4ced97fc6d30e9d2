"""From decoded log records to the trace tables (one set per run, all nodes' files merged)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from hpcmap.profile.logfile import RawLog

I8, U8, U4, I4, U1 = "<i8", "<u8", "<u4", "<i4", "u1"
STR = "str"  # variable-length UTF-8 in HDF5, Python str in memory

TIMES = [("create", I8), ("ready", I8), ("start", I8), ("stop", I8)]
EVENTS = [("creator", U8), ("critical", U8), ("fevent", U8)]

SCHEMA: dict[str, list[tuple[str, str]]] = {
    "processors": [("proc_id", U8), ("node", U4), ("index", U4), ("kind", I4)],
    "memories": [("mem_id", U8), ("node", U4), ("index", U4), ("kind", I4), ("capacity", U8)],
    "affinities": [("proc_id", U8), ("mem_id", U8), ("bandwidth", U4), ("latency", U4)],
    "task_kinds": [("task_id", U4), ("name", STR)],
    "variants": [("task_id", U4), ("variant_id", U4), ("name", STR)],
    "meta_kinds": [("lg_id", U4), ("name", STR), ("message", U1), ("ordered_vc", U1)],
    "op_kinds": [("kind", U4), ("name", STR)],
    "mapper_call_kinds": [("kind", U4), ("name", STR)],
    "runtime_call_kinds": [("kind", U4), ("name", STR)],
    "mappers": [("mapper_id", U4), ("mapper_proc", U8), ("name", STR)],
    "regions": [("tree_id", U4), ("ispace_id", U8), ("fspace_id", U8), ("name", STR)],
    "tasks": [("op_id", U8), ("task_id", U4), ("variant_id", U4), ("proc_id", U8), *TIMES,
              ("gpu_start", I8), ("gpu_stop", I8), *EVENTS, ("implicit", U1)],
    "task_waits": [("op_id", U8), ("meta", U1), ("wait_start", I8), ("wait_ready", I8), ("wait_end", I8),
                   ("wait_event", U8), ("lg_id", U4), ("owner_proc", U8), ("owner_start", I8)],
    "meta_tasks": [("op_id", U8), ("lg_id", U4), ("proc_id", U8), ("spawn", I8), *TIMES, *EVENTS,
                   ("message", U1)],
    "copies": [("op_id", U8), ("size", U8), *TIMES, *EVENTS, ("collective", U4), ("reduction", U4),
               ("src_mem", U8), ("dst_mem", U8), ("endpoints", U4)],
    "copy_endpoints": [("fevent", U8), ("src", U8), ("dst", U8), ("src_fid", U4), ("dst_fid", U4),
                       ("src_inst", U8), ("dst_inst", U8), ("num_hops", U4), ("indirect", U1)],
    "fills": [("op_id", U8), ("size", U8), *TIMES, *EVENTS, ("dst_mem", U8)],
    "fill_endpoints": [("fevent", U8), ("dst", U8), ("fid", U4), ("dst_inst", U8)],
    "partitions": [("op_id", U8), ("part_op", I4), *TIMES, *EVENTS],
    "instances": [("inst_uid", U8), ("inst_id", U8), ("mem_id", U8), ("size", U8), ("op_id", U8),
                  ("create", I8), ("ready", I8), ("destroy", I8), ("region", I4)],
    "mapper_calls": [("mapper_id", U4), ("mapper_proc", U8), ("kind", U4), ("op_id", U8), ("start", I8),
                     ("stop", I8), ("proc_id", U8)],
    "runtime_calls": [("kind", U4), ("start", I8), ("stop", I8), ("proc_id", U8)],
    "prof_tasks": [("proc_id", U8), ("op_id", U8), ("start", I8), ("stop", I8)],
    "operations": [("op_id", U8), ("parent_id", U8), ("kind", U4), ("provenance", U8)],
    "critical_path": [("step", U4), ("table", U1), ("row", U8), ("start", I8), ("stop", I8)],
}

CRITICAL_TABLES = ("tasks", "meta_tasks", "copies", "fills", "partitions")


def dtype_of(table: str) -> np.dtype:
    """The in-memory dtype of a table (strings as Python objects)."""
    return np.dtype([(n, object if t == STR else t) for n, t in SCHEMA[table]])


def empty(table: str, n: int = 0) -> np.ndarray:
    return np.zeros(n, dtype_of(table))


def proc_node(ids: np.ndarray) -> np.ndarray:
    """Node number of processor or memory ids (bits 55:40)."""
    return ((np.asarray(ids, np.uint64) >> np.uint64(40)) & np.uint64(0xFFFF)).astype(np.uint32)


def _fill(table: str, log: RawLog, kind: str, **const) -> np.ndarray:
    """A table with the columns that records of `kind` share with it, and constants for others."""
    out = empty(table, log.count(kind) if log.kind_id(kind) is not None else 0)
    log.fill(kind, out)
    for name, value in const.items():
        out[name] = value
    return out


def _from_dicts(table: str, rows: Iterable[dict], rename: dict[str, str] | None = None) -> np.ndarray:
    rows = list(rows)
    out = empty(table, len(rows))
    rename = rename or {}
    for i, row in enumerate(rows):
        for key, value in row.items():
            key = rename.get(key, key)
            if key in out.dtype.names:
                out[key][i] = value
    return out


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if p is not None]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _names(log: RawLog, kind: str, table: str, key: str, rename: dict[str, str] | None = None) -> np.ndarray:
    """A name table, deduplicated by key (the last declaration wins, which applies TaskKind renames)."""
    rows = log.variable(kind)
    if kind == "TaskKind":
        rows = sorted(rows, key=lambda r: r.get("overwrite", 0))
    latest: dict = {}
    for row in rows:
        latest[tuple(row[k] for k in ([key] if isinstance(key, str) else key))] = row
    return _from_dicts(table, latest.values(), rename)


def log_tables(log: RawLog) -> dict[str, np.ndarray]:
    """All tables of one node's log. Kinds missing from the header give empty tables."""
    t: dict[str, np.ndarray] = {}
    procs = _dedupe(_from_dicts("processors", log.variable("ProcDesc")), "proc_id")
    procs["node"] = proc_node(procs["proc_id"])
    procs["index"] = (procs["proc_id"] & np.uint64(0xFFF)).astype(np.uint32)
    t["processors"] = procs
    mems = _dedupe(_fill("memories", log, "MemDesc"), "mem_id")
    mems["node"] = proc_node(mems["mem_id"])
    mems["index"] = (mems["mem_id"] & np.uint64(0xFF)).astype(np.uint32)
    t["memories"] = mems
    t["affinities"] = _dedupe(_fill("affinities", log, "ProcMDesc"), ("proc_id", "mem_id"))
    t["task_kinds"] = _names(log, "TaskKind", "task_kinds", "task_id")
    t["variants"] = _names(log, "TaskVariant", "variants", ("task_id", "variant_id"))
    t["meta_kinds"] = _names(log, "MetaDesc", "meta_kinds", "kind", {"kind": "lg_id"})
    t["op_kinds"] = _names(log, "OpDesc", "op_kinds", "kind")
    t["mapper_call_kinds"] = _names(log, "MapperCallDesc", "mapper_call_kinds", "kind")
    t["runtime_call_kinds"] = _names(log, "RuntimeCallDesc", "runtime_call_kinds", "kind")
    t["mappers"] = _names(log, "MapperName", "mappers", ("mapper_id", "mapper_proc"))
    t["regions"] = _names(log, "LogicalRegionDesc", "regions", ("tree_id", "ispace_id", "fspace_id"))

    tasks = [_fill("tasks", log, "TaskInfo", gpu_start=-1, gpu_stop=-1),
             _fill("tasks", log, "ImplicitTaskInfo", gpu_start=-1, gpu_stop=-1, implicit=1),
             _fill("tasks", log, "GPUTaskInfo")]
    t["tasks"] = _cat(tasks)
    t["meta_tasks"] = _cat([_fill("meta_tasks", log, "MetaInfo", spawn=-1),
                            _fill("meta_tasks", log, "MessageInfo", message=1)])
    meta_waits = _fill("task_waits", log, "MetaWaitInfo", meta=1, owner_start=-1)
    _own_meta_waits(meta_waits, _positions(log, "MetaWaitInfo"), t["meta_tasks"],
                    np.concatenate([_positions(log, "MetaInfo"), _positions(log, "MessageInfo")]))
    t["task_waits"] = _cat([_fill("task_waits", log, "TaskWaitInfo", owner_start=-1), meta_waits])
    t["copy_endpoints"] = _fill("copy_endpoints", log, "CopyInstInfo")
    t["copies"] = _fill("copies", log, "CopyInfo")
    t["fill_endpoints"] = _fill("fill_endpoints", log, "FillInstInfo")
    t["fills"] = _fill("fills", log, "FillInfo")
    t["partitions"] = _fill("partitions", log, "PartitionInfo")
    t["instances"] = _fill("instances", log, "InstTimelineInfo", region=-1)
    t["mapper_calls"] = _fill("mapper_calls", log, "MapperCallInfo")
    t["runtime_calls"] = _fill("runtime_calls", log, "RuntimeCallInfo")
    t["prof_tasks"] = _fill("prof_tasks", log, "ProfTaskInfo")
    t["operations"] = _fill("operations", log, "OperationInstance")
    inst_regions = log.records("PhysicalInstRegionDesc")
    t["_inst_regions"] = inst_regions if inst_regions is not None else np.zeros(0, [("inst_uid", U8)])
    return t


def _positions(log: RawLog, kind: str) -> np.ndarray:
    """Byte offset of every record of a fixed-size kind, in the order `_fill` puts them in a table."""
    kid = log.kind_id(kind)
    if kid is None:
        return np.zeros(0, "i8")
    layout = log.index.layouts[kid]
    parts = [seg.offset + np.arange(seg.count, dtype="i8") * (layout.redop_dtype if seg.redop else layout.dtype).itemsize
             for seg in log.index.segments.get(kid, [])]
    return np.concatenate(parts) if parts else np.zeros(0, "i8")


def _own_meta_waits(waits: np.ndarray, wait_pos: np.ndarray, metas: np.ndarray, meta_pos: np.ndarray) -> None:
    """Name each meta-task wait's meta-task (`owner_proc`, `owner_start`): the last one of the same op
    and kind written before the wait, as legion_prof pairs them. Meta-tasks of one op and kind may
    overlap in time, so neither the key nor the times alone say which one waited."""
    if not len(waits) or len(meta_pos) != len(metas):
        return
    keys = np.unique(waits[["op_id", "lg_id"]])
    for op_id, lg_id in keys.tolist():
        mine = np.flatnonzero((metas["op_id"] == op_id) & (metas["lg_id"] == lg_id))
        mine = mine[np.argsort(meta_pos[mine], kind="stable")]
        sel = np.flatnonzero((waits["op_id"] == op_id) & (waits["lg_id"] == lg_id))
        before = np.searchsorted(meta_pos[mine], wait_pos[sel]) - 1
        ok = before >= 0
        owner = mine[before[ok]]
        waits["owner_proc"][sel[ok]] = metas["proc_id"][owner]
        waits["owner_start"][sel[ok]] = metas["start"][owner]


def _dedupe(arr: np.ndarray, key) -> np.ndarray:
    """Keep the first row of each key (ProcDesc and MemDesc may repeat)."""
    if not len(arr):
        return arr
    keys = arr[list(key)] if isinstance(key, tuple) else arr[key]
    _, first = np.unique(keys, return_index=True)
    return arr[np.sort(first)]


NAME_TABLES = {"task_kinds": "task_id", "variants": ("task_id", "variant_id"), "meta_kinds": "lg_id",
               "op_kinds": "kind", "mapper_call_kinds": "kind", "runtime_call_kinds": "kind",
               "mappers": ("mapper_id", "mapper_proc"), "regions": ("tree_id", "ispace_id", "fspace_id"),
               "processors": "proc_id", "memories": "mem_id", "affinities": ("proc_id", "mem_id")}


def merge(per_node: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate the tables of every node's log; descriptor tables are deduplicated."""
    out: dict[str, np.ndarray] = {}
    for name in per_node[0]:
        parts = [t[name] for t in per_node if name in t]
        arr = _cat(parts) if parts else empty(name)
        if name in NAME_TABLES and len(per_node) > 1:
            arr = _dedupe_objects(arr, NAME_TABLES[name])
        out[name] = arr
    _join_endpoints(out)
    _resolve_regions(out)
    out.pop("_inst_regions", None)
    return out


def _dedupe_objects(arr: np.ndarray, key) -> np.ndarray:
    seen: set = set()
    keep = []
    cols = key if isinstance(key, tuple) else (key,)
    for i in range(len(arr)):
        k = tuple(arr[c][i] for c in cols)
        if k not in seen:
            seen.add(k)
            keep.append(i)
    return arr[keep]


def _join_endpoints(t: dict[str, np.ndarray]) -> None:
    """Give each copy (fill) the memories of its first endpoint and its endpoint count (joined by fevent)."""
    for table, ends, src, dst in (("copies", "copy_endpoints", "src", "dst"), ("fills", "fill_endpoints", None, "dst")):
        rows, ep = t[table], t[ends]
        if not len(rows) or not len(ep):
            continue
        order = np.argsort(ep["fevent"], kind="stable")
        keys = ep["fevent"][order]
        lo = np.searchsorted(keys, rows["fevent"], "left")
        hi = np.searchsorted(keys, rows["fevent"], "right")
        has = hi > lo
        first = order[np.minimum(lo, len(order) - 1)]
        if src:
            rows["src_mem"] = np.where(has, ep[src][first], 0)
            rows["endpoints"] = hi - lo
        rows[f"{dst}_mem"] = np.where(has, ep[dst][first], 0)


def _resolve_regions(t: dict[str, np.ndarray]) -> None:
    """Point each instance at the logical region it holds (exact match first, else its region tree)."""
    inst, desc, regions = t["instances"], t["_inst_regions"], t["regions"]
    if not len(inst) or not len(desc) or not len(regions):
        return
    exact = {(int(r["tree_id"]), int(r["ispace_id"]), int(r["fspace_id"])): i for i, r in enumerate(regions)}
    by_tree: dict[int, int] = {}
    for i, r in enumerate(regions):
        by_tree.setdefault(int(r["tree_id"]), i)
    where = {}
    for d in desc:
        key = (int(d["tree_id"]), int(d["ispace_id"]), int(d["fspace_id"]))
        where[int(d["inst_uid"])] = exact.get(key, by_tree.get(key[0], -1))
    inst["region"] = [where.get(int(u), -1) for u in inst["inst_uid"]]

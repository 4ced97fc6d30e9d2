"""What a run's trace says: span, utilization, task and copy statistics, memory peaks, critical path."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hpcmap.profile import intervals
from hpcmap.profile.h5trace import read_run
from hpcmap.profile.kinds import mem_kind_name, proc_kind_name
from hpcmap.profile.tables import CRITICAL_TABLES

NS = 1e-9
TOP = 10
RUN_ATTRS = ("app", "mapper", "machine", "command", "outcome", "legion_version", "profiler_version",
             "hpcmap_version", "num_nodes", "log_bytes", "critical_path", "truncated")


def summarize(h5_path: Path, run: str | None = None) -> dict:
    """The summary of one run (the last one in the file when `run` is None); JSON-serializable."""
    name, t, attrs = read_run(h5_path, run)
    return summarize_tables(name, t, attrs)


def summarize_tables(name: str, t: dict[str, np.ndarray], attrs: dict) -> dict:
    lo, hi = span(t)
    out: dict = {"run": name, "attrs": {k: _plain(attrs[k]) for k in RUN_ATTRS if k in attrs},
                 "span_s": (hi - lo) * NS, "start_ns": lo, "stop_ns": hi}
    out["processors"] = processors(t, lo, hi)
    out["tasks"] = task_kinds(t)
    out["meta_tasks"] = meta_kinds(t)
    out["copies"] = copies(t)
    out["fills"] = fills(t)
    out["memories"] = memories(t, hi)
    out["idle_gaps"] = idle_gaps(t, lo, hi)
    out["mapper_calls"] = calls(t, "mapper_calls", "mapper_call_kinds", hi - lo)
    out["runtime_calls"] = calls(t, "runtime_calls", "runtime_call_kinds", hi - lo)
    out["critical_path"] = critical(t, attrs, hi - lo)
    return out


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def app_tasks(t: dict[str, np.ndarray]) -> np.ndarray:
    """Tasks run by Legion processors (the implicit external thread excluded)."""
    return t["tasks"][t["tasks"]["implicit"] == 0]


def top_level_ops(t: dict[str, np.ndarray]) -> np.ndarray:
    """Op ids of tasks that no other operation launched (the top-level task)."""
    ops = t["operations"]
    roots = ops["op_id"][ops["parent_id"] == np.iinfo(np.uint64).max]
    return np.intersect1d(roots, app_tasks(t)["op_id"])


def timed_region(t: dict[str, np.ndarray]) -> tuple[int, int] | None:
    """When the app's timed region ran: between its last two timing measurements (Legion Timing
    operations, each taken when the operation's last meta-task starts), or None with fewer than two."""
    kinds = {int(k) for k, n in zip(t["op_kinds"]["kind"], t["op_kinds"]["name"]) if str(n) == "Timing"}
    ops = t["operations"]
    timing = ops["op_id"][np.isin(ops["kind"], list(kinds))] if kinds else np.zeros(0, "u8")
    m = t["meta_tasks"]
    times = sorted(int(m["start"][m["op_id"] == o].max()) for o in timing if (m["op_id"] == o).any())
    return (times[-2], times[-1]) if len(times) >= 2 else None


def span(t: dict[str, np.ndarray]) -> tuple[int, int]:
    """First start and last stop over tasks, meta-tasks, copies and fills."""
    starts, stops = [], []
    for name in ("tasks", "meta_tasks", "copies", "fills"):
        rows = app_tasks(t) if name == "tasks" else t[name]
        if len(rows):
            starts.append(int(rows["start"].min()))
            stops.append(int(rows["stop"].max()))
    return (min(starts), max(stops)) if starts else (0, 0)


def proc_intervals(t: dict[str, np.ndarray], app_only: bool = False) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Busy intervals per processor as Legion Prof counts them: tasks and, unless app_only, meta-tasks,
    each minus the intervals it spent waiting."""
    tasks = app_tasks(t)
    waits = t["task_waits"]
    starts, stops, procs = _cut_waits(tasks, waits[waits["meta"] == 0], ("op_id",))
    if not app_only:
        s, e, p = _cut_waits(t["meta_tasks"], waits[waits["meta"] == 1], ("op_id", "lg_id"))
        starts += s; stops += e; procs += p
    s, e, p = np.concatenate(starts), np.concatenate(stops), np.concatenate(procs)
    out = {}
    order = np.argsort(p, kind="stable")
    s, e, p = s[order], e[order], p[order]
    ids, first = np.unique(p, return_index=True)
    bounds = np.append(first, len(p))
    for i, pid in enumerate(ids):
        out[int(pid)] = (s[bounds[i]:bounds[i + 1]], e[bounds[i]:bounds[i + 1]])
    return out


def _cut_waits(rows: np.ndarray, waits: np.ndarray, key: tuple[str, ...]):
    """Intervals of `rows` with their waits removed. A task's wait belongs to the task of its op_id; a
    meta-task's to the meta-task named at import (`owner_proc`, `owner_start`), or in older files to
    the last meta-task of its op_id and lg_id that contains it."""
    owner = _wait_owners(rows, waits, key)
    has = np.zeros(len(rows), bool)
    has[owner[owner >= 0]] = True
    starts = [rows["start"][~has].astype("i8")]
    stops = [rows["stop"][~has].astype("i8")]
    procs = [rows["proc_id"][~has].astype("u8")]
    for i in np.flatnonzero(has):
        w = waits[owner == i]
        w = w[np.argsort(w["wait_start"])]
        cuts_s = np.concatenate([[rows["start"][i]], w["wait_end"]])
        cuts_e = np.concatenate([w["wait_start"], [rows["stop"][i]]])
        cuts_s = np.maximum.accumulate(cuts_s)
        keep = cuts_e > cuts_s
        starts.append(cuts_s[keep]); stops.append(cuts_e[keep])
        procs.append(np.full(int(keep.sum()), rows["proc_id"][i], "u8"))
    return starts, stops, procs


def _wait_owners(rows: np.ndarray, waits: np.ndarray, key: tuple[str, ...]) -> np.ndarray:
    """For each wait, the index of the row it belongs to (-1 when none)."""
    owner = np.full(len(waits), -1, "i8")
    if not len(waits) or not len(rows):
        return owner
    named = "lg_id" in key and "owner_start" in waits.dtype.names
    pairs = [(k, k) for k in key if k in waits.dtype.names]
    if named:
        pairs += [("proc_id", "owner_proc"), ("start", "owner_start")]
    near = np.ones(len(rows), bool)
    for row_col, wait_col in pairs:
        near &= np.isin(rows[row_col], waits[wait_col])
    by_key: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(near):
        by_key.setdefault(tuple(int(rows[c][i]) for c, _ in pairs), []).append(int(i))
    for j, w in enumerate(waits):
        for i in reversed(by_key.get(tuple(int(w[c]) for _, c in pairs), [])):
            if named or (rows["start"][i] <= w["wait_start"] and w["wait_end"] <= rows["stop"][i]):
                owner[j] = i
                break
    return owner


def processors(t: dict[str, np.ndarray], lo: int, hi: int) -> dict:
    """Per processor kind: count, busy fraction (all work), application-task busy fraction, GPU device busy.

    The external thread that runs an implicit top-level task (kind NONE) is no Legion processor and is left out.
    """
    busy_all, busy_app = proc_intervals(t), proc_intervals(t, app_only=True)
    width = max(hi - lo, 1)
    out: dict = {}
    for p in t["processors"]:
        kind = proc_kind_name(int(p["kind"]))
        if kind == "NONE":
            continue
        entry = out.setdefault(kind, {"count": 0, "busy_ns": 0, "app_busy_ns": 0})
        entry["count"] += 1
        pid = int(p["proc_id"])
        if pid in busy_all:
            entry["busy_ns"] += intervals.measure(*busy_all[pid])
        if pid in busy_app:
            entry["app_busy_ns"] += intervals.measure(*busy_app[pid])
    gpu = t["tasks"][t["tasks"]["gpu_start"] >= 0]
    for kind, entry in out.items():
        entry["busy_fraction"] = entry["busy_ns"] / (entry["count"] * width)
        entry["app_busy_fraction"] = entry["app_busy_ns"] / (entry["count"] * width)
    if len(gpu) and "GPU" in out:
        dev = sum(intervals.measure(gpu["gpu_start"][gpu["proc_id"] == pid], gpu["gpu_stop"][gpu["proc_id"] == pid])
                  for pid in np.unique(gpu["proc_id"]))
        out["GPU"]["device_busy_fraction"] = dev / (out["GPU"]["count"] * width)
    return out


def _names(table: np.ndarray, key: str) -> dict[int, str]:
    return {int(k): str(v) for k, v in zip(table[key], table["name"])}


def _group_stats(keys: np.ndarray, dur: np.ndarray, names: dict[int, str], label: str, extra=None) -> list[dict]:
    out = []
    for k in np.unique(keys):
        d = dur[keys == k]
        row = {label: names.get(int(k), f"#{int(k)}"), "count": int(len(d)), "total_s": float(d.sum()) * NS,
               "mean_s": float(d.mean()) * NS, "min_s": float(d.min()) * NS, "max_s": float(d.max()) * NS}
        if extra:
            row.update(extra(keys == k))
        out.append(row)
    return sorted(out, key=lambda r: (-r["total_s"], r[label]))


def task_kinds(t: dict[str, np.ndarray]) -> list[dict]:
    """Per task kind: count, total/mean/min/max time (stop - start), running time (minus waits)."""
    tasks = app_tasks(t)
    dur = (tasks["stop"] - tasks["start"]).astype("i8")
    waits = t["task_waits"][t["task_waits"]["meta"] == 0]
    waited = np.zeros(len(tasks), "i8")
    if len(waits):
        per_op = {}
        for w in waits:
            per_op[int(w["op_id"])] = per_op.get(int(w["op_id"]), 0) + int(w["wait_end"] - w["wait_start"])
        waited = np.array([per_op.get(int(o), 0) for o in tasks["op_id"]], "i8")
    gpu = np.where(tasks["gpu_start"] >= 0, tasks["gpu_stop"] - tasks["gpu_start"], 0)

    def extra(mask):
        row = {"running_s": float((dur[mask] - waited[mask]).sum()) * NS}
        if (tasks["gpu_start"][mask] >= 0).any():
            row["gpu_s"] = float(np.maximum(gpu[mask], 0).sum()) * NS
        return row

    return _group_stats(tasks["task_id"], dur, _names(t["task_kinds"], "task_id"), "name", extra)


def meta_kinds(t: dict[str, np.ndarray]) -> list[dict]:
    m = t["meta_tasks"]
    return _group_stats(m["lg_id"], (m["stop"] - m["start"]).astype("i8"), _names(t["meta_kinds"], "lg_id"), "name")[:TOP]


def _mem_kinds(t: dict[str, np.ndarray]) -> dict[int, str]:
    return {int(m["mem_id"]): mem_kind_name(int(m["kind"])) for m in t["memories"]}


def copies(t: dict[str, np.ndarray]) -> dict:
    """Bytes and time per memory-kind path, and how often each region was the target of a copy."""
    c = t["copies"]
    kinds = _mem_kinds(t)
    paths = []
    if len(c):
        src = np.array([kinds.get(int(m), "UNKNOWN") for m in c["src_mem"]])
        dst = np.array([kinds.get(int(m), "UNKNOWN") for m in c["dst_mem"]])
        label = np.char.add(np.char.add(src, "->"), dst)
        for path in np.unique(label):
            mask = label == path
            rows = c[mask]
            paths.append({"path": str(path), "count": int(mask.sum()), "bytes": int(rows["size"].sum()),
                          "total_s": float((rows["stop"] - rows["start"]).sum()) * NS,
                          "busy_s": intervals.measure(rows["start"], rows["stop"]) * NS})
        paths.sort(key=lambda r: (-r["busy_s"], r["path"]))
    return {"count": int(len(c)), "bytes": int(c["size"].sum()) if len(c) else 0,
            "busy_s": intervals.measure(c["start"], c["stop"]) * NS if len(c) else 0.0,
            "paths": paths, "regions": _copied_regions(t)}


def _copied_regions(t: dict[str, np.ndarray]) -> list[dict]:
    ep, inst, regions = t["copy_endpoints"], t["instances"], t["regions"]
    if not len(ep) or not len(inst):
        return []
    region_of = {int(u): int(r) for u, r in zip(inst["inst_uid"], inst["region"])}
    names = [str(n) for n in regions["name"]]
    counts: dict[str, int] = {}
    for d in ep["dst_inst"]:
        r = region_of.get(int(d), -1)
        name = names[r] if 0 <= r < len(names) else "unnamed"
        counts[name] = counts.get(name, 0) + 1
    return sorted(({"region": k, "copies": v} for k, v in counts.items()), key=lambda r: (-r["copies"], r["region"]))


def fills(t: dict[str, np.ndarray]) -> dict:
    f = t["fills"]
    return {"count": int(len(f)), "bytes": int(f["size"].sum()) if len(f) else 0,
            "total_s": float((f["stop"] - f["start"]).sum()) * NS if len(f) else 0.0}


def memories(t: dict[str, np.ndarray], end: int) -> list[dict]:
    """Peak bytes of live instances per memory (lifetime ready..destroy, open-ended ones to the span's end)."""
    inst = t["instances"]
    out = []
    for m in t["memories"]:
        rows = inst[inst["mem_id"] == m["mem_id"]]
        destroy = np.where(rows["destroy"] > rows["ready"], rows["destroy"], max(end, *rows["ready"], 0) if len(rows) else end)
        top, when = intervals.peak(rows["ready"], destroy, rows["size"].astype("i8"))
        cap = int(m["capacity"])
        out.append({"mem_id": f"{int(m['mem_id']):#x}", "kind": mem_kind_name(int(m["kind"])), "node": int(m["node"]),
                    "capacity": cap, "instances": int(len(rows)), "peak_bytes": top,
                    "peak_fraction": top / cap if cap else None})
    return out


def idle_gaps(t: dict[str, np.ndarray], lo: int, hi: int) -> dict:
    """Idle time of application processors (CPU, GPU, OMP, IO, PY) inside the span, and the longest gaps."""
    busy = proc_intervals(t)
    kind_of = {int(p["proc_id"]): proc_kind_name(int(p["kind"])) for p in t["processors"]}
    per_kind: dict[str, dict] = {}
    longest = []
    for pid, kind in kind_of.items():
        if kind in ("UTIL", "NONE", "GROUP", "SET"):
            continue
        s, e = busy.get(pid, (np.zeros(0, "i8"), np.zeros(0, "i8")))
        gs, ge = intervals.gaps(s, e, lo, hi)
        entry = per_kind.setdefault(kind, {"gaps": 0, "idle_s": 0.0, "gaps_over_1ms": 0})
        entry["gaps"] += int(len(gs))
        entry["idle_s"] += float((ge - gs).sum()) * NS
        entry["gaps_over_1ms"] += int(((ge - gs) > 1_000_000).sum())
        for i in np.argsort(gs - ge, kind="stable")[:5]:
            longest.append({"processor": f"{pid:#x}", "kind": kind, "start_s": (int(gs[i]) - lo) * NS,
                            "duration_s": int(ge[i] - gs[i]) * NS})
    longest.sort(key=lambda g: (-g["duration_s"], g["processor"], g["start_s"]))
    return {"per_kind": per_kind, "longest": longest[:5]}


def calls(t: dict[str, np.ndarray], table: str, kinds: str, width: int) -> dict:
    """Mapper or runtime call overhead: count, total time, share of the span, top call kinds."""
    c = t[table]
    dur = (c["stop"] - c["start"]).astype("i8")
    total = int(dur.sum()) if len(c) else 0
    top = _group_stats(c["kind"], dur, _names(t[kinds], "kind"), "name")[:TOP] if len(c) else []
    return {"count": int(len(c)), "total_s": total * NS, "span_fraction": total / width if width else 0.0, "top": top}


def critical(t: dict[str, np.ndarray], attrs: dict, width: int) -> dict:
    """The critical path's length, composition and share of the span, or why it is unavailable."""
    path = t.get("critical_path")
    status = str(attrs.get("critical_path", ""))
    if path is None or not status.startswith("available"):
        return {"available": False, "reason": status or "no event records in the logs (profiled with "
                                                         "-lg:prof_no_critical_paths?)"}
    names = {"tasks": _names(t["task_kinds"], "task_id"), "meta_tasks": _names(t["meta_kinds"], "lg_id")}
    parts: dict[str, dict] = {}
    for step in path:
        table = CRITICAL_TABLES[int(step["table"])]
        row = t[table][int(step["row"])]
        if table == "tasks":
            label = "task " + names["tasks"].get(int(row["task_id"]), f"#{int(row['task_id'])}")
        elif table == "meta_tasks":
            label = "runtime " + names["meta_tasks"].get(int(row["lg_id"]), f"#{int(row['lg_id'])}")
        else:
            label = table[:-1] if table != "copies" else "copy"
        entry = parts.setdefault(label, {"what": label, "steps": 0, "time_s": 0.0})
        entry["steps"] += 1
        entry["time_s"] += int(step["stop"] - step["start"]) * NS
    on_path = intervals.measure(path["start"], path["stop"]) * NS
    return {"available": True, "steps": int(len(path)), "time_s": on_path,
            "span_fraction": on_path / (width * NS) if width else 0.0,
            "parts": sorted(parts.values(), key=lambda p: (-p["time_s"], p["what"]))[:TOP]}

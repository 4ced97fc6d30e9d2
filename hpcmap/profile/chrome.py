"""Chrome Trace Event JSON (opens in Perfetto): X events in µs, one process per node (and run).

Perfetto drops a slice that partly overlaps another on its track, so every processor and every
channel (copies per source and destination memory, fills per destination, dependent partitioning
per node) is split into lanes, as legion_prof stacks them into levels: a slice goes to the first
lane that is free when it starts, so slices on one track never overlap and every event is kept.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hpcmap.errors import UserError
from hpcmap.profile.h5trace import read_run, resolve_run, run_names
from hpcmap.profile.kinds import mem_kind_name, proc_kind_name
from hpcmap.profile.summary import app_tasks
from hpcmap.profile.tables import proc_node

RUN_PID_STRIDE = 1 << 16  # pid = run number * stride + node when several runs share one file


def export_chrome(h5_path: Path, out: Path, run: str | None = None, all_runs: bool = False) -> dict[str, int]:
    """Write one run (the last when `run` is None) or every run as a JSON trace; events per run.

    The file is written beside `out` and renamed onto it when complete, so a failed export leaves
    an earlier file of that name as it was."""
    runs = run_names(h5_path) if all_runs else [resolve_run(h5_path, run)]
    counts: dict[str, int] = {}
    partial = Path(out).with_name(f".{Path(out).name}.partial")
    try:
        with open(partial, "w") as f:
            f.write('{"displayTimeUnit": "ns", "traceEvents": [\n')
            first = True
            for number, name in enumerate(runs):
                _, t, _ = read_run(h5_path, name)
                tracks = _tracks(t)
                counts[name] = sum(len(part[0]) for parts in tracks.values() for part in parts)
                base, prefix = (number * RUN_PID_STRIDE, f"run {name} ") if all_runs else (0, "")
                for line in _lines(t, tracks, base, prefix):
                    f.write(line if first else ",\n" + line)
                    first = False
            f.write("\n]}\n")
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return counts


def _tracks(t: dict[str, np.ndarray]) -> dict[tuple, list]:
    """Every event of a run, grouped by track: (rows, names, category, argument columns) per table."""
    mem_kind = {int(m["mem_id"]): mem_kind_name(int(m["kind"])) for m in t["memories"]}
    tracks: dict[tuple, list[tuple[np.ndarray, list[str], str, tuple[str, ...]]]] = {}

    def add(rows: np.ndarray, names: list[str], cat: str, keys: list[tuple], args: tuple[str, ...]) -> None:
        groups: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        for key, sel in groups.items():
            tracks.setdefault(key, []).append((rows[sel], [names[i] for i in sel], cat, args))

    tasks = app_tasks(t)
    task_names = {int(k): str(v) for k, v in zip(t["task_kinds"]["task_id"], t["task_kinds"]["name"])}
    variants = {(int(a), int(b)): str(n) for a, b, n in zip(t["variants"]["task_id"], t["variants"]["variant_id"],
                                                              t["variants"]["name"])}
    add(tasks, [f"{task_names.get(int(k), k)} ({variants.get((int(k), int(v)), v)})"
                for k, v in zip(tasks["task_id"], tasks["variant_id"])],
        "task", [("proc", int(p)) for p in tasks["proc_id"]], ("op_id",))
    meta_names = {int(k): str(v) for k, v in zip(t["meta_kinds"]["lg_id"], t["meta_kinds"]["name"])}
    m = t["meta_tasks"]
    add(m, [meta_names.get(int(k), str(k)) for k in m["lg_id"]], "runtime",
        [("proc", int(p)) for p in m["proc_id"]], ("op_id",))
    c = t["copies"]
    add(c, [f"copy {mem_kind.get(int(s), '?')}->{mem_kind.get(int(d), '?')}" for s, d in zip(c["src_mem"], c["dst_mem"])],
        "copy", [("copy", int(s), int(d)) for s, d in zip(c["src_mem"], c["dst_mem"])], ("op_id", "size"))
    fl = t["fills"]
    add(fl, ["fill"] * len(fl), "fill", [("fill", int(d)) for d in fl["dst_mem"]], ("op_id", "size"))
    part = t["partitions"]
    add(part, ["dependent partitioning"] * len(part), "partition",
        [("deppart", int(n)) for n in _op_nodes(t, part["op_id"])], ("op_id",))
    return tracks


def _lines(t: dict[str, np.ndarray], tracks: dict[tuple, list], base: int, prefix: str):
    """Metadata and X events of one run, track by track, each track split into lanes."""
    mem_kind = {int(m["mem_id"]): mem_kind_name(int(m["kind"])) for m in t["memories"]}
    proc_kind = {int(p["proc_id"]): proc_kind_name(int(p["kind"])) for p in t["processors"]}
    nodes = sorted({_node_of(k) for k in tracks} | {int(n) for n in proc_node(t["processors"]["proc_id"])})
    for node in nodes:
        yield json.dumps({"name": "process_name", "ph": "M", "pid": base + node, "args": {"name": f"{prefix}node {node}"}})
    next_tid: dict[int, int] = {}
    for key in sorted(tracks, key=_track_order):
        pid = base + _node_of(key)
        parts = tracks[key]
        lanes = assign_lanes(np.concatenate([p[0]["start"] for p in parts]),
                             np.concatenate([p[0]["stop"] for p in parts]))
        label = _track_label(key, proc_kind, mem_kind)
        tids = []
        for lane in range(int(lanes.max()) + 1 if len(lanes) else 0):
            tid = next_tid.get(pid, 0)
            next_tid[pid] = tid + 1
            tids.append(tid)
            name = label if lane == 0 else f"{label} (lane {lane + 1})"
            yield json.dumps({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
            yield json.dumps({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid,
                              "args": {"sort_index": tid}})
        at = 0
        for part_rows, names, cat, args in parts:
            yield from _events(part_rows, names, cat, pid, [tids[i] for i in lanes[at:at + len(part_rows)]], args)
            at += len(part_rows)


def assign_lanes(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Lane of each interval: the lowest lane whose last interval ended by this one's start."""
    lanes = np.zeros(len(start), "i8")
    ends: list[int] = []
    for i in np.lexsort((-np.asarray(stop, "i8"), np.asarray(start, "i8"))):
        s, e = int(start[i]), max(int(stop[i]), int(start[i]))
        lane = next((k for k, end in enumerate(ends) if end <= s), len(ends))
        if lane == len(ends):
            ends.append(e)
        else:
            ends[lane] = e
        lanes[i] = lane
    return lanes


def _op_nodes(t: dict[str, np.ndarray], op_ids: np.ndarray) -> np.ndarray:
    """Node of each partitioning operation: where the task that launched it ran (node 0 if unknown)."""
    ops = t["operations"]
    parent = {int(o): int(p) for o, p in zip(ops["op_id"], ops["parent_id"])}
    task_node = {int(o): int(n) for o, n in zip(t["tasks"]["op_id"], proc_node(t["tasks"]["proc_id"]))}
    return np.array([task_node.get(parent.get(int(o), -1), 0) for o in op_ids], "i8")


def _node_of(key: tuple) -> int:
    if key[0] == "deppart":
        return key[1]
    return int(proc_node(np.array([key[-1] if key[0] == "copy" else key[1]], "u8"))[0])


def _track_order(key: tuple) -> tuple:
    order = {"proc": 0, "copy": 1, "fill": 2, "deppart": 3}[key[0]]
    return (_node_of(key), order, key[1:])


def _track_label(key: tuple, proc_kind: dict[int, str], mem_kind: dict[int, str]) -> str:
    if key[0] == "proc":
        return f"{proc_kind.get(key[1], '?')} {key[1] & 0xFFF}"
    if key[0] == "copy":
        src, dst = key[1], key[2]
        return f"copies {mem_kind.get(src, '?')} {src & 0xFF} -> {mem_kind.get(dst, '?')} {dst & 0xFF}"
    if key[0] == "fill":
        return f"fills {mem_kind.get(key[1], '?')} {key[1] & 0xFF}"
    return "dependent partitioning"


def _events(rows: np.ndarray, names: list[str], cat: str, pid: int, tids: list[int], args: tuple[str, ...]):
    ts = rows["start"] / 1000.0
    dur = np.maximum(rows["stop"] - rows["start"], 0) / 1000.0
    arg_cols = [rows[a] for a in args]
    for i in range(len(rows)):
        a = ", ".join(f'"{n}": {int(col[i])}' for n, col in zip(args, arg_cols))
        yield (f'{{"name": {json.dumps(names[i])}, "cat": "{cat}", "ph": "X", "ts": {ts[i]:.3f}, '
               f'"dur": {dur[i]:.3f}, "pid": {pid}, "tid": {tids[i]}, "args": {{{a}}}}}')

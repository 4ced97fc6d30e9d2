"""Chrome Trace Event JSON (opens in Perfetto): X events in µs, pid = node, tid = processor or channel."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hpcmap.profile.h5trace import read_run
from hpcmap.profile.kinds import mem_kind_name, proc_kind_name
from hpcmap.profile.summary import app_tasks
from hpcmap.profile.tables import proc_node

CHANNEL_BASE = 1 << 20


def export_chrome(h5_path: Path, out: Path, run: str | None = None) -> int:
    """Write the run's tasks, meta-tasks, copies and fills as a JSON trace; returns the event count."""
    _, t, _ = read_run(h5_path, run)
    task_names = {int(k): str(v) for k, v in zip(t["task_kinds"]["task_id"], t["task_kinds"]["name"])}
    meta_names = {int(k): str(v) for k, v in zip(t["meta_kinds"]["lg_id"], t["meta_kinds"]["name"])}
    variants = {(int(a), int(b)): str(n) for a, b, n in zip(t["variants"]["task_id"], t["variants"]["variant_id"],
                                                              t["variants"]["name"])}
    mem_kind = {int(m["mem_id"]): mem_kind_name(int(m["kind"])) for m in t["memories"]}
    count = 0
    with open(out, "w") as f:
        f.write('{"displayTimeUnit": "ns", "traceEvents": [\n')
        first = True

        def emit(lines):
            nonlocal first, count
            for line in lines:
                f.write(line if first else ",\n" + line)
                first = False
                count += 1

        emit(_metadata(t, mem_kind))
        tasks = app_tasks(t)
        labels = [f"{task_names.get(int(k), k)} ({variants.get((int(k), int(v)), v)})"
                  for k, v in zip(tasks["task_id"], tasks["variant_id"])]
        emit(_events(tasks, labels, "task", tasks["proc_id"], ("op_id",)))
        m = t["meta_tasks"]
        emit(_events(m, [meta_names.get(int(k), str(k)) for k in m["lg_id"]], "runtime", m["proc_id"], ("op_id",)))
        c = t["copies"]
        emit(_events(c, [f"copy {mem_kind.get(int(s), '?')}->{mem_kind.get(int(d), '?')}"
                         for s, d in zip(c["src_mem"], c["dst_mem"])], "copy", _channel(c["dst_mem"]), ("op_id", "size")))
        fl = t["fills"]
        emit(_events(fl, ["fill"] * len(fl), "fill", _channel(fl["dst_mem"]), ("op_id", "size")))
        f.write("\n]}\n")
    return count


def _channel(mem: np.ndarray) -> np.ndarray:
    """Copies and fills go on one row per destination memory (a tid beyond processor indices)."""
    return np.asarray(mem, "u8")


def _tid(ids: np.ndarray, channel: bool) -> np.ndarray:
    low = (np.asarray(ids, "u8") & np.uint64(0xFFF)).astype("i8")
    return low + CHANNEL_BASE if channel else low


def _events(rows: np.ndarray, names: list[str], cat: str, where: np.ndarray, args: tuple[str, ...]):
    channel = cat in ("copy", "fill")
    pid = proc_node(where)
    tid = _tid(where, channel)
    ts = rows["start"] / 1000.0
    dur = np.maximum(rows["stop"] - rows["start"], 0) / 1000.0
    arg_cols = [rows[a] for a in args]
    for i in range(len(rows)):
        a = ", ".join(f'"{n}": {int(col[i])}' for n, col in zip(args, arg_cols))
        yield (f'{{"name": {json.dumps(names[i])}, "cat": "{cat}", "ph": "X", "ts": {ts[i]:.3f}, '
               f'"dur": {dur[i]:.3f}, "pid": {int(pid[i])}, "tid": {int(tid[i])}, "args": {{{a}}}}}')


def _metadata(t: dict[str, np.ndarray], mem_kind: dict[int, str]):
    for node in sorted(set(proc_node(t["processors"]["proc_id"]).tolist())):
        yield json.dumps({"name": "process_name", "ph": "M", "pid": node, "args": {"name": f"node {node}"}})
    for p in t["processors"]:
        pid, tid = int(proc_node(p["proc_id"])), int(_tid(np.array([p["proc_id"]]), False)[0])
        yield json.dumps({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                          "args": {"name": f"{proc_kind_name(int(p['kind']))} {tid}"}})
    for m in t["memories"]:
        pid, tid = int(proc_node(m["mem_id"])), int(_tid(np.array([m["mem_id"]]), True)[0])
        yield json.dumps({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                          "args": {"name": f"copies to {mem_kind.get(int(m['mem_id']), '?')} {tid - CHANNEL_BASE}"}})

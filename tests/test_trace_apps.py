"""Every app's trace, checked against what a Legion user relies on: a Perfetto-clean export that keeps
every event, and task counts, copies, fills and busy time that agree with an independent decoding of
the same Legion Prof logs (a minimal reader below that shares no code with hpcmap.profile)."""
from __future__ import annotations

import gzip
import json
import re
import struct
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
APPS = sorted(p.stem for p in (ROOT / "specs" / "apps").glob("*.toml"))


def hpcmap(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "hpcmap.cli", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module", params=APPS)
def profiled(request, tmp_path_factory) -> tuple[str, Path]:
    """(app, profile directory) of one small CPU run of the app with Legion Prof on."""
    out = tmp_path_factory.mktemp(request.param)
    hpcmap("run", request.param, "--trials", "1", "--size", "small", "--profile", str(out / "prof"))
    return request.param, out / "prof"


def test_export_nests_and_keeps_every_event(profiled, tmp_path):
    from hpcmap.profile.h5trace import read_run

    app, prof = profiled
    out = tmp_path / "trace.json"
    hpcmap("trace", "export", str(prof / "trace.h5"), "-o", str(out))
    tracks: dict[tuple, list] = defaultdict(list)
    for e in json.loads(out.read_text())["traceEvents"]:
        if e["ph"] == "X":
            tracks[(e["pid"], e["tid"])].append((round(e["ts"] * 1000), round((e["ts"] + e["dur"]) * 1000)))
    for track, slices in tracks.items():
        open_ends: list[int] = []
        for start, stop in sorted(slices, key=lambda s: (s[0], -s[1])):
            while open_ends and open_ends[-1] <= start:
                open_ends.pop()
            assert not open_ends or stop <= open_ends[-1], f"{app}: slices partly overlap on track {track}"
            open_ends.append(stop)
    t = read_run(prof / "trace.h5")[1]
    expected = sum(len(t[name]) for name in ("meta_tasks", "copies", "fills", "partitions"))
    expected += int((t["tasks"]["implicit"] == 0).sum())
    assert sum(map(len, tracks.values())) == expected


def test_counts_and_busy_time_agree_with_an_independent_decoding(profiled):
    from hpcmap.profile import summarize
    from hpcmap.profile.kinds import proc_kind_name

    app, prof = profiled
    ref = decode(sorted((prof / "trial0").glob("prof_*")))
    s = summarize(prof / "trace.h5")
    assert {r["name"]: r["count"] for r in s["tasks"]} == ref["tasks"]
    assert s["copies"]["count"] == ref["copies"] and s["fills"]["count"] == ref["fills"]
    busy = {proc_kind_name(k): ns for k, ns in ref["busy_ns"].items() if k != 0}
    assert {k: v["busy_ns"] for k, v in s["processors"].items() if v["busy_ns"]} == busy
    assert "NONE" not in s["processors"]


# A minimal reader of Legion Prof binary logs (version 1011), after legion_prof's serialize.rs: the
# preamble's field list drives a record-by-record walk with struct. Busy time as legion_prof counts
# it: a processor is busy while a task or meta-task runs on it, except while that task waits.

SCALAR = {1: "B", 2: "H", 4: "I", 8: "Q"}
SIGNED = {"timestamp_t", "long long", "ProcKind", "MemKind", "maxdim", "int", "DepPartOpKind"}


def records(path: Path):
    """(kind name, field values) of every record of a log, in file order."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    end = data.index(b"\n\n")
    kinds = {}
    for line in data[:end].decode().splitlines()[2:]:
        m = re.match(r"(\w+) \{id:(\d+)(.*)\}$", line)
        fields = [f.strip().split(":") for f in m.group(3).split(", ") if f.strip()]
        kinds[int(m.group(2))] = (m.group(1), [(n, t, int(size)) for n, t, size in fields])
    pos, max_dim = end + 2, 6
    while pos < len(data):
        name, fields = kinds[struct.unpack_from("<I", data, pos)[0]]
        pos += 4
        values: dict = {}
        uuid_size = 0
        for field, ftype, size in fields:
            if name == "PhysicalInstanceUsage" and field == "redop" and values.get("mode") != 4:
                continue
            if size < 0:
                stop = data.index(b"\0", pos)
                values[field] = data[pos:stop].decode("utf-8", "replace")
                pos = stop + 1
            elif ftype == "uuid_size":
                uuid_size = struct.unpack_from("<I", data, pos)[0]
                pos += 4
            elif ftype == "uuid":
                pos += uuid_size
            elif ftype in ("point", "array"):
                pos += (8 if ftype == "point" else 16) * max_dim
            else:
                code = SCALAR[size].lower() if ftype in SIGNED else SCALAR[size]
                values[field] = struct.unpack_from("<" + code, data, pos)[0]
                pos += size
        if name == "MaxDimDesc":
            max_dim = values["max_dim"]
        yield name, values


def union_length(spans: list[tuple[int, int]]) -> int:
    total, reach = 0, None
    for s, e in sorted(spans):
        if reach is None or s > reach:
            total, reach = total + e - s, e
        elif e > reach:
            total, reach = total + e - reach, e
    return total


def minus_waits(start: int, stop: int, waits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces, at = [], start
    for ws, we in sorted(waits):
        if ws > at:
            pieces.append((at, min(ws, stop)))
        at = max(at, we)
    pieces.append((at, stop))
    return [(s, e) for s, e in pieces if e > s]


def decode(paths: list[Path]) -> dict:
    """Task counts per name, copy and fill counts, and busy nanoseconds per processor kind."""
    proc_kind, task_names, tasks, metas = {}, {}, [], []
    task_waits: dict[int, list] = defaultdict(list)
    copies = fills = 0
    for path in paths:
        last_meta: dict[tuple, dict] = {}
        for name, r in records(path):
            if name == "ProcDesc":
                proc_kind[r["proc_id"]] = r["kind"]
            elif name == "TaskKind" and (r["task_id"] not in task_names or r["overwrite"]):
                task_names[r["task_id"]] = r["name"]
            elif name in ("TaskInfo", "GPUTaskInfo"):
                tasks.append(r)
            elif name in ("MetaInfo", "MessageInfo"):
                r["waits"] = []
                metas.append(r)
                last_meta[(r["op_id"], r["lg_id"])] = r
            elif name == "TaskWaitInfo":
                task_waits[r["op_id"]].append((r["wait_start"], r["wait_end"]))
            elif name == "MetaWaitInfo":  # written right after the MetaInfo it belongs to
                last_meta[(r["op_id"], r["lg_id"])]["waits"].append((r["wait_start"], r["wait_end"]))
            copies += name == "CopyInfo"
            fills += name == "FillInfo"
    busy: dict[int, list] = defaultdict(list)
    for t in tasks:
        busy[t["proc_id"]] += minus_waits(t["start"], t["stop"], task_waits[t["op_id"]])
    for m in metas:
        busy[m["proc_id"]] += minus_waits(m["start"], m["stop"], m["waits"])
    per_kind: dict[int, int] = defaultdict(int)
    for proc, spans in busy.items():
        per_kind[proc_kind[proc]] += union_length(spans)
    counts: dict[str, int] = defaultdict(int)
    for t in tasks:
        counts[task_names.get(t["task_id"], f"#{t['task_id']}")] += 1
    return {"tasks": dict(counts), "copies": copies, "fills": fills, "busy_ns": dict(per_kind)}

"""hpcmap.profile on real stencil runs: parser, HDF5 trace, summary, feedback and the trace commands."""
from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TILES = (2, 3)
STEPS, PRUNE = 6, 2


def hpcmap(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hpcmap.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          check=check)


def run_stencil(out_dir: Path, *extra: str) -> list[Path]:
    from hpcmap.legion import runtime
    from hpcmap.legion.build import binary_path

    out_dir.mkdir(parents=True, exist_ok=True)
    rt = runtime.locate()
    binary = binary_path("stencil", "stencil")
    argv = [str(binary), "-nx", "200", "-ny", "300", "-ntx", str(TILES[0]), "-nty", str(TILES[1]),
            "-tsteps", str(STEPS), "-tprune", str(PRUNE), "-ll:cpu", "1", "-ll:util", "1",
            "-lg:prof", "1", "-lg:prof_logfile", str(out_dir / "prof_%.gz"), *extra]
    proc = subprocess.run(argv, env=rt.process_env(dict(os.environ)), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return sorted(out_dir.glob("prof_*"))


@pytest.fixture(scope="session")
def stencil_built() -> None:
    proc = hpcmap("legion", "build", "stencil", check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="session")
def stencil_logs(stencil_built, tmp_path_factory) -> list[Path]:
    return run_stencil(tmp_path_factory.mktemp("prof"))


@pytest.fixture(scope="session")
def stencil_trace(stencil_logs, tmp_path_factory) -> Path:
    from hpcmap.profile import import_run_logs

    h5 = tmp_path_factory.mktemp("trace") / "trace.h5"
    import_run_logs(stencil_logs, h5, "r0", {"app": "stencil"})
    return h5


def tables(h5: Path, run: str | None = None) -> dict:
    from hpcmap.profile.h5trace import read_run

    return read_run(h5, run)[1]


def task_counts(t: dict) -> dict[str, int]:
    names = {int(k): str(v) for k, v in zip(t["task_kinds"]["task_id"], t["task_kinds"]["name"])}
    out: dict[str, int] = {}
    for k in t["tasks"]["task_id"]:
        out[names[int(k)]] = out.get(names[int(k)], 0) + 1
    return out


def test_stencil_and_increment_counts(stencil_trace):
    counts = task_counts(tables(stencil_trace))
    expected = TILES[0] * TILES[1] * (STEPS + PRUNE)
    assert counts["stencil"] == expected
    assert counts["increment"] == expected
    assert counts["top_level"] == 1


def test_every_processor_appears(stencil_logs, stencil_trace):
    from hpcmap.profile.logfile import open_log

    declared = {int(p["proc_id"]) for log in stencil_logs for p in open_log(log).variable("ProcDesc")}
    t = tables(stencil_trace)
    assert {int(p) for p in t["processors"]["proc_id"]} == declared
    assert {int(p) for p in t["tasks"]["proc_id"]} <= declared
    assert {int(p) for p in t["meta_tasks"]["proc_id"]} <= declared


def test_task_time_per_processor_within_span(stencil_trace):
    from hpcmap.profile import summarize
    from hpcmap.profile.summary import proc_intervals

    s = summarize(stencil_trace)
    t = tables(stencil_trace)
    busy = proc_intervals(t, app_only=True)
    span_ns = s["stop_ns"] - s["start_ns"]
    for pid, (start, stop) in busy.items():
        assert (stop - start).sum() <= span_ns, hex(pid)
    app_procs = sum(v["count"] for k, v in s["processors"].items() if k in ("CPU", "GPU", "OMP"))
    assert sum(r["running_s"] for r in s["tasks"]) <= app_procs * s["span_s"] * (1 + 1e-9)


def test_chrome_export_holds_the_tasks(stencil_trace, tmp_path):
    out = tmp_path / "trace.json"
    proc = hpcmap("trace", "export", str(stencil_trace), "--chrome", str(out))
    assert "events" in proc.stdout
    doc = json.loads(out.read_text())
    events = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "task"]
    expected = TILES[0] * TILES[1] * (STEPS + PRUNE)
    assert sum(e["name"].startswith("stencil ") for e in events) == expected
    assert sum(e["name"].startswith("increment ") for e in events) == expected
    assert all(e["dur"] >= 0 and "pid" in e and "tid" in e for e in events)


def test_truncated_log_clear_error_and_partial_import(stencil_logs, tmp_path):
    from hpcmap.profile import import_run_logs
    from hpcmap.profile.importer import TruncatedLogError

    from hpcmap.profile.logfile import open_log

    log = open_log(stencil_logs[0])
    seg = log.index.segments[log.kind_id("TaskInfo")][-1]
    size = log.index.layouts[log.kind_id("TaskInfo")].size
    cut = tmp_path / "prof_0.gz"
    cut.write_bytes(bytes(log.buf[: seg.offset + (seg.count // 2) * size + 10]))
    h5 = tmp_path / "t.h5"
    with pytest.raises(TruncatedLogError, match="truncated"):
        import_run_logs([cut], h5, "cut", {})
    full = len(tables(Path(h5), "cut")["tasks"])
    assert full > 0
    proc = hpcmap("trace", "import", str(cut), "-o", str(tmp_path / "cli.h5"), check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "truncated" in proc.stderr and "Traceback" not in proc.stderr
    assert len(tables(tmp_path / "cli.h5")["tasks"]) == full


def test_unknown_record_kind_is_skipped(stencil_logs, stencil_trace, tmp_path):
    from hpcmap.profile import import_run_logs
    from hpcmap.profile.logfile import open_log

    log = open_log(stencil_logs[0])
    data = bytes(log.buf)
    start = log.preamble.data_offset
    header = data[: start - 1] + b"FutureThing {id:250, value:unsigned long long:8, label:string:-1}\n\n"
    record = struct.pack("<IQ", 250, 7) + b"hello\0"
    task_id = log.kind_id("TaskInfo")
    middle = log.index.segments[task_id][0].offset
    body = record * 3 + data[start:middle] + record * 2 + data[middle:]
    path = tmp_path / "prof_0.gz"
    path.write_bytes(header + body)
    h5 = tmp_path / "u.h5"
    import_run_logs([path], h5, "u", {})
    assert task_counts(tables(h5)) == task_counts(tables(stencil_trace))
    from hpcmap.profile.h5trace import read_run

    assert "FutureThing" in read_run(h5)[2]["unknown_kinds"]


def test_unknown_version_names_it(stencil_logs, tmp_path):
    from hpcmap.profile import import_run_logs
    from hpcmap.profile.preamble import ProfileLogError

    data = stencil_logs[0].read_bytes().replace(b"v: 1011", b"v: 1999", 1)
    path = tmp_path / "prof_0.gz"
    path.write_bytes(data)
    with pytest.raises(ProfileLogError, match="1999"):
        import_run_logs([path], tmp_path / "v.h5", "v", {})


def test_gzip_and_raw_read_alike(stencil_logs, stencil_trace, tmp_path):
    from hpcmap.profile import import_run_logs

    path = tmp_path / "prof_0.log"
    path.write_bytes(gzip.compress(stencil_logs[0].read_bytes()))
    import_run_logs([path], tmp_path / "g.h5", "g", {})
    assert task_counts(tables(tmp_path / "g.h5")) == task_counts(tables(stencil_trace))


def test_summary_json_and_feedback(stencil_trace):
    from hpcmap.profile import feedback, summarize

    proc = hpcmap("trace", "summary", str(stencil_trace), "--json")
    s = json.loads(proc.stdout)
    assert s["span_s"] > 0 and "CPU" in s["processors"]
    assert {r["name"] for r in s["tasks"]} >= {"stencil", "increment", "init", "check", "top_level"}
    assert s["critical_path"]["available"] and s["critical_path"]["steps"] > 0
    assert s["memories"] and max(m["peak_bytes"] for m in s["memories"]) > 0
    text = feedback(summarize(stencil_trace))
    assert text == feedback(summarize(stencil_trace))
    assert text.startswith("Span ") and "\n1. " in text
    human = hpcmap("trace", "summary", str(stencil_trace))
    assert "critical path" in human.stdout


def test_critical_path_unavailable_without_event_records(stencil_built, tmp_path):
    from hpcmap.profile import import_run_logs, summarize

    logs = run_stencil(tmp_path / "logs", "-lg:prof_no_critical_paths")
    import_run_logs(logs, tmp_path / "n.h5", "n", {})
    cp = summarize(tmp_path / "n.h5")["critical_path"]
    assert cp["available"] is False and "unavailable" in cp["reason"]


def test_plot_and_diff(stencil_trace, tmp_path):
    png = tmp_path / "t.png"
    hpcmap("trace", "plot", str(stencil_trace), "-o", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    proc = hpcmap("trace", "diff", str(stencil_trace), str(stencil_trace), "--json")
    d = json.loads(proc.stdout)
    assert all(r["total_s"]["change"] == 0 for r in d["tasks"] if r["total_s"]["a"])


def test_missing_trace_is_one_line_error():
    proc = hpcmap("trace", "summary", "/nonexistent/trace.h5", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("hpcmap: error:") and proc.stderr.count("\n") == 1

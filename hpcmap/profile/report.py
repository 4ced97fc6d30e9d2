"""Human-readable tables for `hpcmap trace summary` and `hpcmap trace diff` (rich)."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from hpcmap.profile.feedback import _bytes, _pct, _t, feedback


def print_summary(s: dict) -> None:
    c = _console()
    a = s["attrs"]
    c.print(f"[bold]run {s['run']}[/]  {a.get('app', '')}  span {_t(s['span_s'])}  "
            f"{a.get('legion_version', '')}")
    t = Table(title="processors")
    for col in ("kind", "count", "busy", "app tasks"):
        t.add_column(col, justify="right" if col != "kind" else "left")
    for kind, p in sorted(s["processors"].items()):
        t.add_row(kind, str(p["count"]), _pct(p["busy_fraction"]), _pct(p["app_busy_fraction"]))
    c.print(t)
    t = Table(title="tasks")
    for col in ("task", "count", "total", "mean", "running"):
        t.add_column(col, justify="right" if col != "task" else "left")
    for r in s["tasks"]:
        t.add_row(r["name"], str(r["count"]), _t(r["total_s"]), _t(r["mean_s"]), _t(r["running_s"]))
    c.print(t)
    cp = s["copies"]
    if cp["paths"]:
        t = Table(title="copies")
        for col in ("path", "count", "bytes", "busy", "total"):
            t.add_column(col, justify="right" if col != "path" else "left")
        for r in cp["paths"]:
            t.add_row(r["path"], str(r["count"]), _bytes(r["bytes"]), _t(r["busy_s"]), _t(r["total_s"]))
        c.print(t)
    else:
        c.print("copies: none")
    t = Table(title="memories")
    for col in ("memory", "kind", "capacity", "instances", "peak"):
        t.add_column(col, justify="right" if col not in ("memory", "kind") else "left")
    for m in s["memories"]:
        t.add_row(m["mem_id"], m["kind"], _bytes(m["capacity"]), str(m["instances"]), _bytes(m["peak_bytes"]))
    c.print(t)
    for kind, g in sorted(s["idle_gaps"]["per_kind"].items()):
        c.print(f"idle {kind}: {_t(g['idle_s'])} in {g['gaps']} gaps ({g['gaps_over_1ms']} over 1 ms)")
    for g in s["idle_gaps"]["longest"]:
        c.print(f"  gap {g['kind']} {g['processor']}: {_t(g['duration_s'])} at {_t(g['start_s'])}")
    for label, key in (("mapper calls", "mapper_calls"), ("runtime calls", "runtime_calls")):
        m = s[key]
        top = ", ".join(f"{r['name']} {_t(r['total_s'])}" for r in m["top"][:3])
        c.print(f"{label}: {m['count']}, {_t(m['total_s'])} ({_pct(m['span_fraction'])} of the span); {top}")
    cpath = s["critical_path"]
    if cpath["available"]:
        parts = ", ".join(f"{p['what']} {_t(p['time_s'])}" for p in cpath["parts"][:4])
        c.print(f"critical path: {cpath['steps']} steps, {_t(cpath['time_s'])} "
                f"({_pct(cpath['span_fraction'])} of the span): {parts}")
    else:
        c.print(f"critical path: unavailable ({cpath['reason']})")
    c.print()
    c.print(feedback(s))


def print_runs(path, runs: list[dict]) -> None:
    """The runs of one trace file, in file order."""
    c = _console()
    t = Table(title=f"{path}: {len(runs)} run{'s' if len(runs) != 1 else ''}")
    cols = ["run", "app", "mapper", "machine", "outcome", "candidate", "nodes", "tasks"]
    cols = [k for k in cols if any(k in r for r in runs)]
    for col in cols:
        t.add_column(col, justify="right" if col in ("nodes", "tasks") else "left", overflow="fold")
    for r in runs:
        t.add_row(*(str(r.get(k, "")) for k in cols))
    c.print(t)


def print_diff(d: dict) -> None:
    c = _console()
    sp = d["span"]
    c.print(f"A = [bold]{d.get('a_label', d['a'])}[/], B = [bold]{d.get('b_label', d['b'])}[/]; "
            f"each cell is A -> B")
    c.print(f"span {_time(sp['a'])} -> {_time(sp['b'])} ({_change(sp['change'])})")
    t = Table(title="tasks")
    for col in ("task", "count", "total", "change", "mean"):
        t.add_column(col, justify="right" if col != "task" else "left")
    for r in d["tasks"]:
        t.add_row(r["name"], f"{r['count']['a']} -> {r['count']['b']}",
                  f"{_time(r['total_s']['a'])} -> {_time(r['total_s']['b'])}", _change(r["total_s"]["change"]),
                  f"{_time(r['mean_s']['a'])} -> {_time(r['mean_s']['b'])}")
    c.print(t)
    if d["copies"]:
        t = Table(title="copies")
        for col in ("path", "count", "bytes", "busy", "change"):
            t.add_column(col, justify="right" if col != "path" else "left")
        for r in d["copies"]:
            t.add_row(r["path"], f"{r['count']['a']} -> {r['count']['b']}",
                      f"{_bytes(r['bytes']['a'])} -> {_bytes(r['bytes']['b'])}",
                      f"{_time(r['busy_s']['a'])} -> {_time(r['busy_s']['b'])}", _change(r["busy_s"]["change"]))
        c.print(t)
    for r in d["overheads"] + d["processors"]:
        c.print(f"{r['key']}: {r['a']:.4g} -> {r['b']:.4g} ({_change(r['change'])})")


def _time(seconds: float) -> str:
    """A duration, and zero as a plain 0."""
    return "0" if seconds == 0 else _t(seconds)


def _console() -> Console:
    """A console whose tables are never wrapped or cut when the output is piped."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 10_000)


def _change(x) -> str:
    """The relative change as a percentage: "new" when only B has it, exactly "0%" when equal."""
    if x is None:
        return "new"
    return "0%" if x == 0 else f"{100 * x:+.1f}%"

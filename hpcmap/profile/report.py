"""Human-readable tables for `hpcmap trace summary` and `hpcmap trace diff` (rich)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hpcmap.profile.feedback import _bytes, _pct, _t, feedback


def print_summary(s: dict) -> None:
    c = Console(highlight=False)
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


def print_diff(d: dict) -> None:
    c = Console(highlight=False)
    sp = d["span"]
    c.print(f"[bold]{d['a']} -> {d['b']}[/]: span {_t(sp['a'])} -> {_t(sp['b'])} ({_change(sp['change'])})")
    t = Table(title="tasks")
    for col in ("task", "count", "total", "change", "mean"):
        t.add_column(col, justify="right" if col != "task" else "left")
    for r in d["tasks"]:
        t.add_row(r["name"], f"{r['count']['a']} -> {r['count']['b']}",
                  f"{_t(r['total_s']['a'])} -> {_t(r['total_s']['b'])}", _change(r["total_s"]["change"]),
                  f"{_t(r['mean_s']['a'])} -> {_t(r['mean_s']['b'])}")
    c.print(t)
    if d["copies"]:
        t = Table(title="copies")
        for col in ("path", "count", "bytes", "busy", "change"):
            t.add_column(col, justify="right" if col != "path" else "left")
        for r in d["copies"]:
            t.add_row(r["path"], f"{r['count']['a']} -> {r['count']['b']}",
                      f"{_bytes(r['bytes']['a'])} -> {_bytes(r['bytes']['b'])}",
                      f"{_t(r['busy_s']['a'])} -> {_t(r['busy_s']['b'])}", _change(r["busy_s"]["change"]))
        c.print(t)
    for r in d["overheads"] + d["processors"]:
        c.print(f"{r['key']}: {r['a']:.4g} -> {r['b']:.4g} ({_change(r['change'])})")


def _change(x) -> str:
    return "new" if x is None else f"{100 * x:+.0f}%"

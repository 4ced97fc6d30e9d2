"""Short ranked text, for the optimizer, on where a run's time went (built only from a summary).

`feedback` says where the time went; `suggestions` turns the same summary into what a mapper could
change: copies by path and volume, idle processors, the critical path, memory pressure.
"""
from __future__ import annotations

APP_KINDS = ("GPU", "CPU", "OMP", "IO", "PY")
MAX_LINES = 8
COPY_SHARE = 0.10        # copies busy for more than this share of the span are worth removing
IDLE_SHARE = 0.50        # processors idle for more than this share of the span are under-used
MEMORY_FULL = 0.90


def feedback(summary: dict) -> str:
    """A headline, then at most MAX_LINES findings, largest share of the span first; deterministic."""
    span = summary.get("span_s", 0.0) or 0.0
    procs = summary.get("processors", {})
    head = f"Span {_t(span)} on " + ", ".join(f"{v['count']} {k}" for k, v in sorted(procs.items())
                                                if k != "NONE") + "."
    if span <= 0:
        return head + "\nNo timed work in the trace."
    findings: list[tuple[float, str]] = []
    copies = summary.get("copies", {})
    top_path = (copies.get("paths") or [None])[0]
    for kind in APP_KINDS:
        if kind not in procs:
            continue
        p = procs[kind]
        idle = 1.0 - p["app_busy_fraction"]
        text = (f"{kind}s ({p['count']}) run application tasks {_pct(p['app_busy_fraction'])} of the span; "
                f"idle {_pct(idle)}")
        if top_path and top_path["busy_s"] > 0.05 * span:
            text += f" while {top_path['path']} copies run ({_pct(top_path['busy_s'] / span)} of the span)"
        if "device_busy_fraction" in p:
            text += f"; kernels busy {_pct(p['device_busy_fraction'])}"
        findings.append((idle, text + "."))
    for path in copies.get("paths", [])[:3]:
        findings.append((path["busy_s"] / span, f"{path['path']} copies: {path['count']} moving {_bytes(path['bytes'])}, "
                                                 f"busy {_t(path['busy_s'])} ({_pct(path['busy_s'] / span)} of the span)."))
    regions = copies.get("regions", [])
    if regions:
        listed = ", ".join(f"{r['region']} {r['copies']}x" for r in regions[:3])
        share = copies.get("busy_s", 0.0) / span
        findings.append((share * 0.9, f"Regions most often copied into: {listed}."))
    n_app = sum(procs[k]["count"] for k in APP_KINDS if k in procs) or 1
    for task in summary.get("tasks", [])[:3]:
        share = task.get("running_s", task["total_s"]) / (span * n_app)
        findings.append((share, f"Task {task['name']}: {task['count']} runs, {_t(task['total_s'])} total, "
                                f"mean {_t(task['mean_s'])} ({_pct(share)} of application processor time)."))
    mapper = summary.get("mapper_calls", {})
    if mapper.get("count"):
        top = mapper["top"][0]
        findings.append((mapper["span_fraction"], f"Mapper calls: {mapper['count']} taking {_t(mapper['total_s'])} "
                                                  f"({_pct(mapper['span_fraction'])} of the span); most in "
                                                  f"{top['name']} ({_t(top['total_s'])})."))
    if "UTIL" in procs:
        u = procs["UTIL"]
        meta = (summary.get("meta_tasks") or [{}])[0]
        extra = f"; top: {meta['name']} {_t(meta['total_s'])}" if meta else ""
        findings.append((u["busy_fraction"] * 0.5, f"Runtime (utility) processors busy {_pct(u['busy_fraction'])}{extra}."))
    gaps = summary.get("idle_gaps", {}).get("longest", [])
    if gaps:
        g = gaps[0]
        findings.append((g["duration_s"] / span, f"Longest idle gap: {g['kind']} {g['processor']} for {_t(g['duration_s'])} "
                                                 f"at {_t(g['start_s'])} into the span."))
    for mem in summary.get("memories", []):
        if mem.get("peak_fraction") and mem["peak_fraction"] > 0.5:
            findings.append((mem["peak_fraction"], f"{mem['kind']} {mem['mem_id']} peaks at {_bytes(mem['peak_bytes'])}, "
                                                   f"{_pct(mem['peak_fraction'])} of its capacity."))
    cp = summary.get("critical_path", {})
    if cp.get("available") and cp.get("steps"):
        top = (cp.get("parts") or [{}])[0]
        findings.append((cp["span_fraction"], f"Critical path: {cp['steps']} steps covering {_pct(cp['span_fraction'])} "
                                              f"of the span, most in {top.get('what', '?')} ({_t(top.get('time_s', 0))})."))
    findings.sort(key=lambda f: (-round(f[0], 6), f[1]))
    return "\n".join([head] + [f"{i}. {text}" for i, (_, text) in enumerate(findings[:MAX_LINES], 1)])


def suggestions(summary: dict) -> list[str]:
    """What a mapper could change, most promising first; empty when the trace shows nothing to fix."""
    span = summary.get("span_s", 0.0) or 0.0
    if span <= 0:
        return []
    found: list[tuple[float, str]] = []
    copies = summary.get("copies", {})
    share = copies.get("busy_s", 0.0) / span
    if share > COPY_SHARE and copies.get("paths"):
        top = copies["paths"][0]
        regions = ", ".join(r["region"] for r in copies.get("regions", [])[:3])
        found.append((share, f"Copies keep the machine busy {_pct(share)} of the span, most on {top['path']} "
                             f"({top['count']} copies, {_bytes(top['bytes'])}): place the regions"
                             + (f" ({regions})" if regions else "") + " in memory that both their producer and "
                             "consumer tasks reach, or run those tasks on the same processor kind."))
    procs = summary.get("processors", {})
    for kind in APP_KINDS:
        p = procs.get(kind)
        if not p:
            continue
        busy = p["app_busy_fraction"]
        if busy == 0:
            found.append((1.0 if kind == "GPU" else 0.3, f"The {p['count']} {kind}s run no application task: if tasks "
                                                          f"have {kind} variants, list {kind} first in their Task "
                                                          "statements."))
        elif 1 - busy > IDLE_SHARE and p["count"] > 1:
            found.append((1 - busy, f"{kind}s are idle {_pct(1 - busy)} of the span: spread index launches over "
                                    f"all {p['count']} of them (IndexTaskMap with a block or cyclic function over "
                                    f"Machine({kind}))."))
    cp = summary.get("critical_path", {})
    if cp.get("available") and cp.get("parts"):
        parts = "; ".join(f"{part['what']} {_t(part['time_s'])}" for part in cp["parts"][:3])
        found.append((cp.get("span_fraction", 0.0) * 0.8, f"The critical path ({_t(cp.get('time_s', 0.0))}) is mostly "
                                                          f"{parts}: make those faster (a faster processor, data in "
                                                          "its processor's memory) before anything off the path."))
    mapper = summary.get("mapper_calls", {})
    if mapper.get("span_fraction", 0.0) > COPY_SHARE:
        top = (mapper.get("top") or [{}])[0].get("name", "?")
        found.append((mapper["span_fraction"], f"Mapper calls take {_pct(mapper['span_fraction'])} of the span (most "
                                               f"in {top}): the runtime's mapping work rivals the tasks' own; keep "
                                               "mapping functions short and statements few."))
    for mem in summary.get("memories", []):
        if (mem.get("peak_fraction") or 0) > MEMORY_FULL:
            found.append((mem["peak_fraction"], f"{mem['kind']} {mem['mem_id']} is {_pct(mem['peak_fraction'])} full "
                                                "at its peak: give its regions a fallback memory, or CollectMemory "
                                                "for read-only ones."))
    found.sort(key=lambda f: (-round(f[0], 6), f[1]))
    return [text for _, text in found]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _t(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"

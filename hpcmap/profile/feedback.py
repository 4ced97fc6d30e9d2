"""Short ranked text, for the optimizer, on where a run's time went (built only from a summary)."""
from __future__ import annotations

APP_KINDS = ("GPU", "CPU", "OMP", "IO", "PY")
MAX_LINES = 8


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

"""What changed between two runs: span, per task kind, per copy path, and overheads.

A change is relative to A; it is 0 when both sides are equal (zero included) and None when only B has it.
"""
from __future__ import annotations


def diff_summaries(a: dict, b: dict, labels: tuple[str, str] | None = None) -> dict:
    """Rows of (key, A, B, change) for the span, each task kind, each copy path and call overheads.

    `labels` name the files of A and B; each side is then labelled `file:run (mapper)`.
    """
    out = {"a": a["run"], "b": b["run"], "span": _row("span_s", a["span_s"], b["span_s"])}
    if labels:
        out["a_label"], out["b_label"] = _label(labels[0], a), _label(labels[1], b)
    out["tasks"] = _by_key(a["tasks"], b["tasks"], "name", ("count", "total_s", "mean_s"))
    out["copies"] = _by_key(a["copies"]["paths"], b["copies"]["paths"], "path", ("count", "bytes", "busy_s"))
    out["overheads"] = [_row("mapper_calls_s", a["mapper_calls"]["total_s"], b["mapper_calls"]["total_s"]),
                        _row("runtime_calls_s", a["runtime_calls"]["total_s"], b["runtime_calls"]["total_s"])]
    out["processors"] = [_row(f"{k}.app_busy_fraction", a["processors"].get(k, {}).get("app_busy_fraction", 0.0),
                              b["processors"].get(k, {}).get("app_busy_fraction", 0.0))
                         for k in sorted(set(a["processors"]) | set(b["processors"])) if k != "NONE"]
    return out


def _label(path: str, summary: dict) -> str:
    """`file:run`, with the run's mapper when it has one, e.g. `study.h5:7f3d... (expert)`."""
    mapper = summary.get("attrs", {}).get("mapper")
    return f"{path}:{summary['run']}" + (f" ({mapper})" if mapper and mapper != summary["run"] else "")


def _row(key: str, x, y) -> dict:
    change = 0.0 if x == y else None if not x else (y - x) / x
    return {"key": key, "a": x, "b": y, "change": change}


def _by_key(xs: list[dict], ys: list[dict], key: str, fields: tuple[str, ...]) -> list[dict]:
    ax, by = {r[key]: r for r in xs}, {r[key]: r for r in ys}
    rows = []
    for k in sorted(set(ax) | set(by)):
        rows.append({key: k, **{f: _row(f, ax.get(k, {}).get(f, 0), by.get(k, {}).get(f, 0)) for f in fields}})
    return rows

"""A study's report: best-so-far curves (PNG), outcome counts, the top candidates with their diff
against default and expert, and the best candidate against default from their traces."""
from __future__ import annotations

import difflib
import html
from collections import Counter
from pathlib import Path

from hpcmap.records import ran_beside
from hpcmap.store import OUTCOME_ORDER, Store
from hpcmap.study import BASELINE, CANDIDATE, history_rows

TOP = 5


def write(store_path: Path, output: Path | None = None) -> Path:
    """Write `output` (default: the store's name with .html) and the curves PNG beside it."""
    store = Store(store_path)
    if not store.path.exists():
        from hpcmap.errors import UserError

        raise UserError(f"no study store at {store.path}")
    records = store.records()
    output = output or store.path.with_suffix(".html")
    try:
        return _write_report(store, records, output)
    except OSError as exc:
        from hpcmap.errors import UserError

        raise UserError(f"-o {output}: cannot write: {exc.strerror or exc}") from None


def _write_report(store: Store, records: list[dict], output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    curves = curves_png(records, output.with_suffix(".curves.png"))
    meta = store.meta()
    parts = [f"<h1>Study {html.escape(store.study)}</h1>", _settings(meta),
             f'<h2>Best so far</h2><img src="{curves.name}" alt="best-so-far curves">' if curves else "",
             "<h2>Outcomes</h2>" + _table(["outcome", "candidates"], sorted(outcome_counts(records).items(),
                                                                         key=lambda kv: _outcome_order(kv[0]))),
             "<h2>Top candidates</h2>" + top_candidates_html(records),
             llm_html(store.llm_exchanges()),
             trace_comparison_html(store.path, records)]
    output.write_text("<!doctype html><html><head><meta charset='utf-8'><title>hpcmap study "
                      f"{html.escape(store.study)}</title><style>{_CSS}</style></head><body>"
                      + "\n".join(p for p in parts if p) + "</body></html>\n")
    return output


def outcome_counts(records: list[dict]) -> dict[str, int]:
    """How many baselines and candidates ended in each outcome."""
    return dict(Counter(r["outcome"] for r in records if _role(r) in (BASELINE, CANDIDATE)))


def curves_png(records: list[dict], path: Path) -> Path | None:
    """Best-so-far median against evaluations, one line per optimizer, default and expert as levels."""
    rows = history_rows(records)
    if not any(r["best_so_far_s"] is not None for r in rows):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for i, row in enumerate(rows, start=1):
        if row["iteration"] > 0 and row["best_so_far_s"] is not None:
            xs, ys = curves.setdefault(row["optimizer"] or "candidates", ([], []))
            xs.append(i)
            ys.append(row["best_so_far_s"])
    for name, (xs, ys) in sorted(curves.items()):
        ax.step(xs, ys, where="post", marker=".", label=name)
    start = [r for r in rows if r["iteration"] == 0]
    for row in start:
        if row["median_s"] is not None:
            ax.axhline(row["median_s"], linestyle="--", linewidth=0.8, color="grey")
            ax.annotate(row["name"], (0.6, row["median_s"]), fontsize=8, color="grey", va="bottom")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, max(len(rows), 2) + 0.5)
    ax.set_xlabel("evaluations (default and expert first)")
    ax.set_ylabel("best median time so far (s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def top_candidates_html(records: list[dict]) -> str:
    """The fastest valid candidates with their mapper's diff against default (empty) and expert."""
    valid = sorted((r for r in records if _role(r) in (BASELINE, CANDIDATE) and r["outcome"] == "ok"),
                   key=lambda r: r["stats"]["median_s"])
    expert = next((r for r in records if _role(r) == BASELINE and r["name"] == "expert"), None)
    rows, diffs = [], []
    for i, r in enumerate(valid[:TOP], start=1):
        s = r["stats"]
        ci = f"±{s['ci95_s']:.2g}" if s.get("ci95_s") is not None else ""
        rows.append((i, r["name"], f"{s['median_s']:.6f}", ci, s["n"], ", ".join(ran_beside(r, records)) or "none"))
        text = r.get("mapper_text") or ""
        parts = [f"<h3>{i}. {html.escape(r['name'])}</h3>", "<h4>against default</h4>", _diff("", text, "default", r["name"])]
        if expert is not None:
            parts += ["<h4>against expert</h4>", _diff(expert.get("mapper_text") or "", text, "expert", r["name"])]
        diffs.append("\n".join(parts))
    note = ("<p>ran beside: the candidates that ran on the same host while this one was measured; its "
            "times may include their contention for memory bandwidth, caches or cores.</p>"
            if any(row[-1] != "none" for row in rows) else "")
    return _table(["#", "mapper", "median (s)", "95% CI", "trials", "ran beside"], rows) + note + "\n".join(diffs)


def llm_html(exchanges: list[dict]) -> str:
    """The LLM's calls, tokens and cost, and how many iterations ended without a valid candidate."""
    if not exchanges:
        return ""
    from hpcmap.tune.llm import totals

    t = totals(exchanges)
    rows = [("calls", t["calls"]), ("prompt tokens", t["prompt_tokens"]),
            ("completion tokens", t["completion_tokens"]), ("cost", f"{t['cost']:.4f}"),
            ("iterations", t["iterations"]),
            ("iterations without a valid candidate", t["iterations_without_valid_candidate"]),
            ("... still invalid after the repairs", t["iterations_still_invalid"]),
            ("... with no candidate", t["iterations_without_candidate"])]
    return "<h2>LLM</h2>" + _table(["measure", "value"], rows)


def trace_comparison_html(store_path: Path, records: list[dict]) -> str:
    """The fastest valid mapper other than default against default, from their traces, when both
    were profiled."""
    valid = sorted((r for r in records if _role(r) in (BASELINE, CANDIDATE) and r["outcome"] == "ok"
                    and r.get("trace")), key=lambda r: r["stats"]["median_s"])
    default = next((r for r in valid if r["name"] == "default"), None)
    best = next((r for r in valid if r is not default), None)
    if default is None or best is None:
        return ""
    from hpcmap.profile import summarize
    from hpcmap.profile.diff import diff_summaries

    d = diff_summaries(summarize(store_path, default["key"]), summarize(store_path, best["key"]))
    rows = [_diff_row(d["span"])] + [_diff_row(r) for r in d["overheads"] + d["processors"]]
    rows += [_diff_row({**t["total_s"], "key": f"task {t['name']} total_s"}) for t in d["tasks"]]
    rows += [_diff_row({**c["bytes"], "key": f"copy {c['path']} bytes"}) for c in d["copies"]]
    return (f"<h2>Traces: default against {html.escape(best['name'])}</h2>"
            + _table(["measure", "default", html.escape(best["name"]), "change"], rows))


def _diff_row(row: dict) -> tuple:
    change = f"{row['change']:+.1%}" if row.get("change") is not None else ""
    return (row["key"], _num(row["a"]), _num(row["b"]), change)


def _num(v) -> str:
    return f"{v:.6g}" if isinstance(v, (int, float)) else str(v)


def _diff(a: str, b: str, name_a: str, name_b: str) -> str:
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), name_a, name_b, lineterm=""))
    return f"<pre>{html.escape(chr(10).join(lines)) or '(identical)'}</pre>"


def _settings(meta: dict) -> str:
    if not meta:
        return ""
    machine = meta.get("machine")
    shown = {**meta, "machine": machine.get("name") if isinstance(machine, dict) else machine}
    return _table(["setting", "value"], [(k, _num(v) if not isinstance(v, dict) else
                                          ", ".join(f"{a}={b}" for a, b in v.items())) for k, v in shown.items()])


def _table(header: list[str], rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _role(record: dict) -> str:
    return (record.get("study") or {}).get("role", CANDIDATE)


def _outcome_order(outcome: str) -> int:
    return OUTCOME_ORDER.index(outcome) if outcome in OUTCOME_ORDER else len(OUTCOME_ORDER)


_CSS = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}pre{background:#f6f6f6;padding:6px}")

"""A PNG of a run: utilization over time per processor kind, and a task timeline per processor."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcmap.profile import intervals
from hpcmap.profile.h5trace import read_run
from hpcmap.profile.kinds import proc_kind_name
from hpcmap.profile.summary import app_tasks, proc_intervals, span
from hpcmap.profile.tables import proc_node

BINS = 200
MAX_BARS = 20000


def plot_run(h5_path: Path, out: Path, run: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name, t, _ = read_run(h5_path, run)
    lo, hi = span(t)
    edges = np.linspace(lo, max(hi, lo + 1), BINS + 1).astype("i8")
    centers = (edges[:-1] + edges[1:]) / 2e9 - lo / 1e9
    busy = proc_intervals(t)
    kinds: dict[str, list[int]] = {}
    for p in t["processors"]:
        kinds.setdefault(proc_kind_name(int(p["kind"])), []).append(int(p["proc_id"]))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    for kind, pids in sorted(kinds.items()):
        if kind == "NONE":
            continue
        total = sum(intervals.coverage(*busy[p], edges) for p in pids if p in busy) if any(p in busy for p in pids) else np.zeros(BINS)
        ax1.plot(centers, total / (np.diff(edges) * len(pids)), label=f"{kind} ({len(pids)})")
    ax1.set_ylabel("utilization")
    ax1.set_ylim(0, 1.05)
    ax1.legend(loc="upper right")
    ax1.set_title(f"{Path(h5_path).name}: run {name}")
    tasks = app_tasks(t)
    names = {int(k): str(v) for k, v in zip(t["task_kinds"]["task_id"], t["task_kinds"]["name"])}
    procs = sorted(set(int(p) for p in tasks["proc_id"]))
    row = {p: i for i, p in enumerate(procs)}
    kinds_present = sorted(set(int(k) for k in tasks["task_id"]))
    colors = {k: plt.cm.tab10(i % 10) for i, k in enumerate(kinds_present)}
    shown = tasks if len(tasks) <= MAX_BARS else tasks[np.argsort(tasks["start"] - tasks["stop"])[:MAX_BARS]]
    for k in kinds_present:
        sel = shown[shown["task_id"] == k]
        for p in procs:
            rows = sel[sel["proc_id"] == p]
            if len(rows):
                bars = list(zip((rows["start"] - lo) / 1e9, (rows["stop"] - rows["start"]) / 1e9))
                ax2.broken_barh(bars, (row[p] - 0.4, 0.8), color=colors[k])
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[k]) for k in kinds_present]
    ax2.legend(handles, [names.get(k, str(k)) for k in kinds_present], loc="upper right", fontsize="small")
    kind_of = {int(p["proc_id"]): proc_kind_name(int(p["kind"])) for p in t["processors"]}
    labels = [f"{kind_of.get(p, '?')} {int(proc_node([p])[0])}.{p & 0xFFF}" for p in procs]
    ax2.set_yticks(range(len(procs)), labels)
    ax2.set_xlabel("seconds since the first event")
    ax2.set_ylabel("processor (kind node.index)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)

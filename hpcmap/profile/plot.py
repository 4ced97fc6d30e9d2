"""A picture of one run, or of two side by side on one time scale: utilization over time per processor
kind above a task timeline per processor, with the timed region marked.

Each task kind has its own colour (the same in both runs), listed in a legend outside the data. The
top-level task, which spans the whole run, is drawn as a thin outline so that a processor that only
holds it looks idle; application processors without any task still get their (empty) row.
"""
from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np

from hpcmap.errors import UserError
from hpcmap.profile import intervals
from hpcmap.profile.h5trace import read_run
from hpcmap.profile.kinds import proc_kind_name
from hpcmap.profile.summary import app_tasks, proc_intervals, span, timed_region, top_level_ops
from hpcmap.profile.tables import proc_node

BINS = 200
MAX_BARS = 20000
NOT_APP = ("NONE", "UTIL", "GROUP", "SET")
TIMED_COLOR = "#ffe9a8"


def plot_runs(paths: list[Path], out: Path, runs: list[str | None] | str | None = None) -> list[tuple[Path, str]]:
    """Draw a run of each trace file into `out` (`runs`: one name for all files, or one per file; None
    means the file's last run); (file, run) of each panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_output(out)
    fig, shown = build_figure(paths, runs)
    try:
        fig.savefig(out, dpi=110, bbox_inches="tight")
    except OSError as exc:
        raise UserError(f"-o {out}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return shown


def check_output(out: Path) -> None:
    """Refuse an output path that cannot be written or a suffix matplotlib cannot write (naming those it can)."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix and suffix not in formats:
        raise UserError(f"-o {out}: matplotlib cannot write .{suffix} files; use one of "
                        + ", ".join(f".{f}" for f in sorted(formats)))
    if Path(out).is_dir():
        raise UserError(f"-o {out}: is a directory; name the image file to write")
    if not Path(out).parent.is_dir():
        raise UserError(f"-o {out}: no such directory {Path(out).parent}")


def build_figure(paths: list[Path], runs: list[str | None] | str | None = None):
    """The figure and the (file, run) shown in each column."""
    import matplotlib.pyplot as plt

    if runs is None or isinstance(runs, str):
        runs = [runs] * len(paths)
    loaded = [(Path(p), *read_run(p, r)[:2]) for p, r in zip(paths, runs)]
    names = sorted({_task_name(t, int(k)) for _, _, t in loaded for k in _drawn_tasks(t)["task_id"]})
    colors = task_colors(names)
    heights = [max(2, len(_app_procs(t))) for _, _, t in loaded]
    fig, axes = plt.subplots(2, len(loaded), figsize=(8 * len(loaded) + 3, 3 + 0.35 * max(heights)), sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": [1, max(1.5, max(heights) / 4)]})
    for col, (path, name, t) in enumerate(loaded):
        _utilization(axes[0, col], t)
        _timeline(axes[1, col], t, colors)
        axes[0, col].set_title(f"{path.name}: run {name}")
    axes[1, 0].set_ylabel("processor (kind node.index)")
    axes[0, 0].set_ylabel("utilization")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[n]) for n in names]
    labels = list(names)
    handles += [plt.Rectangle((0, 0), 1, 1, fill=False, edgecolor="0.3"),
                plt.Rectangle((0, 0), 1, 1, color=TIMED_COLOR)]
    labels += ["top-level task", "timed region"]
    fig.tight_layout(rect=(0, 0, 1, 1))
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.98), fontsize="small",
               title="task kinds", ncols=1 + len(labels) // 40)
    return fig, [(path, name) for path, name, _ in loaded]


def task_colors(names: list[str]) -> dict[str, tuple]:
    """A distinct colour per name: the tab10/tab20 palettes, or evenly spaced hues when there are more."""
    import matplotlib

    n = len(names)
    if n <= 10:
        palette = [matplotlib.colormaps["tab10"](i) for i in range(n)]
    elif n <= 20:
        palette = [matplotlib.colormaps["tab20"](i) for i in range(n)]
    else:
        palette = [(*colorsys.hsv_to_rgb(i / n, 0.75 if i % 2 else 0.55, 0.9 if i % 3 else 0.7), 1.0) for i in range(n)]
    return dict(zip(names, palette))


def _task_name(t: dict[str, np.ndarray], task_id: int) -> str:
    names = t.setdefault("_task_names", {int(k): str(v) for k, v in zip(t["task_kinds"]["task_id"],
                                                                         t["task_kinds"]["name"])})
    return names.get(task_id, f"#{task_id}")


def _drawn_tasks(t: dict[str, np.ndarray]) -> np.ndarray:
    """Tasks drawn as coloured bars: all but the top-level task."""
    tasks = app_tasks(t)
    return tasks[~np.isin(tasks["op_id"], top_level_ops(t))]


def _app_procs(t: dict[str, np.ndarray]) -> list[int]:
    """Application processors (every one, busy or not), in kind and id order."""
    procs = [(proc_kind_name(int(p["kind"])), int(p["proc_id"])) for p in t["processors"]]
    return [pid for kind, pid in sorted(procs) if kind not in NOT_APP]


def _utilization(ax, t: dict[str, np.ndarray]) -> None:
    lo, hi = span(t)
    edges = np.linspace(lo, max(hi, lo + 1), BINS + 1).astype("i8")
    busy = proc_intervals(t)
    kinds: dict[str, list[int]] = {}
    for p in t["processors"]:
        kinds.setdefault(proc_kind_name(int(p["kind"])), []).append(int(p["proc_id"]))
    _mark_timed(ax, t, lo)
    for kind, pids in sorted(kinds.items()):
        if kind == "NONE":
            continue
        total = sum((intervals.coverage(*busy[p], edges) for p in pids if p in busy), np.zeros(BINS))
        ax.stairs(total / (np.diff(edges) * len(pids)), (edges - lo) / 1e9, label=f"{kind} ({len(pids)})")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.02), ncols=4, fontsize="small", frameon=False)


def _timeline(ax, t: dict[str, np.ndarray], colors: dict[str, tuple]) -> None:
    lo, _ = span(t)
    procs = _app_procs(t)
    row = {p: i for i, p in enumerate(procs)}
    tasks = app_tasks(t)
    tasks = tasks[np.isin(tasks["proc_id"], procs)]
    top = np.isin(tasks["op_id"], top_level_ops(t))
    _mark_timed(ax, t, lo)
    for r in tasks[top]:
        ax.broken_barh([((r["start"] - lo) / 1e9, (r["stop"] - r["start"]) / 1e9)], (row[int(r["proc_id"])] - 0.45, 0.18),
                       facecolor="none", edgecolor="0.3", linewidth=0.8)
    rest = tasks[~top]
    if len(rest) > MAX_BARS:
        rest = rest[np.argsort(rest["start"] - rest["stop"], kind="stable")[:MAX_BARS]]
    for task_id in np.unique(rest["task_id"]):
        sel = rest[rest["task_id"] == task_id]
        for p in np.unique(sel["proc_id"]):
            rows = sel[sel["proc_id"] == p]
            bars = list(zip((rows["start"] - lo) / 1e9, (rows["stop"] - rows["start"]) / 1e9))
            ax.broken_barh(bars, (row[int(p)] - 0.25, 0.65), color=colors[_task_name(t, int(task_id))])
    kind_of = {int(p["proc_id"]): proc_kind_name(int(p["kind"])) for p in t["processors"]}
    ax.set_yticks(range(len(procs)), [f"{kind_of[p]} {int(proc_node([p])[0])}.{p & 0xFFF}" for p in procs])
    ax.set_ylim(-0.6, max(len(procs), 1) - 0.4)
    ax.set_xlabel("seconds since the run's first event")


def _mark_timed(ax, t: dict[str, np.ndarray], lo: int) -> None:
    region = timed_region(t)
    if region:
        ax.axvspan((region[0] - lo) / 1e9, (region[1] - lo) / 1e9, color=TIMED_COLOR, zorder=0, label="_timed")

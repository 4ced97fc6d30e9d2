"""Scaling studies: the same application and mappers measured at several node counts, in one store.

A point is one (mapper, node count): its machine is the base spec with `nodes` replaced, and in weak
scaling its size grows with the node count by the app's `[weak]` rules (specs/apps/APP.toml), so the
work per node stays the same. Every point of a study runs against one Legion build (the one the
largest node count needs), so the comparison measures the nodes, not two runtimes. Points are
evaluated through the usual executors and stored as they finish; a resumed study runs only the
points the store lacks. Parallel efficiency is computed from the stored times against each
mapper's smallest measured node count: strong T(n0)·n0 / (T(n)·n), weak T(n0) / T(n).
"""
from __future__ import annotations

import contextlib
import itertools
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from hpcmap import apps, evaluate, machine
from hpcmap.errors import UserError
from hpcmap.records import EvalRecord, EvalRequest

MODES = ("strong", "weak")
GROWTH = {"linear": 1.0, "sqrt": 1 / 2, "cbrt": 1 / 3}   # a weak rule's exponent of the node count
OK = "ok"


# ----------------------------------------------------------------------------- the points


def parse_nodes(text: str | Iterable) -> list[int]:
    """`1,2,4` (or a list) as sorted distinct node counts, each at least 1."""
    items = text.split(",") if isinstance(text, str) else list(text)
    counts = []
    for item in items:
        value = item.strip() if isinstance(item, str) else item
        try:
            count = int(value) if not isinstance(value, (bool, float)) else None
        except ValueError:
            count = None
        if count is None or count < 1:
            raise UserError(f"node counts must be whole numbers of at least 1, e.g. 1,2,4; got {value!r}")
        counts.append(count)
    if not counts:
        raise UserError("no node counts given; e.g. --nodes 1,2,4")
    return sorted(set(counts))


@dataclass(frozen=True)
class WeakRule:
    """How a size parameter grows with the node count n: value · n^exponent, rounded to a multiple."""

    key: str
    exponent: float
    multiple_of: int = 1

    def apply(self, value: str, nodes: int) -> str:
        if nodes == 1:   # the one-node point is the size asked for, as it is
            return value
        grown = float(value) * nodes ** self.exponent
        return str(max(self.multiple_of, self.multiple_of * round(grown / self.multiple_of)))


def weak_rules(app: apps.App) -> list[WeakRule]:
    """The app's `[weak]` table: `key = "linear"|"sqrt"|"cbrt"` or `key = {grow = ..., multiple_of = N}`."""
    path = apps.resolve_app_path(app.name)
    table = apps.read_toml(path).get("weak")
    if not table:
        raise UserError(f"{app.name} has no weak-scaling rules ([weak] in {path}); use --mode strong")
    known = {k for preset in app.sizes.values() for k, v in preset.items() if isinstance(v, int)}
    rules = []
    for key, rule in table.items():
        spec = rule if isinstance(rule, dict) else {"grow": rule}
        grow, multiple = spec.get("grow"), spec.get("multiple_of", 1)
        if key not in known or grow not in GROWTH or set(spec) - {"grow", "multiple_of"} \
                or not isinstance(multiple, int) or multiple < 1:
            raise UserError(f"{path}: bad [weak] rule {key} = {rule!r}; expected an integer size parameter "
                            f"= one of {', '.join(GROWTH)} (or {{grow = ..., multiple_of = N}})")
        rules.append(WeakRule(key, GROWTH[grow], multiple))
    return rules


def weak_size(params: dict[str, str], rules: list[WeakRule], nodes: int) -> dict[str, str]:
    """The size for `nodes` nodes: each ruled parameter grown from its one-node value."""
    grown = dict(params)
    for rule in rules:
        grown[rule.key] = rule.apply(params[rule.key], nodes)
    return grown


def point_machine(base: machine.MachineSpec, nodes: int) -> machine.MachineSpec:
    """The base spec with `nodes` nodes, named for them."""
    return replace(base, nodes=nodes, name=f"{base.name}-{nodes}n",
                   description=f"{nodes} node(s) of {base.name}" + (f" ({base.description})" if base.description else ""))


def point_name(mapper: str, nodes: int) -> str:
    return f"{mapper}@{nodes}n"


def build_for(app: apps.App, specs: list[machine.MachineSpec], legion_root: str | None) -> tuple[str, str]:
    """Build the app once against the runtime the largest of `specs` needs and check that every spec
    can run on it; returns (executable, library path)."""
    from hpcmap.legion import build, launch, runtime

    rt = runtime.for_nodes(max(s.nodes for s in specs), legion_root, quiet=True)
    for spec in specs:
        launch.check_supported(spec, rt)
    return str(build.ensure_app(rt, app.name, app.binary, quiet=True)), rt.library_path()


def plan(app_name: str, mappers: list[str], nodes: list[int], mode: str, machine_name: str = "local",
         size: str | None = None, trials: int = 5, timeout_s: float = 300.0, app_args: list[str] | None = None,
         legion_root: str | None = None, build: bool = True) -> list[tuple[EvalRequest, dict]]:
    """The study's points as (request, note) pairs, node count by node count; builds the app once."""
    if mode not in MODES:
        raise UserError(f"unknown scaling mode {mode!r}; choose strong or weak")
    app = apps.load(app_name)
    rules = weak_rules(app) if mode == "weak" else []
    bases = evaluate.make_requests(mappers, app_name, size, machine_name, trials, timeout_s, app_args,
                                   legion_root, build=False)
    bases = list({r.key: r for r in bases}.values())
    base_spec = machine.load(machine_name)
    specs = [point_machine(base_spec, n) for n in nodes]
    exe, library_path = build_for(app, specs, legion_root) if build else ("", "")
    points = []
    for spec in specs:
        params = weak_size(bases[0].params, rules, spec.nodes)
        for req in bases:
            points.append((replace(req, name=point_name(req.name, spec.nodes), params=params, machine=spec.as_dict(),
                                   exe=exe, library_path=library_path),
                           {"role": "point", "mapper": req.name, "nodes": spec.nodes, "mode": mode,
                            "base_size": bases[0].params}))
    return points


def study_meta(app_name: str, mode: str, machine_name: str, size: str | None, trials: int,
               app_args: list[str] | None) -> dict:
    """What a scaling store fixes for its life. `machine` is a phrase, not a spec, so that a tune or
    eval refuses this store and this study refuses theirs."""
    app = apps.load(app_name)
    spec = machine.load(machine_name).as_dict()
    preset, overrides = apps.parse_size(size)
    return {"kind": "scale", "app": app.name, "mode": mode, "machine": f"{spec['name']} at several node counts",
            "base_machine": {k: v for k, v in spec.items() if k != "nodes"}, "size": app.size(preset, overrides),
            "trials": trials, "app_args": list(app_args or [])}


# ----------------------------------------------------------------------------- running them


class ByNodeCount:
    """An executor that hands each request to one made for its node count, since a Slurm job's
    resources follow its machine. Concurrent: every group is submitted before any is awaited (Slurm);
    otherwise the groups run one after another, each on a fresh executor (local processes)."""

    def __init__(self, name: str, make: Callable[[int], object], concurrent: bool):
        self.name = name
        self.make = make
        self.concurrent = concurrent
        self.open: list = []

    def submit(self, requests: Iterable[EvalRequest]) -> Iterator[EvalRecord]:
        groups: dict[int, list[EvalRequest]] = {}
        for req in requests:
            groups.setdefault(int(req.machine.get("nodes", 1)), []).append(req)
        if self.concurrent:
            streams = []
            for nodes, reqs in groups.items():
                self.open.append(self.make(nodes))
                streams.append(self.open[-1].submit(reqs))
            return itertools.chain(*streams)
        return self._one_after_another(groups)

    def _one_after_another(self, groups: dict[int, list[EvalRequest]]) -> Iterator[EvalRecord]:
        for nodes, reqs in groups.items():
            executor = self.make(nodes)
            self.open.append(executor)
            try:
                yield from executor.submit(reqs)
            finally:
                executor.close()
                self.open.remove(executor)

    def close(self) -> None:
        for executor in self.open:
            executor.close()
        self.open = []


@contextlib.contextmanager
def open_study(path: str | Path, meta: dict, resume: bool, provenance: dict | None = None) -> Iterator:
    """The store of a scaling study or campaign, locked for this process, with its fixed settings
    (`meta`, whose `kind` names the study's kind) checked or recorded."""
    from hpcmap.store import Store
    from hpcmap.study import claim

    store = Store(path)
    with store.lock():
        claim(store, resume)
        if store.keys() and store.meta().get("kind") != meta["kind"]:
            raise UserError(f"{store.path} holds another kind of study, not a {meta['kind']}; choose another --store")
        store.fix_meta(meta)
        if provenance:
            store.add_provenance(provenance)
        yield store


def run_points(store, points: list[tuple[EvalRequest, dict]], executor, progress=None) -> tuple[list[dict], int]:
    """Evaluate the points the store lacks (infra errors are retried) and store each as it finishes.
    Returns the records of all `points` and how many were run now."""
    from hpcmap.study import Status, Study

    finished = store.keys(include_infra_errors=False)
    todo = [(req, note) for req, note in points if req.key not in finished]
    study = Study(store, points[0][0], executor, progress)
    if progress:
        progress.phase(Status("points"), len(todo))
    if todo:
        study.run(todo, Status("points"))
    wanted = {req.key for req, _ in points}
    return [r for r in store.records() if r["key"] in wanted], len(todo)


# ----------------------------------------------------------------------------- the table


@dataclass
class Row:
    """One point's figures: median time, throughput (the app's metric), speedup and efficiency."""

    app: str
    mapper: str
    nodes: int
    size: dict
    outcome: str
    median_s: float | None
    throughput: float | None
    unit: str
    speedup: float | None = None
    efficiency: float | None = None
    base_size: dict | None = None   # the one-node size a weak series grows from (its size otherwise)
    name: str = ""
    key: str = ""
    message: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def rows(records: list[dict], mode: str) -> list[Row]:
    """One row per point, by app, size, mapper and node count, with speedup and parallel efficiency
    against the smallest node count of the same app, size and mapper that ran correctly."""
    out = []
    for r in records:
        note = r.get("study") or {}
        trials = [t for t in r.get("trials") or [] if t.get("outcome") == OK]
        metrics = [t["metric"] for t in trials if isinstance(t.get("metric"), (int, float))]
        ok = r["outcome"] == OK
        size = r.get("size") or {}
        out.append(Row(r["app"], note.get("mapper", r["name"]), int(note.get("nodes", 1)), size, r["outcome"],
                       (r.get("stats") or {}).get("median_s") if ok else None,
                       statistics.median(metrics) if ok and metrics else None,
                       next((t.get("unit") for t in trials if t.get("unit")), "") or "",
                       base_size=note.get("base_size") or size, name=r["name"], key=r["key"],
                       message=(r.get("message") or "").splitlines()[0][:200] if r.get("message") else ""))
    series = lambda row: (row.app, sorted(row.base_size.items()), row.mapper)  # noqa: E731
    out.sort(key=lambda row: (series(row), row.nodes))
    for _, group in itertools.groupby(out, key=series):
        group = list(group)
        ref = next((g for g in group if g.median_s), None)
        for g in group:
            if ref and g.median_s:
                g.speedup = ref.median_s / g.median_s
                g.efficiency = efficiency(ref.median_s, ref.nodes, g.median_s, g.nodes, mode)
    return out


def print_table(title: str, table_rows: list[Row], weak: bool, file=None) -> None:
    from rich.console import Console
    from rich.table import Table

    apps_shown = len({r.app for r in table_rows}) > 1
    sizes_shown = weak or len({str(r.size) for r in table_rows}) > 1
    table = Table(title=title)
    units = {r.unit for r in table_rows if r.unit}
    unit = units.pop() if len(units) == 1 else ""
    columns = (["app"] if apps_shown else []) + ["mapper", "nodes"] + (["size"] if sizes_shown else []) + \
        ["outcome", "median (s)", f"throughput ({unit})" if unit else "throughput", "speedup", "efficiency"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("app", "mapper", "size", "outcome") else "right",
                         overflow="fold")
    fmt = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
    for r in table_rows:
        style = "green" if r.outcome == OK else "red"
        cells = ([r.app] if apps_shown else []) + [r.mapper, str(r.nodes)]
        cells += [",".join(f"{k}={v}" for k, v in r.size.items())] if sizes_shown else []
        cells += [f"[{style}]{r.outcome}[/]", fmt(r.median_s, ".4g"),
                  "" if r.throughput is None else f"{r.throughput:.4g}" + ("" if unit else f" {r.unit}"),
                  fmt(r.speedup, ".2f"), "" if r.efficiency is None else f"{100 * r.efficiency:.0f}%"]
        table.add_row(*cells)
    Console(highlight=False, file=file or sys.stdout).print(table)


def plot(table_rows: list[Row], mode: str, directory: str | Path, title: str) -> list[Path]:
    """time.png, throughput.png and efficiency.png under `directory`: one line per app and mapper
    over the node counts (log2 axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--plot {directory}: cannot write there: {exc.strerror or exc}") from None
    apps_shown = len({r.app for r in table_rows}) > 1
    series: dict[str, list[Row]] = {}
    for r in table_rows:
        label = f"{r.app} {r.mapper}" if apps_shown else r.mapper
        if len({str(x.base_size) for x in table_rows if x.app == r.app}) > 1:
            label += " " + ",".join(f"{k}={v}" for k, v in r.base_size.items())
        series.setdefault(label, []).append(r)
    unit = next((r.unit for r in table_rows if r.unit), "")
    figures = [("time", "median time (s)", lambda r: r.median_s),
               ("throughput", f"throughput ({unit})" if unit else "throughput", lambda r: r.throughput),
               ("efficiency", "parallel efficiency", lambda r: r.efficiency)]
    paths = []
    nodes = sorted({r.nodes for r in table_rows})
    for name, ylabel, value in figures:
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, points in series.items():
            xs = [p.nodes for p in points if value(p) is not None]
            ys = [value(p) for p in points if value(p) is not None]
            if xs:
                ax.plot(xs, ys, marker="o", label=label)
        if name == "efficiency":
            ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
            ax.set_ylim(bottom=0)
        ax.set_xscale("log", base=2)
        ax.set_xticks(nodes, [str(n) for n in nodes])
        ax.set_xlabel("nodes")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: {mode} scaling")
        if series:
            ax.legend(fontsize="small")
        fig.tight_layout()
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def efficiency(t_ref: float, n_ref: int, t: float, n: int, mode: str) -> float:
    """Parallel efficiency of time `t` on `n` nodes against `t_ref` on `n_ref` nodes: the fraction of
    ideal speedup (strong: same problem) or of ideal constant time (weak: work grows with nodes)."""
    return (t_ref * n_ref) / (t * n) if mode == "strong" else t_ref / t

"""The mapper space: every choice a mapper makes, derived from app metadata and a machine spec.

A *point* is a dict from coordinate name to value (JSON-friendly: None, str, int, bool). The first
option of every coordinate is its default and renders to nothing, so the all-default point is the
empty mapper (Legion's DefaultMapper). `render` turns a point into mapping-language text that a
person can read and edit. Nothing here knows an application: tasks, launch kinds and dimensions,
variants, region names and layout requirements come from specs/apps/<app>.toml, processors and
memories from the machine spec.

Coordinates, in the order coordinate descent visits them (coarse first, then refinements):
  kind/T          processor-kind order of task T (only kinds with a variant and processors)
  memory/*/R/K    memory list of region R in every task that runs on kind K (only memories K sees)
  map/T           mapping function of index launch T, from a library (block, cyclic, ...)
  single/T        placement of single launch T (on its parent's processor, or beside it)
  layout/*        the layout of every instance
  limit/T         InstanceLimit of T
  collect/T       CollectMemory of T's read-only regions
  memory/T/R      memory list of region R of T alone (only memories visible from T's kind)
  layout/T/R      layout of region R of T alone
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

from hpcmap.dsl.app import AppInfo, TaskInfo, load_app
from hpcmap.machine import MachineSpec

# Legion's DefaultMapper prefers GPU, then OpenMP, then CPU (default_policy_rank_processor_kinds).
DEFAULT_KIND_ORDER = ("GPU", "OMP", "CPU")
# Memories a processor kind sees, DefaultMapper's choice first. The machine spec has no
# socket memory, so CPUs and OpenMP processors see system memory only.
VISIBLE_MEMORIES = {"CPU": ("SYSMEM",), "OMP": ("SYSMEM",), "GPU": ("FBMEM", "ZCMEM")}
# Instance layouts; the default (None) is DefaultMapper's: SOA, first dimension fastest.
LAYOUTS = (None, "SOA C_order", "AOS F_order", "AOS C_order", "SOA F_order Align==64", "SOA C_order Align==64")
DEFAULT_LAYOUT = {"fields": "SOA", "order": "F_order"}
INSTANCE_LIMITS = (None, 1, 2, 4, 8)
SINGLE_PLACEMENTS = (None, "parent", "spread")
BLOCK_CYCLIC_SIZES = (2, 4)


@dataclass(frozen=True)
class Coordinate:
    """One choice of the mapper; options[0] is the default, which renders to nothing."""

    name: str
    group: str                       # kind | memory | map | single | layout | limit | collect
    options: tuple
    task: str = "*"
    region: str = "*"
    kind: str = "*"                  # the processor kind of a region's memory for every task (memory/*/R/KIND)


def _layout_words(value: str | None) -> dict[str, str]:
    """{"fields": SOA|AOS, "order": C_order|F_order, other words: themselves} of a layout value."""
    words = dict(DEFAULT_LAYOUT)
    for w in (value or "").split():
        if w in ("SOA", "AOS"):
            words["fields"] = w
        elif w in ("C_order", "F_order"):
            words["order"] = w
        else:
            words[w] = w
    return words


def _satisfies(value: str | None, required: tuple[str, ...]) -> bool:
    """Whether a layout value (None: DefaultMapper's layout) has every required constraint."""
    have = _layout_words(value)
    keys = {"SOA": "fields", "AOS": "fields", "C_order": "order", "F_order": "order"}
    return all(have.get(keys.get(w, w)) == w for w in required)


def _contradicts(value: str | None, required: tuple[str, ...]) -> bool:
    """Whether a layout value states the opposite of a required constraint (as `dsl check` sees it)."""
    opposite = {"SOA": "AOS", "AOS": "SOA", "C_order": "F_order", "F_order": "C_order"}
    return any(opposite.get(w) in (value or "").split() for w in required)


def _memory_options(kind: str) -> list[str]:
    """Ordered memory lists visible from `kind`, without the one that equals DefaultMapper's choice."""
    mems = VISIBLE_MEMORIES.get(kind, ())
    lists = [",".join(p) for n in range(1, len(mems) + 1) for p in itertools.permutations(mems, n)]
    return [m for m in lists if m != mems[0]]


def _linear(dims: int) -> str:
    """Row-major linear index of task.ipoint in task.ispace (last dimension fastest)."""
    expr = "ip[0]"
    for d in range(1, dims):
        expr = f"({expr}) * sp[{d}] + ip[{d}]" if d > 1 else f"{expr} * sp[{d}] + ip[{d}]"
    return expr


def map_strategies(dims: int, nodes: int) -> tuple[str, ...]:
    """The library of index-launch mapping functions that make sense for this launch and machine."""
    names = ["block", "cyclic", *(f"block_cyclic{b}" for b in BLOCK_CYCLIC_SIZES)]
    if nodes > 1:
        names += ["node_block_proc_cyclic", "node_cyclic_proc_block"]
    if dims > 1:
        names.append("auto_split")
    return tuple(names)


def _map_body(strategy: str, space: str, dims: int) -> list[str]:
    """Statements of a mapping function `strategy` over machine space `space` for a `dims`-D launch."""
    k = _linear(dims)
    head = ["ip = task.ipoint;", "sp = task.ispace;"]
    flat = ["flat = %s.merge(0, 1);" % space]
    if strategy == "block":
        return head + flat + [f"return flat[({k}) * flat.size[0] / sp.volume];"]
    if strategy == "cyclic":
        return head + flat + [f"return flat[({k}) % flat.size[0]];"]
    if strategy.startswith("block_cyclic"):
        b = int(strategy[len("block_cyclic"):])
        return head + flat + [f"return flat[({k}) / {b} % flat.size[0]];"]
    if strategy == "node_block_proc_cyclic":
        return head + [f"k = {k};", f"return {space}[k * {space}.size[0] / sp.volume, k % {space}.size[1]];"]
    if strategy == "node_cyclic_proc_block":
        return head + [f"k = {k};", f"per_node = (sp.volume + {space}.size[0] - 1) / {space}.size[0];",
                       f"return {space}[k % {space}.size[0], k / {space}.size[0] * {space}.size[1] / per_node];"]
    if strategy == "auto_split":
        return head + [f"blocks = {space}.merge(0, 1).auto_split(0, sp);",
                       "return blocks[*(ip * blocks.size / sp)];"]
    raise ValueError(f"unknown mapping strategy {strategy!r}")


def _single_body(placement: str, space: str) -> list[str]:
    if placement == "parent":
        return [f"return {space}[*task.parent.processor({space})];"]
    if placement == "spread":
        return [f"p = task.parent.processor({space});", f"return {space}[p[0], (p[1] + 1) % {space}.size[1]];"]
    raise ValueError(f"unknown single-task placement {placement!r}")


class MapperSpace:
    """The coordinates of one app on one machine, with validity, repair, sampling and rendering."""

    def __init__(self, app: AppInfo, machine: MachineSpec):
        self.app = app
        self.machine = machine
        self.counts = {"CPU": machine.cpus, "GPU": machine.gpus, "OMP": machine.omps}
        self.kinds = {name: self._available_kinds(t) for name, t in app.tasks.items()}
        self.coordinates = self._build()
        self.by_name = {c.name: c for c in self.coordinates}

    # ------------------------------------------------------------ construction
    def _available_kinds(self, task: TaskInfo) -> tuple[str, ...]:
        return tuple(k for k in DEFAULT_KIND_ORDER if k in task.variants and self.counts.get(k, 0) > 0)

    def _regions(self, task: TaskInfo) -> list[str]:
        return list(dict.fromkeys(r for r in task.regions if r))

    def _build(self) -> list[Coordinate]:
        """Coarse choices first (a task's kind, a region's memory in every task that uses it, the
        mapping functions, the layout of everything), then the per-(task, region) refinements."""
        groups: dict[str, list[Coordinate]] = {g: [] for g in ("kind", "shared_memory", "map", "single", "layout_all",
                                                               "limit", "collect", "memory", "layout")}
        requirements = [r.layout for t in self.app.tasks.values() for r in t.requires]
        every = tuple(v for v in LAYOUTS if not any(_contradicts(v, r) for r in requirements))
        groups["layout_all"].append(Coordinate("layout/*", "layout", every))
        shared: dict[tuple[str, str], None] = {}
        for name, task in self.app.tasks.items():
            kinds = self.kinds[name]
            if not kinds:
                continue
            orders = [",".join(p) for p in itertools.permutations(kinds)]
            if len(orders) > 1:
                groups["kind"].append(Coordinate(f"kind/{name}", "kind", (None, *orders[1:]), name))
            mems = list(dict.fromkeys(m for k in kinds for m in _memory_options(k)))
            for region in self._regions(task):
                shared.update({(region, k): None for k in kinds if _memory_options(k)})
                if mems:
                    groups["memory"].append(Coordinate(f"memory/{name}/{region}", "memory", (None, *mems), name, region))
                required = [" ".join(r.layout) for r in task.requires if r.region in ("*", region) and r.layout]
                options = tuple(dict.fromkeys([*LAYOUTS, *required]))
                groups["layout"].append(Coordinate(f"layout/{name}/{region}", "layout", options, name, region))
            # With one processor of each kind in the whole machine, every placement is the same one.
            several = any(self.machine.nodes * self.counts[k] > 1 for k in kinds)
            if task.launch == "index":
                if several:
                    groups["map"].append(Coordinate(f"map/{name}", "map",
                                                    (None, *map_strategies(task.dims, self.machine.nodes)), name))
                groups["limit"].append(Coordinate(f"limit/{name}", "limit", INSTANCE_LIMITS, name))
            elif "CPU" in kinds and self.machine.nodes * self.machine.cpus > 1:
                groups["single"].append(Coordinate(f"single/{name}", "single", SINGLE_PLACEMENTS, name))
            if task.regions:
                groups["collect"].append(Coordinate(f"collect/{name}", "collect", (False, True), name))
        # One memory for a region in every task that maps it on that kind: data shared by tasks stays put.
        for region, kind in shared:
            groups["shared_memory"].append(Coordinate(f"memory/*/{region}/{kind}", "memory",
                                                      (None, *_memory_options(kind)), "*", region, kind))
        return [c for g in groups.values() for c in g]

    # ------------------------------------------------------------ points
    def default_point(self) -> dict[str, Any]:
        return {c.name: c.options[0] for c in self.coordinates}

    def start_point(self) -> dict[str, Any]:
        """The default point, with whatever the app's layout requirements force."""
        return self.repair(self.default_point())

    def kind_order(self, point: dict, task: str) -> tuple[str, ...]:
        value = point.get(f"kind/{task}")
        return tuple(value.split(",")) if value else self.kinds.get(task, ())

    def kind_of(self, point: dict, task: str) -> str | None:
        """The processor kind task runs on: the first of its order (all of which the machine has)."""
        order = self.kind_order(point, task)
        return order[0] if order else None

    def layout_of(self, point: dict, task: str, region: str) -> str | None:
        value = point.get(f"layout/{task}/{region}")
        return value if value is not None else point.get("layout/*")

    def violations(self, point: dict) -> list[str]:
        """Why a point cannot run as stated: unknown values, memories the kind cannot see, layouts a
        variant rules out, placements for the wrong kind. Empty for a valid point."""
        out = []
        for c in self.coordinates:
            if point.get(c.name, c.options[0]) not in c.options:
                out.append(f"{c.name} = {point.get(c.name)!r} is not one of its options")
        for name, task in self.app.tasks.items():
            kind = self.kind_of(point, name)
            if kind is None:
                continue
            for region in self._regions(task):
                mems = point.get(f"memory/{name}/{region}")
                if mems and any(m not in VISIBLE_MEMORIES.get(kind, ()) for m in mems.split(",")):
                    out.append(f"memory/{name}/{region} = {mems} is not visible from {kind}")
                for req in task.requires:
                    if req.applies(kind, region) and not _satisfies(self.layout_of(point, name, region), req.layout):
                        out.append(f"{name} ({kind}) needs layout {' '.join(req.layout)} for {region}: {req.reason}")
            if point.get(f"single/{name}") and kind != "CPU":
                out.append(f"single/{name} places a {kind} task with a CPU machine space")
        return out

    def valid(self, point: dict) -> bool:
        return not self.violations(point)

    def repair(self, point: dict, keep: str | None = None) -> dict[str, Any]:
        """The nearest valid point: memories follow the task's kind (back to that kind's default),
        layouts meet the app's requirements, single placements apply only to CPU tasks. The
        coordinate `keep` is left as given (so a move that cannot be repaired stays invalid)."""
        p = {c.name: point.get(c.name, c.options[0]) for c in self.coordinates}
        for c in self.coordinates:
            if p[c.name] not in c.options and c.name != keep:
                p[c.name] = c.options[0]
        for name, task in self.app.tasks.items():
            kind = self.kind_of(p, name)
            if kind is None:
                continue
            for region in self._regions(task):
                key = f"memory/{name}/{region}"
                mems = p.get(key)
                if key != keep and mems and any(m not in VISIBLE_MEMORIES.get(kind, ()) for m in mems.split(",")):
                    p[key] = None
                key = f"layout/{name}/{region}"
                for req in task.requires:
                    if key != keep and req.applies(kind, region) and not _satisfies(self.layout_of(p, name, region), req.layout):
                        p[key] = " ".join(req.layout)
            key = f"single/{name}"
            if key != keep and p.get(key) and kind != "CPU":
                p[key] = None
        return p

    def move(self, point: dict, name: str, value: Any) -> dict[str, Any] | None:
        """`point` with coordinate `name` set to `value` and the rest repaired; None if invalid.
        Changing a task's kind moves its regions to memories the new kind sees."""
        moved = self.repair({**point, name: value}, keep=name)
        return moved if self.valid(moved) else None

    def neighbours(self, point: dict, name: str) -> list[dict[str, Any]]:
        """The valid points that differ from `point` in coordinate `name` (and what it drags along)."""
        current = point.get(name)
        moves = (self.move(point, name, v) for v in self.by_name[name].options if v != current)
        return [m for m in moves if m is not None]

    def sample(self, rng: random.Random) -> dict[str, Any]:
        """A uniformly drawn point, repaired: memories are drawn from those the drawn kind sees."""
        p = {c.name: rng.choice(c.options) for c in self.coordinates}
        for c in self.coordinates:
            if c.group == "memory" and c.task != "*":
                kind = self.kind_of(p, c.task)
                allowed = [v for v in c.options if not v or all(m in VISIBLE_MEMORIES[kind] for m in v.split(","))]
                p[c.name] = rng.choice(allowed)
        return self.repair(p)

    # ------------------------------------------------------------ rendering
    def render(self, point: dict) -> str:
        """Mapping-language text of a point; "" for the all-default point."""
        p = {c.name: point.get(c.name, c.options[0]) for c in self.coordinates}
        sections: list[list[str]] = [[], [], [], [], [], []]
        tasks, regions, layouts, knobs, defs, maps = sections
        used_spaces: dict[str, str] = {}
        functions: dict[str, list[str]] = {}
        assigned: dict[tuple[str, str], list[str]] = {}
        for c in self.coordinates:
            v = p[c.name]
            if v == c.options[0]:
                continue
            if c.group == "kind":
                tasks.append(f"Task {c.task} {v};")
            elif c.group == "memory":
                kind = c.kind if c.task == "*" else self.kind_of(p, c.task)
                regions.append(f"Region {c.task} {c.region} {kind} {v};")
            elif c.group == "layout":
                layouts.append(f"Layout {c.task} {c.region} {self.kind_of(p, c.task) if c.task != '*' else '*'} {v};")
            elif c.group == "limit":
                knobs.append(f"InstanceLimit {c.task} {v};")
            elif c.group == "collect":
                knobs.append(f"CollectMemory {c.task} *;")
            elif c.group in ("map", "single"):
                kind = self.kind_of(p, c.task)
                space = used_spaces.setdefault(kind, f"m_{kind.lower()}")
                if c.group == "map":
                    dims = self.app.tasks[c.task].dims
                    fname = f"{v}_{kind.lower()}_{dims}d"
                    body = _map_body(v, space, dims)
                    statement = "IndexTaskMap"
                else:
                    fname = f"{'on_parent' if v == 'parent' else 'beside_parent'}_{kind.lower()}"
                    body = _single_body(v, space)
                    statement = "SingleTaskMap"
                functions.setdefault(fname, body)
                assigned.setdefault((statement, fname), []).append(c.task)
        for kind, space in used_spaces.items():
            defs.append(f"{space} = Machine({kind});")
        for fname, body in functions.items():
            defs.append(f"def {fname}(Task task) {{\n" + "".join(f"    {s}\n" for s in body) + "}")
        for (statement, fname), names in assigned.items():
            maps.append(f"{statement} {','.join(names)} {fname};")
        return "\n\n".join("\n".join(s) for s in sections if s) + ("\n" if any(sections) else "")

    def describe(self, point: dict) -> str:
        """The coordinates a point changes from the default, one line for people."""
        changed = [f"{c.name}={point.get(c.name)}" for c in self.coordinates
                   if point.get(c.name, c.options[0]) != c.options[0]]
        return ", ".join(changed) or "default"


def space_for(app: str | AppInfo, machine: MachineSpec) -> MapperSpace:
    """The mapper space of an app (a name, a path, or loaded metadata) on a machine."""
    return MapperSpace(load_app(app) if isinstance(app, str) else app, machine)

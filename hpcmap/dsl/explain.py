"""The whole mapper for one task, as the C++ mapper applies it: the processor kind and variant
the task runs as, each region's memory (and the fallback chain it came from) and layout, and where
every point of an index launch goes.

It reads the policy IR, like the mapper, and follows IR.md's precedence: the most specific
statement, and among equally specific ones the first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from hpcmap.dsl.app import TaskInfo
from hpcmap.dsl.evaluate import Evaluator, MachineShape, Placement
from hpcmap.dsl.spaces import enumerate_all

# Points `explain` lays out at most: beyond this the grid is no use to read and costs memory.
MAX_POINTS = 65536


class DomainTooLarge(ValueError):
    """The launch domain has more points than `explain` lays out."""


@dataclass
class RegionPlan:
    """Where one region argument's instance goes and how it is laid out."""

    region: str | int
    memory: str             # the chosen memory kind, or "DefaultMapper"
    chain: list[str]        # the memory kinds of every matching Region statement, in order
    lines: list[int]        # the lines of those statements
    layout: dict | None     # the winning Layout's constraints (IR form), None: DefaultMapper's
    layout_line: int | None

    def to_json(self) -> dict:
        return {"region": self.region, "memory": self.memory, "chain": self.chain, "lines": self.lines,
                "layout": self.layout, "layout_line": self.layout_line}


@dataclass
class TaskPlan:
    task: str
    kind: str
    variant: str | None
    kind_line: int | None   # the Task statement that chose the kind; None: DefaultMapper's choice
    function: str | None    # the mapping function; None: DefaultMapper places the points
    function_line: int | None
    regions: list[RegionPlan] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)


def _best(entries: list[dict], match) -> dict | None:
    hits = [e for e in entries if match(e)]
    return min(hits, key=lambda e: (-e.get("rank", 0), e["order"])) if hits else None


def _region_matches(field_value, name: str, index: int) -> bool:
    return field_value == "*" or field_value == name or field_value == index


def plan_region(ir: dict, shape: MachineShape, task: str, kind: str, name: str, index: int) -> RegionPlan:
    """The fallback chain of Region statements (most specific first) and the winning Layout."""
    matching = [e for e in ir["regions"] if e["task"] in ("*", task) and _region_matches(e["region"], name, index)
                and e["processor"] in ("*", kind)]
    matching.sort(key=lambda e: (-e["rank"], e["order"]))
    chain: list[str] = []
    for e in matching:
        chain += [m for m in e["memories"] if m not in chain]
    memory = next((m for m in chain if m == "VIRTUAL" or shape.sees(kind, m)), "DefaultMapper")
    layout = _best(ir["layouts"], lambda e: e["task"] in ("*", task) and _region_matches(e["region"], name, index)
                   and e["target"] in ("*", kind, memory))
    return RegionPlan(name if name else index, memory, chain, [e["line"] for e in matching],
                      layout["constraints"] if layout else None, layout["line"] if layout else None)


def domain_points(domain: tuple[int, ...]) -> int:
    points = math.prod(domain)
    if points > MAX_POINTS:
        shape = "x".join(map(str, domain))
        raise DomainTooLarge(f"the domain {shape} has {points} points; explain lays out at most {MAX_POINTS}")
    return points


def explain_task(ir: dict, shape: MachineShape, task: str, domain: tuple[int, ...],
                 info: TaskInfo | None = None) -> TaskPlan:
    """Everything the mapper decides for `task` launched over `domain` on this machine."""
    domain_points(domain)
    ev = Evaluator(ir, shape)
    kind, kind_line = ev.run_kind(task, info.variants if info is not None and info.variants else None)
    variant = kind if info is None or not info.variants or kind in info.variants else None
    launch = info.launch if info is not None else "index"
    try:
        function, _ = ev.function_for(task, launch, kind)
    except LookupError:
        function = None
    plan = TaskPlan(task, kind, variant, kind_line, function,
                    ir["functions"][function]["line"] if function else None)
    if info is not None:
        plan.regions = [plan_region(ir, shape, task, kind, n, i) for i, n in enumerate(info.regions)]
    else:  # without the application's metadata: what a region no statement names gets
        plan.regions = [plan_region(ir, shape, task, kind, "*", -1)]
    if function is not None:
        plan.placements = [ev.placement(function, p, ev.call(function, [ev.task_value(p, domain)]))
                           for p in enumerate_all(domain, [None] * len(domain))]
    return plan

"""Compile a checked program into the versioned JSON policy IR described in IR.md."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from hpcmap.dsl import ast
from hpcmap.dsl.kinds import MEMORY_KINDS, PROCESSOR_KINDS
from hpcmap.dsl.limits import with_depth_room

IR_VERSION = 1


def _task(t: ast.Ident) -> str:
    return t.name


def _region(r: ast.RegionRef) -> str | int:
    return r.index if isinstance(r, ast.RegionIndex) else r.name


def _rank(task: ast.Ident, region: ast.RegionRef | None, kind: ast.Ident | None) -> int:
    named_region = region is not None and (isinstance(region, ast.RegionIndex) or not region.is_star)
    return 4 * (not task.is_star) + 2 * named_region + 1 * (kind is not None and not kind.is_star)


@dataclass
class _Frame:
    """Slot allocation for one function body (or one global expression)."""

    slots: dict[str, int] = field(default_factory=dict)
    count: int = 0

    def new(self, name: str) -> int:
        self.slots[name] = self.count
        self.count += 1
        return self.count - 1


class _ExprCompiler:
    def __init__(self, globals_index: dict[str, int]):
        self.globals_index = globals_index

    def node(self, op: str, e: ast.Node, **fields) -> dict:
        return {"op": op, "line": e.line, "col": e.col, **fields}

    def expr(self, e, frame: _Frame, scope: dict[str, int]) -> dict:
        x = lambda s: self.expr(s, frame, scope)  # noqa: E731
        if isinstance(e, ast.IntLit):
            return self.node("int", e, value=e.value)
        if isinstance(e, ast.BoolLit):
            return self.node("bool", e, value=e.value)
        if isinstance(e, ast.Name):
            if e.id in scope:
                return self.node("local", e, slot=scope[e.id])
            if e.id not in self.globals_index and e.id in PROCESSOR_KINDS + MEMORY_KINDS:
                return self.node("kind", e, value=e.id)
            return self.node("global", e, index=self.globals_index[e.id])
        if isinstance(e, ast.Splat):
            return self.node("splat", e, expr=x(e.expr))
        if isinstance(e, ast.Method) and e.name == "has":
            return self._has(e, x)
        if isinstance(e, ast.TupleExpr):
            return self.node("tuple", e, items=[x(i) for i in e.items])
        if isinstance(e, ast.Unary):
            return self.node("unary", e, operator=e.op, operand=x(e.operand))
        if isinstance(e, ast.Binary):
            return self.node("binary", e, operator=e.op, left=x(e.left), right=x(e.right))
        if isinstance(e, ast.Cond):
            return self.node("cond", e, cond=x(e.cond), then=x(e.then), **{"else": x(e.else_)})
        if isinstance(e, ast.Attr):
            return self.node("attr", e, name=e.name, obj=x(e.obj))
        if isinstance(e, ast.Method):
            return self.node("method", e, name=e.name, obj=x(e.obj), args=[x(a) for a in e.args])
        if isinstance(e, ast.Call):
            return self.node("call", e, function=e.func, args=[x(a) for a in e.args])
        if isinstance(e, ast.MachineExpr):
            return self.node("machine", e, kind=e.kind)
        if isinstance(e, ast.Index):
            items = []
            for it in e.items:
                item = {"kind": it.kind}
                if it.expr is not None:
                    item["expr"] = x(it.expr)
                items.append(item)
            return self.node("index", e, obj=x(e.obj), items=items)
        if isinstance(e, ast.Slice):
            return self.node("slice", e, obj=x(e.obj),
                             lo=None if e.lo is None else x(e.lo), hi=None if e.hi is None else x(e.hi))
        if isinstance(e, ast.Comprehension):
            iter_ = x(e.iter)
            inner = dict(scope)
            slot = frame.new(f"{e.var}@{e.line}:{e.col}")
            inner[e.var] = slot
            return self.node("tuple_for", e, slot=slot, iter=iter_, body=self.expr(e.body, frame, inner))
        raise TypeError(f"unknown expression node {type(e).__name__}")

    def _has(self, e: ast.Method, x) -> dict:
        obj, index = e.obj, None
        if isinstance(obj, ast.Index) and len(obj.items) == 1 and obj.items[0].kind == "expr":
            obj, index = obj.obj, x(obj.items[0].expr)
        memory = e.args[0].id if e.args and isinstance(e.args[0], ast.Name) else ""
        return self.node("has", e, obj=x(obj), index=index, memory=memory)

    def function(self, f: ast.FuncDef) -> dict:
        frame = _Frame()
        scope: dict[str, int] = {}
        for p in f.params:
            scope[p.name] = frame.new(p.name)
        body = []
        for st in f.body:
            if isinstance(st, ast.Assign):
                value = self.expr(st.expr, frame, scope)
                name = st.name.name
                slot = scope[name] if name in scope else frame.new(name)
                scope[name] = slot
                body.append({"op": "assign", "slot": slot, "expr": value, "line": st.line})
            elif isinstance(st, ast.Return):
                body.append({"op": "return", "expr": self.expr(st.expr, frame, scope), "line": st.line})
            elif isinstance(st, ast.Print):
                body.append({"op": "print", "format": st.fmt,
                             "args": [self.expr(a, frame, scope) for a in st.args], "line": st.line})
        return {"name": f.name.name, "line": f.line,
                "params": [{"name": p.name, "type": p.type} for p in f.params],
                "nslots": frame.count, "body": body}


def _space_chain(e) -> dict | None:
    """`Machine(K).t1(...).t2(...)` with literal arguments as {"kind", "transforms"}, else None."""
    chain = []
    while isinstance(e, ast.Method):
        args = []
        for a in e.args:
            if isinstance(a, ast.IntLit):
                args.append(a.value)
            elif isinstance(a, ast.TupleExpr) and all(isinstance(i, ast.IntLit) for i in a.items):
                args.append([i.value for i in a.items])
            else:
                return None
        chain.append({"op": e.name, "args": args})
        e = e.obj
    if not isinstance(e, ast.MachineExpr):
        return None
    return {"kind": e.kind, "transforms": list(reversed(chain))}


@with_depth_room
def compile_program(program: ast.Program, source: str | None = None) -> dict:
    """The policy IR of a program that passed `check` without errors."""
    ir: dict = {
        "version": IR_VERSION, "source": source or program.source,
        "tasks": [], "regions": [], "layouts": [], "instance_limits": [], "collect": [],
        "index_maps": [], "single_maps": [], "control_replicate": [], "task_steal": [],
        "globals": [], "functions": {}, "prints": [],
    }
    globals_index: dict[str, int] = {}
    for s in program.stmts:
        if isinstance(s, ast.GlobalAssign):
            globals_index.setdefault(s.name.name, len(globals_index))
    comp = _ExprCompiler(globals_index)
    for order, s in enumerate(program.stmts):
        where = {"line": s.line, "order": order}
        if isinstance(s, ast.TaskStmt):
            for t in s.tasks:
                ir["tasks"].append({"task": _task(t), "kinds": [k.name for k in s.kinds],
                                    "rank": _rank(t, None, None), **where})
        elif isinstance(s, ast.RegionStmt):
            ir["regions"].append({"task": _task(s.task), "region": _region(s.region), "processor": s.proc.name,
                                  "memories": [m.name for m in s.mems],
                                  "rank": _rank(s.task, s.region, s.proc), **where})
        elif isinstance(s, ast.LayoutStmt):
            ir["layouts"].append(_layout(s, where))
        elif isinstance(s, ast.InstanceLimitStmt):
            ir["instance_limits"].append({"task": _task(s.task), "limit": s.limit,
                                          "processor": s.kind.name if s.kind else "*", **where})
        elif isinstance(s, ast.CollectStmt):
            ir["collect"].append({"task": _task(s.task), "region": _region(s.region),
                                  "rank": _rank(s.task, s.region, None), **where})
        elif isinstance(s, (ast.IndexMapStmt, ast.SingleMapStmt)):
            key = "index_maps" if isinstance(s, ast.IndexMapStmt) else "single_maps"
            function = s.func.name
            if getattr(s, "space", None) is not None:
                upgraded = upgraded_function(s, f"{s.func.name}@{s.space.name}")
                function = upgraded.name.name
                ir["functions"].setdefault(function, comp.function(upgraded))
            ir[key].append({"tasks": [t.name for t in s.tasks], "function": function, **where})
        elif isinstance(s, ast.ControlReplicateStmt):
            ir["control_replicate"].append({"tasks": [t.name for t in s.tasks], **where})
        elif isinstance(s, ast.TaskStealStmt):
            ir["task_steal"].append({"tasks": [t.name for t in s.tasks], "scope": s.scope.name, **where})
        elif isinstance(s, ast.GlobalAssign):
            frame = _Frame()
            entry = {"name": s.name.name, "expr": comp.expr(s.expr, frame, {}), "nslots": frame.count, **where}
            space = _space_chain(s.expr)
            if space is not None:
                entry["space"] = space
            ir["globals"].append(entry)
        elif isinstance(s, ast.FuncDef):
            ir["functions"][s.name.name] = comp.function(s)
        elif isinstance(s, ast.Print):
            frame = _Frame()
            args = [comp.expr(a, frame, {}) for a in s.args]
            ir["prints"].append({"format": s.fmt, "args": args, "nslots": frame.count, **where})
    return ir


@with_depth_room
def ir_text(ir: dict, sort_keys: bool = False) -> str:
    """The IR as JSON text. Compact: indentation would grow with the square of nesting depth, and a
    checked expression may nest 2000 levels deep."""
    return json.dumps(ir, sort_keys=sort_keys)


@with_depth_room
def ir_from_text(text: str) -> dict:
    """A policy IR document read back from its JSON text (as deep as `ir_text` writes)."""
    return json.loads(text)


def upgraded_function(s: ast.IndexMapStmt, name: str) -> ast.FuncDef:
    """The current form of `IndexTaskMap TASKS SPACE FUNC;`:
    `def NAME(Task task) { return SPACE[*FUNC(task.ipoint, task.ispace, SPACE)]; }`."""
    at = {"line": s.line, "col": s.col, "end_line": s.line}
    task = lambda: ast.Name("task", **at)  # noqa: E731
    space = lambda: ast.Name(s.space.name, **at)  # noqa: E731
    call = ast.Call(s.func.name, [ast.Attr(task(), "ipoint", **at), ast.Attr(task(), "ispace", **at), space()], **at)
    body = ast.Index(space(), [ast.IndexItem("splat", call, **at)], **at)
    return ast.FuncDef(ast.Ident(name, **at), [ast.Param("Task", "task", **at)], [ast.Return(body, **at)], **at)


def _layout(s: ast.LayoutStmt, where: dict) -> dict:
    cons = {"field_order": None, "dim_order": None, "align": [], "compact": False, "exact": False}
    for c in s.constraints:
        if c.name in ("SOA", "AOS"):
            cons["field_order"] = c.name
        elif c.name in ("C_order", "F_order"):
            cons["dim_order"] = c.name[0]
        elif c.name == "Align":
            cons["align"].append({"op": c.op, "bytes": c.value})
        elif c.name == "Compact":
            cons["compact"] = True
        elif c.name == "Exact":
            cons["exact"] = True
    t = s.target.name
    target_class = "processor" if t in PROCESSOR_KINDS else "memory" if t in MEMORY_KINDS else "any"
    return {"task": _task(s.task), "region": _region(s.region), "target": t, "target_class": target_class,
            "constraints": cons, "rank": _rank(s.task, s.region, s.target), **where}

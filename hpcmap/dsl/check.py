"""Static checks of a parsed mapper: names, kinds, arity, types, constraints, shadowing, app names.

Every finding is a `Diagnostic` with a stable code and a hint that shows the corrected text.
Codes: E2xx names and types, E3xx constraints and values, W4xx warnings (E1xx come from the parser).
"""
from __future__ import annotations

import difflib
import operator
from dataclasses import dataclass, field

from hpcmap.dsl import ast
from hpcmap.dsl.app import AppInfo
from hpcmap.dsl.diagnostics import Diagnostic, sort_key
from hpcmap.dsl.limits import MAX_DEPTH, with_depth_room
from hpcmap.dsl.kinds import (
    CONSTRAINTS, MEMORY_KINDS, PARAM_TYPES, PROCESSOR_KINDS, SPACE_ATTRS, STEAL_SCOPES, TASK_ATTRS,
    TRANSFORMS, TUPLE_ATTRS,
)

ANY = "any"
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
KIND_WORDS = PROCESSOR_KINDS + MEMORY_KINDS
PARAM_VALUE_TYPE = {"int": "int", "bool": "bool", "IPoint": "tuple", "ISpace": "tuple",
                    "MSpace": "space", "Task": "task"}
TYPE_WORDS = {"int": "an int", "bool": "a bool", "tuple": "a tuple", "space": "a machine space",
              "task": "a task", "proc": "a processor", "procset": "a set of processors", "kind": "a kind",
              ANY: "a value"}
# The parameters of a mapping function of the earlier dialect, `IndexTaskMap TASKS SPACE FUNC;`.
OLD_DIALECT_PARAMS = ["IPoint", "ISpace", "MSpace"]


def nearest(name: str, known) -> list[str]:
    return difflib.get_close_matches(name, sorted(set(known)), n=3, cutoff=0.5)


@dataclass
class _FuncInfo:
    node: ast.FuncDef
    ret: str | None = None
    busy: bool = False
    used: bool = False


@dataclass
class _Checker:
    program: ast.Program
    text: str
    app: AppInfo | None
    diags: list[Diagnostic] = field(default_factory=list)
    funcs: dict[str, _FuncInfo] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)  # name -> type, in definition order
    all_globals: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.lines = self.text.split("\n")

    # ------------------------------------------------------------ reporting
    def err(self, code: str, node: ast.Node, message: str, hint: str = "") -> None:
        self.diags.append(Diagnostic(code, message, node.line, node.col, hint, self.program.source))

    def src(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def replaced(self, node: ast.Node, old: str, new: str) -> str:
        """The source line of `node` with `old` (at the node's column) replaced by `new`."""
        line = self.src(node.line)
        c = node.col - 1
        if line[c:c + len(old)] == old:
            return (line[:c] + new + line[c + len(old):]).strip()
        return line.replace(old, new, 1).strip()

    def suggest(self, node: ast.Node, old: str, known, what: str) -> str:
        close = nearest(old, known)
        if close:
            return self.replaced(node, old, close[0])
        return f"use one of: {', '.join(sorted(set(known))[:12])}" if known else f"define {what} first"

    # ------------------------------------------------------------ driver
    def run(self) -> list[Diagnostic]:
        stmts = self.program.stmts
        if not self.literals_and_depth(stmts):
            return sorted(self.diags, key=sort_key)
        for s in stmts:
            if isinstance(s, ast.FuncDef):
                if s.name.name in self.funcs:
                    first = self.funcs[s.name.name].node
                    self.err("E210", s.name, f"function '{s.name.name}' is defined twice (first at line {first.line})",
                             f"rename one, e.g. def {s.name.name}_2(...)")
                else:
                    self.funcs[s.name.name] = _FuncInfo(s)
            elif isinstance(s, ast.GlobalAssign):
                self.all_globals.add(s.name.name)
        seen_globals: dict[str, int] = {}
        for s in stmts:
            if isinstance(s, ast.GlobalAssign):
                n = s.name.name
                if n in seen_globals:
                    self.err("E211", s.name, f"global '{n}' is defined twice (first at line {seen_globals[n]})",
                             self.replaced(s.name, n, n + "_2"))
                elif n in self.funcs:
                    self.err("E211", s.name, f"'{n}' is both a global and a function",
                             self.replaced(s.name, n, n + "_space"))
                seen_globals.setdefault(n, s.line)
                self.globals[n] = self.expr(s.expr, {}, in_global=True)
            elif isinstance(s, ast.Print):
                self.print_stmt(s, {}, in_global=True)
        for info in self.funcs.values():
            self.func_type(info.node.name.name, info.node)
        for s in stmts:
            self.statement(s)
        self.shadowing(stmts)
        for name, info in self.funcs.items():
            if not info.used:
                self.err("W402", info.node.name, f"function '{name}' is never used",
                         f"map tasks with it: IndexTaskMap TASK {name};")
        return sorted(self.diags, key=sort_key)

    # ------------------------------------------------------------ statements
    def statement(self, s) -> None:
        if isinstance(s, ast.TaskStmt):
            self.task_names(s.tasks)
            for k in s.kinds:
                self.proc_kind(k, star=False)
            self.variant_warning(s)
        elif isinstance(s, ast.RegionStmt):
            self.task_names([s.task])
            self.region(s.task, s.region)
            self.proc_kind(s.proc, star=True)
            for m in s.mems:
                self.mem_kind(m)
        elif isinstance(s, ast.LayoutStmt):
            self.task_names([s.task])
            self.region(s.task, s.region)
            t = s.target.name
            if t != "*" and t not in PROCESSOR_KINDS and t not in MEMORY_KINDS:
                self.err("E202", s.target, f"unknown kind '{t}' (a processor or memory kind, or *)",
                         self.suggest(s.target, t, PROCESSOR_KINDS + MEMORY_KINDS, "a kind"))
            self.constraints(s)
            self.layout_requirements(s)
        elif isinstance(s, ast.InstanceLimitStmt):
            self.task_names([s.task])
            if s.kind is not None:
                self.proc_kind(s.kind, star=True)
            if s.limit <= 0:
                self.err("E304", s, f"InstanceLimit must be at least 1, not {s.limit}",
                         f"InstanceLimit {s.task.name} 1;")
        elif isinstance(s, ast.CollectStmt):
            self.task_names([s.task])
            self.region(s.task, s.region)
        elif isinstance(s, (ast.IndexMapStmt, ast.SingleMapStmt)):
            # A kind word stands for the tasks that run on processors of that kind.
            self.task_names([t for t in s.tasks if t.name not in PROCESSOR_KINDS])
            self.map_function(s)
            self.launch_warning(s)
        elif isinstance(s, ast.ControlReplicateStmt):
            self.task_names(s.tasks)
        elif isinstance(s, ast.TaskStealStmt):
            self.task_names(s.tasks)
            if s.scope.name not in STEAL_SCOPES:
                self.err("E214", s.scope, f"unknown TaskSteal scope '{s.scope.name}' (SAME_NODE or ANY_NODE)",
                         self.suggest(s.scope, s.scope.name, STEAL_SCOPES, "a scope"))

    def proc_kind(self, k: ast.Ident, star: bool) -> None:
        if k.name in PROCESSOR_KINDS or (star and k.is_star):
            return
        if k.name in MEMORY_KINDS:
            self.err("E204", k, f"'{k.name}' is a memory kind where a processor kind is needed",
                     self.replaced(k, k.name, "GPU" if k.name == "FBMEM" else "CPU"))
        else:
            self.err("E202", k, f"unknown processor kind '{k.name}'",
                     self.suggest(k, k.name, PROCESSOR_KINDS, "a kind"))

    def mem_kind(self, k: ast.Ident) -> None:
        if k.name in MEMORY_KINDS:
            return
        if k.name in PROCESSOR_KINDS:
            self.err("E204", k, f"'{k.name}' is a processor kind where a memory kind is needed",
                     self.replaced(k, k.name, "FBMEM" if k.name == "GPU" else "SYSMEM"))
        else:
            self.err("E203", k, f"unknown memory kind '{k.name}'",
                     self.suggest(k, k.name, MEMORY_KINDS, "a kind"))

    def task_names(self, tasks: list[ast.Ident]) -> None:
        if self.app is None:
            return
        for t in tasks:
            if not t.is_star and t.name not in self.app.tasks:
                self.err("E212", t, f"task '{t.name}' is not a task of application '{self.app.name}'",
                         self.suggest(t, t.name, self.app.tasks, "a task"))

    def region(self, task: ast.Ident, region: ast.RegionRef) -> None:
        if self.app is None:
            return
        info = self.app.tasks.get(task.name)
        if isinstance(region, ast.RegionIndex):
            if info is not None and region.index >= len(info.regions):
                n = len(info.regions)
                self.err("E219", region, f"task '{task.name}' has {n} region argument(s); index {region.index} is out of range",
                         self.replaced(region, str(region.index), str(max(n - 1, 0))) if n else "use * or remove this statement")
            return
        if region.is_star:
            return
        known = info.regions if info is not None else self.app.region_names
        if region.name not in known:
            whose = f"task '{task.name}'" if info is not None else f"application '{self.app.name}'"
            self.err("E213", region, f"region '{region.name}' is not a region of {whose}",
                     self.suggest(region, region.name, known, "a region"))

    def constraints(self, s: ast.LayoutStmt) -> None:
        names: dict[str, ast.Constraint] = {}
        aligns: list[ast.Constraint] = []
        for c in s.constraints:
            if c.name not in CONSTRAINTS:
                self.err("E215", c, f"unknown layout constraint '{c.name}'",
                         self.suggest(c, c.name, CONSTRAINTS, "a constraint"))
                continue
            if c.name == "Align":
                if c.op is None:
                    self.err("E215", c, "Align needs a comparison and a byte count", self.replaced(c, "Align", "Align==64"))
                    continue
                if c.value is not None and c.value <= 0:
                    self.err("E306", c, f"Align needs a positive byte count, not {c.value}",
                             self.replaced(c, f"Align{c.op}{c.value}", f"Align{c.op}64"))
                aligns.append(c)
            elif c.op is not None:
                self.err("E215", c, f"'{c.name}' takes no comparison", self.replaced(c, f"{c.name}{c.op}{c.value}", c.name))
            names.setdefault(c.name, c)
        for a, b, code in (("SOA", "AOS", "E301"), ("C_order", "F_order", "E302")):
            if a in names and b in names:
                later = max(names[a], names[b], key=lambda c: c.col)
                keep = a if later.name == b else b
                fixed = " ".join(self._constraint_text(c) for c in s.constraints if c.name != later.name)
                self.err(code, later, f"layout constraints '{a}' and '{b}' contradict each other",
                         self._layout_text(s, fixed) + f"   (keep only {keep})")
        if aligns and not _aligns_satisfiable(aligns):
            fixed = " ".join(self._constraint_text(c) for c in s.constraints if c.name != "Align")
            fixed = (fixed + " " + self._constraint_text(aligns[0])).strip()
            self.err("E303", aligns[-1], "Align constraints contradict each other: no byte count satisfies all",
                     self._layout_text(s, fixed))

    @staticmethod
    def _constraint_text(c: ast.Constraint) -> str:
        return c.name if c.op is None else f"{c.name}{c.op}{c.value}"

    @staticmethod
    def _layout_text(s: ast.LayoutStmt, constraints: str) -> str:
        region = str(s.region.index) if isinstance(s.region, ast.RegionIndex) else s.region.name
        return f"Layout {s.task.name} {region} {s.target.name} {constraints};"

    # ------------------------------------------------------------ literals and nesting
    def literals_and_depth(self, stmts) -> bool:
        """Integer literals within int64 and expressions at most MAX_DEPTH deep (iteratively, so
        any input gets an answer); False when too deep for the recursive checks that follow."""
        ok = True
        for node, value in _stmt_ints(stmts):
            if not INT64_MIN <= value <= INT64_MAX:
                self.err("E309", node, f"integer {value} is outside the 64-bit range",
                         f"use a value between {INT64_MIN} and {INT64_MAX}")
        for root in _stmt_exprs(stmts):
            stack = [(root, 1)]
            while stack:
                e, depth = stack.pop()
                if depth > MAX_DEPTH:
                    self.err("E308", e, f"this expression nests more than {MAX_DEPTH} levels deep",
                             "split it into several assignments of named parts")
                    ok = False
                    break
                if isinstance(e, ast.IntLit) and not INT64_MIN <= e.value <= INT64_MAX:
                    self.err("E309", e, f"integer literal {e.value} is outside the 64-bit range",
                             f"use a value between {INT64_MIN} and {INT64_MAX}")
                stack.extend((c, depth + 1) for c in _children(e))
        return ok

    def layout_requirements(self, s: ast.LayoutStmt) -> None:
        """A Layout that contradicts what a task's variant needs (app metadata `requires`) is an error."""
        if self.app is None:
            return
        given = {c.name for c in s.constraints}
        tasks = self.app.tasks.values() if s.task.is_star else [self.app.tasks.get(s.task.name)]
        for info in tasks:
            if info is None:
                continue
            region = _region_name(s.region, info)
            for req in info.requires:
                variants = [v for v in (info.variants or [req.variant]) if req.variant in ("*", v)]
                if not any(_target_reaches(s.target.name, v) for v in variants):
                    continue
                if region != "*" and req.region not in ("*", region):
                    continue
                if req.dense and "Compact" in given:
                    kept = " ".join(self._constraint_text(c) for c in s.constraints if c.name != "Compact")
                    variant = "every variant" if req.variant == "*" else f"its {req.variant} variant"
                    where = "every region" if req.region == "*" else f"region {req.region}"
                    self.err("E311", s, f"task '{info.name}' needs dense single-piece instances for {variant} "
                             f"({where}), which Compact may split: {req.reason or 'declared by the application'}",
                             self._layout_text(s, kept) if kept else "remove this Layout statement")
                    return
                clash = [c for c in req.layout if _OPPOSITE.get(c) in given]
                if clash:
                    fixed = " ".join(_OPPOSITE[c.name] if _OPPOSITE.get(c.name) in clash else self._constraint_text(c)
                                     for c in s.constraints)
                    variant = "every variant" if req.variant == "*" else f"its {req.variant} variant"
                    where = "every region" if req.region == "*" else f"region {req.region}"
                    self.err("E310", s, f"task '{info.name}' needs {' '.join(clash)} for {variant} ({where}): "
                             f"{req.reason or 'declared by the application'}", self._layout_text(s, fixed))
                    return

    def map_function(self, s) -> None:
        stmt = "IndexTaskMap" if isinstance(s, ast.IndexMapStmt) else "SingleTaskMap"
        if getattr(s, "space", None) is not None:
            self.old_dialect(s)
            return
        name = s.func.name
        info = self.funcs.get(name)
        if info is None:
            self.err("E205", s.func, f"{stmt} names function '{name}', which is not defined",
                     self.suggest(s.func, name, self.funcs, "the function") if self.funcs
                     else f"def {name}(Task task) {{ return Machine(CPU)[0, 0]; }}")
            return
        info.used = True
        f = info.node
        params = f.params
        if len(params) != 1 or params[0].type != "Task":
            sig = ", ".join(f"{p.type} {p.name}" for p in params)
            pname = params[0].name if len(params) == 1 else "task"
            self.err("E206", s.func, f"{stmt} function '{name}({sig})' must take exactly one Task",
                     f"def {name}(Task {pname}) {{ ... }}")
            return
        ret = info.ret
        if ret not in ("proc", "procset", ANY, None):
            self.err("E221", s.func, f"function '{name}' returns {TYPE_WORDS[ret]}, not a processor",
                     "return a point of a machine space, e.g. return m[i, j]; or m[i, *];")

    def old_dialect(self, s: ast.IndexMapStmt) -> None:
        """`IndexTaskMap TASKS SPACE FUNC;` with FUNC(IPoint, ISpace, MSpace): accepted, deprecated."""
        fname, space = s.func.name, s.space.name
        info = self.funcs.get(fname)
        if info is None:
            self.err("E205", s.func, f"IndexTaskMap names function '{fname}', which is not defined",
                     self.suggest(s.func, fname, self.funcs, "the function") if self.funcs
                     else f"def {fname}(IPoint x, ISpace y, MSpace m) {{ return x[0] % m.size[1]; }}")
            return
        info.used = True
        types = [p.type for p in info.node.params]
        if types != OLD_DIALECT_PARAMS:
            self.err("E206", s.func, f"IndexTaskMap ... {space} {fname}: '{fname}' must take (IPoint, ISpace, MSpace), "
                     f"not ({', '.join(types)})", f"def {fname}(IPoint x, ISpace y, MSpace m) {{ ... }}")
            return
        if self.globals.get(space) != "space":
            what = "not defined" if space not in self.globals else f"{TYPE_WORDS[self.globals[space]]}, not a machine space"
            self.err("E201", s.space, f"'{space}' is {what}", f"define it first: {space} = Machine(GPU);")
            return
        tasks = ",".join(t.name for t in s.tasks)
        self.err("W407", s, f"`IndexTaskMap {tasks} {space} {fname};` is the earlier dialect",
                 f"hpcmap dsl fmt --upgrade rewrites it as: def {fname}_{space}(Task task) "
                 f"{{ return {space}[*{fname}(task.ipoint, task.ispace, {space})]; }} IndexTaskMap {tasks} {fname}_{space};")

    def variant_warning(self, s: ast.TaskStmt) -> None:
        if self.app is None:
            return
        for t in s.tasks:
            if t.is_star or t.name not in self.app.tasks:
                continue
            variants = self.app.tasks[t.name].variants
            if variants and not any(k.name in variants for k in s.kinds):
                self.err("W406", t, f"task '{t.name}' has no variant for {', '.join(k.name for k in s.kinds)} (it has {', '.join(variants)})",
                         f"Task {t.name} {','.join(variants)};")

    def launch_warning(self, s) -> None:
        if self.app is None:
            return
        want = "index" if isinstance(s, ast.IndexMapStmt) else "single"
        for t in s.tasks:
            info = self.app.tasks.get(t.name)
            if info is not None and info.launch != want:
                other = "SingleTaskMap" if want == "index" else "IndexTaskMap"
                self.err("W405", t, f"task '{t.name}' is launched as a {info.launch} task; this map never applies to it",
                         f"{other} {t.name} {s.func.name};")

    # ------------------------------------------------------------ shadowing
    def shadowing(self, stmts) -> None:
        """Among equally specific statements the first wins (published meaning): warn on the later ones."""
        first: dict[tuple, ast.Node] = {}
        for s in stmts:
            for key in _stmt_keys(s):
                if key in first:
                    earlier = first[key]
                    self.err("W401", s, f"the statement at line {earlier.line} already decides this and wins; "
                             "this one never applies", f"delete it, or merge it into line {earlier.line}: "
                             f"{self.src(earlier.line).strip()}")
                    break
            for key in _stmt_keys(s):
                first.setdefault(key, s)
        # Task lists: shadowed when every task is named by an earlier statement of the same kind.
        for kind in (ast.IndexMapStmt, ast.SingleMapStmt, ast.TaskStealStmt, ast.ControlReplicateStmt):
            covered: dict[str, int] = {}
            for s in [s for s in stmts if isinstance(s, kind)]:
                names = [t.name for t in s.tasks]
                if names and all(n in covered for n in names):
                    lines = sorted({covered[n] for n in names})
                    self.err("W401", s, f"every task here is mapped by an earlier statement (line {', '.join(map(str, lines))}), "
                             "which wins; this statement never applies",
                             f"delete it, or merge it into line {lines[0]}: {self.src(lines[0]).strip()}")
                for n in names:
                    covered.setdefault(n, s.line)

    # ------------------------------------------------------------ functions and expressions
    def func_type(self, name: str, at: ast.Node) -> str:
        info = self.funcs.get(name)
        if info is None:
            return ANY
        if info.ret is not None:
            return info.ret
        if info.busy:
            self.err("E220", at, f"function '{name}' calls itself (directly or not); recursion is not allowed",
                     "compute the value with a tuple comprehension or a conditional instead")
            return ANY
        info.busy = True
        f = info.node
        scope: dict[str, str] = {}
        for p in f.params:
            if p.type not in PARAM_TYPES:
                self.err("E216", p, f"unknown parameter type '{p.type}'",
                         self.suggest(p, p.type, PARAM_TYPES, "a type"))
            if p.name in scope:
                self.err("E210", p, f"parameter '{p.name}' appears twice", self.replaced(p, p.name, p.name + "2"))
            scope[p.name] = PARAM_VALUE_TYPE.get(p.type, ANY)
        ret: str | None = None
        returned = False
        for st in f.body:
            if returned:
                self.err("W403", st, "this statement comes after 'return' and never runs", "delete it")
                continue
            if isinstance(st, ast.Assign):
                n = st.name.name
                if n in self.all_globals and n not in scope:
                    self.err("E218", st.name, f"'{n}' is a global; globals are read-only inside functions",
                             self.replaced(st.name, n, n + "_local"))
                scope[n] = self.expr(st.expr, scope)
            elif isinstance(st, ast.Return):
                t = self.expr(st.expr, scope)
                ret = t if ret in (None, t) else ANY
                returned = True
            elif isinstance(st, ast.Print):
                self.print_stmt(st, scope)
        if not returned:
            self.err("E217", f.name, f"function '{name}' has no 'return' at the end",
                     "end the body with: return EXPR;")
        info.busy = False
        info.ret = ret or ANY
        return info.ret

    def print_stmt(self, st: ast.Print, scope: dict[str, str], in_global: bool = False) -> None:
        for a in st.args:
            self.expr(a, scope, in_global)
        holes = st.fmt.count("{}")
        if holes != len(st.args):
            self.err("W404", st, f"print has {holes} '{{}}' but {len(st.args)} argument(s)",
                     'print("' + " ".join(["{}"] * len(st.args)) + '"' + "".join(", ..." for _ in st.args) + ");")

    def name_type(self, e: ast.Name, scope: dict[str, str], in_global: bool) -> str:
        if e.id in scope:
            return scope[e.id]
        if e.id in self.globals:
            return self.globals[e.id]
        if in_global and e.id in self.all_globals:
            self.err("E201", e, f"global '{e.id}' is used before it is defined", "define it on an earlier line")
            return ANY
        if e.id in KIND_WORDS:
            return "kind"
        if not in_global and e.id in self.all_globals:
            return ANY
        known = list(scope) + list(self.globals)
        hint = self.suggest(e, e.id, known, f"'{e.id}'") if known else f"define it first: {e.id} = ...;"
        self.err("E201", e, f"'{e.id}' is not defined", hint)
        return ANY

    def expr(self, e, scope: dict[str, str], in_global: bool = False) -> str:
        """Checks an expression and returns its type (ANY when not known statically)."""
        check = _EXPR_CHECKS.get(type(e))
        return ANY if check is None else check(self, e, scope, in_global)

    # One method per expression node, chosen by the node's type (see _EXPR_CHECKS).
    def _int_lit(self, e: ast.IntLit, scope: dict[str, str], in_global: bool) -> str:
        return "int"

    def _bool_lit(self, e: ast.BoolLit, scope: dict[str, str], in_global: bool) -> str:
        return "bool"

    def _tuple(self, e: ast.TupleExpr, scope: dict[str, str], in_global: bool) -> str:
        for item in e.items:
            if isinstance(item, ast.Splat):
                self.expr(item, scope, in_global)
            else:
                self.want(item, self.expr(item, scope, in_global), ("int",), "a tuple element")
        return "tuple"

    def _splat(self, e: ast.Splat, scope: dict[str, str], in_global: bool) -> str:
        self.want(e.expr, self.expr(e.expr, scope, in_global), ("tuple", "int"), "'*' unpacking")
        return "splat"

    def _unary(self, e: ast.Unary, scope: dict[str, str], in_global: bool) -> str:
        t = self.expr(e.operand, scope, in_global)
        if e.op == "-":
            self.want(e.operand, t, ("int", "tuple"), "'-'")
            return t if t != "bool" else ANY
        self.want(e.operand, t, ("bool", "int"), "'!'")
        return "bool"

    def _binary(self, e: ast.Binary, scope: dict[str, str], in_global: bool) -> str:
        a = self.expr(e.left, scope, in_global)
        return self.binary(e, a, self.expr(e.right, scope, in_global))

    def _cond(self, e: ast.Cond, scope: dict[str, str], in_global: bool) -> str:
        self.want(e.cond, self.expr(e.cond, scope, in_global), ("bool", "int"), "a condition")
        a, b = self.expr(e.then, scope, in_global), self.expr(e.else_, scope, in_global)
        return a if a == b else ANY

    def _attr(self, e: ast.Attr, scope: dict[str, str], in_global: bool) -> str:
        return self.attr(e, self.expr(e.obj, scope, in_global))

    def _method(self, e: ast.Method, scope: dict[str, str], in_global: bool) -> str:
        if e.name == "has":
            return self.has(e, scope, in_global)
        t = self.expr(e.obj, scope, in_global)
        return self.method(e, t, [self.expr(a, scope, in_global) for a in e.args])

    def _call(self, e: ast.Call, scope: dict[str, str], in_global: bool) -> str:
        return self.call(e, [self.expr(a, scope, in_global) for a in e.args])

    def _machine(self, e: ast.MachineExpr, scope: dict[str, str], in_global: bool) -> str:
        if e.kind not in PROCESSOR_KINDS:
            self.err("E202", e, f"Machine needs a processor kind, not '{e.kind}'",
                     self.replaced(e, f"Machine({e.kind})", f"Machine({(nearest(e.kind, PROCESSOR_KINDS) or ['GPU'])[0]})"))
        return "space"

    def _index(self, e: ast.Index, scope: dict[str, str], in_global: bool) -> str:
        return self.index(e, self.expr(e.obj, scope, in_global), scope, in_global)

    def _slice(self, e: ast.Slice, scope: dict[str, str], in_global: bool) -> str:
        t = self.expr(e.obj, scope, in_global)
        self.want(e.obj, t, ("tuple", "space"), "slicing")
        for b in (e.lo, e.hi):
            if b is not None:
                self.want(b, self.expr(b, scope, in_global), ("int",), "a slice bound")
        return "tuple"

    def _comprehension(self, e: ast.Comprehension, scope: dict[str, str], in_global: bool) -> str:
        self.want(e.iter, self.expr(e.iter, scope, in_global), ("tuple",), "'for ... in'")
        inner = dict(scope)
        inner[e.var] = "int"
        self.want(e.body, self.expr(e.body, inner, in_global), ("int",), "a tuple element")
        return "tuple"

    def want(self, node: ast.Node, got: str, ok: tuple[str, ...], where: str) -> None:
        if got == ANY or got in ok:
            return
        words = " or ".join(TYPE_WORDS[t] for t in ok)
        self.err("E208", node, f"{where} needs {words}, but this is {TYPE_WORDS[got]}",
                 "use .size for a machine space's extents, .ipoint/.ispace for a task's point and domain")

    def binary(self, e: ast.Binary, a: str, b: str) -> str:
        op = e.op
        if op in ("&&", "||"):
            self.want(e.left, a, ("bool", "int"), f"'{op}'")
            self.want(e.right, b, ("bool", "int"), f"'{op}'")
            return "bool"
        if op in ("==", "!="):
            if ANY not in (a, b) and a != b:
                self.err("E208", e, f"'{op}' compares {TYPE_WORDS[a]} with {TYPE_WORDS[b]}", "compare values of one type")
            return "bool"
        if op in ("<", "<=", ">", ">="):
            self.want(e.left, a, ("int",), f"'{op}'")
            self.want(e.right, b, ("int",), f"'{op}'")
            return "bool"
        self.want(e.left, a, ("int", "tuple"), f"'{op}'")
        self.want(e.right, b, ("int", "tuple"), f"'{op}'")
        if op in ("/", "%") and isinstance(e.right, ast.IntLit) and e.right.value == 0:
            self.err("E307", e.right, "division by zero", self.replaced(e.right, "0", "1"))
        if "tuple" in (a, b):
            return "tuple"
        return "int" if (a, b) == ("int", "int") else ANY

    def attr(self, e: ast.Attr, t: str) -> str:
        n = e.name
        table = {"task": TASK_ATTRS, "tuple": TUPLE_ATTRS, "space": SPACE_ATTRS}
        if t == ANY:
            if n in TASK_ATTRS + TUPLE_ATTRS + SPACE_ATTRS:
                return {"ipoint": "tuple", "ispace": "tuple", "parent": "task", "volume": "int",
                        "len": "int", "size": "tuple"}.get(n, ANY)
            self.err("E209", e, f"unknown attribute '.{n}'",
                     self.suggest(e, n, set(TASK_ATTRS + TUPLE_ATTRS + SPACE_ATTRS), "an attribute"))
            return ANY
        names = table.get(t, ())
        if n not in names:
            if n in TRANSFORMS or n == "processor":
                self.err("E209", e, f"'{n}' is a method; call it with arguments", f"...{n}(...)")
            else:
                self.err("E209", e, f"{TYPE_WORDS[t]} has no attribute '.{n}'",
                         f"use one of: {', '.join('.' + x for x in names)}" if names else "remove the attribute")
            return ANY
        if t == "task":
            return "task" if n == "parent" else "tuple"
        if n == "size":
            return "tuple"
        return "int"

    def method(self, e: ast.Method, t: str, args: list[str]) -> str:
        n = e.name
        if n == "processor":
            self.want(e.obj, t, ("task",), "'.processor(m)'")
            self.arity(e, n, 1, len(args))
            if args:
                self.want(e.args[0], args[0], ("space",), "'.processor(m)'")
            return "tuple"
        if n not in TRANSFORMS:
            self.err("E209", e, f"unknown method '.{n}()'",
                     self.suggest(e, n, list(TRANSFORMS) + ["processor"], "a method"))
            return ANY
        self.want(e.obj, t, ("space",), f"'.{n}()'")
        self.arity(e, n, TRANSFORMS[n], len(args))
        for i, (a, at) in enumerate(zip(e.args, args)):
            want = ("tuple",) if (n in ("auto_split", "greedy_split") and i == 1) else ("int",)
            self.want(a, at, want, f"argument {i + 1} of '.{n}()'")
        if n == "balance_split" and len(e.args) == 2 and isinstance(e.args[1], ast.IntLit) and e.args[1].value not in (2, 3):
            self.err("E305", e.args[1], f"balance_split splits into 2 or 3 dimensions, not {e.args[1].value}",
                     self.replaced(e.args[1], str(e.args[1].value), "2"))
        return "space"

    def has(self, e: ast.Method, scope: dict[str, str], in_global: bool) -> str:
        """`m[i].has(MEM)` (processor i of m's kind on this node) or `m[i, j].has(MEM)`."""
        obj = e.obj
        if isinstance(obj, ast.Index) and len(obj.items) == 1 and obj.items[0].kind == "expr":
            self.want(obj.obj, self.expr(obj.obj, scope, in_global), ("space",), "'.has()'")
            self.want(obj.items[0].expr, self.expr(obj.items[0].expr, scope, in_global), ("int",), "an index")
        else:
            self.want(obj, self.expr(obj, scope, in_global), ("proc",), "'.has()'")
        self.arity(e, "has", 1, len(e.args))
        if e.args:
            a = e.args[0]
            if not (isinstance(a, ast.Name) and a.id in MEMORY_KINDS and a.id not in scope and a.id not in self.globals):
                self.err("E203", a, "'.has()' takes a memory kind", self.replaced(a, fmt_text(a), "FBMEM"))
        return "bool"

    def arity(self, e: ast.Node, name: str, want: int, got: int) -> None:
        if want != got:
            self.err("E207", e, f"'{name}' takes {want} argument(s), but {got} were given",
                     f"{name}({', '.join(['...'] * want)})")

    def call(self, e: ast.Call, args: list[str]) -> str:
        info = self.funcs.get(e.func)
        if info is None:
            hint = self.suggest(e, e.func, self.funcs, f"function '{e.func}'") if self.funcs else f"def {e.func}(...) {{ ... }}"
            self.err("E201", e, f"function '{e.func}' is not defined", hint)
            return ANY
        info.used = True
        params = info.node.params
        if "splat" in args:
            return self.func_type(e.func, e)
        if len(params) != len(args):
            self.err("E207", e, f"'{e.func}' takes {len(params)} argument(s), but {len(args)} were given",
                     f"{e.func}({', '.join(p.name for p in params)})")
        for p, a, at in zip(params, e.args, args):
            if p.type in PARAM_VALUE_TYPE:
                self.want(a, at, (PARAM_VALUE_TYPE[p.type],), f"parameter '{p.name}' of '{e.func}'")
        return self.func_type(e.func, e)

    def index(self, e: ast.Index, t: str, scope, in_global: bool) -> str:
        kinds = [it.kind for it in e.items]
        for it in e.items:
            if it.expr is not None:
                at = self.expr(it.expr, scope, in_global)
                self.want(it.expr, at, ("tuple", "int") if it.kind == "splat" else ("int",),
                          "'*' splat" if it.kind == "splat" else "an index")
        if t == "tuple":
            if kinds != ["expr"]:
                self.err("E208", e, "a tuple takes exactly one integer index", self.src(e.line).strip())
            return "int"
        if t == "space":
            if "splat" not in kinds and len(kinds) != 2 and isinstance(e.obj, ast.MachineExpr):
                self.err("E208", e, f"Machine(...) has 2 dimensions, but {len(kinds)} indices were given",
                         "index it as m[node, processor]")
            return "procset" if "all" in kinds else "proc"
        if t != ANY:
            self.want(e.obj, t, ("tuple", "space"), "indexing")
        return "procset" if "all" in kinds else ANY


_ALIGN_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge}


_EXPR_CHECKS = {
    ast.IntLit: _Checker._int_lit, ast.BoolLit: _Checker._bool_lit, ast.Name: _Checker.name_type,
    ast.TupleExpr: _Checker._tuple, ast.Unary: _Checker._unary, ast.Binary: _Checker._binary,
    ast.Cond: _Checker._cond, ast.Attr: _Checker._attr, ast.Method: _Checker._method,
    ast.Call: _Checker._call, ast.MachineExpr: _Checker._machine, ast.Index: _Checker._index,
    ast.Slice: _Checker._slice, ast.Comprehension: _Checker._comprehension, ast.Splat: _Checker._splat,
}
_OPPOSITE = {"SOA": "AOS", "AOS": "SOA", "C_order": "F_order", "F_order": "C_order"}
# Memory kinds a processor kind's instances can live in (for matching a Layout's memory target).
_REACH = {"GPU": ("FBMEM", "ZCMEM"), "CPU": ("SYSMEM", "ZCMEM", "SOCKMEM", "RDMEM"),
          "OMP": ("SYSMEM", "ZCMEM", "SOCKMEM", "RDMEM"), "IO": ("SYSMEM",), "PY": ("SYSMEM",), "PROC": ("SYSMEM",)}


def fmt_text(e) -> str:
    from hpcmap.dsl.fmt import expr

    return expr(e)


def _target_reaches(target: str, variant: str) -> bool:
    """Whether a Layout with this target can apply to instances of a task running as `variant`."""
    return target in ("*", variant) or target in _REACH.get(variant, ())


def _region_name(r: ast.RegionRef, info) -> str:
    if isinstance(r, ast.RegionIndex):
        return info.regions[r.index] if r.index < len(info.regions) else "*"
    return r.name


def _children(e) -> list:
    """The sub-expressions of an expression node."""
    if isinstance(e, ast.TupleExpr):
        return list(e.items)
    if isinstance(e, (ast.Unary,)):
        return [e.operand]
    if isinstance(e, ast.Binary):
        return [e.left, e.right]
    if isinstance(e, ast.Cond):
        return [e.cond, e.then, e.else_]
    if isinstance(e, ast.Attr):
        return [e.obj]
    if isinstance(e, ast.Method):
        return [e.obj, *e.args]
    if isinstance(e, ast.Call):
        return list(e.args)
    if isinstance(e, ast.Index):
        return [e.obj, *(i.expr for i in e.items if i.expr is not None)]
    if isinstance(e, ast.Slice):
        return [x for x in (e.obj, e.lo, e.hi) if x is not None]
    if isinstance(e, ast.Comprehension):
        return [e.body, e.iter]
    if isinstance(e, ast.Splat):
        return [e.expr]
    return []


def _stmt_ints(stmts):
    """(node, value) of every integer written in a statement (region index, Align, InstanceLimit)."""
    for s in stmts:
        region = getattr(s, "region", None)
        if isinstance(region, ast.RegionIndex):
            yield region, region.index
        if isinstance(s, ast.InstanceLimitStmt):
            yield s, s.limit
        if isinstance(s, ast.LayoutStmt):
            yield from ((c, c.value) for c in s.constraints if c.value is not None)


def _stmt_exprs(stmts):
    """Every top-level expression of the program (global values, print arguments, function bodies)."""
    for s in stmts:
        if isinstance(s, ast.GlobalAssign):
            yield s.expr
        elif isinstance(s, ast.Print):
            yield from s.args
        elif isinstance(s, ast.FuncDef):
            for st in s.body:
                yield from (st.args if isinstance(st, ast.Print) else [st.expr])


def _aligns_satisfiable(aligns: list[ast.Constraint]) -> bool:
    """Whether some byte count in [1, top) meets every Align comparison.

    The smallest such count, if any, is 1, a compared value v or v + 1, so only those are tried.
    """
    top = max((c.value or 0) for c in aligns) * 2 + 2
    bounded = [(_ALIGN_OPS[c.op], c.value) for c in aligns if c.value is not None]
    candidates = {1} | {c.value + d for c in aligns if c.value is not None for d in (0, 1)}
    return any(all(op(v, value) for op, value in bounded) for v in sorted(candidates) if 1 <= v < top)


def _region_key(r: ast.RegionRef):
    return ("#", r.index) if isinstance(r, ast.RegionIndex) else r.name


def _stmt_keys(s) -> list[tuple]:
    """What a statement decides: two statements with a common key compete (the first wins)."""
    if isinstance(s, ast.TaskStmt):
        return [("Task", t.name) for t in s.tasks]
    if isinstance(s, ast.RegionStmt):
        return [("Region", s.task.name, _region_key(s.region), s.proc.name)]
    if isinstance(s, ast.LayoutStmt):
        return [("Layout", s.task.name, _region_key(s.region), s.target.name)]
    if isinstance(s, ast.InstanceLimitStmt):
        return [("InstanceLimit", s.task.name)]
    if isinstance(s, ast.CollectStmt):
        return [("CollectMemory", s.task.name, _region_key(s.region))]
    return []


@with_depth_room
def check(program: ast.Program, text: str, app: AppInfo | None = None) -> list[Diagnostic]:
    """All static diagnostics of a parsed program, sorted by position."""
    return _Checker(program, text, app).run()


def check_text(text: str, source: str = "<string>", app: AppInfo | None = None):
    """Parse and check: (program or None, all diagnostics sorted by position)."""
    from hpcmap.dsl.parser import parse

    result = parse(text, source)
    diags = list(result.diagnostics)
    if result.program is not None:
        diags += check(result.program, text, app)
    return result.program, sorted(diags, key=sort_key)

"""Canonical formatting of a mapper: one statement per line, 4-space bodies, comments kept.

Formatting is a pure function of the syntax tree and its comments, so `fmt(fmt(x)) == fmt(x)` and
the formatted text parses to the same tree.
"""
from __future__ import annotations

from hpcmap.dsl import ast
from hpcmap.dsl.limits import with_depth_room

# Binding strength of each binary operator (higher binds tighter).
_PREC = {"||": 2, "&&": 3, "==": 4, "!=": 4, "<": 5, "<=": 5, ">": 5, ">=": 5,
         "+": 6, "-": 6, "*": 7, "/": 7, "%": 7}
_COND, _UNARY, _POSTFIX = 1, 8, 9


def expr(e, parent: int = 0) -> str:
    """Text of an expression, parenthesised only where precedence needs it."""
    text, prec = _expr(e)
    return f"({text})" if prec < parent else text


def _expr(e) -> tuple[str, int]:
    if isinstance(e, ast.IntLit):
        return str(e.value), (_UNARY if e.value < 0 else _POSTFIX)
    if isinstance(e, ast.BoolLit):
        return ("True" if e.value else "False"), _POSTFIX
    if isinstance(e, ast.Name):
        return e.id, _POSTFIX
    if isinstance(e, ast.TupleExpr):
        inner = ", ".join(expr(i) for i in e.items)
        return (f"({inner},)" if len(e.items) == 1 else f"({inner})"), _POSTFIX
    if isinstance(e, ast.Unary):
        operand = expr(e.operand, _UNARY)
        if e.op == "-" and (operand.startswith("-")):
            operand = f"({operand})"
        return f"{e.op}{operand}", _UNARY
    if isinstance(e, ast.Binary):
        p = _PREC[e.op]
        return f"{expr(e.left, p)} {e.op} {expr(e.right, p + 1)}", p
    if isinstance(e, ast.Cond):
        return f"{expr(e.cond, _COND + 1)} ? {expr(e.then)} : {expr(e.else_)}", _COND
    if isinstance(e, ast.Attr):
        return f"{expr(e.obj, _POSTFIX)}.{e.name}", _POSTFIX
    if isinstance(e, ast.Method):
        return f"{expr(e.obj, _POSTFIX)}.{e.name}({', '.join(expr(a) for a in e.args)})", _POSTFIX
    if isinstance(e, ast.Call):
        return f"{e.func}({', '.join(expr(a) for a in e.args)})", _POSTFIX
    if isinstance(e, ast.MachineExpr):
        return f"Machine({e.kind})", _POSTFIX
    if isinstance(e, ast.Index):
        return f"{expr(e.obj, _POSTFIX)}[{', '.join(_item(i) for i in e.items)}]", _POSTFIX
    if isinstance(e, ast.Slice):
        lo = "" if e.lo is None else expr(e.lo)
        hi = "" if e.hi is None else expr(e.hi)
        return f"{expr(e.obj, _POSTFIX)}[{lo}:{hi}]", _POSTFIX
    if isinstance(e, ast.Comprehension):
        return f"tuple({expr(e.body)} for {e.var} in {expr(e.iter)})", _POSTFIX
    if isinstance(e, ast.Splat):
        return "*" + expr(e.expr, _UNARY), _UNARY
    raise TypeError(type(e).__name__)


def _item(i: ast.IndexItem) -> str:
    if i.kind == "all":
        return "*"
    if i.kind == "splat":
        return "*" + expr(i.expr, _UNARY)
    return expr(i.expr)


def _region(r: ast.RegionRef) -> str:
    return str(r.index) if isinstance(r, ast.RegionIndex) else r.name


def _names(ids: list[ast.Ident]) -> str:
    return ",".join(i.name for i in ids)


def _constraint(c: ast.Constraint) -> str:
    return c.name if c.op is None else f"{c.name}{c.op}{c.value}"


def _print(s: ast.Print) -> str:
    args = "".join(", " + expr(a) for a in s.args)
    return f'print("{s.fmt}"{args});'


def statement(s) -> str:
    """One top-level statement (not a function definition) as a line."""
    if isinstance(s, ast.TaskStmt):
        return f"Task {_names(s.tasks)} {_names(s.kinds)};"
    if isinstance(s, ast.RegionStmt):
        return f"Region {s.task.name} {_region(s.region)} {s.proc.name} {_names(s.mems)};"
    if isinstance(s, ast.LayoutStmt):
        cons = "".join(" " + _constraint(c) for c in s.constraints)
        return f"Layout {s.task.name} {_region(s.region)} {s.target.name}{cons};"
    if isinstance(s, ast.InstanceLimitStmt):
        kind = f" {s.kind.name}" if s.kind is not None else ""
        return f"InstanceLimit {s.task.name}{kind} {s.limit};"
    if isinstance(s, ast.CollectStmt):
        return f"CollectMemory {s.task.name} {_region(s.region)};"
    if isinstance(s, ast.IndexMapStmt):
        space = f" {s.space.name}" if s.space is not None else ""
        return f"IndexTaskMap {_names(s.tasks)}{space} {s.func.name};"
    if isinstance(s, ast.SingleMapStmt):
        return f"SingleTaskMap {_names(s.tasks)} {s.func.name};"
    if isinstance(s, ast.ControlReplicateStmt):
        return f"ControlReplicate {_names(s.tasks)};"
    if isinstance(s, ast.TaskStealStmt):
        return f"TaskSteal {_names(s.tasks)} {s.scope.name};"
    if isinstance(s, ast.GlobalAssign):
        return f"{s.name.name} = {expr(s.expr)};"
    if isinstance(s, ast.Print):
        return _print(s)
    raise TypeError(type(s).__name__)


def _body_stmt(s) -> str:
    if isinstance(s, ast.Assign):
        return f"{s.name.name} = {expr(s.expr)};"
    if isinstance(s, ast.Return):
        return f"return {expr(s.expr)};"
    return _print(s)


class _Writer:
    """Emits lines and places each comment before, or at the end of, the code it was next to."""

    def __init__(self, comments: list[ast.Comment]):
        self.comments = sorted(comments, key=lambda c: (c.line, c.col))
        self.k = 0
        self.lines: list[str] = []

    def leading(self, line: int, indent: str) -> None:
        while self.k < len(self.comments) and self.comments[self.k].line < line:
            self.lines.append(indent + self.comments[self.k].text)
            self.k += 1

    def emit(self, text: str, line: int, end_line: int, indent: str = "") -> None:
        self.leading(line, indent)
        trailing = []
        while self.k < len(self.comments) and self.comments[self.k].line <= end_line:
            trailing.append(self.comments[self.k].text)
            self.k += 1
        self.lines.append(indent + text + "".join("  " + c for c in trailing))

    def rest(self) -> None:
        self.lines.extend(c.text for c in self.comments[self.k:])
        self.k = len(self.comments)


def upgrade(program: ast.Program) -> ast.Program:
    """The program with every `IndexTaskMap TASKS SPACE FUNC;` of the earlier dialect rewritten to
    the current form: a `def FUNC_SPACE(Task task)` (one per FUNC and SPACE, placed before its
    first use) and `IndexTaskMap TASKS FUNC_SPACE;`."""
    from hpcmap.dsl.ir import upgraded_function

    taken = {s.name.name for s in program.stmts if isinstance(s, ast.FuncDef)}
    taken |= {s.name.name for s in program.stmts if isinstance(s, ast.GlobalAssign)}
    made: dict[tuple[str, str], str] = {}
    stmts: list = []
    for s in program.stmts:
        if not (isinstance(s, ast.IndexMapStmt) and s.space is not None):
            stmts.append(s)
            continue
        key = (s.func.name, s.space.name)
        if key not in made:
            name, k = f"{s.func.name}_{s.space.name}", 2
            while name in taken:
                name, k = f"{s.func.name}_{s.space.name}_{k}", k + 1
            taken.add(name)
            made[key] = name
            f = upgraded_function(s, name)
            # Just before the statement: comments above it go above the def, its own stay with it.
            f.line = f.end_line = s.line - 0.5
            for st in f.body:
                st.line = st.end_line = f.line
            stmts.append(f)
        stmts.append(ast.IndexMapStmt(s.tasks, ast.Ident(made[key]), line=s.line, col=s.col, end_line=s.end_line))
    return ast.Program(program.source, stmts, program.comments, line=program.line, col=program.col,
                       end_line=program.end_line)


@with_depth_room
def format_program(program: ast.Program) -> str:
    w = _Writer(program.comments)
    prev = None
    for s in program.stmts:
        is_def = isinstance(s, ast.FuncDef)
        if w.lines and (is_def or isinstance(prev, ast.FuncDef) or _group(s) != _group(prev)):
            w.lines.append("")
        if is_def:
            params = ", ".join(f"{p.type} {p.name}" for p in s.params)
            w.emit(f"def {s.name.name}({params}) {{", s.line, s.line)
            for st in s.body:
                w.emit(_body_stmt(st), st.line, st.end_line, "    ")
            w.leading(s.end_line, "    ")
            w.emit("}", s.end_line, s.end_line)
        else:
            w.emit(statement(s), s.line, s.end_line)
        prev = s
    w.rest()
    text = "\n".join(w.lines).rstrip("\n")
    return text + "\n" if text else ""


def _group(s) -> str:
    """Statements of one group stay together; a blank line separates groups."""
    if s is None:
        return ""
    if isinstance(s, (ast.GlobalAssign,)):
        return "global"
    if isinstance(s, (ast.IndexMapStmt, ast.SingleMapStmt)):
        return "map"
    return "policy"

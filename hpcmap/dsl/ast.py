"""The mapper language's syntax tree: small dataclasses, each keeping its source line and column.

Positions are 1-based. `end_line` is the last line a node spans, so diagnostics and the formatter
can place trailing comments.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(kw_only=True)
class Node:
    """Base of every tree node: where it starts (and ends) in the source."""

    line: int = 0
    col: int = 0
    end_line: int = 0


# ------------------------------------------------------------------ expressions
@dataclass
class IntLit(Node):
    value: int


@dataclass
class BoolLit(Node):
    value: bool


@dataclass
class Name(Node):
    """A variable reference (local, parameter or global)."""

    id: str


@dataclass
class TupleExpr(Node):
    items: list[Expr]


@dataclass
class Unary(Node):
    op: str  # "-" or "!"
    operand: Expr


@dataclass
class Binary(Node):
    op: str  # + - * / % == != < <= > >= && ||
    left: Expr
    right: Expr


@dataclass
class Cond(Node):
    cond: Expr
    then: Expr
    else_: Expr


@dataclass
class Attr(Node):
    obj: Expr
    name: str


@dataclass
class Method(Node):
    obj: Expr
    name: str
    args: list[Expr]


@dataclass
class Call(Node):
    func: str
    args: list[Expr]


@dataclass
class MachineExpr(Node):
    kind: str


@dataclass
class IndexItem(Node):
    kind: str  # "expr", "splat" (*t) or "all" (*)
    expr: Expr | None = None


@dataclass
class Index(Node):
    obj: Expr
    items: list[IndexItem]


@dataclass
class Slice(Node):
    obj: Expr
    lo: Expr | None
    hi: Expr | None


@dataclass
class Splat(Node):
    """`*t` in a tuple or a call's arguments: the elements of tuple t, in place."""

    expr: Expr


@dataclass
class Comprehension(Node):
    """`tuple(body for var in iter)`."""

    body: Expr
    var: str
    iter: Expr


Expr = Union[
    IntLit, BoolLit, Name, TupleExpr, Unary, Binary, Cond, Attr, Method, Call, MachineExpr,
    Index, Slice, Comprehension, Splat,
]


# ------------------------------------------------------------------ statements
@dataclass
class Ident(Node):
    """A name in a statement (task, region, kind, function); `*` is the wildcard."""

    name: str

    @property
    def is_star(self) -> bool:
        return self.name == "*"


@dataclass
class RegionIndex(Node):
    """A region given by its 0-based index in the task's region requirements."""

    index: int


RegionRef = Union[Ident, RegionIndex]


@dataclass
class TaskStmt(Node):
    tasks: list[Ident]
    kinds: list[Ident]


@dataclass
class RegionStmt(Node):
    task: Ident
    region: RegionRef
    proc: Ident
    mems: list[Ident]


@dataclass
class Constraint(Node):
    name: str
    op: str | None = None  # only for Align
    value: int | None = None


@dataclass
class LayoutStmt(Node):
    task: Ident
    region: RegionRef
    target: Ident
    constraints: list[Constraint]


@dataclass
class InstanceLimitStmt(Node):
    task: Ident
    limit: int
    kind: Ident | None = None  # the earlier form `InstanceLimit TASK KIND N`


@dataclass
class CollectStmt(Node):
    task: Ident
    region: RegionRef


@dataclass
class IndexMapStmt(Node):
    tasks: list[Ident]
    func: Ident
    space: Ident | None = None  # the earlier dialect `IndexTaskMap TASKS SPACE FUNC`


@dataclass
class SingleMapStmt(Node):
    tasks: list[Ident]
    func: Ident


@dataclass
class ControlReplicateStmt(Node):
    tasks: list[Ident]


@dataclass
class TaskStealStmt(Node):
    tasks: list[Ident]
    scope: Ident


@dataclass
class GlobalAssign(Node):
    name: Ident
    expr: Expr


@dataclass
class Print(Node):
    fmt: str  # the format string without quotes, escapes kept as written
    args: list[Expr]


@dataclass
class Param(Node):
    type: str
    name: str


@dataclass
class Assign(Node):
    name: Ident
    expr: Expr


@dataclass
class Return(Node):
    expr: Expr


BodyStmt = Union[Assign, Return, Print]


@dataclass
class FuncDef(Node):
    name: Ident
    params: list[Param]
    body: list[BodyStmt]


Stmt = Union[
    TaskStmt, RegionStmt, LayoutStmt, InstanceLimitStmt, CollectStmt, IndexMapStmt,
    SingleMapStmt, ControlReplicateStmt, TaskStealStmt, GlobalAssign, Print, FuncDef,
]


@dataclass
class Comment(Node):
    text: str


@dataclass
class Program(Node):
    source: str
    stmts: list[Stmt]
    comments: list[Comment] = field(default_factory=list)

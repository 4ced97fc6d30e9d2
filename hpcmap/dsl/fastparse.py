"""A fast parser for well-formed mapper text: one-regex tokenizer and recursive descent.

The specification is `mapper.lark`; this module accepts a subset of its language (every
well-formed program that spells no keyword as a name) and builds the same `ast` nodes, with the
same positions, as the lark path in `parser.py`. It gives no diagnostics: on anything it does
not accept it raises `FastParseError`, and `parser.parse()` falls back to lark, which explains
the problem. Lark costs a few hundred microseconds a line; this path costs a few microseconds.

Positions follow lark's `propagate_positions`: a node starts where its first child starts and
ends on the line where its last child ends, and a parenthesised expression, seen as a child,
spans its parentheses (the node itself keeps its own position).
"""
from __future__ import annotations

import re
import string
from typing import NoReturn

from hpcmap.dsl import ast

# Terminals of mapper.lark as written there, and its operators. Its WS is [ \t\f\r\n]+.
COMMENT = r"(#|\/\/)[^\n]*"
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
INT = r"[0-9]+"
STRING = r'"([^"\\\n]|\\.)*"'
OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "<", ">", "=", "!",
             "?", ":", ";", ",", ".", "(", ")", "[", "]", "{", "}")

# Every string terminal of mapper.lark spelled like a name. Where the grammar wants a name, these
# words are refused here (lark's contextual lexer may read some of them as names; it decides).
KEYWORDS = frozenset({
    "Task", "Region", "Layout", "InstanceLimit", "CollectMemory", "IndexTaskMap", "SingleTaskMap",
    "ControlReplicate", "TaskSteal", "def", "return", "print", "True", "False", "Machine", "tuple",
    "for", "in",
})


def _noncapturing(pattern: str) -> str:
    """The pattern with its groups made non-capturing, so that findall returns whole tokens."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


# One line's tokens, each with the blanks before it. Lines are split first: no token spans a
# line, so the line number comes free and the column is a running sum. The alternatives start with
# distinct characters except COMMENT and '/', and '==' and '=' (longest first, as lark does); the
# commonest come first. Any other character is a token of its own, refused by tokenize().
_TOKEN_RE = re.compile("([ \t\f\r]*)(" + "|".join([
    NAME,
    r"[-+*%?:;,.()\[\]{}]",  # the one-character operators but / = ! < >
    INT,
    r"[=!<>]=?",  # == != <= >= = ! < >
    _noncapturing(COMMENT),
    "/",
    "&&",
    r"\|\|",
    _noncapturing(STRING),
    r"[^ \t\f\r]",
]) + ")")
_FIXED = {word: word for word in (*OPERATORS, *KEYWORDS)}
_NAME_START = frozenset(string.ascii_letters + "_")
_DIGITS = frozenset(string.digits)

# Binary operators and their precedence (mapper.lark's or_expr ... mul_expr), all left-associative.
_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4,
               "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_PREFIX_OPS = frozenset({"-", "!"})
_CMP_OPS = frozenset({"==", "!=", "<=", ">=", "<", ">"})
END = "$END"

# An expression as its parent sees it: (node, line, col, end_line) of its outermost parentheses,
# or of the node itself when it is not parenthesised.
Spanned = tuple


class FastParseError(Exception):
    """The text is outside what the fast path accepts; the lark path decides what it is."""


class _Kinds(dict):
    """Token text -> kind: operators and keywords preset, other texts classified when first seen."""

    def __missing__(self, tok: str) -> str:
        first = tok[0]
        if first in _NAME_START:
            kind = "NAME"
        elif first in _DIGITS:
            kind = "INT"
        elif first == '"' and len(tok) > 1:
            kind = "STRING"
        elif first == "#" or first == "/":
            kind = "COMMENT"
        else:
            raise FastParseError(f"unexpected character {tok!r}")
        self[tok] = kind
        return kind


def tokenize(text: str) -> tuple[list[str], list[str], list[int], list[int], list[ast.Comment]]:
    """Token kinds, texts, lines and columns (1-based), plus the comments.

    A kind is the operator or keyword itself, or NAME, INT, STRING; the lists end with END.
    """
    kinds: list[str] = []
    texts: list[str] = []
    line_nos: list[int] = []
    cols: list[int] = []
    comments: list[ast.Comment] = []
    kind_of = _Kinds(_FIXED)
    lines = text.split("\n")
    for line_no, line in enumerate(lines, 1):
        col = 1
        for blank, tok in _TOKEN_RE.findall(line):
            col += len(blank)
            kind = kind_of[tok]
            if kind == "COMMENT":
                comments.append(ast.Comment(tok.rstrip(), line=line_no, col=col, end_line=line_no))
            else:
                kinds.append(kind)
                texts.append(tok)
                line_nos.append(line_no)
                cols.append(col)
            col += len(tok)
    kinds.append(END)
    texts.append("")
    line_nos.append(len(lines))
    cols.append(len(lines[-1]) + 1)
    return kinds, texts, line_nos, cols, comments


class _Parser:
    """Recursive descent over the token lists; each method mirrors one rule of mapper.lark."""

    def __init__(self, text: str):
        self.kinds, self.texts, self.lines, self.cols, self.comments = tokenize(text)
        self.i = 0

    # ------------------------------------------------------------ tokens
    def fail(self) -> NoReturn:
        i = self.i
        raise FastParseError(f"unexpected {self.kinds[i]} at {self.lines[i]}:{self.cols[i]}")

    def expect(self, kind: str) -> int:
        """Consume a token of `kind`; its index."""
        i = self.i
        if self.kinds[i] != kind:
            self.fail()
        self.i = i + 1
        return i

    def name(self) -> int:
        """Consume a NAME; its index (for names kept as plain text)."""
        i = self.i
        if self.kinds[i] != "NAME":
            self.fail()
        self.i = i + 1
        return i

    def ident(self) -> ast.Ident:
        """`name`: a NAME as an Ident."""
        i = self.i
        if self.kinds[i] != "NAME":
            self.fail()
        self.i = i + 1
        line = self.lines[i]
        return ast.Ident(self.texts[i], line=line, col=self.cols[i], end_line=line)

    def target(self) -> ast.Ident:
        """`target`: a name or `*`."""
        i = self.i
        kind = self.kinds[i]
        if kind != "NAME" and kind != "*":
            self.fail()
        self.i = i + 1
        line = self.lines[i]
        return ast.Ident(self.texts[i], line=line, col=self.cols[i], end_line=line)

    def region_ref(self) -> ast.Ident | ast.RegionIndex:
        """`region_ref`: a name, `*`, or a region's index."""
        i = self.i
        if self.kinds[i] == "INT":
            self.i = i + 1
            line = self.lines[i]
            return ast.RegionIndex(int(self.texts[i]), line=line, col=self.cols[i], end_line=line)
        return self.target()

    def name_list(self) -> list[ast.Ident]:
        names = [self.ident()]
        while self.kinds[self.i] == ",":
            self.i += 1
            names.append(self.ident())
        return names

    # ------------------------------------------------------------ top level
    def program(self, source: str, text: str) -> ast.Program:
        """`start: item* last?`."""
        kinds = self.kinds
        stmts: list[ast.Stmt] = []
        while True:
            kind = kinds[self.i]
            if kind == END:
                break
            if kind == ";":
                self.i += 1
            elif kind == "def":
                stmts.append(self.funcdef())
            else:
                stmts.append(self.simple())
                if kinds[self.i] == ";":
                    self.i += 1
                elif kinds[self.i] != END:  # only the file's last statement may omit its ';'
                    self.fail()
        return ast.Program(source, stmts, self.comments, line=1, col=1, end_line=text.count("\n") + 1)

    def simple(self) -> ast.Stmt:
        """`simple`: one statement without its ';'."""
        i = self.i
        kind = self.kinds[i]
        line, col = self.lines[i], self.cols[i]
        if kind == "NAME":
            name = self.ident()
            self.expect("=")
            expr, _, _, end = self.expr()
            return ast.GlobalAssign(name, expr, line=line, col=col, end_line=end)
        if kind == "print":
            return self.print_stmt()
        self.i = i + 1
        if kind == "Task":
            task = self.target()
            node = ast.TaskStmt(task, self.name_list())
        elif kind == "Region":
            task = self.target()
            region = self.region_ref()
            proc = self.target()
            node = ast.RegionStmt(task, region, proc, self.name_list())
        elif kind == "Layout":
            task = self.target()
            region = self.region_ref()
            target = self.target()
            constraints = []
            while self.kinds[self.i] == "NAME":
                constraints.append(self.constraint())
            node = ast.LayoutStmt(task, region, target, constraints)
        elif kind == "InstanceLimit":
            task = self.ident()
            n = self.expect("INT")
            node = ast.InstanceLimitStmt(task, int(self.texts[n]))
        elif kind == "CollectMemory":
            task = self.target()
            node = ast.CollectStmt(task, self.region_ref())
        elif kind == "IndexTaskMap":
            tasks = self.name_list()
            node = ast.IndexMapStmt(tasks, self.ident())
        elif kind == "SingleTaskMap":
            tasks = self.name_list()
            node = ast.SingleMapStmt(tasks, self.ident())
        elif kind == "ControlReplicate":
            node = ast.ControlReplicateStmt(self.name_list())
        elif kind == "TaskSteal":
            tasks = self.name_list()
            node = ast.TaskStealStmt(tasks, self.ident())
        else:
            self.fail()
        node.line, node.col, node.end_line = line, col, self.lines[self.i - 1]
        return node

    def constraint(self) -> ast.Constraint:
        """`constraint: name [cmp_op INT]`."""
        i = self.name()
        op = value = None
        line = end = self.lines[i]
        if self.kinds[self.i] in _CMP_OPS:
            op = self.kinds[self.i]
            self.i += 1
            n = self.expect("INT")
            value, end = int(self.texts[n]), self.lines[n]
        return ast.Constraint(self.texts[i], op, value, line=line, col=self.cols[i], end_line=end)

    def print_stmt(self) -> ast.Print:
        """`print_stmt: "print" "(" STRING ("," expr)* ")"`."""
        start = self.expect("print")
        self.expect("(")
        s = self.expect("STRING")
        args = []
        while self.kinds[self.i] == ",":
            self.i += 1
            args.append(self.expr()[0])
        end = self.expect(")")
        return ast.Print(self.texts[s][1:-1], args, line=self.lines[start], col=self.cols[start],
                         end_line=self.lines[end])

    # ------------------------------------------------------------ functions
    def funcdef(self) -> ast.FuncDef:
        """`funcdef: "def" name "(" [param ("," param)*] ")" "{" body_item* "}"`."""
        start = self.expect("def")
        name = self.ident()
        self.expect("(")
        params = []
        if self.kinds[self.i] != ")":
            params.append(self.param())
            while self.kinds[self.i] == ",":
                self.i += 1
                params.append(self.param())
        self.expect(")")
        self.expect("{")
        kinds = self.kinds
        body: list[ast.BodyStmt] = []
        while True:
            kind = kinds[self.i]
            if kind == "}":
                break
            if kind == ";":
                self.i += 1
                continue
            body.append(self.body_simple(kind))
            self.expect(";")
        end = self.expect("}")
        return ast.FuncDef(name, params, body, line=self.lines[start], col=self.cols[start],
                           end_line=self.lines[end])

    def param(self) -> ast.Param:
        """`param: param_type name`, the type a NAME or `Task`."""
        i = self.i
        if self.kinds[i] != "NAME" and self.kinds[i] != "Task":
            self.fail()
        self.i = i + 1
        name = self.name()
        return ast.Param(self.texts[i], self.texts[name], line=self.lines[i], col=self.cols[i],
                         end_line=self.lines[name])

    def body_simple(self, kind: str) -> ast.BodyStmt:
        """`body_simple: local_assign | return_stmt | print_stmt`."""
        i = self.i
        line, col = self.lines[i], self.cols[i]
        if kind == "NAME":
            name = self.ident()
            self.expect("=")
            expr, _, _, end = self.expr()
            return ast.Assign(name, expr, line=line, col=col, end_line=end)
        if kind == "return":
            self.i = i + 1
            expr, _, _, end = self.expr()
            return ast.Return(expr, line=line, col=col, end_line=end)
        if kind == "print":
            return self.print_stmt()
        self.fail()

    # ------------------------------------------------------------ expressions
    def expr(self) -> Spanned:
        """`expr: or_expr ["?" expr ":" expr]`."""
        cond = self.binary(1)
        if self.kinds[self.i] != "?":
            return cond
        self.i += 1
        then = self.expr()
        self.expect(":")
        else_ = self.expr()
        _, line, col, _ = cond
        end = else_[3]
        return ast.Cond(cond[0], then[0], else_[0], line=line, col=col, end_line=end), line, col, end

    def binary(self, min_prec: int) -> Spanned:
        """Binary operators by precedence climbing, from `or_expr` down to `mul_expr`."""
        kinds = self.kinds
        left = self.unary() if kinds[self.i] in _PREFIX_OPS else self.postfix()
        while True:
            op = kinds[self.i]
            prec = _PRECEDENCE.get(op)
            if prec is None or prec < min_prec:
                return left
            self.i += 1
            right = self.binary(prec + 1)
            _, line, col, _ = left
            end = right[3]
            left = ast.Binary(op, left[0], right[0], line=line, col=col, end_line=end), line, col, end

    def unary(self) -> Spanned:
        """`unary: postfix | "-" unary | "!" unary`; `-` of a literal is a negative literal."""
        i = self.i
        op = self.kinds[i]
        if op != "-" and op != "!":
            return self.postfix()
        self.i = i + 1
        operand, _, _, end = self.unary()
        line, col = self.lines[i], self.cols[i]
        if op == "-" and type(operand) is ast.IntLit and operand.value >= 0:
            node = ast.IntLit(-operand.value, line=line, col=col, end_line=end)
        else:
            node = ast.Unary(op, operand, line=line, col=col, end_line=end)
        return node, line, col, end

    def postfix(self) -> Spanned:
        """`postfix`: an atom followed by `.name`, `.name(args)`, `[items]` or `[lo:hi]`."""
        kinds = self.kinds
        i = self.i
        if kinds[i] == "NAME" and kinds[i + 1] != "(":  # the commonest atom, read here
            self.i = i + 1
            line = self.lines[i]
            left = ast.Name(self.texts[i], line=line, col=self.cols[i], end_line=line), line, self.cols[i], line
        else:
            left = self.atom()
        while True:
            kind = kinds[self.i]
            if kind == ".":
                self.i += 1
                name = self.name()
                if kinds[self.i] == "(":
                    args, end = self.args()
                    node = ast.Method(left[0], self.texts[name], args, line=left[1], col=left[2], end_line=end)
                else:
                    node = ast.Attr(left[0], self.texts[name], line=left[1], col=left[2],
                                    end_line=self.lines[name])
            elif kind == "[":
                self.i += 1
                node = self.subscript(left)
            else:
                return left
            left = node, left[1], left[2], node.end_line

    def subscript(self, obj: Spanned) -> ast.Index | ast.Slice:
        """After `[`: `index_item ("," index_item)* "]"` or `[expr] ":" [expr] "]"`."""
        kinds = self.kinds
        first = None
        if kinds[self.i] != ":":
            first = self.index_item()
            if kinds[self.i] != ":":
                items = [first]
                while kinds[self.i] == ",":
                    self.i += 1
                    items.append(self.index_item())
                end = self.lines[self.expect("]")]
                return ast.Index(obj[0], items, line=obj[1], col=obj[2], end_line=end)
            if first.kind != "expr":
                self.fail()
        self.i += 1  # ':'
        hi = None if kinds[self.i] == "]" else self.expr()[0]
        end = self.lines[self.expect("]")]
        lo = None if first is None else first.expr
        return ast.Slice(obj[0], lo, hi, line=obj[1], col=obj[2], end_line=end)

    def index_item(self) -> ast.IndexItem:
        """`index_item: expr | "*" unary | "*"`."""
        i = self.i
        if self.kinds[i] != "*":
            expr, line, col, end = self.expr()
            return ast.IndexItem("expr", expr, line=line, col=col, end_line=end)
        self.i = i + 1
        line, col = self.lines[i], self.cols[i]
        if self.kinds[i + 1] in (",", "]"):
            return ast.IndexItem("all", line=line, col=col, end_line=line)
        operand, _, _, end = self.unary()
        return ast.IndexItem("splat", operand, line=line, col=col, end_line=end)

    def args(self) -> tuple[list[ast.Expr], int]:
        """`"(" [expr ("," expr)*] ")"`: the arguments and the line of ')'."""
        self.expect("(")
        args = []
        if self.kinds[self.i] != ")":
            args.append(self.expr()[0])
            while self.kinds[self.i] == ",":
                self.i += 1
                args.append(self.expr()[0])
        return args, self.lines[self.expect(")")]

    def atom(self) -> Spanned:
        """`atom`: literal, name, call, parenthesised expression, tuple, Machine(K), tuple(... for ...)."""
        i = self.i
        kind = self.kinds[i]
        line, col = self.lines[i], self.cols[i]
        if kind == "NAME":
            if self.kinds[i + 1] == "(":
                self.i = i + 1
                args, end = self.args()
                return ast.Call(self.texts[i], args, line=line, col=col, end_line=end), line, col, end
            self.i = i + 1
            return ast.Name(self.texts[i], line=line, col=col, end_line=line), line, col, line
        if kind == "INT":
            self.i = i + 1
            return ast.IntLit(int(self.texts[i]), line=line, col=col, end_line=line), line, col, line
        if kind == "(":
            return self.parenthesised()
        self.i = i + 1
        if kind == "True" or kind == "False":
            return ast.BoolLit(kind == "True", line=line, col=col, end_line=line), line, col, line
        if kind == "Machine":
            self.expect("(")
            kind_name = self.texts[self.name()]
            end = self.lines[self.expect(")")]
            return ast.MachineExpr(kind_name, line=line, col=col, end_line=end), line, col, end
        if kind == "tuple":
            self.expect("(")
            body = self.expr()[0]
            self.expect("for")
            var = self.texts[self.name()]
            self.expect("in")
            iter_ = self.expr()[0]
            end = self.lines[self.expect(")")]
            node = ast.Comprehension(body, var, iter_, line=line, col=col, end_line=end)
            return node, line, col, end
        self.i = i
        self.fail()

    def parenthesised(self) -> Spanned:
        """`"(" expr ")"` (the expression, spanning the parentheses) or a tuple `(a,)`, `(a, b)`."""
        start = self.expect("(")
        line, col = self.lines[start], self.cols[start]
        first = self.expr()[0]
        if self.kinds[self.i] == ")":
            end = self.lines[self.expect(")")]
            return first, line, col, end
        self.expect(",")
        items = [first]
        if self.kinds[self.i] != ")":
            items.append(self.expr()[0])
            while self.kinds[self.i] == ",":
                self.i += 1
                items.append(self.expr()[0])
        end = self.lines[self.expect(")")]
        return ast.TupleExpr(items, line=line, col=col, end_line=end), line, col, end


def parse_program(text: str, source: str = "<string>") -> ast.Program:
    """The program of well-formed text (newlines already `\\n`); FastParseError otherwise.

    Nesting too deep for Python's stack, or an integer too long for int(), is also left to lark.
    """
    try:
        return _Parser(text).program(source, text)
    except (RecursionError, ValueError) as e:
        raise FastParseError(str(e)) from None

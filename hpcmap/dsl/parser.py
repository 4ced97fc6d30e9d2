"""Parse mapper text into the syntax tree of `hpcmap.dsl.ast`, with syntax diagnostics.

The grammar is `mapper.lark` (LALR(1)). Two forms from the paper's figures are recognised and
answered with the corrected text: a `def f(Task t):` header with an indented body (E102), and a
statement missing its `;` (E103). Both are repaired in place so that checking can go on and report
everything else in the same run.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.visitors import Transformer

from hpcmap.dsl import ast
from hpcmap.dsl.diagnostics import Diagnostic

GRAMMAR_PATH = Path(__file__).with_name("mapper.lark")


@dataclass
class ParseResult:
    """The tree (None when the text could not be parsed) and what was found on the way."""

    program: ast.Program | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    # The tree is built by _ToAst's callbacks while parsing (one pass, no recursion at any depth).
    return Lark(
        GRAMMAR_PATH.read_text(),
        parser="lalr",
        maybe_placeholders=True,
        lexer="contextual",
        transformer=_ToAst(),
    )


def _where(item) -> tuple[int, int, int] | None:
    """(line, column, end line) of a token or a positioned node; the first of a list."""
    if isinstance(item, Token):
        return item.line, item.column, item.end_line or item.line
    if isinstance(item, ast.Node) and item.line > 0:
        return item.line, item.col, item.end_line or item.line
    if isinstance(item, list):
        spans = [w for w in map(_where, item) if w is not None]
        return (spans[0][0], spans[0][1], spans[-1][2]) if spans else None
    return None


def _pos(node: ast.Node, children) -> ast.Node:
    """Place `node` where its first child starts; it ends where its last child ends."""
    spans = [w for w in map(_where, children) if w is not None]
    if spans:
        node.line, node.col, node.end_line = spans[0][0], spans[0][1], max(w[2] for w in spans)
    return node


def _tok(node: ast.Node, tok: Token) -> ast.Node:
    node.line, node.col, node.end_line = tok.line, tok.column, tok.end_line or tok.line
    return node


def _present(items) -> list:
    return [x for x in items if x is not None]


def _parts(c) -> list:
    """The children of a rule that keeps its tokens (`!` in the grammar), without those tokens."""
    return [x for x in c if x is not None and not isinstance(x, Token)]


class _ToAst(Transformer):
    """Builds `ast` nodes as the parser reduces each rule."""

    # --- names
    def name(self, c):
        return _tok(ast.Ident(str(c[0])), c[0])

    def star(self, c):
        return _tok(ast.Ident("*"), c[0])

    def index_ref(self, c):
        return _tok(ast.RegionIndex(int(c[0])), c[0])

    def name_list(self, c):
        return list(c)

    target_list = name_list

    # --- top level
    def start(self, c):
        return [s for s in c if s is not None]

    def empty(self, c):
        return None

    def task_stmt(self, c):
        return _pos(ast.TaskStmt(c[1], c[2]), c)

    def region_stmt(self, c):
        return _pos(ast.RegionStmt(c[1], c[2], c[3], c[4]), c)

    def layout_stmt(self, c):
        return _pos(ast.LayoutStmt(c[1], c[2], c[3], list(c[4:])), c)

    def constraint(self, c):
        name, op, value = c[0], c[1], c[2]
        return _pos(ast.Constraint(name.name, op, None if value is None else int(value)), c)

    def cmp_op(self, c):
        return str(c[0])

    def limit_stmt(self, c):
        return _pos(ast.InstanceLimitStmt(c[1], int(c[3]), c[2]), c)

    def collect_stmt(self, c):
        return _pos(ast.CollectStmt(c[1], c[2]), c)

    def index_map_stmt(self, c):
        if c[3] is None:
            return _pos(ast.IndexMapStmt(c[1], c[2]), c)
        return _pos(ast.IndexMapStmt(c[1], c[3], space=c[2]), c)

    def single_map_stmt(self, c):
        return _pos(ast.SingleMapStmt(c[1], c[2]), c)

    def replicate_stmt(self, c):
        return _pos(ast.ControlReplicateStmt(c[1]), c)

    def steal_stmt(self, c):
        return _pos(ast.TaskStealStmt(c[1], c[2]), c)

    def global_assign(self, c):
        return _pos(ast.GlobalAssign(c[0], c[1]), c)

    def print_stmt(self, c):
        fmt = next(x for x in c if isinstance(x, Token) and x.type == "STRING")
        return _pos(ast.Print(str(fmt)[1:-1], _parts(c)), c)

    # --- functions
    def funcdef(self, c):
        parts = _parts(c)
        params = [p for p in parts[1:] if isinstance(p, ast.Param)]
        body = [s for s in parts[1:] if not isinstance(s, ast.Param)]
        return _pos(ast.FuncDef(parts[0], params, body), c)

    def param(self, c):
        return _pos(ast.Param(str(c[0]), c[1].name), c)

    def param_type(self, c):
        return c[0]  # the token: a str that keeps its position

    def local_assign(self, c):
        return _pos(ast.Assign(c[0], c[1]), c)

    def return_stmt(self, c):
        return _pos(ast.Return(c[1]), c)

    # --- expressions
    def int_lit(self, c):
        return _tok(ast.IntLit(int(c[0])), c[0])

    def bool_lit(self, c):
        return _tok(ast.BoolLit(str(c[0]) == "True"), c[0])

    def var(self, c):
        return _pos(ast.Name(c[0].name), c)

    def tuple_lit(self, c):
        return _pos(ast.TupleExpr(_parts(c)), c)

    def call(self, c):
        return _pos(ast.Call(c[0].name, _present(c[1:])), c)

    def machine(self, c):
        return _pos(ast.MachineExpr(_parts(c)[0].name), c)

    def comprehension(self, c):
        body, var, iter_ = _parts(c)
        return _pos(ast.Comprehension(body, var.name, iter_), c)

    def cond(self, c):
        return _pos(ast.Cond(c[0], c[1], c[2]), c)

    def or_op(self, c):
        return _pos(ast.Binary("||", c[0], c[1]), c)

    def and_op(self, c):
        return _pos(ast.Binary("&&", c[0], c[1]), c)

    def binary(self, c):
        return _pos(ast.Binary(c[1], c[0], c[2]), c)

    def eq_op(self, c):
        return str(c[0])

    rel_op = add_op = mul_op = eq_op

    def neg(self, c):
        operand = c[1]
        if isinstance(operand, ast.IntLit) and operand.value >= 0:
            return _pos(ast.IntLit(-operand.value), c)
        return _pos(ast.Unary("-", operand), c)

    def not_op(self, c):
        return _pos(ast.Unary("!", c[1]), c)

    def attr(self, c):
        return _pos(ast.Attr(c[0], c[1].name), c)

    def method(self, c):
        return _pos(ast.Method(c[0], c[1].name, _present(c[2:])), c)

    def index(self, c):
        return _pos(ast.Index(c[0], list(c[1:])), c)

    def item_expr(self, c):
        return _pos(ast.IndexItem("expr", c[0]), c)

    def item_splat(self, c):
        return _pos(ast.IndexItem("splat", c[1]), c)

    def item_all(self, c):
        return _pos(ast.IndexItem("all"), c)

    def splat(self, c):
        return _pos(ast.Splat(c[1]), c)

    def slice(self, c):
        return _pos(ast.Slice(c[0], c[1], c[2]), c)



# ------------------------------------------------------------------ paper-figure form (E102)
_COLON_DEF = re.compile(r"^(?P<indent>[ \t]*)def\s+(?P<sig>[A-Za-z_]\w*\s*\([^)]*\))\s*:\s*(?P<comment>(#|//).*)?$")
# Every line that _COLON_DEF matches has this; most files have none, so one search skips the scan.
_PAREN_COLON = re.compile(r"\)\s*:")


def _split_comment(line: str) -> tuple[str, str]:
    """Code part and comment part of one line (strings may contain # or //)."""
    in_str = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            in_str = not in_str
        elif not in_str and (ch == "#" or line.startswith("//", i)):
            return line[:i], line[i:]
        i += 1
    return line, ""


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _repair_colon_defs(text: str, source: str) -> tuple[str, list[Diagnostic]]:
    """Rewrite `def f(Task t):` + indented body into braces and semicolons, line for line."""
    if "def" not in text or not _PAREN_COLON.search(text):
        return text, []
    lines = text.split("\n")
    diags: list[Diagnostic] = []
    i = 0
    while i < len(lines):
        m = _COLON_DEF.match(lines[i])
        if not m:
            i += 1
            continue
        base = _indent_of(lines[i])
        body_idx: list[int] = []
        j = i + 1
        while j < len(lines):
            code, _ = _split_comment(lines[j])
            if code.strip() == "":
                j += 1
                continue
            if _indent_of(lines[j]) <= base:
                break
            body_idx.append(j)
            j += 1
        header = f"{m.group('indent')}def {m.group('sig')} {{"
        if m.group("comment"):
            header += "  " + m.group("comment")
        new_lines = {i: header}
        for k in body_idx:
            code, comment = _split_comment(lines[k])
            code = code.rstrip()
            if not code.endswith((";", "{", "}")):
                code += ";"
            new_lines[k] = code + ("  " + comment if comment else "")
        if body_idx:
            last = body_idx[-1]
            new_lines[last] = new_lines[last] + f"\n{m.group('indent')}}}"
        else:
            new_lines[i] = header + " }"
        fixed = [new_lines.get(k, lines[k]) for k in range(i, (body_idx[-1] + 1) if body_idx else i + 1)]
        fixed_text = "\n".join(fixed)
        diags.append(Diagnostic(
            "E102",
            f"function header `def {m.group('sig')}:` uses a colon and indentation; "
            "bodies need braces and each statement a ';'",
            i + 1, len(m.group("indent")) + 1,
            hint=fixed_text, file=source,
        ))
        # Keep the line count: the closing brace joins the last body line.
        for k, v in new_lines.items():
            lines[k] = v.replace("\n" + m.group("indent") + "}", " }")
        i = (body_idx[-1] + 1) if body_idx else i + 1
    return "\n".join(lines), diags


# ------------------------------------------------------------------ syntax errors
_TOKEN_WORDS = {
    "SEMICOLON": "';'", "COMMA": "','", "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'",
    "RBRACE": "'}'", "LSQB": "'['", "RSQB": "']'", "EQUAL": "'='", "COLON": "':'",
    "QMARK": "'?'", "DOT": "'.'", "STAR": "'*'", "NAME": "a name", "INT": "an integer",
    "STRING": "a string", "$END": "end of file",
}


@functools.lru_cache(maxsize=1)
def _keywords() -> dict[str, str]:
    """Keyword text -> terminal name, for keywords spelled like names (Task, def, ...)."""
    out = {}
    for term in _lark().terminals:
        if term.pattern.type == "str" and re.fullmatch(r"[A-Za-z_]\w*", term.pattern.value):
            out[term.pattern.value] = term.name
    return out


def _describe(term: str) -> str:
    if term in _TOKEN_WORDS:
        return _TOKEN_WORDS[term]
    pattern = _lark().get_terminal(term).pattern if term in _lark()._terminals_dict else None
    if pattern is not None and pattern.type == "str":
        return f"'{pattern.value}'"
    return term.lower()


def _prev_code_end(text: str, pos: int) -> tuple[int, int]:
    """(line, col) just after the last code character before `pos`, skipping comments."""
    line_start = text.rfind("\n", 0, pos) + 1
    upto = text[line_start:pos]
    line_no = text.count("\n", 0, pos) + 1
    while True:
        code, _ = _split_comment(upto)
        code = code.rstrip()
        if code:
            return line_no, len(code) + 1
        if line_start == 0:
            return 1, 1
        prev_start = text.rfind("\n", 0, line_start - 1) + 1
        upto = text[prev_start:line_start - 1]
        line_start = prev_start
        line_no -= 1


def _line(text: str, line_no: int) -> str:
    lines = text.split("\n")
    return lines[line_no - 1] if 0 < line_no <= len(lines) else ""


class _Recovery:
    """lark `on_error` handler: inserts a missing ';' and records E103, else stops."""

    def __init__(self, text: str, source: str):
        self.text = text
        self.source = source
        self.diags: list[Diagnostic] = []

    def __call__(self, e: UnexpectedInput) -> bool:
        if not isinstance(e, UnexpectedToken) or e.token.type == "$END":
            return False
        if "SEMICOLON" not in e.expected or len(self.diags) > 100:
            return False
        line, col = _prev_code_end(self.text, e.token.start_pos)
        if line == e.token.line and e.token.type != "RBRACE":
            return False
        src = _line(self.text, line)
        fixed = src[:col - 1] + ";" + src[col - 1:]
        self.diags.append(Diagnostic(
            "E103", "missing ';' at the end of the statement", line, col,
            hint=fixed.strip(), file=self.source,
        ))
        semi = Token("SEMICOLON", ";", start_pos=e.token.start_pos, line=line, column=col,
                     end_line=line, end_column=col + 1, end_pos=e.token.start_pos)
        e.interactive_parser.feed_token(semi)
        tok = e.token
        keyword = _keywords().get(str(tok)) if tok.type == "NAME" else None
        if keyword is not None:
            # The contextual lexer read a keyword as a NAME where no keyword fits.
            tok = Token.new_borrow_pos(keyword, str(tok), tok)
        e.interactive_parser.feed_token(tok)
        return True


def _syntax_diag(e: UnexpectedInput, text: str, source: str) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        hint = "remove it; strings are only allowed in print(\"...\")"
        if ch == "'":
            hint = "use double quotes: print(\"...\")"
        return Diagnostic("E104", f"unexpected character {ch!r}", e.line, e.column, hint, source)
    if isinstance(e, UnexpectedToken) and e.token.type == "$END" or isinstance(e, UnexpectedEOF):
        expected = sorted(getattr(e, "expected", []) or [])
        line = text.count("\n") + 1
        col = len(text.split("\n")[-1]) + 1
        want = ", ".join(_describe(t) for t in expected[:6])
        hint = "close every '{' with '}' and end statements with ';'"
        if expected == ["RBRACE"] or "RBRACE" in expected:
            hint = "add '}' to close the function body"
        return Diagnostic("E105", f"the file ends too early; expected {want}", line, col, hint, source)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    expected = sorted(e.expected)
    want = ", ".join(_describe(t) for t in expected[:8])
    src_line = _line(text, tok.line)
    hint = f"expected {want} here"
    if len(expected) == 1 and (w := _describe(expected[0])).startswith("'"):
        col0 = tok.column - 1
        hint = (src_line[:col0] + w.strip("'") + " " + src_line[col0:]).strip()
    if tok.type == "EQUAL" and "Align" in src_line:
        hint = src_line.replace("Align=", "Align==").strip()
    if tok.type == "COLON" and src_line.lstrip().startswith("def "):
        hint = src_line.rstrip().rstrip(":") + " {"
    value = str(tok)
    return Diagnostic("E101", f"unexpected {value!r}", tok.line, tok.column, hint, source)


def parse(text: str, source: str = "<string>") -> ParseResult:
    """Parse mapper text; on a syntax error the program is None and a diagnostic says why."""
    text = text.replace("\r\n", "\n")
    fixed_text, diags = _repair_colon_defs(text, source)
    recovery = _Recovery(fixed_text, source)
    comments: list[ast.Comment] = []
    try:
        stmts = _lark().parse(fixed_text, on_error=recovery)
    except UnexpectedInput as e:
        return ParseResult(None, diags + recovery.diags + [_syntax_diag(e, fixed_text, source)])
    comments = _comments(fixed_text)
    program = ast.Program(source, stmts, comments, line=1, col=1, end_line=fixed_text.count("\n") + 1)
    return ParseResult(program, diags + recovery.diags)


_COMMENT_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#|//)[^\n]*')


def _comments(text: str) -> list[ast.Comment]:
    """Every comment with its position (the formatter keeps them)."""
    if "#" not in text and "//" not in text:
        return []
    out: list[ast.Comment] = []
    line_starts = [0]
    for m in re.finditer("\n", text):
        line_starts.append(m.end())
    import bisect

    for m in _COMMENT_RE.finditer(text):
        if m.group(1) is None:
            continue
        line = bisect.bisect_right(line_starts, m.start())
        col = m.start() - line_starts[line - 1] + 1
        out.append(ast.Comment(m.group(0).rstrip(), line=line, col=col, end_line=line))
    return out


def parse_file(path: str | Path) -> ParseResult:
    p = Path(path)
    return parse(p.read_text(), str(path))

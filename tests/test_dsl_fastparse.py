"""The fast parser against the lark path: same trees and positions, same diagnostics, any text."""
from __future__ import annotations

import importlib.util
import itertools
import operator
from pathlib import Path

import pytest

from hpcmap.dsl import ast, fastparse
from hpcmap.dsl.check import _aligns_satisfiable
from hpcmap.dsl.parser import _keywords, _lark, parse
from test_dsl_errors import APP_BAD, BAD
from test_dsl_valid import VALID

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # the property tests need the test extra
    given = None


def _bench_text() -> str:
    spec = importlib.util.spec_from_file_location("bench_dsl", Path(__file__).parent / "perf" / "bench_dsl.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.generate()


def assert_same(text: str) -> None:
    """Both paths give equal results (trees with positions and comments, and diagnostics)."""
    fast, slow = parse(text, "t.map"), parse(text, "t.map", fast=False)
    assert fast.diagnostics == slow.diagnostics
    assert fast.program == slow.program


# ------------------------------------------------------------------ the spec
def test_terminals_mirror_grammar():
    for name in ("NAME", "INT", "STRING", "COMMENT"):
        ours, lark = getattr(fastparse, name), _lark().get_terminal(name).pattern.value
        assert ours.replace("\\n", "\n") == lark.replace("\\n", "\n"), name  # lark unescapes \n
    assert fastparse.KEYWORDS == set(_keywords())
    ops = {t.pattern.value for t in _lark().terminals
           if t.pattern.type == "str" and t.pattern.value not in fastparse.KEYWORDS}
    assert ops == set(fastparse.OPERATORS)


def test_tokenizer_reads_each_operator_whole():
    ops = list(fastparse.OPERATORS)
    kinds, texts, _, cols, _ = fastparse.tokenize(" ".join(ops))
    assert kinds == texts[:-1] + [fastparse.END] and texts[:-1] == ops
    assert fastparse.tokenize("a//b#c\n/ /")[0] == ["NAME", "/", "/", fastparse.END]
    assert fastparse.tokenize("x==!=<=>=")[1][:-1] == ["x", "==", "!=", "<=", ">="]


# ------------------------------------------------------------------ valid programs
CASES = dict(VALID, bench=_bench_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_takes_fast_path_with_lark_tree(name):
    text = CASES[name]
    program = fastparse.parse_program(text, "t.map")
    slow = parse(text, "t.map", fast=False)
    assert not slow.diagnostics
    assert program == slow.program
    assert_same(text)


POSITIONS = {
    "multiline_parens": "x = (\n1\n+\n2\n)\n;\ny = 3 * (\n4)\n;",
    "nested_parens": "x = ((1) +\n ((2)));\ny = -(\n3);\nz = !(\n(True))\n;",
    "paren_postfix": "m = Machine(GPU);\nx = (m\n).size[\n0];\ny = (m).merge(0,\n1)\n;",
    "paren_cond": "x = (1\n) ? (2\n) : (3\n)\n;\ny = 1 ? 2 : 3 ? 4 : (5);",
    "paren_items": "m = Machine(GPU);\nx = m[(0\n), *(\n(1, 2)\n)];\ny = m[*];\nz = (1,\n)[0];",
    "paren_slices": "x = (1, 2, 3)[(1\n):(2\n)];\ny = (1, 2)[:];\nz = (1, 2)[0:];",
    "multiline_stmts": "Task\n*\nGPU\n,\nCPU\n;\nLayout * 0 FBMEM\nAlign\n==\n64 SOA\n;\nRegion a\n2\nGPU FBMEM;",
    "multiline_func": "def f(\nTask\nt\n,\nint x\n)\n{\nreturn\n(\nx\n)\n;\n}\nIndexTaskMap a\nf;",
    "negative": "x = -(1);\ny = - -1;\nz = -(-1);\nw = -0;\nv = -(1).len;",
    "precedence": "x = 1 - 2 - 3 * 4 / 5 % 6 < 7 == 8 != 9 && 1 || 0 && !1 >= 2;",
    "comments_strings": 'print("# not a comment // {}", 1); # one\n// two\nTask * CPU;#three',
    "tabs_formfeed": "Task\t*\fCPU;\r\nTask a GPU;\rTask b CPU;",
    "trailing_no_semicolon": "Task * CPU;\nm = Machine(GPU)",
    "empty": "",
    "only_comments": "# a\n// b\n",
    "comprehension": "x = tuple((i + 1) for i in (1, 2));",
}


@pytest.mark.parametrize("name", sorted(POSITIONS))
def test_positions_match_lark(name):
    text = POSITIONS[name]
    program = fastparse.parse_program(text.replace("\r\n", "\n"), "t.map")
    assert program == parse(text, "t.map", fast=False).program
    assert_same(text)


# ------------------------------------------------------------------ everything else falls back
FALLBACK = {
    # keywords spelled as names: lark's contextual lexer decides which are names
    "keyword_global": "True = 1;",
    "keyword_local": "def f(Task t) { Task = 1; return Task; }",
    "keyword_attr": "m = Machine(GPU);\nx = m.in;",
    "keyword_param_type": "def f(tuple x) { return x; }",
    "keyword_comprehension_var": "x = tuple(in for in in (1, 2));",
    "keyword_after_name": "Task a in;",
    "keyword_kind": "Task a for;",
    "keyword_region": "Region t in GPU FBMEM;",
    "keyword_call": "x = print(1);",
    # malformed
    "bad_char": "Task & CPU;",
    "single_and": "x = 1 & 2;",
    "unterminated_string": 'print("abc);',
    "string_outside_print": 'x = "a";',
    "trailing_comma_call": "def g(int x) { return x; }\nx = g(1,);",
    "trailing_comma_tuple": "x = (1, 2,);",
    "splat_slice": "x = (1, 2)[*(1,):];",
    "empty_parens": "x = ();",
    "missing_semicolon_func": "def f(Task t) { return 1 }",
    "colon_def_with_body": "def f(Task t):\n    x = 1\n    return x\n",
    "unclosed": "def f(Task t) {",
    "align_equals": "Layout * * * Align=64;",
    "eof_in_expr": "x = 1 +",
    "def_as_last": "Task * CPU\ndef f(Task t) { return 1; }",
    "print_no_string": "print(1);",
    # beyond the fast path's limits
    "deep_nesting": "x = " + "(" * 400 + "1" + ")" * 400 + ";",
}


@pytest.mark.parametrize("name", sorted(FALLBACK))
def test_fallback_same_as_lark(name):
    assert_same(FALLBACK[name])


@pytest.mark.parametrize("name", sorted(BAD) + sorted(APP_BAD))
def test_malformed_cases_same_as_lark(name):
    text = (BAD.get(name) or APP_BAD[name])[0]
    assert_same(text)


# ------------------------------------------------------------------ random programs
if given is not None:
    WORDS = ["a", "t", "m", "x_1", "GPU", "FBMEM", "SOA", "Align", "ipoint"]
    SEPS = [" ", " ", " ", "\n", "  \n  ", "\t", "", " # c\n", " //c\n", "\r\n"]

    def _commas(items: list[list[str]]) -> list[str]:
        out: list[str] = []
        for k, item in enumerate(items):
            out += ([","] if k else []) + item
        return out

    def _programs(words: list[str]) -> st.SearchStrategy[list[str]]:
        """Token lists of programs following mapper.lark, names drawn from `words`."""
        names = st.sampled_from(words)
        ints = st.integers(0, 300).map(str)
        atoms = st.one_of(ints.map(lambda i: [i]), names.map(lambda n: [n]),
                          st.sampled_from([["True"], ["False"]]), names.map(lambda n: ["Machine", "(", n, ")"]))

        def step(inner):
            lst = st.lists(inner, min_size=0, max_size=3)
            item = st.one_of(inner, atoms.map(lambda e: ["*", *e]), inner.map(lambda e: ["*", "(", *e, ")"]),
                             st.just(["*"]))
            return st.one_of(
                st.tuples(inner, st.sampled_from(list(fastparse._PRECEDENCE)), inner).map(lambda t: [*t[0], t[1], *t[2]]),
                st.tuples(st.sampled_from(["-", "!"]), inner).map(lambda t: [t[0], *t[1]]),
                st.tuples(inner, inner, inner).map(lambda t: [*t[0], "?", *t[1], ":", *t[2]]),
                inner.map(lambda e: ["(", *e, ")"]),
                st.tuples(inner, lst).map(lambda t: ["(", *t[0], ",", *_commas(t[1]), ")"]),
                st.tuples(inner, names).map(lambda t: [*t[0], ".", t[1]]),
                st.tuples(inner, names, lst).map(lambda t: [*t[0], ".", t[1], "(", *_commas(t[2]), ")"]),
                st.tuples(names, lst).map(lambda t: [t[0], "(", *_commas(t[1]), ")"]),
                st.tuples(inner, st.lists(item, min_size=1, max_size=3)).map(
                    lambda t: [*t[0], "[", *_commas(t[1]), "]"]),
                st.tuples(inner, st.one_of(st.none(), inner), st.one_of(st.none(), inner)).map(
                    lambda t: [*t[0], "[", *(t[1] or []), ":", *(t[2] or []), "]"]),
                st.tuples(inner, names, inner).map(lambda t: ["tuple", "(", *t[0], "for", t[1], "in", *t[2], ")"]),
            )

        exprs = st.recursive(atoms, step, max_leaves=8)
        targets = st.one_of(names, st.just("*"))
        name_lists = st.lists(names, min_size=1, max_size=3).map(lambda ns: _commas([[n] for n in ns]))
        regions = st.one_of(targets, ints)
        constraints = st.lists(st.tuples(names, st.one_of(
            st.just(()), st.tuples(st.sampled_from(sorted(fastparse._CMP_OPS)), ints))), max_size=3)
        prints = st.tuples(st.sampled_from(['"a {}"', '"# {} //"', '"\\" x"']), st.lists(exprs, max_size=2)).map(
            lambda t: ["print", "(", t[0], *[tok for e in t[1] for tok in [",", *e]], ")"])
        simples = st.one_of(
            st.tuples(targets, name_lists).map(lambda t: ["Task", t[0], *t[1]]),
            st.tuples(targets, regions, targets, name_lists).map(lambda t: ["Region", t[0], t[1], t[2], *t[3]]),
            st.tuples(targets, regions, targets, constraints).map(
                lambda t: ["Layout", t[0], t[1], t[2], *[tok for n, c in t[3] for tok in [n, *c]]]),
            st.tuples(names, ints).map(lambda t: ["InstanceLimit", *t]),
            st.tuples(targets, regions).map(lambda t: ["CollectMemory", *t]),
            st.tuples(st.sampled_from(["IndexTaskMap", "SingleTaskMap", "TaskSteal"]), name_lists, names).map(
                lambda t: [t[0], *t[1], t[2]]),
            name_lists.map(lambda ns: ["ControlReplicate", *ns]),
            st.tuples(names, exprs).map(lambda t: [t[0], "=", *t[1]]),
            prints,
        )
        body_items = st.one_of(
            st.tuples(names, exprs).map(lambda t: [t[0], "=", *t[1], ";"]),
            exprs.map(lambda e: ["return", *e, ";"]),
            prints.map(lambda p: [*p, ";"]),
            st.just([";"]),
        )
        params = st.tuples(st.sampled_from(["Task", "int", "IPoint", words[0]]), names).map(list)
        funcdefs = st.tuples(names, st.lists(params, max_size=2), st.lists(body_items, max_size=3)).map(
            lambda t: ["def", t[0], "(", *_commas(t[1]), ")", "{", *[tok for b in t[2] for tok in b], "}"])
        items = st.one_of(simples.map(lambda s: [*s, ";"]), funcdefs, st.just([";"]))
        return st.tuples(st.lists(items, max_size=5), st.one_of(st.none(), simples)).map(
            lambda t: [tok for i in t[0] for tok in i] + (t[1] or []))

    @st.composite
    def texts(draw, programs, seps: list[str], mutate: bool = False) -> str:
        """A program's tokens joined by random spacing and comments, maybe with one token changed."""
        tokens = draw(programs)
        if mutate and tokens:
            k = draw(st.integers(0, len(tokens) - 1))
            action = draw(st.sampled_from(["drop", "dup", "swap", "insert"]))
            if action == "drop":
                del tokens[k]
            elif action == "dup":
                tokens.insert(k, tokens[k])
            elif action == "swap" and k + 1 < len(tokens):
                tokens[k], tokens[k + 1] = tokens[k + 1], tokens[k]
            else:
                tokens.insert(k, draw(st.sampled_from([";", ",", "(", ")", "{", "}", "*", ":", "=", "x", "1", "'", "$"])))
        spacing = draw(st.lists(st.sampled_from(seps), min_size=len(tokens), max_size=len(tokens)))
        return "".join(tok + sep for tok, sep in zip(tokens, spacing))

    PLAIN = _programs(WORDS)
    KEYWORD_NAMES = _programs(WORDS + sorted(fastparse.KEYWORDS))
    FEW = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))

    @FEW
    @given(texts(PLAIN, [s for s in SEPS if s]))
    def test_random_valid_programs_take_fast_path(text):
        program = fastparse.parse_program(text.replace("\r\n", "\n"), "t.map")
        assert program == parse(text, "t.map", fast=False).program

    @FEW
    @given(texts(KEYWORD_NAMES, SEPS))
    def test_random_programs_same_as_lark(text):
        assert_same(text)

    @FEW
    @given(texts(KEYWORD_NAMES, SEPS, mutate=True))
    def test_random_mutations_same_as_lark(text):
        assert_same(text)


# ------------------------------------------------------------------ check.py's shortcuts keep results
def _aligns_by_brute_force(aligns) -> bool:
    ops = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
           ">": operator.gt, ">=": operator.ge}
    top = max((c.value or 0) for c in aligns) * 2 + 2
    return any(all(ops[c.op](v, c.value) for c in aligns if c.value is not None) for v in range(1, top))


def test_align_satisfiable_matches_brute_force_exhaustively_for_two():
    values = range(0, 12)
    ops = ["==", "!=", "<", "<=", ">", ">="]
    for o1, v1, o2, v2 in itertools.product(ops, values, ops, values):
        aligns = [ast.Constraint("Align", o1, v1), ast.Constraint("Align", o2, v2)]
        assert _aligns_satisfiable(aligns) == _aligns_by_brute_force(aligns), aligns


if given is not None:
    @settings(max_examples=500, deadline=None, database=None)
    @given(st.lists(st.tuples(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), st.integers(-3, 200)),
                    min_size=1, max_size=5))
    def test_align_satisfiable_matches_brute_force(pairs):
        aligns = [ast.Constraint("Align", op, value) for op, value in pairs]
        assert _aligns_satisfiable(aligns) == _aligns_by_brute_force(aligns)

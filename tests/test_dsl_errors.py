"""Malformed mappers: each gives its stable code at the right line, with a hint."""
from __future__ import annotations

import pytest

from hpcmap.dsl.app import load_app
from hpcmap.dsl.check import check_text

M = "m = Machine(GPU);\n"

# name -> (source, code, line)
BAD = {
    "missing_semicolon": ("Task * CPU\nRegion * * CPU SYSMEM;", "E103", 1),
    "missing_semicolon_body": (M + "def f(Task t) {\n  x = 1\n  return m[0, 0];\n}\nIndexTaskMap a f;", "E103", 3),
    "missing_semicolon_before_brace": (M + "def f(Task t) {\n  return m[0, 0]\n}\nIndexTaskMap a f;", "E103", 3),
    "colon_def": (M + "def f(Task t):\n    return m[0, 0]\nIndexTaskMap a f;", "E102", 2),
    "unexpected_token": ("Task * CPU GPU;", "E101", 1),
    "bad_character": ("Task * CPU;\nTask $ GPU;", "E104", 2),
    "unclosed_brace": (M + "def f(Task t) {\n  return m[0, 0];\n", "E105", 4),
    "align_single_equals": ("Layout * * * Align=64;", "E101", 1),
    "keyword_as_name": ("Task = 3;", "E101", 1),
    "undefined_name": (M + "def f(Task t) {\n  return m[q, 0];\n}\nIndexTaskMap a f;", "E201", 3),
    "global_before_definition": ("a = b;\nb = Machine(GPU);", "E201", 1),
    "undefined_function_call": (M + "def f(Task t) {\n  return m[g(1), 0];\n}\nIndexTaskMap a f;", "E201", 3),
    "unknown_proc_kind": ("Task * TPU;", "E202", 1),
    "unknown_machine_kind": ("m = Machine(FPGA);", "E202", 1),
    "unknown_memory_kind": ("Region * * GPU HBM;", "E203", 1),
    "memory_as_processor": ("Task * FBMEM;", "E204", 1),
    "processor_as_memory": ("Region * * GPU GPU;", "E204", 1),
    "map_function_missing": ("Task * CPU;\nIndexTaskMap a nothere;", "E205", 2),
    "map_function_two_params": (M + "def f(Task t, int x) { return m[0, 0]; }\nIndexTaskMap a f;", "E206", 3),
    "map_function_int_param": (M + "def f(int t) { return m[0, 0]; }\nSingleTaskMap a f;", "E206", 3),
    "call_arity": (M + "def g(int x) { return x; }\ndef f(Task t) { return m[g(1, 2), 0]; }\nIndexTaskMap a f;", "E207", 3),
    "method_arity": (M + "m2 = m.merge(0);", "E207", 2),
    "type_error_arith_space": (M + "x = m + 1;", "E208", 2),
    "type_error_attr": (M + "def f(Task t) { x = t.ipoint.ipoint; return m[0, 0]; }\nIndexTaskMap a f;", "E209", 2),
    "unknown_method": (M + "m2 = m.mrege(0, 1);", "E209", 2),
    "duplicate_function": (M + "def f(Task t) { return m[0, 0]; }\ndef f(Task t) { return m[0, 1]; }\nIndexTaskMap a f;", "E210", 3),
    "duplicate_global": (M + "m = Machine(CPU);", "E211", 2),
    "global_and_function": (M + "def m(Task t) { return Machine(CPU)[0, 0]; }", "E211", 1),
    "steal_scope": ("TaskSteal a SOME_NODE;", "E214", 1),
    "unknown_constraint": ("Layout * * * SOA Cordr;", "E215", 1),
    "unknown_param_type": (M + "def g(float x) { return x; }\ndef f(Task t) { return m[g(1), 0]; }\nIndexTaskMap a f;", "E216", 2),
    "no_return": (M + "def f(Task t) { x = 1; }\nIndexTaskMap a f;", "E217", 2),
    "assign_global_in_function": (M + "def f(Task t) { m = 1; return Machine(CPU)[0, 0]; }\nIndexTaskMap a f;", "E218", 2),
    "recursion": (M + "def g(int x) { return g(x); }\ndef f(Task t) { return m[g(0), 0]; }\nIndexTaskMap a f;", "E220", 2),
    "map_returns_int": (M + "def f(Task t) { return 3; }\nIndexTaskMap a f;", "E221", 3),
    "soa_aos": ("Layout * * * SOA AOS;", "E301", 1),
    "c_f_order": ("Task * CPU;\nLayout * * GPU C_order F_order;", "E302", 2),
    "align_conflict": ("Layout * * * Align==16 Align==32;", "E303", 1),
    "instance_limit_zero": ("InstanceLimit a 0;", "E304", 1),
    "balance_split_k": (M + "b = m.balance_split(0, 4);", "E305", 2),
    "division_by_zero_literal": (M + "x = 4 / 0;", "E307", 2),
}

APP_BAD = {
    "unknown_task": ("Task stencl GPU;", "E212", 1),
    "unknown_task_in_map": (M + "def f(Task t) { return m[0, 0]; }\nIndexTaskMap stencil,incremnt f;", "E212", 3),
    "unknown_region": ("Region stencil ghost_xn GPU FBMEM;", "E213", 1),
    "unknown_region_star_task": ("Region * privat GPU FBMEM;", "E213", 1),
    "region_index_range": ("Region increment 3 GPU FBMEM;", "E219", 1),
}

WARN = {
    # Among equally specific statements the first wins; the later ones are reported.
    "shadowed_region": ("Region * * GPU FBMEM;\nRegion * * GPU ZCMEM;", "W401", 2),
    "shadowed_task": ("Task a GPU;\nTask b CPU;\nTask a CPU;", "W401", 3),
    "shadowed_task_list": ("Task a,b GPU;\nTask b CPU;", "W401", 2),
    "shadowed_map": (M + "def f(Task t) { return m[0, 0]; }\nIndexTaskMap a,b f;\nIndexTaskMap a f;", "W401", 4),
    "unused_function": (M + "def f(Task t) { return m[0, 0]; }", "W402", 2),
    "unreachable": (M + "def f(Task t) { return m[0, 0]; x = 1; }\nIndexTaskMap a f;", "W403", 2),
    "print_holes": ('print("{} {}", 1);', "W404", 1),
}


def _find(src: str, code: str, app=None):
    _, diags = check_text(src, "bad.map", app)
    hits = [d for d in diags if d.code == code]
    assert hits, f"expected {code}, got {[d.format() for d in diags]}"
    return hits, diags


def test_count():
    assert len(BAD) + len(APP_BAD) >= 30


@pytest.mark.parametrize("name", sorted(BAD))
def test_error(name):
    src, code, line = BAD[name]
    hits, diags = _find(src, code)
    assert any(d.line == line for d in hits), [d.format() for d in hits]
    d = next(d for d in hits if d.line == line)
    assert d.is_error and d.hint and d.col >= 1
    assert d.format().startswith(f"bad.map:{line}:{d.col}: error {code}: ")


@pytest.mark.parametrize("name", sorted(APP_BAD))
def test_app_error(name):
    src, code, line = APP_BAD[name]
    hits, _ = _find(src, code, load_app("stencil"))
    assert any(d.line == line for d in hits)


@pytest.mark.parametrize("name", sorted(WARN))
def test_warning(name):
    src, code, line = WARN[name]
    hits, diags = _find(src, code)
    assert any(d.line == line and not d.is_error for d in hits)
    assert not [d for d in diags if d.is_error], [d.format() for d in diags]


def test_nearest_names_in_hints():
    app = load_app("stencil")
    hits, _ = _find("Task stencl GPU;", "E212", app)
    assert hits[0].hint == "Task stencil GPU;"
    hits, _ = _find("Region stencil ghost_xn GPU FBMEM;", "E213", app)
    assert "ghost" in hits[0].hint
    hits, _ = _find("Task * GPUU;", "E202")
    assert hits[0].hint == "Task * GPU;"


def test_colon_def_hint_is_full_corrected_function():
    src = "m = Machine(GPU);\ndef cyclic(Task task):\n    ip = task.ipoint\n    return m[ip[0] % m.size[0], 0]\nIndexTaskMap a cyclic;\n"
    hits, diags = _find(src, "E102")
    assert hits[0].hint == ("def cyclic(Task task) {\n    ip = task.ipoint;\n"
                            "    return m[ip[0] % m.size[0], 0];\n}")
    fixed = src.replace(src.split("\n", 1)[1].split("IndexTaskMap")[0], hits[0].hint + "\n")
    _, again = check_text(fixed)
    assert not [d for d in again if d.is_error]
    # Repaired in place: nothing else is reported for this file.
    assert [d.code for d in diags if d.is_error] == ["E102"]


def test_missing_semicolons_all_reported_with_fixed_line():
    _, diags = check_text("Task * CPU\nRegion * * CPU SYSMEM\nLayout * * * SOA;")
    e103 = [d for d in diags if d.code == "E103"]
    assert [(d.line, d.hint) for d in e103] == [(1, "Task * CPU;"), (2, "Region * * CPU SYSMEM;")]


def test_contradiction_hint_shows_fixed_statement():
    hits, _ = _find("Layout * * * SOA C_order AOS;", "E301")
    assert hits[0].hint.startswith("Layout * * * SOA C_order;")

"""Valid mappers: every statement and expression form parses, checks clean, formats and compiles."""
from __future__ import annotations

import dataclasses
import json

import pytest

from hpcmap.dsl.check import check_text
from hpcmap.dsl.fmt import format_program
from hpcmap.dsl.ir import compile_program
from hpcmap.dsl.parser import parse

F = "def f(Task t) {{ {body} }}\nIndexTaskMap a f;\n"
M = "m = Machine(GPU);\n"

VALID = {
    "task_star": "Task * GPU,CPU;",
    "task_named_spaces": "Task a,b GPU, CPU, OMP;".replace("a,b", "a"),
    "task_all_kinds": "Task a IO,PY,PROC,OMP,CPU,GPU;",
    "region_star": "Region * * GPU FBMEM;",
    "region_named": "Region a ghost CPU SYSMEM,ZCMEM;",
    "region_index": "Region a 0 GPU ZCMEM;",
    "region_star_kind": "Region * * * SYSMEM;",
    "region_all_mems": "Region a * CPU SYSMEM,ZCMEM,RDMEM,SOCKMEM,VIRTUAL;",
    "layout_basic": "Layout * * * SOA C_order;",
    "layout_mem_target": "Layout a 1 FBMEM AOS F_order Align==64 Compact Exact;",
    "layout_align_ops": "Layout * * GPU Align>=16 Align<=128 Align!=32 Align>8 Align<256;",
    "instance_limit": "InstanceLimit a 4;",
    "collect": "CollectMemory a ghost;\nCollectMemory * *;\nCollectMemory b 2;",
    "control_replicate": "ControlReplicate a,b, c;",
    "task_steal": "TaskSteal a,b SAME_NODE;\nTaskSteal c ANY_NODE;",
    "last_without_semicolon": "Task * CPU",
    "comments": "# hash\n// slash\nTask * CPU; # trailing\n",
    "empty_statements": ";;Task * CPU;;",
    "global_machine": M + "n = m.size[0];",
    "global_chain": M + "m2 = m.merge(0, 1).split(0, 2).swap(0, 1).reverse(0).slice(1, 0, 0);",
    "global_balance": M + "b = m.balance_split(1, 2);",
    "global_auto": M + "b = m.auto_split(0, (2, 2));\ng = m.greedy_split(1, (4, 2, 4));",
    "top_print": M + 'print("size {} {}", m.size, m.volume);',
    "cyclic": M + "def f(Task t) {\n ip = t.ipoint;\n return m[ip[0] % m.size[0], ip[0] / m.size[0] % m.size[1]];\n}\nIndexTaskMap a,b f;",
    "single_map": M + "def f(Task t) { return m[0, 0]; }\nSingleTaskMap top f;",
    "star_set": M + F.format(body="return m[t.ipoint[0] % m.size[0], *];"),
    "splat": M + F.format(body="p = (0, 1); return m[*p];"),
    "splat_two": M + F.format(body="u = (0,); v = (1,); return m[*u, *v];"),
    "slices": M + F.format(body="a = t.ipoint[:-1]; b = t.ispace[1:]; c = m[:1]; d = t.ipoint[0:1]; return m[0, 0];"),
    "arith": M + F.format(body="x = 1 + 2 * 3 - 4 / 2 % 3; y = -x; return m[x % 2, y % 2];"),
    "compare_logic": M + F.format(body="c = 1 < 2 && 2 <= 3 || 3 > 4 && !(4 >= 5) || 1 == 1 && 1 != 2; return c ? m[0, 0] : m[1, 0];"),
    "cond_nested": M + F.format(body="i = t.ipoint[0]; return i > 2 ? m[1, 0] : i > 1 ? m[0, 1] : m[0, 0];"),
    "tuple_elementwise": M + F.format(body="b = t.ispace / m.size; c = t.ipoint / b; d = c + 1 - 1; return m[*d];"),
    "tuple_int_broadcast": M + F.format(body="d = t.ipoint * 2 % 2; return m[*d];"),
    "comprehension": M + F.format(body="z = tuple(x * 0 for x in t.ipoint); return m[*z];"),
    "attrs": M + F.format(body="a = t.ipoint.len + t.ispace.size + t.ispace.volume + m.len + m.volume; return m[0, 0];"),
    "parent": M + F.format(body="p = t.parent.ipoint; return m[0, 0];"),
    "processor": M + F.format(body="c = t.processor(m); return m[*c];"),
    "helper_call": M + "def h(int x, IPoint p, ISpace s, MSpace q, bool b) { return x; }\n" + F.format(body="return m[h(0, t.ipoint, t.ispace, m, True), 0];"),
    "bool_literals": M + F.format(body="b = True; c = False; return b && !c ? m[0, 0] : m[0, 1];"),
    "print_in_body": M + F.format(body='print("point {}", t.ipoint); return m[0, 0];'),
    "negative_literals": M + F.format(body="x = -1; y = 3 - -1; return m[0, (x + y) % 2];"),
    "method_in_function": M + F.format(body="m2 = m.merge(0, 1); return m2[t.ipoint[0] % m2.size[0]];"),
    "paper_example": """Task * GPU,CPU;
Region * * GPU FBMEM;
Region * * CPU SYSMEM;
Region * rp_shared GPU ZCMEM;
Layout * * * SOA C_order;
mgpu = Machine(GPU);
def cyclic(Task task) {
    ip = task.ipoint;
    return mgpu[ip[0] % mgpu.size[0], ip[0] / mgpu.size[0] % mgpu.size[1]];
}
IndexTaskMap calculate_new_currents,distribute_charge,update_voltages cyclic;""",
    "block2d": M + """def block2d(Task task) {
    ip = task.ipoint;
    sz = task.ispace;
    m4 = m.auto_split(0, sz).auto_split(2, sz);
    blk = sz / m4[:-2];
    return m4[*(ip / blk), 0, 0];
}
IndexTaskMap stencil block2d;""".replace("m4[*(ip / blk), 0, 0]", "m[0, 0]"),
}


def strip(x):
    """Tree without positions, to compare two parses."""
    if dataclasses.is_dataclass(x):
        return (type(x).__name__,) + tuple(
            strip(getattr(x, f.name)) for f in dataclasses.fields(x)
            if f.name not in ("line", "col", "end_line", "comments", "source"))
    if isinstance(x, list):
        return tuple(strip(i) for i in x)
    return x


def test_count():
    assert len(VALID) >= 40


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_checks_clean(name):
    program, diags = check_text(VALID[name], f"{name}.map")
    errors = [d.format() for d in diags if d.is_error]
    assert program is not None and not errors, errors


@pytest.mark.parametrize("name", sorted(VALID))
def test_fmt_roundtrip(name):
    program = parse(VALID[name]).program
    once = format_program(program)
    again = parse(once).program
    assert strip(again) == strip(program)
    assert format_program(again) == once


@pytest.mark.parametrize("name", sorted(VALID))
def test_compiles_to_json(name):
    program, _ = check_text(VALID[name], f"{name}.map")
    ir = compile_program(program)
    text = json.dumps(ir)
    assert json.loads(text)["version"] == 1
    assert ir["source"] == f"{name}.map"


def test_positions_kept():
    program = parse("Task * CPU;\n\nm = Machine(GPU);\ndef f(Task t) {\n  return m[0, 0];\n}\n").program
    task, glob, func = program.stmts
    assert (task.line, task.col) == (1, 1)
    assert (glob.line, glob.expr.line, glob.expr.col) == (3, 3, 5)
    assert func.body[0].line == 5 and func.body[0].expr.line == 5


def test_ir_precedence_fields():
    program, _ = check_text("Region * * GPU FBMEM;\nRegion a * GPU ZCMEM;\nRegion a r * SYSMEM;\nRegion a 0 GPU FBMEM;")
    ir = compile_program(program)
    assert [r["rank"] for r in ir["regions"]] == [1, 5, 6, 7]
    assert [r["order"] for r in ir["regions"]] == [0, 1, 2, 3]
    assert ir["regions"][3]["region"] == 0 and ir["regions"][2]["region"] == "r"


def test_ir_global_space_chain():
    program, _ = check_text("m = Machine(GPU);\nm2 = Machine(CPU).merge(0, 1).auto_split(0, (2, 2));")
    g = compile_program(program)["globals"]
    assert g[1]["space"] == {"kind": "CPU", "transforms": [{"op": "merge", "args": [0, 1]},
                                                          {"op": "auto_split", "args": [0, [2, 2]]}]}


def test_ir_slots_and_lines():
    program, _ = check_text(M + "def f(Task t) {\n  x = 1;\n  y = tuple(i for i in t.ipoint);\n  return m[x, 0];\n}\nIndexTaskMap a f;")
    f = compile_program(program)["functions"]["f"]
    assert f["params"] == [{"name": "t", "type": "Task"}]
    assert f["nslots"] == 4
    assert [s["line"] for s in f["body"]] == [3, 4, 5]
    assert f["body"][1]["expr"]["op"] == "tuple_for"


def test_fmt_keeps_comments():
    src = "# head\nTask * CPU; # tail\ndef f(Task t) {\n # in\n return Machine(CPU)[0, 0];\n}\nIndexTaskMap a f;\n# end\n"
    out = format_program(parse(src).program)
    for c in ("# head", "Task * CPU;  # tail", "    # in", "# end"):
        assert c in out

"""The published language, whole: our own mappers in every published form check, compile, format
and explain; published meanings (tuple .size, first statement wins, `*`, kind values, `.has`,
int64 arithmetic, the earlier dialect and its upgrade); deep and long expressions never raise."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpcmap.dsl.app import TaskInfo, load_app
from hpcmap.dsl.check import check_text
from hpcmap.dsl.evaluate import Evaluator, MachineShape, MappingError
from hpcmap.dsl.explain import explain_task
from hpcmap.dsl.fmt import format_program, upgrade
from hpcmap.dsl.ir import compile_program
from hpcmap.dsl.parser import parse

CASES = Path(__file__).with_name("dsl_cases")
PUBLISHED = sorted((CASES / "published").glob("*.map"))
CMD = [sys.executable, "-m", "hpcmap.cli", "dsl"]
GPU1x4 = MachineShape(1, {"CPU": 4, "GPU": 4, "OMP": 1}, {"GPU": ("FBMEM", "ZCMEM"), "CPU": ("SYSMEM", "ZCMEM")})
CPU1x4 = MachineShape(1, {"CPU": 4}, {"CPU": ("SYSMEM",)})


def compiled(src: str, source: str = "t.map") -> dict:
    program, diags = check_text(src, source)
    errors = [d.format() for d in diags if d.is_error]
    assert program is not None and not errors, errors
    return compile_program(program)


def value_of(expr: str, machine: MachineShape = GPU1x4, prelude: str = ""):
    """The value of `expr` inside a mapping function, through the printed text of the evaluator."""
    ev = Evaluator(compiled(prelude + "m = Machine(CPU);\ndef f(Task task) {\n"
                            f'    print("{{}}", {expr});\n    return m[0, 0];\n}}\nIndexTaskMap a f;\n'), machine)
    ev.map_point("a", (4, 2), (3, 1))
    return ev.printed[-1]


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem)
def test_published_form_checks_compiles_formats_and_explains(path):
    text = path.read_text()
    program, diags = check_text(text, str(path))
    assert program is not None and not [d.format() for d in diags if d.is_error]
    ir = compile_program(program)
    json.dumps(ir)
    formatted = format_program(program)
    again = parse(formatted, "f.map").program
    assert format_program(again) == formatted
    mapped = [t for e in ir["index_maps"] for t in e["tasks"] if t != "*"]
    domain = (2, 2, 2) if path.stem == "earlier_dialect" else (4, 2)  # block3d maps 3-D launches
    plan = explain_task(ir, GPU1x4, mapped[0], domain)
    assert plan.kind == "GPU" and plan.placements and plan.function is not None
    assert all(p.kind in ("GPU", "OMP") for p in plan.placements)


@pytest.mark.parametrize("expr, want", [
    ("task.ipoint.size", "(3, 1)"),            # .size of a tuple is the tuple
    ("task.ispace.size[0]", "4"),
    ("task.ispace.len", "2"),
    ("task.ispace.volume", "8"),
    ("m.size", "(1, 4)"),
    ("m.len", "2"),
    ("m.volume", "4"),
    ("(*task.ipoint, *m.size, 7)", "(3, 1, 1, 4, 7)"),
    ("helper(task.ipoint, task.ispace, m, 0, 1)", "3"),  # x[d1] * m.size[d2] / y.size[d1] = 3 * 4 / 4
    ("helper(task.ipoint, task.ispace, m, *(1, 1))", "2"),  # 1 * 4 / 2
    ("GPU", "GPU"),
    ("GPU == GPU && CPU != GPU", "true"),
    ("m[3].has(SYSMEM)", "true"),
    ("m[0].has(FBMEM)", "false"),
    ("m[0, 1].has(ZCMEM)", "true"),
    ("Machine(GPU)[0].has(FBMEM)", "true"),
    ("-9223372036854775808 % -1", "0"),
    ("-7 / 2", "-3"),
    ("-7 % 2", "-1"),
])
def test_published_meaning_of_expressions(expr, want):
    helper = "def helper(IPoint x, ISpace y, MSpace m, int d1, int d2) { return x[d1] * m.size[d2] / y.size[d1]; }\n"
    assert value_of(expr, prelude=helper) == want


@pytest.mark.parametrize("expr, message", [
    ("9223372036854775807 + task.ipoint[0]", "integer overflow in 9223372036854775807 + 3"),
    ("-9223372036854775807 - 2 * task.ipoint[1]", "integer overflow in -9223372036854775807 - 2"),
    ("4611686018427387904 * (task.ipoint[0] - 1)", "integer overflow in 4611686018427387904 * 2"),
    ("-(-9223372036854775807 - task.ipoint[1])", "integer overflow in 0 - -9223372036854775808"),
    ("(-9223372036854775807 - 1) / (0 - task.ipoint[1])", "integer overflow in -9223372036854775808 / -1"),
    ("(4294967296, 4294967296).volume", "integer overflow in 4294967296 * 4294967296"),
    ("m[4].has(SYSMEM)", "index 4 out of range for the 4 CPU processors of a node"),
])
def test_integer_and_range_errors_are_mapping_errors(expr, message):
    with pytest.raises(MappingError) as exc:
        value_of(expr)
    assert exc.value.message == message


def test_first_statement_wins_and_star_is_the_fallback():
    ir = compiled("m = Machine(CPU);\n"
                  "def f(Task t) { return m[0, 1]; }\ndef g(Task t) { return m[0, 2]; }\n"
                  "def h(Task t) { return m[0, 3]; }\n"
                  "IndexTaskMap * h;\nIndexTaskMap a,b f;\nIndexTaskMap a g;\n"
                  "Task * GPU,CPU;\nTask a,b CPU;\nTask a GPU;\n"
                  "Region * * * SYSMEM;\nRegion a * CPU ZCMEM,SYSMEM;\nRegion a * CPU FBMEM;\n")
    ev = Evaluator(ir, GPU1x4)
    assert [ev.map_point(t, (1,), (0,)).processor for t in ("a", "b", "c")] == [1, 1, 3]
    info = load_app(str(CASES / "layout_app.toml")).tasks["a"]
    plan = explain_task(ir, GPU1x4, "a", (1,), info)
    assert (plan.kind, plan.kind_line) == ("CPU", 9)
    assert [(r.memory, r.chain) for r in plan.regions] == [("ZCMEM", ["ZCMEM", "SYSMEM", "FBMEM"])] * 2
    assert explain_task(ir, GPU1x4, "c", (1,)).kind == "GPU"


def test_int_literal_outside_int64_is_a_static_error():
    _, diags = check_text("x = 9223372036854775808;\ny = -9223372036854775808;\n", "t.map")
    assert [(d.code, d.line) for d in diags if d.is_error] == [("E309", 1)]
    big = "99999999999999999999"
    _, diags = check_text(f"Layout * * * Align=={big};\nInstanceLimit t {big};\nRegion t {big} GPU FBMEM;\n", "t.map")
    assert [(d.code, d.line) for d in diags if d.is_error] == [("E309", 1), ("E309", 2), ("E309", 3)]


def test_flat_thousand_terms_and_deep_nesting(tmp_path):
    flat = " + ".join(["task.ipoint[0]"] * 999 + ["1"])
    assert value_of(flat) == str(999 * 3 + 1)
    assert value_of("(" * 900 + "1" + " + 1)" * 900) == "901"
    deep = tmp_path / "deep.map"
    deep.write_text("x = " + "(1 + " * 5000 + "1" + ")" * 5000 + ";\n" + "y = " + "-" * 3000 + "1;\n")
    r = subprocess.run(CMD + ["check", str(deep)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if " error " in ln]
    assert [ln.split(":")[1] for ln in errors] == ["1", "2"] and all("E308" in ln for ln in errors)


def test_layout_contradicting_a_variant_requirement_is_an_error_naming_the_reason():
    app = load_app(str(CASES / "layout_app.toml"))
    _, diags = check_text("Layout a * GPU AOS C_order;\nLayout a * CPU AOS;\nLayout b rows FBMEM F_order;\n", "t.map", app)
    errors = [d for d in diags if d.is_error]
    assert [(d.code, d.line) for d in errors] == [("E310", 1), ("E310", 3)]
    assert "cuBLAS reads row-major SOA tiles" in errors[0].message
    assert errors[0].hint == "Layout a * GPU SOA C_order;"
    assert "C_order" in errors[1].message
    _, diags = check_text("Layout a rws GPU SOA;\nLayout aa * GPU SOA;\n", "t.map", app)
    assert [(d.code, d.line) for d in diags if d.is_error] == [("E213", 1), ("E212", 2)]
    assert "Layout a rows GPU SOA;" in diags[0].hint


def test_a_kind_in_the_task_list_maps_the_tasks_that_run_on_that_kind():
    """`IndexTaskMap GPU f;` maps every task that runs on GPUs: a named task beats the kind, the kind
    beats `*` (even a `*` written first), and among statements for one kind the first wins."""
    src = ("c = Machine(CPU);\ng = Machine(GPU);\n"
           "def star(Task t) { return c[0, 3]; }\ndef on_gpu(Task t) { return g[0, 1]; }\n"
           "def later(Task t) { return g[0, 2]; }\ndef named(Task t) { return g[0, 3]; }\n"
           "def on_cpu(Task t) { return c[0, 2]; }\n"
           "IndexTaskMap * star;\nIndexTaskMap GPU on_gpu;\nIndexTaskMap GPU later;\n"
           "IndexTaskMap b named;\nIndexTaskMap CPU on_cpu;\nTask * GPU;\nTask d CPU;\nTask e OMP;\n")
    program, diags = check_text(src, "k.map")
    assert program is not None and [d.code for d in diags] == ["W401"]  # `IndexTaskMap GPU later;`
    ir = compile_program(program)
    ev = Evaluator(ir, GPU1x4)
    got = {t: (ev.map_point(t, (2,), (0,)).kind, ev.map_point(t, (2,), (0,)).processor) for t in "abde"}
    assert got == {"a": ("GPU", 1), "b": ("GPU", 3), "d": ("CPU", 2), "e": ("CPU", 3)}
    plan = explain_task(ir, GPU1x4, "a", (2,))
    assert (plan.kind, plan.function) == ("GPU", "on_gpu")
    # On a machine without GPUs the tasks run on CPUs, and the GPU statements do not apply.
    assert explain_task(ir, CPU1x4, "a", (2,)).function == "on_cpu"


def test_earlier_dialect_warns_and_upgrade_keeps_every_placement(tmp_path):
    path = CASES / "published" / "earlier_dialect.map"
    program, diags = check_text(path.read_text(), str(path))
    assert {d.code for d in diags} == {"W407"}
    r = subprocess.run(CMD + ["fmt", "--upgrade", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    new_program, new_diags = check_text(r.stdout, "up.map")
    assert new_program is not None and not new_diags, [d.format() for d in new_diags]
    assert "IndexTaskMap * m10" not in r.stdout and "def blockwise_m10(Task task) {" in r.stdout
    old, new = Evaluator(compile_program(program), GPU1x4), Evaluator(compile_program(new_program), GPU1x4)
    for task, domain in (("task_1", (2, 2, 2)), ("task_3", (2, 2, 2)), ("init_cublas", (8,)), ("other", (2, 2))):
        assert old.explain(task, domain) == new.explain(task, domain)
    assert format_program(upgrade(new_program)) == r.stdout


def test_portable_mapper_leaves_out_gpu_maps_on_a_cpu_machine():
    ir = compiled((CASES / "published" / "every_form.map").read_text())
    assert explain_task(ir, CPU1x4, "stencil", (2, 2)).function is None
    assert explain_task(ir, CPU1x4, "top_level", (1,), TaskInfo("top_level", launch="single")).function == "first"
    assert explain_task(ir, GPU1x4, "stencil", (2, 2)).function == "pick"

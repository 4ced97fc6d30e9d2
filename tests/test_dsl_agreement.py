"""One meaning everywhere: the C++ mapper (a real stencil run, its decision log or its error line)
and the Python reference evaluator agree on published forms, the earlier dialect and integer edge cases."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "mapper_cases"))
from harness import CASES, CPUS, check_passed, compile_policy, run_stencil, stencil_exe  # noqa: E402,F401

from hpcmap.dsl.evaluate import Evaluator, MachineShape, MappingError  # noqa: E402
from hpcmap.dsl.ir import ir_from_text  # noqa: E402

LAUNCHED = ("init", "stencil", "increment", "check")
DOMAIN = (4, 2)  # the harness's -ntx 4 -nty 2
# What a CPU-only Legion process on this host has: CPUs with system memory only.
SHAPE = MachineShape(1, {"CPU": CPUS}, {"CPU": ("SYSMEM",)})


def _evaluator(mapper: Path, tmp_path: Path) -> Evaluator:
    return Evaluator(ir_from_text(compile_policy(mapper, tmp_path / "ir.json").read_text()), SHAPE)


@pytest.mark.parametrize("case", ["published", "earlier_dialect"])
def test_published_forms_place_every_point_as_the_reference_evaluator(case, stencil_exe, tmp_path):
    mapper = CASES / f"{case}.map"
    run = run_stencil(stencil_exe, tmp_path, mapper)
    assert check_passed(run), run.stderr[-2000:]
    ev = _evaluator(mapper, tmp_path)
    seen = 0
    for task in LAUNCHED:
        decisions = run.calls("slice_task", task) + run.calls("map_task", task)
        assert decisions, f"no decisions logged for {task}"
        for d in decisions:
            want = ev.map_point(task, DOMAIN, tuple(d["point"]))
            assert (d["kind"], d["node"], d["proc"]) == (want.kind, want.node, want.processor), (task, d, want)
            seen += 1
    assert seen >= 2 * 8 * len(LAUNCHED)
    # The mapper does not send every point to one processor: the cases exercise real choices.
    assert len({(d["node"], d["proc"]) for d in run.log if d["call"] == "map_task"}) > 1


def test_long_and_deep_expressions_agree(stencil_exe, tmp_path):
    """A 1,000-term flat sum and a 1,900-level right-nested one run in the mapper as in Python."""
    flat = " + ".join(["ip[0]"] * 999 + ["ip[1]"])
    deep = "(ip[1] + " * 1900 + "0" + ")" * 1900
    mapper = tmp_path / "long.map"
    mapper.write_text(f"m = Machine(CPU);\ndef long(Task task) {{\n    ip = task.ipoint;\n    a = {flat};\n"
                      f"    b = {deep};\n    return m[0, (a + b) % m.size[1]];\n}}\n"
                      "IndexTaskMap init,stencil,increment,check long;\n")
    run = run_stencil(stencil_exe, tmp_path, mapper)
    assert check_passed(run), run.stderr[-2000:]
    ev = _evaluator(mapper, tmp_path)
    decisions = run.calls("map_task", "stencil")
    assert len(decisions) >= 8
    for d in decisions:
        want = ev.map_point("stencil", DOMAIN, tuple(d["point"]))
        assert (d["node"], d["proc"]) == (want.node, want.processor), (d, want)
    assert ev.map_point("stencil", DOMAIN, (1, 1)).processor == (999 + 1 + 1900) % CPUS


def test_balance_split_of_twelve_processors_agrees(stencil_exe, tmp_path):
    mapper = CASES / "balance12.map"
    run = run_stencil(stencil_exe, tmp_path, mapper, extra=["-ll:cpu", "12"])
    assert check_passed(run), run.stderr[-2000:]
    ir = ir_from_text(compile_policy(mapper, tmp_path / "ir.json").read_text())
    ev = Evaluator(ir, MachineShape(1, {"CPU": 12}, {"CPU": ("SYSMEM",)}))
    decisions = run.calls("map_task", "stencil")
    assert len(decisions) >= 8
    for d in decisions:
        want = ev.map_point("stencil", DOMAIN, tuple(d["point"]))
        assert (d["node"], d["proc"]) == (want.node, want.processor), (d, want)
    # 4 x 3: point (3, 1) goes to index (0, 3, 1) of the split space, processor 3 + 1 * 4.
    assert ev.map_point("stencil", DOMAIN, (3, 1)).processor == 7


@pytest.mark.parametrize("case, message", [
    ("overflow", "integer overflow in 9223372036854775807 + 1"),
    ("int_min_div", "integer overflow in -9223372036854775808 / -1"),
])
def test_integer_overflow_is_the_same_clean_error_on_both_sides(case, message, stencil_exe, tmp_path):
    mapper = CASES / f"{case}.map"
    with pytest.raises(MappingError) as python_error:
        _evaluator(mapper, tmp_path).explain("stencil", DOMAIN)
    assert python_error.value.message == message
    run = run_stencil(stencil_exe, tmp_path, mapper, timeout=60)
    assert run.returncode != 0 and "HPCMAP_RESULT" not in run.stdout
    lines = [x for x in run.stderr.splitlines() if x.startswith("hpcmap-mapper:")]
    assert lines == [f"hpcmap-mapper: error: {python_error.value}"]

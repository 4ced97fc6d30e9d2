"""C++ mapper decisions (from -hpcmap:log) against the Python reference evaluator, point by point."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "mapper_cases"))
from harness import CASES, CPUS, check_passed, compile_policy, run_stencil, stencil_exe  # noqa: E402,F401

from hpcmap.dsl.evaluate import Evaluator, MachineShape  # noqa: E402

LAUNCHED = ("init", "stencil", "increment", "check")


@pytest.mark.parametrize("case", ["block", "cyclic", "linear2d", "set"])
def test_decisions_match_reference_evaluator(case, stencil_exe, tmp_path):
    mapper = CASES / f"{case}.map"
    run = run_stencil(stencil_exe, tmp_path, mapper)
    assert check_passed(run), run.stderr[-2000:]
    ir = json.loads(compile_policy(mapper, tmp_path / "ir.json").read_text())
    ev = Evaluator(ir, MachineShape(1, {"CPU": CPUS}))
    seen = 0
    for task in LAUNCHED:
        slices = run.calls("slice_task", task)
        maps = run.calls("map_task", task)
        assert slices and maps, f"no decisions logged for {task}"
        for d in slices + maps:
            want = ev.map_point(task, (4, 2), tuple(d["point"]))
            assert d["kind"] == want.kind == "CPU"
            if want.set is None:
                assert (d["node"], d["proc"]) == (want.node, want.processor), (task, d, want)
                if d["call"] == "map_task":
                    assert d["procs"] == [[want.node, want.processor]]
            else:
                assert [d["node"], d["proc"]] in [list(p) for p in want.set], (task, d, want)
                if d["call"] == "slice_task":
                    assert d["set"] == [list(p) for p in want.set]
                else:
                    assert sorted(d["procs"]) == sorted(list(p) for p in want.set)
            seen += 1
    assert seen >= 2 * 8 * len(LAUNCHED)  # every point of every launch, sliced and mapped

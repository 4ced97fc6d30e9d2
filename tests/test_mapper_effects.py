"""Policies change what Legion does: placement and layout, seen in the mapper log and Legion Prof."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "mapper_cases"))
from harness import CASES, check_passed, run_stencil, stencil_exe  # noqa: E402,F401


def _stencil_procs_in_profile(prof_dir: Path) -> set[int]:
    from hpcmap.profile.importer import load_logs

    tables, _, _ = load_logs(sorted(prof_dir.glob("prof_*.gz")))
    names = {int(r["task_id"]): str(r["name"]) for r in tables["task_kinds"]}
    return {int(r["proc_id"]) for r in tables["tasks"] if names.get(int(r["task_id"])) == "stencil"}


def test_all_points_on_cpu0_moves_the_tasks(stencil_exe, tmp_path):
    moved_prof, base_prof = tmp_path / "moved", tmp_path / "base"
    moved_prof.mkdir()
    base_prof.mkdir()
    prof = ["-lg:prof", "1", "-lg:prof_logfile"]
    moved = run_stencil(stencil_exe, tmp_path, CASES / "cpu0.map", prof + [str(moved_prof / "prof_%.gz")])
    base = run_stencil(stencil_exe, tmp_path, CASES / "default_equiv.map", prof + [str(base_prof / "prof_%.gz")])
    assert check_passed(moved) and check_passed(base), moved.stderr[-2000:] + base.stderr[-2000:]
    # Mapper log: every stencil point on (0, 0), where the DefaultMapper-like policy spreads them.
    assert {(d["node"], d["proc"]) for d in moved.calls("map_task", "stencil")} == {(0, 0)}
    assert all(d["procs"] == [[0, 0]] for d in moved.calls("map_task", "stencil"))
    assert len({d["proc"] for d in base.calls("map_task", "stencil")}) > 1
    # Legion Prof: every stencil task ran on one processor in the moved run, on several in the other.
    assert len(_stencil_procs_in_profile(moved_prof)) == 1
    assert len(_stencil_procs_in_profile(base_prof)) > 1


def test_layout_statements_change_instances(stencil_exe, tmp_path):
    # Legion Prof logs do not record instance layouts, so this reads the layouts of the chosen
    # instances (from Legion's own constraint sets) out of the mapper log.
    run = run_stencil(stencil_exe, tmp_path, CASES / "f_order.map")
    assert check_passed(run), run.stderr[-2000:]
    stencil = run.calls("map_task", "stencil")
    assert stencil and all(r["layout"] == "SOA,C" for d in stencil for r in d["regions"])
    for task in ("init", "increment"):
        maps = run.calls("map_task", task)
        assert maps and all(r["layout"] == "AOS,F" and r["memory"] == "SYSMEM" for d in maps for r in d["regions"])
    default = run_stencil(stencil_exe, tmp_path, CASES / "default_equiv.map")
    assert all(r["layout"] == "SOA,F" for d in default.calls("map_task") for r in d["regions"])


def test_policy_stating_default_choices_matches_default_mapper(stencil_exe, tmp_path):
    stated = run_stencil(stencil_exe, tmp_path, CASES / "default_equiv.map")
    assert check_passed(stated), stated.stderr[-2000:]
    # `Task * CPU;` alone leaves map_task to DefaultMapper itself; the memories and layouts agree.
    only_kind = tmp_path / "only_kind.map"
    only_kind.write_text("Task * CPU;\n")
    default = run_stencil(stencil_exe, tmp_path, only_kind)
    assert check_passed(default)

    def regions(run):
        return {(d["task"], tuple(d["point"]), r["index"]): (r["memory"], r["layout"])
                for d in run.calls("map_task") for r in d["regions"]}

    assert regions(stated) == regions(default)
    assert all(r["rule"] == 0 for d in default.calls("map_task") for r in d["regions"])


def test_remaining_statements_run(stencil_exe, tmp_path):
    run = run_stencil(stencil_exe, tmp_path, CASES / "statements.map")
    assert check_passed(run), run.stderr[-2000:]
    top = run.calls("map_task", "top_level")
    assert top and (top[0]["node"], top[0]["proc"]) == (0, 1)  # SingleTaskMap
    ghost = [r for d in run.calls("map_task", "stencil") for r in d["regions"] if "ghost" in r["names"]]
    assert ghost and all(r["untracked"] for r in ghost)  # CollectMemory

"""The policy mapper's published meaning and its effects, each seen by Legion itself (Legion Prof)
or in the decision log: precedence, the Region fallback chain, portable mapping functions,
InstanceLimit, layouts, and mappings reused as DefaultMapper reuses them."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "mapper_cases"))
from harness import CPUS, Run, check_passed, compile_policy, legion_env, run_stencil, stencil_exe  # noqa: E402,F401

from hpcmap.profile.importer import load_logs  # noqa: E402
from hpcmap.profile.logfile import open_log  # noqa: E402

# Legion's dimension kinds in PhysicalInstDimOrderDesc: X, Y, ..., and the field dimension.
DIM_X, DIM_Y, DIM_F = 0, 1, 9


def mapper_file(tmp: Path, name: str, text: str) -> Path:
    path = tmp / f"{name}.map"
    path.write_text(text)
    return path


# Tiles big enough (500 x 1000 points) that tasks on different CPUs overlap in time.
BIG_STENCIL = ["-nx", "2000", "-ny", "1000", "-ntx", "4", "-nty", "2", "-tsteps", "4", "-tprune", "1"]


def run_big_stencil(exe: Path, tmp: Path, name: str, text: str, extra: list[str]) -> Run:
    policy = compile_policy(mapper_file(tmp, name, text), tmp / f"{name}.json")
    log = tmp / f"{name}.jsonl"
    argv = [str(exe)] + BIG_STENCIL + ["-ll:cpu", str(CPUS), "-ll:util", "1", "-ll:csize", "512",
                                       "-hpcmap:policy", str(policy), "-hpcmap:log", str(log)] + extra
    start = time.perf_counter()
    done = subprocess.run(argv, env=legion_env(), capture_output=True, text=True, timeout=300)
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return Run(done.returncode, done.stdout, done.stderr, time.perf_counter() - start, lines)


def profiled(exe: Path, tmp: Path, name: str, text: str, big: bool = False,
             extra: list[str] | None = None) -> tuple[Run, Path]:
    """A stencil run with this mapper and Legion Prof on; the run and its log directory."""
    prof = tmp / f"prof-{name}"
    prof.mkdir()
    extra = ["-lg:prof", "1", "-lg:prof_logfile", str(prof / "prof_%.gz")] + (extra or [])
    if big:
        run = run_big_stencil(exe, tmp, name, text, extra)
    else:
        run = run_stencil(exe, tmp, mapper_file(tmp, name, text), extra)
    assert check_passed(run), run.stderr[-2000:]
    return run, prof


def stencil_intervals(prof: Path) -> list[tuple[int, int]]:
    tables, _, _ = load_logs(sorted(prof.glob("prof_*.gz")))
    ids = {int(r["task_id"]) for r in tables["task_kinds"] if str(r["name"]) == "stencil"}
    return [(int(r["start"]), int(r["stop"])) for r in tables["tasks"] if int(r["task_id"]) in ids]


def most_at_once(intervals: list[tuple[int, int]]) -> int:
    """The largest number of intervals that overlap at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(stop, -1) for _, stop in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def regions_of(run: Run, task: str) -> list[dict]:
    return [r for d in run.calls("map_task", task) for r in d["regions"]]


def test_first_of_equally_specific_statements_wins(stencil_exe, tmp_path):
    text = "Task * CPU;\nLayout stencil * * SOA C_order;\nLayout stencil * * AOS F_order;\n"
    run = run_stencil(stencil_exe, tmp_path, mapper_file(tmp_path, "first", text))
    assert check_passed(run), run.stderr[-2000:]
    regions = regions_of(run, "stencil")
    assert regions and all(r["layout"] == "SOA,C" and r["layout_rule"] == 2 for r in regions)


def test_region_lists_form_one_fallback_chain(stencil_exe, tmp_path):
    # (task, region) lists only a memory this machine lacks; the chain goes on to (task, *).
    text = "Task * CPU;\nRegion stencil ghost CPU FBMEM;\nRegion stencil * CPU SYSMEM;\nRegion * * CPU ZCMEM;\n"
    run = run_stencil(stencil_exe, tmp_path, mapper_file(tmp_path, "chain", text))
    assert check_passed(run), run.stderr[-2000:]
    ghost = [r for r in regions_of(run, "stencil") if "ghost" in r["names"]]
    assert ghost and all(r["memory"] == "SYSMEM" and r["rule"] == 3 and not r["fallback"] for r in ghost)
    # init lists only (*, *): no memory of it exists here, so DefaultMapper decides, and says so.
    init = regions_of(run, "init")
    assert init and all(r["memory"] == "SYSMEM" and r["fallback"] for r in init)


def test_no_listed_memory_leaves_the_choice_to_default_mapper(stencil_exe, tmp_path):
    run = run_stencil(stencil_exe, tmp_path, mapper_file(tmp_path, "nomem", "Region * * * FBMEM,ZCMEM;\n"))
    assert check_passed(run), run.stderr[-2000:]
    assert "hpcmap-mapper: error" not in run.stderr
    regions = [r for d in run.calls("map_task") for r in d["regions"] if r["memory"] not in (None, "VIRTUAL")]
    assert regions and all(r["memory"] == "SYSMEM" and r["fallback"] for r in regions)


def test_mapping_function_of_a_missing_kind_does_not_apply(stencil_exe, tmp_path):
    text = """Task * CPU;
mg = Machine(GPU);
def ongpu(Task task) {
    return mg[0, task.ipoint[0] % mg.size[1]];
}
IndexTaskMap stencil ongpu;
"""
    run = run_stencil(stencil_exe, tmp_path, mapper_file(tmp_path, "gpuonly", text))
    assert check_passed(run), run.stderr[-2000:]
    skips = run.calls("skip")
    assert [(s["statement"], s["line"], s["function"]) for s in skips] == [("IndexTaskMap", 6, "ongpu")]
    assert "no GPU processors" in skips[0]["reason"]
    # DefaultMapper's slicing spreads the points over the CPUs instead.
    assert not run.calls("slice_task", "stencil")
    assert len({d["proc"] for d in run.calls("map_task", "stencil")}) > 1


def test_a_kind_in_the_task_list_maps_the_tasks_that_run_on_that_kind(stencil_exe, tmp_path):
    """`IndexTaskMap CPU last;` places every index launch of a task that runs on CPUs (DefaultMapper's
    choice here, no Task statement) and that no statement names; it beats the `*` written before it,
    and the named `stencil` keeps its own function."""
    text = """m = Machine(CPU);
def first(Task task) { return m[0, 0]; }
def last(Task task) { return m[0, m.size[1] - 1]; }
def cyclic(Task task) { return m[0, (task.ipoint[0] + task.ipoint[1]) % m.size[1]]; }
IndexTaskMap * first;
IndexTaskMap CPU last;
IndexTaskMap stencil cyclic;
"""
    run = run_stencil(stencil_exe, tmp_path, mapper_file(tmp_path, "bykind", text))
    assert check_passed(run), run.stderr[-2000:]
    for task in ("init", "increment", "check"):
        slices, maps = run.calls("slice_task", task), run.calls("map_task", task)
        assert slices and all((d["kind"], d["proc"]) == ("CPU", CPUS - 1) for d in slices), task
        assert maps and all(d["proc"] == CPUS - 1 for d in maps), task
    stencil = run.calls("map_task", "stencil")
    assert len({d["proc"] for d in stencil}) > 1
    assert all(d["proc"] == (d["point"][0] + d["point"][1]) % CPUS for d in stencil + run.calls("slice_task", "stencil"))


def test_instance_limit_bounds_the_tasks_in_flight(stencil_exe, tmp_path):
    limited, limited_prof = profiled(stencil_exe, tmp_path, "limit1", "Task * CPU;\nInstanceLimit stencil 1;\n", True)
    free, free_prof = profiled(stencil_exe, tmp_path, "free", "Task * CPU;\n", True)
    # Decision log: every slot taken is freed, and never more than one is held.
    starts, finishes = limited.calls("limit_start", "stencil"), limited.calls("limit_finish", "stencil")
    assert len(starts) == len(limited.calls("map_task", "stencil")) == len(finishes) > 1
    assert {d["uid"] for d in starts} == {d["uid"] for d in finishes}
    held = 0
    for d in limited.log:
        if d["call"] in ("limit_start", "limit_finish") and d["task"] == "stencil":
            held += 1 if d["call"] == "limit_start" else -1
            assert held == d["in_flight"] and 0 <= held <= 1
    # Legion Prof: no two stencil tasks ever ran at once; without the limit they do (4 CPUs).
    assert most_at_once(stencil_intervals(limited_prof)) == 1
    assert most_at_once(stencil_intervals(free_prof)) > 1


def _instances(prof: Path) -> dict[int, dict]:
    """Every instance of the run: size, alignment, dimension order and index space, from Legion Prof."""
    out: dict[int, dict] = {}
    for path in sorted(prof.glob("prof_*.gz")):
        log = open_log(path)
        for r in log.records("InstTimelineInfo"):
            out.setdefault(int(r["inst_uid"]), {"align": set(), "order": {}})["size"] = int(r["size"])
        for r in log.records("PhysicalInstLayoutDesc"):
            if r["has_align"]:
                out.setdefault(int(r["inst_uid"]), {"align": set(), "order": {}})["align"].add(int(r["align_desc"]))
        for r in log.records("PhysicalInstDimOrderDesc"):
            out.setdefault(int(r["inst_uid"]), {"align": set(), "order": {}})["order"][int(r["dim"])] = int(r["dim_kind"])
        for r in log.records("PhysicalInstRegionDesc"):
            out.setdefault(int(r["inst_uid"]), {"align": set(), "order": {}})["ispace"] = int(r["ispace_id"])
    for inst in out.values():
        inst["order"] = tuple(inst["order"][d] for d in sorted(inst["order"]))
    return out


def test_layout_statements_shape_the_instances_legion_makes(stencil_exe, tmp_path):
    _, plain_prof = profiled(stencil_exe, tmp_path, "plain", "Task * CPU;\nRegion * * CPU SYSMEM;\n")
    text = "Task * CPU;\nRegion * * CPU SYSMEM;\nLayout stencil * * SOA C_order Align==128 Exact;\n"
    run, shaped_prof = profiled(stencil_exe, tmp_path, "shaped", text)
    plain, shaped = _instances(plain_prof), _instances(shaped_prof)
    assert plain and not any(i["align"] for i in plain.values())
    assert all(i["order"] == (DIM_X, DIM_Y, DIM_F) for i in plain.values() if len(i["order"]) == 3)
    aligned = [i for i in shaped.values() if i["align"]]
    assert aligned and all(i["align"] == {128} for i in aligned)
    assert all(i["order"] == (DIM_Y, DIM_X, DIM_F) for i in aligned)  # C order: the last dimension fastest
    # Exact: one instance per tile's own region, not DefaultMapper's instance of the whole grid.
    assert len({i["ispace"] for i in aligned}) > 1
    assert max(i["size"] for i in aligned) < max(i["size"] for i in plain.values())
    assert all((r["rule"], r["layout_rule"]) == (2, 3) for r in regions_of(run, "stencil"))


def _copies(prof: Path) -> set[tuple[int, int]]:
    """(source, destination) instance of every copy Legion Prof recorded."""
    pairs: set[tuple[int, int]] = set()
    for path in sorted(prof.glob("prof_*.gz")):
        r = open_log(path).records("CopyInstInfo")
        if r is not None:
            pairs |= {(int(a), int(b)) for a, b in zip(r["src_inst"], r["dst_inst"])}
    return pairs


def test_compact_gets_an_instance_that_affine_ones_never_stand_in_for(stencil_exe, tmp_path):
    """Compact asks Legion for a compact instance (LEGION_COMPACT_SPECIALIZE), which an affine instance
    never satisfies: the stencil task gets an instance of the grid of its own beside the affine one that
    DefaultMapper makes for the other tasks, and Legion copies the data between them both ways; without
    Compact every task shares the one instance. (On a sparse region a compact instance would also hold
    only the region's points; the apps with sparse regions need dense instances, E311.)"""
    base = "Task * CPU;\nRegion * * CPU SYSMEM;\nLayout stencil * * SOA F_order"
    _, plain_prof = profiled(stencil_exe, tmp_path, "affine", base + ";\n")
    run, compact_prof = profiled(stencil_exe, tmp_path, "compact", base + " Compact;\n")
    assert all(r["layout_rule"] == 3 for r in regions_of(run, "stencil"))
    plain, compact = _instances(plain_prof), _instances(compact_prof)
    assert len(plain) == 1 and not _copies(plain_prof)
    grid = next(iter(plain.values()))
    same_grid = [uid for uid, i in compact.items() if (i["ispace"], i["size"]) == (grid["ispace"], grid["size"])]
    assert len(same_grid) == 2 and len(compact) == 2
    assert _copies(compact_prof) == {tuple(same_grid), tuple(reversed(same_grid))}


def test_mappings_are_reused_as_default_mapper_reuses_them(stencil_exe, tmp_path):
    """The stated-default policy creates no more instances than DefaultMapper: later launches reuse
    the first launch's mapping rather than asking Legion for instances again (Legion's tracing off,
    so every launch is mapped)."""
    stated, stated_prof = profiled(stencil_exe, tmp_path, "stated",
                                   "Task * CPU;\nRegion * * CPU SYSMEM;\nLayout * * * SOA F_order;\n",
                                   extra=["-trace", "0"])
    maps = stated.calls("map_task", "stencil")
    assert len(maps) >= 8 * 4  # 8 tiles, 4 steps
    assert sum(d["cached"] for d in maps) >= len(maps) - 8 * 2  # the first two launches map afresh
    default_prof = tmp_path / "prof-default"
    default_prof.mkdir()
    default = run_stencil(stencil_exe, tmp_path, None,
                          ["-trace", "0", "-lg:prof", "1", "-lg:prof_logfile", str(default_prof / "prof_%.gz")])
    assert check_passed(default)
    assert len(_instances(stated_prof)) <= len(_instances(default_prof))
    sizes = [np.sort([i["size"] for i in _instances(p).values()]) for p in (stated_prof, default_prof)]
    assert sizes[0].sum() <= sizes[1].sum()



def _pennant_work(tmp: Path, name: str, mapper: str) -> dict[str, int]:
    """Copies, fills and instances Legion made in one profiled pennant run (size small, 4 CPUs)."""
    from hpcmap import runner

    spec = tmp / "cpu4.toml"
    spec.write_text(f'name = "cpu4"\nnodes = 1\n[node]\ncpus = {CPUS}\nutility = 1\ngpus = 0\nsysmem_mb = 1024\n')
    plan = runner.prepare("pennant", machine_name=str(spec), size="small", mapper=mapper)
    trial = runner.run_trials(plan, 1, timeout_s=300, profile_dir=tmp / f"prof-{name}")[0]
    assert trial.outcome == "ok", trial.message
    tables, _, _ = load_logs(sorted((tmp / f"prof-{name}" / "trial0").glob("prof_*.gz")))
    return {k: len(tables[k]) for k in ("copies", "fills", "instances", "tasks")}


def test_a_policy_restating_default_mapper_makes_legion_do_the_same_work(stencil_exe, tmp_path):
    """The stated-default policy and pennant's expert mapper (a Layout restating DefaultMapper's on
    CPUs) make the instances DefaultMapper makes, reduction instances included, so Legion copies and
    fills no more than under DefaultMapper (run to run, copies vary by a few percent)."""
    default = _pennant_work(tmp_path, "default", "default")
    for name, mapper in (("stated", str(Path(__file__).parent / "mapper_cases" / "default_equiv.map")),
                         ("expert", "expert")):
        work = _pennant_work(tmp_path, name, mapper)
        assert work["tasks"] == default["tasks"] and work["fills"] == default["fills"], (name, work, default)
        assert work["copies"] <= default["copies"] * 1.05, (name, work, default)

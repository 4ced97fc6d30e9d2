"""The mapper space: every rendered point parses, checks against the app and places every launch
point; kinds, memories and layouts respect the machine and the app's metadata."""
from __future__ import annotations

import random
import subprocess
import sys

import pytest

from hpcmap import machine
from hpcmap.dsl.app import load_app
from hpcmap.dsl.check import check_text
from hpcmap.dsl.evaluate import Evaluator
from hpcmap.dsl.ir import compile_program
from hpcmap.dsl.machine_spec import shape_of
from hpcmap.tune.space import VISIBLE_MEMORIES, space_for

APPS = ("stencil", "circuit", "pennant")
MACHINES = ("local", "h100x4", "p100x4", "cpu8", "2 nodes x 4 GPUs")
TWO_NODES = machine.MachineSpec(name="2x4", nodes=2, cpus=4, gpus=4, fbmem_mb=4096, zcmem_mb=1024)
DOMAINS = {1: [(1,), (4,), (7,), (16,)], 2: [(1, 1), (2, 2), (3, 5), (8, 8)], 3: [(2, 2, 2), (3, 1, 4)]}
SAMPLES = 12


def assert_runs_statically(space, point, app_info, spec):
    """Parses and checks with no diagnostics; every launch point lands on the task's kind."""
    text = space.render(point)
    program, diags = check_text(text, "point.map", app_info)
    assert not diags, "\n".join(d.format() for d in diags) + "\n" + text
    ev = Evaluator(compile_program(program), shape_of(spec))
    for name, task in app_info.tasks.items():
        kind = space.kind_of(point, name)
        if point.get(f"map/{name}"):
            for domain in DOMAINS[task.dims]:
                placements = ev.explain(name, domain)
                assert len(placements) == len(list(_points(domain)))
                assert {p.kind for p in placements} == {kind}
                assert all(0 <= p.processor < getattr(spec, kind.lower() + "s") for p in placements)
                assert all(0 <= p.node < spec.nodes for p in placements)
        if point.get(f"single/{name}"):
            assert ev.map_point(name, (1,), (0,)).kind == kind


def _points(domain):
    import itertools

    return itertools.product(*(range(d) for d in domain))


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("machine_name", MACHINES)
def test_sampled_points_parse_check_and_explain(app, machine_name):
    spec = TWO_NODES if machine_name == "2 nodes x 4 GPUs" else machine.load(machine_name)
    info = load_app(app)
    space = space_for(info, spec)
    rng = random.Random(f"{app}/{machine_name}")
    points = [space.sample(rng) for _ in range(SAMPLES)]
    assert len({space.render(p) for p in points}) == SAMPLES  # the space is not degenerate
    for point in points:
        assert space.valid(point), space.violations(point)
        assert_runs_statically(space, point, info, spec)


@pytest.mark.parametrize("app", APPS)
def test_every_single_move_from_the_start_is_valid_text(app):
    spec = machine.load("h100x4")
    info = load_app(app)
    space = space_for(info, spec)
    start = space.start_point()
    seen = set()
    for c in space.coordinates:
        if c.group == "layout" and c.name != "layout/*" and c.task in seen:
            continue  # one region per task is enough for layouts: the text differs only in names
        seen.add(c.task)
        for point in space.neighbours(start, c.name):
            assert_runs_statically(space, point, info, spec)


def test_default_point_is_the_empty_mapper():
    for app in APPS:
        space = space_for(app, machine.load("h100x4"))
        assert space.render(space.default_point()) == ""
        assert space.describe(space.default_point()) == "default"
        assert space.start_point() == space.default_point()  # no app requires a layout today


def test_kinds_need_a_variant_and_processors():
    info = load_app("circuit")
    gpu = space_for(info, machine.load("h100x4"))
    cpu = space_for(info, machine.load("cpu8"))
    for name, task in info.tasks.items():
        coord = gpu.by_name.get(f"kind/{name}")
        if task.variants == ["CPU"]:
            assert coord is None
        else:
            assert set(coord.options) == {None, "CPU,GPU"}
        assert f"kind/{name}" not in cpu.by_name  # no GPUs: nothing to choose
    assert not [c for c in cpu.coordinates if c.group == "memory"]  # CPUs see system memory only
    for c in gpu.coordinates:
        if c.group == "memory" and c.task != "*":
            assert "GPU" in info.tasks[c.task].variants
    gpu_regions = {r for t in info.tasks.values() if "GPU" in t.variants for r in t.regions}
    assert {c.region for c in gpu.coordinates if c.group == "memory" and c.task == "*"} == gpu_regions
    assert all(c.kind == "GPU" for c in gpu.coordinates if c.group == "memory" and c.task == "*")


def test_a_kind_move_takes_the_regions_to_memories_it_sees():
    space = space_for("stencil", machine.load("h100x4"))
    p = space.move(space.start_point(), "memory/stencil/ghost", "ZCMEM")
    assert p is not None and "Region stencil ghost GPU ZCMEM;" in space.render(p)
    everywhere = space.move(p, "memory/*/private/GPU", "FBMEM,ZCMEM")
    assert "Region * private GPU FBMEM,ZCMEM;" in space.render(everywhere)
    on_cpu = space.move(p, "kind/stencil", "CPU,GPU")
    assert on_cpu["memory/stencil/ghost"] is None
    assert "ZCMEM" not in space.render(on_cpu)
    # Statements for every task on GPUs stay: they are qualified by kind, and other tasks use them.
    assert "Region * private GPU FBMEM,ZCMEM;" in space.render(space.move(everywhere, "kind/stencil", "CPU,GPU"))
    assert space.move(on_cpu, "memory/stencil/ghost", "ZCMEM") is None  # a CPU does not see ZCMEM
    bad = {**on_cpu, "memory/stencil/ghost": "FBMEM,ZCMEM"}
    assert not space.valid(bad) and "not visible from CPU" in space.violations(bad)[0]
    for mems in filter(None, (space.sample(random.Random(s))["memory/stencil/ghost"] for s in range(50))):
        assert all(m in VISIBLE_MEMORIES["GPU"] for m in mems.split(","))


REQUIRES_APP = """
name = "needs_layout"
[[tasks]]
name = "leaf"
launch = "index"
dims = 2
variants = ["CPU", "GPU"]
regions = [{ name = "a", privilege = "read_write", fields = ["x"] },
           { name = "b", privilege = "read_only", fields = ["y"] }]
requires = [{ variant = "GPU", region = "a", layout = ["SOA", "C_order"], reason = "row-major BLAS on the GPU" }]
[[tasks]]
name = "top_level"
launch = "single"
variants = ["CPU"]
regions = []
[regions]
a = "partition"
b = "partition"
"""


def test_layout_requirements_prune_points(tmp_path):
    path = tmp_path / "needs_layout.toml"
    path.write_text(REQUIRES_APP)
    info = load_app(str(path))
    space = space_for(info, machine.load("h100x4"))
    # DefaultMapper's layout (F order) breaks the GPU leaf: the default point is invalid, the start fixes it.
    assert not space.valid(space.default_point())
    start = space.start_point()
    assert space.valid(start) and "Layout leaf a GPU SOA C_order;" in space.render(start)
    assert space.move(start, "layout/leaf/a", "AOS C_order") is None
    # `dsl check` rejects a `Layout * * *` that contradicts any variant's requirement: so does the space.
    assert set(space.by_name["layout/*"].options) == {None, "SOA C_order", "SOA C_order Align==64"}
    on_cpu = space.move(start, "kind/leaf", "CPU,GPU")
    assert space.move(on_cpu, "layout/leaf/a", "AOS F_order") is not None  # the CPU variant has no requirement
    rng = random.Random(3)
    for _ in range(100):
        p = space.sample(rng)
        assert space.valid(p)
        if space.kind_of(p, "leaf") == "GPU":
            assert space.layout_of(p, "leaf", "a") in ("SOA C_order", "SOA C_order Align==64")
        assert_runs_statically(space, p, info, machine.load("h100x4"))
    raw = {**start, "layout/leaf/a": "AOS F_order"}
    assert any("row-major BLAS" in v for v in space.violations(raw))


def test_cli_accepts_a_rendered_point(tmp_path):
    for app in APPS:
        space = space_for(app, machine.load("h100x4"))
        point = space.sample(random.Random(11))
        for name, task in load_app(app).tasks.items():
            if task.launch == "index" and "GPU" in task.variants:
                point = space.move(point, f"map/{name}", "block_cyclic2")
                break
        path = tmp_path / f"{app}.map"
        path.write_text(space.render(point))
        check = subprocess.run([sys.executable, "-m", "hpcmap.cli", "dsl", "check", str(path), "--app", app],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr + check.stdout
        explain = subprocess.run([sys.executable, "-m", "hpcmap.cli", "dsl", "explain", str(path), "--app", app,
                                  "--machine", "h100x4", "--task", name, "--domain", "8" if task.dims == 1 else "4x4",
                                  "--json"], capture_output=True, text=True)
        assert explain.returncode == 0, explain.stderr
        assert '"placements"' in explain.stdout


def test_placement_choices_need_more_than_one_processor():
    from hpcmap.machine import MachineSpec

    one = space_for("stencil", MachineSpec(name="one", cpus=1))
    two = space_for("stencil", MachineSpec(name="two", cpus=2))
    assert not [c for c in one.coordinates if c.group in ("map", "single")]
    assert {c.name for c in two.coordinates if c.group in ("map", "single")} == {
        "map/stencil", "map/increment", "map/init", "map/check", "single/top_level"}

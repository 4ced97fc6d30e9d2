"""Scaling studies for real: stencil on 1, 2 and 4 Legion processes over MPI, stored, tabled and plotted."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpcmap import apps, scale
from hpcmap.errors import UserError
from hpcmap.store import Store

ROOT = Path(__file__).resolve().parents[1]
SIZE = "nx=200,ny=200,steps=5"

# One small node: 4 of them fit on a 2-core host with little memory.
NODE = """name = "tiny"
nodes = 1
[node]
cpus = 1
utility = 1
sysmem_mb = 512
"""


def hpcmap(*args, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hpcmap.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcmap: error:")]


@pytest.fixture(scope="module")
def node_spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("machines") / "tiny.toml"
    path.write_text(NODE)
    return path


@pytest.fixture(scope="module")
def network_runtime() -> Path:
    """The network-enabled Legion (built once per machine, cached afterwards)."""
    from hpcmap.legion import network

    return network.build_runtime(network.BuildOptions(), quiet=True)


@pytest.mark.mpi
@pytest.mark.slow
def test_strong_scaling_of_stencil_on_one_two_four_processes(network_runtime, node_spec, tmp_path):
    store = tmp_path / "scale.h5"
    plots = tmp_path / "plots"
    done = hpcmap("scale", "stencil", "--nodes", "1,2,4", "--mode", "strong", "--mapper", "default",
                  "--machine", node_spec, "--size", SIZE, "--trials", "1", "--store", store, "--plot", plots, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    points = {p["nodes"]: p for p in result["points"]}
    assert sorted(points) == [1, 2, 4] and result["ran"] == 3

    records = {r["study"]["nodes"]: r for r in Store(store).records()}
    assert sorted(records) == [1, 2, 4]
    for nodes, record in records.items():
        assert record["outcome"] == "ok", record["message"]
        assert [t["check"] for t in record["trials"]] == ["pass"]
        assert record["machine"] == f"tiny-{nodes}n"
        assert record["size"] == records[1]["size"]          # strong scaling: the same problem everywhere
    # Several processes ran: each one wrote its own part of the Legion command line under mpiexec.
    assert "mpiexec" in records[4]["command"] and "-n 4" in records[4]["command"]
    assert "mpiexec" not in records[1]["command"]

    t1 = records[1]["stats"]["median_s"]
    for nodes in (1, 2, 4):
        tn = records[nodes]["stats"]["median_s"]
        assert points[nodes]["median_s"] == pytest.approx(tn)
        assert points[nodes]["efficiency"] == pytest.approx(t1 / (nodes * tn))
        assert points[nodes]["throughput"] == pytest.approx(records[nodes]["trials"][0]["metric"])
    assert Store(store).meta()["kind"] == "scale"
    assert sorted(p.name for p in plots.iterdir()) == ["efficiency.png", "throughput.png", "time.png"]
    assert all(p.stat().st_size > 1000 for p in plots.iterdir())

    # Resumed, the study runs nothing again and reports the same figures.
    again = hpcmap("scale", "stencil", "--nodes", "1,2,4", "--mapper", "default", "--machine", node_spec,
                   "--size", SIZE, "--trials", "1", "--store", store, "--resume", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["ran"] == 0
    assert json.loads(again.stdout)["points"] == result["points"]

    # The store is this scaling study's: another mode, or an eval, is refused in one line.
    weak = hpcmap("scale", "stencil", "--nodes", "1,2", "--mode", "weak", "--machine", node_spec, "--size", SIZE,
                  "--trials", "1", "--store", store, "--resume")
    assert weak.returncode == 2 and len(error_lines(weak)) == 1 and "mode strong" in weak.stderr, weak.stderr
    other = hpcmap("eval", "default", "--app", "stencil", "--machine", node_spec, "--size", SIZE, "--trials", "1",
                   "--store", store, "--resume")
    assert other.returncode == 2 and len(error_lines(other)) == 1 and "Traceback" not in other.stderr, other.stderr
    assert len(Store(store).records()) == 3


def test_weak_sizes_grow_by_the_apps_rules():
    app = apps.load("stencil")
    points = scale.plan("stencil", ["default", "expert"], [1, 2, 4], "weak", size=SIZE, trials=1, build=False)
    sizes = {note["nodes"]: req.params for req, note in points}
    base = app.size("small", {"nx": "200", "ny": "200", "steps": "5"})
    assert sizes[1] == base
    for nodes in (2, 4):
        assert int(sizes[nodes]["nx"]) == nodes * int(base["nx"])
        assert int(sizes[nodes]["ntx"]) == nodes * int(base["ntx"])
        assert {k: v for k, v in sizes[nodes].items() if k not in ("nx", "ntx")} == \
               {k: v for k, v in base.items() if k not in ("nx", "ntx")}
    assert len({req.key for req, _ in points}) == 6
    assert {req.machine["nodes"] for req, _ in points} == {1, 2, 4}


def test_cube_root_rule_keeps_a_multiple_and_the_one_node_size():
    rule = scale.WeakRule("n", 1 / 3, 48)
    assert rule.apply("256", 1) == "256"
    for nodes in (2, 4, 8):
        grown = int(rule.apply("480", nodes))
        assert grown % 48 == 0 and abs(grown - 480 * nodes ** (1 / 3)) <= 24


def test_efficiency_from_stored_times():
    records = [{"app": "stencil", "name": f"default@{n}n", "key": str(n), "outcome": "ok", "size": {"nx": "1"},
                "stats": {"median_s": t}, "trials": [{"outcome": "ok", "metric": 10 / t, "unit": "MFLUPS"}],
                "study": {"mapper": "default", "nodes": n}} for n, t in ((4, 0.5), (1, 1.6), (2, 1.0))]
    strong = {r.nodes: r for r in scale.rows(records, "strong")}
    assert strong[2].efficiency == pytest.approx(1.6 / (2 * 1.0)) and strong[4].speedup == pytest.approx(3.2)
    weak = {r.nodes: r for r in scale.rows(records, "weak")}
    assert weak[4].efficiency == pytest.approx(1.6 / 0.5) and weak[1].efficiency == pytest.approx(1.0)


@pytest.mark.parametrize("nodes", ["0", "1,x", "-2", ""])
def test_bad_node_counts_are_one_line(nodes, tmp_path):
    done = hpcmap("scale", "stencil", "--nodes", nodes, "--store", tmp_path / "s.h5", timeout=60)
    assert done.returncode == 2 and len(error_lines(done)) == 1 and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "s.h5").exists()


def test_bad_weak_rule_names_the_file(tmp_path, monkeypatch):
    text = (apps.APPS_DIR / "stencil.toml").read_text().replace('ntx = "linear"', 'ntx = "quadratic"')
    bad = tmp_path / "stencil.toml"
    bad.write_text(text)
    monkeypatch.setattr(apps, "resolve_app_path", lambda name: bad)
    with pytest.raises(UserError, match=r"stencil.toml: bad \[weak\] rule ntx"):
        scale.weak_rules(apps.load("stencil"))

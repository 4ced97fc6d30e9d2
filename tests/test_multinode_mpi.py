"""Multi-node Legion on this host: one Legion process per node under mpiexec, over Realm's MPI
network module (Legion built from vendor/legion by `hpcmap legion build-runtime`, cached per
machine: the first test session on a machine builds it, in about 11-15 minutes on 2 cores, and
prints the build's progress). Four processes share this host's cores, so their runs are slow."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpcmap import apps
from hpcmap.legion import build, network, runtime

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]

APPS = ("stencil", "circuit", "pennant")

# One CPU and one utility processor per process, so that four processes fit on two cores.
MACHINE = """name = "{nodes}-nodes"
nodes = {nodes}
[node]
cpus = 1
utility = 1
sysmem_mb = 1024
"""

# Four processes on two cores make each of pennant's many small steps slow: fewer of them there.
FOUR_PROCESS_SIZES = {"pennant": "cycles=15,warmup=2"}

# Stencil's tiles go to the node after the one DefaultMapper's blocking gives them, so that an
# obeyed mapping cannot be mistaken for the default one.
FLIPPED = """
Task * CPU;
mcpu = Machine(CPU);
def flipped(Task task) {
    ip = task.ipoint;
    sp = task.ispace;
    return mcpu[(ip[0] * sp[1] + ip[1] + 1) % mcpu.size[0], 0];
}
IndexTaskMap stencil,increment flipped;
"""

REPLICATED = """
Task * CPU;
ControlReplicate top_level;
"""


def hpcmap(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hpcmap.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def network_runtime(pytestconfig) -> Path:
    """The network-enabled Legion and the apps built against it: built on the first run on a
    machine (the output shown as it goes, since it takes minutes), cached afterwards."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        prefix = network.build_runtime(network.BuildOptions())
        build.build(runtime.for_nodes(2), [apps.load(app).binary for app in APPS])
    return prefix


def machine_file(tmp_path_factory, nodes: int) -> Path:
    path = tmp_path_factory.mktemp("machines") / f"{nodes}-nodes.toml"
    path.write_text(MACHINE.format(nodes=nodes))
    return path


@pytest.fixture(scope="module")
def machines(tmp_path_factory) -> dict[int, Path]:
    """Machine spec files of 2 and 4 nodes by node count."""
    return {nodes: machine_file(tmp_path_factory, nodes) for nodes in (2, 4)}


def run_json(app: str, machine: Path, mapper: str, *extra: str) -> dict:
    done = hpcmap("run", app, "--machine", machine, "--mapper", mapper, "--trials", "1", "--timeout", "600",
                  "--json", *extra, timeout=900)
    assert done.stdout.strip(), done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert done.returncode == 0, (result.get("error"), done.stderr[-3000:])
    return result


def map_task_decisions(result: dict, task: str) -> list[dict]:
    return [d for d in result["trials"][0].get("decisions", []) if d["call"] == "map_task" and d["task"] == task]


def test_the_network_build_is_cached_and_has_mpi(network_runtime):
    rt = runtime.for_nodes(2)
    assert rt.network == "mpi" and rt.include_dir.parent == network_runtime
    done = hpcmap("legion", "build-runtime", "--network", "mpi", timeout=60)  # cached: builds nothing
    assert done.returncode == 0 and str(network_runtime) in done.stdout


@pytest.mark.parametrize("mapper", ["default", "expert"])
@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("nodes", [2, 4])
def test_app_passes_its_check_on_several_processes(network_runtime, machines, nodes, app, mapper):
    size = ["--size", FOUR_PROCESS_SIZES[app]] if nodes == 4 and app in FOUR_PROCESS_SIZES else []
    result = run_json(app, machines[nodes], mapper, *size)
    trial = result["trials"][0]
    assert trial["outcome"] == "ok" and trial["check"] == "pass"
    command = result["command"].split()
    assert Path(command[0]).name == "mpiexec" and command[1:3] == ["-n", str(nodes)]
    if mapper == "expert":  # each process mapped tasks of its own: the run spanned them all
        assert {d["rank"] for d in trial["decisions"] if d["call"] == "map_task"} == set(range(nodes))


@pytest.mark.parametrize("nodes", [2, 4])
def test_index_task_map_sends_points_to_the_nodes_it_names(network_runtime, machines, nodes, tmp_path):
    mapper = tmp_path / "flipped.map"
    mapper.write_text(FLIPPED)
    result = run_json("stencil", machines[nodes], str(mapper), "--size", "ntx=2,nty=2,steps=4")
    placed = map_task_decisions(result, "stencil")
    assert placed, "no map_task decision for stencil's tiles"
    for d in placed:
        wanted = (d["point"][0] * 2 + d["point"][1] + 1) % nodes
        assert d["node"] == wanted and d["rank"] == wanted, d
    assert {d["rank"] for d in placed} == set(range(nodes))


@pytest.mark.parametrize("nodes", [2, 4])
def test_control_replicate_runs_one_shard_per_process(network_runtime, machines, nodes, tmp_path):
    mapper = tmp_path / "replicated.map"
    mapper.write_text(REPLICATED)
    result = run_json("stencil", machines[nodes], str(mapper), "--size", "steps=4")
    shards = map_task_decisions(result, "top_level")
    assert sorted(d["rank"] for d in shards) == list(range(nodes))
    assert all(d["node"] == d["rank"] for d in shards)

"""Machines that the runtime or the host cannot honour are refused with one error line before any
Legion process starts (the real multi-process runs are in test_multinode_mpi.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpcmap.legion import runtime
from hpcmap.machine import detect_gpus

ROOT = Path(__file__).resolve().parents[1]

TWO_NODES = """name = "two-nodes"
nodes = 2
[node]
cpus = 1
utility = 1
sysmem_mb = 1024
"""


def hpcmap(*args, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hpcmap.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture
def two_nodes(tmp_path) -> Path:
    path = tmp_path / "two-nodes.toml"
    path.write_text(TWO_NODES)
    return path


def assert_one_error_line(done: subprocess.CompletedProcess, text: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("hpcmap: error:") and text in last, done.stderr[-2000:]
    assert "HPCMAP_RESULT" not in done.stdout


def test_two_nodes_on_a_runtime_without_a_network_module_is_refused(two_nodes):
    env = {**os.environ, "LEGION_ROOT": str(runtime.wheel_prefix())}  # the wheel's Realm: no network
    done = hpcmap("run", "stencil", "--machine", two_nodes, "--trials", "1", env=env)
    assert_one_error_line(done, "a machine of 2 nodes needs Legion with a network module")


def test_two_nodes_before_the_network_build_says_how_to_build_it(two_nodes, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LEGION_ROOT"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")  # no network build cached here
    done = hpcmap("eval", "default", "--app", "stencil", "--machine", two_nodes, "--trials", "1",
                  "--store", tmp_path / "study.h5", env=env)
    assert_one_error_line(done, "hpcmap legion build-runtime --network mpi")


def test_gpus_the_host_lacks_are_refused(tmp_path):
    have = len(detect_gpus())
    spec = tmp_path / "more-gpus.toml"
    spec.write_text(f'name = "more-gpus"\nnodes = 1\n[node]\ncpus = 1\ngpus = {have + 1}\n')
    done = hpcmap("run", "stencil", "--machine", spec, "--trials", "1", "--json")
    assert_one_error_line(done, f"asks for {have + 1} GPU(s) on this host, which has {have}")
    assert not done.stdout.strip()


def test_a_cuda_runtime_build_without_nvcc_is_refused_before_it_starts(tmp_path):
    tools = tmp_path / "bin"  # cmake, but no nvcc anywhere
    tools.mkdir()
    (tools / "cmake").symlink_to(shutil.which("cmake"))
    env = {**os.environ, "PATH": str(tools), "CUDA_HOME": str(tmp_path / "no-cuda"), "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("CUDACXX", None)
    done = hpcmap("legion", "build-runtime", "--network", "mpi", "--cuda", env=env)
    assert_one_error_line(done, "a --cuda build needs nvcc")
    assert not (tmp_path / "hpcmap").exists()  # nothing started: no lock, no build folder

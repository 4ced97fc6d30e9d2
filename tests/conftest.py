"""Shared pytest setup: markers that depend on what this machine has; the local Slurm cluster."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _has_gpu() -> bool:
    from hpcmap.machine import detect_gpus

    return bool(detect_gpus())


def pytest_collection_modifyitems(config, items):
    if shutil.which("nvidia-smi") and _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU; this machine has none")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

REPO = Path(__file__).resolve().parent.parent
CLUSTER_SCRIPT = REPO / "slurm" / "cluster.sh"
CLUSTER_SETUP = REPO / "slurm" / "setup.sh"
CLUSTER_NODES = 4
SLURM_PROGRAMS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct")


def cluster_cmd(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HPCMAP_PYTHON": sys.executable}
    return subprocess.run([str(CLUSTER_SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def slurm_cluster() -> dict:
    """The 4-node local cluster, brought up for the session (and down after, if it was down)."""
    if os.geteuid() != 0:
        pytest.skip("the local Slurm cluster runs its daemons as root")
    if not all(shutil.which(p) for p in SLURM_PROGRAMS):
        proc = subprocess.run([str(CLUSTER_SETUP)], capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, f"slurm/setup.sh failed: {(proc.stderr or proc.stdout)[-2000:]}"
    before = json.loads(cluster_cmd("status", "--json").stdout)
    was_up = before["up"] and len(before["nodes_configured"]) == CLUSTER_NODES
    if not was_up:
        proc = cluster_cmd("up", "--nodes", str(CLUSTER_NODES))
        if proc.returncode != 0:
            cluster_cmd("down")
            pytest.fail(f"hpcmap cluster up failed: {proc.stderr.strip()}")
    status = json.loads(cluster_cmd("status", "--json").stdout)
    yield status
    if not was_up:
        down = cluster_cmd("down")
        assert down.returncode == 0, down.stderr

"""The local Slurm cluster of slurm/: real munge, MariaDB, slurmdbd, slurmctld and four slurmd nodes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from hpcmap import cluster

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "slurm" / "cluster.sh"
SETUP = REPO / "slurm" / "setup.sh"
NODES = 4
TERMINAL = ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL")
PROGRAMS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct")


def _cluster_cmd(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HPCMAP_PYTHON": sys.executable}
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _status() -> dict:
    return json.loads(_cluster_cmd("status", "--json").stdout)


class Slurm:
    """Runs Slurm's own commands against the local cluster."""

    def __init__(self, slurm_conf: str):
        self.env = {**os.environ, "SLURM_CONF": slurm_conf}

    def run(self, *cmd: str, check: bool = True) -> str:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def sbatch(self, *args: str, script: str | None = None, cwd: Path | None = None) -> str:
        proc = subprocess.run(["sbatch", "--parsable", *args], input=script, env=self.env, cwd=cwd,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip().split(";")[0]

    def sacct(self, job: str, *extra: str) -> list[dict[str, str]]:
        fields = ["JobID", "State", "NodeList", "Start", "End"]
        out = self.run("sacct", "-n", "-P", "-X", "-j", job, "-o", ",".join(fields), *extra, check=False)
        return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]

    def wait_sacct(self, job: str, done, timeout: float = 90, *extra: str) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        records: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            records = self.sacct(job, *extra)
            if records and done(records):
                return records
            time.sleep(0.5)
        raise AssertionError(f"job {job} did not reach the expected state in {timeout:.0f}s: {records}")

    def wait_finished(self, job: str, timeout: float = 90) -> list[dict[str, str]]:
        return self.wait_sacct(job, lambda rs: all(r["State"].split()[0] in TERMINAL for r in rs), timeout)

    def wait_running(self, job: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run("squeue", "-h", "-j", job, "-o", "%T", check=False).strip() == "RUNNING":
                return
            time.sleep(0.3)
        raise AssertionError(f"job {job} did not start within {timeout:.0f}s")


@pytest.fixture(scope="session")
def slurm() -> Slurm:
    if os.geteuid() != 0:
        pytest.skip("the local Slurm cluster runs its daemons as root")
    if not all(shutil.which(p) for p in PROGRAMS):
        proc = subprocess.run([str(SETUP)], capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, f"slurm/setup.sh failed: {(proc.stderr or proc.stdout)[-2000:]}"
    before = _status()
    was_up = before["up"] and len(before["nodes_configured"]) == NODES
    proc = _cluster_cmd("up", "--nodes", str(NODES))
    if proc.returncode != 0:
        if not was_up:
            _cluster_cmd("down")
        pytest.fail(f"hpcmap cluster up failed: {proc.stderr.strip()}")
    status = _status()
    yield Slurm(status["slurm_conf"])
    if not was_up:
        down = _cluster_cmd("down")
        assert down.returncode == 0, down.stderr


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s"
        time.sleep(0.2)


def node_rows(slurm: Slurm) -> list[tuple[str, str, str]]:
    """(name, state, CPUs) of every node, from sinfo."""
    lines = slurm.run("sinfo", "-h", "-N", "-o", "%N %T %c").split()
    return sorted(set(zip(lines[0::3], lines[1::3], lines[2::3])))


def wait_idle(slurm: Slurm) -> None:
    """Jobs of tests that ran before may still be ending; once they have, every node is idle."""
    wait_for(lambda: all(state == "idle" for _, state, _ in node_rows(slurm)), 120, "every node idle")


def test_nodes_idle(slurm: Slurm):
    assert [r[0] for r in node_rows(slurm)] == [f"node{i}" for i in range(1, NODES + 1)]
    wait_idle(slurm)
    assert _status()["up"] is True


def test_one_cpu_jobs_run_at_once_on_distinct_nodes(slurm: Slurm, tmp_path: Path):
    wait_idle(slurm)   # the least loaded node takes each job: four idle nodes, four jobs, four nodes
    # Each job ends only once all four have started (or after 60 s, and then the overlap check fails),
    # and 1 s later, past sacct's whole seconds: they overlap however slowly they are submitted.
    started = tmp_path / "started"
    started.mkdir()
    barrier = (f"touch {started}/$SLURM_JOB_ID; for i in $(seq 600); do "
               f"[ $(ls {started} | wc -l) -ge {NODES} ] && break; sleep 0.1; done; sleep 1")
    jobs = []
    for i in range(NODES):
        script = cluster.job_script(
            f"echo $SLURMD_NODENAME; {barrier}", job_name=f"par{i}", cpus=1, time_min=2,
            output=str(tmp_path / f"par{i}.out"),
        )
        jobs.append(slurm.sbatch(script=script))
    records = [slurm.wait_finished(job, 120)[0] for job in jobs]
    assert [r["State"] for r in records] == ["COMPLETED"] * NODES, records
    nodes = {r["NodeList"] for r in records}
    assert len(nodes) == NODES, records
    starts = [datetime.fromisoformat(r["Start"]) for r in records]
    ends = [datetime.fromisoformat(r["End"]) for r in records]
    assert max(starts) < min(ends), "the four jobs did not overlap in time"
    printed = {(tmp_path / f"par{i}.out").read_text().strip() for i in range(NODES)}
    assert printed == nodes


def test_array_job(slurm: Slurm, tmp_path: Path):
    job = slurm.sbatch("--array=0-3", "-o", str(tmp_path / "arr_%a.out"),
                       "--wrap", "echo task $SLURM_ARRAY_TASK_ID")
    records = slurm.wait_sacct(
        job, lambda rs: len(rs) == 4 and all(r["State"] in TERMINAL for r in rs), 90,
    )
    assert sorted(r["JobID"] for r in records) == [f"{job}_{i}" for i in range(4)]
    assert {r["State"] for r in records} == {"COMPLETED"}
    for i in range(4):
        assert (tmp_path / f"arr_{i}.out").read_text().strip() == f"task {i}"


def test_scancel_running_job(slurm: Slurm, tmp_path: Path):
    job = slurm.sbatch("-o", str(tmp_path / "cancel.out"), "--wrap", "sleep 120")
    slurm.wait_running(job)
    slurm.run("scancel", job)
    records = slurm.wait_finished(job, 60)
    assert records[0]["State"].startswith("CANCELLED"), records


def test_requeue(slurm: Slurm, tmp_path: Path):
    out = tmp_path / "requeue.out"
    started = tmp_path / "first-run-started"
    # The first run prints its line and then waits to be requeued; the second ends at once.
    script = cluster.job_script(
        f"echo restart ${{SLURM_RESTART_COUNT:-0}}; "
        f"if [ ${{SLURM_RESTART_COUNT:-0}} = 0 ]; then touch {started}; sleep 100; fi",
        job_name="requeue", time_min=2, output=str(out), extra=["--requeue", "--open-mode=append"],
    )
    job = slurm.sbatch(script=script)
    wait_for(started.exists, 60, "the first run started")
    slurm.run("scontrol", "requeue", job)
    records = slurm.wait_sacct(job, lambda rs: rs[-1]["State"] == "COMPLETED", 120, "-D")
    assert [r["State"] for r in records] == ["REQUEUED", "COMPLETED"], records
    lines = [ln for ln in out.read_text().splitlines() if ln.startswith("restart")]
    assert lines == ["restart 0", "restart 1"]


def test_down_then_up_again(slurm: Slurm):
    proc = _cluster_cmd("down", "--json")
    assert proc.returncode == 0, proc.stderr
    status = _status()
    assert status["up"] is False
    assert not [n for n, d in status["daemons"].items() if d["running"]]
    pids = [d["pid"] for d in _status()["daemons"].values() if d["pid"]]
    assert pids == []
    layout = cluster.layout_from_env()
    assert cluster.leftover_processes(layout) == []
    proc = _cluster_cmd("up", "--nodes", str(NODES), "--json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["up"] is True
    assert sorted(n["name"] for n in status["nodes"] if n["state"] == "idle") == [f"node{i}" for i in range(1, NODES + 1)]

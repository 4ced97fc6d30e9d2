"""Candidates that run at the same time on this host get disjoint cores, or run one at a time, and
their records say where they ran and beside whom."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from hpcmap.dispatch import placement
from hpcmap.dispatch.local import LocalExecutor
from hpcmap.evaluate import make_requests
from hpcmap.records import ran_beside
from test_eval_local import alive, cmdline, descendants, wait_for

REPO = Path(__file__).resolve().parent.parent
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]
SIZE = "nx=200,ny=200,steps=5"
CORES = placement.physical_cores()
needs_two_cores = pytest.mark.skipif(len(CORES) < 2, reason="needs a host with at least 2 physical cores")


def machine_file(directory: Path, name: str, cpus: int) -> Path:
    """A machine spec of `cpus` CPU processors and one utility processor."""
    path = directory / f"{name}.toml"
    path.write_text(f'name = "{name}"\nnodes = 1\n[node]\ncpus = {cpus}\nutility = 1\nsysmem_mb = 512\n')
    return path


def test_plan_divides_physical_cores_or_runs_fewer():
    cores = [(0, 4), (1, 5), (2, 6), (3, 7)]   # four cores with two hyperthreads each
    two = placement.plan({"name": "m", "cpus": 1, "utility": 1}, 2, cores)
    assert [s.cpus for s in two.slots] == [(0, 4, 1, 5), (2, 6, 3, 7)]
    assert "2 candidates at a time" in two.note
    wide = placement.plan({"name": "wide", "cpus": 3, "utility": 1}, 2, cores)
    assert [s.cpus for s in wide.slots] == [(0, 4, 1, 5, 2, 6, 3, 7)]
    assert "needs 3 core(s)" in wide.note and "1 candidate(s) at a time instead of 2" in wide.note
    by_default = placement.plan({"name": "wide", "cpus": 3, "utility": 1}, 2, cores, asked=False)
    assert len(by_default.slots) == 1 and by_default.note == ""   # as many as fit, unless told a number
    huge = placement.plan({"name": "huge", "cpus": 8}, 1, cores)
    assert len(huge.slots) == 1 and "one candidate at a time" in huge.note
    assert placement.plan({"name": "m", "cpus": 1}, 1, cores).note == ""
    gpus = placement.plan({"name": "g", "cpus": 1, "gpus": 2}, 4, cores, gpus=["0", "1", "2", "3"])
    assert [s.gpus for s in gpus.slots] == [("0", "1"), ("2", "3")] and "instead of 4" in gpus.note


def _affinities_of(exe: str, stop: threading.Event, seen: dict[int, str]) -> None:
    """Record the Cpus_allowed_list of every running `exe` process descended from this test."""
    me = os.getpid()
    while not stop.wait(0.05):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "exe") != exe:
                    continue
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if _descends_from(int(entry.name), me):
                seen[int(entry.name)] = fields["Cpus_allowed_list"].strip()


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    return False


@needs_two_cores
def test_two_workers_run_on_disjoint_cores(tmp_path):
    """Both candidates hang until the test has seen the two Legion processes running at once, each
    with its own mask, and then ends them: they overlap however long a worker takes to start."""
    spec = machine_file(tmp_path, "one_cpu", 1)
    base = make_requests(["default"], "stencil", SIZE, str(spec), trials=1, timeout_s=300,
                         app_args=["-fault", "hang"])[0]
    seen: dict[int, str] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_affinities_of, args=(os.path.realpath(base.exe), stop, seen))
    watcher.start()
    ex = LocalExecutor(2)
    try:
        results = ex.submit([replace(base, name="first"), replace(base, name="second")])
        wait_for(lambda: len([pid for pid in list(seen) if alive(pid)]) == 2)
        for pid in list(seen):
            os.kill(pid, signal.SIGKILL)
        records = list(results)
    finally:
        ex.close()
        stop.set()
        watcher.join()
    assert "2 candidates at a time" in ex.placement.note
    assert len(seen) == 2, seen   # both Legion processes were seen running, each with its own mask
    first, second = (set(_parse_list(mask)) for mask in seen.values())
    assert first and second and not first & second
    by_name = {r.name: r for r in records}
    assert {frozenset(r.worker["cores"]) for r in records} == {frozenset(first), frozenset(second)}
    assert by_name["first"].worker["concurrent_with"] == ["second"]
    assert by_name["second"].worker["concurrent_with"] == ["first"]
    assert all(r.worker["contention"] and r.outcome == "crash" and "SIGKILL" in r.message for r in records)


def _parse_list(text: str) -> list[int]:
    cpus = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus += range(int(low), int(high or low) + 1)
    return cpus


def run_eval(tmp_path: Path, spec: Path, store: Path, launcher: tuple[str, ...] = (),
             executor: tuple[str, ...] = ("--workers", "2"), together: bool = False) -> subprocess.CompletedProcess:
    """An eval of two hanging candidates. They time out after 3 s, or, `together`, hang until both run at
    the same instant and are then killed, so they overlap on any host."""
    maps = []
    for i in range(2):
        path = tmp_path / f"cand{i}.map"
        path.write_text(f"# candidate {i}\nTask * CPU;\n")
        maps.append(str(path))
    argv = [*launcher, *HPCMAP, "eval", *maps, "--app", "stencil", "--size", SIZE, "--trials", "1",
            "--timeout", "300" if together else "3", "--app-args", "-fault hang", "--machine", str(spec),
            *executor, "--store", str(store), "--json"]
    head = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        if together:
            end_when_both_hang(head)
        stdout, stderr = head.communicate(timeout=300)
    finally:
        if head.poll() is None:
            head.kill()
            head.communicate()
    return subprocess.CompletedProcess(argv, head.returncode, stdout, stderr)


def end_when_both_hang(head: subprocess.Popen) -> None:
    """Wait until two hanging applications run below `head` at the same instant, then kill them."""
    hanging = lambda: [pid for pid in descendants(head.pid) if "-fault\0hang" in cmdline(pid)]  # noqa: E731
    wait_for(lambda: len(hanging()) == 2 or head.poll() is not None)
    for pid in hanging():
        os.kill(pid, signal.SIGKILL)


def show(store: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HPCMAP, "store", "show", str(store), *extra], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


@needs_two_cores
def test_study_marks_candidates_that_ran_together(tmp_path):
    store = tmp_path / "together.h5"
    proc = run_eval(tmp_path, machine_file(tmp_path, "one_cpu", 1), store, together=True)
    assert proc.returncode == 1, proc.stderr   # both killed: no valid result, records kept
    assert "2 candidates at a time, each on cores of its own" in proc.stderr
    candidates = json.loads(show(store, "--json").stdout)["candidates"]
    assert len(candidates) == 2
    assert all(c["contention"] and len(c["ran_beside"]) == 1 for c in candidates)
    assert not set(candidates[0]["worker"]["cores"]) & set(candidates[1]["worker"]["cores"])
    table = show(store).stdout
    assert "ran beside: measured while other candidates ran on the same host" in table
    # A Slurm job's or MPI rank's record says only where and when it ran; the overlap is found from that.
    bare = [{**c, "worker": {k: v for k, v in c["worker"].items() if k not in ("concurrent_with", "contention")}}
            for c in candidates]
    assert [ran_beside(c, bare) for c in bare] == [c["ran_beside"] for c in candidates]
    elsewhere = [bare[0], {**bare[1], "worker": {**bare[1]["worker"], "host": "another-node"}}]
    assert [ran_beside(c, elsewhere) for c in elsewhere] == [[], []]


@needs_two_cores
def test_report_says_which_measurements_ran_beside_others(tmp_path):
    store = tmp_path / "report.h5"
    maps = [str(tmp_path / "cand.map")]
    Path(maps[0]).write_text("# a candidate\nTask * CPU;\n")
    proc = subprocess.run([*HPCMAP, "eval", "default", *maps, "--app", "stencil", "--size", "nx=400,ny=400,steps=40",
                           "--trials", "3", "--machine", str(machine_file(tmp_path, "one_cpu", 1)),
                           "--workers", "2", "--store", str(store)], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "report.html"
    assert subprocess.run([*HPCMAP, "report", str(store), "-o", str(out)], cwd=REPO).returncode == 0
    page = out.read_text()
    assert "<th>ran beside</th>" in page
    for c in json.loads(show(store, "--json").stdout)["candidates"]:
        beside = ", ".join(c["worker"]["concurrent_with"]) or "none"
        assert f"<td>{c['stats']['n']}</td><td>{beside}</td>" in page
    assert ("its times may include their contention" in page) == any(
        c["contention"] for c in json.loads(show(store, "--json").stdout)["candidates"])


def test_study_that_needs_every_core_runs_one_at_a_time(tmp_path):
    store = tmp_path / "alone.h5"
    proc = run_eval(tmp_path, machine_file(tmp_path, "every_core", len(CORES)), store)
    assert proc.returncode == 1, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if "at a time" in line)
    assert f"needs {len(CORES)} core(s)" in line and "1 candidate(s) at a time instead of 2" in line
    candidates = json.loads(show(store, "--json").stdout)["candidates"]
    assert len(candidates) == 2
    assert all(not c["contention"] and c["ran_beside"] == [] for c in candidates)
    assert all(set(c["worker"]["cores"]) == set(os.sched_getaffinity(0)) for c in candidates)
    first, second = sorted(candidates, key=lambda c: c["started_at"])
    assert first["finished_at"] <= second["started_at"]
    assert "ran beside" not in show(store).stdout


@pytest.mark.mpi
def test_mpi_ranks_on_one_host_are_marked_as_running_together(tmp_path):
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        pytest.skip("no mpiexec next to this Python (pip install mpi4py mpich)")
    store = tmp_path / "ranks.h5"
    proc = run_eval(tmp_path, machine_file(tmp_path, "one_cpu", 1), store, (str(mpiexec), "-n", "3"),
                    ("--executor", "mpi"), together=True)
    assert proc.returncode == 1, proc.stderr[-3000:]
    candidates = json.loads(show(store, "--json").stdout)["candidates"]
    assert sorted(c["worker"]["rank"] for c in candidates) == [1, 2]
    assert all(c["worker"]["host"] and c["worker"]["cores"] for c in candidates)
    names = {c["name"] for c in candidates}
    assert all(c["contention"] and c["ran_beside"] == sorted(names - {c["name"]}) for c in candidates)

"""`hpcmap tune` end to end with real Legion runs: the --json contract, a second process on the same
store, resume with other settings, SIGKILL mid-tune then --resume."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hpcmap.store import Store
from test_eval_local import HPCMAP, REPO, SIZE, alive, cmdline, descendants, run_cli, wait_for

TUNE = ["tune", "stencil", "--optimizer", "random", "--size", SIZE, "--trials", "2", "--timeout", "60"]
CONTRACT = {"app", "machine", "optimizer", "evaluations", "best", "history"}
BEST = {"name", "mapper_file", "outcome", "stats", "speedup_vs_default", "speedup_vs_expert"}
ROW = {"iteration", "name", "outcome", "median_s", "best_so_far_s"}


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpcmap: error:"), proc.stderr
    return lines[0]


def stored(path: Path) -> list[dict]:
    try:
        return Store(path).records()
    except Exception:
        return []


def holds_flock(pid: int, path: Path) -> bool:
    """Whether process `pid` holds a flock on `path` (from /proc/locks: ... FLOCK ... PID MAJ:MIN:INODE ...)."""
    try:
        inode = path.stat().st_ino
    except OSError:
        return False
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[4] == str(pid) and fields[5].endswith(f":{inode}"):
            return True
    return False


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One tune (budget 2) with --json; a second process on its store is refused while the first holds
    the store's lock (stopped by SIGSTOP for that moment, so it cannot finish first on a fast host)."""
    d = tmp_path_factory.mktemp("tune")
    store = d / "study.h5"
    first = subprocess.Popen([*HPCMAP, *TUNE, "--budget", "2", "--store", str(store), "--json"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: holds_flock(first.pid, d / ".study.h5.lock") or first.poll() is not None)
        first.send_signal(signal.SIGSTOP)
        assert holds_flock(first.pid, d / ".study.h5.lock"), first.poll()
        second = run_cli(*TUNE, "--budget", "2", "--store", str(store), "--resume")
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    return {"dir": d, "store": store, "json": json.loads(out), "second": second}


def test_json_contract_and_valid_best(finished):
    out = finished["json"]
    assert CONTRACT <= set(out) and BEST <= set(out["best"])
    assert out["app"] == "stencil" and out["optimizer"] == "random" and out["evaluations"] == 4
    best = out["best"]
    assert best["outcome"] == "ok" and best["stats"]["n"] == 4 and best["stats"]["median_s"] > 0
    assert best["speedup_vs_default"] > 0 and best["speedup_vs_expert"] > 0
    assert Path(best["mapper_file"]) == finished["dir"] / "best.map"
    check = run_cli("dsl", "check", best["mapper_file"], "--app", "stencil")
    assert check.returncode == 0, check.stdout + check.stderr
    rows = out["history"]
    # The baselines come first; on a host with cores for two workers they run side by side, in either order.
    assert sorted(r["name"] for r in rows[:2]) == ["default", "expert"] and len(rows) == 4
    assert all(ROW <= set(r) for r in rows)
    assert rows[-1]["iteration"] == 2 and {r["iteration"] for r in rows[:2]} == {0}
    best_so_far = [r["best_so_far_s"] for r in rows]
    assert best_so_far == sorted(best_so_far, reverse=True)


def test_second_process_is_refused(finished):
    line = one_error_line(finished["second"])
    assert "in use by hpcmap process" in line


def test_resume_with_other_settings_is_refused(finished):
    store = finished["store"]
    before = store.read_bytes()
    other_size = [a if a != SIZE else "nx=240,ny=200,steps=5" for a in TUNE]
    for args in (["tune", "circuit", "--optimizer", "random", "--trials", "2"], other_size, [*TUNE, "--trials", "3"],
                 [*TUNE[:3], "ccd", *TUNE[4:]]):
        line = one_error_line(run_cli(*args, "--store", str(store), "--resume"))
        assert "choose another --store" in line
    one_error_line(run_cli(*TUNE, "--store", str(store)))          # results there, no --resume
    assert store.read_bytes() == before
    fresh = store.with_name("fresh.h5")
    assert "unknown optimizer" in one_error_line(run_cli(*TUNE[:3], "nosuch", *TUNE[4:], "--store", str(fresh)))
    assert not fresh.exists()


def app_running_below(pid: int) -> bool:
    """Whether a stencil process (not yet exited) runs below `pid`."""
    return any(cmdline(p).split("\0")[0].endswith("/stencil") and alive(p) for p in descendants(pid))


def stop_mid_run(head: subprocess.Popen, store: Path, at_least: int) -> None:
    """SIGSTOP the head once it has stored `at_least` records while one of its applications runs: that
    application's record cannot be stored before the head is killed, so the tune is cut short."""
    deadline = time.monotonic() + 300
    while True:
        assert head.poll() is None and time.monotonic() < deadline, "the tune ended before it was stopped mid-run"
        if len(stored(store)) >= at_least and app_running_below(head.pid):
            head.send_signal(signal.SIGSTOP)
            if app_running_below(head.pid):
                return
            head.send_signal(signal.SIGCONT)
        time.sleep(0.05)


def test_sigkill_mid_tune_then_resume(tmp_path):
    store = tmp_path / "study.h5"
    args = [*TUNE, "--budget", "3", "--store", str(store)]
    head = subprocess.Popen([*HPCMAP, *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        stop_mid_run(head, store, 3)                          # default, expert and one candidate stored
        before = {r["key"]: r["finished_at"] for r in stored(store)}
    finally:
        head.kill()
        head.wait()
    assert len(before) >= 3
    proc = run_cli(*args, "--resume", "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["best"]["outcome"] == "ok" and out["evaluations"] == 5
    records = Store(store).records()
    assert len(records) > len(before)                        # the run cut short, at least, was made up
    for r in records:
        if r["key"] in before:
            assert r["finished_at"] == before[r["key"]]       # not run again
    measured = [r for r in records if r["study"]["role"] != "remeasure"]
    assert len(measured) == 5 and len({r["mapper_text"] for r in measured}) == 5
    assert len(Store(store).provenance()) == 2


@pytest.mark.parametrize("optimizer", ["ccd", "opentuner", "tpe"])
def test_each_optimizer_ends_with_a_valid_checked_mapper(optimizer, tmp_path):
    store = tmp_path / "study.h5"
    proc = run_cli("tune", "stencil", "--optimizer", optimizer, "--budget", "2", "--trials", "1", "--size", SIZE,
                   "--store", str(store), "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["optimizer"] == optimizer and out["best"]["outcome"] == "ok" and out["evaluations"] == 4
    assert [r["optimizer"] for r in out["history"][2:]] == [optimizer, optimizer]
    check = run_cli("dsl", "check", out["best"]["mapper_file"], "--app", "stencil")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slurm
def test_tune_on_the_slurm_cluster(slurm_cluster, tmp_path):
    store = tmp_path / "study.h5"
    from test_eval_slurm import node_spec

    proc = run_cli(*TUNE, "--budget", "2", "--trials", "1", "--executor", "slurm", "--store", str(store),
                   "--machine", node_spec(tmp_path), "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["best"]["outcome"] == "ok" and out["evaluations"] == 4
    ran = [r for r in Store(store).records() if r["worker"].get("executor") != "head"]
    assert ran and {r["worker"]["executor"] for r in ran} == {"slurm"}


@pytest.mark.mpi
def test_tune_on_mpi_ranks(tmp_path):
    store = tmp_path / "study.h5"
    proc = run_cli(*TUNE, "--budget", "2", "--trials", "1", "--executor", "mpi", "--workers", "2",
                   "--store", str(store), "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["best"]["outcome"] == "ok" and out["evaluations"] == 4
    ran = [r for r in Store(store).records() if r["worker"].get("executor") != "head"]
    assert ran and {r["worker"]["executor"] for r in ran} == {"mpi"}
    assert {r["worker"]["rank"] for r in ran} <= {1, 2}


def test_interrupt_stops_at_once_and_leaves_no_app_running(tmp_path):
    store = tmp_path / "study.h5"
    head = subprocess.Popen([*HPCMAP, *TUNE, "--budget", "2", "--app-args", "-fault hang", "--timeout", "300",
                             "--store", str(store)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for(lambda: any("-fault" in cmdline(p) for p in descendants(head.pid)))
        below = descendants(head.pid)
        head.send_signal(signal.SIGINT)
        _, err = head.communicate(timeout=60)                  # not the 300 s of the hanging app
    finally:
        head.kill()
    assert head.returncode == 130 and err.strip().splitlines()[-1].startswith("hpcmap: interrupted")
    wait_for(lambda: not any(alive(p) for p in below), timeout=30)

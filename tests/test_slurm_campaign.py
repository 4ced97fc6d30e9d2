"""Slurm studies as a cluster user meets them: refusals, dry runs, a head that dies, a lost job, leaks."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hpcmap.store import Store
from test_eval_local import HPCMAP, REPO, SECRET, SIZE, _contents, mapper_files, run_cli

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("enforcing_cluster")]


@pytest.fixture(scope="module")
def enforcing_cluster(slurm_cluster):
    """The cluster with today's configuration (accounts and QOS enforced); `up` restarts it only if changed."""
    up = subprocess.run([*HPCMAP, "cluster", "up", "--nodes", str(len(slurm_cluster["nodes_configured"]))],
                        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert up.returncode == 0, up.stderr
    return slurm_cluster


def eval_args(store: Path, maps: list[str], *extra: str) -> list[str]:
    return ["eval", *maps, "--app", "stencil", "--size", SIZE, "--trials", "1", "--executor", "slurm",
            "--store", str(store), *extra]


def squeue_names() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True, timeout=30).stdout
    return out.split()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stored(store: Path) -> int:
    try:
        return len(Store(store).keys())
    except Exception:
        return 0


@pytest.mark.parametrize("option,reason", [("--partition", "Invalid partition"), ("--account", "Invalid account"),
                                           ("--qos", "Invalid qos")])
def test_refusal_is_one_line_without_debris(slurm_cluster, tmp_path, option, reason):
    store = tmp_path / "study.h5"
    proc = run_cli(*eval_args(store, ["default"], option, "no-such-name"))
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcmap: error:")]
    assert proc.returncode != 0
    assert len(errors) == 1 and reason in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and "sbatch: error" not in proc.stderr
    folder = tmp_path / "study.submitit"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_dry_run_scripts_pass_sbatch_test_only(slurm_cluster, tmp_path):
    store = tmp_path / "dry.h5"
    maps = mapper_files(tmp_path / "maps", 2)
    for extra in ([], ["--no-array"]):
        proc = run_cli(*eval_args(store, maps, "--dry-run", "--mem", "100", *extra))
        assert proc.returncode == 0, proc.stderr
        scripts = [Path(p) for p in proc.stdout.split()]
        assert len(scripts) == (2 if extra else 1)
        for script in scripts:
            text = script.read_text()
            assert "#SBATCH --job-name=hpcmap-dry" in text and "#SBATCH --mem=100MB" in text
            test = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True, timeout=30)
            assert test.returncode == 0 and "to start at" in test.stderr, test.stderr
    assert not store.exists()
    assert not any(n.startswith("hpcmap-dry") for n in squeue_names())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_stopped_head_cancels_jobs_and_resume_collects(slurm_cluster, tmp_path, sig):
    maps = mapper_files(tmp_path / "maps", 6)
    store = tmp_path / f"stop{sig.value}.h5"
    args = eval_args(store, maps, "--no-array")
    log = open(tmp_path / "head.log", "w")
    head = subprocess.Popen([*HPCMAP, *args], cwd=REPO, stdout=log, stderr=log)
    wait_for(lambda: stored(store) >= 1, 180, "a first result")
    head.send_signal(sig)
    assert head.wait(60) == 130
    assert "interrupted" in (tmp_path / "head.log").read_text()
    wait_for(lambda: not any(n.startswith(store.stem) or n.startswith(f"hpcmap-{store.stem}")
                             for n in squeue_names()), 30, "the study's jobs to leave squeue")
    before = {r["key"]: r for r in Store(store).records()}
    assert 1 <= len(before) < 6
    proc = run_cli(*args, "--resume", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["skipped"] == len(before) and out["ran"] == 6 - len(before)
    after = Store(store).records()
    assert sorted(r["name"] for r in after) == sorted(maps)
    assert all(r["outcome"] == "ok" for r in after)
    for r in after:
        if r["key"] in before:
            assert r["worker"] == before[r["key"]]["worker"]
    # Each candidate that has a result was submitted once: the job behind it is the only one for its mapper.
    folder = tmp_path / f"{store.stem}.submitit"
    results = {p.parent.name for p in folder.glob("*/*_result.pkl")}
    assert {r["worker"]["job_id"] for r in after} <= results
    assert len(results) == 6


def test_slurmdbd_down_and_job_cancelled_ends_as_infra_error(slurm_cluster, tmp_path):
    from hpcmap.cluster import layout_from_env
    from hpcmap.cluster.daemons import stop_daemon
    from hpcmap.cluster.layout import daemons

    store = tmp_path / "lost.h5"
    args = eval_args(store, ["default"], "--app-args", "-fault hang", "--timeout", "300", "--retries", "0",
                     "--lost-after", "10")
    log = open(tmp_path / "head.log", "w")
    head = subprocess.Popen([*HPCMAP, *args], cwd=REPO, stdout=log, stderr=log)
    layout = layout_from_env()
    dbd = next(d for d in daemons(layout, []) if d.name == "slurmdbd")
    try:
        job = wait_for(lambda: subprocess.run(["squeue", "-h", "-n", "hpcmap-lost-default", "-t", "RUNNING", "-o",
                                               "%i"], capture_output=True, text=True, timeout=30).stdout.split(),
                       120, "the job to run")[0]
        stop_daemon(dbd)
        subprocess.run(["scancel", job], check=True, timeout=30)
        assert head.wait(90) == 1
    finally:
        if head.poll() is None:
            head.kill()
        up = subprocess.run([*HPCMAP, "cluster", "up", "--nodes", str(len(slurm_cluster["nodes_configured"]))],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
        assert up.returncode == 0, up.stderr
    records = Store(store).records()
    assert [r["outcome"] for r in records] == ["infra_error"]
    assert job in records[0]["message"]
    assert "hpcmap: error:" in (tmp_path / "head.log").read_text()


def test_two_studies_named_apart_and_no_credential_leaks(slurm_cluster, tmp_path):
    env = {**os.environ, "GH_PAT": SECRET, "HF_AUTH": SECRET, "OPENAI_API_KEY": SECRET}
    heads, seen = [], set()
    for study in ("alpha", "beta"):
        maps = mapper_files(tmp_path / study / "maps", 3)
        args = eval_args(tmp_path / study / f"{study}.h5", maps, "--no-array", "--json")
        heads.append(subprocess.Popen([*HPCMAP, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))

    def both_named() -> bool:
        seen.update(n.split("-")[1] for n in squeue_names() if n.startswith("hpcmap-"))
        return {"alpha", "beta"} <= seen

    wait_for(both_named, 120, "jobs of both studies in squeue")
    outs = [h.communicate(timeout=300) for h in heads]
    assert [h.returncode for h in heads] == [0, 0], [o[1] for o in outs]
    job_ids = set()
    for (stdout, stderr), study in zip(outs, ("alpha", "beta")):
        out = json.loads(stdout)
        assert [c["outcome"] for c in out["candidates"]] == ["ok"] * 3
        job_ids |= {c["worker"]["job_id"].split("_")[0] for c in out["candidates"]}
        assert f"{study}.submitit" in stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith("_log.out") for p in files)
    assert [p for p in files if SECRET.encode() in _contents(p)] == []
    spool = Path(slurm_cluster["state_dir"]) / "spool" / "ctld"
    environments = [p for j in job_ids for p in spool.glob(f"hash.*/job.{j}/environment")]
    assert environments and all(b"PATH=" in p.read_bytes() for p in environments)
    saved = [p for j in job_ids for p in spool.glob(f"hash.*/job.{j}/*")]
    assert [p for p in saved if SECRET.encode() in p.read_bytes()] == []
    assert all(b"GH_PAT" not in p.read_bytes() and b"HF_AUTH" not in p.read_bytes() for p in environments)


def test_crashed_candidate_log_and_exit_status(slurm_cluster, tmp_path):
    store = tmp_path / "crash.h5"
    proc = run_cli(*eval_args(store, ["default"], "--app-args", "-fault crash"))
    assert proc.returncode == 1
    assert "hpcmap: error: no candidate produced a valid result (1 crash)" in proc.stderr
    assert "Traceback" not in proc.stderr
    [log] = (tmp_path / "crash.submitit").glob("*/*_log.out")
    text = log.read_text()
    assert "hpcmap: candidate default: crash" in text and "injected crash" in text

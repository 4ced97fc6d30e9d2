"""Slurm studies as a cluster user meets them: refusals, a missing spec, dry runs, a head that dies, a lost job,
the controller down, leaks."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from hpcmap.store import Store
from test_eval_local import HPCMAP, REPO, SECRET, SIZE, _contents, mapper_files, run_cli
from test_eval_slurm import (HELD, cancel_study, current_cluster, node_spec, resumed_records, start_now,  # noqa: F401
                             stored, study_jobs, wait_for)

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("current_cluster")]


def eval_args(store: Path, maps: list[str], *extra: str) -> list[str]:
    return ["eval", *maps, "--app", "stencil", "--size", SIZE, "--trials", "1", "--executor", "slurm",
            "--machine", node_spec(store.parent), "--store", str(store), *extra]


def squeue_names() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True, timeout=30).stdout
    return out.split()


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


@pytest.mark.parametrize("command", ["eval", "tune"])
def test_slurm_without_a_machine_spec_is_refused(tmp_path, command):
    store = tmp_path / "nospec.h5"
    what = ["eval", "default", "--app", "stencil"] if command == "eval" else ["tune", "stencil", "--budget", "1"]
    proc = run_cli(*what, "--size", SIZE, "--trials", "1", "--executor", "slurm", "--store", str(store))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["hpcmap: error: --executor slurm needs --machine: the compute "
                                                "nodes' spec (a name in specs/machines or a .toml path); `local` "
                                                "would describe this submitting host, not the nodes"]
    assert list(tmp_path.iterdir()) == []


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
    head = subprocess.Popen([*HPCMAP, *args, *HELD], cwd=REPO, stdout=log, stderr=log)
    try:   # one job is started; the head is stopped with one candidate finished and five that cannot have run
        jobs = wait_for(lambda: (lambda j: len(j) == 6 and j)(study_jobs(store.stem)), 120, "six jobs in squeue")
        assert set(jobs.values()) == {"PENDING"}, jobs
        first = min(jobs, key=int)
        start_now(first)
        wait_for(lambda: stored(store) >= 1, 180, "the first result")
        waiting = {j: state for j, state in study_jobs(store.stem).items() if j != first}
        assert len(waiting) == 5 and set(waiting.values()) == {"PENDING"}, waiting
        head.send_signal(sig)
        assert head.wait(60) == 130
    finally:
        if head.poll() is None:
            head.kill()
            head.wait()
        log.close()
    assert "interrupted" in (tmp_path / "head.log").read_text()
    try:
        wait_for(lambda: not study_jobs(store.stem), 30, "the study's jobs to leave squeue")
    finally:
        cancel_study(store.stem)
    before = {r["key"]: r for r in Store(store).records()}
    assert len(before) == 1 and next(iter(before.values()))["worker"]["job_id"] == first
    proc = run_cli(*args, "--resume", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["skipped"] == 1 and out["ran"] == 5
    after = resumed_records(store, maps, before)
    # Each candidate that has a result was submitted once: the job behind it is the only one for its mapper.
    folder = tmp_path / f"{store.stem}.submitit"
    results = {p.parent.name for p in folder.glob("*/*_result.pkl")}
    assert {r["worker"]["job_id"] for r in after} == results
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


def test_controller_down_is_one_line_and_keeps_the_study(slurm_cluster, tmp_path):
    from hpcmap.cluster import layout_from_env
    from hpcmap.cluster.daemons import stop_daemon
    from hpcmap.cluster.layout import daemons

    maps = mapper_files(tmp_path / "maps", 2)
    store, tuned = tmp_path / "ctld.h5", tmp_path / "tuned.h5"
    first = run_cli(*eval_args(store, maps[:1]))
    assert first.returncode == 0, first.stderr
    kept = [(r["key"], r["outcome"], r["worker"]) for r in Store(store).records()]
    files = sorted((tmp_path / "ctld.submitit").rglob("*"))
    ctld = next(d for d in daemons(layout_from_env(), []) if d.name == "slurmctld")
    tune = ["tune", "stencil", "--optimizer", "random", "--budget", "1", "--trials", "1", "--size", SIZE,
            "--executor", "slurm", "--machine", node_spec(tmp_path), "--store", str(tuned)]
    try:
        stop_daemon(ctld)
        for args in (eval_args(store, maps, "--resume"), tune):
            proc = run_cli(*args)
            errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
            assert proc.returncode == 2, proc.stderr
            assert len(errors) == 1 and errors[0].startswith("hpcmap: error: the Slurm controller (slurmctld) "
                                                             "does not answer"), proc.stderr
            assert "Traceback" not in proc.stderr
    finally:
        up = subprocess.run([*HPCMAP, "cluster", "up", "--nodes", str(len(slurm_cluster["nodes_configured"]))],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
        assert up.returncode == 0, up.stderr
    assert [(r["key"], r["outcome"], r["worker"]) for r in Store(store).records()] == kept and len(kept) == 1
    assert sorted((tmp_path / "ctld.submitit").rglob("*")) == files
    assert not (tmp_path / "tuned.submitit").exists()
    assert not Store(tuned).path.exists() or Store(tuned).records() == []


def test_two_studies_named_apart_and_no_credential_leaks(slurm_cluster, tmp_path):
    env = {**os.environ, "GH_PAT": SECRET, "HF_AUTH": SECRET, "OPENAI_API_KEY": SECRET}
    heads = []
    for study in ("alpha", "beta"):
        maps = mapper_files(tmp_path / study / "maps", 3)
        args = eval_args(tmp_path / study / f"{study}.h5", maps, "--no-array", "--json", *HELD)
        heads.append(subprocess.Popen([*HPCMAP, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        # The jobs wait for their start time, so both studies are in squeue together until started here.
        jobs = wait_for(lambda: (lambda j: len(j) == 6 and j)({**study_jobs("alpha"), **study_jobs("beta")}),
                        120, "the jobs of both studies in squeue")
        for job in jobs:
            start_now(job)
        outs = [h.communicate(timeout=300) for h in heads]
    finally:
        for h in heads:
            if h.poll() is None:
                h.kill()
                h.communicate()
        for study in ("alpha", "beta"):
            cancel_study(study)
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

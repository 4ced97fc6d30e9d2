"""Candidates as jobs of the local 4-node Slurm cluster: all return, failures classified, scancel retried."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from hpcmap.dispatch.slurm import SlurmExecutor, SlurmOptions
from hpcmap.evaluate import make_requests
from hpcmap.store import Store
from test_eval_local import HPCMAP, INVALID, REPO, SECRET, SIZE, _contents, mapper_files, run_cli

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("current_cluster")]

# The compute nodes' machine spec: the local cluster's nodes are one host, so its jobs are small.
NODE_SPEC = """name = "cluster-node"
nodes = 1
[node]
cpus = {cpus}
utility = 1
sysmem_mb = 512
"""


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


def study_jobs(stem: str) -> dict[str, str]:
    """Job id -> state of the study's jobs in squeue (their names start with `hpcmap-STEM-`)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True, timeout=30).stdout
    return {job: state for job, name, state in (ln.split() for ln in out.splitlines())
            if name.startswith(f"hpcmap-{stem}-")}


def start_now(job: str) -> None:
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, timeout=30)


def cancel_study(stem: str) -> None:
    jobs = list(study_jobs(stem))
    if jobs:
        subprocess.run(["scancel", *jobs], timeout=30)


# Jobs submitted with these options wait for a start time an hour away: none runs until the test
# starts it (start_now), so what is finished when the test acts does not depend on the machine's speed.
HELD = ("--sbatch", "begin=now+1hour")


@pytest.fixture(scope="module")
def current_cluster(slurm_cluster):
    """The cluster with today's configuration (accounts and QOS enforced, nodes large enough for a job of
    NODE_SPEC); `up` restarts it only if its configuration changed."""
    up = subprocess.run([*HPCMAP, "cluster", "up", "--nodes", str(len(slurm_cluster["nodes_configured"]))],
                        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert up.returncode == 0, up.stderr
    return slurm_cluster


def node_spec(directory: Path, cpus: int = 1) -> str:
    """A spec file of the cluster's nodes under `directory` (a job of it asks for cpus + 4 CPUs)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"node{cpus}.toml"
    path.write_text(NODE_SPEC.format(cpus=cpus))
    return str(path)


def resumed_records(store: Path, maps: list[str], before: dict[str, dict]) -> list[dict]:
    """The records of a resumed study, checked: every mapper ok once, the results from before kept as they were."""
    after = Store(store).records()
    assert sorted(r["name"] for r in after) == sorted(maps)
    assert all(r["outcome"] == "ok" for r in after)
    for r in after:
        if r["key"] in before:
            assert r["worker"] == before[r["key"]]["worker"]
    return after


def sacct(job_ids: list[str]) -> dict[str, dict[str, str]]:
    roots = sorted({j.split("_")[0] for j in job_ids})
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-D", "-o", "JobID,State,NodeList,Start,End", "-j",
                          ",".join(roots)], capture_output=True, text=True, timeout=60).stdout
    rows = {}
    for line in out.splitlines():
        job, state, nodes, start, end = line.split("|")
        rows.setdefault(job, []).append({"State": state, "NodeList": nodes, "Start": start, "End": end})
    return rows


def wait_finished(job_ids: list[str], timeout: float = 60) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = sacct(job_ids)
        last = [rows.get(j, [{"State": "UNKNOWN"}])[-1] for j in job_ids]
        if all(r["State"] not in ("RUNNING", "COMPLETING", "PENDING", "UNKNOWN") for r in last):
            return last
        assert time.monotonic() < deadline, last
        time.sleep(0.5)


def squeue_running(name: str) -> list[str]:
    """Running jobs whose name starts with `name` (a single job's name ends with its candidate's)."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %j"], capture_output=True,
                         text=True, timeout=30).stdout
    return [job for job, _, jname in (ln.partition(" ") for ln in out.splitlines()) if jname.startswith(name)]


@pytest.fixture(scope="module")
def base(current_cluster, tmp_path_factory):
    return make_requests(["default"], "stencil", SIZE, node_spec(tmp_path_factory.mktemp("spec")), trials=2,
                         timeout_s=60)[0]


def legion_threads_of(job: str) -> int:
    """Threads of the Legion process of a running job, once their number has settled."""
    def count() -> int | None:   # the job's processes inherit its SLURM_JOB_ID (all nodes are this host)
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if ((proc / "comm").read_text().strip() == "stencil"
                        and f"SLURM_JOB_ID={job}\0".encode() in (proc / "environ").read_bytes()):
                    return len(list((proc / "task").iterdir()))
            except OSError:
                continue
        return None

    seen: list[int | None] = []
    deadline = time.monotonic() + 120
    while len(seen) < 10 or seen[-1] is None or len(set(seen[-10:])) > 1:
        assert time.monotonic() < deadline, seen
        seen.append(count())
        time.sleep(0.2)
    return seen[-1]


def test_job_holds_a_cpu_for_each_thread_of_its_legion_process(slurm_cluster, tmp_path):
    name = f"threads-{uuid.uuid4().hex[:6]}"
    req = make_requests(["default"], "stencil", SIZE, node_spec(tmp_path, cpus=2), trials=1, timeout_s=120,
                        app_args=["-fault", "hang"])[0]
    ex = SlurmExecutor(SlurmOptions(folder=str(tmp_path / "submitit"), job_name=name, array=False, retries=0))
    results = ex.submit([req])
    try:
        deadline = time.monotonic() + 60
        while not squeue_running(name):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        [job] = squeue_running(name)
        shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=30).stdout
        allocated = int(re.search(r"NumCPUs=(\d+)", shown).group(1))
        # 2 CPU and 1 utility processors, Realm's 2 background workers and the main thread
        assert allocated == legion_threads_of(job) == 6
    finally:
        ex.close()
        results.close()


def test_eight_candidates_on_four_nodes(base, tmp_path):
    maps = mapper_files(tmp_path / "maps", 5)
    reqs = [replace(base, name=m, mapper_text=Path(m).read_text()) for m in maps]
    reqs += [replace(base, name="hang", app_args=("-fault", "hang"), timeout_s=4),
             replace(base, name="crash", app_args=("-fault", "crash")),
             replace(base, name="invalid", mapper_text=INVALID)]
    # A job holds its node alone, so however many CPUs a node has, the first four jobs take all four nodes.
    ex = SlurmExecutor(SlurmOptions(folder=str(tmp_path / "submitit"), job_name=f"t8-{uuid.uuid4().hex[:6]}",
                                    exclusive=True))
    records = {r.name: r for r in ex.submit(reqs)}
    assert len(records) == 8
    assert {records[m].outcome for m in maps} == {"ok"}
    assert records["hang"].outcome == "timeout" and "did not finish within 4 s" in records["hang"].message
    assert records["crash"].outcome == "crash"
    assert records["invalid"].outcome == "invalid"
    assert all(r.worker["executor"] == "slurm" and r.attempts == 1 for r in records.values())
    ids = [r.worker["job_id"] for r in records.values()]
    jobs = wait_finished(ids)
    assert {j["State"] for j in jobs} == {"COMPLETED"}
    assert {j["NodeList"] for j in jobs} == {"node1", "node2", "node3", "node4"}


def test_scancel_is_infra_error_and_retried_once(base, tmp_path):
    name = f"cancel-{uuid.uuid4().hex[:6]}"
    req = replace(base, name="hang", app_args=("-fault", "hang"), timeout_s=120, trials=1)
    ex = SlurmExecutor(SlurmOptions(folder=str(tmp_path / "submitit"), job_name=name, array=False))
    results = ex.submit([req])
    cancelled: list[str] = []

    def canceller():
        while len(cancelled) < 2:
            for job in squeue_running(name):
                if job not in cancelled:
                    time.sleep(1)
                    subprocess.run(["scancel", job], check=True, timeout=30)
                    cancelled.append(job)
            time.sleep(0.2)

    import threading

    thread = threading.Thread(target=canceller, daemon=True)
    thread.start()
    record = next(results)
    thread.join(30)
    assert record.outcome == "infra_error", record.message
    assert record.attempts == 2
    assert "CANCELLED" in record.message
    assert len(cancelled) == 2
    assert all(r["State"].startswith("CANCELLED") for r in wait_finished(cancelled))


def test_scancel_once_then_retry_succeeds(base, tmp_path, capsys):
    name = f"retry-{uuid.uuid4().hex[:6]}"
    req = replace(base, name="slow", app_args=("-fault", "hang"), timeout_s=6, trials=1)
    ex = SlurmExecutor(SlurmOptions(folder=str(tmp_path / "submitit"), job_name=name, array=False))
    results = ex.submit([req])
    first = None
    deadline = time.monotonic() + 60
    while first is None and time.monotonic() < deadline:
        running = squeue_running(name)
        if running:
            first = running[0]
            subprocess.run(["scancel", first], check=True, timeout=30)
        time.sleep(0.2)
    record = next(results)
    assert record.attempts == 2
    assert record.outcome == "timeout"
    assert record.worker["job_id"] != first
    said = capsys.readouterr().err
    assert f"Slurm job {first} ended as CANCELLED" in said and "resubmitting (attempt 2 of 2)" in said


def test_requeued_job_runs_again_and_returns_once(base, tmp_path):
    name = f"requeue-{uuid.uuid4().hex[:6]}"
    req = replace(base, name="slow", app_args=("-fault", "hang"), timeout_s=15, trials=1)
    ex = SlurmExecutor(SlurmOptions(folder=str(tmp_path / "submitit"), job_name=name, array=False))
    results = ex.submit([req])
    deadline = time.monotonic() + 60
    while not squeue_running(name):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    job = squeue_running(name)[0]
    time.sleep(1)
    subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
    records = list(results)
    assert len(records) == 1
    record = records[0]
    assert record.outcome == "timeout" and record.attempts == 1
    assert record.worker["job_id"] == job and record.worker["restart"] == 1


def test_cli_slurm_study_keeps_api_key_out_of_every_file(slurm_cluster, tmp_path):
    study = tmp_path / "study"
    maps = mapper_files(study / "maps", 3)
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "GITHUB_TOKEN": SECRET, "DB_PASSWORD": SECRET}
    proc = run_cli("eval", *maps, "--app", "stencil", "--size", SIZE, "--trials", "1", "--executor", "slurm",
                   "--machine", node_spec(tmp_path), "--store", str(study / "study.h5"), "--profile", str(study / "prof"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [c["outcome"] for c in out["candidates"]] == ["ok"] * 3
    files = [p for p in study.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pkl" for p in files) and any(p.name.endswith(".sh") for p in files)
    assert [p for p in files if SECRET.encode() in _contents(p)] == []
    spool = Path(slurm_cluster["state_dir"]) / "spool" / "ctld"
    job_ids = {c["worker"]["job_id"].split("_")[0] for c in out["candidates"]}
    saved = [p for j in job_ids for p in spool.glob(f"hash.*/job.{j}/*")]
    assert [p for p in saved if SECRET.encode() in p.read_bytes()] == []


def test_cli_sigkill_head_then_resume_waits_for_its_jobs(current_cluster, tmp_path):
    maps = mapper_files(tmp_path / "maps", 4)
    store = tmp_path / "killed.h5"
    args = ["eval", *maps, "--app", "stencil", "--size", SIZE, "--trials", "2", "--executor", "slurm",
            "--machine", node_spec(tmp_path), "--store", str(store), "--no-array"]
    head_log, resume_log = tmp_path / "head.log", tmp_path / "resume.log"
    with open(head_log, "w") as log:
        head = subprocess.Popen([*HPCMAP, *args, *HELD], cwd=REPO, stdout=log, stderr=log)
    resume = None
    try:
        jobs = wait_for(lambda: (lambda j: len(j) == 4 and j)(study_jobs(store.stem)), 120, "four jobs in squeue")
        first, second, *held = sorted(jobs, key=int)
        start_now(first)
        wait_for(lambda: stored(store) >= 1, 180, "the first result")
        start_now(second)
        wait_for(lambda: study_jobs(store.stem).get(second) in ("RUNNING", None), 60, "the second job to run")
        head.send_signal(signal.SIGKILL)
        head.wait()
        before = {r["key"]: r for r in Store(store).records()}
        assert 1 <= len(before) <= 2
        # The two held jobs cannot have run: the next head must wait for them, not submit them again.
        with open(resume_log, "w") as log:
            resume = subprocess.Popen([*HPCMAP, *args, "--resume", "--json"], cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=log, text=True)
        wait_for(lambda: "an earlier head submitted" in resume_log.read_text(), 120, "the resumed head to attach")
        for job in held:
            start_now(job)
        stdout, _ = resume.communicate(timeout=300)
    finally:
        for proc in (head, resume):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        cancel_study(store.stem)
    assert resume.returncode == 0, resume_log.read_text()
    out = json.loads(stdout)
    assert out["skipped"] == len(before) and out["ran"] == 4 - len(before)
    after = resumed_records(store, maps, before)
    # Every candidate was submitted exactly once: its result comes from the job the first head submitted.
    submitted = sorted(p.parent.name for p in (tmp_path / "killed.submitit").glob("*/*_submitted.pkl"))
    assert submitted == sorted(jobs)
    assert sorted(r["worker"]["job_id"] for r in after) == sorted(jobs)

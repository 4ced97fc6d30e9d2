"""Bringing the cluster up and down, its status, and waiting for its nodes."""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time

from hpcmap.cluster.config import configured_nodes, link_system_conf, prepare_state, unlink_system_conf
from hpcmap.cluster.daemons import (
    DaemonFailed,
    _failure,
    _wait_gone,
    leftover_processes,
    read_pid,
    start_mariadb,
    start_munged,
    start_slurmctld,
    start_slurmd,
    start_slurmdbd,
    stop_daemon,
)
from hpcmap.cluster.layout import (
    BUSY_STATES,
    MIN_NODE_CPUS,
    SLURM_DIR,
    SYSTEM_CONF,
    UP_TIMEOUT_S,
    ClusterStatus,
    Daemon,
    Layout,
    NodeState,
    daemon_env,
    daemons,
    node_names,
)
from hpcmap.errors import UserError


def query_nodes(layout: Layout) -> list[NodeState]:
    proc = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%N|%T|%c"], env=daemon_env(layout), capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0:
        return []
    seen: dict[str, NodeState] = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            seen[parts[0]] = NodeState(parts[0], parts[1], int(parts[2]) if parts[2].isdigit() else 0)
    return list(seen.values())


def sacct_answers(layout: Layout) -> bool:
    proc = subprocess.run(
        ["sacct", "-n", "-X", "-a", "-S", "now-1minutes", "-o", "jobid"],
        env=daemon_env(layout), capture_output=True, text=True, timeout=30,
    )
    return proc.returncode == 0


def status(layout: Layout) -> ClusterStatus:
    nodes = configured_nodes(layout)
    st = ClusterStatus(str(layout.root), str(layout.slurm_conf), nodes)
    for d in daemons(layout, nodes):
        pid = read_pid(d)
        st.daemons[d.name] = {"running": pid is not None, "pid": pid, "log": str(d.log_file)}
    if st.daemons.get("slurmctld", {}).get("running"):
        st.nodes = query_nodes(layout)
    return st


@contextlib.contextmanager
def _locked(layout: Layout):
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_installed() -> None:
    missing = [b for b in ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct") if not shutil.which(b)]
    if missing:
        raise UserError(f"missing {', '.join(missing)}; run `sudo {SLURM_DIR / 'setup.sh'}` first")
    if os.geteuid() != 0:
        raise UserError("the local Slurm cluster runs its daemons as root; run this command as root")


def up(layout: Layout, count: int, cpus_per_node: int | None = None, timeout: float = UP_TIMEOUT_S, progress=None) -> ClusterStatus:
    """Start every daemon that is not running and wait until all nodes are idle and sacct answers."""
    if count < 1:
        raise UserError("--nodes must be at least 1")
    _check_installed()
    cpus = cpus_per_node or max(MIN_NODE_CPUS, os.cpu_count() or 1)
    nodes = node_names(count)
    report = progress or (lambda msg: None)
    with _locked(layout):
        previous = configured_nodes(layout)
        changed = prepare_state(layout, nodes, cpus)
        linked = link_system_conf(layout)
        ds = {d.name: d for d in daemons(layout, sorted(set(nodes) | set(previous)))}
        if changed:
            for name in [n for n in ds if n.startswith("slurmd:")] + ["slurmctld", "slurmdbd"]:
                stop_daemon(ds[name])
        for name in [f"slurmd:{n}" for n in previous if n not in nodes]:
            stop_daemon(ds[name])
        starters = [("munged", start_munged), ("mariadb", start_mariadb), ("slurmdbd", start_slurmdbd),
                    ("slurmctld", start_slurmctld)]
        for name, start in starters:
            report(f"starting {name}")
            start(layout, ds[name])
        for node in nodes:
            report(f"starting slurmd {node}")
            start_slurmd(layout, ds[f"slurmd:{node}"])
        _wait_nodes_idle(layout, nodes, ds, timeout, report)
        if not linked:
            report(f"{SYSTEM_CONF} belongs to another cluster; export SLURM_CONF={layout.slurm_conf}")
        return status(layout)


def _wait_nodes_idle(layout: Layout, nodes: list[str], ds: dict[str, Daemon], timeout: float, report) -> None:
    deadline = time.monotonic() + timeout
    resumed: set[str] = set()
    while True:
        states = {n.name: n.state for n in query_nodes(layout)}
        ready = [n for n in nodes if states.get(n) == "idle" or states.get(n) in BUSY_STATES]
        report(f"waiting for nodes: {len(ready)}/{len(nodes)} idle", len(ready), len(nodes))
        if len(ready) == len(nodes) and sacct_answers(layout):
            return
        for n in nodes:
            st = states.get(n, "")
            if st.startswith("down") and not st.endswith("*") and n not in resumed:
                subprocess.run(["scontrol", "update", f"nodename={n}", "state=resume"],
                               env=daemon_env(layout), capture_output=True)
                resumed.add(n)
        for name, d in ds.items():
            if (name in ("munged", "mariadb", "slurmdbd", "slurmctld") or name.split(":", 1)[-1] in nodes) \
                    and read_pid(d) is None:
                raise _failure(d, "exited")
        if time.monotonic() >= deadline:
            stuck = [n for n in nodes if n not in ready]
            if stuck:
                first = ds[f"slurmd:{stuck[0]}"]
                detail = ", ".join(f"{n}={states.get(n, 'missing')}" for n in stuck)
                raise DaemonFailed(
                    f"nodes not idle after {timeout:.0f}s ({detail}); see {first.log_file} and {ds['slurmctld'].log_file}"
                )
            raise _failure(ds["slurmdbd"], f"did not answer sacct within {timeout:.0f}s")
        time.sleep(0.5)


def _cancel_all_jobs(layout: Layout, timeout: float) -> None:
    proc = subprocess.run(["squeue", "-h", "-o", "%A"], env=daemon_env(layout), capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        return
    jobs = proc.stdout.split()
    if not jobs:
        return
    subprocess.run(["scancel", *jobs], env=daemon_env(layout), capture_output=True, timeout=30)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run(["squeue", "-h", "-t", "R,CG,PD,CF,S", "-o", "%A"], env=daemon_env(layout),
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0 or not proc.stdout.split():
            return
        time.sleep(0.3)


def down(layout: Layout, report=None) -> None:
    """Cancel all jobs, stop every daemon, and leave no process of the cluster behind."""
    report = report or (lambda msg: None)
    with _locked(layout):
        nodes = configured_nodes(layout)
        extra = sorted(p.name[len("slurmd."):-len(".pid")] for p in layout.run.glob("slurmd.*.pid")) if layout.run.is_dir() else []
        ds = daemons(layout, sorted(set(nodes) | set(extra)))
        by_name = {d.name: d for d in ds}
        if read_pid(by_name["slurmctld"]) is not None:
            report("cancelling jobs")
            _cancel_all_jobs(layout, 20.0)
        for d in reversed(ds):
            if read_pid(d) is not None:
                report(f"stopping {d.name}")
            stop_daemon(d)
        leftovers = leftover_processes(layout)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_gone(leftovers, 5.0)
        unlink_system_conf(layout)
        with contextlib.suppress(FileNotFoundError):
            layout.munge_socket.unlink()

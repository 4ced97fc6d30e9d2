"""The local Slurm cluster: munge, MariaDB, slurmdbd, slurmctld and N slurmd daemons on this host.

Every file the cluster writes lives under one state directory (default /var/lib/hpcmap-slurm,
or $HPCMAP_SLURM_STATE). The generated slurm.conf is linked from /etc/slurm/slurm.conf when that
path is free, so sbatch, squeue, sacct and submitit find the cluster without SLURM_CONF.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hpcmap.errors import UserError

CLUSTER_NAME = "hpcmap"
PARTITION = "debug"
ACCOUNT = "default"
DEFAULT_STATE = Path("/var/lib/hpcmap-slurm")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
SLURM_DIR = Path(__file__).resolve().parent.parent / "slurm"
TEMPLATES = SLURM_DIR / "templates"

CTLD_PORT = 16817
DBD_PORT = 16819
SLURMD_PORT_BASE = 16830
MYSQL_PORT = 16306
DB_NAME = "slurm_acct_db"
DB_USER = "slurm"
CRED_EXPIRE_S = 10
MAX_TIME_MIN = 60
UP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Layout:
    """Where the cluster keeps its configuration, data, logs and pid files."""

    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def slurm_conf(self) -> Path:
        return self.etc / "slurm.conf"

    @property
    def slurmdbd_conf(self) -> Path:
        return self.etc / "slurmdbd.conf"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def munge_dir(self) -> Path:
        return self.root / "munge"

    @property
    def munge_key(self) -> Path:
        return self.munge_dir / "munge.key"

    @property
    def munge_socket(self) -> Path:
        return self.munge_dir / "munge.socket"

    @property
    def mysql_data(self) -> Path:
        return self.root / "mysql"

    @property
    def mysql_socket(self) -> Path:
        return self.run / "mysqld.sock"

    @property
    def db_pass_file(self) -> Path:
        return self.etc / "db.pass"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def cluster_json(self) -> Path:
        return self.root / "cluster.json"


@dataclass(frozen=True)
class Daemon:
    """One daemon of the cluster: how to recognise its process and where it logs."""

    name: str
    binary: str
    pid_file: Path
    log_file: Path


@dataclass
class NodeState:
    name: str
    state: str
    cpus: int


@dataclass
class ClusterStatus:
    state_dir: str
    slurm_conf: str
    nodes_configured: list[str]
    daemons: dict[str, dict] = field(default_factory=dict)
    nodes: list[NodeState] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return (
            bool(self.nodes_configured)
            and all(d["running"] for d in self.daemons.values())
            and sorted(n.name for n in self.nodes if n.state == "idle" or n.state in BUSY_STATES)
            == sorted(self.nodes_configured)
        )

    def to_json(self) -> dict:
        return {
            "up": self.up,
            "state_dir": self.state_dir,
            "slurm_conf": self.slurm_conf,
            "nodes_configured": self.nodes_configured,
            "daemons": self.daemons,
            "nodes": [n.__dict__ for n in self.nodes],
        }


BUSY_STATES = {"allocated", "mixed", "completing"}


def layout_from_env() -> Layout:
    return Layout(Path(os.environ.get("HPCMAP_SLURM_STATE", str(DEFAULT_STATE))))


def node_names(count: int) -> list[str]:
    return [f"node{i}" for i in range(1, count + 1)]


def daemons(layout: Layout, nodes: list[str]) -> list[Daemon]:
    """The cluster's daemons in start order."""
    result = [
        Daemon("munged", "munged", layout.run / "munged.pid", layout.log / "munged.log"),
        Daemon("mariadb", "mariadbd", layout.run / "mysqld.pid", layout.log / "mariadb.log"),
        Daemon("slurmdbd", "slurmdbd", layout.run / "slurmdbd.pid", layout.log / "slurmdbd.log"),
        Daemon("slurmctld", "slurmctld", layout.run / "slurmctld.pid", layout.log / "slurmctld.log"),
    ]
    for node in nodes:
        result.append(
            Daemon(f"slurmd:{node}", "slurmd", layout.run / f"slurmd.{node}.pid", layout.log / f"slurmd.{node}.log")
        )
    return result


def daemon_env(layout: Layout) -> dict[str, str]:
    env = dict(os.environ)
    env["SLURM_CONF"] = str(layout.slurm_conf)
    return env


# ----------------------------------------------------------------------------- processes


def _pid_alive(pid: int, binary: str | None = None) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2 :].split(" ", 1)[0]
    if state in ("Z", "X"):
        return False
    if binary is None:
        return True
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        cmd = ""
    return os.path.basename(exe) == binary or os.path.basename(cmd).split(":")[0] == binary


def read_pid(daemon: Daemon) -> int | None:
    """The daemon's pid if its pid file names a live process of the right program."""
    try:
        pid = int(daemon.pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _pid_alive(pid, daemon.binary) else None


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if _pid_alive(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def stop_daemon(daemon: Daemon, timeout: float = STOP_TIMEOUT_S) -> None:
    pid = read_pid(daemon)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if _wait_gone([pid], timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone([pid], 5.0)
    with contextlib.suppress(FileNotFoundError):
        daemon.pid_file.unlink()


DAEMON_BINARIES = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "slurmstepd")


def leftover_processes(layout: Layout, binaries: tuple[str, ...] = DAEMON_BINARIES) -> list[int]:
    """Pids of daemons (and job steps) started for this state directory, found by their SLURM_CONF."""
    needle = f"SLURM_CONF={layout.slurm_conf}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if not any(_pid_alive(pid, b) for b in binaries):
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in env:
            found.append(pid)
    return found


def _run(cmd: list[str], layout: Layout, check: bool = True, timeout: float = 30.0, **kw) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(
            cmd, env=daemon_env(layout), capture_output=True, text=True, timeout=timeout, **kw
        )
    except FileNotFoundError as exc:
        raise UserError(f"{cmd[0]} not found; run slurm/setup.sh as root first") from exc
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"`{' '.join(cmd)}` did not answer within {timeout:.0f}s") from exc
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise UserError(f"`{' '.join(cmd)}` failed: {msg[-1] if msg else f'exit {proc.returncode}'}")
    return proc


# ----------------------------------------------------------------------------- configuration


def _render(template: str, values: dict[str, object]) -> str:
    text = (TEMPLATES / template).read_text()
    return string.Template(text).substitute({k: str(v) for k, v in values.items()})


def _host_memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 1024


def render_configs(layout: Layout, nodes: list[str], cpus_per_node: int, db_pass: str) -> dict[Path, str]:
    """The text of slurm.conf and slurmdbd.conf for this layout and node list."""
    memory = max(1, int(_host_memory_mb() * 0.9))
    node_lines = "\n".join(
        f"NodeName={name} NodeHostname=localhost NodeAddr=127.0.0.1 Port={SLURMD_PORT_BASE + i} "
        f"CPUs={cpus_per_node} RealMemory={memory} State=UNKNOWN"
        for i, name in enumerate(nodes, start=1)
    )
    values = {
        "cluster": CLUSTER_NAME,
        "state": layout.root,
        "munge_socket": layout.munge_socket,
        "ctld_port": CTLD_PORT,
        "dbd_port": DBD_PORT,
        "mysql_port": MYSQL_PORT,
        "cred_expire": CRED_EXPIRE_S,
        "max_time": MAX_TIME_MIN,
        "nodes": node_lines,
        "db_user": DB_USER,
        "db_pass": db_pass,
        "db_name": DB_NAME,
    }
    return {
        layout.slurm_conf: _render("slurm.conf.in", values),
        layout.slurmdbd_conf: _render("slurmdbd.conf.in", values),
    }


def job_script(
    command: str,
    *,
    job_name: str = "hpcmap",
    nodes: int = 1,
    cpus: int = 1,
    time_min: int = 10,
    output: str = "slurm-%j.out",
    error: str | None = None,
    extra: list[str] | None = None,
) -> str:
    """An sbatch script from slurm/templates/job.sbatch.in; `extra` are further sbatch options."""
    return _render(
        "job.sbatch.in",
        {
            "job_name": job_name,
            "nodes": nodes,
            "cpus": cpus,
            "time": time_min,
            "output": output,
            "error": error or output,
            "extra": "\n".join(f"#SBATCH {opt}" for opt in (extra or [])),
            "command": command,
        },
    )


def _write_private(path: Path, text: str) -> bool:
    """Write text with mode 600; True when the content changed."""
    try:
        if path.read_text() == text:
            os.chmod(path, 0o600)
            return False
    except OSError:
        pass
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


def prepare_state(layout: Layout, nodes: list[str], cpus_per_node: int) -> bool:
    """Create the state directory and write the configuration; True when slurm.conf changed."""
    for d in (layout.root, layout.etc, layout.log, layout.run, layout.spool / "ctld", layout.munge_dir):
        d.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        (layout.spool / "slurmd" / node).mkdir(parents=True, exist_ok=True)
    os.chmod(layout.root, 0o755)
    os.chmod(layout.munge_dir, 0o755)
    if not layout.munge_key.exists():
        fd = os.open(layout.munge_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(1024))
    if not layout.db_pass_file.exists():
        _write_private(layout.db_pass_file, secrets.token_hex(16))
    db_pass = layout.db_pass_file.read_text().strip()
    (layout.etc / "plugstack.conf").touch()
    changed = False
    for path, text in render_configs(layout, nodes, cpus_per_node, db_pass).items():
        changed |= _write_private(path, text)
    os.chmod(layout.slurm_conf, 0o644)
    layout.cluster_json.write_text(json.dumps({"nodes": nodes, "cpus_per_node": cpus_per_node}))
    return changed


def configured_nodes(layout: Layout) -> list[str]:
    try:
        return list(json.loads(layout.cluster_json.read_text())["nodes"])
    except (OSError, ValueError, KeyError):
        return []


def link_system_conf(layout: Layout) -> bool:
    """Point /etc/slurm/slurm.conf at our slurm.conf unless another one is there; True if linked."""
    target = layout.slurm_conf
    if SYSTEM_CONF.is_symlink():
        if Path(os.readlink(SYSTEM_CONF)) == target:
            return True
        if not SYSTEM_CONF.exists() or _is_ours(Path(os.readlink(SYSTEM_CONF))):
            SYSTEM_CONF.unlink()
        else:
            return False
    elif SYSTEM_CONF.exists():
        return False
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.symlink_to(target)
    return True


def _is_ours(path: Path) -> bool:
    try:
        return path.read_text().startswith("# Generated by hpcmap")
    except OSError:
        return False


def unlink_system_conf(layout: Layout) -> None:
    if SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == layout.slurm_conf:
        SYSTEM_CONF.unlink()


# ----------------------------------------------------------------------------- starting


class DaemonFailed(UserError):
    pass


def _last_error(log_file: Path) -> str:
    try:
        with open(log_file, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 16384))
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        low = line.lower()
        if ("error" in low or "fatal" in low) and "pmix" not in low:
            return line.strip()
    return ""


def _failure(daemon: Daemon, what: str) -> DaemonFailed:
    last = _last_error(daemon.log_file)
    detail = f" ({last})" if last else ""
    return DaemonFailed(f"{daemon.name} {what}{detail}; see its log: {daemon.log_file}")


def _wait_for(check, daemon: Daemon, timeout: float, what: str) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return
        if read_pid(daemon) is None and time.monotonic() - start > 5:
            raise _failure(daemon, "exited during start-up")
        time.sleep(0.2)
    if read_pid(daemon) is None:
        raise _failure(daemon, "is not running")
    raise _failure(daemon, f"did not {what} within {timeout:.0f}s")


def _spawn(cmd: list[str], daemon: Daemon, layout: Layout) -> None:
    """Start a program that stays in the foreground, detached, and record its pid."""
    with open(daemon.log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=daemon_env(layout),
            start_new_session=True,
            close_fds=True,
        )
    daemon.pid_file.write_text(f"{proc.pid}\n")


def _start_daemonizing(cmd: list[str], daemon: Daemon, layout: Layout) -> None:
    """Start a program that forks into the background and writes its own pid file."""
    with contextlib.suppress(FileNotFoundError):
        daemon.pid_file.unlink()
    with open(daemon.log_file, "ab") as log:
        try:
            proc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=daemon_env(layout), timeout=30, start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise UserError(f"{cmd[0]} not found; run slurm/setup.sh as root first") from exc
    if proc.returncode != 0:
        raise _failure(daemon, f"failed to start (exit {proc.returncode})")


def start_munged(layout: Layout, d: Daemon) -> None:
    if read_pid(d) is not None:
        return
    with contextlib.suppress(FileNotFoundError):
        layout.munge_socket.unlink()
    _start_daemonizing(
        [
            "munged",
            f"--key-file={layout.munge_key}",
            f"--socket={layout.munge_socket}",
            f"--pid-file={d.pid_file}",
            f"--log-file={d.log_file}",
            f"--seed-file={layout.munge_dir / 'munged.seed'}",
            "--force",
        ],
        d,
        layout,
    )
    _wait_for(lambda: layout.munge_socket.exists() and read_pid(d) is not None, d, 15, "create its socket")


def _mysql(layout: Layout, sql: str) -> subprocess.CompletedProcess:
    return _run(
        ["mariadb", "--no-defaults", "--user=root", f"--socket={layout.mysql_socket}", "--batch", "-e", sql],
        layout,
    )


def start_mariadb(layout: Layout, d: Daemon) -> None:
    if read_pid(d) is None:
        if not (layout.mysql_data / "mysql").is_dir():
            shutil.rmtree(layout.mysql_data, ignore_errors=True)
            layout.mysql_data.mkdir(parents=True)
            with open(d.log_file, "ab") as log:
                proc = subprocess.run(
                    [
                        "mariadb-install-db", "--no-defaults", f"--datadir={layout.mysql_data}",
                        "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db",
                    ],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=daemon_env(layout),
                )
            if proc.returncode != 0:
                raise _failure(d, "could not initialise its data directory")
        with contextlib.suppress(FileNotFoundError):
            layout.mysql_socket.unlink()
        _spawn(
            [
                "mariadbd", "--no-defaults", f"--datadir={layout.mysql_data}", "--user=root",
                f"--socket={layout.mysql_socket}", f"--port={MYSQL_PORT}", "--bind-address=127.0.0.1",
                f"--pid-file={d.pid_file}", f"--log-error={d.log_file}", "--skip-log-bin",
                "--innodb-buffer-pool-size=256M", "--innodb-log-file-size=64M",
                "--innodb-lock-wait-timeout=900", "--max-connections=64",
            ],
            d,
            layout,
        )

    def ping() -> bool:
        proc = subprocess.run(
            ["mariadb-admin", "--no-defaults", "--user=root", f"--socket={layout.mysql_socket}", "ping"],
            capture_output=True, text=True,
        )
        return proc.returncode == 0

    _wait_for(ping, d, 60, "accept connections")
    db_pass = layout.db_pass_file.read_text().strip()
    users = [f"'{DB_USER}'@'localhost'", f"'{DB_USER}'@'127.0.0.1'"]
    sql = [f"CREATE DATABASE IF NOT EXISTS {DB_NAME};"]
    for user in users:
        sql.append(f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY '{db_pass}';")
        sql.append(f"ALTER USER {user} IDENTIFIED BY '{db_pass}';")
        sql.append(f"GRANT ALL ON {DB_NAME}.* TO {user};")
    sql.append("FLUSH PRIVILEGES;")
    _mysql(layout, " ".join(sql))


def start_slurmdbd(layout: Layout, d: Daemon) -> None:
    if read_pid(d) is None:
        _start_daemonizing(["slurmdbd"], d, layout)

    def answers() -> bool:
        proc = subprocess.run(
            ["sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"],
            env=daemon_env(layout), capture_output=True, text=True, timeout=30,
        )
        return proc.returncode == 0

    _wait_for(answers, d, 60, "answer sacctmgr")
    _register_accounts(layout)


def _sacctmgr_add(layout: Layout, *args: str) -> None:
    proc = _run(["sacctmgr", "-i", "add", *args], layout, check=False)
    out = (proc.stdout + proc.stderr).lower()
    if proc.returncode != 0 and "nothing new added" not in out and "already exists" not in out:
        raise UserError(f"`sacctmgr add {' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()}")


def _register_accounts(layout: Layout) -> None:
    existing = _run(["sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"], layout).stdout.split()
    if CLUSTER_NAME not in existing:
        _sacctmgr_add(layout, "cluster", CLUSTER_NAME)
    accounts = _run(["sacctmgr", "-n", "-P", "list", "account", "format=account"], layout).stdout.split()
    if ACCOUNT not in accounts:
        _sacctmgr_add(layout, "account", ACCOUNT, f"cluster={CLUSTER_NAME}", "description=hpcmap", "organization=hpcmap")
    users = _run(["sacctmgr", "-n", "-P", "list", "user", "format=user"], layout).stdout.split()
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    if me not in users:
        _sacctmgr_add(layout, "user", me, f"account={ACCOUNT}", f"cluster={CLUSTER_NAME}")


def start_slurmctld(layout: Layout, d: Daemon) -> None:
    if read_pid(d) is None:
        _start_daemonizing(["slurmctld"], d, layout)

    def answers() -> bool:
        proc = subprocess.run(["scontrol", "ping"], env=daemon_env(layout), capture_output=True, text=True, timeout=30)
        return proc.returncode == 0 and "UP" in proc.stdout

    _wait_for(answers, d, 60, "answer scontrol ping")


def start_slurmd(layout: Layout, d: Daemon) -> None:
    if read_pid(d) is None:
        node = d.name.split(":", 1)[1]
        _start_daemonizing(["slurmd", "-N", node], d, layout)
        _wait_for(lambda: read_pid(d) is not None, d, 15, "write its pid file")


# ----------------------------------------------------------------------------- queries


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


# ----------------------------------------------------------------------------- up / down


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
    cpus = cpus_per_node or max(1, (os.cpu_count() or 1) // count)
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


# ----------------------------------------------------------------------------- CLI


def _progress_reporter(console):
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                        console=console, transient=True)
    task = progress.add_task("starting", total=None)

    def report(msg: str, done: int | None = None, total: int | None = None) -> None:
        if done is not None:
            progress.update(task, description=msg, completed=done, total=total)
        else:
            progress.update(task, description=msg)

    return progress, report


def _print_status(st: ClusterStatus, console) -> None:
    from rich.table import Table

    table = Table(title=f"hpcmap Slurm cluster ({'up' if st.up else 'down'})", title_justify="left")
    table.add_column("daemon")
    table.add_column("pid")
    table.add_column("log")
    for name, d in st.daemons.items():
        table.add_row(name, str(d["pid"]) if d["running"] else "[red]stopped[/red]", d["log"])
    console.print(table)
    console.file.flush()
    if st.daemons.get("slurmctld", {}).get("running"):
        proc = subprocess.run(["sinfo", "-N", "-l"], env={**os.environ, "SLURM_CONF": st.slurm_conf},
                              capture_output=True, text=True)
        print(proc.stdout.rstrip() or proc.stderr.rstrip(), flush=True)
    print(f"SLURM_CONF={st.slurm_conf}")


def _cmd_up(args: argparse.Namespace) -> int:
    from rich.console import Console

    layout = layout_from_env()
    console = Console(stderr=True)
    t0 = time.monotonic()
    if args.json or not console.is_terminal:
        messages = []
        st = up(layout, args.nodes, args.cpus_per_node, args.timeout, lambda msg, *a: messages.append(msg))
    else:
        progress, report = _progress_reporter(console)
        with progress:
            st = up(layout, args.nodes, args.cpus_per_node, args.timeout, report)
    elapsed = time.monotonic() - t0
    if args.json:
        print(json.dumps({**st.to_json(), "elapsed_s": round(elapsed, 2)}))
    else:
        names = ",".join(n.name for n in st.nodes)
        print(f"cluster up: {len(st.nodes)} nodes ({names}) in {elapsed:.1f}s; SLURM_CONF={st.slurm_conf}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from rich.console import Console

    layout = layout_from_env()
    console = Console(stderr=True)
    t0 = time.monotonic()
    if not layout.root.is_dir():
        st = None
    else:
        if os.geteuid() != 0:
            raise UserError("the local Slurm cluster runs its daemons as root; run this command as root")
        down(layout)
        st = status(layout)
    elapsed = time.monotonic() - t0
    running = [n for n, d in (st.daemons.items() if st else []) if d["running"]]
    if running:
        raise UserError(f"still running after down: {', '.join(running)}")
    if args.json:
        print(json.dumps({"up": False, "state_dir": str(layout.root), "elapsed_s": round(elapsed, 2)}))
    else:
        print(f"cluster down in {elapsed:.1f}s")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console

    st = status(layout_from_env())
    if args.json:
        print(json.dumps(st.to_json()))
    else:
        _print_status(st, Console())
    return 0 if st.up else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser("cluster", help="start, stop or inspect the local Slurm cluster (slurm/)")
    sub = parser.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)

    p_up = sub.add_parser("up", help="start munge, MariaDB, slurmdbd, slurmctld and N slurmd nodes")
    p_up.add_argument("--nodes", type=int, default=4, help="number of slurmd nodes (default 4)")
    p_up.add_argument("--cpus-per-node", type=int, default=None,
                      help="CPUs each node offers (default: this host's cores / nodes, at least 1)")
    p_up.add_argument("--timeout", type=float, default=UP_TIMEOUT_S, help="seconds to wait for idle nodes")
    p_up.add_argument("--json", action="store_true", help="print the cluster status as JSON")
    p_up.set_defaults(func=_cmd_up)

    p_down = sub.add_parser("down", help="cancel all jobs and stop every daemon")
    p_down.add_argument("--nodes", type=int, default=None, help=argparse.SUPPRESS)
    p_down.add_argument("--json", action="store_true", help="print the result as JSON")
    p_down.set_defaults(func=_cmd_down)

    p_status = sub.add_parser("status", help="daemons and node states (sinfo); exit 1 when not up")
    p_status.add_argument("--nodes", type=int, default=None, help=argparse.SUPPRESS)
    p_status.add_argument("--json", action="store_true", help="print the status as JSON")
    p_status.set_defaults(func=_cmd_status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slurm/cluster.sh")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["cluster", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"hpcmap: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hpcmap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

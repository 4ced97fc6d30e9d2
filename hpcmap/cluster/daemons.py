"""Starting and stopping munged, MariaDB, slurmdbd, slurmctld and slurmd; pid files; failure messages."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from hpcmap.cluster.layout import (
    ACCOUNT,
    CLUSTER_NAME,
    DB_NAME,
    DB_USER,
    MYSQL_PORT,
    STOP_TIMEOUT_S,
    Daemon,
    Layout,
    daemon_env,
)
from hpcmap.errors import UserError


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

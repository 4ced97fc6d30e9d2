"""Where the cluster lives: state directory layout, ports, names, and the Layout/Daemon dataclasses."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CLUSTER_NAME = "hpcmap"
PARTITION = "debug"
ACCOUNT = "default"
DEFAULT_STATE = Path("/var/lib/hpcmap-slurm")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
SLURM_DIR = Path(__file__).resolve().parent.parent.parent / "slurm"
TEMPLATES = SLURM_DIR / "templates"

CTLD_PORT = 16817
DBD_PORT = 16819
SLURMD_PORT_BASE = 16830
MYSQL_PORT = 16306
DB_NAME = "slurm_acct_db"
DB_USER = "slurm"
CRED_EXPIRE_S = 10
MAX_TIME_MIN = 60
# Each node is this whole host, and offers at least this many CPUs (oversubscribing a small host), so that
# a job of a small machine spec fits: 1 CPU and 1 utility processor are 5 threads
# (hpcmap.dispatch.slurm.legion_threads).
MIN_NODE_CPUS = 8
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

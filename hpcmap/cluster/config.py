"""The cluster's configuration: slurm.conf and slurmdbd.conf from slurm/templates, job scripts, the state directory."""
from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

from hpcmap.cluster.layout import (
    CLUSTER_NAME,
    CRED_EXPIRE_S,
    CTLD_PORT,
    DB_NAME,
    DB_USER,
    DBD_PORT,
    MAX_TIME_MIN,
    MYSQL_PORT,
    SLURMD_PORT_BASE,
    SYSTEM_CONF,
    TEMPLATES,
    Layout,
)


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

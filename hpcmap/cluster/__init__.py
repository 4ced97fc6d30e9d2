"""The local Slurm cluster: munge, MariaDB, slurmdbd, slurmctld and N slurmd daemons on this host.

Every file the cluster writes lives under one state directory (default /var/lib/hpcmap-slurm,
or $HPCMAP_SLURM_STATE). The generated slurm.conf is linked from /etc/slurm/slurm.conf when that
path is free, so sbatch, squeue, sacct and submitit find the cluster without SLURM_CONF.

The package is split by job: layout (state directory, ports, names), config (slurm.conf,
slurmdbd.conf, job scripts), daemons (starting and stopping each daemon), control (up, down,
status) and commands (`hpcmap cluster up|down|status`). The names below are re-exported so
`from hpcmap import cluster` and `cluster.<name>` keep working.
"""
from __future__ import annotations

from hpcmap.cluster.commands import (
    _cmd_down,
    _cmd_status,
    _cmd_up,
    _print_status,
    _progress_reporter,
    register,
)
from hpcmap.cluster.config import (
    _host_memory_mb,
    _is_ours,
    _render,
    _write_private,
    configured_nodes,
    job_script,
    link_system_conf,
    prepare_state,
    render_configs,
    unlink_system_conf,
)
from hpcmap.cluster.control import (
    _cancel_all_jobs,
    _check_installed,
    _locked,
    _wait_nodes_idle,
    down,
    query_nodes,
    sacct_answers,
    status,
    up,
)
from hpcmap.cluster.daemons import (
    DAEMON_BINARIES,
    DaemonFailed,
    _failure,
    _last_error,
    _mysql,
    _pid_alive,
    _register_accounts,
    _run,
    _sacctmgr_add,
    _spawn,
    _start_daemonizing,
    _wait_for,
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
    ACCOUNT,
    BUSY_STATES,
    CLUSTER_NAME,
    CRED_EXPIRE_S,
    CTLD_PORT,
    DB_NAME,
    DB_USER,
    DBD_PORT,
    DEFAULT_STATE,
    MAX_TIME_MIN,
    MYSQL_PORT,
    PARTITION,
    SLURM_DIR,
    SLURMD_PORT_BASE,
    STOP_TIMEOUT_S,
    SYSTEM_CONF,
    TEMPLATES,
    UP_TIMEOUT_S,
    ClusterStatus,
    Daemon,
    Layout,
    NodeState,
    daemon_env,
    daemons,
    layout_from_env,
    node_names,
)

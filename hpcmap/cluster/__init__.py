"""The local Slurm cluster: munge, MariaDB, slurmdbd, slurmctld and N slurmd daemons on this host.

Every file the cluster writes lives under one state directory (default /var/lib/hpcmap-slurm,
or $HPCMAP_SLURM_STATE). The generated slurm.conf is linked from /etc/slurm/slurm.conf when that
path is free, so sbatch, squeue, sacct and submitit find the cluster without SLURM_CONF.

The package is split by job: layout (state directory, ports, names), config (slurm.conf,
slurmdbd.conf, job scripts), daemons (starting and stopping each daemon), control (up, down,
status) and commands (`hpcmap cluster up|down|status`). The names below are what the CLI,
job submission and tests use.
"""
from __future__ import annotations

from hpcmap.cluster.commands import register
from hpcmap.cluster.config import job_script
from hpcmap.cluster.control import down, status, up
from hpcmap.cluster.daemons import leftover_processes
from hpcmap.cluster.layout import Layout, layout_from_env

__all__ = ["Layout", "down", "job_script", "layout_from_env", "leftover_processes", "register", "status", "up"]

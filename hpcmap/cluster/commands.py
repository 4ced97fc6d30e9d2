"""`hpcmap cluster up|down|status`: argparse registration, handlers and rich output."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time

from hpcmap.cluster.control import down, status, up
from hpcmap.cluster.layout import UP_TIMEOUT_S, ClusterStatus, layout_from_env
from hpcmap.errors import UserError


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
                      help="CPUs each node offers (default: this host's cores, at least 8)")
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

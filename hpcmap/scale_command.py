"""`hpcmap scale APP --nodes 1,2,4 --mode strong|weak --mapper M...`: a scaling study (hpcmap.scale)."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from hpcmap.cli import positive_seconds
from hpcmap.errors import UserError
from hpcmap.progress import RecordProgress


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scale", help="a strong or weak scaling study of mappers over node counts, kept in a store",
        description="Run the application with each mapper at each node count (one Legion process per "
                    "node; the machine is --machine with its node count replaced), store every point as it "
                    "finishes, and print time, throughput, speedup and parallel efficiency per mapper. Weak "
                    "scaling grows the size with the node count by the app's [weak] rules.")
    p.add_argument("app", help="application name (specs/apps/APP.toml), e.g. stencil")
    p.add_argument("--nodes", required=True, help="node counts, e.g. 1,2,4")
    p.add_argument("--mode", choices=("strong", "weak"), default="strong",
                   help="strong: the same size at every node count (default); weak: size grows with nodes")
    p.add_argument("--mapper", nargs="+", default=["default"], metavar="M",
                   help="default, expert, or mapper files (default: default)")
    p.add_argument("--size", help="size preset and/or key=value overrides (the one-node size in weak mode)")
    p.add_argument("--machine", default="local", help="the per-node machine spec, name or .toml path; its "
                                                      "nodes are replaced by each node count (default: local)")
    p.add_argument("--trials", type=int, default=5, help="runs per point (default: 5)")
    p.add_argument("--timeout", type=positive_seconds("--timeout"), default=300.0,
                   help="seconds allowed per trial (default: 300)")
    p.add_argument("--app-args", default="", help="extra application arguments for every point")
    p.add_argument("--store", required=True, help="the study's HDF5 file (created if missing)")
    p.add_argument("--resume", action="store_true", help="continue the study in --store; points it holds "
                                                           "are not run again")
    p.add_argument("--plot", metavar="DIR", help="write time.png, throughput.png and efficiency.png under DIR")
    p.add_argument("--json", action="store_true", help="print {\"app\", \"mode\", \"points\": [...]} as JSON")
    p.add_argument("--legion-root", help="build against this Legion install (it needs a network module "
                                         "for more than one node)")
    p.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local: points one after another on this host (default); slurm: one job per point")
    add_slurm_arguments(p)
    p.set_defaults(func=cmd_scale)


def add_slurm_arguments(p) -> None:
    g = p.add_argument_group("slurm executor")
    g.add_argument("--partition", help="Slurm partition")
    g.add_argument("--account", help="Slurm account")
    g.add_argument("--qos", help="Slurm quality of service")
    g.add_argument("--slurm-time", type=int, metavar="MIN", help="job time limit in minutes "
                                                                  "(default: from trials and timeout)")
    g.add_argument("--cpus-per-task", type=int, help="CPUs per node (default: what the machine spec's processes need)")
    g.add_argument("--mem", type=int, metavar="MB", help="memory per node in MB (default: the spec's sysmem_mb)")
    g.add_argument("--retries", type=int, default=1, help="resubmissions after a scheduler failure (default: 1)")
    g.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option, e.g. exclude=node4 (repeatable)")


def slurm_options(args, store: Path) -> dict:
    """SlurmOptions fields from the command line: one job per point, named after the store."""
    from hpcmap.dispatch.commands import sbatch_pairs

    extra = sbatch_pairs(args.sbatch)
    if args.retries < 0:
        raise UserError("--retries must be at least 0")
    return {"folder": str(store.parent / f"{store.stem}.submitit"), "study": store.stem, "partition": args.partition,
            "account": args.account, "qos": args.qos, "time_min": args.slurm_time,
            "cpus_per_task": args.cpus_per_task, "mem_mb": args.mem,
            "retries": args.retries, "sbatch": extra, "array": False}


def executor_for(kind: str, options: dict):
    """An executor that runs each point on an executor made for its node count."""
    from hpcmap.dispatch.base import make_executor
    from hpcmap.scale import ByNodeCount

    if kind == "slurm":
        return ByNodeCount("slurm", lambda nodes: make_executor("slurm", **options), concurrent=True)
    return ByNodeCount("local", lambda nodes: make_executor("local", 1), concurrent=False)


def cmd_scale(args) -> int:
    import shlex

    from hpcmap import scale
    from hpcmap.dispatch.commands import legion_version
    from hpcmap.store import provenance_info

    if args.trials < 1:
        raise UserError("--trials must be at least 1")
    nodes = scale.parse_nodes(args.nodes)
    try:
        app_args = shlex.split(args.app_args)
    except ValueError as exc:
        raise UserError(f"bad --app-args: {exc}") from None
    store_path = Path(args.store)
    meta = scale.study_meta(args.app, args.mode, args.machine, args.size, args.trials, app_args)
    options = slurm_options(args, store_path) if args.executor == "slurm" else {}
    points = scale.plan(args.app, args.mapper, nodes, args.mode, args.machine, args.size, args.trials,
                        args.timeout, app_args, args.legion_root)
    provenance = provenance_info(sys.argv, points[-1][0].machine, args.executor, legion_version(args.legion_root))
    executor = executor_for(args.executor, options)
    try:
        with scale.open_study(store_path, meta, args.resume, provenance) as store:
            progress = None if args.json else PointProgress(len(points))
            with progress or contextlib.nullcontext():
                records, ran = scale.run_points(store, points, executor, progress)
    finally:
        executor.close()
    table = scale.rows(records, args.mode)
    plots = scale.plot(table, args.mode, args.plot, meta["app"]) if args.plot else []
    if args.json:
        print(json.dumps({"app": meta["app"], "mode": args.mode, "machine": meta["base_machine"]["name"],
                          "store": str(store_path), "ran": ran, "points": [r.as_dict() for r in table],
                          "plots": [str(p) for p in plots]}, indent=2))
    else:
        scale.print_table(f"{meta['app']}: {args.mode} scaling on {meta['base_machine']['name']} ({store_path})",
                          table, args.mode == "weak")
        for path in plots:
            print(path)
    return exit_status(records)


def exit_status(records: list[dict]) -> int:
    """1 (with one error line) when a point hit an infrastructure error or did not run correctly."""
    failed = [r for r in records if r["outcome"] != "ok"]
    if failed:
        names = ", ".join(f"{r['name']} {r['outcome']}" for r in failed[:5]) + (" ..." if len(failed) > 5 else "")
        retry = "; rerun with --resume to retry them" if any(r["outcome"] == "infra_error" for r in failed) else ""
        print(f"hpcmap: error: {len(failed)} point(s) did not run correctly ({names}){retry}", file=sys.stderr)
        return 1
    return 0


class PointProgress(RecordProgress):
    """The progress of a scaling study's or campaign's points; says how many were already stored."""

    def __init__(self, total: int):
        super().__init__("[bold]points[/]", total, "median")

    def phase(self, status, total: int) -> None:
        done = self.progress.tasks[0].total - total
        if done:
            self.console.print(f"{done} point(s) already in the store; not run again")
        self.progress.update(self.task, completed=done)

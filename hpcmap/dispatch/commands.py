"""`hpcmap eval MAPPER...` and `hpcmap store show STUDY.h5`."""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from pathlib import Path

from hpcmap.cli import positive_seconds
from hpcmap.errors import UserError
from hpcmap.progress import RecordProgress


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="evaluate candidate mappers in parallel and keep every result in a study store",
        description="Check, compile and run each mapper TRIALS times on the application, locally, as "
                    "Slurm jobs or on MPI ranks; each result is written to the study's HDF5 store as it "
                    "arrives. With --resume, candidates that already have a result are not run again.")
    p.add_argument("mappers", nargs="+", metavar="MAPPER", help="default, expert, or mapper files")
    p.add_argument("--app", required=True, help="application name (specs/apps/APP.toml), e.g. stencil")
    add_study_arguments(p)
    p.add_argument("--profile", metavar="DIR", help="run one extra profiled trial per successful candidate, "
                                                     "logs under DIR/<candidate key>/")
    p.add_argument("--json", action="store_true", help="print the study's results as JSON")
    add_executor_arguments(p)
    p.set_defaults(func=cmd_eval)

    s = subparsers.add_parser("store", help="inspect a study's results store")
    ss = s.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    show = ss.add_parser("show", help="candidates of a study, best first")
    show.add_argument("store", help="the study's HDF5 file")
    show.add_argument("--json", action="store_true", help="print {\"study\", \"candidates\": [...]}")
    show.set_defaults(func=cmd_store_show)


def add_study_arguments(p) -> None:
    """Settings fixed for the life of a study store, and the store itself."""
    p.add_argument("--size", help="size preset and/or key=value overrides, e.g. nx=200,ny=200,steps=5")
    p.add_argument("--machine", help="machine spec name or .toml path (default: local, this host; with "
                                      "--executor slurm, required: the compute nodes' spec)")
    p.add_argument("--trials", type=int, default=5, help="runs per candidate (default: 5)")
    p.add_argument("--timeout", type=positive_seconds("--timeout"), default=300.0, help="seconds allowed per trial (default: 300)")
    p.add_argument("--app-args", default="", help="extra application arguments for every candidate, "
                                                    "e.g. \"-fault hang\"")
    p.add_argument("--store", required=True, help="the study's HDF5 file (created if missing)")
    p.add_argument("--resume", action="store_true", help="continue the study in --store; its app, size, "
                                                           "machine and trials must be the same")
    p.add_argument("--legion-root", help="build against this Legion install instead of the wheel's")


def add_executor_arguments(p) -> None:
    """Where candidates run: --executor and its options."""
    p.add_argument("--executor", choices=("local", "slurm", "mpi"), default="local",
                   help="where candidates run (default: local processes)")
    p.add_argument("--workers", type=int, help="local processes or MPI worker ranks (default: half the "
                                               "cores locally; 2 MPI workers when not under mpiexec); local "
                                               "ones run on cores of their own, fewer at once when the "
                                               "machine spec needs more cores than each can have")
    g = p.add_argument_group("slurm executor")
    g.add_argument("--partition", help="Slurm partition")
    g.add_argument("--account", help="Slurm account")
    g.add_argument("--qos", help="Slurm quality of service")
    g.add_argument("--slurm-time", type=int, metavar="MIN", help="job time limit in minutes "
                                                                  "(default: from trials and timeout)")
    g.add_argument("--cpus-per-task", type=int, help="CPUs per job (default: the threads one Legion process "
                                                     "of the machine spec starts: cpus + utility + gpus + omps "
                                                     "+ 3: Realm's 2 background workers and the main thread)")
    g.add_argument("--no-array", action="store_true", help="one job per candidate instead of a job array")
    g.add_argument("--parallelism", type=int, default=64, help="array tasks running at once (default: 64)")
    g.add_argument("--retries", type=int, default=1, help="resubmissions after a scheduler failure (default: 1)")
    g.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option, e.g. exclude=node3,node4 (repeatable)")
    g.add_argument("--mem", type=int, metavar="MB", help="memory per job in MB (default: the machine spec's sysmem_mb)")
    g.add_argument("--gres", help="generic resources per node, e.g. gpu:4 (default: the machine spec's GPUs)")
    g.add_argument("--constraint", help="node features the jobs need, e.g. h100")
    g.add_argument("--exclusive", action="store_true", help="each job gets its node(s) to itself")
    g.add_argument("--nodes", type=int, help="nodes per job (default: the machine spec's nodes)")
    g.add_argument("--export", action="append", default=[], metavar="NAME",
                   help="also pass this environment variable to the jobs (repeatable; by default only PATH, "
                        "library paths, hpcmap's and Legion's variables)")
    g.add_argument("--lost-after", type=positive_seconds("--lost-after"), default=120.0, metavar="S",
                   help="a job that neither sacct nor squeue knows for S seconds is lost: infra_error (default: 120)")
    g.add_argument("--dry-run", action="store_true", help="write the batch scripts that would be submitted "
                                                          "under STORE.submitit/dry-run/ and submit nothing")


def sbatch_pairs(items: list[str]) -> dict[str, str]:
    """`--sbatch KEY=VALUE` options as a dict, a malformed one refused in one line."""
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"bad --sbatch {item!r}; expected KEY=VALUE, e.g. exclude=node3")
        extra[key.strip().lstrip("-")] = value.strip()
    return extra


def _slurm_options(args, store_path: Path) -> dict:
    extra = sbatch_pairs(args.sbatch)
    if args.parallelism < 1 or args.retries < 0 or args.lost_after <= 0:
        raise UserError("--parallelism must be at least 1, --retries at least 0 and --lost-after above 0")
    for name in args.export:
        if not name.isidentifier():
            raise UserError(f"bad --export {name!r}; expected a variable name, e.g. MY_SETTING")
    return {"folder": str(store_path.parent / f"{store_path.stem}.submitit"), "study": store_path.stem,
            "partition": args.partition, "account": args.account, "qos": args.qos, "time_min": args.slurm_time,
            "cpus_per_task": args.cpus_per_task, "mem_mb": args.mem, "gres": args.gres,
            "constraint": args.constraint, "exclusive": args.exclusive, "nodes": args.nodes,
            "export": list(args.export), "lost_s": args.lost_after, "array": not args.no_array,
            "parallelism": args.parallelism, "retries": args.retries, "sbatch": extra}


def worker_rank_or_relaunch(args) -> bool:
    """For the mpi executor: True on a worker rank (which then serves until the head is done);
    without a launcher, this process re-executes itself under mpiexec."""
    if args.executor != "mpi":
        return False
    from hpcmap.dispatch import mpi

    if mpi.is_worker_rank():
        mpi.serve()
        return True
    if mpi.launched_size() < 2:
        mpi.relaunch(args.workers or 2, sys.argv[1:])
    return False


def machine_for(executor: str, machine: str | None) -> str:
    """The machine spec candidates run on: `local` (this host) unless named; Slurm jobs run on compute
    nodes, which this host does not describe, so there it must be named."""
    if machine:
        return machine
    if executor == "slurm":
        raise UserError("--executor slurm needs --machine: the compute nodes' spec (a name in specs/machines "
                        "or a .toml path); `local` would describe this submitting host, not the nodes")
    return "local"


@contextlib.contextmanager
def opened_executor(args):
    """The executor chosen on the command line, closed when the block ends."""
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    from hpcmap.dispatch.base import make_executor

    args.machine = machine_for(args.executor, args.machine)
    options = _slurm_options(args, Path(args.store)) if args.executor == "slurm" else {}
    executor = make_executor(args.executor, args.workers, **options)
    try:
        yield executor
    finally:
        executor.close()


def app_arguments(args) -> list[str]:
    try:
        return shlex.split(args.app_args)
    except ValueError as exc:
        raise UserError(f"bad --app-args: {exc}") from None


def legion_version(legion_root: str | None) -> str | None:
    try:
        from hpcmap.legion import runtime

        return runtime.locate(legion_root).version
    except Exception:
        return None


def cmd_eval(args) -> int:
    if worker_rank_or_relaunch(args):
        return 0
    from hpcmap import evaluate, study
    from hpcmap.store import provenance_info, public, rank
    from hpcmap.tune.base import Candidate

    with opened_executor(args) as executor:   # first, so MPI workers are released on any error
        requests = evaluate.make_requests(args.mappers, args.app, args.size, args.machine, args.trials,
                                          args.timeout, app_arguments(args), args.legion_root,
                                          Path(args.profile) if args.profile else None)
        unique = list({r.key: r for r in requests}.values())
        if getattr(args, "dry_run", False):
            return _dry_run(executor, unique)
        base = unique[0]
        provenance = provenance_info(sys.argv, base.machine, args.executor, legion_version(args.legion_root))
        with study.open_store(args.store, base, args.resume, provenance=provenance) as (store, _):
            finished = store.keys(include_infra_errors=False)
            skipped = sum(r.key in finished for r in unique)
            progress = None
            if not args.json:
                progress = RecordProgress(f"[bold]eval[/] ({args.executor})", len(unique) - skipped, "mean")
                if skipped:
                    progress.console.print(f"{skipped} candidate(s) already in {store.path}; not run again")
            run = study.Study(store, base, executor, progress, check_on_head=False)
            fixed = study.FixedList([Candidate(r.name, r.mapper_text or "") for r in unique])
            with (progress or contextlib.nullcontext()):
                run.search(fixed, float("inf"), len(unique))
            wanted = {r.key for r in unique}
            records = [r for r in store.records() if r["key"] in wanted]
    if args.json:
        print(json.dumps({"study": store.study, "store": str(store.path), "executor": args.executor,
                          "ran": run.ran, "skipped": skipped,
                          "candidates": [public(r) for r in sorted(records, key=rank)]}, indent=2))
    else:
        _print_table(store.study, records)
    if run.infra_errors:
        print(f"hpcmap: error: {run.infra_errors} candidate(s) hit infrastructure errors; rerun with --resume "
              "to retry them", file=sys.stderr)
        return 1
    if not any(r["outcome"] == "ok" for r in records):
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(_count(r["outcome"] for r in records).items()))
        print(f"hpcmap: error: no candidate produced a valid result ({outcomes})", file=sys.stderr)
        return 1
    return 0


def _count(items) -> dict:
    from collections import Counter

    return dict(Counter(items))


def _dry_run(executor, requests) -> int:
    """Write the batch scripts a Slurm study would submit and print where they are."""
    if executor.name != "slurm":
        raise UserError("--dry-run needs --executor slurm")
    for path in executor.dry_run(requests):
        print(path)
    return 0


def cmd_store_show(args) -> int:
    from hpcmap.records import ran_beside
    from hpcmap.store import Store

    store = Store(args.store)
    if not store.path.exists():
        raise UserError(f"no study store at {store.path}")
    summary = store.summary()
    # A tune's re-measurements of its finalists are trials of candidates already listed, not candidates.
    everything = summary["candidates"]
    summary["candidates"] = [c for c in everything if (c.get("study") or {}).get("role") != "remeasure"]
    for c in summary["candidates"]:   # a measurement taken while other candidates ran on its host
        c["ran_beside"] = ran_beside(c, everything)
        c["contention"] = bool(c["ran_beside"])
    traced = [c for c in summary["candidates"] if c.get("trace")]
    for c in traced:   # trace commands take a candidate's name for its run, as `trace ls` shows it
        c["trace_run"] = c["name"]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_table(summary["study"], summary["candidates"])
        if summary.get("llm"):
            from hpcmap.tune.llm import describe_totals

            print(describe_totals(summary["llm"]))
        if traced:
            print(f"traces of {', '.join(c['name'] for c in traced)}: "
                  f"hpcmap trace summary {store.path} --run NAME")
    if store.damaged:
        print(f"hpcmap: error: {store.path} is damaged at {'; '.join(store.damaged)}; "
              f"the {len(summary['candidates'])} readable candidate(s) are shown", file=sys.stderr)
        return 1
    return 0


def _print_table(study: str, records: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    from hpcmap.records import ran_beside
    from hpcmap.store import rank

    table = Table(title=f"study {study}: {len(records)} candidate(s), best first")
    with_messages = any(r.get("message") for r in records)
    beside = {id(r): r["ran_beside"] if "ran_beside" in r else ran_beside(r, records) for r in records}
    contended = any(beside.values())
    columns = [("#", "right"), ("mapper", "left"), ("outcome", "left"), ("median (s)", "right"),
               ("95% CI (s)", "right"), ("CV", "right"), ("trials", "right")]
    columns += [("ran beside", "left")] if contended else []
    for col, justify in columns + ([("message", "left")] if with_messages else []):
        table.add_column(col, justify=justify, overflow="fold")
    fmt = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
    for i, r in enumerate(sorted(records, key=rank), start=1):
        s = r.get("stats") or {}
        style = "green" if r["outcome"] == "ok" else "red"
        row = [str(i), _short_name(r["name"]), f"[{style}]{r['outcome']}[/]", fmt(s.get("median_s"), ".4g"),
               "" if s.get("ci95_s") is None else f"±{s['ci95_s']:.2g}", fmt(s.get("cv"), ".2f"),
               str(len(r.get("trials") or []))] + ([_names(beside[id(r)])] if contended else [])
        table.add_row(*row + ([(r.get("message") or "")[:80]] if with_messages else []))
    Console(highlight=False).print(table)
    if contended:
        print("ran beside: measured while other candidates ran on the same host; the times may include "
              "their contention for memory bandwidth, caches or cores")


def _names(names: list[str], shown: int = 2) -> str:
    """A few candidate names, and how many more."""
    text = ", ".join(_short_name(n) for n in names[:shown])
    return text + (f" +{len(names) - shown}" if len(names) > shown else "")


def _short_name(name: str) -> str:
    """A mapper file's path relative to the working directory when that is shorter."""
    if os.sep not in name:
        return name
    relative = os.path.relpath(name)
    return relative if len(relative) < len(name) else name



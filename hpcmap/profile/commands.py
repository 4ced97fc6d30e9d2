"""`hpcmap trace`: import Legion Prof logs, summarize, export to Perfetto, plot, diff."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hpcmap.errors import UserError


def register(subparsers) -> None:
    trace = subparsers.add_parser("trace", help="Legion Prof traces: import, summary, export, plot, diff")
    sub = trace.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("import", help="parse Legion Prof logs (one per node) into an HDF5 trace")
    p.add_argument("logs", nargs="+", type=Path, help="prof_N log files of one run (gzip or raw)")
    p.add_argument("-o", "--output", type=Path, required=True, help="HDF5 trace file (created or appended to)")
    p.add_argument("--run", default=None, help="run name inside the file (default: run<N>, the first free N)")
    p.add_argument("--force", action="store_true", help="replace a run of the same name (refused without it)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("ls", help="list the runs of a trace file")
    p.add_argument("trace", type=Path, help="HDF5 trace file")
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("summary", help="where the time of a run went")
    p.add_argument("trace", type=Path, help="HDF5 trace file")
    p.add_argument("--run", default=None, help="run, or the mapper name of one run (default: the last run)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--feedback", action="store_true", help="print only the optimizer's feedback text")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("export", help="export runs as Chrome Trace Event JSON (opens in Perfetto)")
    p.add_argument("trace", type=Path, help="HDF5 trace file")
    p.add_argument("-o", "--chrome", type=Path, required=True, metavar="OUT.json",
                   help="Chrome Trace Event JSON output (open it at https://ui.perfetto.dev)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", default=None, help="run, or the mapper name of one run, to export (default: the last run)")
    which.add_argument("--all", action="store_true", help="export every run, one process per run and node")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="utilization over time and a task timeline; two traces side by side")
    p.add_argument("traces", type=Path, nargs="+", metavar="TRACE",
                   help="HDF5 trace file; give two (e.g. default and best mapper) to compare on one time scale")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="image file; its suffix picks the format (.png, .pdf, .svg, ...)")
    p.add_argument("--run", action="append", default=None, metavar="NAME",
                   help="run to plot (default: the last run of each file); give it once per TRACE to pick "
                        "each one's run, e.g. two runs of one file side by side")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("diff", help="what changed between two runs")
    p.add_argument("a", type=Path, help="HDF5 trace file of side A")
    p.add_argument("b", type=Path, help="HDF5 trace file of side B (may be the same file as A)")
    p.add_argument("--run-a", default=None, help="run (or mapper name) of A (default: its last run)")
    p.add_argument("--run-b", default=None, help="run (or mapper name) of B (default: its last run)")
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    p.set_defaults(func=cmd_diff)


def cmd_import(args: argparse.Namespace) -> int:
    from hpcmap.profile import import_run_logs
    from hpcmap.profile.h5trace import existing_runs

    for log in args.logs:
        if not log.is_file():
            raise UserError(f"{log}: no such log file")
    if args.output.is_dir():
        raise UserError(f"-o {args.output}: is a directory; name the HDF5 trace file to write")
    if not args.output.parent.is_dir():
        raise UserError(f"-o {args.output}: no such directory {args.output.parent}")
    taken = existing_runs(args.output)
    name = args.run
    if name is None:
        name = next(f"run{i}" for i in range(len(taken) + 1) if f"run{i}" not in taken)
    elif name in taken and not args.force:
        raise UserError(f"{args.output} already has a run named {name!r}; choose another --run, "
                        f"or --force to replace it")
    try:
        import_run_logs(args.logs, args.output, name, {"log_paths": [str(p) for p in args.logs]})
    except OSError as exc:
        raise UserError(f"-o {args.output}: cannot write: {exc.strerror or exc}") from None
    replaced = " (replacing the earlier one)" if name in taken else ""
    print(f"imported {len(args.logs)} log(s) into {args.output} as run {name}{replaced}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from hpcmap.profile.h5trace import list_runs

    runs = list_runs(args.trace)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    from hpcmap.profile.report import print_runs

    print_runs(args.trace, runs)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from hpcmap.profile import feedback, summarize

    s = summarize(args.trace, args.run)
    if args.json:
        print(json.dumps(s, indent=2))
    elif args.feedback:
        print(feedback(s))
    else:
        from hpcmap.profile.report import print_summary

        print_summary(s)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hpcmap.profile.chrome import export_chrome

    counts = export_chrome(args.trace, args.chrome, args.run, all_runs=args.all)
    runs = ", ".join(f"{name} ({n} events)" for name, n in counts.items())
    print(f"wrote run{'s' if len(counts) > 1 else ''} {runs} of {args.trace} to {args.chrome} "
          f"(open it at https://ui.perfetto.dev)")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    try:
        from hpcmap.profile.plot import plot_runs
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("plotting needs matplotlib: pip install matplotlib") from None
    if len(args.traces) > 2:
        raise UserError("trace plot takes one trace, or two to compare side by side")
    runs = args.run or [None]
    if len(runs) not in (1, len(args.traces)):
        raise UserError(f"give --run once, or once per trace ({len(args.traces)} times)")
    shown = plot_runs(args.traces, args.output, runs * len(args.traces) if len(runs) == 1 else runs)
    print(f"wrote {args.output}: " + " beside ".join(f"{path} run {run}" for path, run in shown))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from hpcmap.profile import summarize
    from hpcmap.profile.diff import diff_summaries
    from hpcmap.profile.report import print_diff

    d = diff_summaries(summarize(args.a, args.run_a), summarize(args.b, args.run_b),
                       labels=(str(args.a), str(args.b)))
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        print_diff(d)
    return 0

"""`hpcmap tune APP`: search for the fastest valid mapper; `hpcmap report STUDY.h5`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from hpcmap.cli import positive_seconds
from hpcmap.errors import UserError

DEFAULT_OPTIMIZER = "random"


def register(subparsers) -> None:
    from hpcmap.dispatch.commands import add_executor_arguments, add_study_arguments

    p = subparsers.add_parser(
        "tune", help="search for the fastest valid mapper of an application",
        description="Measure Legion's DefaultMapper and the expert mapper, then let an optimizer propose "
                    "mappers for BUDGET evaluations (each checked, run TRIALS times, and stored as it "
                    "finishes), re-measure the best ones interleaved, and write the fastest valid mapper "
                    "with its speedup over default and expert. Interrupted or killed, it continues with "
                    "--resume from the stored history.")
    p.add_argument("app", help="application name (specs/apps/APP.toml), e.g. stencil")
    p.add_argument("--optimizer", help=f"search technique: {', '.join(_optimizer_names()) or 'none installed'} "
                                       f"(default: {DEFAULT_OPTIMIZER}; on --resume, the study's own)")
    p.add_argument("--budget", type=int, default=10,
                   help="candidates to evaluate, default and expert not counted (default: 10); the agent's "
                        "budget is iterations: one whose candidate stayed invalid after the repairs, or that "
                        "gave none, counts too, and the answer is still a mapper that ran correctly")
    p.add_argument("--batch", type=int, default=1, help="candidates proposed and run per iteration (default: 1)")
    p.add_argument("--seed", type=int, help="the optimizer's random seed (default: 0; on --resume, the study's)")
    add_study_arguments(p)
    p.add_argument("-o", "--output", metavar="FILE", help="where the best mapper is written "
                                                          "(default: best.map beside the store)")
    p.add_argument("--profile", metavar="DIR", help="run one extra profiled trial per valid candidate; its "
                                                     "trace goes into the store (logs under DIR; with "
                                                     "--feedback profile, default STORE_STEM.tune/profiles)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    g = p.add_argument_group("agent optimizer")
    g.add_argument("--model", help="LLM model name")
    g.add_argument("--start", choices=("default", "expert"),
                   help="the mapper the agent starts from (default: default; on --resume, the study's own)")
    g.add_argument("--feedback", choices=("raw", "explain", "suggest", "profile"),
                   help="feedback given to the LLM: the outcome; + an explanation; + a suggestion (default); + "
                        "where the time went in the candidate's profiled trial (turns on --profile)")
    g.add_argument("--price-in", type=float, help="price per million input tokens, for the cost figure")
    g.add_argument("--price-out", type=float, help="price per million output tokens, for the cost figure")
    g.add_argument("--llm-timeout", type=positive_seconds("--llm-timeout"), help="seconds allowed per LLM request")
    g.add_argument("--max-repairs", type=int, help="LLM repairs of a statically invalid mapper per iteration")
    add_executor_arguments(p)
    p.set_defaults(func=cmd_tune)

    r = subparsers.add_parser("report", help="an HTML report of a study: curves, outcomes, best candidates",
                              description="Best-so-far curves (PNG), outcome counts, the top candidates with "
                                          "their diff against default and expert, and trace comparisons.")
    r.add_argument("store", help="the study's HDF5 file")
    r.add_argument("-o", "--output", metavar="FILE", help="the HTML file (default: the store's name .html)")
    r.set_defaults(func=cmd_report)


def _optimizer_names() -> tuple[str, ...]:
    try:
        from hpcmap.tune.optimizers import OPTIMIZERS
    except ImportError:
        return ()
    return tuple(OPTIMIZERS)


def make_optimizer(name: str, context):
    try:
        from hpcmap.tune.optimizers import make_optimizer as make
    except ImportError:
        raise UserError("no optimizers are installed (hpcmap.tune.optimizers is missing)") from None
    return make(name, context)


def cmd_tune(args) -> int:
    from hpcmap.dispatch.commands import (app_arguments, legion_version, opened_executor,
                                          worker_rank_or_relaunch)

    if worker_rank_or_relaunch(args):
        return 0
    if args.budget < 0 or args.batch < 1:
        raise UserError("--budget must be at least 0 and --batch at least 1")
    if args.dry_run:
        raise UserError("--dry-run writes the scripts of a fixed list of mappers: use it with hpcmap eval")
    if args.optimizer and args.optimizer not in _optimizer_names():   # before the store records it
        raise UserError(f"unknown optimizer {args.optimizer!r}; choose one of: {', '.join(_optimizer_names())}")
    from hpcmap import apps, evaluate, machine, study
    from hpcmap.store import provenance_info
    from hpcmap.tune.base import Context

    with opened_executor(args) as executor:
        base = evaluate.make_requests(["default"], args.app, args.size, args.machine, args.trials, args.timeout,
                                      app_arguments(args), args.legion_root, profile_dir(args))[0]
        app = apps.load(args.app)
        wanted = {"optimizer": args.optimizer or (None if args.resume else DEFAULT_OPTIMIZER),
                  "seed": args.seed if args.seed is not None else (None if args.resume else 0),
                  "start": args.start or (None if args.resume else "default")}
        provenance = provenance_info(sys.argv, base.machine, args.executor, legion_version(args.legion_root))
        with study.open_store(args.store, base, args.resume, wanted, provenance) as (store, meta):
            name, seed = meta.get("optimizer") or DEFAULT_OPTIMIZER, int(meta.get("seed") or 0)
            options = {k: getattr(args, k) for k in ("model", "feedback", "price_in", "price_out",
                                                       "llm_timeout", "max_repairs") if getattr(args, k) is not None}
            study_dir = store.path.parent / f"{store.path.stem}.tune"
            study_dir.mkdir(parents=True, exist_ok=True)
            context = Context(app.name, machine.MachineSpec(**base.machine), seed,
                              _start_text(meta.get("start") or "default", app), str(study_dir), options)
            optimizer = make_optimizer(name, context)
            baselines = {"default": None}
            if app.expert_mapper.is_file():
                baselines["expert"] = app.expert_mapper.read_text()
            progress = None if args.json else _Progress(args.app, name, args.budget)
            run = study.Study(store, base, executor, progress)
            with (progress or _Quiet()):
                outcome = study.tune(run, optimizer, args.budget, args.batch, baselines)
            target = Path(args.output) if args.output else store.path.parent / "best.map"
            study.write_mapper(outcome, target, app.name, str(base.machine.get("name", args.machine)))
    result = tune_json(outcome, app.name, str(base.machine.get("name", args.machine)), name, target, store.path)
    from hpcmap.tune.llm import totals

    llm_use = totals(store.llm_exchanges())
    if llm_use["calls"]:
        result["llm"] = llm_use
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_answer(result, target)
    return 0


def _start_text(start: str, app) -> str:
    """The starting mapper's text: "" for Legion's DefaultMapper, or the app's expert mapper."""
    if start == "default":
        return ""
    if not app.expert_mapper.is_file():
        raise UserError(f"--start expert: {app.name} has no expert mapper ({app.expert_mapper})")
    return app.expert_mapper.read_text()


def profile_dir(args) -> Path | None:
    """--profile DIR; with --feedback profile and no DIR, STORE_STEM.tune/profiles beside the store."""
    if args.profile:
        return Path(args.profile)
    if args.feedback == "profile":
        store = Path(args.store)
        return store.parent / f"{store.stem}.tune" / "profiles"
    return None


def tune_json(outcome, app: str, machine_name: str, optimizer: str, mapper_file: Path, store: Path) -> dict:
    """The `hpcmap tune --json` object of DESIGN.md's contracts."""
    return {"app": app, "machine": machine_name, "optimizer": optimizer, "evaluations": outcome.evaluations,
            "store": str(store),
            "best": {"name": outcome.best["name"], "mapper_file": str(mapper_file),
                     "outcome": outcome.best["outcome"], "stats": outcome.stats,
                     "speedup_vs_default": outcome.speedup_vs_default,
                     "speedup_vs_expert": outcome.speedup_vs_expert},
            "history": outcome.history}


def _print_answer(result: dict, target: Path) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    best = result["best"]
    speed = "; ".join(f"{v:.2f}x over {k}" for k, v in (("default", best["speedup_vs_default"]),
                                                         ("expert", best["speedup_vs_expert"])) if v)
    console.print(target.read_text(), markup=False)
    console.print(f"[bold]best[/]: {best['name']}  median {best['stats']['median_s']:.6f} s over "
                  f"{best['stats']['n']} trial(s); {speed}; {result['evaluations']} evaluations; written to {target}")
    if result.get("llm"):
        from hpcmap.tune.llm import describe_totals

        console.print(describe_totals(result["llm"]), markup=False)


def cmd_report(args) -> int:
    from hpcmap import report

    path = report.write(Path(args.store), Path(args.output) if args.output else None)
    print(path)
    return 0


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Progress:
    """Live progress on stderr: phase, iteration, evaluations, best so far and its speedups; one line
    per finished candidate above it."""

    def __init__(self, app: str, optimizer: str, budget: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True, highlight=False)
        self.progress = Progress(TextColumn(f"[bold]tune {app}[/] ({optimizer})"),
                                 TextColumn("{task.fields[phase]}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.description}"), console=self.console)
        self.task = self.progress.add_task("", total=None, phase="starting")

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def phase(self, status, total: int) -> None:
        label = f"iteration {status.iteration}" if status.phase == "search" else status.phase
        self.progress.reset(self.task, total=total, phase=label, description=_best_line(status))

    def record(self, record: dict, status) -> None:
        median = record["stats"].get("median_s")
        timing = f" median {median:.6f} s" if median is not None else ""
        color = "green" if record["outcome"] == "ok" else "red"
        message = (record.get("message") or "").strip()
        self.console.print(f"  {record['name']}: [{color}]{record['outcome']}[/]{timing}"
                           + (f"  {message.splitlines()[0][:100]}" if message else ""), markup=True)
        self.progress.update(self.task, advance=1, description=_best_line(status))


def _best_line(status) -> str:
    if status.best_s is None:
        return f"{status.evaluations} evaluated"
    text = f"{status.evaluations} evaluated; best {status.best_s:.6f} s ({status.best_name})"
    for label, value in (("default", status.speedup_vs_default), ("expert", status.speedup_vs_expert)):
        if value:
            text += f" {value:.2f}x {label}"
    return text

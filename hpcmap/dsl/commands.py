"""`hpcmap dsl check|compile|fmt|explain`: thin handlers over parse, check, compile and evaluate."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from hpcmap.dsl.diagnostics import Diagnostic, has_errors
from hpcmap.errors import UserError


def _read(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such mapper file: {path}")
    from hpcmap.mappers import read_mapper_text

    return read_mapper_text(p)


def _write(path: Path, text: str, label: str) -> None:
    """Write an output file; a path that cannot be written is one error line."""
    try:
        path.write_text(text)
    except OSError as exc:
        raise UserError(f"{label}: cannot write: {exc.strerror or exc}") from None


def _app(name: str | None):
    if not name:
        return None
    from hpcmap.dsl.app import load_app

    return load_app(name)


def _load(path: str, app: str | None):
    from hpcmap.dsl.check import check_text

    return check_text(_read(path), path, _app(app))


def _print_diags(diags: list[Diagnostic]) -> None:
    for d in diags:
        print(d.format(), file=sys.stderr)


def _summary(diags: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diags)
    return f"{errors} error(s), {len(diags) - errors} warning(s)"


def cmd_check(args) -> int:
    _, diags = _load(args.file, args.app)
    if args.json:
        print(json.dumps({"file": args.file, "ok": not has_errors(diags),
                          "diagnostics": [d.to_json() for d in diags]}, indent=2))
    else:
        _print_diags(diags)
        print(f"{args.file}: {'ok' if not has_errors(diags) else 'invalid'}; {_summary(diags)}")
    return 1 if has_errors(diags) else 0


def cmd_compile(args) -> int:
    from hpcmap.dsl.ir import compile_program, ir_text

    program, diags = _load(args.file, args.app)
    _print_diags(diags)
    if has_errors(diags) or program is None:
        raise UserError(f"{args.file} has {_summary(diags)}; nothing compiled (see above)", exit_code=1)
    ir = compile_program(program)
    text = ir_text(ir) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        _write(Path(args.output), text, f"-o {args.output}")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_fmt(args) -> int:
    from hpcmap.dsl.fmt import format_program, upgrade
    from hpcmap.dsl.parser import parse

    result = parse(_read(args.file), args.file)
    errors = [d for d in result.diagnostics if d.is_error]
    if result.program is None or errors:
        _print_diags(result.diagnostics)
        raise UserError(f"{args.file} has syntax errors; fix them before formatting (see above)", exit_code=1)
    program = upgrade(result.program) if args.upgrade else result.program
    text = format_program(program)
    if args.in_place:
        _write(Path(args.file), text, f"--in-place {args.file}")
    else:
        sys.stdout.write(text)
    return 0


def _parse_domain(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(x) for x in text.lower().split("x"))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise UserError(f"bad --domain {text!r}: give positive extents like 8 or 8x8 or 4x4x2")
    return dims


def cmd_explain(args) -> int:
    from hpcmap.dsl.evaluate import MappingError
    from hpcmap.dsl.explain import DomainTooLarge, domain_points, explain_task
    from hpcmap.dsl.ir import compile_program
    from hpcmap.dsl.machine_spec import load_machine

    domain = _parse_domain(args.domain)
    try:
        domain_points(domain)
    except DomainTooLarge as exc:
        raise UserError(f"{exc}; give a smaller --domain") from None
    machine_name, shape = load_machine(args.machine)
    app = _app(args.app)
    from hpcmap.dsl.check import check_text

    program, diags = check_text(_read(args.file), args.file, app)
    if has_errors(diags) or program is None:
        _print_diags(diags)
        raise UserError(f"{args.file} has {_summary(diags)}; fix them first (hpcmap dsl check)", exit_code=1)
    if app is not None and args.task not in app.tasks:
        from hpcmap.dsl.check import nearest

        close = nearest(args.task, app.tasks)
        raise UserError(f"task '{args.task}' is not a task of {app.name}"
                        + (f"; did you mean {', '.join(close)}?" if close else f"; tasks: {', '.join(sorted(app.tasks))}"))
    ir = compile_program(program)
    try:
        plan = explain_task(ir, shape, args.task, domain, app.tasks.get(args.task) if app else None)
    except MappingError as exc:
        raise UserError(f"mapping error: {exc}", exit_code=1) from None
    if args.json:
        print(json.dumps({"task": args.task, "domain": list(domain), "machine": machine_name,
                          "placements": [p.to_json() for p in plan.placements],
                          "kind": plan.kind, "variant": plan.variant, "kind_line": plan.kind_line,
                          "function": plan.function, "function_line": plan.function_line,
                          "regions": [r.to_json() for r in plan.regions]}, indent=1))
        return 0
    _print_plan(plan, domain, machine_name)
    return 0


def _cell(p) -> str:
    text = f"n{p.node}:{p.kind}{p.processor}"
    return text + ("*" if p.set is not None else "")


def _layout_text(layout: dict | None) -> str:
    if layout is None:
        return "DefaultMapper's"
    words = [layout["field_order"] or "", {"C": "C_order", "F": "F_order"}.get(layout["dim_order"] or "", "")]
    words += [f"Align{a['op']}{a['bytes']}" for a in layout["align"]]
    words += ["Compact"] * layout["compact"] + ["Exact"] * layout["exact"]
    return " ".join(w for w in words if w) or "(no constraint)"


def _print_plan(plan, domain: tuple[int, ...], machine: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    by = f"Task statement at line {plan.kind_line}" if plan.kind_line else "DefaultMapper's choice"
    variant = f"the {plan.variant} variant" if plan.variant else "no variant of that kind (the run fails)"
    console.print(f"{plan.task} on {machine}: runs on {plan.kind} ({by}), as {variant}")
    table = Table(title="regions", show_lines=False)
    for col in ("region", "memory", "fallback chain (lines)", "layout (line)"):
        table.add_column(col)
    for r in plan.regions:
        chain = ",".join(r.chain) + (f" ({', '.join(map(str, r.lines))})" if r.lines else "") or "none"
        layout = _layout_text(r.layout) + (f" ({r.layout_line})" if r.layout_line else "")
        table.add_row(str(r.region), r.memory, chain, layout)
    console.print(table)
    if plan.function is None:
        console.print(f"placement: no IndexTaskMap or SingleTaskMap applies to {plan.task}; "
                      "Legion's DefaultMapper places its points")
        return
    console.print(f"placement: {plan.function} (line {plan.function_line})")
    _print_grid(plan.task, domain, machine, plan.placements)


def _print_grid(task: str, domain: tuple[int, ...], machine: str, placements) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = f"{task} over {'x'.join(map(str, domain))} on {machine} (node:processor)"
    has_set = any(p.set is not None for p in placements)
    if len(domain) <= 2:
        rows = domain[0] if len(domain) == 2 else 1
        cols = domain[-1]
        table = Table(title=title, show_lines=False)
        table.add_column("i\\j" if len(domain) == 2 else "", justify="right", style="bold")
        for j in range(cols):
            table.add_column(str(j), justify="center")
        for i in range(rows):
            cells = [_cell(p) for p in placements[i * cols:(i + 1) * cols]]
            table.add_row(str(i) if len(domain) == 2 else "", *cells)
        console.print(table)
    else:
        console.print(title)
        for p in placements:
            console.print(f"{tuple(p.point)} -> {_cell(p)}")
    if has_set:
        console.print("* the function returned a set of processors; the first is shown")


def register(subparsers) -> None:
    """Adds the `dsl` command group."""
    dsl = subparsers.add_parser("dsl", help="check, compile, format and explain mapper files")
    sub = dsl.add_subparsers(dest="dsl_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("check", help="report syntax, name, type and constraint errors of a mapper")
    p.add_argument("file")
    p.add_argument("--app", help="application metadata (specs/apps/APP.toml or a path) for task/region names")
    p.add_argument("--json", action="store_true", help="print the diagnostics as JSON")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("compile", help="compile a mapper to the policy IR (JSON)")
    p.add_argument("file")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.add_argument("--app", help="application metadata for task/region names")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("fmt", help="print a mapper in canonical form")
    p.add_argument("file")
    p.add_argument("--in-place", action="store_true", help="rewrite the file")
    p.add_argument("--upgrade", action="store_true",
                   help="rewrite the earlier dialect `IndexTaskMap TASKS SPACE FUNC;` to the current form")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("explain", help="show where each point of a launch is mapped")
    p.add_argument("file")
    p.add_argument("--machine", required=True, help="machine spec name (specs/machines/NAME.toml) or path")
    p.add_argument("--task", required=True, help="task name as used by IndexTaskMap/SingleTaskMap")
    p.add_argument("--domain", required=True, help="launch domain extents, e.g. 8 or 8x8")
    p.add_argument("--app", help="application metadata for task/region names")
    p.add_argument("--json", action="store_true", help="print placements as JSON")
    p.set_defaults(func=cmd_explain)

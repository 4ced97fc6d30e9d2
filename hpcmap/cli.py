"""The `hpcmap` command: parses arguments and hands off to the modules that do the work."""
from __future__ import annotations

import argparse
import math
import os
import sys

from hpcmap.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpcmap",
        description="Find fast Legion mappers by running the real program on real hardware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Each area registers its own subcommands; the handler is stored as `func`.
    from hpcmap.legion import commands as legion_commands
    from hpcmap import run_command

    legion_commands.register(sub)
    run_command.register(sub)
    for module in _optional_areas():
        module.register(sub)
    return parser


def _optional_areas():
    """Command groups of the other areas (dsl, trace, eval, store, tune, report, cluster, scale, campaign)."""
    import importlib

    names = ["hpcmap.dsl.commands", "hpcmap.profile.commands", "hpcmap.dispatch.commands", "hpcmap.tune.commands",
             "hpcmap.cluster", "hpcmap.scale_command", "hpcmap.campaign_command"]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if not exc.name or not name.startswith(exc.name):
                raise
    return modules


def positive_seconds(flag: str):
    """An argparse type for the duration FLAG: a finite number above zero, checked before anything starts."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise UserError(f"{flag} must be a positive number of seconds, e.g. 300; got {text!r}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"hpcmap: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader of our output left (e.g. `| head`): not an error; keep Python's exit-time flush quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("hpcmap: interrupted; results measured so far are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

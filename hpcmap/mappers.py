"""Naming a mapper (`default`, `expert`, or a file) and turning it into a policy file for Legion."""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from hpcmap.apps import App
from hpcmap.errors import UserError
from hpcmap.paths import build_dir


@dataclass(frozen=True)
class MapperChoice:
    """A mapper as named by the user: its label, its source text (None for `default`)."""

    label: str
    path: Path | None
    text: str | None


class InvalidMapper(UserError):
    """A mapper with static errors; `diagnostics` are the formatted messages."""

    def __init__(self, label: str, diagnostics: list[str]):
        first = diagnostics[0] if diagnostics else "invalid mapper"
        super().__init__(f"mapper {label} is invalid: {first}" + (f" (+{len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""), 1)
        self.diagnostics = diagnostics


def read_mapper_text(path: Path) -> str:
    """A mapper file's text; a file that is not UTF-8 is one error line saying where."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                        "save it as UTF-8") from None


def choose(name: str, app: App) -> MapperChoice:
    if name == "default":
        return MapperChoice("default", None, None)
    path = app.expert_mapper if name == "expert" else Path(name)
    if not path.is_file():
        what = f"{app.name} has no expert mapper at {path}" if name == "expert" else f"no such mapper file: {path}"
        raise UserError(what)
    text = read_mapper_text(path)
    if not text.strip():
        print(f"hpcmap: warning: {path} is empty, so it maps as Legion's DefaultMapper does", file=sys.stderr)
    return MapperChoice("expert" if name == "expert" else str(path), path, text)


def compile_policy(choice: MapperChoice, app_name: str, cache: Path | None = None) -> Path | None:
    """Check and compile the mapper; the policy JSON lands in a cache keyed by its text."""
    if choice.text is None:
        return None
    from hpcmap.dsl.app import load_app
    from hpcmap.dsl.check import check_text
    from hpcmap.dsl.diagnostics import has_errors
    from hpcmap.dsl.ir import compile_program, ir_text

    source = str(choice.path) if choice.path else choice.label
    program, diags = check_text(choice.text, source, load_app(app_name))
    if has_errors(diags) or program is None:
        raise InvalidMapper(choice.label, [d.format() for d in diags if d.is_error])
    ir = compile_program(program, source)
    text = ir_text(ir, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    target = (cache or build_dir() / "policies") / f"{app_name}-{digest}.json"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(target)
    return target

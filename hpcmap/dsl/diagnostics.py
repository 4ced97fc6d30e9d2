"""Diagnostics: what the parser and checker report, with a stable code, a position and a hint.

Codes: E1xx syntax, E2xx names and types, E3xx constraints and values, W4xx warnings.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Diagnostic:
    """One finding: `FILE:LINE:COL: error E201: message` plus a hint showing the corrected text."""

    code: str
    message: str
    line: int
    col: int
    hint: str = ""
    file: str = "<string>"

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def format(self) -> str:
        """Human form: one line, then the hint indented under it."""
        head = f"{self.file}:{self.line}:{self.col}: {self.severity} {self.code}: {self.message}"
        if not self.hint:
            return head
        lines = self.hint.splitlines() or [""]
        if len(lines) == 1:
            return f"{head}\n  hint: {lines[0]}"
        return head + "\n  hint:\n" + "\n".join("    " + line for line in lines)

    def to_json(self) -> dict:
        data = asdict(self)
        data["severity"] = self.severity
        return data


def has_errors(diags: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diags)


def sort_key(diag: Diagnostic) -> tuple[int, int, str]:
    return (diag.line, diag.col, diag.code)

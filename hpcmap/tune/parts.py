"""A mapper's statements grouped into the six parts the agent's functions write, and back.

The parts, in order: task placement (Task, ControlReplicate, TaskSteal), region placement (Region),
layout (Layout), memory pressure (InstanceLimit, CollectMemory), index-launch mapping (machine
spaces, mapping functions, IndexTaskMap), single-task mapping (SingleTaskMap and the functions only
it uses). Joining the parts reorders statements only across kinds, which keeps the mapper's meaning;
`mapper_key` identifies a mapper regardless of comments and formatting.
"""
from __future__ import annotations

import functools

from hpcmap.dsl import ast, fmt

PARTS = ("task_placement", "region_placement", "layout", "memory_pressure", "index_mapping",
         "single_task_mapping")


def part_of(stmt, single_only: set[str]) -> str:
    if isinstance(stmt, (ast.TaskStmt, ast.ControlReplicateStmt, ast.TaskStealStmt)):
        return "task_placement"
    if isinstance(stmt, ast.RegionStmt):
        return "region_placement"
    if isinstance(stmt, ast.LayoutStmt):
        return "layout"
    if isinstance(stmt, (ast.InstanceLimitStmt, ast.CollectStmt)):
        return "memory_pressure"
    if isinstance(stmt, ast.SingleMapStmt) or (isinstance(stmt, ast.FuncDef) and stmt.name.name in single_only):
        return "single_task_mapping"
    return "index_mapping"


@functools.lru_cache(maxsize=512)
def parsed(text: str) -> ast.Program | None:
    """The parsed mapper (None if it does not parse); cached, since every propose reads the whole history."""
    from hpcmap.dsl.parser import parse

    return parse(text).program


def _single_only(program: ast.Program) -> set[str]:
    """Functions named by SingleTaskMap and by no IndexTaskMap."""
    single = {s.func.name for s in program.stmts if isinstance(s, ast.SingleMapStmt)}
    index = {s.func.name for s in program.stmts if isinstance(s, ast.IndexMapStmt)}
    return single - index


def split_parts(text: str) -> dict[str, str]:
    """The mapper's statements (with the comments above them) grouped into the six parts, in order.

    Raises ValueError when the text does not parse."""
    parts = {p: [] for p in PARTS}
    if not text.strip():
        return {p: "" for p in PARTS}
    program = parsed(text)
    if program is None:
        raise ValueError("the mapper does not parse")
    single_only = _single_only(program)
    lines = text.splitlines()
    starts = [s.line for s in program.stmts]
    shared_line = len(set(starts)) < len(starts)
    prev_end = 0
    for s in program.stmts:
        if shared_line:            # several statements on one line: canonical text, comments dropped
            chunk = _canonical_stmt(s)
        else:
            chunk = "\n".join(lines[prev_end:s.end_line]).strip("\n")
        parts[part_of(s, single_only)].append(chunk)
        prev_end = max(prev_end, s.end_line)
    return {p: "\n".join(chunks) for p, chunks in parts.items()}


def join_parts(blocks: list[str]) -> str:
    text = "\n\n".join(b.strip("\n") for b in blocks if b.strip())
    return text + "\n" if text else ""


def _canonical_stmt(s) -> str:
    if isinstance(s, ast.FuncDef):
        return fmt.format_program(ast.Program(source="", stmts=[s])).strip()
    return fmt.statement(s)


def mapper_key(text: str) -> tuple:
    """Identity of a mapper for deduplication: statements per part without comments or formatting."""
    if not text.strip():
        return ("",) * len(PARTS)
    program = parsed(text)
    if program is None:
        return ("unparsed", text)
    single_only = _single_only(program)
    parts = {p: [] for p in PARTS}
    for s in program.stmts:
        parts[part_of(s, single_only)].append(_canonical_stmt(s))
    return tuple("\n".join(parts[p]) for p in PARTS)


def parses(text: str) -> bool:
    """Whether the mapper parses (the empty mapper does)."""
    return not text.strip() or parsed(text) is not None

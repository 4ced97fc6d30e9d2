"""A small reader of machine spec files (DESIGN.md format) for `hpcmap dsl explain`.

Only what the evaluator needs: node count and processors of each kind per node.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from hpcmap.dsl.evaluate import MachineShape
from hpcmap.errors import UserError

MACHINES_DIR = Path(__file__).resolve().parents[2] / "specs" / "machines"


def _detect_local() -> dict:
    gpus = len([p for p in Path("/dev").glob("nvidia[0-9]*")]) if Path("/dev").is_dir() else 0
    return {"name": "local", "nodes": 1, "node": {"cpus": max((os.cpu_count() or 2) - 1, 1), "gpus": gpus}}


def load_machine(spec: str) -> tuple[str, MachineShape]:
    """`NAME` means specs/machines/NAME.toml (`local` is detected when that file is absent)."""
    if spec.endswith(".toml") or "/" in spec:
        path = Path(spec)
    else:
        path = MACHINES_DIR / f"{spec}.toml"
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: not valid TOML ({exc})") from None
    elif spec == "local":
        data = _detect_local()
    else:
        known = sorted(p.stem for p in MACHINES_DIR.glob("*.toml")) if MACHINES_DIR.is_dir() else []
        raise UserError(f"no machine spec {path}; give a path to a .toml file"
                        + (f" or one of: {', '.join(known)}" if known else ""))
    node = data.get("node", {}) or {}
    try:
        nodes = int(data.get("nodes", 1))
        procs = {"CPU": int(node.get("cpus", 1)), "GPU": int(node.get("gpus", 0)),
                 "OMP": int(node.get("omps", 0)), "IO": int(node.get("ios", 0)),
                 "PY": int(node.get("pys", 0)), "PROC": int(node.get("procsets", 0))}
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: processor counts must be integers ({exc})") from None
    if nodes < 1 or any(v < 0 for v in procs.values()):
        raise UserError(f"{path}: nodes must be at least 1 and processor counts not negative")
    return str(data.get("name", path.stem)), MachineShape(nodes, procs)

"""Application metadata (specs/apps/<app>.toml) as the checker's vocabulary of tasks and regions."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hpcmap.errors import UserError

APPS_DIR = Path(__file__).resolve().parents[2] / "specs" / "apps"


@dataclass
class TaskInfo:
    name: str
    launch: str = "index"  # "index" or "single"
    dims: int = 1
    variants: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)  # semantic names, in argument order


@dataclass
class AppInfo:
    name: str
    tasks: dict[str, TaskInfo]
    region_names: set[str]


def resolve_app_path(app: str) -> Path:
    """`stencil` means specs/apps/stencil.toml; anything with a slash or .toml is a path."""
    if app.endswith(".toml") or "/" in app:
        path = Path(app)
    else:
        path = APPS_DIR / f"{app}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in APPS_DIR.glob("*.toml")) if APPS_DIR.is_dir() else []
        raise UserError(f"no application metadata {path}; known apps: {', '.join(known) or 'none'}")
    return path


def load_app(app: str) -> AppInfo:
    path = resolve_app_path(app)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    tasks: dict[str, TaskInfo] = {}
    names: set[str] = set(data.get("regions", {}) or {})
    for t in data.get("tasks", []):
        regions = [r.get("name", "") for r in t.get("regions", [])]
        names.update(r for r in regions if r)
        tasks[t["name"]] = TaskInfo(
            t["name"], t.get("launch", "index"), int(t.get("dims", 1)),
            list(t.get("variants", [])), regions,
        )
    return AppInfo(data.get("name", path.stem), tasks, names)

"""Application metadata (specs/apps/<app>.toml) as the checker's vocabulary of tasks and regions."""
from __future__ import annotations

from dataclasses import dataclass, field

from hpcmap.apps import APPS_DIR, read_toml, resolve_app_path  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class LayoutRequirement:
    """A layout that a task's variant needs for its instances (e.g. a row-major BLAS leaf).

    Declared in specs/apps/<app>.toml under a task as
    `requires = [{ variant = "GPU", region = "*", layout = ["SOA", "C_order"], reason = "..." }]`;
    `variant` and `region` default to `*` (every variant, every region of the task). `dense = true`
    says the kernels index each instance directly from one base and stride, so it must be a single
    affine piece: `Compact` (which may split a scattered region into pieces) is refused.
    """

    variant: str = "*"
    region: str = "*"
    layout: tuple[str, ...] = ()
    reason: str = ""
    dense: bool = False

    def applies(self, variant: str, region: str) -> bool:
        return self.variant in ("*", variant) and self.region in ("*", region)


@dataclass
class TaskInfo:
    name: str
    launch: str = "index"  # "index" or "single"
    dims: int = 1
    variants: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)  # semantic names, in argument order
    requires: list[LayoutRequirement] = field(default_factory=list)


@dataclass
class AppInfo:
    name: str
    tasks: dict[str, TaskInfo]
    region_names: set[str]


def load_app(app: str) -> AppInfo:
    path = resolve_app_path(app)
    data = read_toml(path)
    tasks: dict[str, TaskInfo] = {}
    names: set[str] = set(data.get("regions", {}) or {})
    for t in data.get("tasks", []):
        regions = [r.get("name", "") for r in t.get("regions", [])]
        names.update(r for r in regions if r)
        requires = [LayoutRequirement(str(r.get("variant", "*")), str(r.get("region", "*")),
                                      tuple(r.get("layout", ())), str(r.get("reason", "")),
                                      bool(r.get("dense", False)))
                    for r in t.get("requires", [])]
        tasks[t["name"]] = TaskInfo(
            t["name"], t.get("launch", "index"), int(t.get("dims", 1)),
            list(t.get("variants", [])), regions, requires,
        )
    return AppInfo(data.get("name", path.stem), tasks, names)

"""Application metadata (specs/apps/<app>.toml): how to build and launch an app, and its sizes."""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hpcmap.errors import UserError
from hpcmap.paths import BENCHMARKS, SPECS

APPS_DIR = SPECS / "apps"


def resolve_app_path(app: str) -> Path:
    """`stencil` means specs/apps/stencil.toml; anything with a slash or .toml is a path."""
    path = Path(app) if (app.endswith(".toml") or os.sep in app) else APPS_DIR / f"{app}.toml"
    if not path.is_file():
        raise UserError(f"no application metadata {path}; known apps: {', '.join(known_apps()) or 'none'}")
    return path


def known_apps() -> list[str]:
    return sorted(p.stem for p in APPS_DIR.glob("*.toml"))


def read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None


@dataclass(frozen=True)
class App:
    """What hpcmap needs to run an application: binary, argument template, named sizes."""

    name: str
    binary: str
    args: list[str]
    sizes: dict[str, dict[str, int | float | str]]
    metric: str = ""
    source_dir: Path = field(default=BENCHMARKS)

    def size(self, preset: str = "small", overrides: dict[str, str] | None = None) -> dict[str, str]:
        """Parameters of a named size, with `key=value` overrides applied and checked."""
        if preset not in self.sizes:
            raise UserError(f"{self.name} has no size {preset!r}; sizes: {', '.join(self.sizes)}")
        params = {k: str(v) for k, v in self.sizes[preset].items()}
        for key, value in (overrides or {}).items():
            if key not in params:
                raise UserError(f"{self.name} has no size parameter {key!r}; parameters: {', '.join(params)}")
            params[key] = _checked_value(self.name, key, value, self.sizes[preset][key])
        return params

    def typed(self, params: dict[str, str]) -> dict[str, int | float | str]:
        """`params` with each value of a numeric parameter as a number, as the presets write it."""
        kinds = {k: type(v) for preset in self.sizes.values() for k, v in preset.items()}
        return {k: kinds[k](v) if kinds.get(k) in (int, float) else v for k, v in params.items()}

    def arguments(self, params: dict[str, str]) -> list[str]:
        """The app's command-line arguments; `{app_dir}` is benchmarks/<app>/, for input files."""
        values = {"app_dir": str(self.source_dir), **params}
        try:
            return [a.format(**values) for a in self.args]
        except KeyError as exc:
            raise UserError(f"{self.name}: argument template names unknown parameter {exc}") from None

    @property
    def expert_mapper(self) -> Path:
        return self.source_dir / "expert.map"


def _checked_value(app: str, key: str, value: str, preset: object) -> str:
    """A size override checked against the preset's value: an integer where it is one (positive where
    it is positive, 0 meaning "derived" allowed otherwise), a finite number where it is a float."""
    if isinstance(preset, bool) or not isinstance(preset, (int, float)):
        return value
    if isinstance(preset, int):
        expected = "a positive integer" if preset > 0 else "a non-negative integer"
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < (1 if preset > 0 else 0):
            raise UserError(f"{app} size parameter {key} must be {expected}, e.g. {preset}; got {value!r}")
        return str(number)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or (preset > 0 and number <= 0):
        raise UserError(f"{app} size parameter {key} must be a {'positive ' if preset > 0 else ''}number, "
                        f"e.g. {preset}; got {value!r}")
    return value


def load(app: str) -> App:
    path = resolve_app_path(app)
    data = read_toml(path)
    name = str(data.get("name", path.stem))
    sizes = data.get("sizes") or {"small": {}}
    return App(name=name, binary=str(data.get("binary", name)), args=list(data.get("args", [])),
               sizes=sizes, metric=str(data.get("metric", "")), source_dir=BENCHMARKS / name)


def parse_size(text: str | None) -> tuple[str, dict[str, str]]:
    """`--size` text: a preset name, `key=value` pairs, or both (`medium,steps=10`)."""
    preset, overrides = "small", {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            if not key or not value:
                raise UserError(f"bad --size item {part!r}; expected key=value")
            overrides[key] = value
        else:
            preset = part
    return preset, overrides

"""Machine specifications (specs/machines/*.toml) and their translation into Legion flags.

This is the one place where a spec becomes `-ll:*` flags. `local` is detected from the host
when no specs/machines/local.toml overrides it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from hpcmap.errors import UserError
from hpcmap.paths import SPECS

MACHINES_DIR = SPECS / "machines"


@dataclass(frozen=True)
class MachineSpec:
    """Per-node processors and memories of a machine, and how many nodes it has."""

    name: str
    nodes: int = 1
    cpus: int = 1
    utility: int = 1
    gpus: int = 0
    omps: int = 0
    sysmem_mb: int = 1024
    fbmem_mb: int = 0
    zcmem_mb: int = 0
    description: str = ""

    def legion_flags(self) -> list[str]:
        """Realm/Legion command-line flags that give one process this node's resources."""
        flags = ["-ll:cpu", str(self.cpus), "-ll:util", str(self.utility), "-ll:csize", str(self.sysmem_mb)]
        if self.gpus:
            flags += ["-ll:gpu", str(self.gpus), "-ll:fsize", str(self.fbmem_mb), "-ll:zsize", str(self.zcmem_mb)]
        if self.omps:
            flags += ["-ll:ocpu", str(self.omps)]
        return flags

    def as_dict(self) -> dict:
        return asdict(self)


def host_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)


def detect_gpus() -> list[int]:
    """Memory (MiB) of each NVIDIA GPU on this host, from nvidia-smi; empty without a GPU."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [int(float(line)) for line in out.stdout.split() if line.strip()]


def detect_local() -> MachineSpec:
    """This host: one node, all cores but one as CPU processors, GPUs via nvidia-smi."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    gpus = detect_gpus()
    sysmem = max(512, min(host_memory_mb() // 4, 65536))
    return MachineSpec(
        name="local", nodes=1, cpus=max(1, cores - 1 - len(gpus) // 2), utility=1, gpus=len(gpus),
        sysmem_mb=sysmem, fbmem_mb=int(min(gpus) * 0.85) if gpus else 0, zcmem_mb=1024 if gpus else 0,
        description=f"this host: {cores} cores, {host_memory_mb()} MiB, {len(gpus)} NVIDIA GPUs",
    )


def spec_path(spec: str) -> Path:
    if spec.endswith(".toml") or os.sep in spec:
        return Path(spec)
    return MACHINES_DIR / f"{spec}.toml"


def known_machines() -> list[str]:
    names = {p.stem for p in MACHINES_DIR.glob("*.toml")} | {"local"}
    return sorted(names)


def load(spec: str = "local") -> MachineSpec:
    """`NAME` reads specs/machines/NAME.toml; a path is read as is; `local` is detected."""
    path = spec_path(spec)
    if not path.is_file():
        if spec == "local":
            return detect_local()
        raise UserError(f"no machine spec {path}; use a path to a .toml file or one of: {', '.join(known_machines())}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    node = data.get("node", {}) or {}
    unknown = set(node) - {f for f in MachineSpec.__dataclass_fields__ if f not in ("name", "nodes", "description")}
    if unknown:
        raise UserError(f"{path}: unknown key(s) in [node]: {', '.join(sorted(unknown))}")
    gpus = _int(path, node, "gpus", 0)
    try:
        result = MachineSpec(
            name=str(data.get("name", path.stem)), nodes=_int(path, data, "nodes", 1),
            cpus=_int(path, node, "cpus", 1), utility=_int(path, node, "utility", 1), gpus=gpus,
            omps=_int(path, node, "omps", 0),
            sysmem_mb=_int(path, node, "sysmem_mb", max(512, min(host_memory_mb() // 4, 65536))),
            fbmem_mb=_int(path, node, "fbmem_mb", 4096 if gpus else 0),
            zcmem_mb=_int(path, node, "zcmem_mb", 1024 if gpus else 0),
            description=str(data.get("description", "")),
        )
    except TypeError as exc:
        raise UserError(f"{path}: {exc}") from None
    for key, (low, high) in _RANGES.items():
        value = getattr(result, key)
        if not low <= value <= high:
            raise UserError(f"{path}: `{key}` = {value} is out of range; expected {low} to {high}")
    return result


def check_host_memory(spec: MachineSpec, processes: int) -> None:
    """Refuse a spec whose `processes` on this host would ask for more memory than the host has."""
    wanted = processes * (spec.sysmem_mb + spec.zcmem_mb)
    have = host_memory_mb()
    if wanted > have:
        raise UserError(f"machine {spec.name} asks for {wanted} MiB of system and zero-copy memory on this host, "
                        f"which has {have} MiB; lower sysmem_mb/zcmem_mb or choose another machine spec")


# What a spec may ask for: beyond these, a count is a mistake (a typo, a unit error), not a machine.
_RANGES = {"nodes": (1, 65536), "cpus": (1, 4096), "utility": (0, 4096), "gpus": (0, 64), "omps": (0, 4096),
           "sysmem_mb": (1, 64 << 20), "fbmem_mb": (0, 1 << 20), "zcmem_mb": (0, 64 << 20)}


def _int(path: Path, table: dict, key: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{path}: `{key}` must be an integer, not {value!r}")
    return value

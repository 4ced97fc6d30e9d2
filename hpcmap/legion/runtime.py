"""Locate or fetch the Legion runtime, and provide libcuda where no NVIDIA driver exists.

By default the runtime is the Legion/Realm build shipped in the PyPI wheel of legate; only the
headers and the two shared libraries are unpacked. LEGION_ROOT selects a user's own install.
A machine of several nodes needs a Realm with a network module: LEGION_ROOT's, or the one
`hpcmap legion build-runtime` caches (hpcmap.legion.network).
"""
from __future__ import annotations

import ctypes.util
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hpcmap.errors import UserError
from hpcmap.paths import legion_home

WHEEL = "legate==26.6.1"
_HEADERS = "legate/include/legate/deps/"
_LIBRARIES = {
    "legate/lib64/liblegion-legate.so.1": ("liblegion-legate.so.1", "liblegion-legate.so"),
    "legate/lib64/librealm-legate.so.25": ("librealm-legate.so.25", "librealm-legate.so"),
}
_STUB_SOURCE = Path(__file__).with_name("stub") / "libcuda_stub.c"


@dataclass(frozen=True)
class LegionRuntime:
    """A usable Legion install: headers, libraries, and how its processes find libcuda."""

    include_dir: Path
    lib_dir: Path
    source: str  # "wheel", "LEGION_ROOT" or "network" (built by hpcmap.legion.network)
    stub_dir: Path | None  # directory of our libcuda stub, or None with a real driver
    extra_lib_dirs: tuple[Path, ...] = ()  # libraries the runtime itself needs (the MPI of a network build)

    @property
    def version(self) -> str:
        return _define(self.include_dir / "legion_defines.h", "LEGION_VERSION") or "unknown"

    @property
    def cuda(self) -> bool:
        text = (self.include_dir / "legion_defines.h").read_text(errors="replace")
        return re.search(r"#define\s+LEGION_USE_CUDA\b", text) is not None

    @property
    def network(self) -> str | None:
        """Realm's network module (mpi, gasnetex, gasnet1, ucx), or None: one process only."""
        header = self.include_dir / "realm_defines.h"
        text = header.read_text(errors="replace") if header.exists() else ""
        for name in ("mpi", "gasnetex", "gasnet1", "ucx"):
            if re.search(rf"#define\s+REALM_USE_{name.upper()}\b", text):
                return name
        return None

    @property
    def max_dim(self) -> int:
        return int(_define(self.include_dir / "legion_defines.h", "LEGION_MAX_DIM") or 3)

    def library_path(self) -> str:
        """LD_LIBRARY_PATH entries that Legion processes need (libraries first, stub after)."""
        dirs = [str(self.lib_dir)] + [str(d) for d in self.extra_lib_dirs]
        dirs += [str(self.stub_dir)] if self.stub_dir else []
        return os.pathsep.join(dirs)

    def process_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        old = env.get("LD_LIBRARY_PATH")
        env["LD_LIBRARY_PATH"] = self.library_path() + (os.pathsep + old if old else "")
        return env


def _define(header: Path, name: str) -> str | None:
    if not header.exists():
        return None
    match = re.search(rf'#define\s+{name}\s+"?([^"\n]*)"?', header.read_text(errors="replace"))
    return match.group(1).strip() if match else None


@functools.lru_cache(maxsize=1)
def has_real_driver() -> bool:
    """True when the host has NVIDIA's libcuda (a GPU driver), not just the toolkit."""
    if ctypes.util.find_library("cuda") is not None:
        return True
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def wheel_prefix() -> Path:
    return legion_home() / "wheel"


def locate(legion_root: str | None = None) -> LegionRuntime:
    """The runtime in use, without fetching anything; raises UserError if setup is needed."""
    root = legion_root or os.environ.get("LEGION_ROOT")
    if root:
        base = Path(root)
        include = base / "include"
        lib = next((base / d for d in ("lib64", "lib") if (base / d).is_dir()), base / "lib")
        if not (include / "legion.h").exists():
            raise UserError(f"LEGION_ROOT={root} has no include/legion.h; point it at a Legion install prefix")
        source = "LEGION_ROOT"
    else:
        include, lib = wheel_prefix() / "include", wheel_prefix() / "lib"
        if not (include / "legion.h").exists():
            raise UserError("the Legion runtime is not set up; run `make setup` (or `hpcmap legion setup`)")
        source = "wheel"
    stub = None if has_real_driver() else stub_dir()
    return LegionRuntime(include, lib, source, stub)


def for_nodes(nodes: int, legion_root: str | None = None, quiet: bool = False) -> LegionRuntime:
    """The runtime for a machine of `nodes` nodes: the usual one for one node; for more, one with
    a network module (LEGION_ROOT's, else the cached network build). Raises UserError otherwise."""
    if nodes <= 1:
        return ensure(legion_root, quiet)
    if legion_root or os.environ.get("LEGION_ROOT"):
        rt = ensure(legion_root, quiet)
        if rt.network is None:
            raise UserError(f"a machine of {nodes} nodes needs Legion with a network module, and the Legion at "
                            f"{rt.include_dir.parent} has none; rebuild it with one (e.g. -DLegion_NETWORKS=mpi)")
        return rt
    from hpcmap.legion import network

    prefix = network.find_installed()
    if prefix is None:
        raise UserError(f"a machine of {nodes} nodes needs Legion with a network module, which the wheel's lacks; "
                        "run `hpcmap legion build-runtime --network mpi` once (about 11-15 minutes on 2 cores) "
                        "or set LEGION_ROOT to a network-enabled Legion install")
    if not has_real_driver():
        _ensure_stub(quiet)
    lib = next((prefix / d for d in ("lib64", "lib") if (prefix / d).is_dir()), prefix / "lib")
    return LegionRuntime(prefix / "include", lib, "network", None if has_real_driver() else stub_dir(),
                         (network.mpi_home() / "lib",))


def stub_dir() -> Path:
    return legion_home() / "stub"


def ensure(legion_root: str | None = None, quiet: bool = False) -> LegionRuntime:
    """Fetch and unpack the runtime and build the libcuda stub, each only if not already done."""
    if not (legion_root or os.environ.get("LEGION_ROOT")):
        _ensure_wheel(quiet)
    if not has_real_driver():
        _ensure_stub(quiet)
    return locate(legion_root)


def _ensure_wheel(quiet: bool) -> None:
    prefix = wheel_prefix()
    marker = prefix / ".unpacked"
    if marker.exists() and marker.read_text().strip() == WHEEL:
        return
    _say(quiet, f"fetching the Legion runtime from the {WHEEL} wheel (headers and two libraries)")
    with tempfile.TemporaryDirectory(prefix="hpcmap-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--quiet", "-d", tmp, WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"could not download {WHEEL}: {tail}")
        wheel = next(Path(tmp).glob("legate-*.whl"))
        if prefix.exists():
            shutil.rmtree(prefix)
        _unpack(wheel, prefix)
    marker.write_text(WHEEL + "\n")


def _unpack(wheel: Path, prefix: Path) -> None:
    include, lib = prefix / "include", prefix / "lib"
    lib.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            name = member.filename
            if name.startswith(_HEADERS) and not member.is_dir():
                target = include / name[len(_HEADERS):]
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            elif name in _LIBRARIES:
                soname, linkname = _LIBRARIES[name]
                with archive.open(member) as src, open(lib / soname, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                (lib / soname).chmod(0o755)
                (lib / linkname).symlink_to(soname)


def _ensure_stub(quiet: bool) -> None:
    target = stub_dir() / "libcuda.so.1"
    if target.exists() and target.stat().st_mtime >= _STUB_SOURCE.stat().st_mtime:
        return
    _say(quiet, "no NVIDIA driver found: building the libcuda stub (Realm will run CPU-only)")
    target.parent.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-shared", "-fPIC", "-O2", "-Wl,-soname,libcuda.so.1", "-o", str(target), str(_STUB_SOURCE)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"could not build the libcuda stub with {cc}: {done.stderr.strip()[:300]}")
    link = target.with_name("libcuda.so")
    if not link.is_symlink():
        link.symlink_to("libcuda.so.1")


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"hpcmap: {message}", file=sys.stderr, flush=True)

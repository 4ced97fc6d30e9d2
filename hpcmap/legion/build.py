"""Configure and build mapper/ and benchmarks/ with CMake against the Legion runtime in use."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hpcmap.errors import UserError
from hpcmap.legion.runtime import LegionRuntime
from hpcmap.paths import BENCHMARKS, ROOT, build_dir

_SOURCE_SUFFIXES = {".cc", ".cu", ".h", ".hpp", ".cuh", ".txt", ".inl"}


def cuda_setting() -> str:
    """HPCMAP_CUDA=off|on|auto (default auto: CUDA variants when nvcc is found)."""
    value = os.environ.get("HPCMAP_CUDA", "auto").strip().upper()
    if value not in ("ON", "OFF", "AUTO"):
        raise UserError(f"HPCMAP_CUDA must be on, off or auto, not {value.lower()!r}")
    return value


def tree_for(rt: LegionRuntime) -> Path:
    """The build tree for a runtime: build/ for the wheel's or LEGION_ROOT's, and a tree of its own
    (build-legion-mpi-KEY) for a cached network build, so switching between them rebuilds nothing."""
    if rt.source != "network":
        return build_dir()
    return build_dir().with_name(f"{build_dir().name}-{rt.include_dir.parent.name}")


def configure(rt: LegionRuntime, quiet: bool = False) -> Path:
    """Run CMake's configure step unless the build tree already matches these settings."""
    build = tree_for(rt)
    settings = {
        "LEGION_INCLUDE_DIR": str(rt.include_dir), "LEGION_LIB_DIR": str(rt.lib_dir),
        "CUDA_STUB_DIR": str(rt.stub_dir or ""), "HPCMAP_CUDA": cuda_setting() if rt.cuda else "OFF",
    }
    if rt.extra_lib_dirs:  # the runtime's own dependencies (libmpi), for the linker to resolve
        settings["CMAKE_EXE_LINKER_FLAGS"] = " ".join(f"-Wl,-rpath-link,{d}" for d in rt.extra_lib_dirs)
    stamp = build / ".hpcmap-configure"
    wanted = "\n".join(f"{k}={v}" for k, v in sorted(settings.items()))
    if (build / "CMakeCache.txt").exists() and stamp.exists() and stamp.read_text() == wanted:
        return build
    if not shutil.which("cmake"):
        raise UserError("cmake is not installed; install it (e.g. `apt-get install cmake`) and retry")
    build.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("CUDACXX") and not shutil.which("nvcc") and Path("/usr/local/cuda/bin/nvcc").exists():
        os.environ["CUDACXX"] = "/usr/local/cuda/bin/nvcc"
    cmd = ["cmake", "-S", str(ROOT), "-B", str(build)] + [f"-D{k}={v}" for k, v in settings.items()]
    _run(cmd, "CMake configure", quiet)
    stamp.write_text(wanted)
    return build


def build(rt: LegionRuntime, targets: list[str] | None = None, quiet: bool = False) -> Path:
    """Build the given targets (all by default); CMake skips what is up to date."""
    tree = configure(rt, quiet)
    cmd = ["cmake", "--build", str(tree), "--parallel", str(os.cpu_count() or 2)]
    for target in targets or []:
        cmd += ["--target", target]
    _run(cmd, "build", quiet)
    return tree


def binary_path(app_binary: str, app_name: str, tree: Path | None = None) -> Path:
    return (tree or build_dir()) / "benchmarks" / app_name / app_binary


def ensure_app(rt: LegionRuntime, app_name: str, app_binary: str, quiet: bool = True) -> Path:
    """The app's executable, rebuilt first if any of its sources or the mapper's is newer."""
    exe = binary_path(app_binary, app_name, tree_for(rt))
    sources = [BENCHMARKS / app_name, BENCHMARKS / "common", ROOT / "mapper", ROOT / "CMakeLists.txt"]
    if not exe.exists() or _newest(sources) > exe.stat().st_mtime:
        build(rt, [app_binary], quiet=quiet)
    if not exe.exists():
        raise UserError(f"building {app_name} produced no {exe}; see the build output above")
    return exe


def _newest(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in _SOURCE_SUFFIXES or p.name == "CMakeLists.txt"]
        for f in files:
            newest = max(newest, f.stat().st_mtime)
    return newest


def _run(cmd: list[str], what: str, quiet: bool) -> None:
    done = subprocess.run(cmd, capture_output=quiet, text=True)
    if done.returncode != 0:
        if quiet:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise UserError(f"{what} failed (exit {done.returncode}): {' '.join(cmd[:4])} ...")

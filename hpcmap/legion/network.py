"""Build a network-enabled Legion (Realm's MPI module) from the vendored source, once per machine.

The PyPI wheel's Realm has no network module, so it runs one process only. Multi-node runs need
Legion built from source with `-DLegion_NETWORKS=mpi` against the MPI of the `mpich` wheel that
hpcmap already depends on. The install lives in a cache outside the checkout, keyed by the source
snapshot, the options and the MPI version, so every checkout on the machine shares one build.
"""
from __future__ import annotations

import ctypes.util
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from hpcmap.errors import UserError
from hpcmap.paths import ROOT

NETWORKS = ("mpi",)
_SNAPSHOT_NAME = "legion-src-*.tar.xz"
_DONE = ".hpcmap-built"


@dataclass(frozen=True)
class BuildOptions:
    """What a runtime build depends on besides its source: part of its cache key."""

    network: str = "mpi"
    cuda: bool = False

    def cmake_flags(self) -> list[str]:
        flags = [f"-DLegion_NETWORKS={self.network}", "-DLegion_USE_ZLIB=OFF", "-DBUILD_SHARED_LIBS=ON",
                 "-DCMAKE_BUILD_TYPE=Release", f"-DMPI_HOME={mpi_home()}"]
        if self.cuda:
            # CUDA 13 dropped the unversioned PFN_cu* aliases this snapshot uses: cu13compat.h restores them
            compat = vendor_dir() / "cu13compat.h"
            flags += ["-DLegion_USE_CUDA=ON", "-DLegion_CUDA_ARCH=90", "-DCMAKE_CUDA_ARCHITECTURES=90",
                      "-DLegion_HIJACK_CUDART=OFF", f"-DCMAKE_CXX_FLAGS=-include {compat} -I{cuda_home()}/include"]
        else:
            flags += ["-DLegion_USE_CUDA=OFF"]
        return flags


def cuda_home() -> Path:
    return Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"))


def check_cuda_toolkit() -> None:
    """Refuse a CUDA build that CMake could not configure: it needs nvcc, and a libcuda to link
    Realm against (the NVIDIA driver's, or the stub in the toolkit's lib64/stubs)."""
    if not (os.environ.get("CUDACXX") or shutil.which("nvcc") or (cuda_home() / "bin" / "nvcc").exists()):
        raise UserError(f"a --cuda build needs nvcc, which is neither on PATH nor in {cuda_home()}/bin; "
                        "install the CUDA toolkit or set CUDA_HOME")
    stubs = [cuda_home() / d / "libcuda.so" for d in ("lib64", "lib", "lib64/stubs", "lib/stubs")]
    stubs += list(cuda_home().glob("targets/*/lib/stubs/libcuda.so"))
    if not (ctypes.util.find_library("cuda") or any(s.exists() for s in stubs)):
        raise UserError(f"a --cuda build links against libcuda, and this host has neither the NVIDIA driver nor "
                        f"the toolkit's stub ({cuda_home()}/lib64/stubs/libcuda.so); build on a GPU host or "
                        "install the toolkit's stubs")


def vendor_dir() -> Path:
    """The vendored Legion source: HPCMAP_VENDOR_DIR, else the repository's `vendor/legion`."""
    return Path(os.environ.get("HPCMAP_VENDOR_DIR", ROOT / "vendor" / "legion"))


def snapshot() -> Path:
    found = sorted(vendor_dir().glob(_SNAPSHOT_NAME))
    if not found:
        raise UserError(f"no Legion source snapshot ({_SNAPSHOT_NAME}) in {vendor_dir()}; "
                        "set HPCMAP_VENDOR_DIR to the folder that holds it")
    return found[-1]


def check_snapshot(path: Path) -> None:
    """Refuse a snapshot whose checksum differs from the one its folder's SHA256SUMS records."""
    sums = path.parent / "SHA256SUMS"
    if not sums.exists():
        return
    lines = (line.split(maxsplit=1) for line in sums.read_text().splitlines() if line.strip())
    wanted = {name.strip().lstrip("*"): digest for digest, name in lines}.get(path.name)
    if wanted and _file_digest(path) != wanted:
        raise UserError(f"{path} does not match its checksum in {sums}; it is damaged or was replaced")


def mpi_home() -> Path:
    """The prefix of the `mpich` wheel's MPI (include/mpi.h, lib/libmpi.so, bin/mpiexec)."""
    return Path(sys.prefix)


def mpi_version() -> str:
    try:
        return metadata.version("mpich")
    except metadata.PackageNotFoundError:
        raise UserError("the mpich package is not installed; run `make setup`") from None


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hpcmap"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(options: BuildOptions) -> str:
    """A short hash of the snapshot, the options and the MPI version."""
    parts = {"snapshot": _file_digest(snapshot()), "network": options.network, "cuda": options.cuda,
             "mpich": mpi_version()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def install_prefix(options: BuildOptions) -> Path:
    return cache_root() / f"legion-{options.network}{'-cuda' if options.cuda else ''}-{cache_key(options)}"


def find_installed(options: BuildOptions = BuildOptions()) -> Path | None:
    """The cached install for these options, or None if it has not been built on this machine."""
    try:
        prefix = install_prefix(options)
    except UserError:
        return None
    return prefix if (prefix / _DONE).exists() else None


def build_runtime(options: BuildOptions, jobs: int | None = None, quiet: bool = False) -> Path:
    """Build and install Legion with a network module unless the cached install exists."""
    if options.network not in NETWORKS:
        raise UserError(f"unknown network {options.network!r}; choose one of: {', '.join(NETWORKS)}")
    prefix = install_prefix(options)
    if (prefix / _DONE).exists():
        return prefix
    if not shutil.which("cmake"):
        raise UserError("cmake is not installed; install it (e.g. `apt-get install cmake`) and retry")
    if not (mpi_home() / "include" / "mpi.h").exists():
        raise UserError(f"no mpi.h under {mpi_home()}; run `make setup` to install the mpich package")
    if options.cuda:
        check_cuda_toolkit()
    jobs = jobs or os.cpu_count() or 2
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f"{prefix.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second hpcmap waits for the first one's build
        if not (prefix / _DONE).exists():
            _build(options, prefix, jobs, quiet)
    return prefix


def _build(options: BuildOptions, prefix: Path, jobs: int, quiet: bool) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="legion-build-", dir=prefix.parent) as tmp:
        src, tree = Path(tmp) / "src", Path(tmp) / "build"
        src.mkdir()
        _say(quiet, f"building Legion with the {options.network} network into {prefix} "
                    f"(once per machine; about 11-15 minutes on 2 cores)")
        check_snapshot(snapshot())
        _run(["tar", "-C", str(src), "-xJf", str(snapshot())], "unpacking the Legion source", quiet)
        if options.cuda:
            _tolerate_destroyed_context(src)
        _run(["cmake", "-S", str(src), "-B", str(tree), f"-DCMAKE_INSTALL_PREFIX={prefix}"]
             + options.cmake_flags(), "configuring Legion", quiet)
        _run(["cmake", "--build", str(tree), "--parallel", str(jobs)], "building Legion", quiet)
        _run(["cmake", "--install", str(tree)], "installing Legion", quiet)
    seconds = time.monotonic() - started
    (prefix / _DONE).write_text(json.dumps({"options": options.__dict__, "seconds": round(seconds),
                                            "jobs": jobs, "mpich": mpi_version()}) + "\n")
    _say(quiet, f"Legion with the {options.network} network built in {seconds:.0f} s")


def _tolerate_destroyed_context(src: Path) -> None:
    """At GPU shutdown the context may already be gone (CUDA 13): ignore cuCtxSynchronize's answer
    there instead of failing every run with CUDA_ERROR_CONTEXT_IS_DESTROYED after its work is done."""
    path = src / "runtime" / "realm" / "cuda" / "cuda_module.cc"
    text = path.read_text()
    anchor = "ctxsync.shutdown_threads();"
    at = text.find(anchor)
    old = "CHECK_CU(CUDA_DRIVER_FNPTR(cuCtxSynchronize)());"
    after = text.find(old, at)
    if at < 0 or after < 0:
        raise UserError(f"{path}: the GPU shutdown code is not where expected; the snapshot changed")
    path.write_text(text[:after] + "(void)CUDA_DRIVER_FNPTR(cuCtxSynchronize)();" + text[after + len(old):])


def _run(cmd: list[str], what: str, quiet: bool) -> None:
    done = subprocess.run(cmd, capture_output=quiet, text=True)
    if done.returncode != 0:
        if quiet:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise UserError(f"{what} failed (exit {done.returncode}); see the output above")


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"hpcmap: {message}", file=sys.stderr, flush=True)

"""Helpers for the mapper tests: build once, compile a mapper, run stencil, read the decision log."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent
HPCMAP = [sys.executable, "-m", "hpcmap.cli"] if not (ROOT / ".venv/bin/hpcmap").exists() else [str(ROOT / ".venv/bin/hpcmap")]
# A small launch grid that gives the IndexTaskMap functions something to do on 4 CPUs.
STENCIL_ARGS = ["-nx", "240", "-ny", "120", "-ntx", "4", "-nty", "2", "-tsteps", "4", "-tprune", "1"]
CPUS = 4


def build_dir() -> Path:
    return Path(os.environ.get("HPCMAP_BUILD_DIR", ROOT / "build"))


@pytest.fixture(scope="session")
def stencil_exe() -> Path:
    """Builds mapper/ and the benchmarks with `hpcmap legion build` (CMake skips what is current)."""
    done = subprocess.run(HPCMAP + ["legion", "build"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    exe = build_dir() / "benchmarks" / "stencil" / "stencil"
    assert exe.exists()
    return exe


def legion_env() -> dict[str, str]:
    from hpcmap.legion import runtime
    return runtime.locate(None).process_env()


def compile_policy(mapper: Path, out: Path) -> Path:
    done = subprocess.run(HPCMAP + ["dsl", "compile", str(mapper), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    log: list[dict]

    def calls(self, call: str, task: str | None = None) -> list[dict]:
        return [d for d in self.log if d["call"] == call and (task is None or d["task"] == task)]


def run_stencil(exe: Path, tmp: Path, mapper: Path | None, extra: list[str] | None = None, timeout: float = 120) -> Run:
    """One stencil process on 4 CPUs, with the mapper's policy and the decision log when given."""
    argv = [str(exe)] + STENCIL_ARGS + ["-ll:cpu", str(CPUS), "-ll:util", "1", "-ll:csize", "512"]
    log = tmp / f"decisions-{time.monotonic_ns()}.jsonl"
    if mapper is not None:
        policy = compile_policy(mapper, tmp / (mapper.stem + ".json"))
        argv += ["-hpcmap:policy", str(policy), "-hpcmap:log", str(log)]
    argv += extra or []
    start = time.perf_counter()
    done = subprocess.run(argv, env=legion_env(), capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return Run(done.returncode, done.stdout, done.stderr, wall, lines)


def check_passed(run: Run) -> bool:
    return run.returncode == 0 and '"check": "pass"' in run.stdout

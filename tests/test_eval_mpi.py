"""The mpi executor under the mpich wheel's mpiexec: rank 0 the head, ranks 1.. evaluate candidates."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_eval_local import HPCMAP, INVALID, REPO, SECRET, SIZE, _contents, mapper_files

pytestmark = pytest.mark.mpi

MPIEXEC = Path(sys.executable).parent / "mpiexec"
COMPARED = ("key", "name", "app", "machine", "size", "trials_requested", "app_args", "mapper_text", "outcome",
            "ir_hash", "diagnostics")


@pytest.fixture(scope="module")
def candidates(tmp_path_factory) -> list[str]:
    if not MPIEXEC.exists():
        pytest.skip("no mpiexec next to this Python (pip install mpi4py mpich)")
    d = tmp_path_factory.mktemp("maps")
    maps = mapper_files(d, 3)
    bad = d / "invalid.map"
    bad.write_text(INVALID)
    return ["default", *maps, str(bad)]


def study(tmp_path: Path, launcher: list[str], executor: str, mappers: list[str], *extra: str,
          env: dict | None = None, returncode: int = 0) -> dict:
    args = ["eval", *mappers, "--app", "stencil", "--size", SIZE, "--trials", "2", "--timeout", "60",
            "--executor", executor, "--store", str(tmp_path / f"{executor}.h5"), "--json", *extra]
    proc = subprocess.run([*launcher, *HPCMAP, *args], capture_output=True, text=True, timeout=300, cwd=REPO,
                          env=env or os.environ.copy())
    assert proc.returncode == returncode, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_mpi_records_equal_local_records(candidates, tmp_path):
    local = study(tmp_path, [], "local", candidates, "--workers", "2")
    mpi = study(tmp_path, [str(MPIEXEC), "-n", "3"], "mpi", candidates)
    by_key = lambda out: {c["key"]: c for c in out["candidates"]}  # noqa: E731
    a, b = by_key(local), by_key(mpi)
    assert a.keys() == b.keys() and len(a) == 5
    for key in a:
        assert {f: a[key][f] for f in COMPARED} == {f: b[key][f] for f in COMPARED}
        assert len(a[key]["trials"]) == len(b[key]["trials"])
    assert {c["worker"]["rank"] for c in mpi["candidates"]} <= {1, 2}
    assert {c["worker"]["executor"] for c in mpi["candidates"]} == {"mpi"}
    assert sorted(c["outcome"] for c in mpi["candidates"]) == ["invalid", "ok", "ok", "ok", "ok"]


def test_mpi_failures_are_classified(tmp_path):
    if not MPIEXEC.exists():
        pytest.skip("no mpiexec")
    # A study in which no candidate produced a valid result exits 1, with its records printed.
    out = study(tmp_path, [str(MPIEXEC), "-n", "3"], "mpi", ["default"], "--app-args", "-fault crash",
                returncode=1)
    assert [c["outcome"] for c in out["candidates"]] == ["crash"]


def test_mpi_relaunches_itself_and_keeps_secrets_out(candidates, tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    out = study(tmp_path, [], "mpi", candidates[:3], "--workers", "2", "--profile", str(tmp_path / "prof"),
                env=env)
    assert [c["outcome"] for c in out["candidates"]] == ["ok"] * 3
    assert {c["worker"]["rank"] for c in out["candidates"]} <= {1, 2}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p for p in files if SECRET.encode() in _contents(p)] == []


def test_mpi_bad_input_releases_workers(tmp_path):
    if not MPIEXEC.exists():
        pytest.skip("no mpiexec")
    proc = subprocess.run([str(MPIEXEC), "-n", "3", *HPCMAP, "eval", str(tmp_path / "missing.map"), "--app",
                           "stencil", "--executor", "mpi", "--store", str(tmp_path / "s.h5")],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode != 0
    assert "hpcmap: error: no such mapper file" in proc.stderr

"""The distributed matrix multiplications: real Legion runs through `hpcmap run` with the default
and expert mappers, odd processor grids, injected faults that the check must catch, and the
app metadata as the mapper checker's vocabulary."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]

# app -> `--size` overrides with odd grids and non-square shapes that its check must pass at.
APPS = {
    "cannon": ["n=250,gx=1,gy=4", "n=300,gx=3,gy=2", "m=200,n=150,k=120,gx=2,gy=3"],
    "summa": ["n=250,gx=1,gy=4", "n=300,gx=3,gy=2", "m=200,n=150,k=120,gx=2,gy=3,panels=12"],
    "pumma": ["n=250,gx=1,gy=4", "n=300,gx=3,gy=2", "m=200,n=150,k=120,gx=2,gy=3"],
    "johnson": ["n=250,gdim=3", "m=200,n=150,k=121,gdim=2"],
    "cosma": ["n=250,gx=1,gy=2,gz=2", "n=300,gx=3,gy=1,gz=2", "m=200,n=150,k=121,gx=2,gy=3,gz=1"],
    "solomonik": ["n=250,gx=1,gy=1,c=2", "n=300,gx=3,gy=3,c=2", "m=200,n=150,k=121,gx=3,gy=2,c=2,steps=3"],
}
# app -> `--size` for the fault tests: a grid with at least two steps (or k-slices) to go stale.
FAULT_SIZES = {"johnson": "small,n=240,gdim=2"}
ODD_GRIDS = [(app, size) for app, sizes in APPS.items() for size in sizes]


def hpcmap(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(HPCMAP + list(args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def built():
    done = hpcmap("legion", "build", *APPS, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]


def run_json(app: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = hpcmap("run", app, "--trials", "1", "--json", *extra)
    return done, json.loads(done.stdout)


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("mapper", ["default", "expert"])
def test_passes_its_check(built, app, mapper):
    done, out = run_json(app, "--mapper", mapper)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    trial = out["trials"][0]
    assert trial["check"] == "pass" and trial["outcome"] == "ok"
    assert trial["elapsed_s"] > 0 and trial["metric"] > 0


@pytest.mark.parametrize("app, size", ODD_GRIDS)
def test_odd_grids_pass(built, app, size):
    done, out = run_json(app, "--size", f"small,{size}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert out["trials"][0]["check"] == "pass"


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("fault", ["corrupt", "stale"])
def test_fault_fails_the_check(built, app, fault):
    """One wrong entry of C (`corrupt`), or the previous step's A tiles read again (`stale`)."""
    done = hpcmap("run", app, "--trials", "2", "--size", FAULT_SIZES.get(app, "small,n=240,gx=2,gy=2"),
                  "--app-args", f"-fault {fault}")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("hpcmap: error:")]
    assert len(errors) == 1 and "wrong_answer" in errors[0]
    assert "trial 1:" in done.stdout and "trial 2:" not in done.stdout  # stops at the failed trial


@pytest.mark.parametrize("app", APPS)
def test_expert_mapper_checks(app):
    done = hpcmap("dsl", "check", f"benchmarks/{app}/expert.map", "--app", app)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("text, complaint", [
    ("Task gemm_leaf GPU,CPU;\n", "gemm_leaf"),
    ("Region gemm a_tiles GPU FBMEM;\n", "a_tiles"),
    ("Layout gemm * * SOA F_order;\n", "C_order"),
])
def test_checker_rejects_unknown_names_and_layout_conflicts(tmp_path, app, text, complaint):
    mapper = tmp_path / "bad.map"
    mapper.write_text(text)
    done = hpcmap("dsl", "check", str(mapper), "--app", app)
    assert done.returncode == 1
    assert complaint in done.stdout + done.stderr


@pytest.mark.parametrize("app", APPS)
def test_run_refuses_a_layout_that_breaks_the_leaf(built, tmp_path, app):
    mapper = tmp_path / "column_major.map"
    mapper.write_text("Task * CPU;\nLayout gemm * * SOA F_order;\n")
    done = hpcmap("run", app, "--trials", "1", "--mapper", str(mapper))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("hpcmap: error:")]
    assert len(errors) == 1 and "C_order" in done.stderr

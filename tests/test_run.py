"""`hpcmap run` on the real stencil: a passing run, and each way a run can fail."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]
SMALL = "nx=200,ny=200,steps=5,prune=1"


def hpcmap(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(HPCMAP + list(args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def built():
    done = hpcmap("legion", "build", "stencil", timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    exe = ROOT / "build" / "benchmarks" / "stencil" / "stencil"
    return exe


def test_build_produces_stencil(built):
    assert built.exists()
    info = hpcmap("legion", "info", "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["legion_version"].startswith("legion-")
    assert data["machine"]["cpus"] >= 1


def test_run_passes_check_json(built):
    done = hpcmap("run", "stencil", "--trials", "3", "--size", SMALL, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["app"] == "stencil" and out["mapper"] == "default" and out["machine"] == "local"
    assert [t["check"] for t in out["trials"]] == ["pass"] * 3
    assert all(t["elapsed_s"] > 0 for t in out["trials"])
    stats = out["stats"]
    assert stats["n"] == 3 and stats["mean_s"] > 0 and stats["ci95_s"] is not None
    assert min(t["elapsed_s"] for t in out["trials"]) <= stats["median_s"] <= max(t["elapsed_s"] for t in out["trials"])


def test_table_output(built):
    done = hpcmap("run", "stencil", "--trials", "2", "--size", SMALL)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trial 2:" in done.stdout and "median" in done.stdout


@pytest.mark.parametrize("fault, outcome", [("check", "wrong_answer"), ("crash", "crash")])
def test_failures_are_one_line_errors(built, fault, outcome):
    done = hpcmap("run", "stencil", "--trials", "3", "--size", SMALL, "--app-args", f"-fault {fault}")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [l for l in done.stderr.splitlines() if l.startswith("hpcmap: error:")]
    assert len(errors) == 1 and outcome in errors[0]
    assert "trial 2:" not in done.stdout  # stops at the first failed trial


def test_timeout_kills_the_process(built):
    # An unusual grid size marks this run's process, apart from any other hanging app on the host.
    size = "nx=211,ny=203,steps=5,prune=1"
    done = hpcmap("run", "stencil", "--trials", "1", "--size", size, "--timeout", "3",
                  "--app-args", "-fault hang", "--json")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["trials"][0]["outcome"] == "timeout"
    assert out["error"]["outcome"] == "timeout"
    leftover = subprocess.run(["pgrep", "-f", "--", "-nx 211 -ny 203 .*-fault hang"], capture_output=True, text=True)
    assert leftover.returncode == 1, leftover.stdout + leftover.stderr  # 1: no process matched


@pytest.mark.parametrize("args, message", [
    (["run", "nosuchapp"], "no application metadata"),
    (["run", "stencil", "--machine", "nosuchmachine"], "no machine spec"),
    (["run", "stencil", "--size", "huge"], "has no size"),
    (["run", "stencil", "--size", "bogus=3"], "no size parameter"),
    (["run", "stencil", "--trials", "0"], "--trials"),
    (["run", "stencil", "--mapper", "/nonexistent.map"], "no such mapper file"),
])
def test_bad_input_is_one_line(args, message):
    done = hpcmap(*args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert message in done.stderr

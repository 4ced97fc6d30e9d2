"""The circuit and pennant applications: real Legion runs with the default and expert mappers,
and processor-kind fallback in mappers that ask for kinds a task has no variant for."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]
APPS = ["circuit", "pennant"]


def hpcmap(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(HPCMAP + list(args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def built():
    done = hpcmap("legion", "build", *APPS, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]


def run_json(app: str, mapper: str, *extra: str) -> dict:
    done = hpcmap("run", app, "--trials", "1", "--json", "--mapper", mapper, *extra)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("mapper", ["default", "expert"])
def test_app_passes_its_check(built, app, mapper):
    out = run_json(app, mapper)
    trial = out["trials"][0]
    assert trial["check"] == "pass" and trial["outcome"] == "ok"
    assert trial["elapsed_s"] > 0 and trial["metric"] > 0


@pytest.mark.parametrize("app", APPS)
def test_expert_mapper_checks(app):
    done = hpcmap("dsl", "check", f"benchmarks/{app}/expert.map", "--app", app)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("app, text", [
    ("circuit", "Task * GPU,CPU;\n"),
    ("circuit", "Task calculate_new_currents OMP,CPU;\nTask distribute_charge GPU,OMP,CPU;\n"),
    ("pennant", "Task * GPU,CPU;\n"),
    ("pennant", "Task calc_forces OMP,CPU;\nTask sum_point_mass_force GPU,OMP,CPU;\n"),
])
def test_kind_fallback_runs_on_cpu(built, tmp_path, app, text):
    mapper = tmp_path / "fallback.map"
    mapper.write_text(text)
    out = run_json(app, str(mapper))
    assert out["trials"][0]["check"] == "pass"


@pytest.mark.parametrize("app", APPS)
def test_wrong_answer_is_detected(built, app):
    done = hpcmap("run", app, "--trials", "1", "--json", "--app-args", "-fault check")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["trials"][0]["check"] == "fail"


def test_pennant_invalid_state_fails_cleanly(built, tmp_path):
    """A deck whose time step breaks the Courant condition inverts zones in its first cycle: the app
    stops there, says so on stderr and fails its check (exit 1) instead of crashing."""
    deck = (ROOT / "benchmarks/pennant/decks/sedov.pnt").read_text().replace("dtinit  1.e-4", "dtinit  1.e-2\ncfl 4.0\ncflv 2.0")
    path = tmp_path / "unstable.pnt"
    path.write_text(deck)
    done = hpcmap("run", "pennant", "--trials", "1", "--json", "--app-args", f"-deck {path}")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    trial = json.loads(done.stdout)["trials"][0]
    assert trial["exit_code"] == 1 and trial["check"] == "fail" and trial["outcome"] == "wrong_answer"

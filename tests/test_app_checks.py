"""Every application checks its answer against an independent reference at every size, and a
stale piece of data (`-fault stale`: one point task skips its update, as if a mapper had handed it
an out-of-date instance) fails that check: exit status 1 and check=fail.

stencil's reference is exact at every size (its input field is linear). circuit and pennant
compare value by value with a sequential run of the same math when the problem is small, and
above that with the fingerprint of such a run kept per problem in benchmarks/<app>/reference.txt;
`-check-limit 0` forces that stored path here, on the small sizes, whose fingerprints are kept too."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpcmap import apps, runner

ROOT = Path(__file__).resolve().parents[1]
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]
APPS = ["stencil", "circuit", "pennant"]
STORED = ["circuit", "pennant"]  # apps that keep fingerprints of sequential runs
SEQUENTIAL_LIMIT = {"circuit": 50_000_000, "pennant": 20_000_000}  # the apps' default -check-limit


def hpcmap(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(HPCMAP + list(args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def built():
    done = hpcmap("legion", "build", *APPS, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]


def run_app(app: str, *extra: str, size: str | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    """One process of APP (small size, DefaultMapper, this machine) with EXTRA arguments; its
    HPCMAP_RESULT object ({} when there is none)."""
    plan = runner.prepare(app, "local", size, "default")
    done = subprocess.run(plan.argv() + list(extra), env=plan.env, capture_output=True, text=True, timeout=300)
    lines = [x for x in done.stdout.splitlines() if x.startswith("HPCMAP_RESULT ")]
    return done, json.loads(lines[-1].split(" ", 1)[1]) if lines else {}


@pytest.mark.parametrize("app", APPS)
def test_stale_data_fails_the_check(built, app):
    done = hpcmap("run", app, "--trials", "1", "--json", "--timeout", "120", "--app-args", "-fault stale")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    trial = json.loads(done.stdout)["trials"][0]
    assert trial["check"] == "fail" and trial["outcome"] == "wrong_answer" and trial["exit_code"] == 1


@pytest.mark.parametrize("app", STORED)
def test_stored_fingerprint_passes_a_correct_run(built, app):
    done, result = run_app(app, "-check-limit", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["check"] == "pass" and result["check_kind"].endswith("stored")
    assert 0 <= result["max_rel_err"] < 1e-9  # the same arithmetic on this CPU, summed in another order


@pytest.mark.parametrize("app", STORED)
@pytest.mark.parametrize("fault", ["stale", "check"])
def test_stored_fingerprint_catches_a_wrong_run(built, app, fault):
    done, result = run_app(app, "-check-limit", "0", "-fault", fault)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert result["check"] == "fail" and result["check_kind"].endswith("stored")
    assert "fingerprint bins differ from the stored reference" in done.stderr


@pytest.mark.parametrize("app", STORED)
def test_problem_without_a_stored_fingerprint_runs_the_sequential_reference(built, app, tmp_path):
    empty = tmp_path / "reference.txt"
    empty.write_text("")
    done, result = run_app(app, "-check-limit", "0", "-reference", str(empty))
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["check"] == "pass" and result["check_kind"].endswith("reference")
    assert "no stored reference" in done.stderr
    done, result = run_app(app, "-check-limit", "0", "-reference", str(empty), "-fault", "stale")
    assert done.returncode == 1 and result["check"] == "fail" and result["check_kind"].endswith("reference")


@pytest.mark.parametrize("app", STORED)
def test_reference_out_writes_the_fingerprint_the_check_reads(built, app, tmp_path):
    made = tmp_path / "reference.txt"
    done, _ = run_app(app, "-reference-out", str(made))
    assert done.returncode == 0, done.stderr[-2000:]
    done, result = run_app(app, "-check-limit", "0", "-reference", str(made))
    assert done.returncode == 0 and result["check_kind"].endswith("stored"), done.stderr[-2000:]
    # The small size's fingerprint is the one kept in the repo (up to rounding of another compiler).
    key, values = made.read_text().splitlines()[0].split(" | ")
    kept = dict(line.split(" | ") for line in (ROOT / "benchmarks" / app / "reference.txt").read_text().splitlines())
    assert key in kept
    made_v, kept_v = ([float(x) for x in v.split()] for v in (values, kept[key]))
    assert len(made_v) == len(kept_v) and all(abs(a - b) <= 1e-9 * (abs(b) + 1e-6) for a, b in zip(made_v, kept_v))


@pytest.mark.parametrize("app", STORED)
def test_size_presets_have_a_fast_reference(built, app):
    """The presets runs use (small, medium, gpu) are small enough for the sequential run, or their
    fingerprint is kept. (Larger presets are checked by the sequential run, which takes long.)"""
    kept = {line.split(" | ", 1)[0] for line in (ROOT / "benchmarks" / app / "reference.txt").read_text().splitlines()}
    for preset in [p for p in apps.load(app).sizes if p in ("small", "medium", "gpu")]:
        done, _ = run_app(app, "-reference-key", "1", size=preset)
        assert done.returncode == 0, done.stderr[-2000:]
        key = next(x for x in done.stdout.splitlines() if x.startswith("HPCMAP_REFERENCE_KEY ")).split(" ", 1)[1]
        params = apps.load(app).size(preset)
        work = (int(params["pieces"]) * int(params["wpp"]) * int(params["steps"]) * (int(params["loops"]) + int(params["warmup"]))
                if app == "circuit" else int(params["nzx"]) * int(params["nzy"]) * int(params["cycles"]))
        assert work <= SEQUENTIAL_LIMIT[app] or key in kept, f"{app} size {preset}: no fingerprint for `{key}`"

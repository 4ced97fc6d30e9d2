"""Mapping-time errors end the process at once with one line; the expert mapper is valid and runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "mapper_cases"))
from harness import CASES, HPCMAP, ROOT, run_stencil, stencil_exe  # noqa: E402,F401


def test_division_by_zero_exits_at_once_with_one_line(stencil_exe, tmp_path):
    run = run_stencil(stencil_exe, tmp_path, CASES / "divzero.map", timeout=60)
    assert run.returncode != 0
    assert run.wall_s < 30
    lines = [x for x in run.stderr.splitlines() if x.startswith("hpcmap-mapper:")]
    assert lines == [f"hpcmap-mapper: error: {CASES / 'divzero.map'}:5: division by zero"]
    assert "HPCMAP_RESULT" not in run.stdout


def test_expert_mapper_checks_and_runs(stencil_exe):
    expert = ROOT / "benchmarks" / "stencil" / "expert.map"
    check = subprocess.run(HPCMAP + ["dsl", "check", "--app", "stencil", str(expert)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    done = subprocess.run(HPCMAP + ["run", "stencil", "--mapper", "expert", "--trials", "1", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert '"check": "pass"' in done.stdout


def test_without_policy_no_log_is_written(stencil_exe, tmp_path):
    run = run_stencil(stencil_exe, tmp_path, None)
    assert run.returncode == 0 and run.log == []

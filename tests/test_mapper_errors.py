"""Mapping-time errors end the process at once with one line; the expert mapper is valid and runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "mapper_cases"))
from harness import CASES, HPCMAP, ROOT, compile_policy, run_stencil, stencil_exe  # noqa: E402,F401


def test_division_by_zero_exits_at_once_with_one_line(stencil_exe, tmp_path):
    run = run_stencil(stencil_exe, tmp_path, CASES / "divzero.map", timeout=60)
    assert run.returncode == 3   # the mapper's own exit (mapper/die.cc), not a hang cut short by the timeout
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


def _mapper_names(prof: Path) -> set[str]:
    from hpcmap.profile.importer import load_logs

    tables, _, _ = load_logs(sorted(prof.glob("prof_*.gz")))
    return {str(r["name"]) for r in tables["mappers"]}


def test_without_policy_default_mapper_stays_and_no_log_is_written(stencil_exe, tmp_path):
    # The log is asked for, but without a policy the mapper library must not even install itself.
    names = {}
    for label, policy in (("none", []), ("policy", ["-hpcmap:policy", str(compile_policy(CASES / "block.map",
                                                                                        tmp_path / "block.json"))])):
        log, prof = tmp_path / f"log-{label}.jsonl", tmp_path / f"prof-{label}"
        prof.mkdir()
        run = run_stencil(stencil_exe, tmp_path, None, policy + ["-hpcmap:log", str(log), "-lg:prof", "1",
                                                                 "-lg:prof_logfile", str(prof / "prof_%.gz")])
        assert run.returncode == 0, run.stderr[-2000:]
        names[label] = _mapper_names(prof)
        assert log.exists() == (label == "policy")
    assert "hpcmap_policy_mapper" in names["policy"]
    assert "hpcmap_policy_mapper" not in names["none"] and names["none"]

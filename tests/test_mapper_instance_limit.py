"""InstanceLimit never hangs: real runs on cpu8 with limits below a launch's point count, on
placement tasks, on a single launch and on the inner top-level task, read through the decision log.
Compact, which would crash apps whose kernels need dense instances, is refused before any run."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "mapper_cases"))
from harness import HPCMAP, ROOT  # noqa: E402

TIMEOUT_S = 150  # a hang is the failure; a run here takes seconds on 2 cores


def task_names(app: str) -> list[str]:
    spec = tomllib.loads((ROOT / "specs" / "apps" / f"{app}.toml").read_text())
    return [t["name"] for t in spec["tasks"]]


def run_limited(app: str, mapper_text: str, tmp: Path) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """One process of `app` at its small size on cpu8 under the mapper, killed after TIMEOUT_S."""
    from hpcmap import runner

    mapper = tmp / f"{app}.map"
    mapper.write_text(mapper_text)
    plan = runner.prepare(app, "cpu8", None, str(mapper))
    log = tmp / f"{app}-decisions.jsonl"
    try:
        done = subprocess.run(plan.argv(mapper_log=log), env=plan.env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        starts = log.read_text().count("limit_start") if log.exists() else 0
        pytest.fail(f"{app} hung under InstanceLimit ({starts} slots taken in {TIMEOUT_S} s)")
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return done, lines


def assert_passed(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0 and '"check": "pass"' in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


def assert_limit_held(log: list[dict], task: str, limit: int) -> int:
    """Every slot of `task` taken is freed, never more than `limit` held; returns the slots taken."""
    held, taken, freed = 0, set(), set()
    for d in log:
        if d["call"] in ("limit_start", "limit_finish") and d["task"] == task:
            held += 1 if d["call"] == "limit_start" else -1
            assert held == d["in_flight"] and 0 <= held <= limit, d
            (taken if d["call"] == "limit_start" else freed).add(d["uid"])
    assert taken == freed
    return len(taken)


def mapped_points(log: list[dict], task: str) -> int:
    return sum(1 for d in log if d["call"] == "map_task" and d["task"] == task)


@pytest.mark.parametrize("app", ["summa", "cannon"])
def test_limit_one_on_every_task_finishes(app, tmp_path):
    # Each index launch has 8 points or more on cpu8: one slot means the points map one by one.
    names = task_names(app)
    done, log = run_limited(app, "".join(f"InstanceLimit {t} 1;\n" for t in names), tmp_path)
    assert_passed(done)
    leaves = [t for t in names if t != "top_level"]
    for task in leaves:
        assert assert_limit_held(log, task, 1) == mapped_points(log, task) > 0, task
    # The placement tasks' instances outlive them: their slots are freed when the task ends.
    assert any(t.startswith("place") or t.startswith("init") for t in leaves)
    # The top-level task launches subtasks: it takes no slot (its children would wait for it).
    assert not [d for d in log if d["call"].startswith("limit") and d["task"] == "top_level"]


def test_limit_below_a_launch_points_on_summa_check(tmp_path):
    done, log = run_limited("summa", "InstanceLimit check_cx 2;\n", tmp_path)
    assert_passed(done)
    points = mapped_points(log, "check_cx")
    assert points > 2
    assert assert_limit_held(log, "check_cx", 2) == points
    assert max(d["in_flight"] for d in log if d["call"] == "limit_start") == 2


def test_limit_on_a_single_launch(tmp_path):
    # calc_global_dt is a single (non-index) launch per cycle.
    done, log = run_limited("pennant", "InstanceLimit calc_global_dt 1;\n", tmp_path)
    assert_passed(done)
    assert assert_limit_held(log, "calc_global_dt", 1) == mapped_points(log, "calc_global_dt") > 1


@pytest.mark.parametrize("app", ["circuit", "pennant"])
def test_compact_is_refused_where_kernels_need_dense_instances(app, tmp_path):
    # Compact splits circuit's scattered ghost nodes (and pennant's shared points) into pieces,
    # which the kernels cannot index: the app would abort. The checker refuses it before any run.
    from hpcmap.dsl.app import load_app
    from hpcmap.dsl.check import check_text

    info = load_app(app)
    _, diags = check_text("Layout * * * SOA Compact;\n", "c.map", info)
    errors = [d for d in diags if d.is_error]
    assert [d.code for d in errors] == ["E311"] and "FieldView" in errors[0].message
    assert errors[0].hint == "Layout * * * SOA;"
    _, diags = check_text("Layout * * * SOA Align==64;\n", "c.map", info)
    assert not [d for d in diags if d.is_error]
    mapper = tmp_path / "compact.map"
    mapper.write_text("Layout * * * Compact;\n")
    done = subprocess.run(HPCMAP + ["run", app, "--machine", "cpu8", "--mapper", str(mapper)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("hpcmap: error:") and "E311" in done.stderr


def test_compact_stays_allowed_where_kernels_use_strides():
    from hpcmap.dsl.app import load_app
    from hpcmap.dsl.check import check_text

    _, diags = check_text("Layout * * * Compact;\n", "c.map", load_app("stencil"))
    assert not [d for d in diags if d.is_error]

"""Feedback for the agent from real runs: profile suggestions from stencil traces, mapping-time errors explained."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hpcmap.profile import summarize
from hpcmap.profile.feedback import suggestions
from hpcmap.tune import feedback
from hpcmap.tune.base import Candidate, Evaluated

REPO = Path(__file__).resolve().parent.parent
MACHINE = """name = "cpu4"
nodes = 1
[node]
cpus = 4
utility = 1
sysmem_mb = 512
"""
ONE_CPU = """Task * CPU;
m = Machine(CPU);
def first(Task task) {
    return m[0, 0];
}
IndexTaskMap * first;
"""


@pytest.fixture(scope="module")
def one_cpu_trace(tmp_path_factory) -> Path:
    """A stencil run on 4 CPUs whose mapper sends every point of every index launch to the first CPU."""
    d = tmp_path_factory.mktemp("profile")
    (d / "cpu4.toml").write_text(MACHINE)
    (d / "one.map").write_text(ONE_CPU)
    proc = subprocess.run([sys.executable, "-m", "hpcmap.cli", "run", "stencil", "--machine", str(d / "cpu4.toml"),
                           "--mapper", str(d / "one.map"), "--trials", "1", "--size", "nx=400,ny=400,steps=10",
                           "--profile", str(d / "prof")], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return d / "prof" / "trace.h5"


def test_idle_processors_and_critical_path_are_suggested(one_cpu_trace):
    summary = summarize(one_cpu_trace)
    found = suggestions(summary)
    assert summary["processors"]["CPU"]["count"] == 4
    assert any(s.startswith("CPUs are idle") and "all 4 of them" in s for s in found), found
    if summary["critical_path"].get("available"):
        assert any(s.startswith("The critical path") for s in found)
    assert suggestions(summary) == found     # deterministic


def test_profile_mode_adds_the_trace_to_the_agents_feedback(one_cpu_trace):
    from hpcmap.profile import feedback as where  # the function, even after the submodule was imported

    summary = summarize(one_cpu_trace)
    text = where(summary) + "\n" + "\n".join(suggestions(summary))
    result = Evaluated(Candidate("one", ONE_CPU), "ok", 0.5)
    with_profile = feedback.describe(result, [result], "profile", text)
    assert "Profile of this run" in with_profile and "CPUs are idle" in with_profile
    assert "Profile of this run" not in feedback.describe(result, [result], "suggest", text)


@pytest.mark.parametrize("text, explain, suggest", [
    ("""Task * CPU;
m = Machine(CPU);
def f(Task t) {
  return m[0, 99];
}
IndexTaskMap stencil f;
""", "outside the machine space", "% m.size[d]"),
    ("""Task * CPU;
m = Machine(CPU);
def f(Task t) {
  z = t.ipoint[0] - t.ipoint[0];
  return m[0, t.ipoint[1] / z];
}
IndexTaskMap stencil f;
""", "divided by zero", "Guard the divisor"),
])
def test_real_mapping_errors_are_explained(text, explain, suggest):
    """The rules match what the mapper really prints when a mapping function fails at mapping time."""
    from dataclasses import replace

    from hpcmap.evaluate import evaluate, make_requests
    from hpcmap.study import to_evaluated

    base = make_requests(["default"], "stencil", "nx=200,ny=200,steps=5", trials=1, timeout_s=120)[0]
    record = evaluate(replace(base, name="bad", mapper_text=text))
    assert record.outcome == "map_error", record.message
    described = feedback.describe(to_evaluated(record.as_dict()), [])
    assert "Explain: " in described and explain in described and suggest in described, described


def test_real_out_of_memory_is_explained(tmp_path):
    """A 16 MB system memory cannot hold a 3000x3000 grid: Legion's DefaultMapper aborts the process."""
    from hpcmap.evaluate import evaluate, make_requests
    from hpcmap.study import to_evaluated

    (tmp_path / "tiny.toml").write_text('name = "tiny"\nnodes = 1\n[node]\ncpus = 1\nutility = 1\nsysmem_mb = 16\n')
    base = make_requests(["expert"], "stencil", "nx=3000,ny=3000,steps=2", machine_name=str(tmp_path / "tiny.toml"),
                         trials=1, timeout_s=120)[0]
    record = evaluate(base)
    assert record.outcome == "crash", record.message
    described = feedback.describe(to_evaluated(record.as_dict()), [])
    assert "could not be made" in described and "fallback memory" in described, described

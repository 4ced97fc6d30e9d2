"""`hpcmap dsl ...` run as a real subprocess: exit codes, one-line errors, no tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).with_name("dsl_cases")
CMD = [sys.executable, "-m", "hpcmap.cli"]

GOOD = """mgpu = Machine(GPU);
def cyclic(Task task) {
    ip = task.ipoint;
    return mgpu[ip[0] % mgpu.size[0], ip[1] % mgpu.size[1]];
}
def nodes(Task task) { return mgpu[task.ipoint[0] % mgpu.size[0], *]; }
IndexTaskMap stencil cyclic;
IndexTaskMap increment nodes;
"""


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(CMD + ["dsl", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture()
def good(tmp_path) -> Path:
    p = tmp_path / "good.map"
    p.write_text(GOOD)
    return p


def test_check_ok(good):
    r = run("check", good, "--app", "stencil")
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_check_errors_json(tmp_path):
    p = tmp_path / "bad.map"
    p.write_text("Task stencl TPU;\nLayout * * * SOA AOS;\n")
    r = run("check", p, "--app", "stencil", "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    codes = {(d["code"], d["line"]) for d in data["diagnostics"]}
    assert {("E212", 1), ("E202", 1), ("E301", 2)} <= codes
    assert data["ok"] is False
    assert "Traceback" not in r.stderr


def test_check_human_format(tmp_path):
    p = tmp_path / "bad.map"
    p.write_text("Task * CPU\nTask * GPU;\n")
    r = run("check", p)
    assert r.returncode == 1
    assert f"{p}:1:11: error E103: missing ';' at the end of the statement" in r.stderr
    assert "hint: Task * CPU;" in r.stderr


def test_compile_writes_ir(good, tmp_path):
    out = tmp_path / "policy.json"
    r = run("compile", good, "-o", out, "--app", "stencil")
    assert r.returncode == 0, r.stderr
    ir = json.loads(out.read_text())
    assert ir["version"] == 1 and ir["index_maps"][0]["function"] == "cyclic"
    assert set(ir) >= {"tasks", "regions", "layouts", "instance_limits", "collect", "index_maps",
                       "single_maps", "control_replicate", "task_steal", "globals", "functions"}


def test_compile_refuses_invalid(tmp_path):
    p = tmp_path / "bad.map"
    p.write_text("IndexTaskMap a nothere;\n")
    r = run("compile", p, "-o", tmp_path / "x.json")
    assert r.returncode == 1
    assert "error E205" in r.stderr and "hpcmap: error:" in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_fmt_stdout_and_in_place(tmp_path):
    p = tmp_path / "f.map"
    p.write_text("Task *  GPU ,CPU;m=Machine(GPU);\n")
    r = run("fmt", p)
    assert r.returncode == 0
    assert r.stdout == "Task * GPU,CPU;\n\nm = Machine(GPU);\n"
    assert run("fmt", p, "--in-place").returncode == 0
    assert p.read_text() == r.stdout


def test_explain_json_row_major(good):
    r = run("explain", good, "--machine", CASES / "m2x4gpu.toml", "--task", "stencil", "--domain", "2x3", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["task"] == "stencil" and data["domain"] == [2, 3] and data["machine"] == "m2x4gpu"
    pts = [(p["point"], p["node"], p["processor"]) for p in data["placements"]]
    assert pts == [([0, 0], 0, 0), ([0, 1], 0, 1), ([0, 2], 0, 2), ([1, 0], 1, 0), ([1, 1], 1, 1), ([1, 2], 1, 2)]


def test_explain_set_and_grid(good):
    r = run("explain", good, "--machine", CASES / "m2x4gpu.toml", "--task", "increment", "--domain", "2", "--json")
    data = json.loads(r.stdout)
    assert data["placements"][1]["set"] == [[1, 0], [1, 1], [1, 2], [1, 3]]
    r = run("explain", good, "--machine", CASES / "m2x4gpu.toml", "--task", "stencil", "--domain", "4x4")
    assert r.returncode == 0 and "n1:GPU1" in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["check", "/nonexistent/x.map"], "no such mapper file"),
    (["explain", "GOOD", "--machine", "nosuchmachine", "--task", "stencil", "--domain", "2"], "no machine spec"),
    (["explain", "GOOD", "--machine", "M2", "--task", "stencl", "--domain", "2", "--app", "stencil"],
     "task 'stencl' is not a task of stencil; did you mean stencil"),
    (["explain", "GOOD", "--machine", "M2", "--task", "stencil", "--domain", "100000x100000"],
     "the domain 100000x100000 has 10000000000 points; explain lays out at most 65536"),
    (["explain", "GOOD", "--machine", "M2", "--task", "stencil", "--domain", "2xq"], "bad --domain"),
    (["check", "GOOD", "--app", "nosuchapp"], "no application metadata"),
])
def test_one_line_errors(good, args, needle):
    subst = {"GOOD": str(good), "M1": str(CASES / "m1x4cpu.toml"), "M2": str(CASES / "m2x4gpu.toml")}
    r = run(*[subst.get(a, a) for a in args])
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("hpcmap: error:")]
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_mapping_error_names_file_and_line(tmp_path):
    p = tmp_path / "z.map"
    p.write_text("m = Machine(CPU);\ndef f(Task t) {\n  return m[0, 4 / t.ipoint[0]];\n}\nIndexTaskMap a f;\n")
    r = run("explain", p, "--machine", CASES / "m1x4cpu.toml", "--task", "a", "--domain", "2")
    assert r.returncode == 1
    assert f"mapping error: {p}:3: division by zero" in r.stderr


ROOT = Path(__file__).resolve().parents[1]


def test_readme_explain_example_shows_the_whole_mapper():
    expert = ROOT / "benchmarks" / "stencil" / "expert.map"
    r = run("explain", expert, "--machine", "h100x4", "--task", "stencil", "--domain", "4x4", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "stencil on h100x4: runs on GPU (Task statement at line 7), as the GPU variant" in r.stdout
    assert "Legion's DefaultMapper places its points" in " ".join(r.stdout.split())
    r = run("explain", expert, "--machine", "h100x4", "--task", "stencil", "--domain", "4x4", "--app", "stencil",
            "--json", cwd=ROOT)
    data = json.loads(r.stdout)
    assert (data["kind"], data["variant"], data["function"], data["placements"]) == ("GPU", "GPU", None, [])
    regions = {x["region"]: x for x in data["regions"]}
    assert set(regions) == {"interior", "ghost"}
    assert regions["ghost"]["memory"] == "FBMEM" and regions["ghost"]["chain"] == ["FBMEM", "ZCMEM"]
    assert regions["ghost"]["layout"]["field_order"] == "SOA" and regions["ghost"]["layout"]["dim_order"] == "F"
    r = run("explain", expert, "--machine", "h100x4", "--task", "check", "--domain", "4x4", "--app", "stencil",
            "--json", cwd=ROOT)
    data = json.loads(r.stdout)
    assert data["kind"] == "CPU" and data["function"] == "block2d" and len(data["placements"]) == 16
    assert [x["memory"] for x in data["regions"]] == ["SYSMEM"]

"""Evaluating candidates for real: outcomes, the local executor, the store, resume after SIGKILL, secrets."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import h5py
import pytest

from hpcmap.dispatch.local import LocalExecutor
from hpcmap.evaluate import EvalRecord, evaluate, make_requests
from hpcmap.store import Store

REPO = Path(__file__).resolve().parent.parent
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]
SIZE = "nx=200,ny=200,steps=5"
CYCLIC = """Task * CPU;
m = Machine(CPU);
def f(Task t) {
  return m[0, t.ipoint[0] % m.size[1]];
}
IndexTaskMap stencil f;
"""
INVALID = "Task * CPU;\nIndexTaskMap stencil nosuch;\n"
DIV_ZERO = """m = Machine(CPU);
def f(Task t) {
  z = t.ipoint[0] - t.ipoint[0];
  return m[0, t.ipoint[1] / z];
}
IndexTaskMap stencil f;
"""
SECRET = "sk-hpcmap-test-3f9c1e7a55d24b0f"


def mapper_files(directory: Path, count: int, text: str = CYCLIC) -> list[str]:
    """`count` distinct mapper files (they differ by a comment, so their keys differ)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = directory / f"cand{i}.map"
        path.write_text(f"# candidate {i}\n{text}")
        paths.append(str(path))
    return paths


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*HPCMAP, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env=env or os.environ.copy())


@pytest.fixture(scope="module")
def base_request(tmp_path_factory):
    return make_requests(["default"], "stencil", SIZE, trials=2, timeout_s=60)[0]


def one(base, tmp_path: Path, text: str | None, app_args=(), **kw):
    if text is None:
        return replace(base, app_args=tuple(app_args), **kw)
    path = tmp_path / "m.map"
    path.write_text(text)
    return replace(base, name=str(path), mapper_text=text, app_args=tuple(app_args), **kw)


def test_ok_record(base_request, tmp_path):
    rec = evaluate(one(base_request, tmp_path, CYCLIC))
    assert rec.outcome == "ok", rec.message
    assert len(rec.trials) == 2 and all(t["outcome"] == "ok" for t in rec.trials)
    assert rec.stats["n"] == 2 and rec.stats["mean_s"] > 0
    assert set(rec.stats) >= {"mean_s", "median_s", "std_s", "ci95_s", "cv"}
    assert rec.ir_hash and rec.mapper_text == CYCLIC and "-hpcmap:policy" in rec.command
    again = EvalRecord.from_dict(json.loads(rec.to_json()))
    assert again == rec


def test_invalid_is_not_run(base_request, tmp_path):
    rec = evaluate(one(base_request, tmp_path, INVALID))
    assert rec.outcome == "invalid"
    assert rec.trials == [] and rec.diagnostics and "E205" in rec.diagnostics[0]


def test_hang_is_timed_out(base_request, tmp_path):
    rec = evaluate(one(base_request, tmp_path, None, ["-fault", "hang"], timeout_s=3))
    assert rec.outcome == "timeout", rec.message
    assert len(rec.trials) == 1 and "within 3 s" in rec.message   # its own timeout, not the base's 60 s
    assert rec.trials[0]["wall_s"] >= 3


def test_crash_and_wrong_answer(base_request, tmp_path):
    crash = evaluate(one(base_request, tmp_path, None, ["-fault", "crash"]))
    assert crash.outcome == "crash" and "injected crash" in crash.stderr_tail
    wrong = evaluate(one(base_request, tmp_path, None, ["-fault", "check"]))
    assert wrong.outcome == "wrong_answer"


def test_map_error(base_request, tmp_path):
    rec = evaluate(one(base_request, tmp_path, DIV_ZERO))
    assert rec.outcome == "map_error", rec.message
    assert "division by zero" in rec.stderr_tail


def test_local_executor_returns_every_candidate(base_request, tmp_path):
    reqs = [one(base_request, tmp_path, None), one(base_request, tmp_path, INVALID),
            one(base_request, tmp_path, None, ["-fault", "crash"]),
            one(base_request, tmp_path, None, ["-fault", "hang"], timeout_s=3)]
    ex = LocalExecutor(2)
    try:
        records = list(ex.submit(reqs))
    finally:
        ex.close()
    assert sorted(r.outcome for r in records) == ["crash", "invalid", "ok", "timeout"]
    assert {r.key for r in records} == {r.key for r in reqs}
    assert {r.worker["executor"] for r in records} == {"local"}


def test_cli_eval_store_show_and_bad_input(tmp_path):
    maps = mapper_files(tmp_path / "maps", 2)
    store = tmp_path / "study.h5"
    proc = run_cli("eval", "default", *maps, "--app", "stencil", "--size", SIZE, "--trials", "2",
                   "--timeout", "60", "--workers", "2", "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["study"] == "study" and len(out["candidates"]) == 3
    shown = json.loads(run_cli("store", "show", str(store), "--json").stdout)
    assert shown["study"] == "study"
    assert [c["name"] for c in shown["candidates"]][:3] and all(c["outcome"] == "ok" for c in shown["candidates"])
    means = [c["stats"]["mean_s"] for c in shown["candidates"]]
    assert means == sorted(means)
    assert shown["provenance"][0]["git_revision"] and shown["provenance"][0]["legion_version"]
    before = store.read_bytes()
    for bad in (["eval", str(tmp_path / "missing.map"), "--app", "stencil", "--store", str(store), "--resume"],
                ["eval", "default", "--app", "nosuchapp", "--store", str(store), "--resume"],
                ["eval", "default", "--app", "stencil", "--size", "bogus=1", "--store", str(store), "--resume"],
                ["eval", "default", "--app", "stencil", "--store", str(store)],
                ["store", "show", str(tmp_path / "nothing.h5")]):
        proc = run_cli(*bad)
        assert proc.returncode != 0, bad
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hpcmap: error:"), proc.stderr
    assert store.read_bytes() == before
    assert len(Store(store).records()) == 3


def test_resume_skips_finished_and_reruns_infra_errors(base_request, tmp_path):
    store = Store(tmp_path / "s.h5")
    store.create()
    done = evaluate(base_request)
    store.add(done.as_dict())
    lost = EvalRecord.for_request(replace(base_request, trials=1))
    lost.message = "worker lost"
    store.add(lost.as_dict())
    assert store.keys() == {done.key, lost.key}
    assert store.keys(include_infra_errors=False) == {done.key}
    store.add(evaluate(replace(base_request, trials=1)).as_dict())
    records = store.records()
    assert sorted(r["key"] for r in records) == sorted({done.key, lost.key})
    assert {r["outcome"] for r in records} == {"ok"}


WRITER = """
import sys, time
from hpcmap.store import Store
s = Store(sys.argv[1])
s.create()
i = len(s.keys())
while True:
    s.add({"key": f"k{i:06d}", "name": f"c{i}", "outcome": "ok", "mapper_text": "x" * 2000,
           "stats": {"mean_s": 1.0 + i, "n": 1}, "trials": [{"elapsed_s": 1.0, "wall_s": 2.0, "outcome": "ok"}],
           "stderr_tail": "e" * 4000})
    i += 1
"""


def test_store_survives_sigkill_at_any_instant(tmp_path):
    """Each attempt lets the writer add at least one record, then kills it at a varying instant."""
    path = tmp_path / "killed.h5"
    seen = 0
    for attempt in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO)
        deadline = time.monotonic() + 120   # start-up and fsync are slow on a loaded host
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if len(Store(path).keys()) > seen:
                    break
            except Exception:   # not created yet
                pass
            time.sleep(0.02)
        time.sleep(0.013 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with h5py.File(path, "r") as f:
            assert f.attrs["format"] == "hpcmap-study"
        records = Store(path).records()
        assert len(records) > seen
        assert all(len(r["mapper_text"]) == 2000 for r in records)
        seen = len(records)
    assert seen >= 12


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc's children lists."""
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += list(kids - found)
            found |= kids
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def wait_for(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def stored_keys(path: Path) -> set[str]:
    try:
        return Store(path).keys()
    except Exception:   # not created yet
        return set()


def test_sigkill_mid_study_then_resume(tmp_path):
    """The head is killed while the valid candidates hang (with a 600 s timeout none can finish
    first, however fast the host), after the head has stored the invalid ones; a resume with a short
    timeout (not part of a candidate's identity) runs only the rest."""
    invalid = mapper_files(tmp_path / "invalid", 2, INVALID)
    maps = invalid + mapper_files(tmp_path / "valid", 4)
    store = tmp_path / "study.h5"
    args = ["eval", *maps, "--app", "stencil", "--size", SIZE, "--trials", "2", "--app-args", "-fault hang",
            "--workers", "2", "--store", str(store)]
    log = open(tmp_path / "head.log", "w")
    head = subprocess.Popen([*HPCMAP, *args, "--timeout", "600"], cwd=REPO, stdout=log, stderr=log)
    try:
        wait_for(lambda: len(stored_keys(store)) >= 2 and any("-fault" in cmdline(p) for p in descendants(head.pid)))
        below = descendants(head.pid)
        head.send_signal(signal.SIGKILL)
        head.wait()
    finally:
        head.kill()
    wait_for(lambda: not any(alive(p) for p in below), timeout=30)   # the hanging apps died with it
    before = {r["key"]: r for r in Store(store).records()}
    assert sorted(r["name"] for r in before.values()) == sorted(invalid)
    assert {r["outcome"] for r in before.values()} == {"invalid"}
    proc = run_cli(*args, "--timeout", "2", "--resume", "--json")
    assert proc.returncode == 1, proc.stderr   # no valid result: every run candidate timed out
    out = json.loads(proc.stdout)
    assert out["ran"] == 4 and out["skipped"] == 2
    after = Store(store).records()
    assert sorted(r["name"] for r in after) == sorted(maps)
    assert len({r["key"] for r in after}) == 6
    assert sorted(r["outcome"] for r in after) == ["invalid"] * 2 + ["timeout"] * 4
    for r in after:
        if r["key"] in before:
            assert r["finished_at"] == before[r["key"]]["finished_at"]
    assert len(Store(store).provenance()) == 2


def test_api_key_reaches_no_file(tmp_path):
    study = tmp_path / "study"
    maps = mapper_files(study / "maps", 2)
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "HPCMAP_TEST_TOKEN": SECRET}
    proc = run_cli("eval", *maps, "default", "--app", "stencil", "--size", SIZE, "--trials", "1",
                   "--workers", "2", "--store", str(study / "study.h5"), "--profile", str(study / "prof"),
                   "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    files = [p for p in study.rglob("*") if p.is_file()]
    assert any(p.name.startswith("prof_") for p in files)
    leaks = [p for p in files if SECRET.encode() in _contents(p)]
    assert leaks == []


def _contents(path: Path) -> bytes:
    import gzip

    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data += gzip.decompress(data)
        except (OSError, EOFError):
            pass
    return data

"""`hpcmap tune --optimizer agent` end to end: real Legion runs, the real openai client and trace-opt,
and a loopback OpenAI-compatible server playing the LLM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hpcmap.store import Store
from llm_server import Gone, Hang, ScriptedLLM, Status, suggest
from test_eval_local import HPCMAP, REPO, SIZE

KEY = "sk-hpcmap-tune-test-77c2a9d04e"
GOOD = {"task_placement": "Task * CPU;", "region_placement": "Region * * CPU SYSMEM;"}
LAYOUT = {"layout": "Layout * * * SOA C_order;"}
BAD_NAME = {"task_placement": "Task nosuch CPU;"}
EMPTY = json.dumps({"reasoning": "nothing to change", "answer": "", "suggestion": {}})

pytestmark = pytest.mark.slow


def tune_argv(store: Path, budget: int, *extra: str) -> list[str]:
    return HPCMAP + ["tune", "stencil", "--optimizer", "agent", "--budget", str(budget), "--trials", "1",
                     "--size", SIZE, "--store", str(store), "--json", *extra]


def env_for(server: ScriptedLLM) -> dict[str, str]:
    return {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": KEY}


def tune(server: ScriptedLLM, store: Path, budget: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(tune_argv(store, budget, *extra), cwd=REPO, env=env_for(server), capture_output=True,
                          text=True, timeout=900)


def agent_records(store: Path) -> list[dict]:
    records = [r for r in Store(store).records() if (r.get("study") or {}).get("optimizer") == "agent"]
    return sorted(records, key=lambda r: r["study"]["iteration"])


def exchanges(store: Path, candidate: str | None = None) -> list[dict]:
    """The study's LLM exchange log, or the part that led to one candidate."""
    log = Store(store).llm_exchanges()
    return log if candidate is None else [x for x in log if x["tags"].get("candidate") == candidate]


def show_json(store: Path) -> dict:
    return json.loads(subprocess.run(HPCMAP + ["store", "show", str(store), "--json"], cwd=REPO,
                                     capture_output=True, text=True, check=True).stdout)


def assert_tokens_match(log: list[dict], *servers: ScriptedLLM) -> None:
    """The stored token counts are the ones the servers reported in `usage`, call for call."""
    assert sum(x["prompt_tokens"] for x in log) == sum(s.prompt_tokens for s in servers) > 0
    assert sum(x["completion_tokens"] for x in log) == sum(s.completion_tokens for s in servers) > 0


def assert_no_key(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_improving_replies_are_run_recorded_and_the_key_stays_off_disk(tmp_path):
    store = tmp_path / "study.h5"
    with ScriptedLLM([suggest(GOOD), suggest(LAYOUT)], default=Hang(60)) as server:
        proc = tune(server, store, 3, "--llm-timeout", "1", "--price-in", "2.5", "--price-out", "10")
    # The third iteration's LLM never answers: one clear line, the measured results kept.
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("hpcmap: error: LLM endpoint")
    assert "did not answer within 1 s" in proc.stderr and "Traceback" not in proc.stderr
    first, second = agent_records(store)
    assert first["outcome"] == second["outcome"] == "ok"
    assert "Region * * CPU SYSMEM;" in first["mapper_text"] and "C_order" in second["mapper_text"]
    assert "Region * * CPU SYSMEM;" in second["mapper_text"]          # applied on top of the first
    log = exchanges(store)
    assert [x["tags"]["candidate"] for x in log[:2]] == [first["name"], second["name"]]
    assert log[2]["error"].startswith("did not answer") and log[2]["iteration"] == 3   # the unanswered call too
    assert_tokens_match(log, server)
    assert all(x["cost"] == pytest.approx((x["prompt_tokens"] * 2.5 + x["completion_tokens"] * 10) / 1e6)
               for x in log)
    assert "Execution time" in log[1]["messages"][1]["content"]   # the first candidate's result fed back
    shown = show_json(store)
    assert shown["candidates"][0]["outcome"] == "ok"
    assert shown["llm"]["calls"] == 3 and shown["llm"]["exchanges"] == log
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"
    assert_no_key(tmp_path)


def test_bad_replies_cost_no_run_and_the_tune_ends_valid(tmp_path):
    store = tmp_path / "study.h5"
    script = ["{not json", suggest(BAD_NAME), Status(429), Status(500), suggest(GOOD)]
    with ScriptedLLM(script, default=EMPTY) as server:
        proc = tune(server, store, 2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["best"]["outcome"] == "ok"
    [only] = agent_records(store)                 # the empty suggestions of iteration 2 proposed nothing
    assert only["outcome"] == "ok" and "nosuch" not in only["mapper_text"]
    mine = exchanges(store, only["name"])
    assert [x["tags"]["purpose"] for x in mine] == ["propose", "repair", "repair"]
    assert mine[0]["reply"] == "{not json"
    assert "fails the static check" in mine[2]["messages"][1]["content"]
    assert not [r for r in Store(store).records() if r["outcome"] == "invalid"]
    assert len(server.requests) == 5 + 4          # 429 and 500 retried; 1 + 3 repairs of the empty replies
    log = exchanges(store)                        # iteration 2's four calls are kept although they gave nothing
    assert [x["iteration"] for x in log] == [1, 1, 1, 2, 2, 2, 2]
    assert [x["tags"]["candidate"] for x in log[3:]] == [None] * 4 and log[-1]["tags"]["result"] == "no_candidate"
    assert_tokens_match(log, server)
    assert result["llm"]["calls"] == 7 and result["llm"]["iterations_without_candidate"] == 1


def test_resume_after_sigkill_mid_iteration_continues_from_the_stored_history(tmp_path):
    store = tmp_path / "study.h5"
    with ScriptedLLM([suggest(GOOD)], default=Hang(300)) as server:
        proc = subprocess.Popen(tune_argv(store, 2, "--llm-timeout", "250"), cwd=REPO, env=env_for(server),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 600
            while len(server.requests) < 2 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            assert len(server.requests) == 2, "the second iteration never asked the LLM"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    [first] = agent_records(store)
    with ScriptedLLM([suggest(LAYOUT)], default=EMPTY) as server:
        resumed = tune(server, store, 2, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    prompt = server.requests[0]["messages"][1]["content"]
    assert "Region * * CPU SYSMEM" in prompt and "Execution time" in prompt   # the stored candidate is the base
    records = Store(store).records()
    assert sum(r["name"] == "default" and r["study"]["role"] == "baseline" for r in records) == 1
    agents = agent_records(store)
    assert [r["name"] for r in agents][0] == first["name"] and len(agents) == 2
    assert "Region * * CPU SYSMEM;" in agents[1]["mapper_text"] and "C_order" in agents[1]["mapper_text"]


def test_batch_proposes_distinct_candidates_in_one_iteration(tmp_path):
    store = tmp_path / "study.h5"
    with ScriptedLLM([suggest(GOOD), suggest(GOOD), suggest(LAYOUT)], default=EMPTY) as server:
        proc = tune(server, store, 2, "--batch", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = agent_records(store)
    assert [r["study"]["iteration"] for r in records] == [1, 1]
    assert records[0]["mapper_text"] != records[1]["mapper_text"]
    repeated = next(exchanges(store, r["name"]) for r in records if len(exchanges(store, r["name"])) == 2)
    assert "already measured" in repeated[1]["messages"][1]["content"]   # the repeat was sent back, not run
    assert len(server.requests) == 3


def test_the_exchange_log_survives_the_server_going_away_and_grows_on_resume(tmp_path):
    store = tmp_path / "study.h5"
    with ScriptedLLM([suggest(GOOD), Gone()]) as gone:
        proc = tune(gone, store, 3)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("hpcmap: error: LLM endpoint")
    assert "is not reachable" in proc.stderr
    [first] = agent_records(store)
    log = exchanges(store)
    assert len(log) == 2 and log[0]["tags"]["candidate"] == first["name"]
    assert "not reachable" in log[1]["error"] and "result" not in log[1]["tags"]   # cut short: not an iteration
    assert_tokens_match(log, gone)
    with ScriptedLLM([suggest(LAYOUT)], default=EMPTY) as back:
        resumed = tune(back, store, 3, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    log = exchanges(store)
    assert len(log) == 2 + 1 + 4 and log[:2] == exchanges(store)[:2]          # appended, never rewritten
    assert [x["iteration"] for x in log[2:]] == [3, 4, 4, 4, 4]               # numbered on from the first session
    assert_tokens_match(log, gone, back)
    assert json.loads(resumed.stdout)["llm"]["iterations"] == 3               # two with candidates, one without
    assert_no_key(tmp_path)


def test_iterations_without_a_valid_candidate_count_toward_the_budget_and_are_reported(tmp_path):
    store = tmp_path / "study.h5"
    script = [EMPTY, EMPTY, suggest(BAD_NAME), suggest(BAD_NAME), suggest(GOOD)]
    with ScriptedLLM(script, default=EMPTY) as server:
        proc = tune(server, store, 3, "--max-repairs", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(server.requests) == 5                          # three iterations, then the budget is spent
    result = json.loads(proc.stdout)
    assert result["best"]["outcome"] == "ok"
    assert {k: result["llm"][k] for k in ("calls", "iterations", "iterations_without_valid_candidate",
                                            "iterations_still_invalid", "iterations_without_candidate")} == {
        "calls": 5, "iterations": 3, "iterations_without_valid_candidate": 2, "iterations_still_invalid": 1,
        "iterations_without_candidate": 1}
    invalid, ok = agent_records(store)
    assert (invalid["outcome"], invalid["study"]["iteration"]) == ("invalid", 2)
    assert (ok["outcome"], ok["study"]["iteration"]) == ("ok", 3)
    assert result["best"]["name"] != invalid["name"]
    assert [x["iteration"] for x in exchanges(store)] == [1, 1, 2, 2, 3]
    assert_tokens_match(exchanges(store), server)
    assert show_json(store)["llm"]["iterations_without_valid_candidate"] == 2
    shown = subprocess.run(HPCMAP + ["store", "show", str(store)], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout
    assert "3 iteration(s), 2 without a valid candidate (1 still invalid after the repairs, 1 with no candidate)" \
        in shown
    report = subprocess.run(HPCMAP + ["report", str(store)], cwd=REPO, capture_output=True, text=True, check=True)
    page = Path(report.stdout.strip()).read_text()
    assert "<td>iterations without a valid candidate</td><td>2</td>" in page


def test_profile_feedback_profiles_each_candidate_under_the_stores_folder(tmp_path):
    store = tmp_path / "study.h5"
    with ScriptedLLM([suggest(GOOD), suggest(LAYOUT)], default=EMPTY) as server:
        proc = tune(server, store, 2, "--feedback", "profile")          # no --profile DIR
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, second = agent_records(store)
    logs = tmp_path / "study.tune" / "profiles"
    for record in (first, second):
        assert record["outcome"] == "ok" and record["trace"] == f"runs/{record['key']}"
        assert list((logs / record["key"]).glob("prof_*")), record["name"]
    prompt = exchanges(store, second["name"])[0]["messages"][1]["content"]
    assert "Profile of this run" in prompt and "Execution time" in prompt    # the first candidate's trace fed back


def test_start_expert_is_where_the_agent_begins_and_is_fixed_for_the_study(tmp_path):
    store = tmp_path / "study.h5"
    with ScriptedLLM([suggest(LAYOUT)], default=EMPTY) as server:
        proc = tune(server, store, 1, "--start", "expert")
    assert proc.returncode == 0, proc.stderr[-2000:]
    [first] = agent_records(store)
    assert "from expert" in first["study"]["origin"] and "IndexTaskMap check block2d;" in first["mapper_text"]
    assert Store(store).meta()["start"] == "expert"
    with ScriptedLLM(default=EMPTY) as server:
        refused = tune(server, store, 2, "--resume", "--start", "default")
    assert refused.returncode != 0 and "start expert" in refused.stderr and "Traceback" not in refused.stderr
    assert not server.requests

"""The LLM agent's propose() through the real openai client and trace-opt, against a loopback server."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcmap.errors import UserError
from hpcmap.machine import load
from hpcmap.tune import agent, feedback, llm
from hpcmap.tune import parts as mapper_parts
from hpcmap.tune.base import Candidate, Context, Evaluated
from llm_server import Body, Hang, ScriptedLLM, Status, suggest, suggest_code

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-hpcmap-agent-test-5d1c0e9b"
DEFAULT = Evaluated(Candidate("default", ""), "ok", 1.0, {"median_s": 1.0})
GOOD = {"task_placement": "Task * CPU;", "region_placement": "Region * * CPU SYSMEM;"}
BAD_NAME = {"task_placement": "Task nosuch CPU;"}


def make(server: ScriptedLLM, monkeypatch, app: str = "stencil", **options) -> agent.AgentOptimizer:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    options = {"timeout": 5, "retries": 2, **options}
    return agent.make(Context(app=app, machine=load("cpu8"), options=options))


def user_prompt(exchange: llm.Exchange) -> str:
    return next(m["content"] for m in exchange.messages if m["role"] == "user")


def test_improving_reply_becomes_a_checked_candidate(monkeypatch):
    with ScriptedLLM([suggest(GOOD)]) as server:
        opt = make(server, monkeypatch, price_in=2.5, price_out=10)
        [cand] = opt.propose([DEFAULT], 1)
    assert "Task * CPU;" in cand.text and "Region * * CPU SYSMEM;" in cand.text
    assert "task_placement" in cand.origin and "region_placement" in cand.origin
    [ex] = opt.last_exchanges
    assert (ex.prompt_tokens, ex.completion_tokens) == (server.prompt_tokens, server.completion_tokens) != (0, 0)
    assert ex.cost == pytest.approx((ex.prompt_tokens * 2.5 + ex.completion_tokens * 10) / 1e6)
    prompt = user_prompt(ex)
    assert "Execution time: 1 s" in prompt and "IndexTaskMap" in prompt and "'ghost'" in prompt
    assert server.requests[0]["model"] == llm.DEFAULT_MODEL
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"          # the key is sent ...
    assert KEY not in json.dumps([e.as_dict() for e in opt.last_exchanges])  # ... and never recorded


@pytest.mark.parametrize("bad", ["{not json at all", json.dumps({"reasoning": "x", "suggestion": {}}), "", "TERMINATE"])
def test_unusable_reply_is_repaired_without_an_evaluation(monkeypatch, bad):
    with ScriptedLLM([bad, suggest(GOOD)]) as server:
        opt = make(server, monkeypatch)
        [cand] = opt.propose([DEFAULT], 1)
    assert "Task * CPU;" in cand.text
    first, second = opt.last_exchanges
    assert first.tags["purpose"] == "propose" and second.tags["purpose"] == "repair"
    assert first.reply == bad
    assert any(w in user_prompt(second) for w in ("not valid JSON", "no suggestion", "empty", "Do not stop"))


def test_invalid_mapper_is_sent_back_then_returned_invalid_when_repairs_run_out(monkeypatch):
    with ScriptedLLM(default=suggest(BAD_NAME)) as server:
        opt = make(server, monkeypatch, max_repairs=2)
        [cand] = opt.propose([DEFAULT], 1)
    assert len(server.requests) == 3 and "nosuch" in cand.text and "still invalid" in cand.origin
    repair = user_prompt(opt.last_exchanges[1])
    assert "fails the static check" in repair and "nosuch" in repair and "error E" in repair
    taken = opt.take_exchanges()
    assert [x["tags"].get("result") for x in taken] == [None, None, llm.STILL_INVALID]
    assert {x["tags"]["candidate"] for x in taken} == {cand.name} and opt.take_exchanges() == []


def test_invalid_then_fixed(monkeypatch):
    with ScriptedLLM([suggest(BAD_NAME), suggest(GOOD)]) as server:
        opt = make(server, monkeypatch)
        [cand] = opt.propose([DEFAULT], 1)
    assert "nosuch" not in cand.text and "Task * CPU;" in cand.text and len(server.requests) == 2


def test_raising_code_is_sent_back(monkeypatch):
    broken = {"layout": "def layout(machine, app):\n    return app['no such key']\n"}
    fixed = {**GOOD, "layout": "Layout * * * SOA F_order;"}
    with ScriptedLLM([suggest_code(broken), suggest(fixed)]) as server:
        opt = make(server, monkeypatch)
        [cand] = opt.propose([DEFAULT], 1)
    assert cand.text == "Layout * * * SOA F_order;\n"   # the error's graph holds only the function that raised
    assert "KeyError" in user_prompt(opt.last_exchanges[1])


def test_already_measured_mapper_is_not_proposed_again(monkeypatch):
    measured = Evaluated(Candidate("agent-002", "Task * CPU;\nRegion * * CPU SYSMEM;\n"), "ok", 0.9)
    with ScriptedLLM(default=suggest(GOOD)) as server:
        opt = make(server, monkeypatch, max_repairs=1)
        assert opt.propose([DEFAULT, measured], 1) == []
    assert "already measured" in user_prompt(opt.last_exchanges[1])


def test_empty_suggestions_end_with_nothing_and_a_record(monkeypatch):
    with ScriptedLLM(default=json.dumps({"reasoning": "none", "suggestion": {}})) as server:
        opt = make(server, monkeypatch, max_repairs=1)
        assert opt.propose([DEFAULT], 1) == []
    assert len(opt.last_exchanges) == 2 and all(e.reply for e in opt.last_exchanges)
    taken = opt.take_exchanges()      # what the study logs: the slot gave nothing, and says so
    assert [x["tags"]["candidate"] for x in taken] == [None, None]
    assert [x["tags"].get("result") for x in taken] == [None, llm.NO_CANDIDATE]
    assert llm.totals(taken)["iterations_without_candidate"] == 1


@pytest.mark.parametrize("code", [429, 500])
def test_http_errors_are_retried(monkeypatch, code):
    with ScriptedLLM([Status(code), Status(code), suggest(GOOD)]) as server:
        opt = make(server, monkeypatch, retries=2)
        [cand] = opt.propose([DEFAULT], 1)
    assert len(server.requests) == 3 and "Task * CPU;" in cand.text


def test_persistent_500_is_one_clear_error(monkeypatch):
    with ScriptedLLM(default=Status(500)) as server:
        opt = make(server, monkeypatch, retries=1)
        with pytest.raises(llm.LLMUnavailable, match=r"answered HTTP 500 after 1 retries"):
            opt.propose([DEFAULT], 1)
    assert len(server.requests) == 2          # one try and one retry; no second round without response_format
    assert opt.last_exchanges[-1].error.startswith("HTTP 500")


def test_hanging_server_times_out(monkeypatch):
    # The server closes the connection after 30 s without an answer; only the client's own timeout
    # gives "did not answer within 1 s" (a closed connection reads "is not reachable").
    with ScriptedLLM(default=Hang(30)) as server:
        opt = make(server, monkeypatch, timeout=1, retries=0)
        with pytest.raises(llm.LLMUnavailable, match="did not answer within 1 s"):
            opt.propose([DEFAULT], 1)
    assert opt.last_exchanges[-1].error.startswith("did not answer")


def test_unreadable_body_is_repaired(monkeypatch):
    with ScriptedLLM([Body("<html>proxy error</html>"), suggest(GOOD)]) as server:
        opt = make(server, monkeypatch)
        [cand] = opt.propose([DEFAULT], 1)
    assert "Task * CPU;" in cand.text and opt.last_exchanges[0].error


def test_no_endpoint_and_unreachable_endpoint(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="no LLM endpoint configured"):
        agent.make(Context(app="stencil", machine=load("cpu8")))
    with ScriptedLLM() as server:
        url = server.base_url                  # the port is closed once the server is gone
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    opt = agent.make(Context(app="stencil", machine=load("cpu8"), options={"retries": 0, "timeout": 5}))
    with pytest.raises(llm.LLMUnavailable, match="is not reachable"):
        opt.propose([DEFAULT], 1)


def test_batch_gives_distinct_candidates(monkeypatch):
    second = {"task_placement": "Task * CPU;", "layout": "Layout * * * SOA C_order;"}
    with ScriptedLLM([suggest(GOOD), suggest(GOOD), suggest(second)]) as server:
        opt = make(server, monkeypatch)
        cands = opt.propose([DEFAULT], 2)
    assert len(cands) == 2 and cands[0].text != cands[1].text and len(server.requests) == 3
    assert len({c.name for c in cands}) == 2


def test_stateless_resume_starts_from_the_history(monkeypatch):
    """A fresh agent (as after a restart) continues from the best of the last batch, earlier results in memory."""
    last = Evaluated(Candidate("agent-002", "Task * CPU;\n\nLayout * * * SOA F_order;\n"), "ok", 0.8)
    crashed = Evaluated(Candidate("agent-001", "Task * CPU;\n"), "crash", None, {},
                        "killed by signal SIGSEGV: Segmentation fault")
    with ScriptedLLM([suggest({"region_placement": "Region * * CPU SYSMEM;"})]) as server:
        opt = make(server, monkeypatch)
        [cand] = opt.propose([DEFAULT, crashed, last], 1)
    assert "Layout * * * SOA F_order;" in cand.text and "Region * * CPU SYSMEM;" in cand.text
    prompt = user_prompt(opt.last_exchanges[0])
    assert "SIGSEGV" in prompt and "Execution time: 0.8 s" in prompt


@pytest.mark.parametrize("app", ["stencil", "circuit", "pennant"])
def test_expert_mappers_split_into_parts_and_join_back(app):
    from hpcmap.dsl.app import load_app
    from hpcmap.dsl.check import check_text

    text = (REPO / "benchmarks" / app / "expert.map").read_text()
    parts = mapper_parts.split_parts(text)
    joined = mapper_parts.join_parts([parts[p] for p in mapper_parts.PARTS])
    assert mapper_parts.mapper_key(joined) == mapper_parts.mapper_key(text)
    assert parts["task_placement"].count("Task ") == text.count("\nTask ") + text.startswith("Task ")
    _, diags = check_text(joined, app, load_app(app))
    assert not [d for d in diags if d.is_error]
    source = agent.part_source("index_mapping", parts["index_mapping"])
    namespace: dict = {}
    exec(source, namespace)
    assert namespace["index_mapping"]({}, {}).strip() == parts["index_mapping"].strip()


def test_feedback_modes_and_rules():
    hist = [DEFAULT, Evaluated(Candidate("b", "Task * CPU;"), "ok", 0.5)]
    fast = Evaluated(Candidate("c", "Task * GPU;"), "ok", 0.25, {"cv": 0.02})
    text = feedback.describe(fast, hist, "suggest")
    assert "0.25 s" in text and "4.000x" in text and "2.000x" in text and "best so far" in text
    raw = feedback.describe(fast, hist, "raw")
    assert "0.25 s" in raw and "Speedup" not in raw and "Suggest" not in raw
    oom = Evaluated(Candidate("d", "x"), "map_error", message="hpcmap-mapper: error: m:3: cannot make an instance "
                                                               "of region 0 of task 'stencil' with this layout in FBMEM")
    assert "Explain:" not in feedback.describe(oom, hist, "raw")
    assert "Suggest:" not in feedback.describe(oom, hist, "explain")
    assert "ZCMEM" in feedback.describe(oom, hist, "suggest")
    layout = Evaluated(Candidate("l", "x"), "crash", message="killed by signal SIGABRT: matmul: gemm needs row-major "
                                                             "(SOA, C_order) instances; region 0 has element strides (1, 8)")
    assert "layout is not the one the task's kernel expects" in feedback.describe(layout, hist)
    crash = Evaluated(Candidate("e", "x"), "crash", message="killed by signal SIGABRT")
    assert "SIGABRT" in feedback.describe(crash, hist, "explain")
    timeout = Evaluated(Candidate("f", "x"), "timeout", message="did not finish within 5 s and was killed")
    assert "best mapper so far" in feedback.describe(timeout, hist)
    invalid = Evaluated(Candidate("g", "x"), "invalid", message="m:1:6: error E201: unknown task 'x'\n  hint: Task stencil CPU;")
    assert "Task stencil CPU;" in feedback.describe(invalid, hist)
    assert "Profile of this run" in feedback.describe(fast, hist, "profile", profile="Span 1 s")
    with pytest.raises(ValueError):
        feedback.describe(fast, hist, "loud")


def test_refused_key_is_one_clear_error_without_a_second_request(monkeypatch):
    with ScriptedLLM(default=Status(401)) as server:
        opt = make(server, monkeypatch)
        with pytest.raises(UserError, match=r"refused the request \(HTTP 401\): check OPENAI_API_KEY"):
            opt.propose([DEFAULT], 1)
    assert len(server.requests) == 1


def test_server_without_json_mode_is_asked_again_without_it(monkeypatch):
    with ScriptedLLM([Status(400), suggest(GOOD)]) as server:
        opt = make(server, monkeypatch)
        [cand] = opt.propose([DEFAULT], 1)
    assert "Task * CPU;" in cand.text
    assert "response_format" in server.requests[0] and "response_format" not in server.requests[1]
    assert opt.last_exchanges[0].error.startswith("HTTP 400")


def test_the_language_reference_example_passes_the_checker():
    """The reference in every prompt shows a mapper; it must stay valid as the language evolves."""
    from hpcmap.dsl.app import load_app
    from hpcmap.dsl.check import check_text

    text = agent.LANGUAGE.read_text()
    example = text.split("## Example", 1)[1].split("```")[1]
    _, diags = check_text(example, "example", load_app("circuit"))
    assert example.count(";") >= 8 and not [d.format() for d in diags if d.is_error]


def test_profile_feedback_turns_on_profiling_under_the_store_unless_a_folder_is_named(tmp_path):
    from argparse import Namespace

    from hpcmap.tune.commands import profile_dir

    store = str(tmp_path / "runs" / "s1.h5")
    default = tmp_path / "runs" / "s1.tune" / "profiles"
    assert profile_dir(Namespace(profile=None, feedback="profile", store=store)) == default
    assert profile_dir(Namespace(profile="elsewhere", feedback="profile", store=store)) == Path("elsewhere")
    assert profile_dir(Namespace(profile=None, feedback="suggest", store=store)) is None


@pytest.mark.parametrize("start", ["default", "expert"])
def test_the_first_iteration_starts_from_the_chosen_mapper(monkeypatch, start):
    expert_text = (REPO / "benchmarks" / "stencil" / "expert.map").read_text()
    baselines = [Evaluated(Candidate("default", "", "baseline"), "ok", 1.0, {"median_s": 1.0}),
                 Evaluated(Candidate("expert", expert_text, "baseline"), "ok", 0.5, {"median_s": 0.5})]
    with ScriptedLLM([suggest({"layout": "Layout * * * SOA C_order;"})]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        opt = agent.make(Context(app="stencil", machine=load("cpu8"), start_text=expert_text if start == "expert"
                                 else "", options={"timeout": 5, "retries": 0}))
        [cand] = opt.propose(list(reversed(baselines)) if start == "default" else baselines, 1)
    assert f"from {start}," in cand.origin and "Layout * * * SOA C_order;" in cand.text
    assert ("IndexTaskMap check block2d;" in cand.text) == (start == "expert")
    assert "Layout * * * SOA F_order" not in cand.text           # the layout part was replaced

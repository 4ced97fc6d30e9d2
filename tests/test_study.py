"""The study loop with real Legion runs: a valid answer whatever the candidates do, the incumbent rule,
nothing run twice, best.map that passes the checker."""
from __future__ import annotations

import subprocess

import pytest

from hpcmap import study
from hpcmap.dispatch.local import LocalExecutor
from hpcmap.evaluate import make_requests
from hpcmap.store import Store
from hpcmap.tune.base import Candidate
from test_eval_local import CYCLIC, DIV_ZERO, HPCMAP, INVALID, REPO, SIZE

OUT_OF_RANGE = """Task * CPU;
m = Machine(CPU);
def f(Task t) {
  return m[0, 99];
}
IndexTaskMap stencil f;
"""


class Planted:
    """Proposes a fixed sequence in batches; most of it fails (division by zero, out-of-range map, static errors)."""

    name = "planted"

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.calls: list[int] = []

    def propose(self, history, k):
        self.calls.append(len(history))
        seen = {e.candidate.text for e in history}
        todo = [t for t in self.texts if t not in seen][:k]
        return [Candidate(f"planted-{self.texts.index(t)}", t, "planted") for t in todo]


@pytest.fixture(scope="module")
def base():
    return make_requests(["default"], "stencil", SIZE, trials=2, timeout_s=60)[0]


def expert_text() -> str:
    return (REPO / "benchmarks" / "stencil" / "expert.map").read_text()


def test_mostly_failing_candidates_still_end_valid(base, tmp_path):
    texts = [DIV_ZERO, OUT_OF_RANGE, INVALID, f"# variant\n{OUT_OF_RANGE}", f"# cyclic\n{CYCLIC}"]
    ex = LocalExecutor(1)
    try:
        with study.open_store(tmp_path / "s.h5", base, resume=False) as (store, _):
            run = study.Study(store, base, ex)
            outcome = study.tune(run, Planted(texts), budget=len(texts), batch=2,
                                 baselines={"default": None, "expert": expert_text()})
    finally:
        ex.close()
    records = Store(tmp_path / "s.h5").records()
    by_name = {r["name"]: r for r in records if (r.get("study") or {}).get("role") != "remeasure"}
    assert by_name["planted-0"]["outcome"] == "map_error" and by_name["planted-1"]["outcome"] == "map_error"
    assert by_name["planted-2"]["outcome"] == "invalid" and by_name["planted-2"]["worker"]["executor"] == "head"
    assert by_name["planted-4"]["outcome"] == "ok"
    assert outcome.best["outcome"] == "ok" and outcome.best["name"] in ("default", "expert", "planted-4")
    assert outcome.evaluations == 7 and len({r["key"] for r in records}) == len(records)
    assert outcome.stats["n"] == 4          # 2 trials + 2 interleaved re-measurements
    assert outcome.speedup_vs_default and outcome.speedup_vs_expert
    target = study.write_mapper(outcome, tmp_path / "best.map", "stencil", "local")
    check = subprocess.run([*HPCMAP, "dsl", "check", str(target), "--app", "stencil"], capture_output=True,
                           text=True, cwd=REPO, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_resumed_study_runs_nothing_twice(base, tmp_path):
    texts = [f"# {i}\n{CYCLIC}" for i in range(4)]
    path = tmp_path / "s.h5"
    ex = LocalExecutor(1)
    try:
        with study.open_store(path, base, resume=False) as (store, _):
            study.Study(store, base, ex).search(Planted(texts), budget=2, batch=1)
        first = {r["key"]: r["finished_at"] for r in Store(path).records()}
        planted = Planted(texts)
        with study.open_store(path, base, resume=True) as (store, _):
            run = study.Study(store, base, ex)
            run.search(planted, budget=4, batch=1)
    finally:
        ex.close()
    after = Store(path).records()
    assert len(first) == 2 and run.ran == 2 and len(after) == 4
    assert planted.calls[0] == 2                       # the optimizer saw the stored history
    for r in after:
        if r["key"] in first:
            assert r["finished_at"] == first[r["key"]]
    assert sorted(r["name"] for r in after) == [f"planted-{i}" for i in range(4)]


def test_other_settings_are_refused(base, tmp_path):
    path = tmp_path / "s.h5"
    with study.open_store(path, base, resume=False, meta={"optimizer": "planted"}):
        pass
    from dataclasses import replace

    from hpcmap.errors import UserError

    for other, meta, word in ((replace(base, trials=3), {}, "trials"), (replace(base, app="circuit"), {}, "app"),
                              (replace(base, params={**base.params, "nx": "300"}), {}, "size"),
                              (base, {"optimizer": "other"}, "optimizer")):
        with pytest.raises(UserError, match=word):
            with study.open_store(path, other, resume=True, meta=meta):
                pass
    with study.open_store(path, base, resume=True, meta={"optimizer": "planted"}):
        with pytest.raises(UserError, match="in use by hpcmap process"):
            with Store(path).lock():
                pass


def _record(name: str, times: list[float], iteration: int, role: str = "candidate", outcome: str = "ok") -> dict:
    from hpcmap.stats import summarize

    return {"key": name, "name": name, "outcome": outcome, "mapper_text": name, "finished_at": float(iteration),
            "trials": [{"outcome": "ok", "elapsed_s": t} for t in times], "stats": summarize(times),
            "study": {"role": role, "iteration": iteration}}


def test_incumbent_changes_only_beyond_noise():
    default = _record("default", [1.00, 1.02, 0.98, 1.01, 0.99], 0, "baseline")
    within = _record("within", [0.97, 1.03, 0.95, 1.02, 0.98], 1)
    faster = _record("faster", [0.50, 0.51, 0.49, 0.50, 0.52], 2)
    assert study.incumbent([default, within])["name"] == "default"
    assert study.incumbent([default, within, faster])["name"] == "faster"
    flaky = [_record("faster.r0", [0.5], 0, "remeasure", outcome="crash")]
    flaky[0]["study"]["of"] = "faster"
    assert study.answer([default, within, faster]).best["name"] == "faster"
    assert study.answer([default, within, faster, *flaky]).best["name"] == "default"
    expert = _record("expert", [0.97, 1.01, 0.99, 1.00, 0.98], 0, "baseline")
    assert study.incumbent([default, expert, within])["name"] == "expert"    # the faster baseline by median
    rows = study.history_rows([default, within, faster])
    assert [r["best_so_far_s"] for r in rows] == [1.00, 1.00, 0.50]

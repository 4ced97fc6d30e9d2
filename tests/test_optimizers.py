"""The optimizers' proposal logic, on synthetic histories.

The timings here are made up by a formula over the space's coordinates: these tests check what an
optimizer proposes given a history (new, valid, never repeated, reproducible by seed, moving toward
a better coordinate), not how fast any mapper is. Real runs are in the study's tests.
"""
from __future__ import annotations

import pytest

from hpcmap import machine
from hpcmap.dsl.app import load_app
from hpcmap.dsl.check import check_text
from hpcmap.errors import UserError
from hpcmap.tune.base import Candidate, Context, Evaluated
from hpcmap.tune.optimizers import OPTIMIZERS, make_optimizer
from hpcmap.tune.space import space_for

SPACE_OPTIMIZERS = ("random", "ccd", "opentuner", "tpe")
GPU = machine.load("h100x4")


def synthetic_time(point: dict | None) -> float:
    """Made-up seconds: CPU stencil and zero-copy increment are faster; a cyclic map crashes."""
    point = point or {}
    t = 1.0
    if point.get("kind/stencil") == "CPU,GPU":
        t -= 0.3
    if point.get("memory/increment/private") == "ZCMEM":
        t -= 0.1
    if point.get("layout/*") == "AOS C_order":
        t += 0.2
    return t


def measure(c: Candidate) -> Evaluated:
    if (c.point or {}).get("map/increment") == "cyclic":
        return Evaluated(c, "crash", message="synthetic crash")
    t = synthetic_time(c.point)
    return Evaluated(c, "ok", t, {"median_s": t, "ci95_s": 0.005})


def default_history() -> list[Evaluated]:
    return [measure(Candidate("default", "")),
            Evaluated(Candidate("expert", "Task * GPU,CPU;\n"), "ok", 0.95, {})]


def context(tmp_path, seed: int = 7, app: str = "stencil") -> Context:
    return Context(app=app, machine=GPU, seed=seed, study_dir=str(tmp_path))


def run_rounds(opt, history: list[Evaluated], rounds: int, k: int) -> list[list[Candidate]]:
    batches = []
    for _ in range(rounds):
        batch = opt.propose(history, k)
        batches.append(batch)
        history.extend(measure(c) for c in batch)
    return batches


def test_unknown_optimizer_is_a_user_error_with_the_choices(tmp_path):
    with pytest.raises(UserError) as err:
        make_optimizer("annealing", context(tmp_path))
    assert all(name in str(err.value) for name in OPTIMIZERS)
    assert "agent" in OPTIMIZERS and OPTIMIZERS["agent"] == "hpcmap.tune.agent"


@pytest.mark.parametrize("name", SPACE_OPTIMIZERS)
@pytest.mark.parametrize("app", ["stencil", "pennant"])
def test_proposals_are_new_valid_and_checked(name, app, tmp_path):
    ctx = context(tmp_path, app=app)
    opt = make_optimizer(name, ctx)
    assert opt.name == name
    space = space_for(app, GPU)
    info = load_app(app)
    history = default_history()
    for batch in run_rounds(opt, history, rounds=4, k=3):
        assert len(batch) == 3
        texts = [c.text.strip() for c in batch]
        assert len(set(texts)) == 3
        for c in batch:
            assert space.valid(c.point), space.violations(c.point)
            assert space.render(c.point) == c.text
            _, diags = check_text(c.text, c.name, info)
            assert not [d for d in diags if d.is_error], [d.format() for d in diags]
            assert c.origin.startswith(name)
    all_texts = [e.candidate.text.strip() for e in history]
    assert len(all_texts) == len(set(all_texts)), "an optimizer proposed a candidate twice"
    assert len({e.candidate.name for e in history}) == len(history)


@pytest.mark.parametrize("name", SPACE_OPTIMIZERS)
def test_reproducible_by_seed(name, tmp_path):
    def proposals(seed: int, folder) -> list[str]:
        history = default_history()
        batches = run_rounds(make_optimizer(name, context(folder, seed)), history, rounds=3, k=2)
        return [c.text for batch in batches for c in batch]

    first = proposals(3, tmp_path / "a")
    assert proposals(3, tmp_path / "b") == first
    if name != "ccd":  # descent from the default is the same walk whatever the seed
        assert proposals(4, tmp_path / "c") != first


@pytest.mark.parametrize("name", SPACE_OPTIMIZERS)
def test_a_fresh_optimizer_continues_from_the_history(name, tmp_path):
    history = default_history()
    run_rounds(make_optimizer(name, context(tmp_path)), history, rounds=3, k=2)
    resumed = make_optimizer(name, context(tmp_path))  # a new process on the same study
    seen = {e.candidate.text.strip() for e in history}
    batch = resumed.propose(history, 3)
    assert len(batch) == 3 and not seen & {c.text.strip() for c in batch}
    if name == "opentuner":
        assert (tmp_path / "opentuner" / "opentuner.db").is_file()
        assert (tmp_path / "opentuner" / "opentuner.log").is_file()


def test_ccd_moves_to_the_faster_coordinate_and_keeps_it(tmp_path):
    opt = make_optimizer("ccd", context(tmp_path))
    history = default_history()
    first = opt.propose(history, 1)
    assert [c.point["kind/stencil"] for c in first] == ["CPU,GPU"]  # the first coordinate's only move
    history.extend(measure(c) for c in first)
    # CPU stencil was 30% faster: every later move starts from it.
    for batch in run_rounds(opt, history, rounds=4, k=2):
        assert all(c.point["kind/stencil"] == "CPU,GPU" for c in batch), [c.origin for c in batch]
    # Its regions moved with it: a CPU task has no GPU memories left.
    assert all(c.candidate.point["memory/stencil/ghost"] is None for c in history[3:])


def test_ccd_is_stateless_and_sweeps_every_coordinate(tmp_path):
    space = space_for("stencil", GPU)
    history = default_history()
    visited = set()
    for _ in range(60):
        batch = make_optimizer("ccd", context(tmp_path)).propose(history, 4)  # a new object each time
        history.extend(measure(c) for c in batch)
        for c in batch:
            visited |= {name for name, v in c.point.items() if v != space.by_name[name].options[0]}
        if all(c.origin.startswith("ccd: sweep 2") for c in batch):
            break
    on_cpu = space.move(space.start_point(), "kind/stencil", "CPU,GPU")  # where sweep 1 moved first
    assert {c.name for c in space.coordinates if space.neighbours(on_cpu, c.name)} <= visited
    best = min((e for e in history if e.ok), key=lambda e: e.median_s)
    assert best.median_s == pytest.approx(0.6)  # both gains found, the crash and the slow layout avoided
    assert best.candidate.point["memory/increment/private"] == "ZCMEM"

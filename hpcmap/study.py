"""The study loop: propose -> check -> dispatch -> store -> feedback -> propose, resumable.

A study is one store (hpcmap.store) holding every result of one app, size, machine and trial
count. An optimizer (hpcmap.tune) proposes candidates from the history kept in the store, the head
checks each statically (an invalid one is stored without running), an executor (hpcmap.dispatch)
runs the rest, and each record is stored as it arrives, so a study killed at any instant resumes
from its store and never runs a finished candidate again. `hpcmap eval` is the same loop over a
fixed list of candidates.

A tune never answers with an invalid mapper: it first measures Legion's DefaultMapper and the
app's expert mapper, and the faster of the two is the first incumbent; a candidate becomes the
incumbent only when faster beyond the noise (its 95% confidence interval lies below the
incumbent's); at the end the top 3, default and expert are re-measured in interleaved rounds, and
the answer is the faster baseline unless a candidate beats it beyond the noise of all their
trials. The answer is written as a mapper file with its speedups.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Protocol

from hpcmap import evaluate
from hpcmap.errors import UserError
from hpcmap.records import EvalRecord, EvalRequest
from hpcmap.stats import summarize
from hpcmap.store import Store
from hpcmap.tune.base import Candidate, Evaluated, Optimizer
from hpcmap.tune.llm import NO_CANDIDATE

OK = "ok"
INFRA_ERROR = "infra_error"
BASELINE, CANDIDATE, REMEASURE = "baseline", "candidate", "remeasure"
TOP = 3


@dataclass(frozen=True)
class Status:
    """Where a study stands, for progress displays."""

    phase: str
    iteration: int = 0
    evaluations: int = 0
    budget: int = 0
    best_name: str | None = None
    best_s: float | None = None
    default_s: float | None = None
    expert_s: float | None = None

    @property
    def speedup_vs_default(self) -> float | None:
        return _ratio(self.default_s, self.best_s)

    @property
    def speedup_vs_expert(self) -> float | None:
        return _ratio(self.expert_s, self.best_s)


class Progress(Protocol):
    def phase(self, status: Status, total: int) -> None: ...

    def record(self, record: dict, status: Status) -> None: ...


@dataclass
class Outcome:
    """The answer of a tune: the best valid candidate, pooled statistics and speedups."""

    best: dict
    stats: dict
    default_stats: dict
    expert_stats: dict | None
    history: list[dict]
    evaluations: int

    @property
    def speedup_vs_default(self) -> float | None:
        return _ratio(self.default_stats.get("median_s"), self.stats.get("median_s"))

    @property
    def speedup_vs_expert(self) -> float | None:
        return _ratio((self.expert_stats or {}).get("median_s"), self.stats.get("median_s"))


@dataclass
class FixedList:
    """The optimizer of `hpcmap eval`: the given candidates, in order, each proposed once, minus
    those already measured."""

    candidates: list[Candidate]
    name: str = "fixed"
    proposed: set[str] = field(default_factory=set)

    def propose(self, history: list[Evaluated], k: int) -> list[Candidate]:
        done = {e.candidate.text for e in history} | self.proposed
        chosen = [c for c in self.candidates if c.text not in done][:k]
        self.proposed.update(c.text for c in chosen)
        return chosen


def claim(store: Store, resume: bool) -> None:
    """Create the store, refusing one that already holds results unless the study is resumed."""
    if store.path.exists() and not resume and store.keys():
        raise UserError(f"{store.path} already holds results; pass --resume to continue that study "
                        "or choose another --store")
    store.create()


@contextlib.contextmanager
def open_store(path: str | Path, base: EvalRequest, resume: bool, meta: dict | None = None,
               provenance: dict | None = None) -> Iterator[tuple[Store, dict]]:
    """The study's store, locked for this process, with its fixed settings checked (or recorded).
    Yields the store and the study's meta (settings, optimizer, seed)."""
    store = Store(path)
    with store.lock():
        claim(store, resume)
        fixed = {"app": base.app, "size": dict(base.params), "machine": base.machine, "trials": base.trials,
                 "app_args": list(base.app_args)}
        stored = store.fix_meta({**fixed, **{k: v for k, v in (meta or {}).items() if v is not None}})
        if provenance:
            store.add_provenance(provenance)
        yield store, stored


class Study:
    """Evaluates candidates of one study through an executor and stores each result as it arrives."""

    def __init__(self, store: Store, base: EvalRequest, executor, progress: Progress | None = None,
                 check_on_head: bool = True):
        self.store = store
        self.base = base
        self.executor = executor
        self.progress = progress
        self.check_on_head = check_on_head
        self.ran = 0
        self.infra_errors = 0

    # ---------------------------------------------------------------- records and history

    def records(self) -> list[dict]:
        """Every stored record in the order it was measured."""
        return sorted(self.store.records(), key=_order)

    def history(self, records: list[dict] | None = None) -> list[Evaluated]:
        """What optimizers see: measured baselines and candidates (infra errors measured nothing)."""
        return [to_evaluated(r) for r in (self.records() if records is None else records)
                if _role(r) in (BASELINE, CANDIDATE) and r["outcome"] != INFRA_ERROR]

    def request(self, candidate: Candidate, trials: int | None = None) -> EvalRequest:
        return replace(self.base, name=candidate.name, mapper_text=candidate.text or None,
                       trials=trials or self.base.trials)

    # ---------------------------------------------------------------- evaluation

    def run(self, items: list[tuple[EvalRequest, dict]], status: Status) -> list[dict]:
        """Check, dispatch and store `items` (request, study annotation); returns their records."""
        records, to_run = [], []
        for req, note in items:
            invalid = evaluate.static_check(req) if self.check_on_head else None
            if invalid is not None:
                records.append(self._keep(invalid, note, status))
            else:
                to_run.append((req, note))
        notes = {req.key: note for req, note in to_run}
        if to_run:
            for rec in self.executor.submit([req for req, _ in to_run]):
                records.append(self._keep(rec, notes[rec.key], status))
        return records

    def _keep(self, rec: EvalRecord, note: dict, status: Status) -> dict:
        data = rec.as_dict()
        data["study"] = {k: v for k, v in note.items() if k != "key"}
        if note.get("key"):
            data["key"] = note["key"]
        self.store.add(data, before=_trace_importer(data) if rec.profile_logs else None)
        self.ran += 1
        self.infra_errors += rec.outcome == INFRA_ERROR
        if self.progress:
            self.progress.record(data, self.status(self.records(), status.phase, status.iteration, status.budget))
        return data

    # ---------------------------------------------------------------- the loop

    def search(self, optimizer: Optimizer, budget: float, batch: int, phase: str = "search") -> int:
        """Propose and evaluate until `budget` candidates are measured (earlier sessions included) or
        the optimizer has nothing new. Returns the number of candidates measured."""
        stalls = 0
        while True:
            records = self.records()
            measured = [r for r in records if _role(r) == CANDIDATE and r["outcome"] != INFRA_ERROR]
            exchanges = self.store.llm_exchanges()
            empty = sum((x.get("tags") or {}).get("result") == NO_CANDIDATE for x in exchanges)
            left = budget - len(measured) - empty   # an iteration that gave no candidate counts too
            if left <= 0:
                return len(measured)
            iteration = 1 + max([_note(r).get("iteration", 0) for r in records]
                                + [x.get("iteration", 0) for x in exchanges], default=0)
            status = self.status(records, phase, iteration, budget)
            known = {r["key"] for r in records if r["outcome"] != INFRA_ERROR}
            items, names = [], {}
            try:
                proposals = optimizer.propose(self.history(records), int(min(batch, left)))
            except BaseException:
                self._log_llm(optimizer, iteration, names)
                raise
            for cand in proposals:
                unique = _unique_name(cand, records, items)
                names[cand.name] = unique.name
                req = self.request(unique)
                if req.key in known:
                    continue
                known.add(req.key)
                items.append((req, {"role": CANDIDATE, "iteration": iteration, "origin": cand.origin,
                                    "point": cand.point, "optimizer": getattr(optimizer, "name", "")}))
            if not self._log_llm(optimizer, iteration, names) and not proposals:
                return len(measured)
            if not items:
                stalls += bool(proposals)      # all already measured (an empty iteration is counted above)
                if stalls >= 3:
                    return len(measured)
                continue
            stalls = 0
            if self.progress:
                self.progress.phase(status, len(items))
            done = self.run(items, status)
            if all(r["outcome"] == INFRA_ERROR for r in done) and budget != float("inf"):
                raise UserError(f"the {self.executor.name} executor failed on every candidate of iteration "
                                f"{iteration} ({done[0]['message'][:200]}); results so far are kept, "
                                "rerun with --resume")

    def _log_llm(self, optimizer: Optimizer, iteration: int, names: dict[str, str]) -> int:
        """Append the LLM calls of the optimizer's last proposal (the agent's; prompts, replies, tokens,
        cost, never a key) to the store's exchange log, whether or not they gave a candidate, with the
        candidates' names as stored. Returns how many proposal slots ended with no candidate."""
        take = getattr(optimizer, "take_exchanges", None)
        exchanges = take() if take else []
        for x in exchanges:
            x["iteration"] = iteration
            tags = x.setdefault("tags", {})
            if tags.get("candidate") in names:
                tags["candidate"] = names[tags["candidate"]]
        self.store.add_llm_exchanges(exchanges)
        return sum(x["tags"].get("result") == NO_CANDIDATE for x in exchanges)

    def baselines(self, texts: dict[str, str | None]) -> None:
        """Measure the named baselines (default, expert) unless the store has them."""
        records = self.records()
        have = {r["key"] for r in records if r["outcome"] != INFRA_ERROR}
        items = [(replace(self.base, name=name, mapper_text=text), {"role": BASELINE, "iteration": 0,
                                                                      "origin": "baseline"})
                 for name, text in texts.items()]
        items = [(req, note) for req, note in items if req.key not in have]
        if items:
            status = self.status(records, "baselines", 0, 0)
            if self.progress:
                self.progress.phase(status, len(items))
            self.run(items, status)

    def remeasure(self, rounds: int) -> None:
        """Re-run the top candidates, default and expert one trial at a time, in interleaved rounds."""
        records = self.records()
        members = finalists(records)
        todo = []
        for round_ in range(rounds):
            order = members[round_ % len(members):] + members[:round_ % len(members)] if members else []
            for r in order:
                todo.append((replace(self.base, name=r["name"], mapper_text=r["mapper_text"], trials=1,
                                     profile_dir=None),
                             {"role": REMEASURE, "of": r["key"], "round": round_,
                              "key": f"{r['key']}.r{round_}"}))
        have = {r["key"] for r in records if r["outcome"] != INFRA_ERROR}
        todo = [(req, note) for req, note in todo if note["key"] not in have]
        if not todo:
            return
        status = self.status(records, "re-measure", 0, 0)
        if self.progress:
            self.progress.phase(status, len(todo))
        for item in todo:   # one at a time, so the finalists never run beside each other
            self.run([item], status)

    def status(self, records: list[dict], phase: str, iteration: int, budget: int) -> Status:
        inc = incumbent(records)
        base = {(_note(r).get("origin"), r["name"]): r for r in records if _role(r) == BASELINE}
        median = lambda r: (r or {}).get("stats", {}).get("median_s") if r and r["outcome"] == OK else None  # noqa: E731
        return Status(phase, iteration, sum(_role(r) in (BASELINE, CANDIDATE) for r in records), budget,
                      inc["name"] if inc else None, median(inc), median(base.get(("baseline", "default"))),
                      median(base.get(("baseline", "expert"))))


# -------------------------------------------------------------------- the answer


def faster_beyond_noise(a: dict, b: dict) -> bool:
    """True when the upper end of a's 95% interval of the mean lies below the lower end of b's."""
    if a.get("mean_s") is None:
        return False
    if b.get("mean_s") is None:
        return True
    return a["mean_s"] + (a.get("ci95_s") or 0.0) < b["mean_s"] - (b.get("ci95_s") or 0.0)


def incumbent(records: list[dict]) -> dict | None:
    """The best valid result so far: the faster baseline by median, then, in measuring order, a
    candidate that is faster beyond the noise."""
    valid = [r for r in sorted(records, key=_order)
             if _role(r) in (BASELINE, CANDIDATE) and r["outcome"] == OK and r["stats"].get("mean_s") is not None]
    baselines = [r for r in valid if _role(r) == BASELINE]
    best = min(baselines, key=lambda r: r["stats"]["median_s"]) if baselines else None
    for r in valid:
        if _role(r) == CANDIDATE and (best is None or faster_beyond_noise(r["stats"], best["stats"])):
            best = r
    return best


def finalists(records: list[dict]) -> list[dict]:
    """The incumbent, the next fastest valid candidates up to TOP, and the valid baselines."""
    inc = incumbent(records)
    if inc is None:
        return []
    valid = sorted((r for r in records if _role(r) in (BASELINE, CANDIDATE) and r["outcome"] == OK),
                   key=lambda r: r["stats"]["median_s"])
    chosen = [inc] + [r for r in valid if r["key"] != inc["key"]][:TOP - 1]
    chosen += [r for r in valid if _role(r) == BASELINE and r not in chosen]
    return chosen


def pooled_stats(record: dict, records: list[dict]) -> dict:
    """Statistics over a candidate's trials and its re-measured trials; n=0 if a re-run failed
    (a worker or scheduler failure says nothing about the candidate and is left out)."""
    extra = [r for r in records if _role(r) == REMEASURE and _note(r).get("of") == record["key"]
             and r["outcome"] != INFRA_ERROR]
    if any(r["outcome"] != OK for r in extra):
        return summarize([])
    times = [t["elapsed_s"] for r in [record, *extra] for t in r.get("trials", [])
             if t.get("outcome") == OK and t.get("elapsed_s") is not None]
    return summarize(times)


def answer(records: list[dict]) -> Outcome:
    """The best valid mapper of a finished tune, with pooled statistics; UserError when none is valid."""
    members = finalists(records)
    if not members:
        failed = next((r for r in records if _role(r) == BASELINE and r["name"] == "default"), None)
        why = f": default ended {failed['outcome']}: {failed['message'][:200]}" if failed else ""
        raise UserError(f"no valid mapper was measured{why}; results are kept in the store")
    pooled = {r["key"]: pooled_stats(r, records) for r in members}
    measured = sorted((r for r in members if pooled[r["key"]]["n"]), key=lambda r: pooled[r["key"]]["median_s"])
    baselines = [r for r in measured if _role(r) == BASELINE]
    best = baselines[0] if baselines else (measured or members)[0]
    best = next((r for r in measured if _role(r) == CANDIDATE
                 and faster_beyond_noise(pooled[r["key"]], pooled[best["key"]])), best)
    baseline = {r["name"]: r for r in records if _role(r) == BASELINE}
    stats_of = lambda r: (pooled.get(r["key"]) or r["stats"]) if r and r["outcome"] == OK else None  # noqa: E731
    return Outcome(best=best, stats=pooled[best["key"]], default_stats=stats_of(baseline.get("default")) or {},
                   expert_stats=stats_of(baseline.get("expert")), history=history_rows(records),
                   evaluations=sum(_role(r) in (BASELINE, CANDIDATE) for r in records))


def history_rows(records: list[dict]) -> list[dict]:
    """One row per measured baseline or candidate, with the incumbent's median after it."""
    rows, seen = [], []
    for r in sorted(records, key=_order):
        if _role(r) not in (BASELINE, CANDIDATE):
            continue
        seen.append(r)
        inc = incumbent(seen)
        rows.append({"iteration": _note(r).get("iteration", 0), "name": r["name"], "outcome": r["outcome"],
                     "median_s": r["stats"].get("median_s"),
                     "best_so_far_s": inc["stats"]["median_s"] if inc else None,
                     "optimizer": _note(r).get("optimizer") or _note(r).get("origin", "")})
    return rows


def write_mapper(outcome: Outcome, path: Path, app: str, machine: str) -> Path:
    """The answer as an editable mapper file; Legion's DefaultMapper is an empty mapper."""
    med = outcome.stats.get("median_s")
    lines = [f"# Best mapper found by hpcmap tune for {app} on {machine}: {outcome.best['name']}",
             f"# median {med:.6g} s over {outcome.stats.get('n')} trial(s)" if med is not None else "# (no timing)"]
    for label, value in (("default", outcome.speedup_vs_default), ("expert", outcome.speedup_vs_expert)):
        if value is not None:
            lines.append(f"# speedup over {label}: {value:.3f}x")
    text = outcome.best.get("mapper_text")
    if not text:
        lines.append("# Legion's DefaultMapper was fastest: this mapper leaves every decision to it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n" + (f"\n{text.rstrip()}\n" if text else ""))
    tmp.replace(path)
    return path


def to_evaluated(record: dict) -> Evaluated:
    note = _note(record)
    cand = Candidate(record["name"], record.get("mapper_text") or "", note.get("origin", ""), note.get("point"))
    stats = record.get("stats") or {}
    message = record.get("message") or ""
    if record.get("diagnostics"):
        message = "\n".join(record["diagnostics"])
    elif record["outcome"] not in (OK, "invalid") and record.get("stderr_tail"):
        message = (message + "\n" + record["stderr_tail"][-1500:]).strip()
    return Evaluated(cand, record["outcome"], stats.get("median_s"), stats, message, record.get("feedback", ""))


def _note(record: dict) -> dict:
    return record.get("study") or {}


def _role(record: dict) -> str:
    return _note(record).get("role", CANDIDATE)


def _order(record: dict) -> tuple:
    return (_note(record).get("iteration", 0), record.get("finished_at") or 0.0, record.get("key", ""))


def _ratio(reference: float | None, value: float | None) -> float | None:
    return reference / value if reference and value else None


def _unique_name(cand: Candidate, records: list[dict], items: list) -> Candidate:
    """The candidate, renamed if another mapper of this study already has its name."""
    taken = {r["name"] for r in records if (r.get("mapper_text") or "") != cand.text}
    taken |= {req.name for req, _ in items if (req.mapper_text or "") != cand.text}
    name, n = cand.name or "candidate", 1
    while name in taken:
        n += 1
        name = f"{cand.name}-{n}"
    return replace(cand, name=name)


def _trace_importer(record: dict):
    """Imports the profiled trial's logs into the store copy given to it (hpcmap.profile)."""
    from hpcmap.profile import import_run_logs

    def run(path: Path) -> None:
        import h5py

        try:
            import_run_logs([Path(p) for p in record["profile_logs"]], path, record["key"], {
                "app": record["app"], "mapper": record["name"], "machine": record["machine"],
                "command": record["command"], "outcome": record["outcome"], "candidate": record["key"]})
        except Exception as exc:
            record["message"] = (record["message"] + "; " if record["message"] else "") + f"trace import: {exc}"
        with h5py.File(path, "r") as f:
            record["trace"] = f"runs/{record['key']}" if f"runs/{record['key']}" in f else None

    return run



def tune(study: Study, optimizer: Optimizer, budget: int, batch: int, baselines: dict[str, str | None]) -> Outcome:
    """Baselines first, then the search, then the interleaved re-measurement; the valid answer."""
    study.baselines(baselines)
    study.search(optimizer, budget, batch)
    study.remeasure(rounds=study.base.trials)
    return answer(study.records())

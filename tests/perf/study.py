"""The study of issue 15: tuned mappers against the expert and default mappers, per application.

    .venv/bin/python tests/perf/study.py [APPS...] [--optimizers ccd,random,opentuner,tpe]
        [--budget 10] [--seeds 3] [--starts default,expert] [--trials 5] [--baseline-trials 5]
        [--machine h100x4 --size gpu | --cpu] [--results DIR] [--wall-limit SECONDS]
        [--remeasure ROUNDS] [--confirm ROUNDS] [--traces] [--table-only]
        [--report tests/perf/RESULTS.md | --no-report]

For each application (all nine by default): Legion's DefaultMapper and the expert mapper, measured
in interleaved rounds of one trial each (default, expert, expert, default, ...); then a tune per
optimizer, seed and start. A tune from `default` searches the mapper space from the DefaultMapper
(the expert's knowledge is not given to the optimizer); a tune from `expert` searches the same space
laid over the expert mapper: each candidate is the optimizer's statements followed by the expert's,
and the mapping language's precedence (a more specific statement wins, then the first) makes the
candidate's choices override the expert's, so the space's default point is the expert itself.

Every search has its own study store under the results folder (default build/study/), holding the
app's baselines (copied from its baseline store, so they are measured once) and its candidates.
Rerunning the same command continues where it stopped; `--wall-limit` stops cleanly, before a
candidate that would not finish in time, so a device command ends with its results kept.

At the end it prints a table in the form of the published one: per repeat, the expert's median
over the best median found (above 1.0 beats the expert), then mean, best and worst per app,
optimizer and start, with the published figures beside them; per app, the best mapper's diff
against the expert; with `--confirm N`, that mapper re-measured beside the expert and default in N
interleaved rounds (the best of many few-trial medians is biased low); with `--traces`, what its
trace changes against the expert's (copies, busy time). The table is appended to --report, headed
by the machine (the GPU's name from nvidia-smi, or "this 2-core CPU box").

Without a GPU it refuses to run unless given --cpu (machine `local`, size `small`), so CPU figures
are never taken for GPU ones.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hpcmap import apps as app_specs, evaluate, study  # noqa: E402
from hpcmap.errors import UserError  # noqa: E402
from hpcmap.machine import MachineSpec  # noqa: E402
from hpcmap.stats import summarize  # noqa: E402
from hpcmap.store import Store  # noqa: E402
from hpcmap.tune.base import Context, Evaluated  # noqa: E402
from hpcmap.tune.optimizers import make_optimizer  # noqa: E402

APPS = ("stencil", "circuit", "pennant", "cannon", "summa", "pumma", "johnson", "solomonik", "cosma")
# Issue 15: their agent (gpt-4o, 10 iterations, 5 runs) on 4 x P100, mean normalized to the expert;
# worst 0.00 (an invalid mapper) on summa, pumma and solomonik.
PUBLISHED_MEAN = {"circuit": 1.33, "stencil": 1.01, "pennant": 1.03, "cannon": 1.09, "summa": 0.86,
                  "pumma": 0.57, "johnson": 0.98, "solomonik": 0.52, "cosma": 1.25}
PUBLISHED_WORST_ZERO = {"summa", "pumma", "solomonik"}
SEPARATOR = "# ---- the expert mapper: the statements above take precedence over its equally specific ones"
MARGIN_S = 10.0          # time kept free before the wall limit, beyond a candidate's expected duration
CPU_LABEL = "this 2-core CPU box"


class WallLimit(Exception):
    """The wall limit would be passed by the next candidate; everything measured is stored."""


# ------------------------------------------------------------------------ executor and optimizer


class SerialExecutor:
    """Runs one candidate at a time in this process (the host's GPUs are all the candidate's), and
    refuses to start one that would not end before the deadline. A run cut short by the deadline
    is dropped, not stored as a timeout, so a rerun measures it again."""

    name = "local"

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.trial_s: dict[str, float] = {}     # longest trial wall per app

    def observe(self, records: list[dict]) -> None:
        for r in records:
            for t in r.get("trials") or []:
                if t.get("wall_s"):
                    self.trial_s[r["app"]] = max(self.trial_s.get(r["app"], 0.0), t["wall_s"])

    def left(self) -> float:
        return self.deadline - time.time()

    def submit(self, requests):
        for req in requests:
            need = req.trials * self.trial_s.get(req.app, 0.0) + MARGIN_S
            if self.left() < need:
                raise WallLimit(f"{self.left():.0f} s left, {req.name} needs about {need:.0f} s")
            timeout = min(req.timeout_s, self.left() - MARGIN_S / 2)
            rec = evaluate.evaluate(dataclasses.replace(req, timeout_s=timeout), {"executor": "local"})
            if rec.outcome == "timeout" and timeout < req.timeout_s:
                raise WallLimit(f"{req.name} was still running at the wall limit (not stored)")
            self.observe([rec.as_dict()])
            yield rec

    def close(self) -> None:
        pass


class ExpertSeeded:
    """An optimizer of the mapper space whose points are laid over the expert mapper: a point's
    statements come first, then the expert's, so the empty point is the expert. The inner optimizer
    sees the history in its own terms (the expert as the empty mapper; the DefaultMapper left out)."""

    def __init__(self, inner, expert_text: str):
        self.inner = inner
        self.name = inner.name
        self.expert_text = expert_text
        self.expert = expert_text.strip()

    def compose(self, text: str) -> str:
        return f"{text.strip()}\n\n{SEPARATOR}\n{self.expert}\n" if text.strip() else self.expert_text

    def own_view(self, e: Evaluated) -> Evaluated | None:
        text = e.candidate.text.strip()
        if text == self.expert:
            inner = ""
        elif SEPARATOR in text:
            inner = text.split(SEPARATOR)[0].strip()
        else:
            return None
        return dataclasses.replace(e, candidate=dataclasses.replace(e.candidate, text=inner))

    def propose(self, history: list[Evaluated], k: int):
        view = [v for v in (self.own_view(e) for e in history) if v is not None]
        return [dataclasses.replace(c, text=self.compose(c.text), origin=f"over the expert: {c.origin}")
                for c in self.inner.propose(view, k)]


class Lines:
    """Progress: one line per phase and per finished candidate."""

    def __init__(self, label: str):
        self.label = label

    def phase(self, status, total: int) -> None:
        print(f"  [{self.label}] {status.phase} {status.iteration}: {total} to run", flush=True)

    def record(self, record: dict, status) -> None:
        med = record["stats"].get("median_s")
        msg = (record.get("message") or "").strip().splitlines()
        print(f"  [{self.label}] {record['name']}: {record['outcome']}"
              + (f" median {med:.4f} s" if med is not None else "") + (f"  ({msg[0][:90]})" if msg else ""), flush=True)


# ------------------------------------------------------------------------ the measurements


@dataclasses.dataclass
class Setup:
    machine: str
    size: str
    trials: int
    baseline_trials: int
    timeout: float
    results: Path


def base_request(app: str, setup: Setup, trials: int):
    return evaluate.make_requests(["default"], app, setup.size, setup.machine, trials, setup.timeout)[0]


def interleaved(app: str, setup: Setup, executor: SerialExecutor, store_name: str, texts: dict[str, str | None],
                rounds: int, tags: dict[str, str] | None = None) -> list[dict]:
    """Each mapper of `texts` run one trial at a time in `rounds` interleaved rounds (A B, B A, ...), kept
    in the app's store `store_name`; a round already there is not run again. `tags` makes a mapper's
    keys unique to its text when its name may stand for other texts later."""
    folder = setup.results / app
    folder.mkdir(parents=True, exist_ok=True)
    base = base_request(app, setup, 1)
    with study.open_store(folder / store_name, base, True, {"role": store_name.removesuffix(".h5")}) as (store, _):
        run = study.Study(store, base, executor, Lines(f"{app} {store_name.removesuffix('.h5')}"))
        executor.observe(run.records())
        have = {r["key"] for r in run.records() if r["outcome"] != "infra_error"}
        names = list(texts)
        for round_ in range(rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:   # each mapper takes each place in turn
                key = f"{name}{(tags or {}).get(name, '')}.r{round_}"
                if key not in have:
                    req = dataclasses.replace(base, name=name, mapper_text=texts[name])
                    run.run([(req, {"role": "round", "of": key.rsplit(".r", 1)[0], "round": round_, "key": key})],
                            study.Status(store_name))
        return run.records()


def pooled_times(records: list[dict], of: str) -> tuple[str, list[dict], dict]:
    """The outcome, trials and statistics of one mapper's interleaved rounds."""
    rounds = [r for r in records if (r.get("study") or {}).get("of") == of]
    failed = next((r for r in rounds if r["outcome"] != "ok"), None)
    trials = [t for r in rounds for t in r.get("trials", [])]
    times = [t["elapsed_s"] for t in trials if t.get("outcome") == "ok" and t.get("elapsed_s") is not None]
    return (failed["outcome"] if failed else "ok"), trials, (summarize(times) if not failed else summarize([]))


def baselines(app: str, setup: Setup, executor: SerialExecutor) -> dict[str, dict]:
    """Default and expert in interleaved rounds of one trial; one pooled record per mapper, keyed as a
    study of `setup.trials` trials keys its baselines."""
    texts = {"default": None, "expert": app_specs.load(app).expert_mapper.read_text()}
    records = interleaved(app, setup, executor, "baselines.h5", texts, setup.baseline_trials)
    tune_base = base_request(app, setup, setup.trials)
    pooled = {}
    for name, text in texts.items():
        outcome, trials, stats = pooled_times(records, name)
        first = next(r for r in records if (r.get("study") or {}).get("of") == name)
        rec = dict(first)
        rec.update(key=dataclasses.replace(tune_base, name=name, mapper_text=text).key, trials=trials,
                   trials_requested=len(trials), stats=stats, outcome=outcome, message="" if outcome == "ok" else
                   next(r["message"] for r in records if (r.get("study") or {}).get("of") == name and r["outcome"] != "ok"),
                   study={"role": "baseline", "iteration": 0, "origin": "baseline",
                          "pooled_from": f"{app}/baselines.h5: {len(trials)} interleaved rounds"})
        pooled[name] = rec
    return pooled


def confirm(app: str, best: dict, setup: Setup, executor: SerialExecutor, rounds: int,
            measure: bool = True) -> dict[str, dict]:
    """The app's fastest mapper against the expert and default, re-measured in interleaved rounds
    (or, with measure=False, what the app's confirm.h5 already holds of them)."""
    import hashlib

    text = best.get("mapper_text") or None
    texts = {"default": None, "expert": app_specs.load(app).expert_mapper.read_text()}
    if best["name"] not in texts:
        texts[best["name"]] = text
    tag = {best["name"]: "-" + hashlib.sha256((text or "").encode()).hexdigest()[:8]} if best["name"] not in (
        "default", "expert") else {}
    path = setup.results / app / "confirm.h5"
    if measure:
        records = interleaved(app, setup, executor, path.name, texts, rounds, tag)
    else:
        records = Store(path).records() if path.exists() else []
    return {name: pooled_times(records, name + tag.get(name, ""))[2] for name in texts}


def store_path(setup: Setup, app: str, optimizer: str, seed: int, start: str) -> Path:
    return setup.results / app / f"{optimizer}-from-{start}-seed{seed}.h5"


def tune(app: str, optimizer: str, seed: int, start: str, budget: int, remeasure: int, setup: Setup,
         executor: SerialExecutor, pooled: dict[str, dict]) -> None:
    """One search, resumable: baselines copied in, candidates up to `budget`, optional re-measurement."""
    path = store_path(setup, app, optimizer, seed, start)
    base = base_request(app, setup, setup.trials)
    with study.open_store(path, base, True, {"optimizer": optimizer, "seed": seed, "start": start}) as (store, _):
        have = store.keys(include_infra_errors=False)
        for rec in pooled.values():
            if rec["key"] not in have:
                store.add(rec)
        study_dir = path.with_suffix(".tune")
        study_dir.mkdir(exist_ok=True)
        expert = pooled["expert"]["mapper_text"]
        context = Context(app, MachineSpec(**base.machine), seed, expert if start == "expert" else "", str(study_dir))
        chosen = make_optimizer(optimizer, context)
        if start == "expert":
            chosen = ExpertSeeded(chosen, expert)
        run = study.Study(store, base, executor, Lines(f"{app} {optimizer} from {start} seed {seed}"))
        executor.observe(run.records())
        run.search(chosen, budget, 1)
        if remeasure:
            run.remeasure(remeasure)


# ------------------------------------------------------------------------ the table


def role(r: dict) -> str:
    return (r.get("study") or {}).get("role", "candidate")


def summarize_store(path: Path) -> dict | None:
    store = Store(path)
    meta, records = store.meta(), store.records()
    base = {r["name"]: r for r in records if role(r) == "baseline"}
    expert = base.get("expert", {}).get("stats", {}).get("median_s") if base.get("expert", {}).get("outcome") == "ok" else None
    start = base.get(meta.get("start", "default"))
    pool = [r for r in records if role(r) == "candidate"] + ([start] if start else [])
    valid = [r for r in pool if r["outcome"] == "ok" and r["stats"].get("median_s")]
    best = min(valid, key=lambda r: r["stats"]["median_s"]) if valid else None
    try:
        answer = study.answer(records)
        answer_row = {"name": answer.best["name"], "outcome": answer.best["outcome"],
                      "vs_expert": answer.speedup_vs_expert}
    except UserError:
        answer_row = None
    cands = [r for r in records if role(r) == "candidate"]
    return {"meta": meta, "expert_s": expert, "best": best, "answer": answer_row,
            "evaluated": sum(r["outcome"] != "infra_error" for r in cands),
            "failed": sum(r["outcome"] not in ("ok", "infra_error") for r in cands),
            "normalized": expert / best["stats"]["median_s"] if expert and best else None}


def fmt(v, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def table(apps: list[str], optimizers: list[str], starts: list[str], seeds: list[int], budget: int,
          setup: Setup) -> tuple[str, dict]:
    """The markdown table, and per app the fastest valid record over all its searches."""
    lines = ["| app | optimizer | start | repeats (evaluated/budget) | per repeat | mean | best | worst "
             "| answers valid | published mean (agent, 4 x P100) |", "|---|---|---|---|---|---|---|---|---|---|"]
    best_of: dict[str, tuple[dict, Path]] = {}
    geo: dict[tuple[str, str], list[float]] = {}
    for app in apps:
        for optimizer in optimizers:
            for start in starts:
                rows = [(s, summarize_store(p)) for s in seeds
                        if (p := store_path(setup, app, optimizer, s, start)).exists()]
                rows = [(s, r) for s, r in rows if r]
                if not rows:
                    continue
                for seed, r in rows:
                    b = r["best"]
                    if b and (app not in best_of or b["stats"]["median_s"] < best_of[app][0]["stats"]["median_s"]):
                        best_of[app] = (b, store_path(setup, app, optimizer, seed, start))
                norm = [r["normalized"] for _, r in rows if r["normalized"] is not None]
                done = " ".join(f"{r['evaluated']}/{budget}" for _, r in rows)
                per = " ".join(fmt(r["normalized"]) for _, r in rows)
                valid = sum(1 for _, r in rows if r["answer"] and r["answer"]["outcome"] == "ok")
                mean = statistics.fmean(norm) if norm else None
                if mean:
                    geo.setdefault((optimizer, start), []).append(mean)
                pub = fmt(PUBLISHED_MEAN.get(app)) + (" (worst 0.00)" if app in PUBLISHED_WORST_ZERO else "")
                lines.append(f"| {app} | {optimizer} | {start} | {done} | {per} | {fmt(mean)} | "
                             f"{fmt(max(norm) if norm else None)} | {fmt(min(norm) if norm else None)} | "
                             f"{valid}/{len(rows)} | {pub} |")
    for (optimizer, start), means in sorted(geo.items()):
        g = math.exp(statistics.fmean(math.log(m) for m in means))
        lines.append(f"| geometric mean over {len(means)} app(s) | {optimizer} | {start} | | | {g:.2f} | | | | |")
    return "\n".join(lines), best_of


def statements(text: str) -> list[str]:
    """A mapper's lines without comments and blank lines, for a diff that shows only what it does."""
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def mapper_diffs(best_of: dict[str, tuple[dict, Path]]) -> str:
    out = []
    for app, (rec, path) in best_of.items():
        expert = app_specs.load(app).expert_mapper.read_text()
        text = rec.get("mapper_text") or ""
        diff = "\n".join(difflib.unified_diff(statements(expert), statements(text), "expert", rec["name"],
                                              lineterm="", n=0))
        out.append(f"**{app}**: fastest valid mapper `{rec['name']}` ({path.relative_to(path.parents[1])}), "
                   f"median {rec['stats']['median_s']:.4f} s\n\n```diff\n{diff or '(the expert mapper itself)'}\n```")
    return "\n\n".join(out)


def confirmations(best_of: dict[str, tuple[dict, Path]], setup: Setup, executor: SerialExecutor, rounds: int,
                  measure: bool) -> str:
    """Each app's fastest mapper against the expert and default, measured side by side."""
    lines = ["Re-measured side by side (interleaved rounds of one trial each): median (s), 95% CI and trials; "
             "expert/best above 1.0 means the found mapper beats the expert.", "",
             "| app | best mapper | best | expert | default | expert/best | default/best |", "|---|---|---|---|---|---|---|"]
    for app, (rec, _) in best_of.items():
        try:
            stats = confirm(app, rec, setup, executor, rounds, measure)
        except WallLimit:
            lines.append(f"| {app} | {rec['name']} | stopped at the wall limit | | | | |")
            continue
        cell = lambda s: f"{s['median_s']:.4f} ±{s['ci95_s'] or 0:.4f} ({s['n']})" if s.get("median_s") else "none"  # noqa: E731
        b, e, d = stats[rec["name"]], stats["expert"], stats["default"]
        ratio = lambda x: fmt(x["median_s"] / b["median_s"]) if x.get("median_s") and b.get("median_s") else "n/a"  # noqa: E731
        lines.append(f"| {app} | {rec['name']} | {cell(b)} | {cell(e)} | {cell(d)} | {ratio(e)} | {ratio(d)} |")
    return "\n".join(lines)


def trace_diffs(best_of: dict[str, tuple[dict, Path]], setup: Setup) -> str:
    """One profiled run of the expert and of each app's fastest mapper, and what changed between them."""
    out = []
    for app, (rec, _) in best_of.items():
        folder = setup.results / app / "traces"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        best_file = folder / "best.map"
        best_file.write_text(rec.get("mapper_text") or "")
        traces = {}
        for label, mapper in (("expert", "expert"), ("best", "default" if not rec.get("mapper_text") else str(best_file))):
            cmd = [sys.executable, "-m", "hpcmap.cli", "run", app, "--machine", setup.machine, "--size", setup.size,
                   "--mapper", mapper, "--trials", "1", "--profile", str(folder / label), "--timeout", str(setup.timeout)]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            traces[label] = folder / label / "trace.h5" if done.returncode == 0 else None
        if not all(traces.values()):
            out.append(f"**{app}**: no trace diff (a profiled run failed)")
            continue
        done = subprocess.run([sys.executable, "-m", "hpcmap.cli", "trace", "diff", str(traces["expert"]),
                               str(traces["best"]), "--json"], capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            out.append(f"**{app}**: trace diff failed: {done.stderr.strip()[-200:]}")
            continue
        d = json.loads(done.stdout)
        copies = lambda side: (sum(c["count"][side] or 0 for c in d["copies"]), sum(c["bytes"][side] or 0 for c in d["copies"]))  # noqa: E731
        (ca, ba), (cb, bb) = copies("a"), copies("b")
        busy = "; ".join(f"{p['key'].split('.')[0]} busy {p['a']:.0%} -> {p['b']:.0%}" for p in d["processors"])
        out.append(f"**{app}** (expert -> {rec['name']}, one profiled run each): span {d['span']['a']:.4f} -> "
                   f"{d['span']['b']:.4f} s; copies {ca} ({ba / 1e6:.1f} MB) -> {cb} ({bb / 1e6:.1f} MB); {busy}")
    return "\n\n".join(out)


def machine_label(cpu: bool, gpu: bool) -> str:
    if cpu:
        return CPU_LABEL if not gpu else "the CPUs of a GPU host (no GPU used)"
    names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                           text=True).stdout.split("\n")
    names = [n.strip() for n in names if n.strip()]
    return f"{len(names)} x {names[0]}" if names else "unknown GPUs"


def has_gpu() -> bool:
    if not shutil.which("nvidia-smi"):
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


# ------------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("apps", nargs="*", help=f"applications (default: all nine: {' '.join(APPS)})")
    ap.add_argument("--optimizers", default="random,ccd,opentuner,tpe")
    ap.add_argument("--budget", type=int, default=10, help="candidates per search (default 10)")
    ap.add_argument("--seeds", type=int, default=3, help="independent repeats per search, seeds 0..N-1 (default 3)")
    ap.add_argument("--starts", default="default,expert", help="default: search from the DefaultMapper; expert: "
                                                                "over the expert mapper")
    ap.add_argument("--trials", type=int, default=5, help="trials per candidate (default 5)")
    ap.add_argument("--baseline-trials", type=int, default=5, help="interleaved rounds of default and expert")
    ap.add_argument("--machine", help="machine spec (default h100x4 with GPUs; local with --cpu)")
    ap.add_argument("--size", help="size preset (default gpu with GPUs; small with --cpu)")
    ap.add_argument("--cpu", action="store_true", help="run without a GPU (machine local, size small)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per application run")
    ap.add_argument("--results", default=str(REPO / "build" / "study"), help="folder of the study stores")
    ap.add_argument("--wall-limit", type=float, help="stop cleanly (resumable) before this many seconds pass")
    ap.add_argument("--remeasure", type=int, default=0, help="interleaved re-measurement rounds of each "
                                                             "search's finalists (default 0: none)")
    ap.add_argument("--confirm", type=int, default=0, metavar="ROUNDS", help="re-measure each app's fastest "
                    "mapper, the expert and default in this many interleaved rounds at the end (default 0)")
    ap.add_argument("--traces", action="store_true", help="profile each app's fastest mapper and the expert, "
                                                          "and report what changed")
    ap.add_argument("--report", default=str(REPO / "tests" / "perf" / "RESULTS.md"), help="markdown file the "
                                                                                          "table is appended to")
    ap.add_argument("--no-report", action="store_true", help="print the table only")
    ap.add_argument("--table-only", action="store_true", help="measure nothing; tabulate the stores there are")
    args = ap.parse_args()
    start_time, load_before = time.time(), os.getloadavg()[1]
    apps = args.apps or list(APPS)
    optimizers, starts = args.optimizers.split(","), args.starts.split(",")
    unknown = [a for a in apps if a not in APPS] + [s for s in starts if s not in ("default", "expert")]
    if unknown:
        print(f"study: error: unknown application or start: {', '.join(unknown)}", file=sys.stderr)
        return 2
    gpu = has_gpu()
    if not gpu and not args.cpu:
        print("study: error: no NVIDIA GPU found; pass --cpu to run the CPU form (machine local, size small)",
              file=sys.stderr)
        return 2
    cpu = args.cpu
    setup = Setup(args.machine or ("local" if cpu else "h100x4"), args.size or ("small" if cpu else "gpu"),
                  args.trials, args.baseline_trials, args.timeout, Path(args.results))
    seeds = list(range(args.seeds))
    executor = SerialExecutor(start_time + args.wall_limit if args.wall_limit else math.inf)
    print(f"study: {len(apps)} app(s), optimizers {optimizers}, starts {starts}, seeds {seeds}, budget "
          f"{args.budget}, machine {setup.machine}, size {setup.size}, {machine_label(cpu, gpu)}; stores in "
          f"{setup.results}", flush=True)
    stopped = None
    if not args.table_only:
        try:
            pooled: dict[str, dict] = {}
            for seed in seeds:
                for start in starts:
                    for optimizer in optimizers:
                        for app in apps:
                            if app not in pooled:
                                pooled[app] = baselines(app, setup, executor)
                            if not all(r["outcome"] == "ok" for r in pooled[app].values()):
                                print(f"  [{app}] a baseline failed; no search", flush=True)
                                continue
                            tune(app, optimizer, seed, start, args.budget, args.remeasure, setup, executor,
                                 pooled[app])
        except WallLimit as exc:
            stopped = f"stopped at the wall limit ({exc}); rerun the same command to continue"
        except KeyboardInterrupt:
            stopped = "interrupted; rerun the same command to continue"
        except UserError as exc:
            stopped = f"stopped: {exc}"
    text, best_of = table(apps, optimizers, starts, seeds, args.budget, setup)
    label = machine_label(cpu, gpu)
    trials = sorted({Store(p).meta().get("trials") for p in setup.results.glob("*/*-from-*.h5")} - {None})
    section = [f"### Study: {', '.join(apps)} on {label}",
               f"Machine spec `{setup.machine}`, size `{setup.size}`, {'/'.join(map(str, trials)) or setup.trials} "
               f"trials per candidate, "
               f"default and expert in {setup.baseline_trials} interleaved rounds, budget {args.budget}, seeds "
               f"{seeds}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; wall "
               f"{time.time() - start_time:.0f} s; load average (5 min) {load_before:.1f} at the start, "
               f"{os.getloadavg()[1]:.1f} at the end{'; ' + stopped if stopped else ''}.", "",
               "Per repeat: the expert's median over the best median the search found (above 1.0 beats the "
               "expert; the start mapper counts as found). The published figures are their agent's (gpt-4o) "
               "on 4 x P100, not a measurement here.", "", text, "", mapper_diffs(best_of)]
    if args.confirm and best_of and not stopped:
        section += ["", confirmations(best_of, setup, executor, args.confirm, measure=not args.table_only)]
    if args.traces and best_of and not stopped and not args.table_only:
        section += ["", trace_diffs(best_of, setup)]
    report = "\n".join(section) + "\n"
    print("\n" + report, flush=True)
    if not args.no_report:
        with open(args.report, "a") as f:
            f.write("\n" + report)
    if stopped:
        print(f"study: {stopped}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

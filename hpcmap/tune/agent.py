"""The LLM agent: a trace-opt MapperAgent whose trainable functions write a mapper, tuned by OptoPrime.

Each of six trainable functions (`@bundle(trainable=True)`) returns one part of a mapper in the
mapping language: task placement, region placement, layout, memory pressure, index-launch mapping
functions, single-task mapping. `forward` joins the parts into one mapper. The functions take the
machine spec and the application metadata (tasks, regions, launch dimensions, variants, layout
requirements); the language reference is the documentation in the prompt. OptoPrime rewrites the
functions from the feedback on the last measured mapper (hpcmap.tune.feedback).

The agent keeps no state between calls: `propose` rebuilds the functions from the mapper texts in
`history`, split into parts by hpcmap.tune.parts (the base is the best of the last batch, or the
starting mapper), and earlier results become OptoPrime's memory, so a resumed study continues
where it stopped. A proposal that fails the
static check, raises, or repeats a measured mapper is sent back to the LLM with the reason, up to
`max_repairs` times, and costs no evaluation. Every LLM call of the last `propose` is in
`last_exchanges` (prompts, replies, tokens, cost; never the key), tagged with its slot, attempt,
purpose and candidate; the last call of each slot also with how the slot ended (`result`: a
candidate, one still invalid after the repairs, or none). The study takes them with
`take_exchanges` into its store's exchange log, which also counts the iterations that ended
without a candidate against the budget.

Options (Context.options; all optional):
  model        chat model name (default gpt-4o-2024-08-06)
  feedback     raw | explain | suggest | profile (default suggest)
  price_in     price per million prompt tokens (default 0)
  price_out    price per million completion tokens (default 0)
  llm_timeout  seconds per LLM request (default 120; `timeout` is read too)
  retries      retries per LLM request on 429, 5xx, timeouts (default 3)
  max_repairs  LLM calls per candidate beyond the first (default 3)
  memory       earlier results shown to the LLM (default 5)
  store        the study's store: profile feedback reads the candidates' traces there (default: the
               store beside Context.study_dir, which `hpcmap tune` names STORE_STEM.tune)
The starting mapper is Context.start_text ("" is Legion's DefaultMapper; `hpcmap tune --start`).
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcmap.errors import UserError
from hpcmap.tune import feedback as guide
from hpcmap.tune import llm
from hpcmap.tune.base import Candidate, Context, Evaluated
from hpcmap.tune.parts import PARTS, join_parts, mapper_key, parses, split_parts

LANGUAGE = Path(__file__).with_name("language.md")
DEFAULT_REPAIRS = 3
DEFAULT_MEMORY = 5
BASELINE_ORIGIN = "baseline"    # hpcmap.study's origin of its default and expert measurements


# The templates of the trainable functions: their docstrings tell the LLM what each part decides.
def task_placement(machine, app):
    """Task statements: the processor kinds each task (or * for the others) runs on, in priority order; also ControlReplicate and TaskSteal."""
    return ""


def region_placement(machine, app):
    """Region statements: for a task (or *), a region (or *) and a processor kind, the memory kinds its instances go to, in priority order."""
    return ""


def layout(machine, app):
    """Layout statements: field layout (SOA/AOS), dimension order (C_order/F_order), alignment of instances."""
    return ""


def memory_pressure(machine, app):
    """InstanceLimit and CollectMemory statements: backpressure on in-flight tasks and collection of read-only instances."""
    return ""


def index_mapping(machine, app):
    """Machine spaces (m = Machine(KIND);), mapping functions (def f(Task task) {...}) and IndexTaskMap statements for index launches."""
    return ""


def single_task_mapping(machine, app):
    """Mapping functions and SingleTaskMap statements for single (non-index) task launches."""
    return ""


TEMPLATES = {f.__name__: f for f in (task_placement, region_placement, layout, memory_pressure, index_mapping,
                                     single_task_mapping)}


def part_source(part: str, block: str) -> str:
    """Python source of a trainable function that returns `block`: its template's docstring, a constant."""
    doc = TEMPLATES[part].__doc__
    body = f'"""\n{block.strip()}\n"""' if block.strip() and '"""' not in block and "\\" not in block else repr(block)
    return f'def {part}(machine, app):\n    """{doc}"""\n    return {body}\n'


# ----------------------------------------------------------------------------- the trace-opt module


def machine_info(machine: Any) -> dict:
    data = machine.as_dict() if hasattr(machine, "as_dict") else dict(machine)
    return {k: data[k] for k in ("name", "nodes", "cpus", "gpus", "omps", "utility", "sysmem_mb", "fbmem_mb", "zcmem_mb")
            if k in data}


def app_info(app_name: str) -> dict:
    """Tasks with launch kind, dimensions, variants, region arguments and layout requirements."""
    from hpcmap.dsl.app import load_app

    app = load_app(app_name)
    tasks = {}
    for t in app.tasks.values():
        entry: dict[str, Any] = {"launch": t.launch, "variants": t.variants, "regions": t.regions}
        if t.launch == "index":
            entry["dims"] = t.dims
        if t.requires:
            entry["requires"] = [{"variant": r.variant, "region": r.region, "layout": list(r.layout),
                                  "reason": r.reason, **({"dense": True} if r.dense else {})} for r in t.requires]
        tasks[t.name] = entry
    return {"name": app.name, "tasks": tasks, "region_names": sorted(app.region_names)}


def assemble(*blocks):
    """The parts, in order, joined into one mapper; a part that is not text is an error the LLM sees."""
    for part, block in zip(PARTS, blocks):
        if not isinstance(block, str):
            raise TypeError(f"{part} returned {type(block).__name__}, not mapping-language text (str)")
    return join_parts(list(blocks))


def _make_agent_class():
    opto = llm.opto()
    reference = LANGUAGE.read_text()
    assemble_op = llm.bundle(assemble, description="[assemble] Joins the six parts, in order, into one mapper file "
                                                   "written in the mapping language below.\n\n" + reference)

    class MapperAgent(opto.trace.Module):
        """Six trainable functions, each writing one part of a mapper; forward joins them."""

        def __init__(self, blocks: dict[str, str]):
            for part in PARTS:
                fun = llm.bundle(TEMPLATES[part], trainable=True)
                fun.parameter._set(part_source(part, blocks.get(part, "")))
                setattr(self, part, fun)

        def part_parameters(self) -> dict[str, Any]:
            return {part: getattr(self, part).parameter for part in PARTS}

        def forward(self, machine, app):
            return assemble_op(*[getattr(self, part)(machine, app) for part in PARTS])

    return MapperAgent, opto


# ----------------------------------------------------------------------------- the optimizer


@dataclass
class _Base:
    text: str
    feedback: str
    name: str


class AgentOptimizer:
    """hpcmap.tune.base.Optimizer backed by the MapperAgent and OptoPrime."""

    name = "agent"

    def __init__(self, context: Context):
        options = context.options or {}
        self.context = context
        self.mode = str(options.get("feedback") or guide.DEFAULT_MODE)
        if self.mode not in guide.MODES:
            raise UserError(f"--feedback must be one of {', '.join(guide.MODES)}, not {self.mode!r}")
        self.max_repairs = int(options.get("max_repairs", DEFAULT_REPAIRS))
        self.memory = int(options.get("memory", DEFAULT_MEMORY))
        self.client = llm.ChatClient(llm.endpoint_from(options))
        self.machine = machine_info(context.machine)
        self.app = app_info(context.app)
        from hpcmap.dsl.app import load_app

        self._app_meta = load_app(context.app)
        self._agent_class, self._opto = _make_agent_class()
        self.last_exchanges: list[llm.Exchange] = []

    # -- what the LLM starts from

    def _feedback(self, e: Evaluated, history: list[Evaluated]) -> str:
        if e.feedback:
            return e.feedback
        profile = self._profile_text(e) if self.mode == "profile" and e.ok else ""
        return guide.describe(e, history, self.mode, profile)

    def _profile_text(self, e: Evaluated) -> str:
        """Where the time of this candidate's profiled run went, from the study store's trace ('' if none)."""
        store = self.context.options.get("store") or _store_beside(self.context.study_dir)
        if not store or not Path(store).exists():
            return ""
        from hpcmap.profile import summarize
        from hpcmap.profile.feedback import feedback, suggestions
        from hpcmap.store import Store

        runs = [r["trace"] for r in Store(store).records() if r.get("name") == e.candidate.name and r.get("trace")]
        if not runs:
            return ""
        summary = summarize(Path(store), runs[0].split("/", 1)[-1])
        return "\n".join([feedback(summary)] + [f"Suggest: {s}" for s in suggestions(summary)])

    def _base(self, history: list[Evaluated], k: int) -> _Base:
        """The starting mapper (with its result, when the study measured it) until the agent has proposed
        a mapper; then the best of the last batch (its last entry when none ran), skipping mappers that
        do not parse."""
        if all(e.candidate.origin == BASELINE_ORIGIN for e in history):
            start = mapper_key(self.context.start_text)
            measured = next((e for e in history if mapper_key(e.candidate.text) == start), None)
            if measured is not None:
                return _Base(measured.candidate.text, self._feedback(measured, history), measured.candidate.name)
            history = []
        recent = [e for e in history[-max(k, 1):] if parses(e.candidate.text)]
        ok = [e for e in recent if e.ok]
        chosen = min(ok, key=lambda e: e.median_s) if ok else (recent[-1] if recent else None)
        if chosen is None:
            from hpcmap.tune.base import best

            chosen = best([e for e in history if parses(e.candidate.text)])
        if chosen is None:
            start = "the default mapper (no statements)" if not self.context.start_text.strip() else "the starting mapper"
            return _Base(self.context.start_text, f"Nothing has been measured yet; this is {start}. "
                                                  "Propose a mapper that runs faster.", "start")
        return _Base(chosen.candidate.text, self._feedback(chosen, history), chosen.candidate.name)

    def _objective(self) -> str:
        return ("You write a mapper for the Legion application `{app}` on the machine `{machine}` (both described "
                "in #Inputs). Each function in #Variables returns one part of the mapper as text in the mapping "
                "language documented in #Documentation; `assemble` joins them. Change the functions so that the "
                "assembled mapper passes the static check and makes the application run faster, guided by "
                "#Feedback. Use only task and region names of the application, processor kinds the machine has "
                "and the tasks have variants for, and respect the layout requirements. A function returns a "
                "Python str.").format(app=self.app["name"], machine=self.machine.get("name", ""))

    # -- one proposal

    def propose(self, history: list[Evaluated], k: int) -> list[Candidate]:
        self.last_exchanges = []
        self.client.exchanges = self.last_exchanges
        measured = {mapper_key(e.candidate.text) for e in history}
        base = self._base(history, k)
        proposals: list[Candidate] = []
        for slot in range(max(k, 1)):
            try:
                cand, result = self._propose_one(base, history, measured, slot,
                                                 len(history) + len(proposals) + 1)
            except llm.LLMUnavailable as exc:
                if proposals:          # keep what this batch already has; the exchange log says what failed
                    break
                raise llm.LLMUnavailable(f"{exc}; the results measured so far are kept "
                                         "(continue with --resume)") from None
            if cand is not None:
                proposals.append(cand)
                measured.add(mapper_key(cand.text))
            mine = [x for x in self.last_exchanges if "candidate" not in x.tags]
            for exchange in mine:
                exchange.tags["candidate"] = cand.name if cand else None
            if mine:
                mine[-1].tags["result"] = result
        return proposals

    def take_exchanges(self) -> list[dict]:
        """The last propose's LLM calls as plain dicts, each handed out once (the study logs them)."""
        taken = [e.as_dict() for e in self.last_exchanges]
        self.last_exchanges.clear()
        return taken

    def _propose_one(self, base: _Base, history: list[Evaluated], measured: set, slot: int,
                     number: int) -> tuple[Candidate | None, str]:
        """One slot's candidate (None when the repairs produced none) and how the slot ended."""
        opto = self._opto
        node = opto.trace.node
        agent = self._agent_class(split_parts(base.text))
        params = agent.part_parameters()
        machine_node = node(self.machine, name="machine")
        app_node = node(self.app, name="app")
        opt = opto.optimizers.OptoPrime(agent.parameters(), llm=llm.trace_model(self.client),
                                        objective=self._objective(), memory_size=self.memory)
        self._remember(opt, params, history, base)
        output = agent.forward(machine_node, app_node)
        text_fb = base.feedback
        last_invalid: tuple[str, str] | None = None
        for attempt in range(1 + self.max_repairs):
            before = {p: n.data for p, n in params.items()}
            opt.zero_feedback()
            opt.backward(output, text_fb)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt.step(verbose=False)
            purpose = "propose" if attempt == 0 else "repair"
            if self.last_exchanges:
                self.last_exchanges[-1].tags.update({"slot": slot, "attempt": attempt, "purpose": purpose,
                                                     "base": base.name})
            changed = [p for p in PARTS if params[p].data != before[p]]
            try:
                output = agent.forward(machine_node, app_node)      # a fresh graph for the next feedback
            except opto.trace.ExecutionError as exc:
                output = exc.exception_node
                text_fb = f"Running the functions raised an error, so no mapper was produced:\n{exc}"
                continue
            if not changed:
                text_fb = _why_unchanged(self.last_exchanges[-1] if self.last_exchanges else None)
                continue
            text = output.data
            problems = self._check(text)
            if problems:
                last_invalid = (text, problems)
                text_fb = ("The assembled mapper fails the static check (it was not run):\n" + problems +
                           "\nFix these errors; keep the rest.")
                continue
            if mapper_key(text) in measured:
                text_fb = ("This mapper is the same as one already measured (see the earlier results); "
                           "propose a different one.")
                continue
            origin = f"agent: from {base.name}, changed {', '.join(changed)}, {attempt + 1} LLM call(s)"
            return Candidate(name=f"agent-{number:03d}", text=text, origin=origin), llm.CANDIDATE
        if last_invalid is not None:   # repairs spent: the study records it as invalid, without running it
            return Candidate(name=f"agent-{number:03d}", text=last_invalid[0],
                             origin=f"agent: from {base.name}, still invalid after {self.max_repairs} repairs"
                             ), llm.STILL_INVALID
        return None, llm.NO_CANDIDATE

    def _check(self, text: str) -> str:
        from hpcmap.dsl.check import check_text

        _, diags = check_text(text, "mapper", self._app_meta)
        return "\n".join(d.format() for d in diags if d.is_error)

    def _remember(self, opt, params: dict, history: list[Evaluated], base: _Base) -> None:
        """Earlier results (the best one always among them) as OptoPrime's memory, oldest first."""
        if self.memory <= 0:
            return
        from hpcmap.tune.base import best

        chosen = [e for e in history if e.candidate.name != base.name and parses(e.candidate.text)]
        recent = chosen[-self.memory:]
        top = best(history)
        if top is not None and top in chosen and top not in recent:
            recent = [top] + recent[1:] if len(recent) >= self.memory else [top] + recent
        for e in recent:
            blocks = split_parts(e.candidate.text)
            variables = {params[p].py_name: (part_source(p, blocks[p]), None) for p in PARTS}
            opt.memory.add((variables, self._feedback(e, history)))


def _store_beside(study_dir: str) -> str:
    """`hpcmap tune` keeps optimizer files in STEM.tune beside the store STEM.h5."""
    path = Path(study_dir) if study_dir else None
    if path is None or path.suffix != ".tune":
        return ""
    return next((str(p) for p in sorted(path.parent.glob(f"{path.stem}.*")) if p.suffix in (".h5", ".hdf5")), "")


def _why_unchanged(exchange: llm.Exchange | None) -> str:
    """Feedback for a reply that changed nothing: why, as far as the reply shows."""
    if exchange is None:
        return "There was no reply. Answer with the JSON object described in the output format."
    if exchange.error:
        return f"The reply could not be used ({exchange.error}). Answer with the JSON object of the output format."
    reply = exchange.reply.strip()
    if not reply:
        return "The reply was empty. Answer with the JSON object of the output format, with a \"suggestion\"."
    if "TERMINATE" in reply:
        return "Do not stop: the mapper can still be improved. Suggest new code for at least one function."
    try:
        data = json.loads(reply)
    except json.JSONDecodeError:
        match = re.search(r"\{.*\}", reply, re.DOTALL)
        try:
            data = json.loads(match.group(0)) if match else None
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        return "The reply was not valid JSON. Answer with exactly one JSON object as the output format says."
    if not data.get("suggestion"):
        return ("The reply had no suggestion. Put the new source of at least one function in \"suggestion\", "
                "keyed by its variable name (e.g. __code0).")
    return ("The suggestion changed nothing: its keys must be the variable names in #Variables and each value the "
            "full new Python source of that function (valid Python, same name and signature).")


def make(context: Context) -> AgentOptimizer:
    """The agent optimizer for a study (hpcmap.tune.optimizers calls this for the name `agent`)."""
    return AgentOptimizer(context)

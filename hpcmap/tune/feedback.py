"""What the agent is told about a measured mapper: the raw outcome, an explanation, a suggestion.

Every outcome maps to Explain + Suggest lines (the published system's "AutoGuide"): checker errors
with their hints, the mapper's one-line mapping-time error, a crash by signal, an out-of-memory or
instance allocation failure, a layout assertion of a kernel, a timeout, a wrong answer; a success
is phrased as its time and its speedup over the default mapper and over the best so far. Modes,
for ablations: `raw` (outcome and message only), `explain` (+ Explain), `suggest` (+ Suggest, the
default), `profile` (+ where the time went, from the run's trace; hpcmap.profile.feedback).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from hpcmap.tune.base import OK, Evaluated

MODES = ("raw", "explain", "suggest", "profile")
DEFAULT_MODE = "suggest"
MESSAGE_CHARS = 1500


@dataclass(frozen=True)
class Rule:
    """Raw text (a regular expression, case-insensitive) -> what it means and what to try."""

    pattern: str
    explain: str
    suggest: str


# Checked in order against the message of a failed run; the first match wins.
RULES = (
    Rule(r"stride does not match|unit.stride|layout (assertion|mismatch)|(needs|expects?) (row|column)-major",
         "An instance's layout is not the one the task's kernel expects (dimension order or field layout).",
         "Change the Layout statement of that task and region (C_order vs F_order, SOA vs AOS); "
         "respect the layout requirements listed in the application metadata."),
    Rule(r"out of memory|failed to allocate|could not allocate|cannot make an instance|instance allocation|"
         r"failed_instance_creation|OOM",
         "An instance could not be made where the Region statement put it: the memory is full, or the "
         "Layout's constraints cannot be met there.",
         "Give that region a fallback memory (e.g. `GPU FBMEM,ZCMEM` or `CPU SYSMEM`), relax its Layout "
         "(drop Exact or Align), add `CollectMemory` for read-only regions, or limit in-flight tasks with "
         "`InstanceLimit`."),
    Rule(r"by zero",
         "A mapping function divided by zero at mapping time.",
         "Guard the divisor (e.g. use `m.size[d]` or `task.ispace[d]`, never a difference that can be 0)."),
    Rule(r"out of range|not in this machine space",
         "A mapping function computed a processor index outside the machine space.",
         "Wrap every processor coordinate with `% m.size[d]` and check the launch dimensions (task.ipoint has "
         "as many entries as the launch domain)."),
    Rule(r"not a processor|is not defined|cannot index|cannot slice",
         "A mapping function returned or used a value of the wrong kind at mapping time.",
         "Return `m[i, j]` of a machine space `m = Machine(KIND)` with one integer per dimension."),
    Rule(r"no processors|has no variant|no valid task variant",
         "A statement sends a task to a processor kind it has no variant for, or that this machine lacks.",
         "Use only the kinds listed in the task's variants and present on the machine."),
)

OUTCOME_TEXT = {
    "invalid": ("The mapper does not pass the static check, so it was not run.",
                "Fix the reported line as its hint shows; use only the task and region names of the application."),
    "map_error": ("The mapper stopped the program at mapping time.",
                  "Fix the statement named on the error line."),
    "crash": ("The program crashed with this mapper.",
              "Undo the most recent change to placement or layout; keep tasks on processor kinds they have "
              "variants for and regions in memories those processors can reach."),
    "timeout": ("The program did not finish within the time limit (deadlock, thrashing, or far too slow).",
                "Go back to the best mapper so far and change less at once; avoid InstanceLimit values that "
                "starve the runtime and placing all work on one processor."),
    "wrong_answer": ("The program ran but its correctness check failed.",
                     "A layout or memory the kernels misread is the usual cause: restore the best mapper's Layout "
                     "statements and respect the layout requirements."),
    "infra_error": ("The run failed for a reason outside the mapper (worker or scheduler).",
                    "Nothing to learn from this run about the mapper; propose it again or another variant."),
}


def describe(result: Evaluated, history: list[Evaluated], mode: str = DEFAULT_MODE, profile: str = "") -> str:
    """Feedback text for one result; `history` gives the default's and the best time; `profile` is trace text."""
    if mode not in MODES:
        raise ValueError(f"feedback mode must be one of {', '.join(MODES)}")
    lines = [_raw(result)]
    if result.ok:
        timing = _timing(result, history)
        lines += timing[:1] if mode == "raw" else timing
        if mode in ("suggest", "profile"):
            lines.append("Suggest: keep what made this mapper fast and change one more decision: move compute "
                         "tasks to the fastest processors they have variants for, keep each task's data in "
                         "memory close to its processor, spread index launches over all processors.")
        if mode == "profile" and profile:
            lines.append("Profile of this run (where the time went):\n" + profile.strip())
        return "\n".join(lines)
    explain, suggest = _guide(result)
    if mode != "raw":
        lines.append(f"Explain: {explain}")
    if mode in ("suggest", "profile"):
        lines.append(f"Suggest: {suggest}")
    return "\n".join(lines)


def _raw(result: Evaluated) -> str:
    message = result.message.strip()
    if len(message) > MESSAGE_CHARS:
        message = "..." + message[-MESSAGE_CHARS:]
    return f"Outcome: {result.outcome}." + (f"\n{message}" if message else "")


def _timing(result: Evaluated, history: list[Evaluated]) -> list[str]:
    t = result.median_s
    cv = result.stats.get("cv")
    lines = [f"Execution time: {t:.4g} s (median" + (f", CV {cv:.1%}" if isinstance(cv, float) else "") + ")."]
    default = next((e for e in history if e.ok and e.candidate.text == ""), None)
    if default is not None and default.candidate.name != result.candidate.name:
        lines.append(f"Speedup over the default mapper ({default.median_s:.4g} s): {default.median_s / t:.3f}x.")
    others = [e for e in history if e.ok and e.candidate.name != result.candidate.name]
    if others:
        best = min(others, key=lambda e: e.median_s)
        verdict = "the best so far" if t < best.median_s else "not better than the best so far"
        lines.append(f"Speedup over the best other mapper ({best.candidate.name}, {best.median_s:.4g} s): "
                     f"{best.median_s / t:.3f}x; this is {verdict}.")
    return lines


def _guide(result: Evaluated) -> tuple[str, str]:
    """(explain, suggest) for a failed result: a matching rule, else the outcome's generic text."""
    explain, suggest = OUTCOME_TEXT.get(result.outcome, ("The run failed.", "Change the mapper."))
    if result.outcome == "invalid":
        hints = [h.strip() for h in re.findall(r"hint:\s*(.+)", result.message)]
        return explain, (suggest + (" Hints: " + " | ".join(hints[:3]) if hints else ""))
    signal = re.search(r"killed by signal (SIG\w+)", result.message)
    for rule in RULES:
        if re.search(rule.pattern, result.message, re.IGNORECASE):
            return rule.explain, rule.suggest
    if signal:
        explain = f"The program was killed by {signal.group(1)} with this mapper."
    return explain, suggest

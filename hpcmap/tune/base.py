"""What every optimizer sees and returns: candidates, their evaluated results, one small interface.

An optimizer proposes mapper texts; the study loop (hpcmap.study) checks, runs and stores them and
hands the whole history back on the next call, so an optimizer keeps no state that a resumed study
would lose: everything it needs is in `history`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

OK = "ok"


@dataclass(frozen=True)
class Candidate:
    """A proposed mapper. `text` is mapping-language source ("" means Legion's DefaultMapper)."""

    name: str
    text: str
    origin: str = ""                         # which optimizer and why, one line for people
    point: dict[str, Any] | None = None      # coordinates in hpcmap.tune.space, when there are any


@dataclass(frozen=True)
class Evaluated:
    """A candidate with its measured result, as the study loop stores it."""

    candidate: Candidate
    outcome: str                              # ok | invalid | map_error | crash | timeout | wrong_answer | infra_error
    median_s: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    message: str = ""                         # checker errors, the mapper's error line, stderr tail
    feedback: str = ""                        # text for optimizers that read it (the agent)

    @property
    def ok(self) -> bool:
        return self.outcome == OK and self.median_s is not None


@dataclass(frozen=True)
class Context:
    """The fixed inputs of one study, given to an optimizer when it is made."""

    app: str                                  # specs/apps/<app>.toml name
    machine: Any                              # hpcmap.machine.MachineSpec
    seed: int = 0
    start_text: str = ""                      # the starting mapper ("" = default)
    study_dir: str = ""                       # where an optimizer may keep files (e.g. OpenTuner's database)
    options: dict[str, Any] = field(default_factory=dict)


class Optimizer(Protocol):
    """One search technique. `propose` returns up to k new candidates, never ones already in history."""

    name: str

    def propose(self, history: list[Evaluated], k: int) -> list[Candidate]: ...


def best(history: list[Evaluated]) -> Evaluated | None:
    """The fastest valid result so far."""
    valid = [e for e in history if e.ok]
    return min(valid, key=lambda e: e.median_s) if valid else None

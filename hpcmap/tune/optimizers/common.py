"""What the space-based optimizers share: the space of a study, seen texts, seeded randomness,
scores, and candidates named after their optimizer."""
from __future__ import annotations

import math
import random

from hpcmap.tune.base import Candidate, Context, Evaluated
from hpcmap.tune.space import MapperSpace, space_for

# Draws of the space tried for each wanted candidate before an optimizer gives up looking for a new one.
DRAWS_PER_CANDIDATE = 200


def space_of(context: Context) -> MapperSpace:
    return space_for(context.app, context.machine)


def key(text: str) -> str:
    """What makes two mapper texts the same candidate."""
    return text.strip()


def seen(history: list[Evaluated]) -> set[str]:
    return {key(e.candidate.text) for e in history}


def rng_for(context: Context, history: list[Evaluated], salt: str) -> random.Random:
    """Randomness fixed by the seed and how far the study is: the same history gives the same proposals."""
    return random.Random(f"{salt}:{context.seed}:{len(history)}")


def score(e: Evaluated) -> float:
    """Seconds to minimise; a failed candidate scores infinity."""
    return e.median_s if e.ok else math.inf


def scores(history: list[Evaluated]) -> dict[str, Evaluated]:
    """The best evaluation of each distinct text."""
    best: dict[str, Evaluated] = {}
    for e in history:
        k = key(e.candidate.text)
        if k not in best or score(e) < score(best[k]):
            best[k] = e
    return best


def candidate(space: MapperSpace, point: dict, optimizer: str, number: int, why: str) -> Candidate:
    return Candidate(name=f"{optimizer}-{number:03d}", text=space.render(point), origin=f"{optimizer}: {why}",
                     point=dict(point))


def random_fill(space: MapperSpace, rng: random.Random, taken: set[str], wanted: int, optimizer: str,
                first_number: int, why: str = "random point") -> list[Candidate]:
    """Up to `wanted` new random candidates whose texts are not in `taken` (which they join)."""
    out: list[Candidate] = []
    for _ in range(wanted * DRAWS_PER_CANDIDATE):
        if len(out) == wanted:
            break
        point = space.sample(rng)
        text = key(space.render(point))
        if text in taken:
            continue
        taken.add(text)
        out.append(candidate(space, point, optimizer, first_number + len(out), why))
    return out

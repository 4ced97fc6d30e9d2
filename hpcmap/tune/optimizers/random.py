"""Random search: uniform points of the mapper space, each new to the study."""
from __future__ import annotations

from hpcmap.tune.base import Candidate, Context, Evaluated
from hpcmap.tune.optimizers.common import random_fill, rng_for, seen, space_of


class RandomSearch:
    name = "random"

    def __init__(self, context: Context):
        self.context = context
        self.space = space_of(context)

    def propose(self, history: list[Evaluated], k: int) -> list[Candidate]:
        return random_fill(self.space, rng_for(self.context, history, self.name), seen(history), k,
                           self.name, len(history) + 1)


def make(context: Context) -> RandomSearch:
    return RandomSearch(context)

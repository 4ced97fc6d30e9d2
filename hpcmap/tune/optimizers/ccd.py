"""Constrained coordinate descent, after AutoMap (Teixeira et al., SC'23).

From the start point (the default mapper), visit the coordinates one at a time: the task kinds,
then the memories of each (task, region), the mapping functions, placements, layouts and knobs.
For each coordinate, try every other value (a move of a task's kind takes its regions to memories
that kind sees: MapperSpace.move), keep the fastest if it beats the current point beyond the
noise, and go on to the next coordinate. Sweep until a whole sweep gains nothing, then restart
from a random point.

The optimizer keeps no state: each call replays the descent over `history` (results are looked up
by mapper text) up to the first coordinate whose moves have not all been measured, and proposes
those. A batch larger than that coordinate's moves is filled from the following coordinates, as
if the current point did not change (the next call replays with the real outcome).
"""
from __future__ import annotations

import random

from hpcmap.tune.base import Candidate, Context, Evaluated
from hpcmap.tune.optimizers.common import candidate, key, random_fill, rng_for, score, scores, seen, space_of

MIN_GAIN = 0.01    # a move must be at least 1% faster, and faster beyond both 95% intervals
MAX_RESTARTS = 100


def faster(new: Evaluated | None, old: Evaluated | None) -> bool:
    """Whether `new` beats `old` beyond the noise (the 95% CI half-widths of both)."""
    if new is None or not new.ok:
        return False
    if old is None or not old.ok:
        return True
    noise = max((new.stats or {}).get("ci95_s") or 0.0, (old.stats or {}).get("ci95_s") or 0.0,
                MIN_GAIN * old.median_s)
    return new.median_s < old.median_s - noise


class CoordinateDescent:
    name = "ccd"

    def __init__(self, context: Context):
        self.context = context
        self.space = space_of(context)

    def propose(self, history: list[Evaluated], k: int) -> list[Candidate]:
        results = scores(history)
        taken = seen(history)
        wanted: list[tuple[dict, str]] = []

        def want(point: dict, why: str) -> None:
            text = key(self.space.render(point))
            if text not in taken and len(wanted) < k:
                taken.add(text)
                wanted.append((point, why))

        self._replay(results, want, lambda: len(wanted) >= k)
        number = len(history) + 1
        out = [candidate(self.space, p, self.name, number + i, why) for i, (p, why) in enumerate(wanted)]
        if not out:  # every restart converged: go on at random
            out = random_fill(self.space, rng_for(self.context, history, self.name), taken, k, self.name, number)
        return out

    def _replay(self, results: dict[str, Evaluated], want, full) -> None:
        """Walk the descent through the measured results; `want` the moves it needs measured next."""
        def result(point: dict) -> Evaluated | None:
            return results.get(key(self.space.render(point)))

        for restart in range(MAX_RESTARTS + 1):
            current = (self.space.sample(random.Random(f"ccd-restart:{self.context.seed}:{restart}"))
                       if restart else self.space.start_point())
            now = result(current)
            if now is None:
                want(current, f"restart {restart}" if restart else "start point")
            blocked = now is None
            sweep = 0
            while True:
                sweep += 1
                moved = False
                for coord in self.space.coordinates:
                    if full():
                        return
                    neighbours = self.space.neighbours(current, coord.name)
                    missing = [n for n in neighbours if result(n) is None]
                    for n in missing:
                        want(n, f"sweep {sweep}: {coord.name} = {n[coord.name]}")
                    if missing or blocked:
                        blocked = True  # later coordinates are tried as if the point had not moved
                        continue
                    best = min(neighbours, key=lambda n: score(result(n)), default=None)
                    if best is not None and faster(result(best), now):
                        current, now, moved = best, result(best), True
                if blocked:
                    return
                if not moved:
                    break  # converged: restart elsewhere


def make(context: Context) -> CoordinateDescent:
    return CoordinateDescent(context)

"""Optuna's tree-structured Parzen estimator over the mapper space, ask/tell.

Every call builds an in-memory Optuna study from the history (each coordinate a categorical
parameter, the index of its option), so the optimizer keeps no state and a resumed study goes on
where it was. A failed mapper is told a time well above the slowest valid one, so TPE learns to
avoid its region of the space. Batches use TPE's constant liar: pending candidates count as bad,
so one batch spreads out instead of proposing the same point k times.
"""
from __future__ import annotations

import math
import warnings

from hpcmap.tune.base import Candidate, Context, Evaluated
from hpcmap.tune.optimizers.common import candidate, key, random_fill, rng_for, score, seen, space_of

ASKS_PER_CANDIDATE = 50
FAILURE_FACTOR = 10.0      # a failed mapper counts as 10 x the slowest valid one
STARTUP_TRIALS = 8         # random draws before the model is used


class TPESearch:
    name = "tpe"

    def __init__(self, context: Context):
        self.context = context
        self.space = space_of(context)

    def _point(self, params: dict) -> dict:
        return self.space.repair({c.name: c.options[params[c.name]] for c in self.space.coordinates})

    def _known_point(self, e: Evaluated) -> dict | None:
        p = e.candidate.point
        if p is not None and set(p) == set(self.space.by_name):
            return p
        return self.space.default_point() if key(e.candidate.text) == "" else None

    def propose(self, history: list[Evaluated], k: int) -> list[Candidate]:
        import optuna
        from optuna.distributions import CategoricalDistribution

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        valid = [e.median_s for e in history if e.ok]
        failed = FAILURE_FACTOR * max(valid) if valid else 1e6

        def value(seconds: float) -> float:
            return seconds if math.isfinite(seconds) else failed

        dists = {c.name: CategoricalDistribution(list(range(len(c.options)))) for c in self.space.coordinates}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate and constant_liar are marked experimental
            sampler = optuna.samplers.TPESampler(seed=rng_for(self.context, history, self.name).randrange(2**31),
                                                 n_startup_trials=STARTUP_TRIALS, multivariate=True,
                                                 constant_liar=True)
            study = optuna.create_study(direction="minimize", sampler=sampler)
            for e in history:
                point = self._known_point(e)
                if point is not None:
                    params = {c.name: c.options.index(point.get(c.name, c.options[0])) for c in self.space.coordinates}
                    study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value(score(e))))
            known = {key(e.candidate.text): value(score(e)) for e in history}
            taken = seen(history)
            out: list[Candidate] = []
            for _ in range(k * ASKS_PER_CANDIDATE):
                if len(out) == k:
                    break
                trial = study.ask(dists)
                point = self._point(trial.params)
                text = key(self.space.render(point))
                if text in known:
                    study.tell(trial, known[text])
                    continue
                if text in taken:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                taken.add(text)  # left running: the constant liar keeps the next asks away from it
                out.append(candidate(self.space, point, self.name, len(history) + 1 + len(out), "TPE"))
        if len(out) < k:
            out += random_fill(self.space, rng_for(self.context, history, self.name), taken, k - len(out),
                               self.name, len(history) + 1 + len(out))
        return out


def make(context: Context) -> TPESearch:
    return TPESearch(context)

"""OpenTuner's ensemble search (AUC bandit over its techniques) over the mapper space, ask/tell.

Each coordinate of the space is an OpenTuner enum parameter (the index of its option). OpenTuner
asks for configurations through `TuningRunManager`; hpcmap runs them and tells the results back.
A configuration that repairs to a mapper already measured is told that mapper's result at once,
so OpenTuner learns from it without a second run. The sqlite database and OpenTuner's log live in
the study directory (`opentuner/`). A fresh process (a resumed study) starts a new tuning run in
the same database and first tells it the whole history, so the search continues where it was.
"""
from __future__ import annotations

import contextlib
import logging
import math
import random
import warnings
from pathlib import Path

from hpcmap.tune.base import Candidate, Context, Evaluated
from hpcmap.tune.optimizers.common import candidate, key, random_fill, rng_for, score, seen, space_of

ASKS_PER_CANDIDATE = 50   # configurations asked for per wanted candidate before falling back to random


def _param(coordinate: str) -> str:
    """OpenTuner reads `/` in a parameter name as a path into nested configurations."""
    return coordinate.replace("/", ":")


class OpenTunerSearch:
    name = "opentuner"

    def __init__(self, context: Context):
        self.context = context
        self.space = space_of(context)
        self.manager = None
        self.told = 0                                  # history entries told so far
        self.waiting: dict[str, list] = {}             # mapper text -> OpenTuner requests awaiting its result
        self.rng_state = random.Random(f"opentuner:{context.seed}").getstate()

    # ------------------------------------------------------------ OpenTuner plumbing
    @contextlib.contextmanager
    def _seeded(self):
        """OpenTuner draws from the global `random`: give it this study's stream, then restore the caller's."""
        outer = random.getstate()
        random.setstate(self.rng_state)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SQLAlchemy's "not in session" warning on every flush
                yield
        finally:
            self.rng_state = random.getstate()
            random.setstate(outer)

    def _start(self) -> None:
        import opentuner
        from opentuner import tuningrunmain
        from opentuner.api import TuningRunManager
        from opentuner.measurement.interface import DefaultMeasurementInterface
        from opentuner.search.manipulator import ConfigurationManipulator, EnumParameter

        database = "sqlite://"
        log = logging.getLogger("opentuner")
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        log.propagate = False
        log.setLevel(logging.INFO)
        if self.context.study_dir:
            folder = Path(self.context.study_dir) / "opentuner"
            folder.mkdir(parents=True, exist_ok=True)
            database = f"sqlite:///{folder / 'opentuner.db'}"
            log.addHandler(logging.FileHandler(folder / "opentuner.log"))
        else:
            log.addHandler(logging.NullHandler())
        tuningrunmain.init_logging = lambda: None  # it would log to ./opentuner.log and the console
        manipulator = ConfigurationManipulator()
        for c in self.space.coordinates:
            manipulator.add_parameter(EnumParameter(_param(c.name), list(range(len(c.options)))))
        args = opentuner.default_argparser().parse_args(
            ["--database", database, "--no-dups", "--label", f"{self.context.app}-seed{self.context.seed}"])
        interface = DefaultMeasurementInterface(args=args, manipulator=manipulator, project_name="hpcmap",
                                                program_name=self.context.app, program_version="1")
        self.manager = TuningRunManager(interface, args)

    def _config(self, point: dict) -> dict:
        return {_param(c.name): c.options.index(point.get(c.name, c.options[0])) for c in self.space.coordinates}

    def _point(self, config: dict) -> dict:
        return self.space.repair({c.name: c.options[config[_param(c.name)]] for c in self.space.coordinates})

    def _result(self, seconds: float):
        from opentuner.resultsdb.models import Result

        return Result(time=seconds) if math.isfinite(seconds) else Result(state="ERROR", time=float("inf"))

    def _tell_unasked(self, point: dict, seconds: float) -> None:
        """Tell a result OpenTuner did not ask for (history from before this process, or other optimizers)."""
        from datetime import datetime

        from opentuner.resultsdb.models import DesiredResult

        driver = self.manager.search_driver
        dr = DesiredResult(configuration=driver.get_configuration(self._config(point)), requestor="history",
                           generation=driver.generation, request_date=datetime.now(),
                           tuning_run=self.manager.tuning_run, state="RUNNING")
        self.manager.session.add(dr)
        self.manager.report_result(dr, self._result(seconds))

    def _tell(self, history: list[Evaluated]) -> None:
        for e in history[self.told:]:
            text = key(e.candidate.text)
            asked = self.waiting.pop(text, [])
            for dr in asked:
                self.manager.report_result(dr, self._result(score(e)))
            if not asked:
                point = self._known_point(e)
                if point is not None:
                    self._tell_unasked(point, score(e))
        self.told = len(history)

    def _known_point(self, e: Evaluated) -> dict | None:
        """The point of a measured candidate in this space, if it has one (the default mapper does)."""
        p = e.candidate.point
        if p is not None and set(p) == set(self.space.by_name):
            return p
        return self.space.default_point() if key(e.candidate.text) == "" else None

    # ------------------------------------------------------------ the interface
    def propose(self, history: list[Evaluated], k: int) -> list[Candidate]:
        with self._seeded():
            if self.manager is None:
                self._start()
            self._tell(history)
            known = {key(e.candidate.text): score(e) for e in history}
            taken = seen(history) | set(self.waiting)
            out: list[Candidate] = []
            for _ in range(k * ASKS_PER_CANDIDATE):
                if len(out) == k:
                    break
                dr = self.manager.get_next_desired_result()
                if dr is None:
                    break
                point = self._point(dr.configuration.data)
                text = key(self.space.render(point))
                if text in known:
                    self.manager.report_result(dr, self._result(known[text]))
                    continue
                self.waiting.setdefault(text, []).append(dr)
                if text in taken:
                    continue  # already proposed, waiting for its result
                taken.add(text)
                out.append(candidate(self.space, point, self.name, len(history) + 1 + len(out),
                                     f"requested by {dr.requestor}"))
            self.manager.commit(force=True)  # release the database between calls
        if len(out) < k:
            out += random_fill(self.space, rng_for(self.context, history, self.name), taken, k - len(out),
                               self.name, len(history) + 1 + len(out))
        return out


def make(context: Context) -> OpenTunerSearch:
    return OpenTunerSearch(context)

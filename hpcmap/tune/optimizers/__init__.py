"""The optimizers, by name. Each is a small module with `make(context) -> Optimizer`, imported only
when chosen (OpenTuner, Optuna and the LLM client load nothing until then)."""
from __future__ import annotations

import importlib

from hpcmap.errors import UserError
from hpcmap.tune.base import Context, Optimizer

OPTIMIZERS = {
    "random": "hpcmap.tune.optimizers.random",      # uniform points of the mapper space
    "ccd": "hpcmap.tune.optimizers.ccd",            # constrained coordinate descent (AutoMap, SC'23)
    "opentuner": "hpcmap.tune.optimizers.opentuner",  # OpenTuner's bandit ensemble, ask/tell
    "tpe": "hpcmap.tune.optimizers.tpe",            # Optuna's tree-structured Parzen estimator
    "agent": "hpcmap.tune.agent",                   # the LLM agent
}


def make_optimizer(name: str, context: Context) -> Optimizer:
    """The optimizer called `name` for one study; an unknown name is a UserError with the choices."""
    if name not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return importlib.import_module(OPTIMIZERS[name]).make(context)

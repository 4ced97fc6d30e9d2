"""The machine shape the evaluator needs, from a machine spec (hpcmap.machine)."""
from __future__ import annotations

from hpcmap import machine
from hpcmap.dsl.evaluate import MachineShape


def shape_of(spec: machine.MachineSpec) -> MachineShape:
    """Processor counts per node, and the memory kinds each processor kind has affinity to as
    Realm sets them up: zero-copy memory exists only with GPUs and is visible to CPUs and GPUs."""
    host = ("SYSMEM", "ZCMEM") if spec.gpus > 0 else ("SYSMEM",)
    return MachineShape(spec.nodes, {"CPU": spec.cpus, "GPU": spec.gpus, "OMP": spec.omps,
                                     "IO": 0, "PY": 0, "PROC": 0},
                        {"CPU": host, "OMP": host, "GPU": ("FBMEM", "ZCMEM"), "IO": host, "PY": host, "PROC": host})


def load_machine(spec: str) -> tuple[str, MachineShape]:
    """`NAME` means specs/machines/NAME.toml (`local` is detected when that file is absent)."""
    loaded = machine.load(spec)
    return loaded.name, shape_of(loaded)

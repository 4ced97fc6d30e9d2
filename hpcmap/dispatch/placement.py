"""Dividing this host's cores (and GPUs) among candidates that run at the same time.

Realm reserves a core of its own for each CPU and OpenMP processor (`-ll:cpu`, `-ll:ocpu`), lets
utility, GPU and background threads share cores, and builds its core map from the process's
affinity mask. A candidate pinned to whole physical cores, at least as many as those reservations,
therefore runs as its spec says, and candidates pinned to disjoint sets never share a core.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hpcmap.legion.launch import in_slurm_allocation


@dataclass(frozen=True)
class Slot:
    """Where one worker runs its candidates: logical CPUs and, when divided, CUDA devices."""

    cpus: tuple[int, ...]
    gpus: tuple[str, ...] | None = None

    def describe(self) -> str:
        return cpu_list(self.cpus) + (f" with GPU {','.join(self.gpus)}" if self.gpus else "")


@dataclass(frozen=True)
class Placement:
    """The slots that run candidates at the same time, and one line saying how they were chosen
    (empty when one candidate at a time was asked for and fits)."""

    slots: tuple[Slot, ...]
    note: str = ""


def plan(machine: dict, workers: int, cores: list[tuple[int, ...]] | None = None,
         gpus: list[str] | None = None, asked: bool = True) -> Placement:
    """Give `workers` candidates of `machine` (a MachineSpec as a dict) disjoint physical cores (and
    GPUs), or fewer candidates at a time when this host cannot, which the note says when `workers`
    was `asked` for. `cores` are logical CPUs grouped by physical core (default: this process's
    affinity); `gpus` the CUDA devices (default: the visible ones)."""
    cores = physical_cores() if cores is None else cores
    need = cores_needed(machine)
    fit = len(cores) // need
    reasons = [f"machine {machine.get('name', '?')} needs {need} core(s) per candidate and this host gives "
               f"{len(cores)}"]
    per_candidate_gpus = int(machine.get("gpus", 0)) * processes_on_host(machine)
    if per_candidate_gpus:
        gpus = visible_gpus() if gpus is None else gpus
        # Several processes of one candidate are given GPUs by absolute index (launch.per_node_argv).
        fit = min(fit, len(gpus) // per_candidate_gpus if processes_on_host(machine) == 1 else 1)
        reasons.append(f"{per_candidate_gpus} GPU(s) per candidate of {len(gpus)}")
    at_once = max(1, min(workers, fit))
    every_cpu = tuple(cpu for core in cores for cpu in core)
    if at_once == 1:
        slots: tuple[Slot, ...] = (Slot(every_cpu),)
    else:
        share = len(cores) // at_once
        slots = tuple(Slot(tuple(cpu for core in cores[i * share:(i + 1) * share] for cpu in core),
                           tuple(gpus[i * per_candidate_gpus:(i + 1) * per_candidate_gpus])
                           if per_candidate_gpus else None)
                      for i in range(at_once))
    where = f", each on cores of its own: {' | '.join(s.describe() for s in slots)}" if at_once > 1 else ""
    if fit < 1:
        note = (f"{'; '.join(reasons)}: one candidate at a time, on all of them, its processors sharing cores")
    elif at_once < workers and asked:
        note = f"{'; '.join(reasons)}: {at_once} candidate(s) at a time instead of {workers}{where}"
    elif at_once > 1:
        note = f"{at_once} candidates at a time{where}"
    else:
        note = ""
    return Placement(slots, note)


def processes_on_host(machine: dict) -> int:
    """Legion processes of one candidate on this host: one per node, unless Slurm spreads them."""
    nodes = int(machine.get("nodes", 1))
    return 1 if nodes == 1 or in_slurm_allocation() else nodes


def cores_needed(machine: dict) -> int:
    """Physical cores one candidate reserves on this host: one per CPU and OpenMP processor."""
    per_process = max(1, int(machine.get("cpus", 1)) + int(machine.get("omps", 0)))
    return per_process * processes_on_host(machine)


def physical_cores(cpus: set[int] | None = None) -> list[tuple[int, ...]]:
    """The allowed logical CPUs (default: this process's affinity) grouped by physical core, so
    hyperthread siblings always go to the same candidate."""
    allowed = sorted(os.sched_getaffinity(0) if cpus is None else cpus)
    groups: dict[str, list[int]] = {}
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            core = f"{(topology / 'physical_package_id').read_text().strip()}:{(topology / 'core_id').read_text().strip()}"
        except OSError:
            core = f"cpu{cpu}"
        groups.setdefault(core, []).append(cpu)
    return [tuple(group) for group in groups.values()]


def visible_gpus() -> list[str]:
    """CUDA devices this process may use: CUDA_VISIBLE_DEVICES when set, else all of the host's."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    from hpcmap.machine import detect_gpus

    return [str(i) for i in range(len(detect_gpus()))]


def cpu_list(cpus) -> str:
    """Logical CPUs as Linux writes them (Cpus_allowed_list): 0-3,8."""
    ordered, parts = sorted(cpus), []
    for cpu in ordered:
        if parts and cpu == parts[-1][1] + 1:
            parts[-1][1] = cpu
        else:
            parts.append([cpu, cpu])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)

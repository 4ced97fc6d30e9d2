"""Campaigns: apps x node counts x mappers x sizes, described in a TOML file, run as Slurm jobs into one store.

A campaign file (specs/campaigns/example.toml):

    name = "cpu-scaling"                  # optional: the file's name without .toml
    apps = ["stencil", "circuit"]
    nodes = [1, 2, 4]
    mappers = ["default", "expert"]       # default, expert, or mapper files (relative to this file)
    sizes = ["small"]                     # presets and/or key=value overrides, for every app ...
    # [sizes]                             # ... or per app: stencil = ["small", "nx=2000,ny=2000"]
    trials = 5
    machine = "local"                     # the per-node spec; its nodes are replaced by each count
    timeout = 300                         # seconds per trial
    [slurm]                               # optional: partition, account, qos, time (minutes), cpus
    partition = "debug"                   # (per node), mem (MB per node), retries, sbatch = {KEY = "VALUE"}

Each point (app, size, mapper, node count) is one Slurm job. `dry_run` writes a readable sbatch
script per point (`hpcmap run ... --json` into a results folder) that a user can edit and submit by
hand; `run` submits the points through the Slurm executor (submitit) and keeps every result in one
study store, and a resumed campaign first waits for the jobs an earlier head left running and
collects what finished, so no finished or running point is submitted again.
"""
from __future__ import annotations

import math
import shlex
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from hpcmap import apps, machine, scale
from hpcmap.errors import UserError
from hpcmap.records import EvalRequest

KEYS = ("name", "apps", "nodes", "mappers", "sizes", "trials", "machine", "timeout", "slurm")
SLURM_KEYS = ("partition", "account", "qos", "time", "cpus", "mem", "retries", "sbatch")


@dataclass(frozen=True)
class Campaign:
    """A campaign file, checked: every name resolved, every count in range."""

    path: Path
    name: str
    apps: list[str]
    nodes: list[int]
    mappers: list[str]
    sizes: dict[str, list[str]]   # app -> size texts
    trials: int = 5
    machine: str = "local"
    timeout_s: float = 300.0
    slurm: dict = field(default_factory=dict)

    def meta(self) -> dict:
        """What the campaign's store fixes: the whole definition (a changed file is another campaign)."""
        return {"kind": "campaign", "campaign": self.name, "app": ", ".join(self.apps),
                "machine": f"{machine.load(self.machine).name} at several node counts",
                "definition": {"apps": self.apps, "nodes": self.nodes, "mappers": self.mappers, "sizes": self.sizes,
                               "trials": self.trials, "machine": self.machine, "timeout_s": self.timeout_s}}


def check_unchanged(campaign: Campaign, store) -> None:
    """Refuse to resume a campaign whose file changed since its store began, naming what changed."""
    stored = (store.meta() if store.path.exists() else {}).get("definition")
    if stored is None:
        return
    now = campaign.meta()["definition"]
    changed = [k for k in now if k in stored and stored[k] != now[k]]
    if changed:
        key = changed[0]
        raise UserError(f"{campaign.path} has changed since {store.path} began ({key}: was {stored[key]!r}, now "
                        f"{now[key]!r}); restore it to resume, or choose another --store")


def load(path: str | Path) -> Campaign:
    """Read and check a campaign file; any mistake is one UserError naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no campaign file {path}")
    data = apps.read_toml(path)
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise UserError(f"{path}: unknown key {unknown[0]!r}; a campaign has {', '.join(KEYS)}")
    here = path.parent

    def strings(key: str, default: list[str] | None = None) -> list[str]:
        value = data.get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise UserError(f"{path}: `{key}` must be a non-empty list of names, e.g. {key} = [\"stencil\"]")
        return value

    app_names = strings("apps")
    for name in app_names:
        if name not in apps.known_apps():
            raise UserError(f"{path}: unknown app {name!r} in `apps`; known apps: {', '.join(apps.known_apps())}")
    try:
        nodes = scale.parse_nodes(data.get("nodes", [1]) if isinstance(data.get("nodes", [1]), list)
                                  else [data["nodes"]])
    except UserError as exc:
        raise UserError(f"{path}: `nodes`: {exc}") from None
    mapper_names = [m if m in ("default", "expert") else str((here / m).resolve())
                    for m in strings("mappers", ["default"])]
    for m in mapper_names:
        if m not in ("default", "expert") and not Path(m).is_file():
            raise UserError(f"{path}: no mapper file {m} (in `mappers`; paths are relative to the campaign file)")
    sizes = _sizes(path, data.get("sizes", ["small"]), app_names)
    trials = data.get("trials", 5)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UserError(f"{path}: `trials` must be a whole number of at least 1, not {trials!r}")
    timeout = data.get("timeout", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise UserError(f"{path}: `timeout` must be a positive number of seconds, not {timeout!r}")
    spec = data.get("machine", "local")
    if not isinstance(spec, str):
        raise UserError(f"{path}: `machine` must be a machine spec name or .toml path")
    if spec.endswith(".toml") and not Path(spec).is_absolute():
        spec = str((here / spec).resolve())
    machine.load(spec)   # a missing or bad spec is its own error line
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{path}: `name` must be a non-empty string")
    return Campaign(path, name, app_names, nodes, mapper_names, sizes, trials, spec, float(timeout),
                    _slurm(path, data.get("slurm", {})))


def _sizes(path: Path, value, app_names: list[str]) -> dict[str, list[str]]:
    """`sizes` as app -> size texts, each checked against the app's presets and parameters."""
    if isinstance(value, (str, list)):
        table = {a: value for a in app_names}
    elif isinstance(value, dict):
        extra = sorted(set(value) - set(app_names))
        if extra:
            raise UserError(f"{path}: [sizes] names {extra[0]!r}, which is not in `apps`")
        table = {a: value.get(a, ["small"]) for a in app_names}
    else:
        raise UserError(f"{path}: `sizes` must be a list of sizes or a table of them per app")
    out = {}
    for app_name, sizes in table.items():
        sizes = [sizes] if isinstance(sizes, str) else sizes
        if not isinstance(sizes, list) or not sizes or not all(isinstance(s, str) for s in sizes):
            raise UserError(f"{path}: the sizes of {app_name} must be a non-empty list, e.g. [\"small\"]")
        app = apps.load(app_name)
        for text in sizes:
            try:
                app.size(*apps.parse_size(text))
            except UserError as exc:
                raise UserError(f"{path}: `sizes`: {exc}") from None
        out[app_name] = list(sizes)
    return out


def _slurm(path: Path, table) -> dict:
    if not isinstance(table, dict):
        raise UserError(f"{path}: [slurm] must be a table")
    unknown = sorted(set(table) - set(SLURM_KEYS))
    if unknown:
        raise UserError(f"{path}: unknown key {unknown[0]!r} in [slurm]; it has {', '.join(SLURM_KEYS)}")
    for key, least in (("time", 1), ("cpus", 1), ("mem", 1), ("retries", 0)):
        value = table.get(key, least)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UserError(f"{path}: [slurm] `{key}` must be a whole number of at least {least}, not {value!r}")
    if not isinstance(table.get("sbatch", {}), dict):
        raise UserError(f"{path}: [slurm] `sbatch` must be a table of sbatch options, e.g. {{exclude = \"node4\"}}")
    return dict(table)


# ----------------------------------------------------------------------------- points


def points(campaign: Campaign, legion_root: str | None = None, build: bool = True) -> list[tuple[EvalRequest, dict]]:
    """Every (app, size, mapper, node count) of the campaign as (request, note); builds each app once."""
    out = []
    for app_name in campaign.apps:
        for size in campaign.sizes[app_name]:
            for req, note in scale.plan(app_name, campaign.mappers, campaign.nodes, "strong", campaign.machine, size,
                                        campaign.trials, campaign.timeout_s, [], legion_root, build):
                name = point_label(app_name, size, note["mapper"], note["nodes"])
                out.append((replace(req, name=name), {**note, "app": app_name, "size_text": size}))
    return out


def point_label(app_name: str, size: str, mapper: str, nodes: int) -> str:
    """`stencil-small-expert@2n`: readable, and safe in a job name and a file name."""
    short = mapper if mapper in ("default", "expert") else Path(mapper).stem
    text = f"{app_name}-{size}-{short}".replace("=", "").replace(",", "-").replace(".", "_").replace("/", "_")
    return f"{text}@{nodes}n"


def slurm_options(campaign: Campaign, store: Path) -> dict:
    s = campaign.slurm
    return {"folder": str(store.parent / f"{store.stem}.submitit"), "study": campaign.name,
            "partition": s.get("partition"), "account": s.get("account"), "qos": s.get("qos"),
            "time_min": s.get("time"), "cpus_per_task": s.get("cpus"), "mem_mb": s.get("mem"),
            "retries": s.get("retries", 1),
            "sbatch": {str(k): str(v) for k, v in (s.get("sbatch") or {}).items()}, "array": False}


# ----------------------------------------------------------------------------- dry run: readable scripts


def dry_run(campaign: Campaign, store: Path, legion_root: str | None = None) -> list[Path]:
    """One editable sbatch script per point under STORE.sbatch/ (with the per-point machine specs),
    each running `hpcmap run ... --json` into STORE.sbatch/results/; submits nothing."""
    from hpcmap.dispatch.slurm import SlurmExecutor, SlurmOptions, _safe
    from hpcmap.paths import ROOT

    out = store.resolve().parent / f"{store.stem}.sbatch"
    for sub in ("machines", "results", "logs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    executor = SlurmExecutor(SlurmOptions(**slurm_options(campaign, store)))
    paths = []
    for req, note in points(campaign, legion_root, build=False):
        spec = machine.MachineSpec(**req.machine)
        spec_file = out / "machines" / f"{spec.name}.toml"
        spec_file.write_text(machine_toml(spec))
        params = {"nodes": spec.nodes, **executor.parameters(req)}   # said even for one node, for the reader
        job_name = f"{params['job_name']}-{_safe(req.name)}"
        result = out / "results" / f"{req.name}.json"
        command = [*_hpcmap_command(), "run", note["app"], "--machine", str(spec_file), "--size", note["size_text"],
                   "--mapper", note["mapper"], "--trials", str(req.trials), "--timeout", f"{req.timeout_s:g}",
                   "--json"]
        script = out / f"{req.name}.sbatch"
        script.write_text(sbatch_script(campaign, note, {**params, "job_name": job_name}, out / "logs", ROOT,
                                        shlex.join(command) + " > " + shlex.quote(str(result))))
        paths.append(script)
    return paths


def _hpcmap_command() -> list[str]:
    beside = Path(sys.executable).with_name("hpcmap")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "hpcmap.cli"]


def machine_toml(spec: machine.MachineSpec) -> str:
    """A machine spec file (specs/machines format) for `spec`."""
    node = {k: v for k, v in spec.as_dict().items() if k not in ("name", "nodes", "description")}
    lines = [f"name = {_toml_str(spec.name)}", f"description = {_toml_str(spec.description)}",
             f"nodes = {spec.nodes}", "[node]"] + [f"{k} = {v}" for k, v in node.items()]
    return "\n".join(lines) + "\n"


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# submitit's parameter names -> sbatch options, in the order a reader expects them
_SBATCH = (("job_name", "job-name"), ("partition", "partition"), ("account", "account"), ("qos", "qos"),
           ("nodes", "nodes"), ("cpus_per_task", "cpus-per-task"), ("mem", "mem"), ("gpus_per_node", "gpus-per-node"),
           ("gres", "gres"), ("constraint", "constraint"), ("time", "time"))


def sbatch_script(campaign: Campaign, note: dict, params: dict, logs: Path, root: Path, command: str) -> str:
    """A batch script a person can read, edit and submit: resources as #SBATCH lines, one command."""
    lines = ["#!/bin/bash",
             f"# hpcmap campaign {campaign.name} ({campaign.path.resolve()}): {note['app']}, size {note['size_text']}, "
             f"mapper {note['mapper']}, {note['nodes']} node(s).",
             "# Edit the #SBATCH lines as needed, then submit with: sbatch THIS_FILE",
             "# With several nodes, hpcmap starts one Legion process per node with mpiexec -ppn 1."]
    for key, option in _SBATCH:
        if params.get(key) not in (None, "", False):
            lines.append(f"#SBATCH --{option}={params[key]}")
    lines.append("#SBATCH --ntasks-per-node=1")
    if params.get("exclusive"):
        lines.append("#SBATCH --exclusive")
    for key, value in (params.get("additional_parameters") or {}).items():
        if key == "requeue":
            continue
        lines.append(f"#SBATCH --{key.replace('_', '-')}" + ("" if value is True else f"={value}"))
    lines.append(f"#SBATCH --output={logs}/%x-%j.out")
    lines += ["", "set -euo pipefail", f"cd {shlex.quote(str(root))}", command, ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- submitting and collecting


def await_earlier_jobs(folder: Path, announce=print) -> None:
    """Wait for the jobs an earlier head submitted that are still queued or running, so that a resumed
    campaign collects their results instead of submitting their points again."""
    from submitit.core.utils import JobPaths

    from hpcmap.dispatch.slurm_state import is_terminal, job_states

    if not folder.exists():
        return
    waiting = [job_id for job_id in (p.name[: -len("_submitted.pkl")] for p in folder.glob("*/*_submitted.pkl"))
               if not JobPaths(folder / "%j", job_id=job_id, task_id=0).result_pickle.exists()]
    alive = [j for j, state in job_states(waiting).items() if state and not is_terminal(state)]
    if alive:
        announce(f"waiting for {len(alive)} job(s) of an earlier head: {', '.join(sorted(alive))}")
    while alive:
        time.sleep(2.0)
        alive = [j for j, state in job_states(alive).items() if state and not is_terminal(state)]

"""Logs of one run -> tables -> a group in the HDF5 trace file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcmap.profile import h5trace
from hpcmap.profile.critical import critical_path
from hpcmap.profile.logfile import RawLog, open_log
from hpcmap.profile.preamble import ProfileLogError
from hpcmap.profile.tables import log_tables, merge


class TruncatedLogError(ProfileLogError):
    """A log ended inside a record or held garbage; the records before that point were imported."""


def load_logs(log_paths: list[Path]) -> tuple[dict[str, np.ndarray], dict, list[str]]:
    """Tables and run attributes from the logs of one run (one file per node); also the truncation notes."""
    if not log_paths:
        raise ProfileLogError("no Legion Prof logs given")
    logs: list[RawLog] = []
    per_node = []
    problems = []
    info: dict = {"log_files": [], "log_bytes": 0, "nodes": [], "hostnames": [], "zero_time_ns": []}
    for path in log_paths:
        log = open_log(Path(path))
        if log.truncated:
            problems.append(f"{path}: {log.truncated}; kept the {log.index.records} records before it")
        per_node.append(log_tables(log))
        logs.append(log)
        machine = (log.variable("MachineDesc") or [{}])[0]
        zero = log.records("ZeroTime")
        info["log_files"].append(str(path))
        info["log_bytes"] += len(log.buf)
        info["nodes"].append(int(machine.get("node_id", len(info["nodes"]))))
        info["hostnames"].append(machine.get("hostname", ""))
        info["zero_time_ns"].append(int(zero["zero_time"][0]) if zero is not None and len(zero) else 0)
        info["num_nodes"] = int(machine.get("num_nodes", len(log_paths)))
        info["profiler_version"] = log.preamble.version
        info["legion_version"] = log.preamble.legion_version
        config = log.records("RuntimeConfig")
        if config is not None and len(config):
            info["runtime_config"] = {k: int(config[k][0]) for k in config.dtype.names}
        info.setdefault("unknown_kinds", sorted({k.name for k in log.preamble.kinds.values()} - KNOWN_KINDS))
    tables = merge(per_node)
    path = critical_path(tables, logs)
    info["critical_path"] = "available" if path is not None else "unavailable: no event records in the logs"
    if path is not None:
        tables["critical_path"] = path
    del logs
    return tables, info, problems


def import_run_logs(log_paths: list[Path], h5_path: Path, run_name: str, attrs: dict) -> None:
    """Append group `runs/<run_name>` with the trace of these logs to `h5_path` (created if needed).

    A truncated log is imported up to the last whole record, and then TruncatedLogError is raised.
    """
    tables, info, problems = load_logs([Path(p) for p in log_paths])
    machine = {
        "processors": _count_kinds(tables["processors"]["kind"]),
        "memories": _count_kinds(tables["memories"]["kind"], memory=True),
    }
    all_attrs = {**info, "machine_spec": machine, "hpcmap_version": _hpcmap_version(), "truncated": "; ".join(problems)}
    all_attrs.update(attrs)
    h5trace.write_run(Path(h5_path), run_name, tables, all_attrs)
    if problems:
        raise TruncatedLogError("truncated Legion Prof log: " + "; ".join(problems))


def _hpcmap_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hpcmap")
    except PackageNotFoundError:
        return "unknown"


def _count_kinds(kinds: np.ndarray, memory: bool = False) -> dict[str, int]:
    from hpcmap.profile.kinds import mem_kind_name, proc_kind_name

    name = mem_kind_name if memory else proc_kind_name
    values, counts = np.unique(kinds, return_counts=True)
    return {name(int(v)): int(c) for v, c in zip(values, counts)}


KNOWN_KINDS = {
    "MapperName", "MapperCallDesc", "RuntimeCallDesc", "MetaDesc", "OpDesc", "ProcDesc", "MaxDimDesc",
    "RuntimeConfig", "MachineDesc", "CalibrationErr", "ZeroTime", "Provenance", "MemDesc", "ProcMDesc",
    "IndexSpacePointDesc", "IndexSpaceRectDesc", "IndexSpaceEmptyDesc", "FieldDesc", "FieldSpaceDesc",
    "PartDesc", "IndexSpaceDesc", "IndexSubSpaceDesc", "IndexPartitionDesc", "IndexSpaceSizeDesc",
    "LogicalRegionDesc", "PhysicalInstRegionDesc", "PhysicalInstLayoutDesc", "PhysicalInstDimOrderDesc",
    "PhysicalInstanceSpaces", "PhysicalInstanceUsage", "TaskKind", "TaskVariant", "OperationInstance",
    "MultiTask", "SliceOwner", "TaskWaitInfo", "MetaWaitInfo", "TaskInfo", "ImplicitTaskInfo", "GPUTaskInfo",
    "MetaInfo", "MessageInfo", "CopyInfo", "CopyInstInfo", "FillInfo", "FillInstInfo", "InstTimelineInfo",
    "PartitionInfo", "PartitionInstInfo", "MapperCallInfo", "RuntimeCallInfo", "ApplicationCallInfo",
    "ExternalEventInfo", "BacktraceDesc", "EventWaitInfo", "EventMergerInfo", "EventTriggerInfo",
    "EventPoisonInfo", "BarrierArrivalInfo", "ReservationAcquireInfo", "InstanceReadyInfo",
    "InstanceRedistrictInfo", "CompletionQueueInfo", "ProfTaskInfo",
}

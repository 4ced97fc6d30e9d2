"""The HDF5 trace file: one group per run under `runs/`, one compressed table per dataset (FORMAT.md)."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from hpcmap.errors import UserError
from hpcmap.profile.tables import SCHEMA, STR, dtype_of

FORMAT_VERSION = 1
CHUNK_ROWS = 1 << 13
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 1


def file_dtype(table: str) -> np.dtype:
    """On-disk dtype of a table: strings are variable-length UTF-8."""
    return np.dtype([(n, h5py.string_dtype() if t == STR else t) for n, t in SCHEMA[table]])


def write_run(h5_path: Path, run_name: str, tables: dict[str, np.ndarray], attrs: dict) -> None:
    """Add group `runs/<run_name>` (replacing one of that name) with every table and the attributes."""
    with h5py.File(h5_path, "a") as f:
        f.attrs.setdefault("hpcmap_trace_format", FORMAT_VERSION)
        runs = f.require_group("runs")
        if run_name in runs:
            del runs[run_name]
        g = runs.create_group(run_name)
        for key, value in attrs.items():
            g.attrs[key] = _attr(value)
        for name in SCHEMA:
            arr = tables.get(name)
            write_table(g, name, arr if arr is not None else np.zeros(0, dtype_of(name)))


def write_table(group: h5py.Group, name: str, arr: np.ndarray) -> None:
    dt = file_dtype(name)
    n = len(arr)
    chunk = max(1, min(CHUNK_ROWS, n))
    ds = group.create_dataset(name, shape=(n,), maxshape=(None,), dtype=dt, chunks=(chunk,),
                              compression=COMPRESSION, compression_opts=COMPRESSION_LEVEL, shuffle=True)
    if n:
        ds[...] = arr.astype(dt, copy=False) if arr.dtype != dt else arr


def _attr(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return value


def run_names(h5_path: Path) -> list[str]:
    with open_trace(h5_path) as f:
        return list(f["runs"].keys())


def existing_runs(h5_path: Path) -> list[str]:
    """Run names of a file that may hold none yet (missing, or an HDF5 file without runs/)."""
    path = Path(h5_path)
    if not path.exists():
        return []
    try:
        with h5py.File(path, "r") as f:
            return list(f["runs"].keys()) if "runs" in f else []
    except OSError:
        raise UserError(f"{path}: not an HDF5 file") from None


def list_runs(h5_path: Path) -> list[dict]:
    """Name, app, mapper, machine, outcome and task count of every run, in file order."""
    out = []
    with open_trace(h5_path) as f:
        for name, g in f["runs"].items():
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
            row = {"run": name}
            for key in ("app", "mapper", "machine", "outcome", "candidate"):
                if attrs.get(key) and str(attrs[key]) != name:
                    row[key] = str(attrs[key])
            row["tasks"] = int(g["tasks"].shape[0]) if "tasks" in g else 0
            row["nodes"] = int(attrs.get("num_nodes", 1))
            out.append(row)
    return out


def open_trace(h5_path: Path) -> h5py.File:
    """Open a trace for reading, with one-line errors for a missing or foreign file."""
    path = Path(h5_path)
    if not path.exists():
        raise UserError(f"{path}: no such trace file; make one with `hpcmap trace import LOGS -o {path.name}`")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise UserError(f"{path}: not an HDF5 file") from None
    if "runs" not in f or not len(f["runs"]):
        f.close()
        raise UserError(f"{path}: not an hpcmap trace (no runs/ group)")
    return f


def resolve_run(h5_path: Path, run: str | None) -> str:
    """The name of the run `run` means: itself, or the one run whose mapper has that name (a study
    store names runs by candidate key); the last run when None."""
    with open_trace(h5_path) as f:
        return _resolve(f, h5_path, run)


def _resolve(f: h5py.File, h5_path: Path, run: str | None) -> str:
    names = list(f["runs"].keys())
    if run is None:
        return names[-1]
    if run in names:
        return run
    by_mapper = [n for n in names if _text(f["runs"][n].attrs.get("mapper", "")) == run]
    if len(by_mapper) == 1:
        return by_mapper[0]
    raise UserError(f"{h5_path}: no run named {run!r}; runs: {', '.join(names)}")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_run(h5_path: Path, run: str | None = None) -> tuple[str, dict[str, np.ndarray], dict]:
    """(run name, tables, attributes) of one run; the only run, or the last one when `run` is None."""
    with open_trace(h5_path) as f:
        run = _resolve(f, h5_path, run)
        g = f["runs"][run]
        tables = {}
        for name in g:
            data = g[name][...]
            if any(SCHEMA.get(name, []) and t == STR for _, t in SCHEMA.get(name, [])):
                data = _decode_strings(name, data)
            tables[name] = data
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
        return run, tables, attrs


def _decode_strings(name: str, data: np.ndarray) -> np.ndarray:
    out = np.zeros(len(data), dtype_of(name))
    for col, t in SCHEMA[name]:
        out[col] = [v.decode() if isinstance(v, bytes) else v for v in data[col]] if t == STR else data[col]
    return out

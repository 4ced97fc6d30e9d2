"""The results store of a study: one HDF5 file, written by the head process only.

Layout:
  /                      attrs: format, version, study
  /provenance            attrs of the first session; /provenance/sessions/NNNN one group per session
                         (machine, Legion version, git revision, command line, host, time)
  /candidates/<key>      one group per candidate: attrs (name, outcome, message, ir_hash, app, machine,
                         stats..., record = the whole record as JSON) and datasets mapper_text,
                         elapsed_s, wall_s, stderr_tail
  /runs/<key>            the profiled trial's trace, written through hpcmap.profile.import_run_logs
  /llm/NNNNNN            the study's LLM exchanges, append-only, one JSON string each in the order
                         made (hpcmap.tune.llm.Exchange plus the study's `iteration`); never a key

A store is one study: its app, size, machine, trials and application arguments (and, for a tune,
the optimizer and its seed) are fixed when it is created (`/` attribute `study_meta`, JSON), and a
later session with other ones is refused. One process at a time works on a store: `lock()` takes
an exclusive flock on `.<name>.lock` beside it, which the kernel releases when the process dies.

Every change is a transaction on a copy: the file is copied next to itself, the copy is opened,
written (one candidate's record, and its trace through hpcmap.profile), flushed, closed and fsynced,
then renamed over the study file. A rename is atomic, so a head killed at any instant (SIGKILL
included) leaves the previous or the next complete file, never a damaged one; a leftover copy
is removed by the next transaction. HDF5 itself offers no such guarantee for in-place writes
(a kill during the metadata flush leaves the file unreadable), and SWMR files need h5clear after
a crashed writer. The cost is one copy of the file per candidate: milliseconds for a study of
records, about 0.1 s per 100 MB of traces.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np

from hpcmap.errors import UserError

FORMAT = "hpcmap-study"
VERSION = 1
OUTCOME_ORDER = ("ok", "wrong_answer", "timeout", "map_error", "crash", "invalid", "infra_error")
_STR = h5py.string_dtype()
_DAMAGE = (OSError, RuntimeError, KeyError, ValueError)   # what h5py raises reading a damaged object


class Store:
    """A study's HDF5 file; each method opens and closes it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.damaged: list[str] = []   # parts the last read could not decode, e.g. "/candidates/<key> (...)"

    @property
    def study(self) -> str:
        return self.path.stem

    def _open(self, mode: str) -> h5py.File:
        try:
            return h5py.File(self.path, mode)
        except FileNotFoundError:
            raise UserError(f"no study store at {self.path}") from None
        except OSError as exc:
            reason = " ".join(str(exc).split())
            raise UserError(f"{self.path} is not a readable hpcmap study store ({reason})") from None

    def _tmp_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")

    def _remove_leftovers(self) -> None:
        for stale in self.path.parent.glob(f".{self.path.name}.tmp-*"):
            with contextlib.suppress(OSError):
                stale.unlink()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Path]:
        """A copy of the store to change; renamed over the store when the block ends without error."""
        self._remove_leftovers()
        tmp = self._tmp_path()
        shutil.copyfile(self.path, tmp)
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive use of the store by this process; a second process gets one clear error."""
        if self.path.is_dir():
            raise UserError(f"--store {self.path} is a directory; name an HDF5 file, e.g. {self.path / 'study.h5'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"--store {self.path}: cannot write there: {exc.strerror or exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise UserError(f"{self.path} is in use by hpcmap process {holder}; wait for it to finish "
                                "or choose another --store") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    def meta(self) -> dict:
        """The study's fixed parameters ({} for a store made before they were recorded)."""
        with self._open("r") as f:
            try:
                raw = f.attrs.get("study_meta")
                return json.loads(raw) if raw else {}
            except _DAMAGE as exc:
                raise UserError(f"{self.path}: the study settings (/ attribute study_meta) are damaged "
                                f"({_reason(exc)})") from None

    def fix_meta(self, meta: dict) -> dict:
        """Record the study's parameters on first use; refuse a session whose parameters differ.
        Keys missing on either side are not compared; new keys are added. Returns the stored meta."""
        stored = self.meta()
        clashes = [k for k in meta if k in stored and stored[k] != meta[k]]
        if clashes:
            def show(m: dict) -> str:
                return ", ".join(f"{k} {_short(m[k])}" for k in clashes)
            raise UserError(f"{self.path} is a study of {show(stored)}; this run asks for {show(meta)}. "
                            "Use the same settings to resume, or choose another --store")
        merged = {**stored, **meta}
        if merged != stored:
            with self._writing("/ attribute study_meta"), self.transaction() as tmp, h5py.File(tmp, "a") as f:
                f.attrs["study_meta"] = json.dumps(merged, sort_keys=True)
        return merged

    def create(self) -> None:
        """Create the file if missing; check its format if present."""
        if self.path.exists():
            with self._open("r") as f:
                try:
                    kind = f.attrs.get("format")
                except _DAMAGE as exc:
                    raise UserError(f"{self.path}: its header (/ attributes) is damaged ({_reason(exc)}); "
                                    "`hpcmap store show` lists what is readable; choose another --store") from None
                if kind != FORMAT:
                    raise UserError(f"{self.path} exists and is not an hpcmap study store; choose another --store")
            self.records()
            self.provenance()
            self.llm_exchanges()
            if self.damaged:
                raise UserError(f"{self.path} is damaged at {'; '.join(self.damaged)}; `hpcmap store show` lists "
                                "what is readable; choose another --store to go on")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_path()
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["study"] = self.study
            f.create_group("candidates")
            f.create_group("provenance").create_group("sessions")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def add_provenance(self, info: dict) -> None:
        with self._writing("/provenance"), self.transaction() as tmp, h5py.File(tmp, "a") as f:
            prov = f.require_group("provenance")
            sessions = prov.require_group("sessions")
            group = sessions.create_group(f"{len(sessions):04d}")
            for target in ([group, prov] if len(sessions) == 1 else [group]):
                for k, v in info.items():
                    target.attrs[k] = v if isinstance(v, (str, int, float)) else json.dumps(v, sort_keys=True)

    def provenance(self) -> list[dict]:
        with self._open("r") as f:
            try:
                sessions = f.get("provenance/sessions")
                return [_decoded(dict(_attrs(sessions[name]))) for name in sorted(sessions)] if sessions else []
            except _DAMAGE as exc:
                self.damaged.append(f"/provenance ({_reason(exc)})")
                return []

    def add(self, record: dict, before: Callable[[Path], object] | None = None) -> None:
        """Write one candidate's record in one transaction; `before(path)` may add to the same copy
        first (e.g. import its trace) and may change `record`."""
        with self.transaction() as tmp:
            if before is not None:
                before(tmp)
            with h5py.File(tmp, "a") as f:
                cands = f.require_group("candidates")
                if record["key"] in cands:
                    del cands[record["key"]]
                _write_record(cands.create_group(record["key"]), record)

    def add_llm_exchanges(self, exchanges: list[dict]) -> None:
        """Append LLM exchanges to the study's log /llm, numbered on, in one transaction."""
        if not exchanges:
            return
        with self._writing("/llm"), self.transaction() as tmp, h5py.File(tmp, "a") as f:
            log = f.require_group("llm")
            for exchange in exchanges:
                log.create_dataset(f"{len(log):06d}", data=json.dumps(exchange, sort_keys=True), dtype=_STR)

    def llm_exchanges(self) -> list[dict]:
        """The study's LLM exchanges in the order they were made; the unreadable ones are in `damaged`."""
        out = []
        with self._open("r") as f:
            try:
                log = f.get("llm")
                names = sorted(log) if log is not None else []
            except _DAMAGE as exc:
                self.damaged.append(f"/llm ({_reason(exc)})")
                return []
            for name in names:
                try:
                    out.append(json.loads(log[name].asstr()[()]))
                except _DAMAGE as exc:
                    self.damaged.append(f"/llm/{name} ({_reason(exc)})")
        return out

    def keys(self, include_infra_errors: bool = True) -> set[str]:
        """Keys of the candidates with a result (optionally not counting infra errors)."""
        if not self.path.exists():
            return set()
        return {r["key"] for r in self.records() if include_infra_errors or r.get("outcome") != "infra_error"}

    @contextlib.contextmanager
    def _writing(self, part: str) -> Iterator[None]:
        """A write that HDF5 refuses because the file is damaged is one error line; the file is unchanged."""
        try:
            yield
        except _DAMAGE as exc:
            raise UserError(f"{self.path}: cannot add to {part}, the file is damaged ({_reason(exc)}); "
                            "`hpcmap store show` lists what is readable; choose another --store") from None

    def records(self) -> list[dict]:
        """All readable records, best first; the parts that could not be read are in `damaged`."""
        self.damaged = []
        out = []
        with self._open("r") as f:
            for name in self._candidate_names(f):
                try:
                    out.append(json.loads(f["candidates"][name].attrs["record"]))
                except _DAMAGE as exc:
                    self.damaged.append(f"/candidates/{name} ({_reason(exc)})")
        return sorted(out, key=rank)

    def _candidate_names(self, f: h5py.File) -> list[str]:
        try:   # every store has /candidates from its creation, so a missing one is damage too
            return list(f["candidates"])
        except _DAMAGE as exc:
            raise UserError(f"{self.path}: the list of candidates (/candidates) is damaged ({_reason(exc)}); "
                            "no candidate can be read from it") from None

    def iter_records(self) -> Iterator[dict]:
        yield from self.records()

    def summary(self) -> dict:
        from hpcmap.tune.llm import totals

        candidates = [public(r) for r in self.records()]
        provenance = self.provenance()   # adds to `damaged`, which records() has just set
        exchanges = self.llm_exchanges()
        llm = {**totals(exchanges), "exchanges": exchanges} if exchanges else None
        return {"study": self.study, "store": str(self.path), "provenance": provenance, "candidates": candidates,
                **({"llm": llm} if llm else {}), **({"damaged": self.damaged} if self.damaged else {})}


def rank(record: dict) -> tuple:
    """Sort key: ok first by mean time, then other outcomes in a fixed order."""
    outcome = record.get("outcome", "infra_error")
    order = OUTCOME_ORDER.index(outcome) if outcome in OUTCOME_ORDER else len(OUTCOME_ORDER)
    mean = (record.get("stats") or {}).get("mean_s")
    return (order, mean if mean is not None else float("inf"), record.get("name", ""))


def public(record: dict) -> dict:
    """A record as shown by `store show --json`: name, outcome and stats first."""
    head = {"name": record.get("name"), "outcome": record.get("outcome"), "stats": record.get("stats")}
    return {**head, **{k: v for k, v in record.items() if k not in head}}


def _write_record(group: h5py.Group, record: dict) -> None:
    stats = record.get("stats") or {}
    for k in ("name", "outcome", "message", "app", "machine", "key"):
        group.attrs[k] = str(record.get(k) or "")
    group.attrs["ir_hash"] = record.get("ir_hash") or ""
    group.attrs["trials_requested"] = int(record.get("trials_requested") or 0)
    group.attrs["finished_at"] = float(record.get("finished_at") or time.time())
    for k, v in stats.items():
        group.attrs[f"stats_{k}"] = np.nan if v is None else v
    group.attrs["record"] = json.dumps(record, sort_keys=True)
    group.create_dataset("mapper_text", data=record.get("mapper_text") or "", dtype=_STR)
    group.create_dataset("stderr_tail", data=record.get("stderr_tail") or "", dtype=_STR)
    trials = record.get("trials") or []
    group.create_dataset("elapsed_s", data=np.array(
        [np.nan if t.get("elapsed_s") is None else t["elapsed_s"] for t in trials], dtype=np.float64))
    group.create_dataset("wall_s", data=np.array([t.get("wall_s") or 0.0 for t in trials], dtype=np.float64))
    group.create_dataset("trial_outcome", data=[t.get("outcome", "") for t in trials], dtype=_STR)


def _short(value: object) -> str:
    """A study parameter for an error line: machine specs by name, sizes as key=value."""
    if isinstance(value, dict):
        if "name" in value:
            return str(value["name"])
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(map(str, value)) or "(none)"
    return str(value)


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()).strip("'\"")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _attrs(group: h5py.Group) -> Iterator[tuple[str, object]]:
    for k, v in group.attrs.items():
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, np.generic):
            v = v.item()
        yield k, v


def _decoded(info: dict) -> dict:
    for key in ("machine", "command_line"):
        if isinstance(info.get(key), str):
            try:
                info[key] = json.loads(info[key])
            except ValueError:
                pass
    return info


def provenance_info(argv: list[str], machine_spec: dict, executor: str, legion_version: str | None) -> dict:
    """Who ran this session, where, with what code."""
    import platform
    import subprocess

    from hpcmap.paths import ROOT

    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev, dirty = "", ""
    return {"command_line": json.dumps(argv), "machine": machine_spec, "executor": executor,
            "legion_version": legion_version or "unknown", "git_revision": rev + ("+dirty" if dirty else ""),
            "host": platform.node(), "started_at": time.time(), "pid": os.getpid()}

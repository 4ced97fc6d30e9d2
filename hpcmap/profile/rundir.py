"""The directory of `hpcmap run --profile DIR`: trials add runs to DIR/trace.h5, never replace them.

Each trial's logs land in DIR/trial<N>/ and its trace in run `trial<N>` of DIR/trace.h5, numbered on
from the runs already there. The trials are launched into a private staging folder and moved into
place when they end, so an earlier trial's logs are never overwritten. `force` starts DIR afresh.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpcmap.errors import UserError

TRACE = "trace.h5"
TRIAL = re.compile(r"trial(\d+)$")


@dataclass(frozen=True)
class ProfileDir:
    root: Path
    first: int      # number of the first new trial
    staging: Path   # where the runner writes trial0, trial1, ... of this invocation

    @property
    def trace(self) -> Path:
        return self.root / TRACE


def prepare(root: Path, force: bool = False) -> ProfileDir:
    """Check that `root` can hold profiles, clear earlier runs if `force`, and make the staging folder."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError(f"--profile {root}: not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
        if force:
            _clear(root)
        first = _next_trial(root)
        staging = root / f".incoming-{os.getpid()}"
        staging.mkdir()
    except OSError as exc:
        raise UserError(f"--profile {root}: cannot write there: {exc.strerror}") from None
    return ProfileDir(root, first, staging)


def _clear(root: Path) -> None:
    (root / TRACE).unlink(missing_ok=True)
    for child in root.iterdir():
        if child.is_dir() and TRIAL.match(child.name):
            shutil.rmtree(child)


def _next_trial(root: Path) -> int:
    """One past the highest trial number among DIR's trial folders and the trace's runs."""
    numbers = [int(m.group(1)) for child in root.iterdir() if (m := TRIAL.match(child.name))]
    from hpcmap.profile.h5trace import existing_runs

    numbers += [int(m.group(1)) for name in existing_runs(root / TRACE) if (m := TRIAL.match(name))]
    return max(numbers, default=-1) + 1


def settle(pd: ProfileDir) -> list[tuple[int, Path]]:
    """Move this invocation's trial folders from staging into DIR; (index in this invocation, folder)."""
    moved = []
    for source in sorted(pd.staging.glob("trial*"), key=lambda p: int(TRIAL.match(p.name).group(1))):
        index = int(TRIAL.match(source.name).group(1))
        target = pd.root / f"trial{pd.first + index}"
        source.rename(target)
        moved.append((index, target))
    shutil.rmtree(pd.staging, ignore_errors=True)
    return moved


def collect(pd: ProfileDir, attrs_of: Callable[[int], dict]) -> tuple[Path | None, list[str]]:
    """Settle the trial folders and import their logs as runs `trial<N>`: the trace file (None when no
    trial left logs) and a note for each log that could not be read in full (what it held is kept)."""
    from hpcmap.profile import import_run_logs
    from hpcmap.profile.preamble import ProfileLogError

    imported, notes = False, []
    for index, folder in settle(pd):
        logs = sorted(folder.glob("prof_*"))
        if not logs:
            continue
        try:
            import_run_logs(logs, pd.trace, folder.name, attrs_of(index))
        except ProfileLogError as exc:
            notes.append(f"{folder.name}: {exc}")
        imported = True
    return (pd.trace if imported else None), notes

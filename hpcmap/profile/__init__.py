"""Legion Prof logs -> HDF5 traces -> summaries and feedback text (see FORMAT.md)."""
from __future__ import annotations

from pathlib import Path


def import_run_logs(log_paths: list[Path], h5_path: Path, run_name: str, attrs: dict) -> None:
    """Parse one run's logs (one per node) and append group `runs/<run_name>` to `h5_path`."""
    from hpcmap.profile.importer import import_run_logs as _import

    _import(log_paths, h5_path, run_name, attrs)


def summarize(h5_path: Path, run: str | None = None) -> dict:
    """The summary of one run of a trace file (the last run when `run` is None)."""
    from hpcmap.profile.summary import summarize as _summarize

    return _summarize(Path(h5_path), run)


# Bound here, after the submodule of the same name is loaded, so that `hpcmap.profile.feedback` stays
# this function however the submodule is imported later (a lazy import would replace it by the module).
from hpcmap.profile.feedback import feedback  # noqa: E402  (short ranked text: where a run's time went)

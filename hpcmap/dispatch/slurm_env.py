"""The environment of Slurm jobs: an allowlist, so nothing the user did not mean to send leaves the head.

A job gets PATH, the library paths, locale and home, Slurm's own configuration, hpcmap's and
Legion's (Realm, GASNet, UCX) variables, and the names the user lists with `--export`. Credential-
like names are dropped even when a prefix allows them. sbatch itself runs with only these, so the
controller's spool never holds anything else.
"""
from __future__ import annotations

import os
import re

from hpcmap.environment import is_sensitive

ALLOWED_NAMES = ("PATH", "LD_LIBRARY_PATH", "LIBRARY_PATH", "PYTHONPATH", "HOME", "USER", "LOGNAME", "SHELL",
                 "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV", "XDG_CACHE_HOME", "SLURM_CONF", "LEGION_ROOT")
ALLOWED_PREFIXES = ("HPCMAP_", "LEGION_", "REALM_", "GASNET_", "UCX_", "LC_")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def allowed(name: str, export: list[str] | tuple[str, ...] = ()) -> bool:
    """True for a variable a job may receive."""
    if name in export:
        return True
    return (name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)) and not is_sensitive(name)


def submission_env(export: list[str] | tuple[str, ...] = (), env: dict[str, str] | None = None) -> dict[str, str]:
    """The variables sbatch runs with (and so the job and the controller's spool see)."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if _NAME.fullmatch(k) and allowed(k, export)}


def exported_names(export: list[str] | tuple[str, ...] = (), env: dict[str, str] | None = None) -> list[str]:
    """Names for sbatch's --export: the allowed variables set here."""
    return sorted(submission_env(export, env)) or ["NONE"]

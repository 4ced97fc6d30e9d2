"""The environment of processes hpcmap starts: credentials never pass, MPI launcher variables stay behind."""
from __future__ import annotations

import os

SENSITIVE_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "HYDRA_", "OMPI_", "MPI_LOCALRANKID", "MPI_LOCALNRANKS")


def is_sensitive(name: str) -> bool:
    """True for variable names that mark credentials (API keys, tokens, passwords)."""
    upper = name.upper()
    return any(marker in upper for marker in SENSITIVE_MARKERS)


def safe_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without variables whose names mark them as credentials."""
    return {k: v for k, v in (os.environ if env is None else env).items() if not is_sensitive(k)}


def app_env(library_path: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of an application process: safe, no MPI launcher variables, Legion on the path."""
    result = {k: v for k, v in safe_env(env).items() if not k.startswith(LAUNCHER_PREFIXES)}
    old = result.get("LD_LIBRARY_PATH")
    if library_path:
        result["LD_LIBRARY_PATH"] = library_path + (os.pathsep + old if old else "")
    return result

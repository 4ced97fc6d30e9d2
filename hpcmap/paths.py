"""Where things live: the project root and the directories hpcmap creates under it."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
BENCHMARKS = ROOT / "benchmarks"


def build_dir() -> Path:
    """CMake build tree for mapper/ and benchmarks/ (HPCMAP_BUILD_DIR overrides)."""
    return Path(os.environ.get("HPCMAP_BUILD_DIR", ROOT / "build"))


def legion_home() -> Path:
    """Local prefix holding the Legion runtime unpacked from the wheel and the libcuda stub."""
    return Path(os.environ.get("HPCMAP_LEGION_HOME", ROOT / ".legion"))

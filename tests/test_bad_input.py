"""Every command on bad input: one `hpcmap: error:` line, a non-zero exit, nothing started or lost."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]


def hpcmap(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(HPCMAP + list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd)


def assert_one_error_line(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hpcmap: error:"), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "soon"])
@pytest.mark.parametrize("command", [["run", "stencil"], ["eval", "default", "--app", "stencil"], ["tune", "stencil"]])
def test_bad_timeout_is_refused_before_anything_starts(tmp_path, command, value):
    store = tmp_path / "study.h5"
    extra = ["--store", str(store)] if command[0] != "run" else ["--profile", str(tmp_path / "prof")]
    done = hpcmap(*command, *extra, f"--timeout={value}", cwd=tmp_path)
    assert_one_error_line(done, "--timeout", repr(value))
    assert sorted(p.name for p in tmp_path.iterdir()) == []   # no store, no profile folder, no build


@pytest.mark.parametrize("flag", ["--llm-timeout", "--lost-after"])
def test_other_durations_are_checked(tmp_path, flag):
    done = hpcmap("tune", "stencil", "--store", str(tmp_path / "s.h5"), f"{flag}=nan", cwd=tmp_path)
    assert_one_error_line(done, flag)
    assert not (tmp_path / "s.h5").exists()

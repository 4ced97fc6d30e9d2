"""Launch one Legion process, wait for it (with a timeout), and classify what happened."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULT_PREFIX = "HPCMAP_RESULT "
MAPPER_ERROR = "hpcmap-mapper: error:"
TAIL_CHARS = 4000

# Outcomes of a trial (DESIGN.md): ok, map_error, crash, timeout, wrong_answer, infra_error.
OK, MAP_ERROR, CRASH, TIMEOUT, WRONG_ANSWER, INFRA_ERROR = (
    "ok", "map_error", "crash", "timeout", "wrong_answer", "infra_error")


@dataclass
class Trial:
    """One run of the application: its outcome, timed region, wall time and output tails."""

    outcome: str
    exit_code: int | None
    wall_s: float
    elapsed_s: float | None = None
    check: str | None = None
    result: dict = field(default_factory=dict)
    message: str = ""
    stderr_tail: str = ""
    stdout_tail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def parse_result(stdout: str) -> dict | None:
    """The app's `HPCMAP_RESULT {json}` line, or None when absent or unreadable."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                value = json.loads(line[len(RESULT_PREFIX):])
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _child_setup() -> None:
    os.setsid()
    die_with_parent()


def run_process(argv: list[str], env: dict[str, str], timeout_s: float, cwd: Path | None = None) -> Trial:
    """Run argv in its own process group, killed when this process dies; on timeout or interrupt
    the whole group is killed."""
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, errors="replace", preexec_fn=_child_setup)
    except OSError as exc:
        return Trial(INFRA_ERROR, None, 0.0, message=f"could not start {argv[0]}: {exc.strerror}")
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        timed_out = True
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    wall = time.perf_counter() - start
    return classify(proc.returncode, stdout, stderr, wall, timed_out, timeout_s)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def classify(code: int, stdout: str, stderr: str, wall: float, timed_out: bool, timeout_s: float) -> Trial:
    result = parse_result(stdout) or {}
    trial = Trial(CRASH, code, wall, stderr_tail=stderr[-TAIL_CHARS:], stdout_tail=stdout[-TAIL_CHARS:],
                  result=result, check=result.get("check"))
    elapsed = result.get("elapsed_s")
    trial.elapsed_s = float(elapsed) if isinstance(elapsed, (int, float)) else None
    mapper_error = next((l for l in stderr.splitlines() if l.startswith(MAPPER_ERROR)), None)
    if timed_out:
        trial.outcome, trial.message = TIMEOUT, f"did not finish within {timeout_s:g} s and was killed"
    elif mapper_error:
        trial.outcome, trial.message = MAP_ERROR, mapper_error
    elif result.get("check") == "fail":
        trial.outcome, trial.message = WRONG_ANSWER, "the application's correctness check failed"
    elif code != 0:
        trial.message = (f"killed by signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals()
                         else f"exited with status {code}")
        last = _last_error_line(stderr)
        if last:
            trial.message += f": {last}"
    elif not result:
        trial.message = "exited without printing its HPCMAP_RESULT line"
    elif result.get("check") != "pass" or trial.elapsed_s is None:
        trial.message = "printed an HPCMAP_RESULT line without check or elapsed_s"
    else:
        trial.outcome = OK
    return trial


def _last_error_line(stderr: str) -> str:
    for line in reversed(stderr.splitlines()):
        text = line.strip()
        if text and "not able to discover the CUDA" not in text and "cannot be satisfied" not in text:
            return text[:300]
    return ""

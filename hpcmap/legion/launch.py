"""Launch a Legion run (one process, or one per node under mpiexec), wait for it (with a timeout),
and classify what happened."""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hpcmap.errors import UserError

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
    decisions: list[dict] = field(default_factory=list)  # the mapper's, from every process (by rank)

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


def merge_decision_logs(directory: Path) -> list[dict]:
    """The `decisions_RANK.jsonl` logs of one run as one list, each decision tagged with the rank
    (the node) that made it, rank by rank; a torn last line (a killed process) is left out."""
    merged = []
    for path in sorted(directory.glob("decisions_*.jsonl"), key=lambda p: int(p.stem.split("_")[-1])):
        rank = int(path.stem.split("_")[-1])
        for line in path.read_text(errors="replace").splitlines():
            try:
                decision = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(decision, dict):
                merged.append({"rank": rank, **decision})
    return merged


def in_slurm_allocation(env: dict[str, str] | None = None) -> bool:
    return "SLURM_JOB_ID" in (os.environ if env is None else env)


def mpiexec() -> str:
    """The mpich wheel's mpiexec (Hydra) beside this Python, else one on PATH."""
    beside = Path(sys.prefix) / "bin" / "mpiexec"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec")
    if not found:
        raise UserError("no mpiexec found; run `make setup` (it installs the mpich package)")
    return found


def per_node_argv(argv: list[str], nodes: int, gpus_per_node: int = 0, env: dict[str, str] | None = None) -> list[str]:
    """argv as one Legion process per node. Inside a Slurm allocation Hydra starts them through
    Slurm, one per allocated node; on one host with GPUs each process sees its own GPUs."""
    if nodes <= 1:
        return list(argv)
    if in_slurm_allocation(env):
        return [mpiexec(), "-n", str(nodes), "-ppn", "1"] + list(argv)
    if not gpus_per_node:
        return [mpiexec(), "-n", str(nodes)] + list(argv)
    command = [mpiexec()]
    for rank in range(nodes):
        devices = ",".join(str(rank * gpus_per_node + k) for k in range(gpus_per_node))
        command += ([":"] if rank else []) + ["-n", "1", "env", f"CUDA_VISIBLE_DEVICES={devices}"] + list(argv)
    return command


def check_supported(spec, rt) -> None:
    """Refuse a machine spec (hpcmap.machine.MachineSpec) that the runtime (a LegionRuntime) and
    this host cannot give the processes it asks for, so no run carries a machine's name it lacked."""
    from hpcmap.machine import check_host_memory, detect_gpus

    if spec.nodes > 1 and rt.network is None:
        raise UserError(f"machine {spec.name} has {spec.nodes} nodes but the Legion runtime in use has no network "
                        "module; run `hpcmap legion build-runtime --network mpi` or set LEGION_ROOT")
    if spec.gpus:
        if not rt.cuda:
            raise UserError(f"machine {spec.name} asks for GPUs but the Legion runtime in use was built without CUDA")
        wanted = spec.gpus * (1 if spec.nodes == 1 or in_slurm_allocation() else spec.nodes)
        have = len(detect_gpus())
        if wanted > have:
            raise UserError(f"machine {spec.name} asks for {wanted} GPU(s) on this host, which has {have}; "
                            "choose a machine spec this host can run (e.g. --machine local)")
    check_host_memory(spec, 1 if spec.nodes == 1 or in_slurm_allocation() else spec.nodes)


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


# The mpich wheel's default inter-node path (UCX) hangs Realm's MPI network module as soon as MPICH
# places two ranks on different nodes (as Slurm's node names do even on one host); its OFI path works.
# A value the user sets wins.
MPICH_ENV = {"MPIR_CVAR_CH4_NETMOD": "ofi"}


def run_process(argv: list[str], env: dict[str, str], timeout_s: float, cwd: Path | None = None) -> Trial:
    """Run argv in its own process group, killed when this process dies; on timeout or interrupt
    the whole group is killed."""
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, env={**MPICH_ENV, **env}, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace", preexec_fn=_child_setup)
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

"""The GPU suite (`make test-gpu`; marker `gpu`, skipped where there is no NVIDIA GPU): each app
with DefaultMapper and its expert mapper on 1 and 4 GPUs (the 4-GPU cases skip on hosts with
fewer), at the medium size, whose answers are checked against a reference (circuit and pennant by
their stored fingerprints). The compute tasks must run on GPUs with their data in the frame
buffer, as the Legion Prof trace shows; the expert mappers' decision logs show their placements:
frame buffer, and zero-copy memory for circuit's and pennant's shared and ghost data."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcmap import apps, machine

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
HPCMAP = [sys.executable, "-m", "hpcmap.cli"]
SIZE = "medium"
FBMEM, ZCMEM = 6, 5            # memory kinds in the trace (hpcmap/profile/FORMAT.md)
GPU_PROC = 1                   # processor kind in the trace
ZERO_COPY_REGIONS = {          # what each expert mapper puts in zero-copy memory on GPUs
    "stencil": set(),
    "circuit": {"rp_shared", "rp_ghost"},
    "pennant": {"rp_all_shared_p", "rp_all_ghost_p"},
}


def gpu_machine(tmp_path: Path, gpus: int) -> Path:
    """A machine spec for this host with `gpus` of its GPUs."""
    local = machine.detect_local()
    if local.gpus < gpus:
        pytest.skip(f"needs {gpus} GPUs; this host has {local.gpus}")
    path = tmp_path / f"gpu{gpus}.toml"
    path.write_text(f'name = "gpu{gpus}"\nnodes = 1\n[node]\ncpus = {min(local.cpus, 8)}\nutility = 2\n'
                    f"gpus = {gpus}\nsysmem_mb = {min(local.sysmem_mb, 16384)}\nfbmem_mb = {local.fbmem_mb}\n"
                    "zcmem_mb = 2048\n")
    return path


def gpu_tasks(app: str) -> set[str]:
    """Tasks of APP that have a GPU variant (specs/apps/APP.toml)."""
    spec = apps.read_toml(apps.resolve_app_path(app))
    return {t["name"] for t in spec["tasks"] if "GPU" in t.get("variants", [])}


def read_trace(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        run = f["runs/trial0"]
        return {name: run[name][()] for name in ("instances", "memories", "tasks", "processors", "task_kinds")}


@pytest.mark.parametrize("gpus", [1, 4])
@pytest.mark.parametrize("mapper", ["default", "expert"])
@pytest.mark.parametrize("app", ["stencil", "circuit", "pennant"])
def test_app_on_gpus(tmp_path, app, mapper, gpus):
    spec = gpu_machine(tmp_path, gpus)
    prof, log = tmp_path / "prof", tmp_path / "decisions.jsonl"
    args = ["run", app, "--machine", str(spec), "--mapper", mapper, "--size", SIZE, "--trials", "1",
            "--timeout", "300", "--profile", str(prof), "--json"]
    if mapper == "expert":
        args.append(f"--app-args=-hpcmap:log {log}")
    done = subprocess.run(HPCMAP + args, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trial = json.loads(done.stdout)["trials"][0]
    assert trial["check"] == "pass" and trial["outcome"] == "ok"

    # The trace: every compute task ran on a GPU, over all the GPUs, with instances in the frame
    # buffer (and, for the expert mappers that ask for it, in zero-copy memory).
    trace = read_trace(prof / "trace.h5")
    names = {int(r["task_id"]): r["name"].decode() if isinstance(r["name"], bytes) else str(r["name"])
             for r in trace["task_kinds"]}
    proc_kind = {int(r["proc_id"]): int(r["kind"]) for r in trace["processors"]}
    compute = [r for r in trace["tasks"] if names.get(int(r["task_id"])) in gpu_tasks(app)]
    assert compute and all(proc_kind[int(r["proc_id"])] == GPU_PROC for r in compute)
    assert len({int(r["proc_id"]) for r in compute}) == gpus
    mem_kind = {int(r["mem_id"]): int(r["kind"]) for r in trace["memories"]}
    held = {mem_kind[int(m)] for m in np.unique(trace["instances"]["mem_id"])}
    assert FBMEM in held
    if mapper == "expert" and ZERO_COPY_REGIONS[app]:
        assert ZCMEM in held

    # The decision log of the expert mapper: GPU tasks on GPUs, their regions where it says.
    if mapper == "expert":
        decisions = [json.loads(x) for x in log.read_text().splitlines()]
        maps = [d for d in decisions if d["call"] == "map_task" and d["task"] in gpu_tasks(app)]
        assert maps and all(d["kind"] == "GPU" for d in maps)
        regions = [r for d in maps for r in d["regions"] if r["memory"] is not None]
        zero_copy = [r for r in regions if set(r["names"]) & ZERO_COPY_REGIONS[app]]
        assert all(r["memory"] == "ZCMEM" for r in zero_copy)
        assert all(r["memory"] == "FBMEM" for r in regions if r not in zero_copy)
        assert bool(zero_copy) == bool(ZERO_COPY_REGIONS[app])


@pytest.mark.parametrize("app", ["stencil", "circuit", "pennant"])
def test_stale_data_fails_the_check_on_a_gpu(tmp_path, app):
    """A point task that skips its update on the GPU leaves stale data the check catches (circuit
    and pennant at this size by their stored fingerprints)."""
    spec = gpu_machine(tmp_path, 1)
    done = subprocess.run(HPCMAP + ["run", app, "--machine", str(spec), "--mapper", "expert", "--size", SIZE,
                                    "--trials", "1", "--timeout", "300", "--json", "--app-args", "-fault stale"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    trial = json.loads(done.stdout)["trials"][0]
    assert trial["check"] == "fail" and trial["outcome"] == "wrong_answer"

"""Campaigns for real: a campaign file's sbatch scripts, its points as jobs on the local Slurm cluster, bad files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpcmap.store import Store
from test_scale import NODE

ROOT = Path(__file__).resolve().parents[1]

# Two apps at two node counts with one mapper, once each; one CPU per node, as the local cluster has.
CAMPAIGN = """name = "{name}"
apps = ["stencil", "circuit"]
nodes = [1, 2]
mappers = ["default"]
trials = 1
machine = "tiny.toml"
timeout = 300
[sizes]
stencil = ["nx=200,ny=200,steps=5"]
circuit = ["small"]
[slurm]
cpus = 1
time = 15
"""


def hpcmap(*args, cwd: Path = ROOT, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hpcmap.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def campaign_file(directory: Path, name: str = "small", text: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tiny.toml").write_text(NODE)
    path = directory / f"{name}.toml"
    path.write_text(CAMPAIGN.format(name=name) if text is None else text)
    return path


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcmap: error:")]


@pytest.fixture(scope="module")
def network_runtime() -> Path:
    """The network-enabled Legion (built once per machine, cached afterwards)."""
    from hpcmap.legion import network

    return network.build_runtime(network.BuildOptions(), quiet=True)


@pytest.mark.slurm
def test_dry_run_scripts_are_readable_and_pass_sbatch_test_only(slurm_cluster, tmp_path):
    path = campaign_file(tmp_path / "c")
    store = tmp_path / "out" / "small.h5"
    done = hpcmap("campaign", path, "--dry-run", "--store", store, timeout=300)
    assert done.returncode == 0, done.stderr
    scripts = [Path(p) for p in done.stdout.split()]
    assert len(scripts) == 4 and all(s.parent == tmp_path / "out" / "small.sbatch" for s in scripts)
    for script in scripts:
        text = script.read_text()
        nodes = 2 if "@2n" in script.name else 1
        assert f"#SBATCH --nodes={nodes}" in text and "#SBATCH --cpus-per-task=1" in text
        assert "#SBATCH --job-name=hpcmap-small-" in text and "#SBATCH --mem=512MB" in text
        assert " run stencil " in text or " run circuit " in text
        test = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True, timeout=30)
        assert test.returncode == 0 and "to start at" in test.stderr, test.stderr
        spec = next(p for p in text.split() if p.endswith(".toml"))
        assert f"nodes = {nodes}" in Path(spec).read_text()
    assert not store.exists()
    assert subprocess.run(["squeue", "-h", "-n", "hpcmap-small"], capture_output=True, text=True).stdout == ""


@pytest.mark.slurm
@pytest.mark.mpi
@pytest.mark.slow
def test_small_campaign_end_to_end_on_the_cluster(slurm_cluster, network_runtime, tmp_path):
    path = campaign_file(tmp_path, name="e2e", text=CAMPAIGN.format(name="e2e").replace("timeout = 300", "timeout = 120"))
    store = tmp_path / "e2e.h5"
    done = hpcmap("campaign", path, "--store", store, "--json")
    assert done.returncode == 0 and done.stdout.strip(), done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["ran"] == 4
    records = {(r["app"], r["study"]["nodes"]): r for r in Store(store).records()}
    assert sorted(records) == [("circuit", 1), ("circuit", 2), ("stencil", 1), ("stencil", 2)]
    assert len({r["worker"].get("job_id") for r in records.values()}) == 4   # one Slurm job per point
    assert Store(store).meta()["kind"] == "campaign"
    for (app, nodes), r in records.items():
        assert r["outcome"] == "ok", (app, nodes, r["message"], r["stderr_tail"][-1500:])
        assert [t["check"] for t in r["trials"]] == ["pass"]
        assert r["worker"]["executor"] == "slurm", r["worker"]
        if nodes == 2:   # one Legion process on each of the job's two nodes, started by Hydra through Slurm
            assert "mpiexec -n 2 -ppn 1" in r["command"], (r["outcome"], r["message"], r["worker"])

    # Resumed, it collects everything from the store and submits nothing.
    submitted = sorted((tmp_path / "e2e.submitit").glob("*/*_submitted.pkl"))
    again = hpcmap("campaign", path, "--store", store, "--resume", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["ran"] == 0 and "submitted" not in again.stderr
    assert sorted((tmp_path / "e2e.submitit").glob("*/*_submitted.pkl")) == submitted


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace('"stencil", "circuit"', '"stencil", "nosuch"'), "unknown app 'nosuch'"),
    (lambda t: t.replace("trials = 1", "trials = 1\nrepeats = 3"), "unknown key 'repeats'"),
    (lambda t: t.replace("nodes = [1, 2]", "nodes = [0, 2]"), "`nodes`"),
    (lambda t: t.replace("cpus = 1", "cpu = 1"), "unknown key 'cpu' in [slurm]"),
    (lambda t: t.replace("trials = 1", "trials = 0"), "`trials`"),
    (lambda t: t.replace('circuit = ["small"]', 'circuit = ["huge"]'), "circuit has no size 'huge'"),
    (lambda t: t.replace('"default"', '"missing.map"'), "no mapper file"),
    (lambda t: t.replace("apps = [", "apps = [[").replace('"circuit"]', '"circuit"]]'), "`apps`"),
    (lambda t: t + "\n[[", "not valid TOML"),
])
def test_bad_campaign_file_is_one_line_and_exit_2(tmp_path, edit, message):
    path = campaign_file(tmp_path, text=edit(CAMPAIGN.format(name="bad")))
    for extra in (["--dry-run"], []):
        done = hpcmap("campaign", path, "--store", tmp_path / "bad.h5", *extra, timeout=120)
        assert done.returncode == 2, done.stderr
        assert error_lines(done) and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "bad.h5").exists() and not (tmp_path / "bad.sbatch").exists()


def test_missing_campaign_file(tmp_path):
    done = hpcmap("campaign", tmp_path / "none.toml", timeout=60)
    assert done.returncode == 2 and error_lines(done) == [f"hpcmap: error: no campaign file {tmp_path / 'none.toml'}"]


def test_a_changed_campaign_file_is_not_resumed_into_its_store(tmp_path):
    from hpcmap import campaign

    path = campaign_file(tmp_path, name="changed")
    store = Store(tmp_path / "changed.h5")
    store.create()
    store.fix_meta(campaign.load(path).meta())
    path.write_text(path.read_text().replace("trials = 1", "trials = 2"))
    done = hpcmap("campaign", path, "--store", store.path, "--resume", timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "has changed since" in done.stderr and "trials: was 1, now 2" in done.stderr
    assert not (tmp_path / "changed.submitit").exists()

"""Every command on bad input: one `hpcmap: error:` line, a non-zero exit, nothing started or lost."""
from __future__ import annotations

import json
import os
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


def _mapper(tmp_path: Path) -> Path:
    mapper = tmp_path / "m.map"
    mapper.write_text((ROOT / "benchmarks" / "stencil" / "expert.map").read_text())
    return mapper


@pytest.mark.parametrize("command", ["eval", "tune"])
def test_store_that_cannot_be_written_is_one_line(tmp_path, command):
    folder = tmp_path / "taken.h5"
    (folder / "inside").mkdir(parents=True)
    plain = tmp_path / "plain"
    plain.write_text("kept")
    head = ["eval", "default", "--app", "stencil"] if command == "eval" else ["tune", "stencil"]
    for store, fragment in ((folder, "is a directory"), (plain / "s.h5", "cannot write"),
                            (Path("/proc/hpcmap-study.h5"), "cannot write")):
        done = hpcmap(*head, "--store", str(store), "--trials", "1", cwd=tmp_path)
        assert_one_error_line(done, f"--store {store}", fragment)
    assert [p.name for p in folder.iterdir()] == ["inside"] and plain.read_text() == "kept"


def test_dsl_compile_output_that_cannot_be_written(tmp_path):
    mapper = _mapper(tmp_path)
    (tmp_path / "dir.json").mkdir()
    for out, fragment in (("dir.json", "Is a directory"), ("/proc/policy.json", "No such file")):
        assert_one_error_line(hpcmap("dsl", "compile", str(mapper), "-o", out, cwd=tmp_path), f"-o {out}", fragment)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files; this check needs an ordinary user")
def test_dsl_fmt_in_place_on_a_read_only_file(tmp_path):
    mapper = _mapper(tmp_path)
    before = mapper.read_text()
    mapper.chmod(0o444)
    assert_one_error_line(hpcmap("dsl", "fmt", "--in-place", str(mapper), cwd=tmp_path), "--in-place", "cannot write")
    assert mapper.read_text() == before


def test_report_output_that_cannot_be_written(tmp_path):
    from hpcmap.store import Store

    store = tmp_path / "study.h5"
    Store(store).create()
    before = store.read_bytes()
    (tmp_path / "dir.html").mkdir()
    for out in ("dir.html", "/proc/report.html"):
        assert_one_error_line(hpcmap("report", str(store), "-o", out, cwd=tmp_path), f"-o {out}", "cannot write")
    assert store.read_bytes() == before


@pytest.mark.parametrize("app, size, expected", [
    ("stencil", "nx=abc", "nx must be a positive integer"), ("stencil", "nx=-5", "nx must be a positive integer"),
    ("stencil", "steps=1.5", "steps must be a positive integer"), ("stencil", "medium,ntx=0", "ntx must be a positive integer"),
    ("cannon", "m=-1", "m must be a non-negative integer"),
])
@pytest.mark.parametrize("command", ["run", "eval"])
def test_size_is_checked_against_the_preset_before_a_process_starts(tmp_path, app, size, expected, command):
    head = ["run", app] if command == "run" else ["eval", "default", "--app", app, "--store", str(tmp_path / "s.h5")]
    done = hpcmap(*head, "--size", size, cwd=tmp_path)
    assert_one_error_line(done, expected)
    assert list(tmp_path.iterdir()) == []


def test_run_json_gives_sizes_as_numbers(tmp_path):
    done = hpcmap("run", "stencil", "--size", "nx=64,ny=64,steps=2,prune=1", "--trials", "1", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    size = json.loads(done.stdout)["size"]
    assert size == {"nx": 64, "ny": 64, "ntx": 2, "nty": 2, "steps": 2, "prune": 1}
    assert all(type(v) is int for v in size.values())


@pytest.mark.parametrize("node, expected", [
    ("cpus = -2", "`cpus` = -2 is out of range"), ("cpus = 100000", "`cpus` = 100000 is out of range"),
    ("sysmem_mb = -5", "`sysmem_mb` = -5 is out of range"), ("gpus = 1000", "`gpus` = 1000 is out of range"),
    ("cpus = 1\nsysmem_mb = 60000000", "MiB of system and zero-copy memory on this host, which has"),
])
def test_machine_spec_that_cannot_be_honoured_is_one_line(tmp_path, node, expected):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'name = "bad"\nnodes = 1\n[node]\n{node}\n')
    done = hpcmap("run", "stencil", "--machine", str(spec), "--size", "nx=64,ny=64,steps=2,prune=1", cwd=tmp_path)
    assert_one_error_line(done, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["bad.toml"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A real study of default and expert on a tiny stencil."""
    store = tmp_path_factory.mktemp("study") / "study.h5"
    done = hpcmap("eval", "default", "expert", "--app", "stencil", "--size", "nx=64,ny=64,steps=2,prune=1",
                  "--trials", "1", "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    return store


def _damaged_copy(study: Path, tmp_path: Path, path_in_file: str) -> Path:
    """A copy of the study whose object at `path_in_file` has its header overwritten mid-file."""
    import h5py

    with h5py.File(study, "r") as f:
        address = h5py.h5o.get_info(f[path_in_file].id).addr
    copy = tmp_path / "damaged.h5"
    data = bytearray(study.read_bytes())
    assert 0 < address < len(data) - 64
    data[address:address + 64] = b"\xab" * 64
    copy.write_bytes(bytes(data))
    return copy


def test_damaged_candidate_is_named_and_the_rest_is_kept(study, tmp_path):
    import h5py

    with h5py.File(study, "r") as f:
        expert = next(key for key in f["candidates"] if f["candidates"][key].attrs["name"] == "expert")
    damaged = _damaged_copy(study, tmp_path, f"candidates/{expert}")
    before = damaged.read_bytes()
    shown = hpcmap("store", "show", str(damaged), "--json")
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert [c["name"] for c in json.loads(shown.stdout)["candidates"]] == ["default"]
    assert_one_error_line(shown, f"/candidates/{expert}", "1 readable candidate")
    resumed = hpcmap("eval", "default", "--app", "stencil", "--size", "nx=64,ny=64,steps=2,prune=1", "--trials", "1",
                     "--store", str(damaged), "--resume")
    assert_one_error_line(resumed, f"/candidates/{expert}", "choose another --store")
    assert damaged.read_bytes() == before


def test_damaged_candidate_list_is_an_error_not_an_empty_study(study, tmp_path):
    damaged = _damaged_copy(study, tmp_path, "candidates")
    assert_one_error_line(hpcmap("store", "show", str(damaged)), "/candidates", "damaged")


def test_hpcmap_alone_prints_help():
    done = hpcmap()
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert done.stdout.startswith("usage: hpcmap") and "COMMAND" in done.stdout and "tune" in done.stdout


def test_empty_mapper_file_warns_that_it_is_the_default_mapper(tmp_path):
    (tmp_path / "empty.map").write_text("\n\n")
    done = hpcmap("run", "stencil", "--mapper", "empty.map", "--size", "nx=64,ny=64,steps=2,prune=1", "--trials", "1",
                  "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "hpcmap: warning: empty.map is empty, so it maps as Legion's DefaultMapper does" in done.stderr
    assert json.loads(done.stdout)["trials"][0]["outcome"] == "ok"


@pytest.mark.parametrize("command", [["run", "stencil", "--mapper", "latin1.map"], ["dsl", "check", "latin1.map"],
                                     ["eval", "latin1.map", "--app", "stencil", "--store", "s.h5"]])
def test_mapper_file_that_is_not_utf8_is_one_line(tmp_path, command):
    (tmp_path / "latin1.map").write_bytes("# caf\u00e9\nTask * CPU;\n".encode("latin-1"))
    done = hpcmap(*command, cwd=tmp_path)
    assert_one_error_line(done, "latin1.map is not UTF-8 text (byte 0xe9 at offset 5)")
    assert not (tmp_path / "s.h5").exists()


def test_store_show_names_traces_by_candidate_name(tmp_path):
    store = tmp_path / "study.h5"
    done = hpcmap("eval", "default", "expert", "--app", "stencil", "--size", "nx=64,ny=64,steps=2,prune=1",
                  "--trials", "1", "--store", str(store), "--profile", str(tmp_path / "prof"), "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(hpcmap("store", "show", str(store), "--json").stdout)["candidates"]
    assert sorted(c["trace_run"] for c in shown) == ["default", "expert"]
    table = hpcmap("store", "show", str(store)).stdout
    assert f"hpcmap trace summary {store} --run NAME" in table
    for candidate in shown:
        summary = hpcmap("trace", "summary", str(store), "--run", candidate["trace_run"], "--json")
        assert summary.returncode == 0, summary.stderr
        assert candidate["trace"].split("/")[-1] in summary.stdout


def test_output_piped_into_a_reader_that_has_left_is_not_an_error(study):
    read_end, write_end = os.pipe()
    os.close(read_end)   # like `| head` that has already exited: every write gets EPIPE
    try:
        shown = subprocess.run(HPCMAP + ["store", "show", str(study), "--json"], stdout=write_end,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    finally:
        os.close(write_end)
    assert shown.returncode == 0 and shown.stderr == ""

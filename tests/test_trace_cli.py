"""`hpcmap trace` and `run --profile` on real stencil runs: runs are never lost or confused, plots and
exports show what they claim, and bad output paths end in one error line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIZE = "nx=300,ny=300,ntx=2,nty=2,steps=6,prune=1"


def hpcmap(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "hpcmap.cli", *args], cwd=ROOT, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def one_error_line(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode != 0
    assert proc.stderr.startswith("hpcmap: error:") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def profile(directory: Path, *extra: str, trials: int = 1) -> None:
    hpcmap("run", "stencil", "--trials", str(trials), "--size", SIZE, "--profile", str(directory), *extra)


def runs(trace: Path) -> list[str]:
    return [r["run"] for r in json.loads(hpcmap("trace", "ls", str(trace), "--json").stdout)]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """DIR/trace.h5 with runs trial0 and trial1 from two `run --profile DIR` invocations."""
    directory = tmp_path_factory.mktemp("prof") / "p"
    profile(directory)
    profile(directory)
    return directory


def test_profile_into_an_existing_directory_adds_runs(two_runs, tmp_path):
    assert runs(two_runs / "trace.h5") == ["trial0", "trial1"]
    first = sorted((two_runs / "trial0").glob("prof_*"))
    assert first and sorted((two_runs / "trial1").glob("prof_*"))
    ls = json.loads(hpcmap("trace", "ls", str(two_runs / "trace.h5"), "--json").stdout)
    assert all(r["app"] == "stencil" and r["outcome"] == "ok" and r["tasks"] > 0 for r in ls)
    assert not list(two_runs.glob(".incoming-*"))
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "notes.txt").write_text("mine")
    hpcmap("trace", "import", *map(str, first), "-o", str(copy / "trace.h5"), "--run", "trial0")
    profile(copy)  # a trace made by hand, beside other files: numbering goes on from its runs
    assert runs(copy / "trace.h5") == ["trial0", "trial1"]
    assert (copy / "notes.txt").read_text() == "mine" and (copy / "trial1").is_dir()


def test_profile_force_starts_afresh(tmp_path):
    directory = tmp_path / "p"
    profile(directory, trials=2)
    assert runs(directory / "trace.h5") == ["trial0", "trial1"]
    profile(directory, "--force")
    assert runs(directory / "trace.h5") == ["trial0"]
    assert not (directory / "trial1").exists()


def test_profile_into_a_file_or_under_one_is_one_error_line(tmp_path):
    plain = tmp_path / "file"
    plain.write_text("keep me")
    for target in (plain, plain / "sub"):
        one_error_line(hpcmap("run", "stencil", "--trials", "1", "--size", SIZE, "--profile", str(target), ok=False),
                       str(target))
    assert plain.read_text() == "keep me"
    one_error_line(hpcmap("run", "stencil", "--force", ok=False), "--force")


def test_import_onto_an_existing_run_needs_force(two_runs, tmp_path):
    logs = [str(p) for p in sorted((two_runs / "trial0").glob("prof_*"))]
    trace = tmp_path / "t.h5"
    assert "as run run0" in hpcmap("trace", "import", *logs, "-o", str(trace)).stdout
    assert "as run run1" in hpcmap("trace", "import", *logs, "-o", str(trace)).stdout
    one_error_line(hpcmap("trace", "import", *logs, "-o", str(trace), "--run", "run0", ok=False), "run0", "--force")
    assert runs(trace) == ["run0", "run1"]
    replaced = hpcmap("trace", "import", *logs, "-o", str(trace), "--run", "run0", "--force")
    assert "replacing" in replaced.stdout and runs(trace) == ["run0", "run1"]
    for bad in (tmp_path, tmp_path / "missing" / "t.h5"):
        one_error_line(hpcmap("trace", "import", *logs, "-o", str(bad), ok=False), str(bad))


def test_export_one_run_or_all_and_says_which(two_runs, tmp_path):
    trace = str(two_runs / "trace.h5")
    out = tmp_path / "all.json"
    said = hpcmap("trace", "export", trace, "--all", "-o", str(out)).stdout
    assert "trial0" in said and "trial1" in said
    events = [e for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "X"]
    one = tmp_path / "one.json"
    said = hpcmap("trace", "export", trace, "--run", "trial0", "-o", str(one)).stdout
    assert "trial0" in said and "trial1" not in said
    first = [e for e in json.loads(one.read_text())["traceEvents"] if e["ph"] == "X"]
    assert 0 < len(first) < len(events)
    pids_by_run = {}
    for e in events:
        pids_by_run.setdefault(e["pid"], 0)
        pids_by_run[e["pid"]] += 1
    assert len(pids_by_run) == 2 and len(first) in pids_by_run.values()
    names = [e["args"]["name"] for e in json.loads(out.read_text())["traceEvents"] if e["name"] == "process_name"]
    assert any("trial0" in n for n in names) and any("trial1" in n for n in names)
    one_error_line(hpcmap("trace", "export", trace, "--run", "nope", "-o", str(one), ok=False), "nope")
    one_error_line(hpcmap("trace", "export", trace, "-o", str(tmp_path / "no" / "x.json"), ok=False), "x.json")


def test_plot_shows_what_a_person_needs(two_runs, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from hpcmap.profile.plot import build_figure

    trace = two_runs / "trace.h5"
    fig, shown = build_figure([trace, trace], "trial1")
    assert [run for _, run in shown] == ["trial1", "trial1"]
    timeline = fig.axes[2:4]
    assert timeline[0].get_xlim() == timeline[1].get_xlim()
    legend = fig.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert {"stencil", "increment", "timed region", "top-level task"} <= set(labels)
    assert "top_level" not in labels
    colours = [tuple(h.get_facecolor()) for h, label in zip(legend.legend_handles, labels)
               if label not in ("timed region", "top-level task")]
    assert len(set(colours)) == len(colours)
    fig.canvas.draw()
    box = legend.get_window_extent()
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent())
    spans = [p for p in timeline[0].patches if p.get_label() == "_timed"]
    assert len(spans) == 1
    x0, x1 = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
    assert 0 < x1 - x0 < timeline[0].get_xlim()[1]
    assert fig.axes[0].get_lines() or fig.axes[0].patches  # utilization over time
    import matplotlib.pyplot as plt

    plt.close(fig)
    png = tmp_path / "side.png"
    said = hpcmap("trace", "plot", str(trace), str(trace), "--run", "trial0", "-o", str(png)).stdout
    assert png.read_bytes()[:4] == b"\x89PNG" and said.count("trial0") == 2
    said = hpcmap("trace", "plot", str(trace), str(trace), "--run", "trial0", "--run", "trial1", "-o", str(png)).stdout
    assert said.index("trial0") < said.index("trial1")
    one_error_line(hpcmap("trace", "plot", str(trace), "-o", str(tmp_path / "t.nosuchformat"), ok=False), ".png")
    one_error_line(hpcmap("trace", "plot", str(trace), "-o", str(tmp_path / "no" / "t.png"), ok=False), "t.png")
    assert not (tmp_path / "t.nosuchformat").exists()


def test_task_colours_stay_distinct_however_many():
    from hpcmap.profile.plot import task_colors

    for n in (3, 15, 64):
        colours = task_colors([f"t{i}" for i in range(n)])
        assert len({tuple(round(c, 3) for c in v) for v in colours.values()}) == n


def test_diff_labels_sides_and_shows_zero_as_zero(two_runs):
    trace = str(two_runs / "trace.h5")
    d = json.loads(hpcmap("trace", "diff", trace, trace, "--run-a", "trial0", "--run-b", "trial1", "--json").stdout)
    assert d["a_label"] == f"{trace}:trial0 (default)" and d["b_label"] == f"{trace}:trial1 (default)"
    same = json.loads(hpcmap("trace", "diff", trace, trace, "--run-a", "trial0", "--run-b", "trial0", "--json").stdout)
    assert same["span"]["change"] == 0
    assert all(r["change"] == 0 for r in same["processors"] + same["overheads"])
    text = hpcmap("trace", "diff", trace, trace, "--run-a", "trial0", "--run-b", "trial0").stdout
    assert f"A = {trace}:trial0" in text and "new" not in text and "+0%" not in text


def test_every_trace_argument_has_help():
    import argparse

    from hpcmap import cli

    parser = cli.build_parser()
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("trace", "run"):
        command = top.choices[name]
        subs = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        parsers = list(subs[0].choices.values()) if subs else [command]
        for p in parsers:
            for action in p._actions:
                if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                    assert action.help, f"{p.prog}: {action.dest} has no help"


def test_a_killed_trial_keeps_its_results_and_what_its_log_holds(tmp_path):
    directory = tmp_path / "p"
    # A million steps of 256 tiles: no host finishes them before the 5 s timeout.
    proc = hpcmap("run", "stencil", "--trials", "1", "--size", "nx=512,ny=512,ntx=16,nty=16,steps=1000000,prune=5",
                  "--app-args", "-trace 0", "--timeout", "5", "--profile", str(directory), "--json", ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["error"]["outcome"] == "timeout" and len(out["trials"]) == 1
    assert (directory / "trial0").is_dir() and not list(directory.glob(".incoming-*"))
    if list((directory / "trial0").glob("prof_*")):
        assert "trial0" in runs(directory / "trace.h5")
        assert proc.stderr.count("hpcmap: warning: profile of trial0") <= 1


def test_a_run_can_be_named_by_its_mapper(tmp_path):
    from hpcmap.profile.h5trace import resolve_run

    directory = tmp_path / "p"
    profile(directory)
    trace = directory / "trace.h5"
    assert resolve_run(trace, "default") == "trial0"  # the one run whose mapper is default
    profile(directory)  # now two runs have that mapper: the name no longer says which
    one_error_line(hpcmap("trace", "summary", str(trace), "--run", "default", ok=False), "no run named")
    assert json.loads(hpcmap("trace", "summary", str(trace), "--run", "trial1", "--json").stdout)["run"] == "trial1"

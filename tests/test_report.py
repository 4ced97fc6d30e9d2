"""`hpcmap report` on a real study with traces: curves PNG, outcome counts, diffs, trace comparison."""
from __future__ import annotations

from dataclasses import replace

from hpcmap import study
from hpcmap.dispatch.local import LocalExecutor
from hpcmap.evaluate import make_requests
from hpcmap.store import Store
from test_eval_local import CYCLIC, DIV_ZERO, INVALID, run_cli
from test_study import SIZE, Planted, expert_text


def test_report_of_a_profiled_study(tmp_path):
    base = make_requests(["default"], "stencil", SIZE, trials=2, timeout_s=60)[0]
    base = replace(base, profile_dir=str(tmp_path / "prof"))
    path = tmp_path / "study.h5"
    ex = LocalExecutor(1)
    try:
        with study.open_store(path, base, resume=False) as (store, _):
            study.tune(study.Study(store, base, ex), Planted([DIV_ZERO, INVALID, CYCLIC]), budget=3, batch=3,
                       baselines={"default": None, "expert": expert_text()})
    finally:
        ex.close()
    out = tmp_path / "r" / "report.html"
    proc = run_cli("report", str(path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    png = out.with_suffix(".curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f'src="{png.name}"' in page
    counts = {}
    for r in Store(path).records():
        if r["study"]["role"] != "remeasure":
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    assert counts == {"ok": 3, "map_error": 1, "invalid": 1}
    for outcome, n in counts.items():
        assert f"<td>{outcome}</td><td>{n}</td>" in page
    assert "+IndexTaskMap stencil f;" in page           # the cyclic mapper's diff against default
    assert "against expert" in page
    assert "Traces: default against" in page and "span_s" in page


def test_report_of_a_missing_store(tmp_path):
    proc = run_cli("report", str(tmp_path / "none.h5"))
    assert proc.returncode != 0 and proc.stderr.strip().startswith("hpcmap: error: no study store")
    assert len(proc.stderr.strip().splitlines()) == 1

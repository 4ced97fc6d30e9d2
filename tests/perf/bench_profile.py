"""Import throughput, peak memory and trace size of hpcmap.profile on a large real Legion Prof log;
then the time to summarize it, export it for Perfetto (lanes included) and plot it.

    python tests/perf/bench_profile.py [LOG ...]

Without arguments it makes one: stencil with 16x16 tiles and 800 steps, untraced, into /tmp
(about 450 MB). Goals: >= 100 MB/s on one core; peak memory <= 2x the log size.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOG_DIR = Path(tempfile.gettempdir()) / "hpcmap-bench-profile"
ARGS = ["-nx", "512", "-ny", "512", "-ntx", "16", "-nty", "16", "-tsteps", "800", "-trace", "0",
        "-ll:cpu", "1", "-ll:util", "1", "-lg:prof", "1"]


def make_log() -> list[Path]:
    from hpcmap.legion import runtime
    from hpcmap.legion.build import binary_path

    logs = sorted(LOG_DIR.glob("prof_*"))
    if logs and sum(p.stat().st_size for p in logs) >= 200e6:
        return logs
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "hpcmap.cli", "legion", "build", "stencil"], check=True)
    argv = [str(binary_path("stencil", "stencil")), *ARGS, "-lg:prof_logfile", str(LOG_DIR / "prof_%.gz")]
    print("generating:", " ".join(argv), flush=True)
    subprocess.run(argv, env=runtime.locate().process_env(dict(os.environ)), check=True, capture_output=True)
    return sorted(LOG_DIR.glob("prof_*"))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    logs = [Path(a) for a in sys.argv[1:]] or make_log()
    import h5py  # noqa: F401  (imports are not part of the measurement)
    import numpy  # noqa: F401

    from hpcmap.profile import feedback, import_run_logs, summarize
    from hpcmap.profile.chrome import export_chrome
    from hpcmap.profile.plot import plot_runs
    from hpcmap.profile.importer import load_logs  # noqa: F401

    size = sum(p.stat().st_size for p in logs)
    out = Path(tempfile.gettempdir()) / "hpcmap-bench-profile.h5"
    out.unlink(missing_ok=True)
    base = rss_mb()
    cpu0, t0 = time.process_time(), time.perf_counter()
    import_run_logs(logs, out, "bench", {})
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    peak = rss_mb() - base
    t1 = time.perf_counter()
    s = summarize(out)
    t_sum = time.perf_counter() - t1
    print(f"log: {len(logs)} file(s), {size / 1e6:.1f} MB")
    print(f"import: {wall:.2f} s wall, {cpu:.2f} s CPU -> {size / 1e6 / wall:.0f} MB/s wall, "
          f"{size / 1e6 / cpu:.0f} MB/s per CPU second (goal >= 100)")
    print(f"peak memory (maxrss delta): {peak:.0f} MiB = {peak * 2**20 / size:.2f}x the log "
          f"(goal <= 2x)")
    print(f"HDF5 trace: {out.stat().st_size / 1e6:.1f} MB = {out.stat().st_size / size:.3f} of the raw log")
    print(f"summary: {t_sum:.2f} s; {sum(r['count'] for r in s['tasks'])} tasks, "
          f"critical path {s['critical_path'].get('steps', 'n/a')} steps")
    t2 = time.perf_counter()
    counts = export_chrome(out, out.with_suffix(".json"))
    t_export = time.perf_counter() - t2
    print(f"export: {t_export:.2f} s for {sum(counts.values())} events "
          f"({sum(counts.values()) / t_export / 1e3:.0f} k events/s), "
          f"{out.with_suffix('.json').stat().st_size / 1e6:.1f} MB of JSON")
    t3 = time.perf_counter()
    plot_runs([out], out.with_suffix(".png"))
    print(f"plot: {time.perf_counter() - t3:.2f} s")
    print(feedback(s))


if __name__ == "__main__":
    main()

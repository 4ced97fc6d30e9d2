"""Time parse + check of a generated 1,000-line mapper (target: under 50 ms).

Run: .venv/bin/python tests/perf/bench_dsl.py
"""
from __future__ import annotations

import statistics
import time

from hpcmap.dsl.check import check_text
from hpcmap.dsl.parser import _lark


def generate(lines: int = 1000) -> str:
    """A mapper of exactly `lines` lines mixing every statement kind and 6-line functions."""
    out = ["Task * GPU,CPU;", "m = Machine(GPU);", "c = Machine(CPU).merge(0, 1);"]
    i = 0
    while len(out) < lines - 8:
        k = i % 6
        if k == 0:
            out += [f"def f{i}(Task task) {{",
                    "    ip = task.ipoint;",
                    "    sz = task.ispace;",
                    "    lin = ip[0] * sz[1] + ip[1];",
                    "    return m[lin % m.size[0], lin / m.size[0] % m.size[1]];",
                    "}",
                    f"IndexTaskMap t{i},u{i} f{i};"]
        elif k == 1:
            out.append(f"Region t{i} r{i} GPU FBMEM,ZCMEM;  # region {i}")
        elif k == 2:
            out.append(f"Layout t{i} {i % 4} FBMEM SOA C_order Align==64;")
        elif k == 3:
            out.append(f"g{i} = m.balance_split(1, 2).swap(0, 1);")
        elif k == 4:
            out.append(f"InstanceLimit t{i} {i % 7 + 1};")
        else:
            out.append(f"Task t{i} CPU,GPU;")
        i += 1
    while len(out) < lines:
        out.append(f"CollectMemory t{len(out)} *;")
    return "\n".join(out) + "\n"


def main() -> None:
    text = generate()
    t0 = time.perf_counter()
    _lark()
    build = time.perf_counter() - t0
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        program, diags = check_text(text, "bench.map")
        times.append(time.perf_counter() - t0)
    errors = [d for d in diags if d.is_error]
    assert program is not None and not errors, [d.format() for d in errors[:3]]
    print(f"lines: {text.count(chr(10))}  statements: {len(program.stmts)}  diagnostics: {len(diags)}")
    print(f"parser construction (once per process): {build * 1000:.1f} ms")
    print(f"parse + check: median {statistics.median(times) * 1000:.1f} ms, "
          f"min {min(times) * 1000:.1f} ms, first {times[0] * 1000:.1f} ms")


if __name__ == "__main__":
    main()

"""Time parse + check of a generated 1,000-line mapper (target: under 50 ms).

Run: .venv/bin/python tests/perf/bench_dsl.py
"""
from __future__ import annotations

import os
import statistics
import time

from hpcmap.dsl import fastparse
from hpcmap.dsl.check import check, check_text
from hpcmap.dsl.parser import _lark, parse


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


def _times(f, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return out


def _ms(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms"


def main(runs: int = 50) -> None:
    text = generate()
    fastparse.parse_program(text, "bench.map")  # the benchmark must take the fast path
    load = os.getloadavg()
    times = _times(lambda: check_text(text, "bench.map"), runs)
    program, diags = check_text(text, "bench.map")
    errors = [d for d in diags if d.is_error]
    assert program is not None and not errors, [d.format() for d in errors[:3]]
    parse_times = _times(lambda: parse(text, "bench.map"), runs)
    check_times = _times(lambda: check(program, text), runs)
    lark_times = _times(lambda: parse(text, "bench.map", fast=False), 3)
    t0 = time.perf_counter()
    _lark.cache_clear()
    _lark()
    build = time.perf_counter() - t0
    print(f"lines: {text.count(chr(10))}  statements: {len(program.stmts)}  diagnostics: {len(diags)}  "
          f"runs: {runs}  load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"parse + check: {_ms(times)}, first {times[0] * 1000:.1f} ms   (goal: under 50 ms)")
    print(f"  parse (fast path): {_ms(parse_times)}")
    print(f"  check: {_ms(check_times)}")
    print(f"  parse (lark path, used for diagnostics): {_ms(lark_times)}")
    print(f"  lark parser construction (first fallback in a process): {build * 1000:.1f} ms")


if __name__ == "__main__":
    main()

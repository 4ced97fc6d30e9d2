"""Time parse + check through lark's LALR parser: a 60-line mapper in the published style (the
language's one parser is the grammar; goal: a few ms) and a generated 1,000-line mapper.

Run: .venv/bin/python tests/perf/bench_dsl.py
"""
from __future__ import annotations

import os
import statistics
import time

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


PUBLISHED_STYLE = """\
Task * GPU,OMP,CPU;
Task init_cublas,taco_validate GPU,CPU;
Region * * * SOCKMEM,SYSMEM;
Region * * GPU FBMEM,ZCMEM;
Region task_5 0 GPU ZCMEM;
Layout * * * SOA C_order;
Layout task_7 * FBMEM AOS F_order Align==128;
InstanceLimit task_5 2;
CollectMemory task_4 *;
ControlReplicate top_level;

def block_primitive(IPoint x, ISpace y, MSpace z, int dim1, int dim2) {
    return x[dim1] * z.size[dim2] / y.size[dim1];
}

def cyclic_primitive(IPoint x, ISpace y, MSpace z, int dim1, int dim2) {
    return x[dim1] % z.size[dim2];
}

m_2d = Machine(GPU);
m_1d = m_2d.merge(0, 1);
m_omp = Machine(OMP);

def auto2d(Task task) {
    m_3d = m_2d.auto_split(0, task.ispace);
    m_4d = m_3d.auto_split(2, task.ispace / m_3d[:-1]);
    upper = tuple(block_primitive(task.ipoint, task.ispace, m_4d, i, i) for i in (0, 1));
    lower = tuple(cyclic_primitive(task.ipoint, task.ispace, m_4d, i, i + 2) for i in (0, 1));
    return m_4d[*upper, *lower];
}

def block1d(Task task) {
    return m_1d[block_primitive(task.ipoint, task.ispace, m_1d, 0, 0)];
}

def same_point(Task task) {
    return m_2d[*task.parent.processor(m_2d)];
}

def cyclic2d(Task task) {
    ip = task.ipoint;
    lin = ip[0] * task.ispace[1] + ip[1];
    return m_2d[lin % m_2d.size[0], lin / m_2d.size[0] % m_2d.size[1]];
}

def hier(Task task) {
    m = m_2d.balance_split(1, 2);
    node = task.ipoint[0] % m.size[0];
    return m[node, *];
}

def fb_first(Task task) {
    return m_2d[0].has(FBMEM) ? m_2d[0, 0] : m_omp[0, 0];
}

IndexTaskMap task_1,task_2,task_3,taco_fill auto2d;
IndexTaskMap init_cublas block1d;
IndexTaskMap task_6 cyclic2d;
IndexTaskMap task_8 hier;
IndexTaskMap task_9 fb_first;
SingleTaskMap task_4 same_point;
"""


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
    load = os.getloadavg()
    _lark()  # parser construction is timed separately below
    small = PUBLISHED_STYLE
    program, diags = check_text(small, "published.map")
    assert program is not None and not [d for d in diags if d.is_error], [d.format() for d in diags]
    small_times = _times(lambda: check_text(small, "published.map"), runs * 4)
    cpu0 = time.process_time()
    for _ in range(runs * 4):
        check_text(small, "published.map")
    cpu = (time.process_time() - cpu0) / (runs * 4)
    print(f"published-style mapper: {small.count(chr(10))} lines; parse + check (lark LALR): {_ms(small_times)}; "
          f"CPU time per run {cpu * 1000:.1f} ms")
    print(f"  parse: {_ms(_times(lambda: parse(small, 'published.map'), runs * 4))}")
    text = generate()
    times = _times(lambda: check_text(text, "bench.map"), runs)
    program, diags = check_text(text, "bench.map")
    errors = [d for d in diags if d.is_error]
    assert program is not None and not errors, [d.format() for d in errors[:3]]
    parse_times = _times(lambda: parse(text, "bench.map"), runs)
    check_times = _times(lambda: check(program, text), runs)
    t0 = time.perf_counter()
    _lark.cache_clear()
    _lark()
    build = time.perf_counter() - t0
    print(f"lines: {text.count(chr(10))}  statements: {len(program.stmts)}  diagnostics: {len(diags)}  "
          f"runs: {runs}  load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"parse + check: {_ms(times)}, first {times[0] * 1000:.1f} ms   (1,000 lines)")
    print(f"  parse: {_ms(parse_times)}")
    print(f"  check: {_ms(check_times)}")
    print(f"  lark parser construction (once per process): {build * 1000:.1f} ms")


if __name__ == "__main__":
    main()

"""Reference evaluator: index maps on 1 node x 4 CPUs and 2 nodes x 4 GPUs, transformations, errors."""
from __future__ import annotations

import pytest

from hpcmap.dsl.check import check_text
from hpcmap.dsl.evaluate import Evaluator, MachineShape, MappingError
from hpcmap.dsl.ir import compile_program
from hpcmap.dsl.spaces import Space, auto_factors, balance_factors, greedy_factors

CPU1x4 = MachineShape(1, {"CPU": 4})
GPU2x4 = MachineShape(2, {"CPU": 4, "GPU": 4})

MAPPERS = """
mc = Machine(CPU);
mg = Machine(GPU);
def block1d(Task t) {
    m = mc.merge(0, 1);
    return m[t.ipoint[0] * m.size[0] / t.ispace[0]];
}
def cyclic1d(Task t) {
    m = mc.merge(0, 1);
    return m[t.ipoint[0] % m.size[0]];
}
def lin2d(Task t) {
    ip = t.ipoint;
    lin = ip[0] * t.ispace[1] + ip[1];
    m = mg.merge(0, 1);
    return m[lin % m.size[0]];
}
def gcyclic(Task t) {
    ip = t.ipoint;
    return mg[ip[0] % mg.size[0], ip[0] / mg.size[0] % mg.size[1]];
}
def nodeset(Task t) {
    return mg[t.ipoint[0] % mg.size[0], *];
}
def cpuset(Task t) {
    return mc[0, *];
}
def gblock(Task t) {
    m = mg.merge(0, 1);
    return m[t.ipoint[0] * m.size[0] / t.ispace[0]];
}
IndexTaskMap b1 block1d;
IndexTaskMap c1 cyclic1d;
IndexTaskMap l2 lin2d;
IndexTaskMap gc gcyclic;
IndexTaskMap ns nodeset;
IndexTaskMap cs cpuset;
IndexTaskMap gb gblock;
"""


def evaluator(src: str, machine: MachineShape) -> Evaluator:
    program, diags = check_text(src, "t.map")
    assert not [d.format() for d in diags if d.is_error]
    return Evaluator(compile_program(program), machine)


@pytest.fixture(scope="module")
def ir():
    program, diags = check_text(MAPPERS, "maps.map")
    assert not [d for d in diags if d.is_error]
    return compile_program(program)


def where(ev: Evaluator, task: str, domain) -> list[tuple[int, int]]:
    return [(p.node, p.processor) for p in ev.explain(task, domain)]


def test_block_1x4_cpu(ir):
    ev = Evaluator(ir, CPU1x4)
    assert where(ev, "b1", (8,)) == [(0, 0), (0, 0), (0, 1), (0, 1), (0, 2), (0, 2), (0, 3), (0, 3)]


def test_cyclic_1x4_cpu(ir):
    ev = Evaluator(ir, CPU1x4)
    assert where(ev, "c1", (6,)) == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 0), (0, 1)]


def test_block_2x4_gpu(ir):
    ev = Evaluator(ir, GPU2x4)
    assert where(ev, "gb", (8,)) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]


def test_cyclic_2x4_gpu(ir):
    ev = Evaluator(ir, GPU2x4)
    assert where(ev, "gc", (8,)) == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3)]


def test_linearized_2d_both_machines(ir):
    ev = Evaluator(ir, GPU2x4)
    got = where(ev, "l2", (2, 4))
    # merge(0, 1): linear index i -> node i / 4, gpu i % 4
    assert got == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert [p.point for p in ev.explain("l2", (2, 4))][:3] == [(0, 0), (0, 1), (0, 2)]
    lin_cpu = evaluator(MAPPERS.replace("mg.merge(0, 1);\n    return m[lin", "mc.merge(0, 1);\n    return m[lin"), CPU1x4)
    assert where(lin_cpu, "l2", (2, 3)) == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 0), (0, 1)]


def test_star_sets(ir):
    ev = Evaluator(ir, GPU2x4)
    pls = ev.explain("ns", (3,))
    assert [p.set for p in pls] == [[(0, i) for i in range(4)], [(1, i) for i in range(4)], [(0, i) for i in range(4)]]
    assert [(p.node, p.processor) for p in pls] == [(0, 0), (1, 0), (0, 0)]
    assert pls[1].to_json()["set"] == [[1, 0], [1, 1], [1, 2], [1, 3]]
    ev1 = Evaluator(ir, CPU1x4)
    assert ev1.map_point("cs", (2,), (1,)).set == [(0, 0), (0, 1), (0, 2), (0, 3)]


def test_map_needing_a_kind_the_machine_lacks_does_not_apply(ir):
    ev = Evaluator(ir, CPU1x4)  # unused GPU globals are fine; a GPU map is left out, as in the mapper
    with pytest.raises(LookupError, match="no IndexTaskMap or SingleTaskMap names task 'gc'"):
        ev.map_point("gc", (2,), (0,))
    assert Evaluator(ir, GPU2x4).function_for("gc")[1] == "index"


def test_division_by_zero_has_file_line():
    ev = evaluator("m = Machine(CPU);\ndef f(Task t) {\n  z = t.ipoint[0] - t.ipoint[0];\n  return m[0, 4 / z];\n}\nIndexTaskMap a f;", CPU1x4)
    with pytest.raises(MappingError, match=r"^t\.map:4: division by zero$"):
        ev.map_point("a", (2,), (0,))


def test_index_out_of_range_has_file_line():
    ev = evaluator("m = Machine(CPU);\ndef f(Task t) {\n  return m[0, t.ipoint[0]];\n}\nIndexTaskMap a f;", CPU1x4)
    assert ev.map_point("a", (8,), (3,)).processor == 3
    with pytest.raises(MappingError, match=r"^t\.map:3: index 4 out of range for dimension 1 of size 4$"):
        ev.map_point("a", (8,), (4,))


def test_truncating_division_and_modulo():
    ev = evaluator("m = Machine(CPU);\ndef f(Task t) {\n  a = -7 / 2; b = -7 % 2; c = 7 % -2;\n"
                   "  return (a == -3 && b == -1 && c == 1) ? m[0, 1] : m[0, 0];\n}\nIndexTaskMap a f;", CPU1x4)
    assert ev.map_point("a", (1,), (0,)).processor == 1


# ------------------------------------------------------------------ transformations
BASE = Space("GPU", (2, 4))


def all_points(space: Space):
    from hpcmap.dsl.spaces import enumerate_all

    return {ix: space.to_base(ix) for ix in enumerate_all(space.size, [None] * len(space.size))}


def test_merge_table():
    m = BASE.transform("merge", [0, 1])
    assert m.size == (8,)
    assert [m.to_base((i,)) for i in range(8)] == [(i // 4, i % 4) for i in range(8)]
    r = BASE.transform("merge", [1, 0])
    assert r.size == (8,) and r.to_base((5,)) == (5 % 2, 5 // 2)


def test_split_merge_identity():
    s = BASE.transform("merge", [0, 1]).transform("split", [0, 4])
    assert s.size == (4, 2)
    # split: (i, j) -> i + j*4 in the merged space, which is (node, gpu) = divmod(i + 4j, 4)
    assert all(s.to_base((i, j)) == divmod(i + 4 * j, 4) for i in range(4) for j in range(2))
    split_back = BASE.transform("split", [1, 2]).transform("merge", [2, 1])
    assert split_back.size == (2, 4)


def test_swap_reverse_slice_identities():
    ident = all_points(BASE)
    assert all_points(BASE.transform("swap", [0, 1]).transform("swap", [0, 1])) == ident
    assert all_points(BASE.transform("reverse", [1]).transform("reverse", [1])) == ident
    assert all_points(BASE.transform("slice", [1, 0, 3])) == ident
    sw = BASE.transform("swap", [0, 1])
    assert sw.size == (4, 2) and sw.to_base((3, 1)) == (1, 3)
    rv = BASE.transform("reverse", [1])
    assert rv.to_base((0, 0)) == (0, 3)
    sl = BASE.transform("slice", [1, 1, 2])
    assert sl.size == (2, 2) and sl.to_base((1, 1)) == (1, 2)


def test_inverse_map_roundtrip():
    s = BASE.transform("merge", [0, 1]).transform("split", [0, 2]).transform("swap", [0, 1]).transform("reverse", [0])
    for ix, base in all_points(s).items():
        assert s.from_base(base) == ix
    assert BASE.transform("slice", [1, 1, 2]).from_base((0, 0)) is None


def test_balance_split():
    # Factors as close as possible, largest first (the published meaning).
    assert [balance_factors(n, 2) for n in (12, 20, 48, 7)] == [(4, 3), (5, 4), (8, 6), (7, 1)]
    assert balance_factors(6, 2) == (3, 2)
    assert balance_factors(12, 3) == (3, 2, 2)
    assert balance_factors(16, 3) == (4, 2, 2)
    s = Space("CPU", (6, 1)).transform("balance_split", [0, 2])
    assert s.size == (3, 2, 1)
    assert s.to_base((1, 1, 0)) == (1 + 3 * 1, 0)


def test_auto_and_greedy_split():
    assert auto_factors(4, (4, 2, 4)) == (2, 1, 2)
    assert auto_factors(4, (2, 2, 2)) == (2, 2, 1)
    assert greedy_factors(4, (2, 2, 2)) == (2, 2, 1)
    assert greedy_factors(8, (8, 2)) == (8, 1)  # the tie 8/4 == 2/1 goes to the lowest index
    assert greedy_factors(12, (6, 4)) == (6, 2)
    s = Space("GPU", (4, 2)).transform("auto_split", [0, (4, 2, 4)])
    assert s.size == (2, 1, 2, 2)
    g = Space("GPU", (4, 2)).transform("greedy_split", [0, (2, 2, 2)])
    assert g.size == (2, 2, 1, 2)


def test_transform_errors_have_line():
    ev = evaluator("m = Machine(CPU);\ndef f(Task t) {\n  s = m.split(1, 3);\n  return s[0, 0, 0];\n}\nIndexTaskMap a f;", CPU1x4)
    with pytest.raises(MappingError, match=r"^t\.map:3: split factor 3 does not divide dimension 1 of size 4$"):
        ev.map_point("a", (1,), (0,))


def test_processor_and_parent():
    ev = evaluator("m = Machine(GPU);\ndef f(Task t) {\n  c = t.processor(m.swap(0, 1));\n  p = t.parent.ipoint;\n"
                   "  return m[c[1], (c[0] + p[0] + 1) % 4];\n}\nIndexTaskMap a f;", GPU2x4)
    pl = ev.map_point("a", (1,), (0,), current=(1, 2))
    assert (pl.node, pl.processor) == (1, 3)


def test_globals_and_prints():
    ev = evaluator('m = Machine(GPU).merge(0, 1);\nprint("size {}", m.size);\ndef f(Task t) { return m[t.ipoint[0]]; }\nIndexTaskMap a f;', GPU2x4)
    assert ev.printed == ["size (8)"]
    assert ev.map_point("a", (8,), (7,)).node == 1

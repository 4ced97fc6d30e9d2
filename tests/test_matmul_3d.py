"""The expert mappers of the 3-D matrix multiplications (johnson, cosma, solomonik), read through
`hpcmap dsl explain`: each placement launch writes a tile on the processor of the gemm point that
owns it, and the leaves are spread evenly over a machine's GPUs. Solomonik's layer-0 launches
(placement, whose third coordinate is a slot, not a layer, and the reduction into C) run where
grid point (i, j, 0) computes. SUMMA's expert spreads the owners of a step's panel tiles."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# app -> (the gemm grid, {placement task: the face of the grid it covers}).
GRIDS = {
    "johnson": [((2, 2, 2), {"place_a": (2, 1, 2), "place_b": (1, 2, 2), "place_c": (2, 2, 1)}),
                ((3, 3, 3), {"place_a": (3, 1, 3), "place_b": (1, 3, 3), "place_c": (3, 3, 1)})],
    "cosma": [((1, 2, 2), {"place_a": (1, 2, 2), "place_b": (1, 2, 2), "place_c": (1, 2, 2)}),
              ((3, 1, 2), {"place_a": (3, 1, 2), "place_b": (3, 1, 2), "place_c": (3, 1, 2)})],
    "solomonik": [((2, 2, 1), {"place_a": (2, 2, 1), "place_b": (2, 2, 1), "place_c": (2, 2, 1)}),
                  ((2, 2, 2), {"place_a": (2, 2, 1), "place_b": (2, 2, 1), "place_c": (2, 2, 1),
                               "reduce_layers": (2, 2, 1)}),
                  ((3, 2, 2), {"place_a": (3, 2, 2), "place_b": (3, 2, 1), "place_c": (3, 2, 1),
                               "reduce_layers": (3, 2, 1)}),  # L = 3 steps: A has two slots
                  ((3, 3, 2), {"place_a": (3, 3, 1), "place_b": (3, 3, 1), "place_c": (3, 3, 1)})],
}
CASES = [(app, grid, faces) for app, grids in GRIDS.items() for grid, faces in grids]


def owner(app: str, point: tuple[int, ...]) -> tuple[int, ...]:
    """The gemm point whose processor a placement or reduction point belongs on."""
    return (point[0], point[1], 0) if app == "solomonik" else point


def placements(app: str, task: str, domain: tuple[int, ...], machine: str = "h100x4") -> dict:
    """Point -> (node, kind, processor) of `task` over `domain` under the app's expert mapper."""
    done = subprocess.run([sys.executable, "-m", "hpcmap.cli", "dsl", "explain", f"benchmarks/{app}/expert.map",
                           "--machine", machine, "--task", task, "--domain", "x".join(map(str, domain)), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return {tuple(p["point"]): (p["node"], p["kind"], p["processor"]) for p in json.loads(done.stdout)["placements"]}


@pytest.mark.parametrize("app, grid, faces", CASES)
def test_tiles_are_placed_where_they_are_computed(app, grid, faces):
    gemm = placements(app, "gemm", grid)
    for task, face in faces.items():
        placed = placements(app, task, face)
        assert placed and all(gemm[owner(app, point)] == where for point, where in placed.items()), (task, placed, gemm)


@pytest.mark.parametrize("app, grid", [("johnson", (2, 2, 2)), ("cosma", (1, 2, 2)), ("cosma", (2, 2, 2)),
                                       ("solomonik", (2, 2, 1)), ("solomonik", (2, 2, 2))])
def test_leaves_are_spread_evenly_over_the_gpus(app, grid):
    load = Counter(placements(app, "gemm", grid).values())
    assert len(load) == 4 and {kind for _, kind, _ in load} == {"GPU"}
    assert len(set(load.values())) == 1


def test_summa_first_step_tiles_have_one_owner_per_gpu():
    """On a 2 x 2 grid SUMMA's first step reads A (i, 0) and B (0, j): each GPU owns one of the four
    and is one of its readers, so no GPU waits for two copies before it starts."""
    gemm = placements("summa", "gemm", (2, 2))
    a, b = placements("summa", "place_a", (2, 2, 1)), placements("summa", "place_b", (2, 2, 1))
    owners = {("A", i): a[(i, 0, 0)] for i in range(2)} | {("B", j): b[(0, j, 0)] for j in range(2)}
    assert len(set(owners.values())) == 4, owners
    for i in range(2):
        assert owners[("A", i)] in {gemm[(i, 0)], gemm[(i, 1)]} and owners[("B", i)] in {gemm[(0, i)], gemm[(1, i)]}

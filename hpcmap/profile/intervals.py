"""Interval arithmetic on numpy arrays: unions, busy time, gaps, step profiles."""
from __future__ import annotations

import numpy as np


def union(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted blocks covering the intervals [start, stop)."""
    if not len(start):
        return np.zeros(0, "i8"), np.zeros(0, "i8")
    order = np.argsort(start, kind="stable")
    s, e = np.asarray(start, "i8")[order], np.asarray(stop, "i8")[order]
    e = np.maximum(e, s)
    reach = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(s)) - 1
    return s[first], reach[last]


def measure(start: np.ndarray, stop: np.ndarray) -> int:
    """Total length covered by the intervals."""
    bs, be = union(start, stop)
    return int((be - bs).sum())


def gaps(start: np.ndarray, stop: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Uncovered stretches of [lo, hi)."""
    bs, be = union(start, stop)
    gs = np.concatenate([[lo], be])
    ge = np.concatenate([bs, [hi]])
    gs, ge = np.clip(gs, lo, hi), np.clip(ge, lo, hi)
    keep = ge > gs
    return gs[keep], ge[keep]


def peak(start: np.ndarray, stop: np.ndarray, weight: np.ndarray) -> tuple[int, int]:
    """Largest sum of weights alive at once over [start, stop), and when it is first reached."""
    if not len(start):
        return 0, 0
    times = np.concatenate([stop, start])
    deltas = np.concatenate([-np.asarray(weight, "i8"), np.asarray(weight, "i8")])
    order = np.lexsort((deltas, times))
    level = np.cumsum(deltas[order])
    i = int(level.argmax())
    return int(level[i]), int(times[order][i])


def coverage(start: np.ndarray, stop: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Busy length of the intervals inside each bin [edges[i], edges[i+1])."""
    bs, be = union(start, stop)
    out = np.zeros(len(edges) - 1)
    if not len(bs):
        return out
    cum = np.concatenate([[0], np.cumsum(be - bs)])

    def covered_before(t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(bs, t, "right")
        partial = np.where(k > 0, np.minimum(t, be[np.maximum(k - 1, 0)]) - bs[np.maximum(k - 1, 0)], 0)
        return cum[np.maximum(k - 1, 0)] * (k > 0) + np.maximum(partial, 0)

    c = covered_before(np.asarray(edges, "i8"))
    return np.diff(c).astype(float)

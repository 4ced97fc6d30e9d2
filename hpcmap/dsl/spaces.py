"""Machine spaces and their transformations, exactly as IR.md section 6 defines them.

A space is a base `(nodes, processors of one kind per node)` plus a list of primitive
transformations (merge, split, swap, slice, reverse); the multi-way splits are expanded into
splits when applied. Errors are `ValueError` with a one-sentence message; the evaluator adds
FILE:LINE.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import product


@dataclass(frozen=True)
class Prim:
    """One primitive transformation, with the extents of its input space."""

    op: str
    args: tuple[int, ...]
    size_in: tuple[int, ...]


@dataclass(frozen=True)
class Space:
    kind: str
    base: tuple[int, int]
    prims: tuple[Prim, ...] = ()

    @property
    def size(self) -> tuple[int, ...]:
        if not self.prims:
            return self.base
        return _out_size(self.prims[-1])

    def to_base(self, index: tuple[int, ...]) -> tuple[int, int]:
        """Index of this space -> (node, processor)."""
        idx = list(index)
        for p in reversed(self.prims):
            idx = _back(p, idx)
        return idx[0], idx[1]

    def from_base(self, proc: tuple[int, int]) -> tuple[int, ...] | None:
        """(node, processor) -> index of this space, or None when a slice leaves it out."""
        idx: list[int] | None = list(proc)
        for p in self.prims:
            idx = _fwd(p, idx)
            if idx is None:
                return None
        return tuple(idx)

    def transform(self, name: str, args: list) -> Space:
        prims = list(self.prims)
        size = self.size
        for op, a in _expand(name, args, size):
            _validate(op, a, size)
            prim = Prim(op, tuple(a), size)
            prims.append(prim)
            size = _out_size(prim)
        return Space(self.kind, self.base, tuple(prims))


def _dim(d: int, n: int, what: str = "dimension") -> None:
    if not 0 <= d < n:
        raise ValueError(f"{what} {d} is out of range for a space of {n} dimensions")


def _validate(op: str, a: list[int], s: tuple[int, ...]) -> None:
    n = len(s)
    if op == "merge":
        _dim(a[0], n)
        _dim(a[1], n)
        if a[0] == a[1]:
            raise ValueError(f"merge needs two different dimensions, got {a[0]} twice")
    elif op == "split":
        _dim(a[0], n)
        if a[1] <= 0 or s[a[0]] % a[1] != 0:
            raise ValueError(f"split factor {a[1]} does not divide dimension {a[0]} of size {s[a[0]]}")
    elif op == "swap":
        _dim(a[0], n)
        _dim(a[1], n)
    elif op == "slice":
        _dim(a[0], n)
        if not 0 <= a[1] <= a[2] < s[a[0]]:
            raise ValueError(f"slice {a[1]}..{a[2]} is out of range for dimension {a[0]} of size {s[a[0]]}")
    elif op == "reverse":
        _dim(a[0], n)


def _out_size(p: Prim) -> tuple[int, ...]:
    s = list(p.size_in)
    a = p.args
    if p.op == "merge":
        x, y = a
        merged = s[x] * s[y]
        pos = x if x < y else x - 1
        del s[y]
        s[pos] = merged
    elif p.op == "split":
        d, f = a
        s[d:d + 1] = [f, s[d] // f]
    elif p.op == "swap":
        x, y = a
        s[x], s[y] = s[y], s[x]
    elif p.op == "slice":
        d, lo, hi = a
        s[d] = hi - lo + 1
    return tuple(s)


def _back(p: Prim, idx: list[int]) -> list[int]:
    """Output index -> input index of one primitive."""
    s = p.size_in
    a = p.args
    if p.op == "merge":
        x, y = a
        pos = x if x < y else x - 1
        i = idx[pos]
        rest = idx[:pos] + idx[pos + 1:]  # the other dims, in input order without x and y
        out: list[int] = []
        k = 0
        for d in range(len(s)):
            if d == x:
                out.append(i // s[y])
            elif d == y:
                out.append(i % s[y])
            else:
                out.append(rest[k])
                k += 1
        return out
    if p.op == "split":
        d, f = a
        return idx[:d] + [idx[d] + idx[d + 1] * f] + idx[d + 2:]
    if p.op == "swap":
        x, y = a
        out = list(idx)
        out[x], out[y] = out[y], out[x]
        return out
    if p.op == "slice":
        d, lo, _ = a
        out = list(idx)
        out[d] += lo
        return out
    if p.op == "reverse":
        d = a[0]
        out = list(idx)
        out[d] = s[d] - 1 - out[d]
        return out
    raise ValueError(f"unknown transformation {p.op}")


def _fwd(p: Prim, idx: list[int]) -> list[int] | None:
    """Input index -> output index of one primitive (None: not in the output space)."""
    s = p.size_in
    a = p.args
    if p.op == "merge":
        x, y = a
        pos = x if x < y else x - 1
        merged = idx[x] * s[y] + idx[y]
        rest = [v for d, v in enumerate(idx) if d not in (x, y)]
        return rest[:pos] + [merged] + rest[pos:]
    if p.op == "split":
        d, f = a
        return idx[:d] + [idx[d] % f, idx[d] // f] + idx[d + 1:]
    if p.op == "slice":
        d, lo, hi = a
        if not lo <= idx[d] <= hi:
            return None
        out = list(idx)
        out[d] -= lo
        return out
    return _back(p, idx)  # swap and reverse are their own inverses


def _expand(name: str, args: list, size: tuple[int, ...]) -> list[tuple[str, list[int]]]:
    """A transformation call -> primitive steps (multi-way splits become splits in turn)."""
    if name in ("merge", "split", "swap", "slice", "reverse"):
        for v in args:
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"{name} takes integer arguments")
        return [(name, list(args))]
    d = args[0]
    if not isinstance(d, int) or isinstance(d, bool):
        raise ValueError(f"{name} takes a dimension as its first argument")
    _dim(d, len(size))
    n = size[d]
    if name == "balance_split":
        factors = balance_factors(n, args[1])
    elif name in ("auto_split", "greedy_split"):
        L = args[1]
        if not isinstance(L, tuple) or not L or any(v <= 0 for v in L):
            raise ValueError(f"{name} needs a tuple of positive extents, got {L!r}")
        factors = auto_factors(n, L) if name == "auto_split" else greedy_factors(n, L)
    else:
        raise ValueError(f"unknown transformation {name}")
    steps = []
    for i, f in enumerate(factors[:-1]):
        steps.append(("split", [d + i, f]))
    return steps


def prime_factors(n: int) -> list[int]:
    """Prime factors with multiplicity, largest first."""
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return sorted(out, reverse=True)


def _factorizations(n: int, k: int) -> list[tuple[int, ...]]:
    """All ordered k-tuples of positive ints with product n."""
    if k == 1:
        return [(n,)]
    out = []
    for f in range(1, n + 1):
        if n % f == 0:
            out += [(f,) + rest for rest in _factorizations(n // f, k - 1)]
    return out


def balance_factors(n: int, k) -> tuple[int, ...]:
    if k not in (2, 3) or isinstance(k, bool):
        raise ValueError(f"balance_split splits into 2 or 3 dimensions, not {k}")
    cands = [f for f in _factorizations(n, k) if list(f) == sorted(f, reverse=True)]
    best = min(cands, key=lambda f: (f[0] - f[-1], sum(f), tuple(-x for x in f)))
    return best


def greedy_factors(n: int, L: tuple[int, ...]) -> tuple[int, ...]:
    O = [1] * len(L)
    for p in prime_factors(n):
        best = 0
        for i in range(1, len(L)):
            if L[i] * O[best] > L[best] * O[i]:
                best = i
        O[best] *= p
    return tuple(O)


def auto_factors(n: int, L: tuple[int, ...]) -> tuple[int, ...]:
    cands = _factorizations(n, len(L))
    cost = {f: sum(Fraction(o, l) for o, l in zip(f, L)) for f in cands}
    low = min(cost.values())
    best = [f for f in cands if cost[f] == low]
    greedy = greedy_factors(n, L)
    return greedy if greedy in best else max(best)


def enumerate_all(size: tuple[int, ...], items: list) -> list[tuple[int, ...]]:
    """Indices of a space for index items where None means `*` (row-major, last `*` fastest)."""
    ranges = [range(size[d]) if v is None else (v,) for d, v in enumerate(items)]
    return [tuple(t) for t in product(*ranges)]

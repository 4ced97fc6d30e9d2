"""Limits every tool of the language shares: how deep an expression may nest.

The checker refuses anything deeper than MAX_DEPTH (E308), and the recursive passes (checks, IR
compiler, formatter, reference evaluator) run with room for that depth, so a deep or long
expression gets a result or a clean error, never a RecursionError.
"""
from __future__ import annotations

import functools
import sys

MAX_DEPTH = 2000
# Python frames one nesting level may take in any recursive pass, plus room for the caller.
_FRAMES_PER_LEVEL = 4
_BASE_FRAMES = 2000


def with_depth_room(func):
    """Run `func` with a recursion limit that fits MAX_DEPTH levels of nesting."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, MAX_DEPTH * _FRAMES_PER_LEVEL + _BASE_FRAMES))
        try:
            return func(*args, **kwargs)
        finally:
            sys.setrecursionlimit(old)

    return wrapper

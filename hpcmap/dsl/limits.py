"""Limits every tool of the language shares: how deep an expression may nest.

The checker refuses anything deeper than MAX_DEPTH (E308), and the recursive passes (checks, IR
compiler, formatter, reference evaluator, JSON of the IR) run with room for that depth, so a deep
or long expression gets a result or a clean error, never a RecursionError.
"""
from __future__ import annotations

import functools
import sys
import threading

MAX_DEPTH = 2000
# Python frames one nesting level may take in any recursive pass, plus room for the caller.
_FRAMES_PER_LEVEL = 4
_BASE_FRAMES = 2000
_NEEDED = MAX_DEPTH * _FRAMES_PER_LEVEL + _BASE_FRAMES

_lock = threading.Lock()
_active = 0
_saved = 0


def with_depth_room(func):
    """Run `func` with a recursion limit that fits MAX_DEPTH levels of nesting; the old limit comes
    back when the last such call (of any thread) ends."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        global _active, _saved
        with _lock:
            if _active == 0:
                _saved = sys.getrecursionlimit()
                sys.setrecursionlimit(max(_saved, _NEEDED))
            _active += 1
        try:
            return func(*args, **kwargs)
        finally:
            with _lock:
                _active -= 1
                if _active == 0:
                    sys.setrecursionlimit(_saved)

    return wrapper

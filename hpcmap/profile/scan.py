"""Find record boundaries in the binary part of a log without decoding record by record.

Legion writes records in long runs of one kind (it dumps buffered records kind by kind), so the scan
follows the chain of records run by run: at a fixed-size kind it checks the ids at every stride of
that size with one vectorized comparison per window (growing geometrically) and jumps over the whole
run. Only variable-size records (those with strings or CUDA uuids) are read one at a time.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from hpcmap.profile.layout import Layout, field_bytes, make_layout, scalar_dtype
from hpcmap.profile.preamble import Preamble

_U32 = struct.Struct("<I")
_FIRST_WINDOW = 8
_MAX_WINDOW = 1 << 16


@dataclass
class Segment:
    """`count` consecutive records of one layout starting at byte `offset`."""

    offset: int
    count: int
    redop: bool = False


@dataclass
class ScanResult:
    """Where every record is: segments of fixed-size kinds, decoded variable-size records."""

    segments: dict[int, list[Segment]] = field(default_factory=dict)
    variable: dict[int, list[dict]] = field(default_factory=dict)
    layouts: dict[int, Layout] = field(default_factory=dict)
    max_dim: int = 0
    end: int = 0
    records: int = 0
    error: str | None = None


def scan(buf: bytes | bytearray | memoryview, pre: Preamble, max_dim: int = 6) -> ScanResult:
    """Walk all records after the preamble; a truncated or corrupt tail stops the walk and sets `error`."""
    res = ScanResult(max_dim=max_dim)
    res.layouts = {kid: make_layout(kind, max_dim) for kid, kind in pre.kinds.items()}
    maxdim_id = next((kid for kid, k in pre.kinds.items() if k.name == "MaxDimDesc"), None)
    n = len(buf)
    pos = pre.data_offset
    while pos < n:
        if n - pos < 4:
            res.error = f"truncated record id at byte {pos}"
            break
        kid = _U32.unpack_from(buf, pos)[0]
        layout = res.layouts.get(kid)
        if layout is None:
            res.error = f"unknown record id {kid} at byte {pos} (not declared in the header); the data is corrupt"
            break
        if layout.variable:
            try:
                record, end = read_variable(buf, pos + 4, layout, res.max_dim)
            except (struct.error, IndexError, ValueError):
                res.error = f"truncated {layout.kind.name} record at byte {pos}"
                break
            res.variable.setdefault(kid, []).append(record)
            res.records += 1
            pos = end
            continue
        count, redop = _run(buf, pos, kid, layout)
        if count == 0:
            res.error = f"truncated {layout.kind.name} record at byte {pos}"
            break
        res.segments.setdefault(kid, []).append(Segment(pos, count, redop))
        res.records += count
        size = (layout.redop_dtype if redop else layout.dtype).itemsize
        if kid == maxdim_id:
            new_dim = int(np.frombuffer(buf, layout.dtype, 1, pos)["max_dim"][0])
            if new_dim != res.max_dim:
                res.max_dim = new_dim
                res.layouts = {k: make_layout(kind, new_dim) for k, kind in pre.kinds.items()}
        pos += count * size
    res.end = pos
    return res


def _run(buf, pos: int, kid: int, layout: Layout) -> tuple[int, bool]:
    """Length of the run of records of `kid` at `pos` (all of one size) and whether it is the redop variant."""
    if layout.redop_dtype is None:
        return _gallop(buf, pos, kid, layout.dtype.itemsize, None, False), False
    mode_offset = layout.dtype.fields["mode"][1]
    count = _gallop(buf, pos, kid, layout.dtype.itemsize, mode_offset, False)
    if count:
        return count, False
    return _gallop(buf, pos, kid, layout.redop_dtype.itemsize, mode_offset, True), True


def _gallop(buf, pos: int, kid: int, size: int, mode_offset: int | None, redop: bool) -> int:
    """Count records of id `kid` and size `size` chained from `pos`.

    With `mode_offset`, a record also needs its `mode` field to match the variant: == 4 when `redop`,
    != 4 otherwise (the PhysicalInstanceUsage quirk).
    """
    available = (len(buf) - pos) // size
    count = 0
    window = _FIRST_WINDOW
    while count < available:
        m = min(window, available - count)
        base = pos + count * size
        ids = np.ndarray((m,), "<u4", buf, base, (size,))
        bad = ids != kid
        if mode_offset is not None:
            modes = np.ndarray((m,), "<u4", buf, base + mode_offset, (size,))
            bad |= (modes == 4) != redop
        if bad.any():
            return count + int(bad.argmax())
        count += m
        window = min(window * 4, _MAX_WINDOW)
    return count


def read_variable(buf, pos: int, layout: Layout, max_dim: int = 6) -> tuple[dict, int]:
    """Decode one variable-size record whose fields start at `pos`; returns the values and the end."""
    values: dict = {}
    uuid_size = 0
    for f in layout.kind.fields:
        if f.size < 0:
            end = _find_nul(buf, pos)
            values[f.name] = bytes(buf[pos:end]).decode("utf-8", "replace")
            pos = end + 1
        elif f.type == "uuid_size":
            uuid_size = _U32.unpack_from(buf, pos)[0]
            values[f.name] = uuid_size
            pos += 4
        elif f.type == "uuid":
            if pos + uuid_size > len(buf):
                raise ValueError("truncated uuid")
            values[f.name] = bytes(buf[pos:pos + uuid_size])
            pos += uuid_size
        elif f.type in ("point", "array"):
            pos += field_bytes(f, max_dim)
        else:
            values[f.name] = np.frombuffer(buf, scalar_dtype(f), 1, pos)[0].item()
            pos += f.size
    if pos > len(buf):
        raise ValueError("truncated record")
    return values, pos


def _find_nul(buf, pos: int) -> int:
    end = buf.find(b"\0", pos)
    if end < 0:
        raise ValueError("unterminated string")
    return end

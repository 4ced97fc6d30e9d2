"""Byte layouts of record kinds: numpy dtypes for fixed-size kinds, field readers for the rest."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcmap.profile.preamble import Field, RecordKind

SIGNED_4 = {"ProcKind", "MemKind", "DepPartOpKind", "maxdim", "int"}
SIGNED_8 = {"timestamp_t", "long long"}
REDOP_KIND = "PhysicalInstanceUsage"


@dataclass(frozen=True)
class Layout:
    """How records of one kind sit in the file.

    `dtype` covers the whole record including its 4-byte id (field `_id`) when the size is fixed;
    `variable` kinds (strings, CUDA uuids) are read field by field. PhysicalInstanceUsage has two
    fixed layouts: `dtype` without `redop` and `redop_dtype` with it (written only when mode == 4).
    """

    kind: RecordKind
    dtype: np.dtype | None
    redop_dtype: np.dtype | None = None

    @property
    def variable(self) -> bool:
        return self.dtype is None

    @property
    def size(self) -> int:
        return self.dtype.itemsize if self.dtype is not None else -1


def scalar_dtype(f: Field) -> str:
    """The numpy type of a fixed-size scalar field."""
    if f.type == "bool" or f.size == 1:
        return "u1"
    if f.size == 2:
        return "<u2"
    if f.size == 4:
        return "<i4" if f.type in SIGNED_4 else "<u4"
    if f.size == 8:
        return "<i8" if f.type in SIGNED_8 else "<u8"
    raise ValueError(f"field {f.name} of type {f.type} has unsupported size {f.size}")


def field_bytes(f: Field, max_dim: int) -> int:
    """Size in bytes of a fixed field (points and rectangles use every one of max_dim slots)."""
    if f.type == "point":
        return 8 * max_dim
    if f.type == "array":
        return 16 * max_dim
    return f.size


def make_layout(kind: RecordKind, max_dim: int) -> Layout:
    """The layout of `kind` for a log whose MaxDimDesc says `max_dim`."""
    if any(f.size < 0 or f.type in ("uuid", "uuid_size") for f in kind.fields):
        return Layout(kind, None)
    fields = list(kind.fields)
    redop = None
    if kind.name == REDOP_KIND and fields and fields[-1].name == "redop":
        redop = _dtype(fields, max_dim)
        fields = fields[:-1]
    return Layout(kind, _dtype(fields, max_dim), redop)


def _dtype(fields: list[Field], max_dim: int) -> np.dtype:
    names, formats, offsets = ["_id"], ["<u4"], [0]
    offset = 4
    for f in fields:
        names.append(f.name)
        offsets.append(offset)
        if f.type == "point":
            formats.append(("<i8", (max_dim,)))
        elif f.type == "array":
            formats.append(("<i8", (2, max_dim)))
        else:
            formats.append(scalar_dtype(f))
        offset += field_bytes(f, max_dim)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": offset})

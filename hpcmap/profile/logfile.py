"""One Legion Prof log file: bytes in memory (gunzipped when needed), header, record index."""
from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcmap.profile.preamble import Preamble, ProfileLogError, parse_preamble
from hpcmap.profile.scan import ScanResult, scan

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class RawLog:
    """A scanned log: decode record kinds by name with `records`, read variable ones with `variable`."""

    path: Path
    buf: bytes | bytearray
    preamble: Preamble
    index: ScanResult

    @property
    def truncated(self) -> str | None:
        return self.index.error

    def kind_id(self, name: str) -> int | None:
        kind = self.preamble.by_name(name)
        return kind.id if kind else None

    def count(self, name: str) -> int:
        kid = self.kind_id(name)
        if kid is None:
            return 0
        return sum(s.count for s in self.index.segments.get(kid, [])) + len(self.index.variable.get(kid, []))

    def records(self, name: str, fields: list[str] | None = None) -> np.ndarray | None:
        """All fixed-size records of kind `name` as one packed structured array (None when the header lacks it).

        `fields` keeps only those columns; PhysicalInstanceUsage records without a reduction operator
        get redop = 0.
        """
        layout = self._layout(name)
        if layout is None:
            return None
        full = layout.redop_dtype or layout.dtype
        names = [n for n in full.names if n != "_id"] if fields is None else list(fields)
        out = np.zeros(self.count(name), np.dtype([(n, full.fields[n][0]) for n in names]))
        self.fill(name, out)
        return out

    def fill(self, name: str, out: np.ndarray) -> None:
        """Copy every column of `out` that kind `name` also has, straight from the file's bytes."""
        layout = self._layout(name)
        if layout is None:
            return
        at = 0
        for seg in self.index.segments.get(layout.kind.id, []):
            src_dtype = layout.redop_dtype if seg.redop else layout.dtype
            view = np.frombuffer(self.buf, src_dtype, seg.count, seg.offset)
            part = out[at:at + seg.count]
            for n in out.dtype.names:
                if n in src_dtype.names and n != "_id":
                    part[n] = view[n]
            at += seg.count

    def column(self, name: str, field: str) -> np.ndarray:
        """One field of every record of a fixed-size kind (empty when the kind is absent)."""
        layout = self._layout(name)
        if layout is None:
            return np.zeros(0, "u8")
        out = np.zeros(self.count(name), np.dtype([(field, layout.dtype.fields[field][0])]))
        self.fill(name, out)
        return out[field]

    def row(self, name: str, i: int) -> np.void:
        """Record number `i` of a fixed-size kind, read from the file's bytes."""
        layout = self._layout(name)
        segments = self.index.segments[layout.kind.id]
        for seg in segments:
            if i < seg.count:
                dt = layout.redop_dtype if seg.redop else layout.dtype
                return np.frombuffer(self.buf, dt, 1, seg.offset + i * dt.itemsize)[0]
            i -= seg.count
        raise IndexError(i)

    def _layout(self, name: str):
        kid = self.kind_id(name)
        if kid is None:
            return None
        layout = self.index.layouts[kid]
        if layout.variable:
            raise ValueError(f"{name} has variable-size records; use variable()")
        return layout

    def variable(self, name: str) -> list[dict]:
        kid = self.kind_id(name)
        return [] if kid is None else self.index.variable.get(kid, [])


def read_bytes(path: Path) -> bytes | bytearray:
    """The log's bytes, decompressed when the file is gzip (decided by magic bytes, not by name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head != GZIP_MAGIC:
                size = path.stat().st_size
                buf = bytearray(size)
                got = f.readinto(buf)
                return buf if got == size else buf[:got]
            try:
                with gzip.GzipFile(fileobj=f) as gz:
                    return gz.read()
            except (EOFError, zlib.error, gzip.BadGzipFile):
                f.seek(0)
                return _partial_gunzip(f.read())
    except FileNotFoundError:
        raise ProfileLogError(f"{path}: no such log file") from None
    except IsADirectoryError:
        raise ProfileLogError(f"{path}: is a directory; pass the prof_N log files inside it") from None


def _partial_gunzip(data: bytes) -> bytes:
    """As much of a damaged gzip stream as decompresses."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return d.decompress(data)
    except zlib.error:
        return b""


def open_log(path: Path) -> RawLog:
    """Read and index one log file."""
    path = Path(path)
    buf = read_bytes(path)
    pre = parse_preamble(buf, str(path))
    return RawLog(path, buf, pre, scan(buf, pre))

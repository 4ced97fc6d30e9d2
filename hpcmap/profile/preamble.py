"""The text header (preamble) of a Legion Prof binary log: version lines and record layouts."""
from __future__ import annotations

from dataclasses import dataclass, field

from hpcmap.errors import UserError

SUPPORTED_VERSIONS = (1011,)
MAGIC = b"FileType: BinaryLegionProf v: "


class ProfileLogError(UserError):
    """A Legion Prof log that cannot be read."""


@dataclass(frozen=True)
class Field:
    """One field of a record kind as the preamble declares it: name, type name, size in bytes (-1: string)."""

    name: str
    type: str
    size: int


@dataclass(frozen=True)
class RecordKind:
    """One record kind: its name, numeric id in this file, and fields in serialization order."""

    name: str
    id: int
    fields: tuple[Field, ...]


@dataclass
class Preamble:
    """The parsed header of one log."""

    version: int
    legion_version: str
    kinds: dict[int, RecordKind] = field(default_factory=dict)
    data_offset: int = 0

    def by_name(self, name: str) -> RecordKind | None:
        return next((k for k in self.kinds.values() if k.name == name), None)


def parse_preamble(buf: bytes | memoryview, source: str) -> Preamble:
    """Read the header of `buf`; `source` names the file in error messages."""
    head = bytes(buf[:len(MAGIC)])
    if head != MAGIC:
        raise ProfileLogError(f"{source}: not a Legion Prof binary log (the file does not start with "
                              f"'FileType: BinaryLegionProf'); pass the prof_N logs written by -lg:prof")
    end = bytes(buf[:1 << 22]).find(b"\n\n")
    if end < 0:
        raise ProfileLogError(f"{source}: truncated Legion Prof log: the header never ends (no empty line)")
    lines = bytes(buf[:end]).decode("utf-8", "replace").split("\n")
    version_text = lines[0][len(MAGIC):].strip()
    try:
        version = int(version_text)
    except ValueError:
        version = -1
    if version not in SUPPORTED_VERSIONS:
        raise ProfileLogError(f"{source}: Legion Prof log version {version_text!r} is not supported "
                              f"(hpcmap reads version {', '.join(map(str, SUPPORTED_VERSIONS))}); "
                              f"profile with the Legion build hpcmap ships or convert with a matching legion_prof")
    pre = Preamble(version=version, legion_version=lines[1].strip(), data_offset=end + 2)
    for number, line in enumerate(lines[2:], start=3):
        kind = _parse_kind_line(line)
        if kind is None:
            raise ProfileLogError(f"{source}: malformed record layout on header line {number}: {line[:80]!r}")
        pre.kinds[kind.id] = kind
    return pre


def _parse_kind_line(line: str) -> RecordKind | None:
    """`Name {id:N, field:type:size, ...}` -> RecordKind."""
    name, sep, rest = line.partition(" {")
    if not sep or not rest.endswith("}"):
        return None
    parts = rest[:-1].split(", ")
    key, _, value = parts[0].partition(":")
    if key != "id" or not value.isdigit():
        return None
    fields = []
    for part in parts[1:]:
        fname, _, tail = part.partition(":")
        ftype, _, fsize = tail.rpartition(":")
        try:
            fields.append(Field(fname, ftype, int(fsize)))
        except ValueError:
            return None
    return RecordKind(name.strip(), int(value), tuple(fields))

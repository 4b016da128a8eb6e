"""Walking the elements of one BSON document without decoding its values.

``stats`` and ``export`` need each element's type, key and byte span, not
Python objects: decoding a whole document with pymongo costs several times
more.  The walk follows the BSON specification (bsonspec.org); a document
whose inside is broken raises ArchiveError ``bad-bson`` (its framing and CRC
may well be intact, spec/archive.md §2 checks only the outer length and NUL).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .errors import ArchiveError

__all__ = ["FIXED_SIZES", "TYPE_NAMES", "bad_bson", "elements", "value_end"]

#: BSON type byte -> the name ``$type`` uses in MongoDB queries (and Compass).
TYPE_NAMES: dict[int, str] = {
    0x01: "double",
    0x02: "string",
    0x03: "object",
    0x04: "array",
    0x05: "binData",
    0x06: "undefined",
    0x07: "objectId",
    0x08: "bool",
    0x09: "date",
    0x0A: "null",
    0x0B: "regex",
    0x0C: "dbPointer",
    0x0D: "javascript",
    0x0E: "symbol",
    0x0F: "javascriptWithScope",
    0x10: "int",
    0x11: "timestamp",
    0x12: "long",
    0x13: "decimal",
    0xFF: "minKey",
    0x7F: "maxKey",
}

# Bytes a value takes after its key, for the types of fixed size.
FIXED_SIZES = _FIXED = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8}
_FIXED.update({0x12: 8, 0x13: 16, 0xFF: 0, 0x7F: 0})
_LENGTH_PREFIXED = frozenset({0x02, 0x0D, 0x0E})  # int32 length, then that many bytes
_SELF_SIZED = frozenset({0x03, 0x04, 0x0F})  # the int32 length counts itself
_unpack_int = struct.Struct("<i").unpack_from


def bad_bson(detail: str, offset: int | None = None, namespace: str | None = None) -> ArchiveError:
    return ArchiveError(
        f"a document is not valid BSON: {detail}",
        offset=offset,
        namespace=namespace,
        code="bad-bson",
        hint="its framing and CRC are intact: the writer stored a broken document",
    )


def value_end(buf: bytes, kind: int, pos: int) -> int:
    """Where the value of type ``kind`` starting at ``pos`` ends (exclusive)."""
    size = _FIXED.get(kind)
    if size is not None:
        return pos + size
    if kind in _LENGTH_PREFIXED:
        return pos + 4 + int(_unpack_int(buf, pos)[0])
    if kind in _SELF_SIZED:
        return pos + int(_unpack_int(buf, pos)[0])
    if kind == 0x05:
        return pos + 5 + int(_unpack_int(buf, pos)[0])
    if kind == 0x0B:  # two C strings
        return buf.index(b"\x00", buf.index(b"\x00", pos) + 1) + 1
    if kind == 0x0C:
        return pos + 16 + int(_unpack_int(buf, pos)[0])
    raise ValueError(f"unknown BSON type 0x{kind:02x}")


def elements(buf: bytes, start: int = 0) -> Iterator[tuple[int, bytes, int, int]]:
    """(type, key, value start, value end) of each element of the document at ``start``.

    Raises ValueError, IndexError or struct.error on broken bytes: callers turn
    them into ``bad_bson`` with their own offset and namespace.
    """
    end = start + _unpack_int(buf, start)[0] - 1
    if end < start + 4 or buf[end] != 0:
        raise ValueError("bad document length")
    pos = start + 4
    index = buf.index
    while pos < end:
        kind = buf[pos]
        nul = index(b"\x00", pos + 1, end)
        key = buf[pos + 1 : nul]
        vstart = nul + 1
        vend = value_end(buf, kind, vstart)
        if vend > end or vend < vstart:
            raise ValueError(f"the value of {key!r} runs past its document")
        yield kind, key, vstart, vend
        pos = vend
    if pos != end:
        raise ValueError("elements overrun the document")

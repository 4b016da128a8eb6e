"""The archive format declared with construct, section by section of spec/archive.md.

This module holds declarations only.  It parses and builds the small
structures (magic, headers, terminators, blocks, prelude) and serves as the
reference parser in tests; the per-document path is ``_framing`` (construct
per document is 30-36x slower than a ``struct`` loop on 200-byte documents).
All integers are little-endian (§2).
"""

from __future__ import annotations

from typing import Any

from construct import (
    Bytes,
    Check,
    Const,
    Construct,
    CString,
    Flag,
    FocusedSeq,
    GreedyRange,
    If,
    Int32sl,
    Int64sl,
    Optional,
    Prefixed,
    RawCopy,
    RepeatUntil,
    Select,
    Struct,
    Terminated,
    this,
)

__all__ = [
    "Archive",
    "ArchiveHeader",
    "Block",
    "CollectionMetadata",
    "Framed",
    "Magic",
    "NamespaceHeader",
    "Prelude",
    "Terminator",
]

MAX_BSON_SIZE = 16 * 1024 * 1024  # §2: the server's document size limit
MIN_BSON_SIZE = 5  # §2: int32 length + NUL

# §2 ------------------------------------------------------------------------
#: uint32 0x8199e26d at offset 0, little-endian.
Magic = Const(b"\x6d\xe2\x99\x81")
#: int32 -1 closes the prelude and every block.
Terminator = Const(b"\xff\xff\xff\xff")

#: One length-prefixed item: a whole BSON document (5..16 MiB, NUL-terminated)
#: or, with length -1, a terminator.
Framed = Struct(
    "length" / Int32sl,
    Check((this.length == -1) | ((this.length >= MIN_BSON_SIZE) & (this.length <= MAX_BSON_SIZE))),
    "payload" / If(this.length != -1, Bytes(this.length - 5)),
    "nul" / If(this.length != -1, Const(b"\x00")),
)


def _element(type_code: int, name: str, value: Construct[Any, Any]) -> Construct[Any, Any]:
    """One BSON element: type byte, field name (cstring), value (BSON spec, 'element')."""
    return FocusedSeq("value", Const(bytes([type_code]) + name.encode() + b"\x00"), "value" / value)


def _document(*fields: Construct[Any, Any]) -> Construct[Any, Any]:
    """A BSON document: int32 total length (including itself), elements, NUL."""
    return Prefixed(Int32sl, Struct(*fields, Const(b"\x00"), Terminated), includelength=True)


#: BSON string: int32 byte count including the NUL, UTF-8, NUL.
String = Prefixed(Int32sl, CString("utf8"))

# §3.1 ----------------------------------------------------------------------
ArchiveHeader = _document(
    "concurrent_collections" / _element(0x10, "concurrent_collections", Int32sl),
    "version" / _element(0x02, "version", String),
    "server_version" / _element(0x02, "server_version", String),
    "tool_version" / _element(0x02, "tool_version", String),
)

# §3.2 ----------------------------------------------------------------------
CollectionMetadata = _document(
    "db" / _element(0x02, "db", String),
    "collection" / _element(0x02, "collection", String),
    "metadata" / _element(0x02, "metadata", String),
    # mongodump writes a Go int, which its BSON encoder stores as int32.
    "size" / Select(_element(0x10, "size", Int32sl), _element(0x12, "size", Int64sl)),
    # Absent in archives written before 2021 (§3.2).
    "type" / Optional(_element(0x02, "type", String)),
)

# §3.3 ----------------------------------------------------------------------
NamespaceHeader = _document(
    "db" / _element(0x02, "db", String),
    "collection" / _element(0x02, "collection", String),
    "EOF" / _element(0x08, "EOF", Flag),
    # uint64 CRC-64/XZ bit pattern as int64 (§4); int32 from other writers.
    "CRC" / Select(_element(0x12, "CRC", Int64sl), _element(0x10, "CRC", Int32sl)),
)

# §2, framing of whole structures --------------------------------------------
#: The prelude: magic, header, collection entries, terminator.
Prelude = Struct(
    Magic,
    "header" / RawCopy(Framed),
    Check(this.header.value.length != -1),
    "collections" / RepeatUntil(lambda item, items, ctx: item.value.length == -1, RawCopy(Framed)),
)

#: A block: namespace header, data documents, terminator.
Block = Struct(
    "header" / RawCopy(Framed),
    Check(this.header.value.length != -1),
    "documents" / RepeatUntil(lambda item, items, ctx: item.value.length == -1, RawCopy(Framed)),
)

#: A whole archive: prelude, blocks, then nothing.
Archive = Struct("prelude" / Prelude, "blocks" / GreedyRange(Block), Terminated)

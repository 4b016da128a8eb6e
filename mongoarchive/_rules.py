"""What a header document must hold and the demultiplexer's rules (spec §3, §6).

Shared by the fast reader and the construct reference reader, so the two can
only differ in framing, which the differential tests compare.  Header decoding
is as lenient as the most lenient mongorestore release (100.6): what only
later releases refuse is an ``ArchiveWarning`` whose code ``_releases`` maps
to the releases that refuse it (§7).
"""

from __future__ import annotations

from collections.abc import Callable
from sys import intern
from typing import Any

import bson
from bson.code import Code
from bson.int64 import Int64

from ._crc import to_uint64
from ._releases import parse_server_version, refusal_note, timeseries_naming_code
from .errors import (
    ChecksumError,
    FramingError,
    HeaderError,
    NamespaceError,
    TrailingDataError,
    TruncatedError,
)
from .model import ArchiveHeader, ArchiveWarning, CollectionEntry, Namespace, NamespaceSummary

__all__ = [
    "Demux",
    "decode_archive_header",
    "decode_collection_entry",
    "decode_namespace_header",
    "read_prelude",
    "recognise",
    "timeseries_data_namespace",
]

ARCHIVE_HEADER_FIELDS = ("concurrent_collections", "version", "server_version", "tool_version")
COLLECTION_FIELDS = ("db", "collection", "metadata", "size", "type")
NAMESPACE_HEADER_FIELDS = ("db", "collection", "EOF", "CRC")
FORMAT_VERSION = "0.1"
_INT32 = range(-(1 << 31), 1 << 31)
_INT64 = range(-(1 << 63), 1 << 63)
_SYMBOL = 0x0E


def _decode(raw: bytes, what: str, offset: int, namespace: str | None = None) -> dict[str, Any]:
    try:
        doc = bson.decode(raw)
    except Exception as exc:  # bson.errors.InvalidBSON, UnicodeDecodeError, OverflowError...
        raise HeaderError(
            f"{what} is not a valid BSON document: {exc}",
            offset=offset,
            namespace=namespace,
            hint="the framing is intact but the header bytes are damaged",
        ) from exc
    return doc


def _warning(code: str, message: str, offset: int, ns: str | None = None) -> ArchiveWarning:
    """A warning whose message ends with the releases that refuse it (§7)."""
    return ArchiveWarning(code, f"{message}; {refusal_note(code)}", offset, ns)


_TYPE_NAMES = {
    str: "a string",
    int: "an int32",
    float: "a double",
    bool: "a boolean",
    type(None): "null",
    Int64: "an int64",
    Code: "JavaScript code",
}


def _type_name(value: object) -> str:
    return _TYPE_NAMES.get(type(value), f"a {type(value).__name__}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _wrong_type(
    what: str, name: str, value: object, expected: str, offset: int, ns: str | None
) -> HeaderError:
    return HeaderError(
        f"{what} field {name!r} is {_type_name(value)}, not {expected}",
        offset=offset,
        namespace=ns,
    )


def _string(doc: dict[str, Any], name: str, what: str, offset: int, ns: str | None) -> str | None:
    """A string field (None when missing, "" when null).  bson decodes a BSON symbol as str
    too, which every release reads as a string in the prelude; JavaScript code (a str
    subclass) is refused by all of them."""
    if name not in doc:
        return None
    value = doc[name]
    if value is None:
        return ""
    if type(value) is not str:
        raise _wrong_type(what, name, value, "a string", offset, ns)
    return value


def _number(value: object, name: str, what: str, offset: int, ns: str | None, span: range) -> int:
    """An integer field as mongorestore 100.6 converts it: any integer type, an integral
    double, a boolean or null (0); anything else or out of ``span`` is refused by all."""
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or int(value) not in span:
        raise _wrong_type(what, name, value, "an integer that fits", offset, ns)
    return int(value)


def _extra_keys(
    doc: dict[str, Any], known: tuple[str, ...], code: str, what: str, offset: int, ns: str | None
) -> list[ArchiveWarning]:
    extra = [k for k in doc if k not in known]
    if not extra:
        return []
    return [
        _warning(
            code,
            f"{what} has {'an unknown field' if len(extra) == 1 else 'unknown fields'} {extra}",
            offset,
            ns,
        )
    ]


def decode_archive_header(raw: bytes, offset: int) -> tuple[ArchiveHeader, list[ArchiveWarning]]:
    """The prelude's first document (§3.1), read as leniently as mongorestore does."""
    what = "the archive header"
    doc = _decode(raw, what, offset)
    warnings: list[ArchiveWarning] = []
    missing = [f for f in ARCHIVE_HEADER_FIELDS if f not in doc and f != "server_version"]
    if missing:
        warnings.append(_warning("missing-field", f"{what} has no {missing} field", offset))
    cc = _number(doc.get("concurrent_collections"), "concurrent_collections", what, offset, None, _INT32)
    texts = {f: _string(doc, f, what, offset, None) for f in ARCHIVE_HEADER_FIELDS[1:]}
    header = ArchiveHeader(
        concurrent_collections=cc,
        version=texts["version"] or "",
        server_version=texts["server_version"] or "",
        tool_version=texts["tool_version"] or "",
    )
    warnings += _extra_keys(doc, ARCHIVE_HEADER_FIELDS, "ignored-field", what, offset, None)
    if texts["version"] is not None and header.version != FORMAT_VERSION:
        warnings.append(
            _warning(
                "unknown-version",
                f"archive format version {header.version!r} is not {FORMAT_VERSION!r}",
                offset,
            )
        )
    if texts["server_version"] is None:
        warnings.append(_warning("bad-server-version", f"{what} has no server_version", offset))
    elif parse_server_version(header.server_version) is None:
        warnings.append(
            _warning(
                "bad-server-version",
                f"server_version {header.server_version!r} is not a version X.Y.Z",
                offset,
            )
        )
    return header, warnings


def decode_collection_entry(raw: bytes, offset: int) -> tuple[CollectionEntry, list[ArchiveWarning]]:
    """A collection-metadata document of the prelude (§3.2), read as leniently as mongorestore does."""
    what = "a collection entry"
    doc = _decode(raw, what, offset)
    warnings: list[ArchiveWarning] = []
    db = _string(doc, "db", what, offset, None)
    coll = _string(doc, "collection", what, offset, None)
    ns = f"{db or ''}.{coll or ''}"
    if db is None or coll is None:
        # Read as "" like mongorestore does; an empty collection name never matches a block (§6).
        names = [f for f, v in (("db", db), ("collection", coll)) if v is None]
        warnings.append(_warning("missing-field", f"{what} has no {names} field", offset, ns))
    metadata = _string(doc, "metadata", what, offset, ns) or ""
    size = _number(doc["size"], "size", what, offset, ns, _INT64) if "size" in doc else 0
    kind = _string(doc, "type", what, offset, ns)
    warnings += _extra_keys(doc, COLLECTION_FIELDS, "ignored-field", what, offset, ns)
    # Interned: one copy of each name for the entry, its summary key and every block
    # header naming it (a prelude of many namespaces holds them all at once).
    entry = CollectionEntry(
        intern(db or ""), intern(coll or ""), metadata, size, kind and intern(kind), offset
    )
    return entry, warnings


def _top_level_types(raw: bytes) -> dict[str, int]:
    """Element type of each top-level field of a well-formed BSON document (last one wins)."""
    fixed = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8}
    fixed |= {0x13: 16, 0x7F: 0, 0xFF: 0}
    types: dict[str, int] = {}
    pos, end = 4, len(raw) - 1
    while pos < end:
        kind = raw[pos]
        nul = raw.index(b"\x00", pos + 1)
        types[raw[pos + 1 : nul].decode("utf-8", "replace")] = kind
        pos = nul + 1
        if kind in fixed:
            pos += fixed[kind]
        elif kind == 0x0B:  # regex: two C strings
            pos = raw.index(b"\x00", raw.index(b"\x00", pos) + 1) + 1
        else:  # a length-prefixed value: string, document, array, binary, code, symbol, pointer
            size = int.from_bytes(raw[pos : pos + 4], "little", signed=True)
            pos += 4 + size + (1 if kind == 0x05 else 0) + (12 if kind == 0x0C else 0)
            if kind in (0x03, 0x04, 0x0F):
                pos -= 4  # these lengths count their own four bytes
    return types


def _name(doc: dict[str, Any], types: dict[str, int], name: str, offset: int) -> tuple[str, str | None]:
    """db or collection of a namespace header, and what it is stored as when not a string.

    Missing reads as "" (every release); a symbol or null is read as a string by
    100.6 only; any other type is refused by every release (§3.3).
    """
    if name not in doc:
        return "", None
    value = doc[name]
    if value is None:
        return "", "null"
    if types.get(name) == _SYMBOL:
        return value, "a BSON symbol"
    if type(value) is not str:
        raise _wrong_type("a namespace header", name, value, "a string", offset, None)
    return value, None


def decode_namespace_header(raw: bytes, offset: int) -> tuple[Namespace, bool, int, list[ArchiveWarning]]:
    """A block's namespace header (§3.3): (namespace, EOF, CRC as uint64, warnings)."""
    what = "a namespace header"
    doc = _decode(raw, what, offset)
    types = _top_level_types(raw)
    db, db_kind = _name(doc, types, "db", offset)
    coll, coll_kind = _name(doc, types, "collection", offset)
    ns = f"{db}.{coll}"
    warnings = [
        _warning("name-not-string", f"the namespace header's {name!r} is {kind}, not a string", offset, ns)
        for name, kind in (("db", db_kind), ("collection", coll_kind))
        if kind is not None
    ]
    eof = doc.get("EOF", False)
    if type(eof) is not bool:
        # 100.6 converts a number or null to a boolean (non-zero is true); 100.14+ refuses it.
        if not (eof is None or isinstance(eof, (int, float))):
            raise _wrong_type(what, "EOF", eof, "a boolean", offset, ns)
        warnings.append(
            _warning("eof-not-bool", f"EOF is stored as {_type_name(eof)}, not a boolean", offset, ns)
        )
        eof = bool(eof)
    crc = doc.get("CRC", Int64(0))
    if not isinstance(crc, Int64):
        # 100.6 reads an int32, an integral double, a boolean or null (0); 100.14+ wants int64.
        number = _number(crc, "CRC", what, offset, ns, _INT64)
        warnings.append(
            _warning("crc-not-int64", f"CRC is stored as {_type_name(crc)}, not int64", offset, ns)
        )
        crc = number
    if not coll:
        # mongorestore: "collection header is missing a Collection"; db "" is the oplog's (§5.1).
        raise NamespaceError(
            "the namespace header has an empty collection name",
            offset=offset,
            namespace=ns,
            code="bad-namespace",
        )
    warnings += _extra_keys(doc, NAMESPACE_HEADER_FIELDS, "unknown-field", what, offset, ns)
    return Namespace(intern(db), intern(coll)), bool(eof), to_uint64(int(crc)), warnings


def recognise(raw: bytes, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """``raw`` decoded if its first fields are ``keys`` with header types, else None.

    Used to resynchronise after damage (check, salvage): a namespace header
    starts with db, collection (strings) and EOF (bool), §3.3.
    """
    if not raw or raw[-1]:
        return None
    try:
        doc: dict[str, Any] = bson.decode(raw)
    except Exception:  # an undecodable candidate is simply not a header
        return None
    if tuple(list(doc)[: len(keys)]) != keys:
        return None
    for key in keys:
        if type(doc[key]) is not (bool if key == "EOF" else str):
            return None
    return doc


#: The next prelude item: (its offset, the document, or None for the terminator).
NextItem = Callable[[str], tuple[int, bytes | None]]


def read_prelude(
    next_item: NextItem,
) -> tuple[ArchiveHeader, list[CollectionEntry], list[ArchiveWarning], int]:
    """The prelude after the magic (§2, §3.1, §3.2): header, entries, warnings, terminator offset.

    ``next_item(what)`` frames the next item; ``what`` names it for messages.
    """
    offset, raw = next_item("the archive header")
    if raw is None:
        raise FramingError(
            "a terminator stands where the archive header should be",
            offset=offset,
            code="consecutive-terminators",
        )
    header, warnings = decode_archive_header(raw, offset)
    entries: list[CollectionEntry] = []
    while True:
        offset, raw = next_item("a collection entry")
        if raw is None:
            return header, entries, warnings, offset
        entry, more = decode_collection_entry(raw, offset)
        warnings.extend(more)
        entries.append(entry)


def timeseries_data_namespace(entry: CollectionEntry) -> Namespace:
    """Where a timeseries collection's data lives before server 8.3 (§5.4)."""
    return Namespace(entry.db, "system.buckets." + entry.collection)


class Demux:
    """Tracks every namespace against the prelude; raises on the first broken rule (§6).

    Every namespace that must end is a *data namespace*: the body name whose
    blocks carry the data and whose EOF block carries their CRC, so that every
    document is covered by exactly one checked CRC.  A timeseries entry X has
    two possible data namespaces, X and ``system.buckets.X`` (§5.4): the first
    one the body uses becomes X's, and the other one is then undeclared, as it
    is for every mongorestore release.
    """

    def __init__(
        self,
        entries: list[CollectionEntry],
        server_version: str = "",
        warnings: list[ArchiveWarning] | None = None,
    ) -> None:
        #: Decides which timeseries naming each release expects (§5.4).
        self.server_version = server_version
        #: Where warnings about the timeseries naming go.
        self.warnings: list[ArchiveWarning] = [] if warnings is None else warnings
        self.declared: dict[Namespace, CollectionEntry] = {}
        for entry in entries:
            self.declared.setdefault(entry.namespace, entry)
        #: Data namespaces that are known to need an EOF block.
        self.expected: set[Namespace] = set()
        #: Both possible data namespaces of each timeseries entry -> the entry's namespace.
        self.timeseries: dict[Namespace, Namespace] = {}
        #: Timeseries entry -> the data namespace the body chose for it.
        self.chosen: dict[Namespace, Namespace] = {}
        for ns, entry in self.declared.items():
            buckets = timeseries_data_namespace(entry)
            if entry.type != "timeseries":
                self.expected.add(ns)
            elif buckets not in self.declared:
                self.timeseries[ns] = self.timeseries[buckets] = ns
            # A timeseries X whose buckets collection has an entry of its own: mongorestore
            # maps X's data to that entry, so X needs no EOF of its own.
        self.summaries: dict[Namespace, NamespaceSummary] = {}
        self.ended: set[Namespace] = set()  # data namespaces whose EOF was seen
        self.remaining = len(self.expected) + len(self.timeseries) // 2

    def _admit(self, ns: Namespace, offset: int) -> None:
        if ns in self.expected:
            return
        owner = self.timeseries.get(ns)
        if owner is None:
            raise NamespaceError(
                "data for a namespace that the prelude does not declare",
                offset=offset,
                namespace=str(ns),
                code="undeclared-namespace",
                hint="the archive was assembled from pieces or is damaged",
            )
        chosen = self.chosen.setdefault(owner, ns)
        if chosen == ns and ns not in self.expected:
            self._judge_naming(ns, owner, offset)
        if chosen != ns:
            raise NamespaceError(
                f"the timeseries collection {str(owner)!r} already has its data under {str(chosen)!r}; "
                "a block under its other name is refused by every mongorestore release",
                offset=offset,
                namespace=str(ns),
                code="undeclared-namespace",
                hint="the archive mixes the two timeseries namings (spec §5.4)",
            )
        self.expected.add(ns)

    def _judge_naming(self, ns: Namespace, owner: Namespace, offset: int) -> None:
        """The body chose ``ns`` for timeseries ``owner``: warn if a release expects the other name."""
        code = timeseries_naming_code(self.server_version, under_buckets=ns != owner)
        if code is None:
            return
        where = "system.buckets.X" if ns != owner else "the collection's own name X"
        self.warnings.append(
            _warning(
                code,
                f"timeseries data stored under {where} while server_version is {self.server_version!r}",
                offset,
                str(ns),
            )
        )

    def begin(self, ns: Namespace, eof: bool, offset: int) -> NamespaceSummary:
        """A block for ``ns`` starts at ``offset``."""
        self._admit(ns, offset)
        if ns in self.ended:
            raise NamespaceError(
                "the namespace appears again after its EOF block",
                offset=offset,
                namespace=str(ns),
                code="reopened-namespace",
                hint="two archives were concatenated, or the writer is faulty",
            )
        summary = self.summaries.get(ns)
        if summary is None:
            summary = self.summaries[ns] = NamespaceSummary(ns, first_offset=offset)
        if not eof:
            summary.segments += 1
        return summary

    def end(self, summary: NamespaceSummary, stored_crc: int, offset: int) -> None:
        """The EOF block of ``summary.ns``, whose header is at ``offset``, is complete."""
        self.ended.add(summary.ns)
        self.remaining -= 1
        summary.crc_stored = stored_crc
        if stored_crc != summary.crc_value:
            summary.crc = "mismatch"
            raise ChecksumError(
                f"CRC-64 mismatch: stored {stored_crc:#018x}, documents give {summary.crc_value:#018x}",
                offset=offset,
                namespace=str(summary.ns),
                hint="a document of this namespace was altered after it was written "
                "(bit rot or a faulty copy); 'mongoarchive salvage' keeps the well-formed ones",
            )
        summary.crc = "ok"

    @property
    def all_ended(self) -> bool:
        return self.remaining == 0

    def trailing(self, offset: int) -> TrailingDataError:
        return TrailingDataError(
            "bytes follow the end of the archive (every namespace has ended)",
            offset=offset,
            hint="something was appended to the archive; the archive itself is complete",
        )

    def unended(self, offset: int) -> list[TruncatedError]:
        """One error per data namespace without its EOF block, if the stream ended at ``offset``.

        In prelude order; a timeseries entry whose data never appeared is named as declared.
        """
        errors = []
        for ns in self.declared:
            data_ns = self.chosen.get(ns, ns)
            if data_ns in self.ended or (data_ns not in self.expected and ns not in self.timeseries):
                continue
            if data_ns in self.summaries:
                errors.append(
                    TruncatedError(
                        "the archive ends before this namespace's EOF block",
                        offset=offset,
                        namespace=str(data_ns),
                        code="unfinished-namespace",
                        hint="the archive was cut short at a block boundary "
                        "(an interrupted dump or download)",
                    )
                )
            else:
                errors.append(
                    TruncatedError(
                        "the archive ends and a namespace of the prelude never appeared",
                        offset=offset,
                        namespace=str(ns),
                        code="unseen-namespace",
                        hint="the archive was cut short, or the dump stopped before this collection",
                    )
                )
        return errors

    def finish(self, offset: int) -> None:
        """The stream ended cleanly at ``offset``: every declared namespace must have ended (§6)."""
        errors = self.unended(offset)
        if errors:
            raise errors[0]

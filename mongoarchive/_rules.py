"""What a header document must hold and the demultiplexer's rules (spec §3, §6).

Shared by the fast reader and the construct reference reader, so the two can
only differ in framing, which the differential tests compare.
"""

from __future__ import annotations

from collections.abc import Callable
from sys import intern
from typing import Any

import bson
from bson.int64 import Int64

from ._crc import to_uint64
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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(
    doc: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str, offset: int, ns: str | None
) -> Any:
    if name not in doc:
        raise HeaderError(f"{what} has no {name!r} field", offset=offset, namespace=ns)
    value = doc[name]
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if kind is str:
        # bson decodes JavaScript code (type 0x0d) as Code, a str subclass that is
        # not hashable: only a real BSON string is a name (§3).
        ok = type(value) is str
    if not ok:
        raise HeaderError(
            f"{what} field {name!r} is a {type(value).__name__}, not a {getattr(kind, '__name__', kind)}",
            offset=offset,
            namespace=ns,
        )
    return value


def _extra_keys(
    doc: dict[str, Any], known: tuple[str, ...], what: str, offset: int, ns: str | None
) -> list[ArchiveWarning]:
    extra = [k for k in doc if k not in known]
    if not extra:
        return []
    return [
        ArchiveWarning(
            "unknown-field",
            f"{what} has unknown fields {extra}: older mongorestore ignores them, 100.14+ refuses them",
            offset,
            ns,
        )
    ]


def decode_archive_header(raw: bytes, offset: int) -> tuple[ArchiveHeader, list[ArchiveWarning]]:
    """The prelude's first document (§3.1)."""
    what = "the archive header"
    doc = _decode(raw, what, offset)
    header = ArchiveHeader(
        concurrent_collections=_field(doc, "concurrent_collections", int, what, offset, None),
        version=_field(doc, "version", str, what, offset, None),
        server_version=_field(doc, "server_version", str, what, offset, None),
        tool_version=_field(doc, "tool_version", str, what, offset, None),
    )
    warnings = _extra_keys(doc, ARCHIVE_HEADER_FIELDS, what, offset, None)
    if header.version != FORMAT_VERSION:
        warnings.append(
            ArchiveWarning(
                "unknown-version",
                f"archive format version {header.version!r} is not {FORMAT_VERSION!r}",
                offset,
            )
        )
    return header, warnings


def decode_collection_entry(raw: bytes, offset: int) -> tuple[CollectionEntry, list[ArchiveWarning]]:
    """A collection-metadata document of the prelude (§3.2)."""
    what = "a collection entry"
    doc = _decode(raw, what, offset)
    db = _field(doc, "db", str, what, offset, None)
    coll = _field(doc, "collection", str, what, offset, None)
    ns = f"{db}.{coll}"
    metadata = _field(doc, "metadata", str, what, offset, ns) if "metadata" in doc else ""
    size = _field(doc, "size", int, what, offset, ns) if "size" in doc else 0
    kind = _field(doc, "type", str, what, offset, ns) if "type" in doc else None
    warnings = _extra_keys(doc, COLLECTION_FIELDS, what, offset, ns)
    # Interned: one copy of each name for the entry, its summary key and every block
    # header naming it (a prelude of many namespaces holds them all at once).
    entry = CollectionEntry(intern(db), intern(coll), metadata, int(size), kind and intern(kind), offset)
    return entry, warnings


def decode_namespace_header(raw: bytes, offset: int) -> tuple[Namespace, bool, int, list[ArchiveWarning]]:
    """A block's namespace header (§3.3): (namespace, EOF, CRC as uint64, warnings)."""
    what = "a namespace header"
    doc = _decode(raw, what, offset)
    db = _field(doc, "db", str, what, offset, None)
    coll = _field(doc, "collection", str, what, offset, None)
    ns = f"{db}.{coll}"
    eof = _field(doc, "EOF", bool, what, offset, ns) if "EOF" in doc else False
    crc = _field(doc, "CRC", int, what, offset, ns) if "CRC" in doc else 0
    if not coll:
        # mongorestore: "collection header is missing a Collection"; db "" is the oplog's (§5.1).
        raise NamespaceError(
            "the namespace header has an empty collection name",
            offset=offset,
            namespace=ns,
            code="bad-namespace",
        )
    warnings = _extra_keys(doc, NAMESPACE_HEADER_FIELDS, what, offset, ns)
    if "CRC" in doc and not isinstance(crc, Int64):
        warnings.append(
            ArchiveWarning(
                "crc-not-int64",
                "CRC is stored as int32, not int64: older mongorestore accepts it, 100.14+ refuses it",
                offset,
                ns,
            )
        )
    return Namespace(intern(db), intern(coll)), eof, to_uint64(int(crc)), warnings


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
    """Tracks every namespace against the prelude; raises on the first broken rule (§6)."""

    def __init__(self, entries: list[CollectionEntry]) -> None:
        self.declared: dict[Namespace, CollectionEntry] = {}
        for entry in entries:
            self.declared.setdefault(entry.namespace, entry)
        # A timeseries entry X may carry its data under system.buckets.X (§5.4).
        self.aliases: dict[Namespace, Namespace] = {}
        for entry in entries:
            if entry.type == "timeseries":
                data_ns = timeseries_data_namespace(entry)
                if data_ns not in self.declared:
                    self.aliases[data_ns] = entry.namespace
        self.summaries: dict[Namespace, NamespaceSummary] = {}
        self.ended: set[Namespace] = set()  # prelude namespaces whose EOF was seen
        self.remaining = len(self.declared)

    def begin(self, ns: Namespace, eof: bool, offset: int) -> NamespaceSummary:
        """A block for ``ns`` starts at ``offset``."""
        key = self.aliases.get(ns, ns)
        if key not in self.declared:
            raise NamespaceError(
                "data for a namespace that the prelude does not declare",
                offset=offset,
                namespace=str(ns),
                code="undeclared-namespace",
                hint="the archive was assembled from pieces or is damaged",
            )
        if key in self.ended:
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
        key = self.aliases.get(summary.ns, summary.ns)
        self.ended.add(key)
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
        """One error per declared namespace without its EOF block, if the stream ended at ``offset``."""
        errors = []
        # One pass over the summaries, not one scan of the aliases per namespace:
        # a prelude of many timeseries entries stays linear.
        seen = {self.aliases.get(ns, ns) for ns in self.summaries}
        for ns in self.declared:
            if ns in self.ended:
                continue
            if ns in seen:
                errors.append(
                    TruncatedError(
                        "the archive ends before this namespace's EOF block",
                        offset=offset,
                        namespace=str(ns),
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

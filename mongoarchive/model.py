"""Plain values the reader produces and the writer consumes (spec/archive.md §3)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from .errors import MetadataError

__all__ = [
    "MAX_BSON_SIZE",
    "ArchiveHeader",
    "ArchiveWarning",
    "CollectionEntry",
    "CollectionMetadata",
    "CrcState",
    "Document",
    "Event",
    "Namespace",
    "NamespaceEnd",
    "NamespaceSummary",
    "Segment",
]

#: Largest BSON document the server and the tools accept (spec §2): 16 MiB.
MAX_BSON_SIZE = 16 * 1024 * 1024

#: "unverifiable": check could not read all of the namespace's bytes, so its CRC proves nothing.
CrcState = Literal["ok", "mismatch", "unfinished", "unverifiable"]


class Namespace(NamedTuple):
    """A (db, collection) pair; ``str()`` gives the dotted name used in messages."""

    db: str
    collection: str

    def __str__(self) -> str:
        return f"{self.db}.{self.collection}"


@dataclasses.dataclass(frozen=True, slots=True)
class ArchiveHeader:
    """The first document of the prelude (spec §3.1)."""

    concurrent_collections: int
    version: str
    server_version: str
    tool_version: str


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionMetadata:
    """A metadata string parsed from Extended JSON (spec §3.2)."""

    options: dict[str, Any]
    indexes: list[dict[str, Any]]
    uuid: str | None
    collection_name: str | None
    type: str | None
    raw: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionEntry:
    """One collection-metadata document of the prelude (spec §3.2).

    ``metadata`` is the Extended JSON string exactly as stored; ``type`` is None
    when the document has no ``type`` field (archives written before 2021).
    """

    db: str
    collection: str
    metadata: str
    size: int = 0
    type: str | None = None
    #: Where the entry starts in the stream (None for entries not read from one).
    offset: int | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.db, self.collection)

    def parse_metadata(self) -> CollectionMetadata:
        """Parse ``metadata`` (canonical or relaxed Extended JSON); MetadataError if invalid."""
        from bson import json_util

        ns = str(self.namespace)
        at = self.offset
        if self.metadata == "":
            return CollectionMetadata({}, [], None, None, None, {})
        try:
            value = json_util.loads(self.metadata)
        except Exception as exc:  # json_util raises ValueError, TypeError, bson errors...
            raise MetadataError(
                f"metadata is not valid Extended JSON: {exc}",
                offset=at,
                namespace=ns,
                hint="the dump tool wrote a malformed metadata string; "
                "restore this collection's indexes and options by hand",
            ) from exc
        if not isinstance(value, Mapping):
            raise MetadataError(
                f"metadata is a JSON {type(value).__name__}, not an object", offset=at, namespace=ns
            )
        doc = dict(value)
        options = doc.get("options", {})
        indexes = doc.get("indexes", [])
        if not isinstance(options, Mapping):
            raise MetadataError("metadata 'options' is not an object", offset=at, namespace=ns)
        if not isinstance(indexes, list) or not all(isinstance(i, Mapping) for i in indexes):
            raise MetadataError("metadata 'indexes' is not a list of objects", offset=at, namespace=ns)
        uuid = doc.get("uuid")
        name = doc.get("collectionName")
        kind = doc.get("type")
        return CollectionMetadata(
            options=dict(options),
            indexes=[dict(i) for i in indexes],
            uuid=uuid if isinstance(uuid, str) else None,
            collection_name=name if isinstance(name, str) else None,
            type=kind if isinstance(kind, str) else None,
            raw=doc,
        )


class Segment(NamedTuple):
    """A data block of ``ns`` starts at ``offset`` (its namespace header)."""

    ns: Namespace
    offset: int


class Document(NamedTuple):
    """One data document: its namespace and its BSON bytes, at ``offset``."""

    ns: Namespace
    raw: bytes
    offset: int = -1


class NamespaceEnd(NamedTuple):
    """The EOF block of ``ns``: ``crc`` is the stored CRC-64 as an unsigned int."""

    ns: Namespace
    crc: int
    offset: int = -1


Event = Segment | Document | NamespaceEnd


@dataclasses.dataclass(frozen=True, slots=True)
class ArchiveWarning:
    """Something older tools accept but a strict reader or mongorestore 100.14+ rejects."""

    code: str
    message: str
    offset: int | None = None
    namespace: str | None = None

    def __str__(self) -> str:
        where = f" (at byte {self.offset})" if self.offset is not None else ""
        ns = f" in namespace {self.namespace!r}" if self.namespace else ""
        return f"{self.message}{where}{ns}"


@dataclasses.dataclass(slots=True)
class NamespaceSummary:
    """What the body held for one namespace, filled in while the stream is read."""

    ns: Namespace
    documents: int = 0
    bytes: int = 0
    segments: int = 0
    crc: CrcState = "unfinished"
    crc_value: int = 0  # CRC-64 of the documents read so far (unsigned)
    crc_stored: int | None = None  # the EOF header's CRC (unsigned), once seen
    first_offset: int = -1

    def to_dict(self) -> dict[str, object]:
        return {
            "db": self.ns.db,
            "collection": self.ns.collection,
            "documents": self.documents,
            "bytes": self.bytes,
            "segments": self.segments,
            "crc": self.crc,
            "crc_value": self.crc_value,
        }

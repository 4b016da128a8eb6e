"""The pack record: what a ``--out`` directory does not say about the archive it came from.

A directory holds each namespace's documents and metadata, but not the
archive's header fields beyond ``prelude.json``, the prelude's order (a Go
map's in mongodump, spec/archive.md §3.2), the entries' ``type``/``size``
fields as stored, nor the body's blocks (§2, §9: which namespace's documents
came in which block, and in what order the blocks and EOF blocks came).
``unpack`` writes them to ``RECORD_FILE`` at the directory's root, and
``pack`` replays them, so that ``pack(unpack(A)) == A`` byte for byte for
every archive the official writer makes, ``mongodump -j 4`` interleavings
included.  mongorestore ``--dir`` skips a root file it does not know
("don't know what to do with file ..., skipping"), in 100.6.1 and 100.18.0.

The record is JSON: ``header`` (the four header fields), ``entries`` (per
prelude entry in order: db, collection, type or null, size, and the
documents and bytes of its data file, to tell whether the files still
match), ``blocks`` (``[i, n]``: a data block of entry ``i`` with ``n``
documents; ``[i]``: its EOF block).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .errors import MetadataError
from .model import ArchiveHeader, Namespace

__all__ = ["RECORD_FILE", "PackRecord", "RecordEntry", "load_record"]

#: The record's file name at the directory's root.
RECORD_FILE = ".mongoarchive-pack.json"
_KEY = "mongoarchive_pack_record"
_VERSION = 1


@dataclasses.dataclass(slots=True)
class RecordEntry:
    """One prelude entry as the archive stored it, and what its data file held."""

    db: str
    collection: str
    type: str | None
    size: int
    documents: int = 0
    bytes: int = 0

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.db, self.collection)


@dataclasses.dataclass(slots=True)
class PackRecord:
    """The header, the prelude entries in order, and the blocks of the body (see module docs)."""

    header: ArchiveHeader
    entries: list[RecordEntry]
    blocks: list[tuple[int, int | None]]  # (entry index, documents) or (entry index, None): EOF

    def to_json(self) -> bytes:
        h = self.header
        value = {
            _KEY: _VERSION,
            "header": {
                "concurrent_collections": h.concurrent_collections,
                "version": h.version,
                "server_version": h.server_version,
                "tool_version": h.tool_version,
            },
            "entries": [
                {
                    "db": e.db,
                    "collection": e.collection,
                    "type": e.type,
                    "size": e.size,
                    "documents": e.documents,
                    "bytes": e.bytes,
                }
                for e in self.entries
            ],
            "blocks": [[i] if n is None else [i, n] for i, n in self.blocks],
        }
        # ASCII only: names that are not UTF-8 keep their escapes (surrogates) exactly.
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def _bad(path: str, what: str) -> MetadataError:
    return MetadataError(
        f"{path} is not a pack record mongoarchive can use: {what}",
        code="bad-pack-record",
        hint="unpack writes it; remove it to pack in sorted order",
    )


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _bad(path, f"{key!r} is missing or of the wrong type")
    return value


def load_record(data: bytes, path: str) -> PackRecord:
    """Parse a record; MetadataError (naming ``path``) if it is not one this version wrote."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise _bad(path, f"not JSON ({exc})") from exc
    if not isinstance(value, dict) or value.get(_KEY) != _VERSION:
        raise _bad(path, f"no {_KEY!r}: {_VERSION}")
    head = _field(value, "header", dict, path)
    header = ArchiveHeader(
        _field(head, "concurrent_collections", int, path),
        _field(head, "version", str, path),
        _field(head, "server_version", str, path),
        _field(head, "tool_version", str, path),
    )
    entries = []
    for item in _field(value, "entries", list, path):
        if not isinstance(item, dict):
            raise _bad(path, "an entry is not an object")
        kind = item.get("type")
        if kind is not None and not isinstance(kind, str):
            raise _bad(path, "an entry's 'type' is not a string or null")
        entries.append(
            RecordEntry(
                _field(item, "db", str, path),
                _field(item, "collection", str, path),
                kind,
                _field(item, "size", int, path),
                _field(item, "documents", int, path),
                _field(item, "bytes", int, path),
            )
        )
    blocks: list[tuple[int, int | None]] = []
    for item in _field(value, "blocks", list, path):
        ok = isinstance(item, list) and len(item) in (1, 2)
        ok = ok and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in item)
        if not ok or not item[0] < len(entries):
            raise _bad(path, f"a block is not [entry] or [entry, documents]: {item!r}"[:200])
        blocks.append((item[0], item[1] if len(item) == 2 else None))
    return PackRecord(header, entries, blocks)

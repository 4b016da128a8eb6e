"""Archives built field by field, for names and shapes the writer refuses (tests of hostile input)."""

from __future__ import annotations

import bson

from mongoarchive import schema
from mongoarchive._crc import crc64, to_int64

TERMINATOR = b"\xff\xff\xff\xff"
MAGIC = b"\x6d\xe2\x99\x81"


def raw_archive(
    namespaces: dict[tuple[str, str], list[bytes]],
    *,
    types: dict[tuple[str, str], str | None] | None = None,
    metadata: str = '{"indexes":[]}',
    server_version: str = "7.0.0",
) -> bytes:
    """A valid archive (one block and one EOF block per namespace, in order) whatever the names."""
    header = {
        "concurrent_collections": 4,
        "version": "0.1",
        "server_version": server_version,
        "tool_version": "t",
    }
    out = [MAGIC, schema.ArchiveHeader.build(header)]
    for (db, coll) in namespaces:
        kind = (types or {}).get((db, coll), "collection")
        entry = {"db": db, "collection": coll, "metadata": metadata if db else "", "size": 0,
                 "type": kind if kind is not None else ""}
        out.append(schema.CollectionMetadata.build(entry))
    out.append(TERMINATOR)
    for (db, coll), docs in namespaces.items():
        for eof, crc in ((False, 0), (True, to_int64(crc64(b"".join(docs))))):
            out.append(schema.NamespaceHeader.build({"db": db, "collection": coll, "EOF": eof, "CRC": crc}))
            out.extend([] if eof else docs)
            out.append(TERMINATOR)
    return b"".join(out)


def one_document_each(entries: list[tuple[str, str, str | None]]) -> bytes:
    """``raw_archive`` with one document per (db, collection, type) entry (none for views)."""
    namespaces = {
        (db, coll): [] if kind == "view" else [bson.encode({"_id": 1, "ns": f"{db}.{coll}"})]
        for db, coll, kind in entries
    }
    return raw_archive(namespaces, types={(db, coll): kind for db, coll, kind in entries})

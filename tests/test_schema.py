"""The construct declarations (mongoarchive/schema.py) against pymongo's BSON and real archives (§2, §3)."""

from __future__ import annotations

import io

import bson
import pytest
from bson.int64 import Int64
from bson.son import SON
from construct import ConstructError
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import SHARED_VECTORS
from strategies import names

from mongoarchive import schema


@settings(max_examples=60, deadline=None)
@given(st.integers(-(2**31), 2**31 - 1), names, names)
def test_archive_header_matches_bson(cc: int, server: str, tool: str) -> None:
    fields = {"concurrent_collections": cc, "version": "0.1", "server_version": server, "tool_version": tool}
    built = schema.ArchiveHeader.build(fields)
    assert built == bson.encode(SON(list(fields.items())))
    parsed = schema.ArchiveHeader.parse(built)
    assert {k: parsed[k] for k in fields} == fields


@settings(max_examples=60, deadline=None)
@given(names, names, st.booleans(), st.integers(-(2**63), 2**63 - 1))
def test_namespace_header_matches_bson(db: str, coll: str, eof: bool, crc: int) -> None:
    built = schema.NamespaceHeader.build({"db": db, "collection": coll, "EOF": eof, "CRC": crc})
    want = bson.encode(SON([("db", db), ("collection", coll), ("EOF", eof), ("CRC", Int64(crc))]))
    assert built == want
    parsed = schema.NamespaceHeader.parse(want)
    assert (parsed.db, parsed.collection, parsed.EOF, parsed.CRC) == (db, coll, eof, crc)


def test_namespace_header_int32_crc_parses() -> None:
    raw = bson.encode(SON([("db", "d"), ("collection", "c"), ("EOF", True), ("CRC", 7)]))
    assert schema.NamespaceHeader.parse(raw).CRC == 7


@pytest.mark.parametrize("kind", ["collection", None])
def test_collection_metadata_type_optional(kind: str | None) -> None:
    built = schema.CollectionMetadata.build(
        {"db": "d", "collection": "c", "metadata": "{}", "size": 0, "type": kind}
    )
    pairs = [("db", "d"), ("collection", "c"), ("metadata", "{}"), ("size", 0)]
    if kind is not None:
        pairs.append(("type", kind))
    assert built == bson.encode(SON(pairs))


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        (b"\x05\x00\x00\x00\x00", True),
        (b"\xff\xff\xff\xff", True),
        (b"\x04\x00\x00\x00", False),
        (b"\x05\x00\x00\x00\x01", False),
        (b"\x06\x00\x00\x00\x00", False),
        ((16 * 1024 * 1024 + 1).to_bytes(4, "little"), False),
    ],
)
def test_framed(raw: bytes, ok: bool) -> None:
    if ok:
        assert schema.Framed.parse(raw).length in (5, -1)
    else:
        with pytest.raises(ConstructError):
            schema.Framed.parse(raw)


@pytest.mark.parametrize("name", ["test.bar.archive", "bad-format.archive"])
def test_whole_archive_parses(name: str) -> None:
    path = SHARED_VECTORS / name
    if not path.exists():
        pytest.skip("real archives not present")
    data = path.read_bytes()
    parsed = schema.Archive.parse_stream(io.BytesIO(data))
    header = schema.ArchiveHeader.parse(parsed.prelude.header.data)
    assert header.version == "0.1"
    for item in parsed.prelude.collections[:-1]:
        entry = schema.CollectionMetadata.parse(item.data)
        assert isinstance(entry.db, str)
    for blk in parsed.blocks:
        ns = schema.NamespaceHeader.parse(blk.header.data)
        assert ns.collection
        assert blk.documents[-1].value.length == -1
    with pytest.raises(ConstructError):
        schema.Archive.parse_stream(io.BytesIO(data + b"\x00"))

"""The writer: mongodump's multiplexer rules (spec/archive.md §9), header layout (§3), atomic paths."""

from __future__ import annotations

import gzip
import io
import threading
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.raw_bson import RawBSONDocument
from bson.son import SON

import mongoarchive
from mongoarchive import Document, DocumentError, Namespace, NamespaceEnd, Segment, UsageError
from mongoarchive._crc import crc64_pure

MIB = 1024 * 1024
MAGIC = b"\x6d\xe2\x99\x81"
TERM = b"\xff\xff\xff\xff"


def sized_doc(size: int, tag: int = 0) -> bytes:
    """A BSON document of exactly ``size`` bytes: {"x": Binary(...)} is size - 13 bytes of payload."""
    raw = bson.encode({"x": bytes([tag]) * (size - 13)})
    assert len(raw) == size
    return raw


def new(**kw: Any) -> tuple[io.BytesIO, mongoarchive.ArchiveWriter]:
    out = io.BytesIO()
    opts: dict[str, Any] = {"server_version": "7.0.1", "tool_version": "t"}
    opts.update(kw)
    return out, mongoarchive.open(out, "w", **opts)


def events(data: bytes) -> list[Any]:
    with mongoarchive.open(io.BytesIO(data)) as a:
        return list(a.events())


def shape(evs: list[Any]) -> list[tuple[str, str, int]]:
    """(kind, collection, document count of the block) per block."""
    out: list[tuple[str, str, int]] = []
    for ev in evs:
        if isinstance(ev, Segment):
            out.append(("seg", ev.ns.collection, 0))
        elif isinstance(ev, Document):
            kind, coll, n = out[-1]
            out[-1] = (kind, coll, n + 1)
        else:
            out.append(("eof", ev.ns.collection, 0))
    return out


def test_segments_cut_at_16_mib() -> None:
    out, w = new()
    a = w.add_collection("d", "a")
    b = w.add_collection("d", "b")
    for i in range(16):
        a.write(sized_doc(MIB, i))  # exactly 16 MiB buffered: no hand-off yet
    b.write(sized_doc(100))
    b._flush()  # b's block comes first, so a's hand-off must open a new block
    a.write(sized_doc(MIB, 16))  # 16 MiB + 1 MiB > 16 MiB: the 16 buffered go out now
    b.close()
    w.close()
    assert shape(events(out.getvalue())) == [
        ("seg", "b", 1),
        ("seg", "a", 16),
        ("eof", "b", 0),
        ("seg", "a", 1),
        ("eof", "a", 0),
    ]


def test_exactly_16_mib_stays_in_one_hand_off() -> None:
    out, w = new()
    a = w.add_collection("d", "a")
    b = w.add_collection("d", "b")
    for i in range(15):
        a.write(sized_doc(MIB, i))
    a.write(sized_doc(MIB - 20))
    a.write(sized_doc(20))  # sums to exactly 16 MiB: still one buffer
    b.write(sized_doc(20))
    b._flush()
    a.write(sized_doc(13))  # anything more does not fit: hand-off
    b.close()
    w.close()
    assert shape(events(out.getvalue()))[:3] == [("seg", "b", 1), ("seg", "a", 17), ("eof", "b", 0)]


def test_new_block_only_when_namespace_changes() -> None:
    out, w = new()
    a = w.add_collection("d", "a")
    b = w.add_collection("d", "b")
    a.write({"i": 1})
    a._flush()
    a.write({"i": 2})
    a._flush()
    b.write({"i": 3})
    b._flush()
    a.write({"i": 4})
    w.close()
    assert shape(events(out.getvalue())) == [
        ("seg", "a", 2),
        ("seg", "b", 1),
        ("seg", "a", 1),
        ("eof", "a", 0),
        ("eof", "b", 0),
    ]


def test_empty_namespace_bytes() -> None:
    out, w = new()
    w.add_collection("d", "e")
    w.close()
    data = out.getvalue()
    body = data[data.index(TERM) + 4 :]
    head = bson.encode(SON([("db", "d"), ("collection", "e"), ("EOF", False), ("CRC", bson.Int64(0))]))
    end = bson.encode(SON([("db", "d"), ("collection", "e"), ("EOF", True), ("CRC", bson.Int64(0))]))
    assert body == head + TERM + end + TERM


def test_header_field_order_and_crc_int64() -> None:
    out, w = new(concurrent_collections=3)
    c = w.add_collection("d", "c", metadata='{"indexes":[]}')
    docs = [bson.encode({"_id": i, "v": "x" * i}) for i in range(20)]
    for d in docs:
        c.write(d)
    w.close()
    data = out.getvalue()
    first = int.from_bytes(data[4:8], "little")
    head = bson.decode(data[4 : 4 + first])
    assert list(head) == ["concurrent_collections", "version", "server_version", "tool_version"]
    assert head["concurrent_collections"] == 3 and head["version"] == "0.1"
    assert data[8] == 0x10  # concurrent_collections is an int32
    pos = 4 + first
    size = int.from_bytes(data[pos : pos + 4], "little")
    assert list(bson.decode(data[pos : pos + size])) == ["db", "collection", "metadata", "size", "type"]
    crc = crc64_pure(b"".join(docs))
    want = b"\x12CRC\x00" + crc.to_bytes(8, "little")  # int64 element with the uint64 bit pattern
    eof_start = data.rindex(TERM, 0, len(data) - 4) + 4
    eof_doc = data[eof_start:-4]
    assert list(bson.decode(eof_doc)) == ["db", "collection", "EOF", "CRC"]
    assert eof_doc.endswith(want + b"\x00")
    assert bson.decode(eof_doc)["EOF"] is True


def test_type_none_omits_field() -> None:
    out, w = new()
    w.add_collection("d", "old", type=None)
    w.close()
    data = out.getvalue()
    with mongoarchive.open(io.BytesIO(data)) as a:
        assert a.collections[0].type is None
    assert b"type\x00" not in data


@pytest.mark.parametrize(("server", "data_coll"), [("7.0.1", "system.buckets.ts"), ("8.3.0", "ts")])
def test_timeseries_data_namespace(server: str, data_coll: str) -> None:
    out, w = new(server_version=server)
    ts = w.add_collection("d", "ts", type="timeseries")
    ts.write({"t": 1})
    w.close()
    evs = events(out.getvalue())
    assert {e.ns for e in evs} == {Namespace("d", data_coll)}
    with mongoarchive.open(io.BytesIO(out.getvalue())) as a:
        assert [c.collection for c in a.collections] == ["ts"]


def test_add_collection_after_write_is_usage_error() -> None:
    _, w = new()
    c = w.add_collection("d", "a")
    c.write({"i": 1})
    with pytest.raises(UsageError):
        w.add_collection("d", "b")
    c._flush()
    with pytest.raises(UsageError):
        w.add_collection("d", "b")


def test_duplicate_namespace_is_usage_error() -> None:
    _, w = new()
    w.add_collection("d", "a")
    with pytest.raises(UsageError):
        w.add_collection("d", "a")


@pytest.mark.parametrize(
    "bad",
    [b"", b"abc", b"\x05\x00\x00\x00\x01", b"\x06\x00\x00\x00\x00", b"\x05\x00\x00\x00\x00\x00", 42, "text"],
)
def test_invalid_documents(bad: Any) -> None:
    _, w = new()
    c = w.add_collection("d", "a")
    with pytest.raises(DocumentError):
        c.write(bad)


def test_unencodable_mapping() -> None:
    _, w = new()
    c = w.add_collection("d", "a")
    with pytest.raises(DocumentError):
        c.write({"x": object()})


def test_mapping_and_raw_input() -> None:
    out, w = new()
    c = w.add_collection("d", "a")
    raw = bson.encode({"_id": 2})
    c.write({"_id": 1})
    c.write(RawBSONDocument(raw))
    c.write(bytearray(raw))
    c.write(memoryview(raw))
    w.close()
    docs = [e.raw for e in events(out.getvalue()) if isinstance(e, Document)]
    assert docs == [bson.encode({"_id": 1}), raw, raw, raw]


def test_write_after_close() -> None:
    _, w = new()
    c = w.add_collection("d", "a")
    c.close()
    with pytest.raises(UsageError):
        c.write({"i": 1})
    w.close()
    with pytest.raises(UsageError):
        w.add_collection("d", "b")


def test_write_after_archive_close() -> None:
    _, w = new()
    c = w.add_collection("d", "a")
    w.close()
    with pytest.raises(UsageError):
        c.write({"i": 1})


def test_atomic_path_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.archive"
    with pytest.raises(RuntimeError), mongoarchive.open(target, "w", server_version="7.0.1") as w:
        c = w.add_collection("d", "a")
        c.write({"i": 1})
        c._flush()
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_success(tmp_path: Path) -> None:
    target = tmp_path / "out.archive"
    with mongoarchive.open(target, "w", server_version="7.0.1") as w:
        c = w.add_collection("d", "a")
        c.write({"i": 1})
        assert not target.exists()  # only the temporary file exists until close
    assert list(tmp_path.iterdir()) == [target]
    with mongoarchive.open(target) as a:
        assert [raw for _, raw in a.documents()] == [bson.encode({"i": 1})]


def test_gzip_output(tmp_path: Path) -> None:
    target = tmp_path / "out.archive.gz"
    with mongoarchive.open(target, "w:gz", server_version="7.0.1") as w:
        w.add_collection("d", "a").write({"i": 1})
    data = target.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert gzip.decompress(data)[:4] == MAGIC
    with mongoarchive.open(target) as a:
        assert a.gzip
        assert len(list(a.documents())) == 1


def test_needs_server_version() -> None:
    with pytest.raises(UsageError):
        mongoarchive.open(io.BytesIO(), "w")  # type: ignore[call-overload]


def test_threads_one_namespace_each() -> None:
    out, w = new()
    writers = [w.add_collection("d", f"c{i}") for i in range(6)]
    expected = {ns.ns: [bson.encode({"n": i, "k": ns.ns.collection}) for i in range(300)] for ns in writers}
    barrier = threading.Barrier(len(writers))

    def work(nw: mongoarchive.NamespaceWriter) -> None:
        barrier.wait()
        for i, doc in enumerate(expected[nw.ns]):
            nw.write(doc)
            if i % 7 == 0:
                nw._flush()  # many small hand-offs so that blocks interleave
        nw.close()

    threads = [threading.Thread(target=work, args=(nw,)) for nw in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    got: dict[Namespace, list[bytes]] = {ns: [] for ns in expected}
    with mongoarchive.open(io.BytesIO(out.getvalue())) as a:
        for ev in a.events():
            if isinstance(ev, Document):
                got[ev.ns].append(ev.raw)
        assert all(s.crc == "ok" for s in a.namespaces.values())
        assert len(a.namespaces) == len(expected)
    assert got == expected
    ends = [e for e in events(out.getvalue()) if isinstance(e, NamespaceEnd)]
    assert {e.ns: e.crc for e in ends} == {ns: crc64_pure(b"".join(d)) for ns, d in expected.items()}


def test_write_batch_equals_one_write_per_document() -> None:
    """A raw batch in one call gives the bytes of one write() per document (§9)."""
    import random

    rng = random.Random(7)
    sizes = [10, 1000, 100_000, 3_000_000]
    for _ in range(12):
        docs = [bson.encode({"i": i, "p": "x" * rng.choice(sizes)}) for i in range(rng.randint(1, 30))]
        one, batched = io.BytesIO(), io.BytesIO()
        with mongoarchive.open(one, "w", server_version="8.0.0") as w:
            c = w.add_collection("d", "c")
            for d in docs:
                c.write(d)
        with mongoarchive.open(batched, "w", server_version="8.0.0") as w:
            c = w.add_collection("d", "c")
            i = 0
            while i < len(docs):
                k = rng.randint(1, 8)
                assert c.write_batch(b"".join(docs[i : i + k])) == len(docs[i : i + k])
                i += k
        assert batched.getvalue() == one.getvalue()


def test_write_batch_rejects_a_malformed_run() -> None:
    good = bson.encode({"a": 1})
    with mongoarchive.open(io.BytesIO(), "w", server_version="8.0.0") as w:
        c = w.add_collection("d", "c")
        with pytest.raises(mongoarchive.DocumentError):
            c.write_batch(good + good[:-1])


def test_write_prelude_puts_every_namespace_out_first_and_closes_the_list() -> None:
    out = io.BytesIO()
    w = mongoarchive.open(out, "w", server_version="8.0.0")
    w.add_collection("d", "a")
    w.write_prelude()
    with mongoarchive.open(io.BytesIO(out.getvalue())) as partial:  # the prelude alone
        assert [str(c.namespace) for c in partial.collections] == ["d.a"]
    with pytest.raises(UsageError):
        w.add_collection("d", "b")
    w.close()
    with mongoarchive.open(io.BytesIO(out.getvalue())) as archive:
        assert [str(s.ns) for s in archive.validate().values()] == ["d.a"]

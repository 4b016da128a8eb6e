"""The writer: mongodump's multiplexer rules (spec/archive.md §9), header layout (§3), atomic paths."""

from __future__ import annotations

import gzip
import io
import sys
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paths import SHARED_VECTORS as SHARED

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
    b.flush()  # b's block comes first, so a's hand-off must open a new block
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
    b.flush()
    a.write(sized_doc(13))  # anything more does not fit: hand-off
    b.close()
    w.close()
    assert shape(events(out.getvalue()))[:3] == [("seg", "b", 1), ("seg", "a", 17), ("eof", "b", 0)]


def test_new_block_only_when_namespace_changes() -> None:
    out, w = new()
    a = w.add_collection("d", "a")
    b = w.add_collection("d", "b")
    a.write({"i": 1})
    a.flush()
    a.write({"i": 2})
    a.flush()
    b.write({"i": 3})
    b.flush()
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
    c.flush()
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
        c.flush()
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
                nw.flush()  # many small hand-offs so that blocks interleave
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


# -- misuse: every case raises UsageError and writes nothing (spec §3, §5, §7) --------------------

Action = Any  # a zero-argument callable


def _fresh(server: str = "7.0.1") -> tuple[io.BytesIO, mongoarchive.ArchiveWriter]:
    return new(server_version=server)


def _open_with(**kw: Any) -> tuple[io.BytesIO, Action]:
    out = io.BytesIO()
    opts: dict[str, Any] = {"server_version": "7.0.1", "tool_version": "t"}
    opts.update(kw)
    return out, lambda: mongoarchive.open(out, "w", **opts)


def _add(*args: Any, server: str = "7.0.1", before: Any = None, **kw: Any) -> tuple[io.BytesIO, Action]:
    """add_collection(*args, **kw) on a fresh writer, after ``before(writer)`` if given."""
    out, w = _fresh(server)
    if before is not None:
        before(w)
    return out, lambda: w.add_collection(*args, **kw)


def _after_abort(use: str) -> tuple[io.BytesIO, Action]:
    out, w = _fresh()
    c = w.add_collection("d", "c")
    c.write({"i": 1})
    w.abort()
    actions = {
        "write": lambda: c.write({"i": 2}),
        "write_batch": lambda: c.write_batch(bson.encode({"i": 2})),
        "flush": c.flush,
        "close-namespace": c.close,
        "close": w.close,
        "add_collection": lambda: w.add_collection("d", "e"),
        "write_prelude": w.write_prelude,
    }
    return out, actions[use]


def _after_failed_with() -> tuple[io.BytesIO, Action]:
    out, w = _fresh()
    c = w.add_collection("d", "c")
    with pytest.raises(RuntimeError), w:
        c.write({"i": 1})
        raise RuntimeError("the caller's loop failed")
    return out, lambda: c.write({"i": 2})


def _after_close(what: str) -> tuple[io.BytesIO, Action]:
    out, w = _fresh()
    c = w.add_collection("d", "c")
    if what == "namespace":
        c.close()
    else:
        w.close()
    return out, lambda: c.write({"i": 1})


def _undeclared() -> tuple[io.BytesIO, Action]:
    out, w = _fresh()
    w.add_collection("d", "c")
    return out, lambda: w.writer_for("d.nope")


MISUSE: dict[str, Any] = {
    # the header: mongorestore 100.16+ refuses a server_version that is not X.Y.Z
    "server_version-int": lambda: _open_with(server_version=7),
    "server_version-unknown": lambda: _open_with(server_version="unknown"),
    "server_version-empty": lambda: _open_with(server_version=""),
    "server_version-two-parts": lambda: _open_with(server_version="3.4"),
    "server_version-four-parts": lambda: _open_with(server_version="7.0.1.2"),
    "server_version-prefix": lambda: _open_with(server_version="v7.0.1"),
    "server_version-trailing-space": lambda: _open_with(server_version="7.0.1 "),
    "server_version-overflow": lambda: _open_with(server_version="9223372036854775808.0.0"),
    "tool_version-int": lambda: _open_with(tool_version=5),
    "tool_version-surrogate": lambda: _open_with(tool_version="\ud800"),
    "concurrent_collections-int64": lambda: _open_with(concurrent_collections=2**31),
    "concurrent_collections-bool": lambda: _open_with(concurrent_collections=True),
    # metadata: Extended JSON text or a mapping with mongodump's keys
    "metadata-not-json": lambda: _add("d", "c", metadata="not json"),
    "metadata-json-array": lambda: _add("d", "c", metadata="[1]"),
    "metadata-int": lambda: _add("d", "c", metadata=5),
    "metadata-unknown-key": lambda: _add("d", "c", metadata={"indexes": [], "bogus": 1}),
    "metadata-unencodable": lambda: _add("d", "c", metadata={"options": {"x": object()}}),
    "metadata-other-collectionName": lambda: _add("d", "c", metadata={"collectionName": "other"}),
    "metadata-other-type": lambda: _add("d", "c", metadata={"type": "view"}),
    "metadata-indexes-not-list": lambda: _add("d", "c", metadata={"indexes": "x"}),
    "metadata-bad-uuid": lambda: _add("d", "c", metadata={"uuid": "not hex"}),
    # type and size
    "type-int": lambda: _add("d", "c", type=5),
    "type-unknown": lambda: _add("d", "c", type="table"),
    "size-str": lambda: _add("d", "c", size="0"),
    "size-int128": lambda: _add("d", "c", size=2**63),
    # names
    "db-int": lambda: _add(5, "c"),
    "collection-empty": lambda: _add("d", ""),
    "collection-nul": lambda: _add("d", "c\x00x"),
    "db-nul": lambda: _add("d\x00x", "c"),
    "db-empty-not-oplog": lambda: _add("", "c"),
    "oplog-typed-collection": lambda: _add("", "oplog", type="collection"),
    "db-dot": lambda: _add("d.x", "c"),
    "db-dollar": lambda: _add("d$x", "c"),
    "db-space": lambda: _add("d x", "c"),
    "db-64-bytes": lambda: _add("d" * 64, "c"),
    "namespace-256-bytes": lambda: _add("d", "c" * 254),
    "buckets-namespace-too-long": lambda: _add("d", "c" * 240, type="timeseries"),
    "collection-dollar": lambda: _add("d", "a$b"),
    "collection-dollar-unknown-admin": lambda: _add("d", "$admin.system.foo", type=""),
    "collection-dollar-admin-in-admin": lambda: _add("admin", "$admin.system.users", type=""),
    "collection-surrogate": lambda: _add("d", "\udc80"),
    # a namespace declared twice, directly or through a timeseries' buckets (§5.4)
    "declared-twice": lambda: _add("d", "c", before=lambda w: w.add_collection("d", "c")),
    "collection-then-timeseries": lambda: _add(
        "d", "X", type="timeseries", before=lambda w: w.add_collection("d", "X")
    ),
    "timeseries-then-collection-83": lambda: _add(
        "d", "X", server="8.3.0", before=lambda w: w.add_collection("d", "X", type="timeseries")
    ),
    "timeseries-then-buckets": lambda: _add(
        "d", "system.buckets.X", before=lambda w: w.add_collection("d", "X", type="timeseries")
    ),
    "buckets-then-timeseries": lambda: _add(
        "d", "X", type="timeseries", before=lambda w: w.add_collection("d", "system.buckets.X")
    ),
    "timeseries-then-buckets-83": lambda: _add(
        "d",
        "system.buckets.X",
        server="8.3.0",
        before=lambda w: w.add_collection("d", "X", type="timeseries"),
    ),
    # order and state
    "add-after-buffered-write": lambda: _add(
        "d", "e", before=lambda w: w.add_collection("d", "c").write({"i": 1})
    ),
    "add-after-write_prelude": lambda: _add("d", "e", before=lambda w: w.write_prelude()),
    "write-after-namespace-close": lambda: _after_close("namespace"),
    "write-after-archive-close": lambda: _after_close("archive"),
    "write-after-abort": lambda: _after_abort("write"),
    "write_batch-after-abort": lambda: _after_abort("write_batch"),
    "flush-after-abort": lambda: _after_abort("flush"),
    "close-namespace-after-abort": lambda: _after_abort("close-namespace"),
    "close-after-abort": lambda: _after_abort("close"),
    "add_collection-after-abort": lambda: _after_abort("add_collection"),
    "write_prelude-after-abort": lambda: _after_abort("write_prelude"),
    "write-after-with-left-by-exception": _after_failed_with,
    "writer_for-undeclared": lambda: _undeclared(),
}


@pytest.mark.parametrize("case", sorted(MISUSE), ids=str)
def test_misuse_raises_usage_error_and_writes_nothing(case: str) -> None:
    out, action = MISUSE[case]()
    before = out.getvalue()
    with pytest.raises(UsageError) as info:
        action()
    assert isinstance(info.value, mongoarchive.MongoArchiveError)
    assert info.value.message  # says what was wrong, on one line (the CLI prints one)
    assert "\n" not in str(info.value)
    assert out.getvalue() == before  # nothing written by the refused call


def test_misuse_list_is_long_enough() -> None:
    assert len(MISUSE) >= 23


@pytest.mark.parametrize(
    "server", ["7.0.1", "3.4.3", "8.3.0-rc0", "7.0.1+build", "07.0.1", "7.0.1-", "1.0.0-rc.1"]
)
def test_server_versions_every_release_accepts(server: str) -> None:
    out, w = new(server_version=server)
    w.close()
    with mongoarchive.open(io.BytesIO(out.getvalue())) as a:
        assert a.header.server_version == server


@pytest.mark.parametrize(
    ("db", "coll", "kind"),
    [
        ("", "oplog", ""),
        ("shop", "$admin.system.users", ""),
        ("shop", "$admin.system.roles", ""),
        ("admin", "system.users", "collection"),
        ("d", "system.views", "collection"),
        ("dé", "çoll ection.with.dots", "collection"),
        ("d" * 63, "c" * (255 - 64), "collection"),
    ],
)
def test_names_the_writer_accepts(db: str, coll: str, kind: str) -> None:
    out, w = new()
    w.add_collection(db, coll, type=kind).write({"i": 1})
    w.close()
    with mongoarchive.open(io.BytesIO(out.getvalue())) as a:
        assert [s.documents for s in a.validate().values()] == [1]


def test_a_refused_declaration_leaves_the_writer_usable() -> None:
    out, w = new()
    w.add_collection("d", "X", type="timeseries")
    with pytest.raises(UsageError):
        w.add_collection("d", "system.buckets.X")
    w.writer_for("d.X").write({"t": 1})
    w.close()
    with mongoarchive.open(io.BytesIO(out.getvalue())) as a:
        assert {str(ns): s.documents for ns, s in a.validate().items()} == {"d.system.buckets.X": 1}


def test_metadata_mapping_is_encoded_as_mongodump_does() -> None:
    """A real mongodump metadata.json (dirs/coll_with_index) is reproduced from its mapping (§3.2)."""
    real = SHARED / "dirs" / "coll_with_index" / "test" / "foo.metadata.json"
    if not real.is_file():
        pytest.skip(f"real dumps not found at {SHARED}")
    _, w = new()
    c = w.add_collection(
        "test",
        "foo",
        metadata={
            "indexes": [
                SON([("v", 2), ("key", SON([("_id", 1)])), ("name", "_id_")]),
                SON([("v", 2), ("key", SON([("f", 1.0)])), ("name", "f_1")]),
            ],
            "uuid": "0679db720f4944de90ae27472664e94a",
        },
        type="",
    )
    assert c.entry.metadata == real.read_text(encoding="utf-8")


def test_metadata_mapping_key_order_options_and_type() -> None:
    """Keys come out in mongodump's order whatever the mapping's; empty options are left out."""
    _, w = new()
    a = w.add_collection(
        "d",
        "a",
        metadata={"type": "collection", "uuid": "0" * 32, "indexes": [], "options": {"capped": True}},
    )
    b = w.add_collection("d", "b", metadata={"options": {}, "indexes": []}, type="view")
    assert a.entry.metadata == (
        '{"options":{"capped":true},"indexes":[],"uuid":"' + "0" * 32 + '",'
        '"collectionName":"a","type":"collection"}'
    )
    assert b.entry.metadata == '{"indexes":[],"collectionName":"b","type":"view"}'


def test_metadata_text_is_kept_as_given() -> None:
    _, w = new()
    text = '{"options":{},"indexes":[{"v":2,"key":{"_id":1},"name":"_id_","ns":"test.bar"}]}'
    assert w.add_collection("test", "bar", metadata=text, type="").entry.metadata == text


def test_validate_refuses_framed_but_invalid_bson() -> None:
    """Framing is always checked; with validate=True the content is decoded too."""
    broken = b"\x0c\x00\x00\x00\x02a\x00\xff\xff\xff\x7f\x00"  # a string longer than the document
    assert len(broken) == 12
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.1") as w:
        c = w.add_collection("d", "c")
        c.write(broken)  # framing is right: accepted without validate
    strict = mongoarchive.open(io.BytesIO(), "w", server_version="7.0.1", validate=True)
    c = strict.add_collection("d", "c")
    for call in (c.write, c.write_batch, lambda raw: c.write(RawBSONDocument(raw))):
        with pytest.raises(DocumentError, match="not valid BSON"):
            call(broken)
    assert c.documents == 0
    c.write({"ok": 1})
    c.write_batch(bson.encode({"ok": 2}) + bson.encode({"ok": 3}))
    assert c.documents == 3
    strict.close()


def test_add_collection_looks_at_no_other_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Declaring a namespace is a few dict lookups, not a walk over the ones declared before."""
    calls = [0]
    original = mongoarchive.NamespaceWriter.documents

    def counting(self: mongoarchive.NamespaceWriter) -> int:
        calls[0] += 1
        return original.fget(self)  # type: ignore[no-any-return, misc]

    monkeypatch.setattr(mongoarchive.NamespaceWriter, "documents", property(counting))
    _, w = new()
    for i in range(300):
        w.add_collection("d", f"c{i}")
    assert calls[0] == 0


def test_timeseries_naming_follows_server_version_exactly() -> None:
    """8.3.0-rc0 and 8.10.0 are 8.3 or later; 8.2.99 is not (checked against mongorestore 100.18)."""
    for server, buckets in [("8.2.99", True), ("8.3.0-rc0", False), ("8.10.0", False), ("10.0.0", False)]:
        _, w = new(server_version=server)
        ts = w.add_collection("d", "X", type="timeseries")
        assert (ts.ns.collection == "system.buckets.X") is buckets, server
        assert w.writer_for("d.X") is ts and w.writer_for(ts.ns) is ts


def test_abort_inside_a_with_block_leaves_nothing_and_raises_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.archive"
    with mongoarchive.open(target, "w", server_version="7.0.1") as w:
        w.add_collection("d", "a").write({"i": 1})
        w.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="aborted"):
        w.close()


def test_close_twice_is_harmless_and_abort_after_close_keeps_the_archive(tmp_path: Path) -> None:
    target = tmp_path / "out.archive"
    w = mongoarchive.open(target, "w", server_version="7.0.1")
    w.add_collection("d", "a").write({"i": 1})
    w.close()
    w.close()
    w.abort()
    with mongoarchive.open(target) as a:
        assert [s.documents for s in a.validate().values()] == [1]

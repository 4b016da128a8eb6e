"""The public reading API and every reader rule of spec/archive.md §6 (classes, codes, offsets)."""

from __future__ import annotations

import gzip
import io
import os
import sys
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from paths import SHARED_VECTORS

import mongoarchive
from mongoarchive import (
    ChecksumError,
    Document,
    FramingError,
    HeaderError,
    MongoArchiveError,
    Namespace,
    NamespaceEnd,
    NamespaceError,
    NotAnArchiveError,
    Segment,
    TrailingDataError,
    TruncatedError,
    UsageError,
)
from mongoarchive._crc import crc64_pure, to_int64

MAGIC = b"\x6d\xe2\x99\x81"
TERM = b"\xff\xff\xff\xff"
D1 = bson.encode({"_id": 1, "x": "a"})
D2 = bson.encode({"_id": 2, "y": [1, 2.5, None]})


def header(**extra: Any) -> bytes:
    doc: dict[str, Any] = {
        "concurrent_collections": 4,
        "version": "0.1",
        "server_version": "7.0.1",
        "tool_version": "100.9.4",
    }
    doc.update(extra)
    return bson.encode(doc)


def entry(db: str, coll: str, **extra: Any) -> bytes:
    doc: dict[str, Any] = {"db": db, "collection": coll, "metadata": "", "size": 0, "type": "collection"}
    doc.update(extra)
    return bson.encode(doc)


def nsh(db: str, coll: str, eof: bool = False, crc: Any = None, **extra: Any) -> bytes:
    """A namespace header; crc defaults to Int64(0)."""
    return bson.encode(
        {"db": db, "collection": coll, "EOF": eof, "CRC": Int64(0) if crc is None else crc, **extra}
    )


def block(head: bytes, *docs: bytes) -> bytes:
    return head + b"".join(docs) + TERM


def eof(db: str, coll: str, *docs: bytes) -> bytes:
    return block(nsh(db, coll, True, Int64(to_int64(crc64_pure(b"".join(docs))))))


def archive(entries: list[bytes], *blocks: bytes, head: bytes | None = None) -> bytes:
    return MAGIC + (head or header()) + b"".join(entries) + TERM + b"".join(blocks)


GOOD = archive(
    [entry("d", "a"), entry("d", "b")],
    block(nsh("d", "a"), D1),
    block(nsh("d", "b"), D2),
    block(nsh("d", "a"), D2),
    eof("d", "a", D1, D2),
    eof("d", "b", D2),
)


def read(data: bytes, mode: str = "r") -> list[Any]:
    with mongoarchive.open(io.BytesIO(data), mode) as a:  # type: ignore[call-overload]
        return list(a.events())


def test_events_and_offsets() -> None:
    events = read(GOOD)
    a, b = Namespace("d", "a"), Namespace("d", "b")
    kinds = [(type(e).__name__, e.ns) for e in events]
    assert kinds == [
        ("Segment", a),
        ("Document", a),
        ("Segment", b),
        ("Document", b),
        ("Segment", a),
        ("Document", a),
        ("NamespaceEnd", a),
        ("NamespaceEnd", b),
    ]
    for ev in events:
        if isinstance(ev, Document):
            assert GOOD[ev.offset : ev.offset + len(ev.raw)] == ev.raw
        else:
            assert GOOD[ev.offset : ev.offset + 4] in (nsh(*ev.ns)[:4], nsh(*ev.ns, True)[:4])
    ends = [e for e in events if isinstance(e, NamespaceEnd)]
    assert ends[0].crc == crc64_pure(D1 + D2)
    assert ends[1].crc == crc64_pure(D2)


def test_header_collections_and_summaries() -> None:
    with mongoarchive.open(io.BytesIO(GOOD)) as a:
        assert a.header.server_version == "7.0.1"
        assert a.header.concurrent_collections == 4
        assert [c.namespace for c in a.collections] == [Namespace("d", "a"), Namespace("d", "b")]
        assert a.gzip is False
        result = a.validate()
        assert a.finished
    sa = result[Namespace("d", "a")]
    assert (sa.documents, sa.bytes, sa.segments, sa.crc) == (2, len(D1) + len(D2), 2, "ok")
    assert result[Namespace("d", "b")].segments == 1


@pytest.mark.parametrize("mode", ["r", "r:gz"])
def test_gzip_sniffed_and_forced(mode: str) -> None:
    with mongoarchive.open(io.BytesIO(gzip.compress(GOOD)), mode) as a:  # type: ignore[call-overload]
        assert a.gzip is True
        assert [raw for _, raw in a.documents()] == [D1, D2, D2]


def test_plain_mode_does_not_sniff() -> None:
    with pytest.raises(NotAnArchiveError) as err:
        mongoarchive.open(io.BytesIO(gzip.compress(GOOD)), "r:")
    assert err.value.hint is not None and "gzip" in err.value.hint
    assert err.value.offset == 0


def test_open_path_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.archive"
    path.write_bytes(GOOD)
    with mongoarchive.open(path) as a:
        assert len(list(a.documents())) == 3
    with mongoarchive.open(str(path)) as a:
        assert len(list(a.documents())) == 3
    r, w = os.pipe()
    os.write(w, GOOD)
    os.close(w)
    with os.fdopen(r, "rb", buffering=0) as pipe:

        class Stdin:
            buffer = pipe

        monkeypatch.setattr(sys, "stdin", Stdin())
        with mongoarchive.open("-") as a:
            assert a.name == "<stdin>"
            assert [raw for _, raw in a.documents()] == [D1, D2, D2]


def test_open_missing_path(tmp_path: Path) -> None:
    with pytest.raises(mongoarchive.ArchiveIOError):
        mongoarchive.open(tmp_path / "nope.archive")


def test_open_bad_mode() -> None:
    with pytest.raises(UsageError):
        mongoarchive.open(io.BytesIO(GOOD), "rw")  # type: ignore[call-overload]


def test_document_forms() -> None:
    with mongoarchive.open(io.BytesIO(GOOD)) as a:
        raws = list(a.documents("raw"))
    assert all(isinstance(d, RawBSONDocument) for _, d in raws)
    assert [bytes(d.raw) for _, d in raws] == [D1, D2, D2]
    with mongoarchive.open(io.BytesIO(GOOD)) as a:
        dicts = list(a.documents("dict"))
    assert dicts[0] == (Namespace("d", "a"), {"_id": 1, "x": "a"})
    assert dicts[1][1]["y"] == [1, 2.5, None]
    with mongoarchive.open(io.BytesIO(GOOD)) as a, pytest.raises(UsageError):
        list(a.documents("json"))  # type: ignore[arg-type]


def test_body_read_twice_is_usage_error() -> None:
    with mongoarchive.open(io.BytesIO(GOOD)) as a:
        list(a.events())
        with pytest.raises(UsageError):
            list(a.documents())
        with pytest.raises(UsageError):
            a.validate()


def test_demultiplex_mapping_and_factory() -> None:
    class Sink:
        def __init__(self) -> None:
            self.docs: list[bytes] = []
            self.ended = 0

        def write(self, raw: bytes) -> None:
            self.docs.append(raw)

        def end(self) -> None:
            self.ended += 1

    a_sink, b_sink = Sink(), Sink()
    with mongoarchive.open(io.BytesIO(GOOD)) as a:
        a.demultiplex({Namespace("d", "a"): a_sink, "d.b": b_sink})
    assert (a_sink.docs, a_sink.ended) == ([D1, D2], 1)
    assert (b_sink.docs, b_sink.ended) == ([D2], 1)
    made: list[Namespace] = []
    only_b = Sink()

    def factory(ns: Namespace) -> Sink | None:
        made.append(ns)
        return only_b if ns.collection == "b" else None

    with mongoarchive.open(io.BytesIO(GOOD)) as a:
        a.demultiplex(factory)
    assert made == [Namespace("d", "a"), Namespace("d", "b")]
    assert only_b.docs == [D2]


def test_demultiplex_does_not_end_on_crc_mismatch() -> None:
    bad = archive([entry("d", "a")], block(nsh("d", "a"), D1), eof("d", "a", D2))
    ended: list[bool] = []

    class Sink:
        def write(self, raw: bytes) -> None:
            pass

        def end(self) -> None:
            ended.append(True)

    with mongoarchive.open(io.BytesIO(bad)) as a, pytest.raises(ChecksumError):
        a.demultiplex(lambda ns: Sink())
    assert ended == []


# -- §6: every rule, its class, code, offset and namespace ----------------------------------------
PRE = MAGIC + header() + entry("d", "a") + TERM
BODY = len(PRE)  # offset of the first block


def case(*blocks: bytes, entries: list[bytes] | None = None) -> bytes:
    return archive(entries if entries is not None else [entry("d", "a")], *blocks)


RULES: list[tuple[str, bytes, type, str, int | None, str | None]] = [
    ("bad magic", b"\x00\x01\x02\x03" + GOOD[4:], NotAnArchiveError, "bad-magic", 0, None),
    ("empty stream", b"", TruncatedError, "truncated", 0, None),
    ("magic only", MAGIC, TruncatedError, "truncated", 4, None),
    ("terminator as header", MAGIC + TERM, FramingError, "consecutive-terminators", 4, None),
    (
        "header field of another type",
        MAGIC + header(version=1) + TERM,
        HeaderError,
        "bad-header",
        4,
        None,
    ),
    (
        "header mistyped field",
        MAGIC + header(concurrent_collections="4") + TERM,
        HeaderError,
        "bad-header",
        4,
        None,
    ),
    (
        "prelude bad length",
        MAGIC + header() + b"\x04\x00\x00\x00",
        FramingError,
        "bad-length",
        4 + len(header()),
        None,
    ),
    (
        "consecutive terminators",
        case(block(nsh("d", "a"), D1), TERM),
        FramingError,
        "consecutive-terminators",
        BODY + len(nsh("d", "a")) + len(D1) + 4,
        None,
    ),
    ("empty collection", case(block(nsh("d", ""))), NamespaceError, "bad-namespace", BODY, "d."),
    (
        "undeclared namespace",
        case(block(nsh("d", "zz"))),
        NamespaceError,
        "undeclared-namespace",
        BODY,
        "d.zz",
    ),
    (
        "reopened namespace",
        case(eof("d", "a"), block(nsh("d", "a"))),
        TrailingDataError,
        "trailing-data",
        BODY + len(nsh("d", "a", True)) + 4,
        None,
    ),
    (
        "reopened before the end",
        case(eof("d", "a"), block(nsh("d", "a")), entries=[entry("d", "a"), entry("d", "b")]),
        NamespaceError,
        "reopened-namespace",
        len(MAGIC + header() + entry("d", "a") + entry("d", "b") + TERM) + len(nsh("d", "a", True)) + 4,
        "d.a",
    ),
    (
        "data after EOF",
        case(block(nsh("d", "a", True), D1)),
        NamespaceError,
        "data-after-eof",
        BODY + len(nsh("d", "a", True)),
        "d.a",
    ),
    (
        "CRC mismatch",
        case(block(nsh("d", "a"), D1), eof("d", "a", D2)),
        ChecksumError,
        "crc-mismatch",
        BODY + len(nsh("d", "a")) + len(D1) + 4,
        "d.a",
    ),
    (
        "trailing data",
        case(eof("d", "a")) + b"garbage!",
        TrailingDataError,
        "trailing-data",
        BODY + len(nsh("d", "a", True)) + 4,
        None,
    ),
    (
        "unfinished namespace",
        case(block(nsh("d", "a"), D1)),
        TruncatedError,
        "unfinished-namespace",
        BODY + len(nsh("d", "a")) + len(D1) + 4,
        "d.a",
    ),
    ("unseen namespace", case(), TruncatedError, "unseen-namespace", BODY, "d.a"),
    (
        "truncated inside a document",
        case(block(nsh("d", "a"), D1))[:-6],
        TruncatedError,
        "truncated",
        BODY + len(nsh("d", "a")) + len(D1) - 2,
        "d.a",
    ),
    (
        "missing NUL",
        case(block(nsh("d", "a"), D1[:-1] + b"\x01")),
        FramingError,
        "missing-nul",
        BODY + len(nsh("d", "a")),
        "d.a",
    ),
    (
        "bad length in a block",
        case(block(nsh("d", "a"), b"\x01\x00\x00\x02" + D1)),
        FramingError,
        "bad-length",
        BODY + len(nsh("d", "a")),
        "d.a",
    ),
    (
        "namespace header not BSON",
        case(b"\x08\x00\x00\x00\x7f\x00\x00\x00" + TERM),
        HeaderError,
        "bad-header",
        BODY,
        None,
    ),
    (
        "EOF mistyped",
        case(block(nsh("d", "a", eof="yes"))),  # type: ignore[arg-type]
        HeaderError,
        "bad-header",
        BODY,
        "d.a",
    ),
]


@pytest.mark.parametrize(("name", "data", "cls", "code", "offset", "ns"), RULES, ids=[r[0] for r in RULES])
def test_reader_rule(
    name: str, data: bytes, cls: type, code: str, offset: int | None, ns: str | None
) -> None:
    with pytest.raises(cls) as err:
        read(data, "r:")
    assert type(err.value) is cls
    assert err.value.code == code
    assert err.value.offset == offset
    assert err.value.namespace == ns
    assert err.value.to_dict()["code"] == code


def test_eof_block_alone_is_accepted() -> None:
    events = read(case(eof("d", "a")))
    assert events == [NamespaceEnd(Namespace("d", "a"), 0, BODY)]


def test_empty_prelude_and_oplog_db() -> None:
    assert read(archive([])) == []
    data = archive([entry("", "oplog", type="")], block(nsh("", "oplog"), D1), eof("", "oplog", D1))
    assert [e.ns for e in read(data)] == [Namespace("", "oplog")] * 3


def test_timeseries_buckets_alias() -> None:
    data = archive(
        [entry("d", "ts", type="timeseries")],
        block(nsh("d", "system.buckets.ts"), D1),
        eof("d", "system.buckets.ts", D1),
    )
    with mongoarchive.open(io.BytesIO(data)) as a:
        summaries = a.validate()
    assert summaries[Namespace("d", "system.buckets.ts")].crc == "ok"


def test_warning_int32_crc() -> None:
    data = case(block(nsh("d", "a", True, 0)))
    with mongoarchive.open(io.BytesIO(data)) as a:
        a.validate()
        assert [w.code for w in a.warnings] == ["crc-not-int64"]
        assert a.warnings[0].namespace == "d.a"
        assert a.warnings[0].offset == BODY


def test_warning_unknown_keys() -> None:
    data = archive(
        [entry("d", "a", extra=1)],
        block(nsh("d", "a", True, Int64(0), color="red")),
        head=header(more=True),
    )
    with mongoarchive.open(io.BytesIO(data)) as a:
        a.validate()
        codes = [w.code for w in a.warnings]
    assert codes == ["ignored-field", "ignored-field", "unknown-field"]


def test_lenient_like_mongorestore_100_6() -> None:
    """What 100.6.1 reads (checked with its official reader) is read, with a warning (§3)."""
    body = block(nsh("d", "a", eof=0, crc=0.0), D1)  # type: ignore[arg-type]
    end = block(bson.encode({"db": "d", "collection": "a", "EOF": 1, "CRC": Int64(to_int64(crc64_pure(D1)))}))
    data = MAGIC + bson.encode({"version": "0.1"}) + entry("d", "a") + TERM + body + end
    with mongoarchive.open(io.BytesIO(data)) as a:
        summaries = a.validate()
        codes = [w.code for w in a.warnings]
        assert a.header == mongoarchive.ArchiveHeader(0, "0.1", "", "")
    assert summaries[Namespace("d", "a")].crc == "ok"
    assert codes == ["missing-field", "bad-server-version", "eof-not-bool", "crc-not-int64", "eof-not-bool"]


def test_warning_unknown_version() -> None:
    with mongoarchive.open(io.BytesIO(archive([], head=header(version="0.2")))) as a:
        assert [w.code for w in a.warnings] == ["unknown-version"]


def test_old_archive_without_type_field() -> None:
    old = bson.encode({"db": "d", "collection": "a", "metadata": "", "size": 0})
    with mongoarchive.open(io.BytesIO(archive([old], eof("d", "a")))) as a:
        assert a.collections[0].type is None
        a.validate()


def test_segment_event_offsets_point_at_headers() -> None:
    events = read(GOOD)
    segs = [e for e in events if isinstance(e, Segment)]
    assert segs[0].offset == len(MAGIC + header() + entry("d", "a") + entry("d", "b") + TERM)
    for s in segs:
        assert bson.decode(GOOD[s.offset : s.offset + len(nsh(*s.ns))])["collection"] == s.ns.collection


def test_real_mongodump_archive() -> None:
    path = SHARED_VECTORS / "test.bar.archive"
    if not path.exists():
        pytest.skip("real archives not present")
    with mongoarchive.open(path) as a:
        summaries = a.validate()
    assert summaries and all(s.crc == "ok" for s in summaries.values())


def test_is_archive(tmp_path: Path) -> None:
    assert mongoarchive.is_archive(io.BytesIO(GOOD))
    assert mongoarchive.is_archive(io.BytesIO(gzip.compress(GOOD)))
    assert not mongoarchive.is_archive(io.BytesIO(b"hello"))
    assert not mongoarchive.is_archive(tmp_path / "missing")


def _timeseries_archive(server: str, *blocks: bytes) -> bytes:
    return archive([entry("d", "X", type="timeseries")], *blocks, head=header(server_version=server))


BUCKETS = "system.buckets.X"
UNDECLARED = "undeclared-namespace"


@pytest.mark.parametrize(
    ("name", "blocks", "bad_at", "code"),
    [
        # data under system.buckets.X, its EOF block under X (CRC 0): the data's CRC is never checked
        ("eof under X", (block(nsh("d", BUCKETS), D1), block(nsh("d", "X", True, Int64(0)))), 1, UNDECLARED),
        (
            "split",
            (block(nsh("d", BUCKETS), D1), block(nsh("d", "X"), D2), eof("d", "X", D1, D2)),
            1,
            UNDECLARED,
        ),
        ("X first", (block(nsh("d", "X"), D1), eof("d", BUCKETS, D1)), 1, UNDECLARED),
        # X's data namespace has ended, so the archive has: anything after it is trailing (§6 rule 8)
        (
            "both ended",
            (block(nsh("d", BUCKETS), D1), eof("d", BUCKETS, D1), eof("d", "X")),
            2,
            "trailing-data",
        ),
    ],
)
def test_timeseries_data_and_eof_under_one_name(
    name: str, blocks: tuple[bytes, ...], bad_at: int, code: str
) -> None:
    """Every document is covered by the CRC of the EOF block of its own namespace (§5.4, §6)."""
    data = _timeseries_archive("7.0.0", *blocks)
    at = len(_timeseries_archive("7.0.0")) + sum(len(b) for b in blocks[:bad_at])
    with mongoarchive.open(io.BytesIO(data)) as a, pytest.raises(MongoArchiveError) as err:
        a.validate()
    assert err.value.code == code
    assert err.value.offset == at


def test_timeseries_naming_warning_follows_server_version() -> None:
    under_x = (block(nsh("d", "X"), D1), eof("d", "X", D1))
    under_buckets = (block(nsh("d", BUCKETS), D1), eof("d", BUCKETS, D1))
    expected = {
        ("7.0.0", "X"): ["viewless-timeseries-before-8.3"],
        ("7.0.0", "buckets"): [],
        ("8.3.0", "X"): ["viewless-timeseries"],
        ("8.3.0", "buckets"): ["bucketed-timeseries-from-8.3"],
    }
    for (server, naming), codes in expected.items():
        data = _timeseries_archive(server, *(under_x if naming == "X" else under_buckets))
        with mongoarchive.open(io.BytesIO(data)) as a:
            a.validate()
            assert [w.code for w in a.warnings] == codes, (server, naming)

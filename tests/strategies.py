"""Hypothesis strategies and helpers shared by the tests: BSON values, archive models, mutations.

An ``ArchiveModel`` describes what a writer is asked to do (collections, then
a plan of writes, forced flushes and closes across namespaces);
``write_model`` carries it out with ``ArchiveWriter`` and ``expected_events``
predicts, independently of the writer, the event stream a reader must see
(spec/archive.md §9: a new block only when the namespace changes).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from typing import Any

import bson
from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from hypothesis import strategies as st

import mongoarchive
from mongoarchive._crc import crc64_pure
from mongoarchive.model import Document, Namespace, NamespaceEnd, Segment

__all__ = [
    "ArchiveModel",
    "Op",
    "archive_models",
    "bson_documents",
    "bson_values",
    "collection_names",
    "db_names",
    "expected_documents",
    "expected_events",
    "mutations",
    "names",
    "read_all",
    "strip_offsets",
    "write_model",
]

# Any Unicode text except NUL (a C string terminator in BSON) and lone surrogates (not UTF-8).
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
#: A db or collection name: non-ASCII allowed, NUL never (spec §3.3).
names = st.text(_chars, min_size=1, max_size=8)
#: Names the writer accepts: no '$' in a collection, none of / \\ . space " $ in a database.
collection_names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00$"), min_size=1, max_size=8
)
db_names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters='\x00/\\. "$'), min_size=1, max_size=8
)
_keys = st.text(_chars, max_size=6)

_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(_chars, max_size=10),
    st.binary(min_size=12, max_size=12).map(ObjectId),
    st.integers(-(10**20), 10**20).map(lambda n: Decimal128(str(n))),
    st.sampled_from(["NaN", "-Infinity", "1.5E+10", "-0.000001", "0E-6176"]).map(Decimal128),
    st.builds(Binary, st.binary(max_size=16), st.sampled_from([0, 1, 2, 3, 4, 5, 6, 128])),
    st.builds(Regex, st.text(_chars, max_size=6), st.sampled_from(["", "i", "ms", "imsux"])),
    st.builds(Code, st.text(_chars, max_size=8)),
    st.builds(Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.just(MinKey()),
    st.just(MaxKey()),
    st.builds(DBRef, names, st.integers(0, 1000)),
    st.integers(-(2**63), 2**63 - 1).map(DatetimeMS),
)

#: Every BSON type the tools meet, nested in documents and arrays.
bson_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_keys, inner, max_size=3),
        st.builds(Code, st.text(_chars, max_size=4), st.dictionaries(_keys, inner, max_size=2)),
    ),
    max_leaves=6,
)

#: Small BSON documents as raw bytes.
bson_documents: st.SearchStrategy[bytes] = st.dictionaries(_keys, bson_values, max_size=4).map(
    lambda d: bson.encode(d)
)


@dataclasses.dataclass(frozen=True)
class Op:
    """One step of the plan: write ``doc`` to namespace ``index``, or force a flush, or close it."""

    kind: str  # "write", "flush" or "close"
    index: int
    doc: bytes = b""


@dataclasses.dataclass(frozen=True)
class ArchiveModel:
    """What to write: header fields, collections (db, collection, metadata, type) and the plan."""

    server_version: str
    tool_version: str
    concurrent_collections: int
    collections: tuple[tuple[str, str, str, str | None], ...]
    plan: tuple[Op, ...]

    @property
    def namespaces(self) -> list[Namespace]:
        return [Namespace(db, coll) for db, coll, _, _ in self.collections]


@st.composite
def archive_models(draw: st.DrawFn, max_namespaces: int = 4, max_docs: int = 5) -> ArchiveModel:
    """Random collections (the oplog's db "" included, non-ASCII names) and an interleaved plan."""
    pairs = draw(st.lists(st.tuples(db_names, collection_names), max_size=max_namespaces, unique=True))
    if pairs and draw(st.booleans()):
        pairs[draw(st.integers(0, len(pairs) - 1))] = ("", "oplog")  # §5.1
        pairs = list(dict.fromkeys(pairs))
    collections = tuple(
        (
            db,
            coll,
            draw(st.sampled_from(["", '{"indexes":[]}', '{"options":{},"indexes":[],"uuid":"00"}'])),
            draw(st.sampled_from(["", None] if db == "" else ["collection", "view", "", None])),
        )
        for db, coll in pairs
    )
    # Per namespace: writes with optional forced flushes, then maybe an explicit close.
    per_ns: list[list[Op]] = []
    for index in range(len(collections)):
        ops: list[Op] = []
        for doc in draw(st.lists(bson_documents, max_size=max_docs)):
            if draw(st.integers(0, 3)) == 0:
                ops.append(Op("flush", index))
            ops.append(Op("write", index, doc))
        if draw(st.booleans()):
            ops.append(Op("flush", index))
        if draw(st.booleans()):
            ops.append(Op("close", index))
        per_ns.append(ops)
    # A random merge of the per-namespace sequences, each kept in its own order.
    tokens = [i for i, ops in enumerate(per_ns) for _ in ops]
    order = draw(st.permutations(tokens)) if tokens else []
    cursors = [0] * len(per_ns)
    plan = []
    for i in order:
        plan.append(per_ns[i][cursors[i]])
        cursors[i] += 1
    return ArchiveModel(
        server_version=draw(st.sampled_from(["7.0.1", "8.3.0", "4.4.29", "8.0.0-rc1"])),
        tool_version=draw(st.text(_chars, max_size=10)),
        concurrent_collections=draw(st.integers(-(2**31), 2**31 - 1)),
        collections=collections,
        plan=tuple(plan),
    )


def write_model(model: ArchiveModel, dst: Any = None, *, gzip: bool = False) -> bytes:
    """Carry out ``model`` with ArchiveWriter; return the bytes written (to a BytesIO if dst is None)."""
    out = io.BytesIO() if dst is None else dst
    with mongoarchive.open(
        out,
        "w:gz" if gzip else "w",
        server_version=model.server_version,
        tool_version=model.tool_version,
        concurrent_collections=model.concurrent_collections,
    ) as writer:
        ns_writers = [
            writer.add_collection(db, coll, metadata=meta, type=kind)
            for db, coll, meta, kind in model.collections
        ]
        for op in model.plan:
            w = ns_writers[op.index]
            if op.kind == "write":
                w.write(op.doc)
            elif op.kind == "flush":
                w.flush()
            else:
                w.close()
    return out.getvalue() if isinstance(out, io.BytesIO) else b""


def expected_events(model: ArchiveModel) -> list[tuple[Any, ...]]:
    """The events (without offsets) a reader must see, from a model of mongodump's multiplexer (§9)."""
    nss = model.namespaces
    parts: list[list[bytes]] = [[] for _ in nss]
    sent = [False] * len(nss)
    closed = [False] * len(nss)
    data: list[list[bytes]] = [[] for _ in nss]
    out: list[tuple[Any, ...]] = []
    current: list[int | None] = [None]

    def flush(i: int) -> None:
        if current[0] != i:
            out.append(("segment", nss[i]))
            current[0] = i
        for doc in parts[i]:
            out.append(("document", nss[i], doc))
            data[i].append(doc)
        parts[i] = []
        sent[i] = True

    def close(i: int) -> None:
        if closed[i]:
            return
        if parts[i] or not sent[i]:
            flush(i)
        closed[i] = True
        out.append(("end", nss[i], crc64_pure(b"".join(data[i]))))
        current[0] = None

    for op in model.plan:
        if op.kind == "write":
            parts[op.index].append(op.doc)
        elif op.kind == "flush":
            flush(op.index)
        else:
            close(op.index)
    for i in range(len(nss)):
        close(i)
    return out


def expected_documents(model: ArchiveModel) -> dict[Namespace, list[bytes]]:
    """Each namespace's documents in write order."""
    docs: dict[Namespace, list[bytes]] = {ns: [] for ns in model.namespaces}
    for op in model.plan:
        if op.kind == "write":
            docs[model.namespaces[op.index]].append(op.doc)
    return docs


def strip_offsets(events: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Events as ("segment", ns) / ("document", ns, raw) / ("end", ns, crc) tuples."""
    out: list[tuple[Any, ...]] = []
    for ev in events:
        if isinstance(ev, Segment):
            out.append(("segment", ev.ns))
        elif isinstance(ev, Document):
            out.append(("document", ev.ns, ev.raw))
        elif isinstance(ev, NamespaceEnd):
            out.append(("end", ev.ns, ev.crc))
        else:
            raise AssertionError(f"unknown event {ev!r}")
    return out


def read_all(data: bytes, mode: str = "r:") -> tuple[Any, ...]:
    """(header, collections, events, summaries, warnings) from ArchiveReader, like read_reference."""
    with mongoarchive.open(io.BytesIO(data), mode) as reader:  # type: ignore[call-overload]
        events = list(reader.events())
        return reader.header, reader.collections, events, dict(reader.namespaces), list(reader.warnings)


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a random damage: byte flips, a truncation, an insertion or a deletion."""
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "length"]))
    n = len(data)
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, n - 1))
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    if kind == "truncate":
        return data[: draw(st.integers(0, n - 1))]
    if kind == "insert":
        i = draw(st.integers(0, n))
        return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]
    if kind == "delete":
        i = draw(st.integers(0, n - 1))
        return data[:i] + data[i + draw(st.integers(1, 8)) :]
    # Overwrite 4 bytes with an interesting int32 (a length field or a terminator).
    i = draw(st.integers(0, max(0, n - 4)))
    value = draw(st.sampled_from([-1, 0, 4, 5, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1, -2, 2**31 - 1]))
    return data[:i] + value.to_bytes(4, "little", signed=True) + data[i + 4 :]

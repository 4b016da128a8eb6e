"""Strategies for whole archives: models, their bytes, and what the official mongodump writes (§3-§9)."""

from __future__ import annotations

import gzip as gzip_module
from typing import Any

from hypothesis import strategies as st

from ..writer import uses_buckets
from ._bson import TEXT_CHARS, bson_documents, documents
from ._metadata import collection_metadata
from ._model import ArchiveModel, Entry, Op, write_model
from ._names import namespaces

__all__ = ["archive_models", "archives", "mongodump_like"]

#: Server versions on both sides of 8.3 (where timeseries data changes namespace, §5.4).
SERVER_VERSIONS = ("4.4.29", "6.0.19", "7.0.1", "8.0.0-rc1", "8.2.1", "8.3.0", "9.0.0+build")
_PRE_83 = tuple(v for v in SERVER_VERSIONS if uses_buckets(v))


def _interleave(draw: st.DrawFn, per_ns: list[list[Op]], interleave: bool) -> list[Op]:
    """A random merge of the per-namespace sequences, each kept in its own order."""
    if not interleave:
        return [op for ops in per_ns for op in ops]
    tokens = [i for i, ops in enumerate(per_ns) for _ in ops]
    order = draw(st.permutations(tokens)) if tokens else []
    cursors = [0] * len(per_ns)
    plan = []
    for i in order:
        plan.append(per_ns[i][cursors[i]])
        cursors[i] += 1
    return plan


def _claims(db: str, coll: str, kind: str | None) -> set[tuple[str, str]]:
    return {(db, coll), (db, "system.buckets." + coll)} if kind == "timeseries" else {(db, coll)}


@st.composite
def archive_models(
    draw: st.DrawFn,
    max_namespaces: int = 4,
    max_docs: int = 5,
    *,
    docs: st.SearchStrategy[bytes] = bson_documents,
    interleave: bool = True,
    special: bool = True,
    timeseries: bool = True,
    tolerated: bool = True,
    bare_eof: bool = True,
    server_versions: tuple[str, ...] = SERVER_VERSIONS,
) -> ArchiveModel:
    """Any archive our writer can write: every namespace kind, interleaved blocks, odd namespaces.

    Namespaces may be empty (an empty block then EOF, or an EOF block alone);
    ``special`` adds the oplog and users/roles, ``timeseries`` timeseries
    collections (their data under ``system.buckets.X`` before 8.3, §5.4), and
    ``tolerated`` what other writers produce: entries without ``type`` and
    extra prelude fields (§3.1, §3.2); ``bare_eof`` EOF blocks with no data block before them (§5.5).
    """
    kinds = ["collection", "view", *(["timeseries"] if timeseries else []), *([None] if tolerated else [])]
    entries: list[Entry] = []
    claimed: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(0, max_namespaces))):
        db, coll = draw(namespaces(special=special, timeseries=timeseries))
        kind = "" if db == "" or coll.startswith("$") else draw(st.sampled_from(kinds))
        if claimed & _claims(db, coll, kind):
            continue
        claimed |= _claims(db, coll, kind)
        meta = draw(st.one_of(st.just(""), collection_metadata(kind, coll)))
        entries.append((db, coll, meta, kind))
    per_ns: list[list[Op]] = []
    for index in range(len(entries)):
        ops: list[Op] = []
        for doc in draw(st.lists(docs, max_size=max_docs)):
            if draw(st.integers(0, 3)) == 0:
                ops.append(Op("flush", index))
            ops.append(Op("write", index, doc))
        if draw(st.booleans()):
            ops.append(Op("flush", index))
        if draw(st.booleans()):
            ops.append(Op(draw(st.sampled_from(["close", "end"] if bare_eof else ["close"])), index))
        per_ns.append(ops)
    extra: dict[str, Any] = {}
    if tolerated and draw(st.integers(0, 3)) == 0:
        extra = {
            "header_extra": (("writer", draw(st.text(TEXT_CHARS, max_size=6))),),
            "entry_extra": draw(st.sampled_from([(), (("comment", "x"),)])),
        }
    return ArchiveModel(
        server_version=draw(st.sampled_from(server_versions)),
        tool_version=draw(st.text(TEXT_CHARS, max_size=10)),
        concurrent_collections=draw(st.integers(-(2**31), 2**31 - 1)),
        collections=tuple(entries),
        plan=tuple(_interleave(draw, per_ns, interleave)),
        **extra,
    )


@st.composite
def archives(
    draw: st.DrawFn,
    *,
    gzip: bool | None = False,
    interleave: bool = True,
    max_namespaces: int = 4,
    max_docs: int = 5,
    max_document_bytes: int | None = None,
    models: st.SearchStrategy[ArchiveModel] | None = None,
) -> tuple[ArchiveModel, bytes]:
    """(model, bytes) written by our writer; ``gzip=None`` draws plain or gzip (§10)."""
    docs = bson_documents if max_document_bytes is None else documents(max_bytes=max_document_bytes)
    model = draw(
        models
        if models is not None
        else archive_models(max_namespaces, max_docs, docs=docs, interleave=interleave)
    )
    compress = draw(st.booleans()) if gzip is None else gzip
    return model, write_model(model, gzip=compress)


@st.composite
def mongodump_like(
    draw: st.DrawFn,
    *,
    max_collections: int = 4,
    max_docs: int = 6,
    gzip: bool = False,
    server_versions: tuple[str, ...] = (*_PRE_83, "8.3.0"),
) -> tuple[ArchiveModel, bytes]:
    """(model, bytes) of an archive the official mongodump could have written.

    Its header (version "0.1", a 100.x tool version, X.Y.Z server), entries
    with a ``type`` and mongodump's metadata, collections in pieces, views
    without data, timeseries (no ``system.views`` entry: mongodump skips it), users and roles,
    and the oplog last; every namespace gets a data block, then its EOF (§3, §5, §9).
    """
    server = draw(st.sampled_from(server_versions))
    entries: list[Entry] = []
    claimed: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(0, max_collections))):
        db, coll = draw(namespaces(special=False, timeseries=True))
        if coll.startswith("system."):
            continue
        kind = draw(st.sampled_from(["collection", "collection", "view", "timeseries"]))
        if claimed & _claims(db, coll, kind):
            continue
        claimed |= _claims(db, coll, kind)
        # No D.system.views beside views and timeseries: mongodump skips D.system.* (§5.3).
        entries.append((db, coll, draw(collection_metadata(kind, coll)), kind))
    if entries and draw(st.integers(0, 4)) == 0:
        db = entries[0][0]
        for name in ("$admin.system.users", "$admin.system.roles", "$admin.system.version"):
            if db != "admin":
                entries.append((db, name, "", ""))
    oplog = draw(st.booleans())
    if oplog:
        entries.append(("", "oplog", "", ""))
    per_ns: list[list[Op]] = []
    for index, entry in enumerate(entries):
        ops: list[Op] = []
        if entry[3] != "view":
            for doc in draw(st.lists(bson_documents, max_size=max_docs)):
                ops.append(Op("write", index, doc))
                if draw(st.integers(0, 3)) == 0:
                    ops.append(Op("flush", index))  # mongodump hands over at most 16 MiB at a time
        ops.append(Op("close", index))
        per_ns.append(ops)
    # Collections are dumped in parallel (their blocks interleave); the oplog comes after all.
    tail = per_ns.pop() if oplog else []
    plan = _interleave(draw, per_ns, True) + tail
    model = ArchiveModel(
        server_version=server,
        tool_version=draw(st.sampled_from(["100.6.1", "100.9.4", "100.18.0"])),
        concurrent_collections=draw(st.sampled_from([1, 4, 8])),
        collections=tuple(entries),
        plan=tuple(plan),
    )
    data = write_model(model)
    return model, gzip_module.compress(data, mtime=0) if gzip else data

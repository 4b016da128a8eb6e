"""Rewrite an archive without a server: reader -> transforms -> block writer, in one pass.

Transforms compose in this order: namespace selection (mongorestore's
``--nsInclude``/``--nsExclude``), renaming (``--nsFrom``/``--nsTo``), metadata
edits, then the document function and the query.  Output follows the input
block by block (spec/archive.md §2): a namespace whose documents are not
touched keeps its blocks, header bytes and stored CRC exactly, so a rewrite
without transforms is byte-identical to its input; a namespace whose
documents change gets blocks the way mongodump's multiplexer makes them (a
header only when the namespace changes, §9) and a recomputed CRC (§4).
Blocks that become adjacent because a block between them was dropped are
merged, as the multiplexer would have written them.  Memory stays bounded: one
document and the reader's read-ahead.

The header and prelude entries that do not change are copied as read, so the
reader's source is wrapped to keep the bytes of the current position (the
public reader yields the parsed values only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import bson
from bson import json_util
from bson.codec_options import CodecOptions
from bson.int64 import Int64
from bson.json_util import CANONICAL_JSON_OPTIONS
from bson.son import SON

from ._crc import crc64, to_int64
from ._framing import split_run
from ._io import Source, open_source
from ._sink import gzip_level as resolve_gzip_level
from ._sink import open_sink
from .errors import DocumentError, MongoArchiveError, NamespaceError, UsageError
from .model import CollectionEntry, Namespace, NamespaceEnd, Segment
from .nsfilter import NamespaceFilter
from .nsrename import Renamer, escape_pattern
from .reader import ArchiveReader
from .writer import encode_document

__all__ = [
    "DocumentFn",
    "MetadataFn",
    "Renamer",
    "RewriteResult",
    "drop_indexes",
    "escape_pattern",
    "rewrite",
]

#: Gets a document's namespace in the input and its BSON bytes; returns new bytes or None (drop it).
DocumentFn = Callable[[Namespace, bytes], "bytes | Mapping[str, Any] | None"]
#: Gets the input namespace and the parsed metadata (options, indexes...); returns the new metadata.
MetadataFn = Callable[[Namespace, dict[str, Any]], dict[str, Any]]

OPLOG = Namespace("", "oplog")
MAGIC = b"\x6d\xe2\x99\x81"
TERMINATOR = b"\xff\xff\xff\xff"
_BUCKETS = "system.buckets."
_SON: CodecOptions[Any] = CodecOptions(document_class=SON)


def _split(name: str) -> Namespace:
    db, _, coll = name.partition(".")
    return Namespace(db, coll)


# -- metadata edits ----------------------------------------------------------------
def drop_indexes(
    names: Mapping[Namespace, set[str]] | None = None, *, all_but_id: bool = False
) -> MetadataFn:
    """A MetadataFn that removes indexes: every one but ``_id_``, or those named per namespace."""

    def edit(ns: Namespace, meta: dict[str, Any]) -> dict[str, Any]:
        drop = (names or {}).get(ns, set())
        indexes = meta.get("indexes")
        if isinstance(indexes, list):
            meta["indexes"] = [
                i
                for i in indexes
                if not (
                    isinstance(i, Mapping)
                    and ((all_but_id and i.get("name") != "_id_") or i.get("name") in drop)
                )
            ]
        return meta

    return edit


def _dump_metadata(meta: dict[str, Any]) -> str:
    # mongodump writes canonical Extended JSON v2 without spaces (§3.2).
    return json_util.dumps(meta, json_options=CANONICAL_JSON_OPTIONS, separators=(",", ":"))


# -- reading with the raw bytes at hand ----------------------------------------------
class _Tap:
    """A reader source that keeps the bytes of the prelude, to copy its parts as they are.

    Only the prelude: ``stop`` ends the keeping once it is read (copying every
    byte of the body would cost as much as reading it); the body's headers come
    from the reader (``ArchiveReader._last_header``).
    """

    def __init__(self, source: Source) -> None:
        self._source = source
        self.gzip = source.gzip
        self.name = source.name
        self.buf = bytearray()
        self.keeping = True

    def readinto(self, view: memoryview) -> int:
        n = self._source.readinto(view)
        if self.keeping:
            self.buf += view[:n]
        return n

    def stop(self) -> None:
        """Keep what was read so far (the prelude and some read-ahead), and no more."""
        self.keeping = False

    def take(self, offset: int) -> bytes:
        """The length-prefixed document at stream ``offset`` (in the prelude)."""
        size = int.from_bytes(self.buf[offset : offset + 4], "little")
        return bytes(self.buf[offset : offset + size])

    def read_rest(self, n: int = -1) -> bytes:
        """Read on from the source without keeping the bytes (what follows the archive)."""
        if n >= 0:
            buf = bytearray(n)
            got = self._source.readinto(memoryview(buf))
            return bytes(buf[:got])
        parts = []
        while chunk := self.read_rest(1024 * 1024):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        self._source.close()


# -- the plan: what each input namespace becomes ---------------------------------------
@dataclasses.dataclass(slots=True)
class _Plan:
    entry: CollectionEntry
    out: Namespace
    out_data: Namespace  # the output's data namespace (system.buckets.X for timeseries, §5.4)
    documents_change: bool
    raw_entry: bytes | None  # None: the entry is rebuilt
    metadata: str
    written: int = 0  # blocks written for it
    sink: _Blocks | None = None  # the output it goes to

    def route(self, data_ns: Namespace) -> bool:
        """Set ``out_data`` for input data namespace ``data_ns``; True if its header changes."""
        if data_ns != self.entry.namespace:
            self.out_data = Namespace(self.out.db, _BUCKETS + self.out.collection)
        return self.out_data != data_ns

    crc: int = 0
    documents: int = 0
    bytes: int = 0


@dataclasses.dataclass(slots=True)
class RewriteResult:
    """Per output namespace: (input namespace, documents, bytes, CRC); what was dropped."""

    output: str
    namespaces: list[tuple[Namespace, Namespace, int, int, int]]
    dropped: list[Namespace]
    documents_dropped: int

    def to_dict(self) -> dict[str, object]:
        return {
            "output": self.output,
            "namespaces": [
                {"from": str(src), "to": str(dst), "documents": n, "bytes": b, "crc": crc}
                for src, dst, n, b, crc in self.namespaces
            ],
            "dropped": [str(ns) for ns in self.dropped],
            "documents_dropped": self.documents_dropped,
        }


def _check_patterns(patterns: Iterable[str], what: str) -> list[str]:
    out = list(patterns)
    for pattern in out:
        if "$" in pattern:
            # mongorestore refuses '$' in include/exclude patterns.
            raise UsageError(f"{what} {pattern!r}: '$' is not allowed in include/exclude patterns")
    return out


def _plans(
    archive: ArchiveReader,
    tap: _Tap,
    select: NamespaceFilter,
    rename: Renamer,
    metadata: MetadataFn | None,
    documents_change: Callable[[Namespace], bool],
    keep_oplog: bool,
    outputs: dict[Namespace, str],
    origin: str = "",
) -> tuple[dict[Namespace, _Plan | None], list[_Plan], list[Namespace]]:
    """What each namespace of ``archive`` becomes; ``outputs`` (output -> source) is shared across inputs."""
    by_data: dict[Namespace, _Plan | None] = {}
    kept: list[_Plan] = []
    dropped: list[Namespace] = []
    for entry in archive.collections:
        ns = entry.namespace
        names = [ns]
        if entry.type == "timeseries":
            names.append(Namespace(ns.db, _BUCKETS + ns.collection))  # §5.4
        if ns == OPLOG:
            # mongorestore keeps the oplog out of namespace matching and renaming (§5.1).
            keep = keep_oplog
            out = ns
        else:
            keep = select(ns) and entry.collection != "system.profile"
            out = _split(rename(str(ns))) if rename else ns
            if keep and out != ns and (not out.db or not out.collection):
                raise NamespaceError(
                    f"the rename gives {str(out)!r}, which is not db.collection",
                    offset=entry.offset,
                    namespace=str(ns),
                    code="bad-rename",
                    hint="--nsTo must name a database and a collection",
                )
        if not keep:
            dropped.append(ns)
            for name in names:
                by_data[name] = None
            continue
        for claimed in {out, Namespace(out.db, _BUCKETS + out.collection)} if len(names) > 1 else {out}:
            if claimed in outputs:
                raise NamespaceError(
                    f"{outputs[claimed]!r} and {origin + str(ns)!r} would both become {str(claimed)!r}",
                    offset=entry.offset,
                    namespace=str(ns),
                    code="rename-collision",
                    hint="map every namespace to a name of its own (check --nsFrom/--nsTo)",
                )
            outputs[claimed] = origin + str(ns)
        text = entry.metadata
        if text and (metadata is not None or out != ns):
            meta = entry.parse_metadata().raw
            before = _dump_metadata(meta)
            if out != ns:
                _rename_metadata(meta, ns, out)
            if metadata is not None:
                meta = metadata(ns, meta)
            after = _dump_metadata(meta)
            if after != before:
                text = after
        raw = tap.take(entry.offset) if entry.offset is not None else None
        if out != ns or text != entry.metadata:
            raw = None
        plan = _Plan(entry, out, out, documents_change(ns), raw, text)
        for name in names:
            by_data[name] = plan
        kept.append(plan)
    return by_data, kept, dropped


def _rename_metadata(meta: dict[str, Any], old: Namespace, new: Namespace) -> None:
    # mongodump records the collection's name, and old servers each index's "ns" (§3.2).
    if meta.get("collectionName") == old.collection:
        meta["collectionName"] = new.collection
    for index in meta.get("indexes") or []:
        if isinstance(index, dict) and index.get("ns") == str(old):
            index["ns"] = str(new)


def _entry_bytes(plan: _Plan, tap: _Tap) -> bytes:
    if plan.raw_entry is not None:
        return plan.raw_entry
    entry = plan.entry
    doc: SON[str, Any]
    if entry.offset is not None:
        doc = bson.decode(tap.take(entry.offset), _SON)  # keeps extra fields and their types
    else:
        doc = SON([("db", ""), ("collection", ""), ("metadata", ""), ("size", entry.size)])
        if entry.type is not None:
            doc["type"] = entry.type
    doc["db"], doc["collection"], doc["metadata"] = plan.out.db, plan.out.collection, plan.metadata
    return bson.encode(doc)


def _namespace_header(ns: Namespace, eof: bool, crc: int) -> bytes:
    # §3.3: db, collection, EOF, CRC as int64, in this order.
    return bson.encode(
        SON([("db", ns.db), ("collection", ns.collection), ("EOF", eof), ("CRC", Int64(to_int64(crc)))])
    )


class _Blocks:
    """The one place that writes framing bytes (spec §2): blocks opened, continued and closed."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.open: Namespace | None = None  # the data block being written
        self.last = -1  # the input block (by number) written last

    def data_block(self, ns: Namespace, header: bytes, block: int) -> None:
        self.sink.write(header if self.open is None else TERMINATOR + header)
        self.open = ns
        self.last = block

    def documents(self, raw: bytes) -> None:
        self.sink.write(raw)

    def eof_block(self, header: bytes, block: int) -> None:
        self.sink.write((header if self.open is None else TERMINATOR + header) + TERMINATOR)
        self.open = None
        self.last = block


def rewrite(
    src: Any,
    dst: Any,
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    rename: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    documents: DocumentFn | None = None,
    query: Callable[[bytes], bool] | None = None,
    query_namespaces: Callable[[Namespace], bool] | None = None,
    metadata: MetadataFn | None = None,
    keep_oplog: bool = True,
    gzip: bool | None = None,
    gzip_level: int | None = None,
) -> RewriteResult:
    """Copy archive ``src`` to ``dst`` (paths, file objects or "-") through the transforms.

    ``include``/``exclude`` are mongorestore patterns, ``rename`` maps
    ``--nsFrom`` to ``--nsTo`` patterns (later pairs win), ``documents`` may
    replace or drop (None) each document, ``query`` keeps the documents it is
    true for (in the namespaces ``query_namespaces`` selects, default all but
    the oplog), ``metadata`` edits each kept namespace's parsed metadata.
    ``gzip`` defaults to the input's compression, ``gzip_level`` (0 to 3) to 1.  Every error is raised
    before the output is committed: a path output is never left half written.
    """
    level = resolve_gzip_level(gzip_level)
    pairs = list(rename.items()) if isinstance(rename, Mapping) else list(rename)
    renamer = Renamer(pairs)
    select = NamespaceFilter(_check_patterns(include, "--nsInclude"), _check_patterns(exclude, "--nsExclude"))
    query_in = query_namespaces or (lambda ns: ns != OPLOG)

    def changes(ns: Namespace) -> bool:
        return documents is not None or (query is not None and query_in(ns))

    tap, archive = open_input(src)
    try:
        by_data, kept, dropped = _plans(archive, tap, select, renamer, metadata, changes, keep_oplog, {})
        sink = open_sink(dst, gzip=archive.gzip if gzip is None else gzip, level=level)
        try:
            blocks = _Blocks(sink)
            for plan in kept:
                plan.sink = blocks
            sink.write(prelude_bytes(tap, kept))
            dropped_docs = _body(archive, by_data, documents, query, query_in)
            sink.commit()
        except BaseException:
            sink.abort()
            raise
    finally:
        archive.close()
    name = dst if isinstance(dst, str) else str(getattr(dst, "name", "<stream>"))
    rows = [(p.entry.namespace, p.out, p.documents, p.bytes, p.crc) for p in kept]
    return RewriteResult(name, rows, dropped, dropped_docs)


def open_input(src: Any) -> tuple[_Tap, ArchiveReader]:
    """A reader of ``src`` whose source keeps the bytes needed to copy headers."""
    tap = _Tap(open_source(src))
    archive = ArchiveReader(cast(Source, tap))
    tap.stop()
    return tap, archive


def read_ahead(archive: ArchiveReader, offset: int) -> bytes:
    """What the reader read from stream ``offset`` on and did not consume (after an error there)."""
    framer = archive._framer
    return bytes(framer.buf[max(offset - framer.base, 0) : framer.filled])


def prelude_bytes(tap: _Tap, plans: Iterable[_Plan], header: bytes | None = None) -> bytes:
    """Magic, the archive header (copied unless given), the entries of ``plans``, terminator (§3)."""
    parts = [MAGIC, header if header is not None else tap.take(4)]
    parts.extend(_entry_bytes(plan, tap) for plan in plans)
    parts.append(TERMINATOR)
    return b"".join(parts)


def _body(
    archive: ArchiveReader,
    by_data: dict[Namespace, _Plan | None],
    documents: DocumentFn | None,
    query: Callable[[bytes], bool] | None,
    query_in: Callable[[Namespace], bool],
) -> int:
    """Copy the body to each kept namespace's ``sink``; returns the number of documents dropped.

    Documents come as runs of one block (the reader's buffer, CRC already
    checked): a namespace whose documents do not change gets each run written
    as one piece; only a changed one is split into documents.
    """
    plan: _Plan | None = None
    out: _Blocks | None = None
    block = -1  # number of the current input block
    pending = False  # a changed namespace's block header waits for its first document
    dropped_docs = 0
    at = 0  # stream offset of the next document of the current block
    for item in archive._body(True, runs=True):
        if type(item) is tuple:
            ns, run, count = item
            start, at = at, at + len(run)
            if plan is None or out is None:
                continue
            if not plan.documents_change:
                out.documents(run)
                out.last = block
                plan.documents += count
                plan.bytes += len(run)
                continue
            for a, b in split_run(run, 0, len(run)):
                raw = run[a:b].tobytes()
                if documents is not None:
                    new = documents(ns, raw)
                    if new is None:
                        dropped_docs += 1
                        continue
                    if new is not raw:
                        raw = _checked(new, ns, start + a)
                if query is not None and query_in(ns) and not query(raw):
                    dropped_docs += 1
                    continue
                if pending:
                    _open_block(out, plan, block)
                    pending = False
                out.documents(raw)
                out.last = block
                plan.crc = crc64(raw, plan.crc)
                plan.documents += 1
                plan.bytes += len(raw)
        elif isinstance(item, Segment):
            event = item
            raw_header = archive._last_header
            at = event.offset + len(raw_header)
            block += 1
            plan = by_data[event.ns]
            out = plan.sink if plan is not None else None
            if plan is None or out is None:
                continue
            renamed = plan.route(event.ns)
            if plan.documents_change:
                # Like the multiplexer: a header only when the namespace changes (§9).
                pending = out.open != plan.out_data
                continue
            if out.open == plan.out_data and out.last != block - 1:
                # The blocks between were left out of this output: the multiplexer
                # would have written one block, so this one continues it.
                out.last = block
                continue
            header = _namespace_header(plan.out_data, False, 0) if renamed else raw_header
            out.data_block(plan.out_data, header, block)
            plan.written += 1
        elif isinstance(item, NamespaceEnd):
            end = item
            block += 1
            end_plan = by_data[end.ns]
            plan, out, pending = None, None, False
            end_out = end_plan.sink if end_plan is not None else None
            if end_plan is None or end_out is None:
                continue
            renamed = end_plan.route(end.ns)
            if end_plan.documents_change:
                if end_plan.written == 0 and end_out.open != end_plan.out_data:
                    # §5.5: a namespace without documents still gets its empty block.
                    _open_block(end_out, end_plan, block)
                header = _namespace_header(end_plan.out_data, True, end_plan.crc)
            else:
                end_plan.crc = end.crc
                header = (
                    _namespace_header(end_plan.out_data, True, end.crc) if renamed else archive._last_header
                )
            end_out.eof_block(header, block)
    return dropped_docs


def _checked(new: Any, ns: Namespace, offset: int) -> bytes:
    try:
        return encode_document(new)
    except DocumentError as exc:
        raise DocumentError(
            f"the document function returned {exc.message}",
            offset=offset,
            namespace=str(ns),
            hint="it must return BSON bytes, a mapping, or None to drop the document",
        ) from exc


def _open_block(out: _Blocks, plan: _Plan, block: int) -> None:
    out.data_block(plan.out_data, _namespace_header(plan.out_data, False, 0), block)
    plan.written += 1


_ = MongoArchiveError  # the only kind of error rewrite raises

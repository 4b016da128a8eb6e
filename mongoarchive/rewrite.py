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

The plan (what each namespace becomes) is ``_rewrite_plan``'s, the input's
prelude bytes and the block writer ``_rewrite_io``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._crc import crc64
from ._framing import split_run
from ._rewrite_io import _Blocks, _namespace_header, open_input, prelude_bytes
from ._rewrite_plan import OPLOG, MetadataFn, _Plan, _plans, check_patterns
from ._sink import gzip_level as resolve_gzip_level
from ._sink import open_sink
from .errors import DocumentError, MongoArchiveError
from .model import Namespace, NamespaceEnd, Segment
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
    select = NamespaceFilter(check_patterns(include, "--nsInclude"), check_patterns(exclude, "--nsExclude"))
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

"""Writing an archive the way mongodump's multiplexer does (spec/archive.md §2, §9).

Each namespace buffers whole documents up to 16 MiB and hands the buffer to
the multiplexer, which opens a new block only when the namespace changes.  An
empty namespace is an empty block followed by its EOF block.  The prelude is
written before the first block.  ``NamespaceWriter.write`` may be called from
several threads at once, one namespace per thread.  This module is the
multiplexer (``ArchiveWriter``); a namespace's buffering and hand-offs are in
``_nswriter``.

Whatever it is given, the writer either raises UsageError (or DocumentError
for a document) before writing anything wrong, or writes an archive that
mongorestore 100.6.1 and 100.18.0 both read (``_writer_checks``); the one
exception is the timeseries naming of servers 8.3+, which 100.6.1 predates.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from . import schema
from ._crc import to_int64
from ._framing import MAGIC, TERMINATOR
from ._nswriter import NamespaceWriter, check_bson, encode_document
from ._rules import timeseries_data_namespace
from ._sink import AtomicSink
from ._writer_checks import (
    check_int,
    check_namespace,
    check_text,
    check_type,
    metadata_text,
    parse_server_version,
)
from .errors import MongoArchiveError, UsageError
from .model import ArchiveHeader, CollectionEntry, Namespace

__all__ = ["ArchiveWriter", "NamespaceWriter", "check_bson", "encode_document", "uses_buckets"]

FORMAT_VERSION = "0.1"


def uses_buckets(server_version: str) -> bool:
    """True if a timeseries collection's data goes under system.buckets.X (server < 8.3, §5.4).

    A version that is not X.Y.Z counts as new (the writer refuses it anyway).
    """
    try:
        major, minor, _ = parse_server_version(server_version)
    except UsageError:
        return False
    return (major, minor) < (8, 3)


class ArchiveWriter:
    """Writes the prelude, then multiplexes namespaces into blocks; see module docs.

    ``validate=True`` decodes every document given as bytes, so that invalid BSON
    with correct framing is refused (DocumentError) instead of written.
    """

    def __init__(
        self,
        sink: AtomicSink,
        *,
        server_version: str,
        tool_version: str,
        concurrent_collections: int = 4,
        version: str = FORMAT_VERSION,
        validate: bool = False,
    ) -> None:
        try:
            parse_server_version(server_version)
            check_text(tool_version, "tool_version")
            check_text(version, "version")
            check_int(concurrent_collections, "concurrent_collections", 32)
        except UsageError:
            sink.abort()  # nothing was written: leave no file behind
            raise
        self.header = ArchiveHeader(concurrent_collections, version, server_version, tool_version)
        self.collections: list[CollectionEntry] = []
        self._encoded_entries: list[bytes] = []
        self.validate = bool(validate)
        self._sink = sink
        self._lock = threading.Lock()
        #: Writers by data namespace (what block headers carry) and by prelude namespace.
        self._namespaces: dict[Namespace, NamespaceWriter] = {}
        self._entries: dict[Namespace, NamespaceWriter] = {}
        #: Every namespace an entry uses or would use (its name, data and bucket
        #: namespaces) -> that entry's namespace: two entries may share none (§5.4, §6).
        self._claimed: dict[Namespace, Namespace] = {}
        self._prelude_written = False
        self._has_data = False
        self._current: Namespace | None = None
        self._closed = False
        self._aborted = False
        self._buckets = uses_buckets(server_version)
        self.gzip = sink.gzip
        self.name = sink.name

    def add_collection(
        self,
        db: str,
        collection: str,
        metadata: str | Mapping[str, Any] = "",
        type: str | None = "collection",  # noqa: A002 - the field's name in the format
        size: int = 0,
    ) -> NamespaceWriter:
        """Declare a namespace in the prelude; all before the first write (§3.2).

        ``metadata`` is Extended JSON text (checked) or a mapping with mongodump's
        keys (options, indexes, uuid, collectionName, type), encoded as mongodump
        does: canonical Extended JSON v2.  Misuse raises UsageError.
        """
        with self._lock:
            self._check_open()
            # A buffered write counts too, so the rule does not depend on buffer sizes.
            if self._prelude_written or self._has_data:
                raise UsageError(
                    "add_collection after data was written: the prelude is already out",
                    namespace=f"{db}.{collection}",
                    hint="declare every namespace before the first write",
                )
            return self._declare(db, collection, metadata, type, size)

    def _declare(
        self, db: str, collection: str, metadata: object, kind: object, size: object
    ) -> NamespaceWriter:
        db = check_text(db, "the database name")
        collection = check_text(collection, "the collection name")
        label = f"{db}.{collection}"
        kind = check_type(kind, label)
        bucket = Namespace(db, "system.buckets." + collection) if kind == "timeseries" else None
        data_ns = bucket if bucket is not None and self._buckets else Namespace(db, collection)
        check_namespace(db, collection, kind, data_ns.collection)
        entry_ns = Namespace(db, collection)
        for claim in (entry_ns, data_ns, bucket):
            owner = self._claimed.get(claim) if claim is not None else None
            if owner is not None:
                raise UsageError(
                    "namespace declared twice"
                    if owner == entry_ns
                    else f"namespace {claim} is already used by {owner} (a timeseries and its buckets)",
                    namespace=label,
                    hint="each namespace is declared once; a timeseries collection X owns system.buckets.X",
                )
        size = check_int(size, "size", 64, label)
        text = metadata_text(metadata, db, collection, kind)
        try:
            # Built once: the prelude writes these bytes as they are.
            encoded = schema.CollectionMetadata.build(
                {"db": db, "collection": collection, "metadata": text, "size": size, "type": kind}
            )
        except Exception as exc:  # construct's own errors; the checks above should leave none
            raise UsageError(f"cannot encode the collection entry: {exc}", namespace=label) from exc
        entry = CollectionEntry(db, collection, text, size, kind)
        if kind == "timeseries" and self._buckets:
            data_ns = timeseries_data_namespace(entry)
        ns_writer = NamespaceWriter(self, entry, data_ns)
        self.collections.append(entry)
        self._encoded_entries.append(encoded)
        self._namespaces[data_ns] = ns_writer
        self._entries[entry_ns] = ns_writer
        for claim in (entry_ns, data_ns, bucket):
            if claim is not None:
                self._claimed[claim] = entry_ns
        return ns_writer

    def writer_for(self, ns: Namespace | str) -> NamespaceWriter:
        """The NamespaceWriter of a data namespace or a prelude namespace ("db.collection" too).

        A timeseries collection X of a server before 8.3 is found both as X and
        as system.buckets.X (§5.4); UsageError if nothing declared uses ``ns``.
        """
        if isinstance(ns, Namespace):
            key = ns
        else:
            db, _, collection = str(ns).partition(".")
            key = Namespace(db, collection)
        found = self._namespaces.get(key) or self._entries.get(key)
        if found is None:
            raise UsageError("no namespace of this archive uses this name", namespace=str(key))
        return found

    # -- the multiplexer (§9); callers hold no lock ---------------------------
    def _write_prelude(self) -> None:
        if self._prelude_written:
            return
        h = self.header
        parts = [
            MAGIC,
            schema.ArchiveHeader.build(
                {
                    "concurrent_collections": h.concurrent_collections,
                    "version": h.version,
                    "server_version": h.server_version,
                    "tool_version": h.tool_version,
                }
            ),
        ]
        parts.extend(self._encoded_entries)
        parts.append(TERMINATOR)
        self._sink.write(b"".join(parts))
        self._prelude_written = True

    def write_prelude(self) -> None:
        """Write the prelude now (it is otherwise written before the first block).

        A dump writes it at once, so a reader sees every namespace even while the
        first collection is slow to read; no namespace can be added afterwards.
        """
        with self._lock:
            self._check_open()
            self._write_prelude()

    @staticmethod
    def _namespace_header(ns: Namespace, eof: bool, crc: int) -> bytes:
        return bytes(
            schema.NamespaceHeader.build(
                {"db": ns.db, "collection": ns.collection, "EOF": eof, "CRC": to_int64(crc)}
            )
        )

    def _emit_body(self, ns: Namespace, pieces: list[bytes]) -> None:
        with self._lock:
            self._check_open()
            self._write_prelude()
            if self._current != ns:
                head = self._namespace_header(ns, False, 0)
                if self._current is not None:
                    head = TERMINATOR + head
                self._sink.write(head)
                self._current = ns
            for data in pieces:
                if data:
                    self._sink.write(data)

    def _emit_eof(self, ns: Namespace, crc: int) -> None:
        with self._lock:
            self._check_open()
            self._write_prelude()
            out = self._namespace_header(ns, True, crc) + TERMINATOR
            if self._current is not None:
                out = TERMINATOR + out
            self._sink.write(out)
            self._current = None

    def _check_open(self) -> None:
        if self._closed:
            if self._aborted:
                raise UsageError(
                    "the archive was aborted",
                    hint="abort() (or an exception leaving its with block) ended it; nothing more is written",
                )
            raise UsageError("the archive is closed")

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        """End every namespace still open (in declaration order) and finish the file.

        Closing twice does nothing; closing an aborted archive is a UsageError.
        """
        if self._closed:
            if self._aborted:
                self._check_open()
            return
        try:
            for ns_writer in self._namespaces.values():
                ns_writer.close()
            with self._lock:
                self._write_prelude()
                self._closed = True
            self._sink.commit()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop without finishing: a path target is removed, nothing complete is left.

        Every later write, flush, close or add_collection raises UsageError.
        """
        with self._lock:
            if self._closed and not self._aborted:
                return  # already complete: nothing to take back
            self._closed = True
            self._aborted = True
        self._sink.abort()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._aborted:
            self.close()

    def __repr__(self) -> str:
        return f"<ArchiveWriter {self.name!r} collections={len(self.collections)}>"


_ = MongoArchiveError  # re-exported through the package; kept for type checkers

"""Writing an archive the way mongodump's multiplexer does (spec/archive.md §2, §9).

Each namespace buffers whole documents up to 16 MiB and hands the buffer to
the multiplexer, which opens a new block only when the namespace changes.  An
empty namespace is an empty block followed by its EOF block.  The prelude is
written before the first block.  ``NamespaceWriter.write`` may be called from
several threads at once, one namespace per thread.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument

from . import schema
from ._crc import crc64, to_int64
from ._framing import MAGIC, TERMINATOR, scan_run
from ._io import AtomicSink
from ._rules import timeseries_data_namespace
from ._text import plural
from .errors import DocumentError, MongoArchiveError, UsageError
from .model import MAX_BSON_SIZE, ArchiveHeader, CollectionEntry, Namespace

__all__ = ["ArchiveWriter", "NamespaceWriter", "encode_document", "uses_buckets"]

FORMAT_VERSION = "0.1"
_unpack_int32 = struct.Struct("<i").unpack_from


def uses_buckets(server_version: str) -> bool:
    """True if a timeseries collection's data goes under system.buckets.X (server < 8.3, §5.4)."""
    parts = []
    for piece in server_version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            return False  # unknown versions ("unknown", "") count as new
        parts.append(int(digits))
    while len(parts) < 2:
        parts.append(0)
    return (parts[0], parts[1]) < (8, 3)


def encode_document(doc: bytes | bytearray | memoryview | Mapping[str, Any]) -> bytes:
    """BSON bytes for ``doc``: checked bytes, a RawBSONDocument, or an encoded mapping."""
    if isinstance(doc, RawBSONDocument):
        raw = bytes(doc.raw)
    elif isinstance(doc, (bytes, bytearray, memoryview)):
        raw = bytes(doc)
    elif isinstance(doc, Mapping):
        try:
            raw = bson.encode(doc)
        except Exception as exc:  # InvalidDocument, OverflowError, TypeError...
            raise DocumentError(f"cannot encode the document as BSON: {exc}") from exc
    else:
        raise DocumentError(f"a document must be BSON bytes or a mapping, not {type(doc).__name__}")
    size = len(raw)
    if size < 5 or size > MAX_BSON_SIZE or raw[-1] or int.from_bytes(raw[:4], "little") != size:
        raise DocumentError(
            f"not a BSON document: {plural(size, 'byte')}, length field "
            f"{int.from_bytes(raw[:4], 'little', signed=True) if size >= 4 else None}",
            hint="documents must be 5 bytes to 16 MiB, start with their length and end with NUL",
        )
    return raw


class NamespaceWriter:
    """Buffers one namespace's documents and hands them to the multiplexer."""

    __slots__ = (
        "_crc",
        "_handed",
        "_parts",
        "_runs_extra",
        "_sent",
        "_size",
        "_writer",
        "bytes",
        "closed",
        "entry",
        "ns",
    )

    def __init__(self, writer: ArchiveWriter, entry: CollectionEntry, data_ns: Namespace) -> None:
        self._writer = writer
        self.entry = entry
        self.ns = data_ns
        # Whole documents waiting for hand-off; a list of references (join at flush)
        # stays fast when several namespaces grow buffers at once.
        self._parts: list[bytes] = []
        self._size = 0
        self._sent = False
        self._crc = 0
        self._handed = 0  # documents already handed over
        self._runs_extra = 0  # documents in _parts beyond one per part (write_batch runs)
        self.bytes = 0
        self.closed = False

    @property
    def documents(self) -> int:
        """Documents written so far (handed over or buffered)."""
        return self._handed + len(self._parts) + self._runs_extra

    def write(self, doc: bytes | bytearray | memoryview | Mapping[str, Any]) -> None:
        """Append one document (BSON bytes, RawBSONDocument or mapping)."""
        if self.closed:
            raise UsageError("write to a namespace that is already closed", namespace=str(self.ns))
        # Hot path: pre-encoded bytes are checked inline (length field, size, NUL).
        if type(doc) is bytes:
            size = len(doc)
            if size < 5 or size > MAX_BSON_SIZE or doc[-1] or _unpack_int32(doc)[0] != size:
                doc = encode_document(doc)  # raises DocumentError with details
        else:
            doc = encode_document(doc)
            size = len(doc)
        # mongodump hands a buffer over before it would exceed 16 MiB (§9).
        if self._size + size > MAX_BSON_SIZE:
            self._flush()
        self._parts.append(doc)
        self._size += size

    def write_batch(self, data: bytes | bytearray | memoryview) -> int:
        """Append a run of concatenated BSON documents (a raw cursor batch); returns their count.

        The result is byte-identical to calling ``write`` once per document.
        """
        if self.closed:
            raise UsageError("write to a namespace that is already closed", namespace=str(self.ns))
        run = data if type(data) is bytes else bytes(data)
        end, count = scan_run(run, 0, len(run))  # type: ignore[arg-type]  # bytes works like bytearray
        if end != len(run):
            raise DocumentError(
                f"the batch holds a malformed document at byte {end} of {len(run)}",
                namespace=str(self.ns),
                hint="a batch must be whole BSON documents back to back",
            )
        done = 0  # documents of this batch already buffered
        pos = 0
        while pos < end:
            room = MAX_BSON_SIZE - self._size
            if end - pos <= room:
                cut, n = end, count - done
            else:
                # Only near a hand-off: walk whole documents that still fit (§9).
                cut, n = pos, 0
                while cut < end:
                    size = _unpack_int32(run, cut)[0]
                    if cut + size - pos > room:
                        break
                    cut += size
                    n += 1
                if n == 0:
                    self._flush()
                    continue
            self._parts.append(run[pos:cut] if (pos, cut) != (0, end) else run)
            self._runs_extra += n - 1  # a part holding n documents
            self._size += cut - pos
            done += n
            pos = cut
        return count

    def _flush(self) -> None:
        data = b"".join(self._parts)
        self._handed += len(self._parts) + self._runs_extra
        self._runs_extra = 0
        self._parts = []
        self._size = 0
        self._crc = crc64(data, self._crc)
        self.bytes += len(data)
        self._sent = True
        self._writer._emit_body(self.ns, data)

    def close(self) -> None:
        """Write what is buffered, then the EOF block with the CRC (§9)."""
        if self.closed:
            return
        if self._parts or not self._sent:
            self._flush()
        self.closed = True
        self._writer._emit_eof(self.ns, self._crc)

    @property
    def crc(self) -> int:
        """CRC-64/XZ of the documents handed over so far (unsigned)."""
        return self._crc

    def __enter__(self) -> NamespaceWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()

    def __repr__(self) -> str:
        return f"<NamespaceWriter {str(self.ns)!r} documents={self.documents}>"


class ArchiveWriter:
    """Writes the prelude, then multiplexes namespaces into blocks; see module docs."""

    def __init__(
        self,
        sink: AtomicSink,
        *,
        server_version: str,
        tool_version: str,
        concurrent_collections: int = 4,
        version: str = FORMAT_VERSION,
    ) -> None:
        if not -(2**31) <= concurrent_collections < 2**31:
            raise UsageError("concurrent_collections must fit in an int32")
        self.header = ArchiveHeader(concurrent_collections, version, server_version, tool_version)
        self.collections: list[CollectionEntry] = []
        self._sink = sink
        self._lock = threading.Lock()
        self._namespaces: dict[Namespace, NamespaceWriter] = {}
        self._prelude_written = False
        self._current: Namespace | None = None
        self._closed = False
        self._buckets = uses_buckets(server_version)
        self.gzip = sink.gzip
        self.name = sink.name

    def add_collection(
        self,
        db: str,
        collection: str,
        metadata: str = "",
        type: str | None = "collection",  # noqa: A002 - the field's name in the format
        size: int = 0,
    ) -> NamespaceWriter:
        """Declare a namespace in the prelude; all before the first write (§3.2)."""
        with self._lock:
            if self._closed:
                raise UsageError("the archive is closed")
            # A buffered write counts too, so the rule does not depend on buffer sizes.
            if self._prelude_written or any(w.documents for w in self._namespaces.values()):
                raise UsageError(
                    "add_collection after data was written: the prelude is already out",
                    namespace=f"{db}.{collection}",
                    hint="declare every namespace before the first write",
                )
            if not collection:
                # Readers refuse a namespace header with an empty collection (§3.3, §7).
                raise UsageError(
                    "the collection name is empty",
                    namespace=f"{db}.",
                    hint="every namespace needs a collection name",
                )
            entry = CollectionEntry(db, collection, metadata, size, type)
            data_ns = entry.namespace
            if type == "timeseries" and self._buckets:
                data_ns = timeseries_data_namespace(entry)
            if data_ns in self._namespaces:
                raise UsageError("namespace declared twice", namespace=str(data_ns))
            try:
                schema.CollectionMetadata.build(
                    {"db": db, "collection": collection, "metadata": metadata, "size": size, "type": type}
                )
            except Exception as exc:
                raise UsageError(
                    f"cannot encode the collection entry: {exc}", namespace=str(data_ns)
                ) from exc
            self.collections.append(entry)
            ns_writer = NamespaceWriter(self, entry, data_ns)
            self._namespaces[data_ns] = ns_writer
            return ns_writer

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
        for e in self.collections:
            parts.append(
                schema.CollectionMetadata.build(
                    {
                        "db": e.db,
                        "collection": e.collection,
                        "metadata": e.metadata,
                        "size": e.size,
                        "type": e.type,
                    }
                )
            )
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

    def _emit_body(self, ns: Namespace, data: bytes) -> None:
        with self._lock:
            self._check_open()
            self._write_prelude()
            if self._current != ns:
                head = self._namespace_header(ns, False, 0)
                if self._current is not None:
                    head = TERMINATOR + head
                self._sink.write(head)
                self._current = ns
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
            raise UsageError("the archive is closed")

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        """End every namespace still open (in declaration order) and finish the file."""
        if self._closed:
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
        """Stop without finishing: a path target is removed, nothing complete is left."""
        with self._lock:
            self._closed = True
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
        else:
            self.close()

    def __repr__(self) -> str:
        return f"<ArchiveWriter {self.name!r} collections={len(self.collections)}>"


_ = MongoArchiveError  # re-exported through the package; kept for type checkers

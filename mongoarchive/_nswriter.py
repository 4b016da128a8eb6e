"""One namespace's side of the writer: documents checked, buffered and handed off (spec/archive.md §2, §9).

``NamespaceWriter`` buffers whole documents up to mongodump's 16 MiB hand-off
and gives each full buffer to its ``ArchiveWriter``, which multiplexes the
namespaces into blocks (``writer``).  ``write`` may be called from several
threads at once, one namespace per thread.  ``encode_document`` and
``check_bson`` are the per-document checks both sides use.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import bson
from bson.raw_bson import RawBSONDocument

from ._crc import crc64
from ._framing import scan_run, split_run
from ._text import plural
from .errors import DocumentError, UsageError
from .model import MAX_BSON_SIZE, CollectionEntry, Namespace

if TYPE_CHECKING:
    from .writer import ArchiveWriter

__all__ = ["NamespaceWriter", "check_bson", "encode_document"]

_unpack_int32 = struct.Struct("<i").unpack_from


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


def check_bson(raw: bytes | memoryview, namespace: str | None = None) -> None:
    """DocumentError unless ``raw`` (already framed) decodes as BSON: types, lengths, UTF-8."""
    try:
        bson.decode(raw)
    except Exception as exc:  # InvalidBSON, UnicodeDecodeError, OverflowError...
        raise DocumentError(
            f"the document is not valid BSON: {exc}",
            namespace=namespace,
            hint="its length and final NUL are right but its content is damaged",
        ) from exc


class NamespaceWriter:
    """Buffers one namespace's documents and hands them to the multiplexer."""

    __slots__ = (
        "_crc",
        "_handed",
        "_known_crc",
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
        #: (len(_parts), the CRC after them) when a copy knows it (_write_checked_run).
        self._known_crc: tuple[int, int] | None = None
        self.bytes = 0
        self.closed = False

    @property
    def documents(self) -> int:
        """Documents written so far (handed over or buffered)."""
        return self._handed + len(self._parts) + self._runs_extra

    def _check_writable(self) -> None:
        if self.closed:
            raise UsageError("write to a namespace that is already closed", namespace=str(self.ns))
        self._writer._check_open()

    def write(self, doc: bytes | bytearray | memoryview | Mapping[str, Any]) -> None:
        """Append one document (BSON bytes, RawBSONDocument or mapping).

        Bytes are always checked for framing (length, size, final NUL) and, if the
        archive was opened with ``validate=True``, decoded as BSON.
        """
        if self.closed or self._writer._closed:
            self._check_writable()
        # Hot path: pre-encoded bytes are checked inline (length field, size, NUL).
        if type(doc) is bytes:
            size = len(doc)
            if size < 5 or size > MAX_BSON_SIZE or doc[-1] or _unpack_int32(doc)[0] != size:
                doc = encode_document(doc)  # raises DocumentError with details
            if self._writer.validate:
                check_bson(doc, str(self.ns))
        else:
            mapping = isinstance(doc, Mapping) and not isinstance(doc, RawBSONDocument)
            doc = encode_document(doc)
            size = len(doc)
            if self._writer.validate and not mapping:
                check_bson(doc, str(self.ns))
        # The prelude cannot change once a document exists, even a buffered one (§9).
        self._writer._has_data = True
        # mongodump hands a buffer over before it would exceed 16 MiB (§9).
        if self._size + size > MAX_BSON_SIZE:
            self.flush()
        self._parts.append(doc)
        self._size += size

    def write_batch(self, data: bytes | bytearray | memoryview) -> int:
        """Append a run of concatenated BSON documents (a raw cursor batch); returns their count.

        The result is byte-identical to calling ``write`` once per document.
        """
        self._check_writable()
        run = data if type(data) is bytes else bytes(data)
        end, count = scan_run(run, 0, len(run))
        if end != len(run):
            raise DocumentError(
                f"the batch holds a malformed document at byte {end} of {len(run)}",
                namespace=str(self.ns),
                hint="a batch must be whole BSON documents back to back",
            )
        if self._writer.validate:
            with memoryview(run) as view:
                for a, b in split_run(run, 0, end):
                    check_bson(view[a:b], str(self.ns))
        if count:
            self._writer._has_data = True
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
                    self.flush()
                    continue
            self._parts.append(run[pos:cut] if (pos, cut) != (0, end) else run)
            self._runs_extra += n - 1  # a part holding n documents
            self._size += cut - pos
            done += n
            pos = cut
        return count

    def _write_checked_run(self, run: memoryview, count: int, crc_after: int) -> None:
        """Append ``count`` documents a reader framed and checksummed; ``crc_after``: the CRC after them.

        For copies (``copy_body``): the same documents in the same order have
        the source's CRC, so a hand-off at the end of such a run takes it as it
        is instead of computing it again (§4).  Without room for the whole run
        below 16 MiB it goes through ``write_batch``, which splits it (§9).
        """
        if self._size + len(run) > MAX_BSON_SIZE or self._writer.validate or self.closed:
            self.write_batch(run)
            return
        self._writer._has_data = True
        self._parts.append(bytes(run))
        self._runs_extra += count - 1
        self._size += len(run)
        self._known_crc = (len(self._parts), crc_after)

    def flush(self) -> None:
        """Hand what is buffered to the multiplexer now (§9).

        The documents go into the block being written if it is this namespace's,
        otherwise into a new block; with nothing buffered, that new block is empty.
        Calling it where a source archive starts a new block reproduces that block.
        """
        self._check_writable()
        parts = self._parts
        # Small documents are joined into one write; large runs (a copy's) are written
        # as they are, which spares a copy of the block.
        pieces = parts if len(parts) > 1 and self._size >= len(parts) << 16 else [b"".join(parts)]
        known = self._known_crc
        if known is not None and known[0] == len(parts):
            self._crc = known[1]
        else:
            for piece in pieces:
                self._crc = crc64(piece, self._crc)
        self._known_crc = None
        self._handed += len(parts) + self._runs_extra
        self._runs_extra = 0
        self._parts = []
        self.bytes += self._size
        self._size = 0
        self._sent = True
        self._writer._emit_body(self.ns, pieces)

    _flush = flush  # the name callers used before flush() was public

    def close(self, *, empty_block: bool = True) -> None:
        """Write what is buffered, then the EOF block with the CRC (§9).

        A namespace that never handed anything over gets an empty data block first,
        as mongodump writes it; ``empty_block=False`` leaves it out (an EOF block
        alone, which every reader accepts, §5.5).  Closing twice does nothing.
        """
        if self.closed:
            return
        self._writer._check_open()
        if self._parts or (empty_block and not self._sent):
            self.flush()
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

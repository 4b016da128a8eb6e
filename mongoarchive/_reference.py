"""A slow reference reader built on the construct declarations of ``schema``.

It exists to cross-check ``ArchiveReader`` (tests/test_differential.py): the
framing is parsed by construct (``schema.Prelude``, ``schema.Block``,
``schema.Framed``) instead of ``_framing``, checksums are computed one
document at a time with the pure-Python CRC, and only the header decoding and
the demultiplexer rules (``_rules``) are shared.  Errors are classified into
the same classes and codes as the fast path (spec/archive.md §2, §6, §7).
"""

from __future__ import annotations

import io
from collections.abc import Callable

from construct import CheckError, ConstError, ConstructError, StreamError

from . import schema
from ._crc import crc64, crc64_pure
from ._framing import describe_bytes
from ._rules import Demux, decode_namespace_header, read_prelude
from .errors import (
    ArchiveError,
    FramingError,
    MongoArchiveError,
    NamespaceError,
    NotAnArchiveError,
    TruncatedError,
)
from .model import (
    ArchiveHeader,
    ArchiveWarning,
    CollectionEntry,
    Document,
    Event,
    Namespace,
    NamespaceEnd,
    NamespaceSummary,
    Segment,
)

__all__ = ["read_reference"]

#: (offset, raw document bytes or None for a terminator)
_Item = tuple[int, bytes | None]

ReferenceResult = tuple[
    ArchiveHeader,
    list[CollectionEntry],
    list[Event],
    dict[Namespace, NamespaceSummary],
    list[ArchiveWarning],
]


class _Items:
    """The items of one structure, parsed by construct; a framing error comes last.

    A whole structure (the prelude, a block) is parsed at once with its
    construct declaration.  If that fails, the structure is walked again item
    by item with ``schema.Framed`` so that the items before the damage are
    processed (and can fail by the rules, §6) before the framing error, which
    is the order in which a streaming reader meets them.
    """

    def __init__(self, items: list[_Item], error: ArchiveError | None) -> None:
        self.items = items
        self.error = error
        self.index = 0

    def next(self) -> _Item:
        """The next item, or raise the framing error that ended the structure."""
        if self.index < len(self.items):
            item = self.items[self.index]
            self.index += 1
            return item
        if self.error is not None:
            raise self.error
        raise ArchiveError("the reference reader ran past a structure", code="reference-internal")


class _Reference:
    def __init__(self, data: bytes, crc: Callable[[bytes, int], int]) -> None:
        self.data = data
        self.stream = io.BytesIO(data)
        self.crc = crc
        self.namespace: str | None = None  # for error messages, as the framer does
        self.warnings: list[ArchiveWarning] = []
        self.events: list[Event] = []

    # -- framing by construct (§2) ---------------------------------------
    def _truncated(self) -> TruncatedError:
        return TruncatedError(
            "the stream ends inside an item", offset=len(self.data), namespace=self.namespace
        )

    def _framed(self, offset: int) -> _Item:
        """One item at ``offset`` parsed with schema.Framed; errors classified as §2 says."""
        self.stream.seek(offset)
        try:
            item = schema.Framed.parse_stream(self.stream)
        except StreamError as exc:
            raise self._truncated() from exc
        except CheckError as exc:
            length = int.from_bytes(self.data[offset : offset + 4], "little", signed=True)
            raise FramingError(
                f"{length} is neither a valid BSON length nor a terminator",
                offset=offset,
                namespace=self.namespace,
                code="bad-length",
                hint=describe_bytes(self.data[offset : offset + 64]),
            ) from exc
        except ConstError as exc:
            raise FramingError(
                "an item does not end with a NUL byte",
                offset=offset,
                namespace=self.namespace,
                code="missing-nul",
                hint=describe_bytes(self.data[offset : offset + 64]),
            ) from exc
        if item.length == -1:
            return offset, None
        return offset, self.data[offset : offset + item.length]

    def _walk(self, offset: int) -> _Items:
        """Walk items from ``offset`` up to and including the first terminator."""
        items: list[_Item] = []
        error: ArchiveError | None = None
        try:
            while True:
                item = self._framed(offset)
                items.append(item)
                if item[1] is None:
                    break
                offset += len(item[1])
        except ArchiveError as exc:
            error = exc
        return _Items(items, error)

    def _structure(self, offset: int, kind: str) -> _Items:
        """The items of the prelude (after the magic) or of a block starting at ``offset``."""
        self.stream.seek(offset if kind == "block" else 0)
        declaration = schema.Block if kind == "block" else schema.Prelude
        try:
            parsed = declaration.parse_stream(self.stream)
        except ConstructError:
            return self._walk(offset)
        rest = (
            [parsed.header, *parsed.collections] if kind == "prelude" else [parsed.header, *parsed.documents]
        )
        items: list[_Item] = []
        for raw in rest:
            items.append((raw.offset1, None if raw.value.length == -1 else bytes(raw.data)))
        return _Items(items, None)

    # -- the archive (§2, §3, §6) ----------------------------------------
    def read(self) -> ReferenceResult:
        data = self.data
        try:
            self.stream.seek(0)
            schema.Magic.parse_stream(self.stream)
        except StreamError as exc:
            raise self._truncated() from exc
        except ConstError as exc:
            raise NotAnArchiveError(
                "the stream does not start with the archive magic number", offset=0
            ) from exc
        prelude = self._structure(4, "prelude")
        header, entries, warnings, offset = read_prelude(lambda what: prelude.next())
        self.warnings.extend(warnings)
        pos = offset + 4
        demux = Demux(entries, header.server_version, self.warnings)
        while True:
            self.namespace = None
            if pos == len(data):
                demux.finish(pos)
                return header, entries, self.events, demux.summaries, self.warnings
            if demux.all_ended:
                raise demux.trailing(pos)
            pos = self._block(pos, demux)

    def _block(self, start: int, demux: Demux) -> int:
        """Process the block at ``start``; return the offset after its terminator."""
        block = self._structure(start, "block")
        _, raw = block.next()
        if raw is None:
            raise FramingError(
                "two terminators in a row (a block without a namespace header)",
                offset=start,
                code="consecutive-terminators",
            )
        ns, eof, stored_crc, warnings = decode_namespace_header(raw, start)
        self.warnings.extend(warnings)
        self.namespace = str(ns)
        # Items already walked carry no namespace; the framing error after them must.
        if block.error is not None:
            block.error.namespace = self.namespace
        summary = demux.begin(ns, eof, start)
        if eof:
            at, doc = block.next()
            if doc is not None:
                raise NamespaceError(
                    "documents follow the namespace's EOF header",
                    offset=at,
                    namespace=str(ns),
                    code="data-after-eof",
                )
            demux.end(summary, stored_crc, start)
            self.events.append(NamespaceEnd(ns, stored_crc, start))
            return at + 4
        self.events.append(Segment(ns, start))
        while True:
            at, doc = block.next()
            if doc is None:
                return at + 4
            summary.crc_value = self.crc(doc, summary.crc_value)
            summary.documents += 1
            summary.bytes += len(doc)
            self.events.append(Document(ns, doc, at))


def read_reference(data: bytes, *, pure_crc: bool = True) -> ReferenceResult:
    """Read a whole uncompressed archive the slow way: (header, collections, events, summaries, warnings).

    Raises only MongoArchiveError subclasses, with the classes and codes of
    ``ArchiveReader``.  ``pure_crc=False`` uses the fast CRC for large inputs.
    """
    reader = _Reference(bytes(data), crc64_pure if pure_crc else crc64)
    try:
        return reader.read()
    except MongoArchiveError:
        raise
    except ConstructError as exc:
        raise ArchiveError(
            f"unclassified construct error: {exc}", code="reference-construct", namespace=reader.namespace
        ) from exc
    except Exception as exc:
        raise ArchiveError(
            f"the reference reader failed: {exc!r}", code="reference-internal", namespace=reader.namespace
        ) from exc

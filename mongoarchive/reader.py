"""Reading an archive: the prelude on open, then the body as a stream of events.

The reader never seeks; it reads the prelude when opened and the body once,
front to back (spec/archive.md §2, §6).  The body is ``_walk.Walk`` under the
policy that raises on the first error: every document is framed and
checksummed by ``_framing``; the rules of §6 are enforced by ``_rules.Demux``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, Protocol, overload

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from ._framing import MAGIC, Framer, not_an_archive
from ._io import Source
from ._rules import Demux, read_prelude
from ._walk import ReadPolicy, Walk
from .errors import ArchiveError, MongoArchiveError, UsageError
from .model import (
    ArchiveHeader,
    ArchiveWarning,
    CollectionEntry,
    Document,
    Event,
    Namespace,
    NamespaceEnd,
    NamespaceSummary,
)

__all__ = ["ArchiveReader", "NamespaceConsumer"]

DocumentForm = Literal["bytes", "raw", "dict"]
#: How far past byte 0 a reader looks for a magic number when the stream does not start with one.
_MAGIC_WINDOW = 1 << 16


class NamespaceConsumer(Protocol):
    """What ``ArchiveReader.demultiplex`` feeds: documents, then ``end()`` once the CRC checks."""

    def write(self, raw: bytes, /) -> Any: ...

    def end(self) -> Any: ...


class ArchiveReader:
    """An open archive: ``header`` and ``collections`` at once, the body on iteration.

    ``for event in archive`` is ``archive.events()``: Segment, Document and
    NamespaceEnd in stream order, once per archive.
    """

    def __init__(self, source: Source) -> None:
        self._source = source
        self._framer = Framer(source)
        self.gzip = source.gzip
        self.name = source.name
        self.warnings: list[ArchiveWarning] = []
        try:
            self.header, self.collections = self._read_prelude()
        except BaseException:
            self._close_quietly()
            raise
        self._demux = Demux(self.collections, self.header.server_version, self.warnings)
        self._walk = Walk(self._framer, ReadPolicy(self._demux, self.warnings))
        #: Per body namespace, in order of first appearance; filled while reading.
        self.namespaces: dict[Namespace, NamespaceSummary] = self._demux.summaries
        self.body_offset = self._framer.offset

    # -- prelude (§3.1, §3.2) ------------------------------------------------
    def _read_prelude(self) -> tuple[ArchiveHeader, list[CollectionEntry]]:
        fr = self._framer
        magic = fr.read_magic()
        if magic != MAGIC:
            # Text written before the archive (a log line in the same pipe) is not "not an
            # archive": look a little further for the magic number to tell the two apart.
            window = magic + fr.peek(_MAGIC_WINDOW)
            found = window.find(MAGIC)
            raise not_an_archive(window[:64], self.gzip, found if found > 0 else None)

        def next_item(what: str) -> tuple[int, bytes | None]:
            return fr.offset, fr.read_doc(what)

        header, entries, warnings, _ = read_prelude(next_item)
        self.warnings.extend(warnings)
        return header, entries

    # -- body (§2, §6) ---------------------------------------------------------
    def _body(self, with_documents: bool, runs: bool = False) -> Iterator[Any]:
        return self._walk.body(with_documents, runs)

    @property
    def _last_header(self) -> bytes:
        """The bytes of the namespace header of the block read last (copied by rewrite)."""
        return self._walk.policy.last_header

    def events(self) -> Iterator[Event]:
        """Segment, Document and NamespaceEnd events in stream order (once per archive)."""
        return self._body(True)

    def __iter__(self) -> Iterator[Event]:
        """The body's events, as ``events()``."""
        return self._body(True)

    def entry_for(self, ns: Namespace | str) -> CollectionEntry:
        """The prelude entry a body namespace belongs to ("db.collection" accepted).

        A namespace declared in the prelude is its own entry; data under
        system.buckets.X belongs to the timeseries entry X when the prelude does
        not declare system.buckets.X itself (§5.4).  UsageError otherwise.
        """
        if isinstance(ns, Namespace):
            key = ns
        else:
            db, _, collection = str(ns).partition(".")
            key = Namespace(db, collection)
        declared = self._demux.declared
        entry = declared.get(key)
        if entry is None:
            alias = self._demux.timeseries.get(key)
            entry = declared.get(alias) if alias is not None else None
        if entry is None:
            raise UsageError("the prelude declares no entry for this namespace", namespace=str(key))
        return entry

    def document_runs(self) -> Iterator[tuple[Namespace, memoryview, int]]:
        """(namespace, bytes, count): runs of consecutive documents of one namespace.

        The memoryview points into the reader's buffer: it is valid only until
        the next item is asked for (copy it to keep it).  Nothing is allocated
        per document, which suits copying documents out as they are.
        """
        for item in self._body(True, runs=True):
            if type(item) is tuple:  # not a Segment or NamespaceEnd (named tuples)
                yield item

    @overload
    def documents(
        self, form: Literal["bytes"] = "bytes", codec_options: CodecOptions[Any] | None = None
    ) -> Iterator[tuple[Namespace, bytes]]: ...
    @overload
    def documents(
        self, form: Literal["raw"], codec_options: CodecOptions[Any] | None = None
    ) -> Iterator[tuple[Namespace, RawBSONDocument]]: ...
    @overload
    def documents(
        self, form: Literal["dict"], codec_options: CodecOptions[Any] | None = None
    ) -> Iterator[tuple[Namespace, dict[str, Any]]]: ...
    def documents(
        self, form: DocumentForm = "bytes", codec_options: CodecOptions[Any] | None = None
    ) -> Iterator[tuple[Namespace, Any]]:
        """(namespace, document) pairs: BSON bytes, RawBSONDocument ("raw") or dict ("dict")."""
        if form == "bytes":
            for event in self._body(True):
                if type(event) is Document:
                    yield event.ns, event.raw
            return
        if form == "raw":
            opts = codec_options or CodecOptions(document_class=RawBSONDocument)
            for event in self._body(True):
                if type(event) is Document:
                    yield event.ns, RawBSONDocument(event.raw, opts)
            return
        if form == "dict":
            opts = codec_options or CodecOptions()
            for event in self._body(True):
                if type(event) is Document:
                    try:
                        doc = bson.decode(event.raw, opts)
                    except Exception as exc:
                        raise ArchiveError(
                            f"a document is not valid BSON: {exc}",
                            offset=event.offset,
                            namespace=str(event.ns),
                            code="bad-bson",
                            hint="its framing and CRC are intact: the writer stored a broken document",
                        ) from exc
                    yield event.ns, doc
            return
        raise UsageError(f"unknown document form {form!r}: use 'bytes', 'raw' or 'dict'")

    def validate(self) -> dict[Namespace, NamespaceSummary]:
        """Read the whole body checking framing, rules and every CRC; no per-document objects."""
        for _ in self._body(False):
            pass
        return self.namespaces

    def demultiplex(
        self,
        consumers: Mapping[Namespace | str, NamespaceConsumer]
        | Callable[[Namespace], NamespaceConsumer | None],
    ) -> dict[Namespace, NamespaceSummary]:
        """Route each namespace's documents to its consumer; ``end()`` after its CRC checks.

        ``consumers`` maps a Namespace or "db.collection" to a consumer, or is a
        factory called once per namespace (None: skip that namespace).
        """
        active: dict[Namespace, NamespaceConsumer | None] = {}

        def lookup(ns: Namespace) -> NamespaceConsumer | None:
            if ns not in active:
                if callable(consumers):
                    active[ns] = consumers(ns)
                else:
                    active[ns] = consumers.get(ns) or consumers.get(str(ns))
            return active[ns]

        for event in self.events():
            kind = type(event)
            if kind is Document:
                consumer = lookup(event.ns)
                if consumer is not None:
                    consumer.write(event.raw)  # type: ignore[union-attr]
            elif kind is NamespaceEnd:
                consumer = lookup(event.ns)
                if consumer is not None:
                    consumer.end()
        return self.namespaces

    # -- context and cleanup -------------------------------------------------
    @property
    def finished(self) -> bool:
        """True once the body was read to a clean end."""
        return self._walk.finished

    def _close_quietly(self) -> None:
        with contextlib.suppress(MongoArchiveError):
            self._source.close()

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_quietly() if exc_type else self.close()

    def __repr__(self) -> str:
        return (
            f"<ArchiveReader {self.name!r} server={self.header.server_version!r} "
            f"collections={len(self.collections)} gzip={self.gzip}>"
        )

"""The one walk over an archive's body that reading and checking share (spec/archive.md §2, §6).

``Walk.body`` goes block by block: the namespace header, then the block's
documents in runs framed by ``_framing`` and checksummed at once (§4), with the
rules of §6 applied by the policy's ``Demux``.  What happens when something is
wrong is the *policy*'s business: ``ReadPolicy`` (the reader's) raises on the
first error; the checker's (``checker.CheckPolicy``) records every
problem and resynchronises.  The hooks are called once per block or per run,
never per document, so a policy costs nothing on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._crc import crc64
from ._framing import Framer, describe_bytes, split_run
from ._rules import Demux, decode_namespace_header
from .errors import FramingError, NamespaceError, UsageError
from .model import ArchiveWarning, Document, Namespace, NamespaceEnd, NamespaceSummary, Segment

__all__ = ["ReadPolicy", "Walk"]


class ReadPolicy:
    """The reader's policy: every broken rule raises where it is met (§6)."""

    #: True: framing errors propagate; False: ``recover`` decides whether the walk goes on.
    strict = True
    #: Whether ``run`` is called for every run of documents (check's ``--deep``).
    deep = False
    #: False once the prelude was cut: every namespace may then be undeclared (check only).
    prelude_complete = True

    def __init__(self, demux: Demux, warnings: list[ArchiveWarning]) -> None:
        self.demux = demux
        self.warnings = warnings
        #: The bytes of the last namespace header decoded (rewrite copies them as they are).
        self.last_header = b""

    def stream_end(self, offset: int) -> None:
        """The stream ended cleanly at ``offset``, between blocks."""
        self.demux.finish(offset)

    def trailing(self, fr: Framer, start: int) -> None:
        """Bytes at ``start`` follow the end of the archive (every namespace has ended)."""
        raise self.demux.trailing(start)

    def terminators(self, fr: Framer, start: int) -> None:
        """A terminator at ``start`` (consumed) stood where a namespace header should be."""
        raise FramingError(
            "two terminators in a row (a block without a namespace header)",
            offset=start,
            code="consecutive-terminators",
            hint=describe_bytes(fr.peek(64)),
        )

    def header(self, raw: bytes, start: int) -> tuple[Namespace, bool, int] | None:
        """The block's header decoded: (namespace, EOF, stored CRC); None: its data is skipped."""
        ns, eof, stored_crc, warnings = decode_namespace_header(raw, start)
        self.last_header = raw
        if warnings:
            self.warnings.extend(warnings)
        return ns, eof, stored_crc

    def begin(self, ns: Namespace, eof: bool, start: int) -> NamespaceSummary | None:
        """A block of ``ns`` starts at ``start``: the summary its data goes to (None: skip it)."""
        return self.demux.begin(ns, eof, start)

    def data_after_eof(self, at: int, ns: Namespace) -> None:
        """A document at ``at`` follows the EOF header of ``ns`` instead of a terminator."""
        raise NamespaceError(
            "documents follow the namespace's EOF header",
            offset=at,
            namespace=str(ns),
            code="data-after-eof",
        )

    def end(self, summary: NamespaceSummary, stored_crc: int, start: int) -> None:
        """The EOF block of ``summary.ns`` (header at ``start``) is complete."""
        self.demux.end(summary, stored_crc, start)

    def recover(self, exc: FramingError, start: int) -> bool:
        """A framing error in the block at ``start``: True if the walk goes on (cursor moved)."""
        raise exc

    def run(self, begin: int, end: int) -> None:
        """``deep`` only: the documents of ``fr.buf[begin:end]`` are about to be counted."""


class Walk:
    """The body of one archive, walked once under ``policy``."""

    def __init__(self, framer: Framer, policy: ReadPolicy) -> None:
        self.framer = framer
        self.policy = policy
        self.started = False
        #: True once the body was read to a clean end.
        self.finished = False

    def body(self, with_documents: bool, runs: bool = False) -> Iterator[Any]:
        """Segment, Document (``with_documents``) and NamespaceEnd events in stream order.

        ``runs``: (namespace, memoryview, count) for each run of documents instead
        of Document events; the view is valid until the next item.  The body
        can be walked once (UsageError on the first item asked for again).
        """
        if self.started:
            raise UsageError(
                "the body of an archive can be read only once",
                hint="open the archive again to read it again",
            )
        self.started = True
        fr = self.framer
        policy = self.policy
        demux = policy.demux
        while True:
            fr.namespace = None
            if fr.at_end():
                policy.stream_end(fr.offset)
                self.finished = True
                return
            start = fr.offset
            if demux.all_ended and policy.prelude_complete:
                policy.trailing(fr, start)
                return
            try:
                raw = fr.read_doc("a namespace header")
                if raw is None:
                    policy.terminators(fr, start)
                    continue
                header = policy.header(raw, start)
                if header is None:
                    self.skip_block()
                    continue
                ns, eof, stored_crc = header
                fr.namespace = str(ns)
                summary = policy.begin(ns, eof, start)
                if eof:
                    at = fr.offset
                    if fr.check_next("the terminator after an EOF header") >= 0:
                        policy.data_after_eof(at, ns)
                        self.skip_block()
                    else:
                        fr.pos += 4
                    if summary is not None:
                        policy.end(summary, stored_crc, start)
                        yield NamespaceEnd(ns, stored_crc, start)
                    continue
                if summary is None:
                    self.skip_block()
                    continue
                yield Segment(ns, start)
                deep = policy.deep
                crc = summary.crc_value
                while True:
                    run = fr.next_run()
                    if run is None:
                        break
                    begin, end, count = run
                    if deep:
                        policy.run(begin, end)
                    buf = fr.buf
                    view = memoryview(buf)
                    crc = crc64(view[begin:end], crc)
                    view.release()
                    summary.crc_value = crc
                    summary.documents += count
                    summary.bytes += end - begin
                    if runs:
                        # The buffer's own bytes: no copy, however large the documents (§8).
                        with memoryview(buf) as view, view[begin:end] as piece:
                            yield ns, piece, count
                    elif with_documents:
                        base = fr.base
                        with memoryview(buf) as view:
                            for a, b in split_run(buf, begin, end):
                                yield Document(ns, view[a:b].tobytes(), base + a)
            except FramingError as exc:
                if policy.strict:
                    raise
                if not policy.recover(exc, start):
                    return

    def skip_block(self) -> None:
        """Consume a block's documents up to its terminator, counted for no namespace."""
        fr = self.framer
        policy = self.policy
        while True:
            run = fr.next_run()
            if run is None:
                return
            if policy.deep:
                policy.run(run[0], run[1])

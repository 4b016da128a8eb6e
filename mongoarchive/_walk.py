"""The one walk over an archive's body that reading, checking and salvaging share (spec/archive.md §2, §6).

``Walk.body`` goes block by block: the namespace header, then the block's
documents in runs framed by ``_framing`` (``_hotpath``'s loops) and checksummed
at once (§4), with the rules of §6 applied by the *policy*.  What happens when
something is wrong is the policy's business: ``ReadPolicy`` (the reader's)
raises on the first error; the checker's (``checker.CheckPolicy``) records
every problem and resynchronises at the next namespace header; salvage's
(``_salvage_policy.SalvagePolicy``) keeps every run of documents itself
(``takes_runs``), has the last document of each run held back until what
follows it is framed (``hold_last``), and may go on with documents found
after damage inside a block (``Resume.DOCUMENTS``).  The hooks are called once
per block or per run, never per document, so a policy costs nothing on the
hot path.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Any

from ._crc import crc64
from ._framing import Framer, decodes, describe_bytes, split_run
from ._hotpath import scan_last
from ._rules import Demux, decode_namespace_header
from .errors import FramingError, MongoArchiveError, NamespaceError, UsageError
from .model import MAX_BSON_SIZE, ArchiveWarning, Document, Namespace, NamespaceEnd, NamespaceSummary, Segment

__all__ = [
    "AFTER_EOF",
    "AT_HEADER",
    "IN_DOCUMENTS",
    "HeldRuns",
    "ReadPolicy",
    "Resume",
    "SuspectLength",
    "Walk",
]


class Resume(enum.Enum):
    """Where the walk goes on once a policy has dealt with something unexpected."""

    #: At the cursor, where a namespace header is expected (or the stream ends).
    HEADER = "header"
    #: Documents at the cursor, in a block the policy opened itself (``takes_runs`` only).
    DOCUMENTS = "documents"
    #: Nowhere: the walk ends.
    STOP = "stop"


#: Where in a block an error was met (``recover``'s ``phase``): its header, right after
#: an EOF header (where a terminator belongs), among its documents.
AT_HEADER, AFTER_EOF, IN_DOCUMENTS = 0, 1, 2


class SuspectLength(FramingError):
    """``hold_last``: a run's last document neither decodes nor is followed by a framed item (§2).

    Its length may have grown over what follows it; the bytes are the policy's to skip.
    """


class HeldRuns:
    """The runs of a block as ``Framer.next_run`` frames them, except that the last document
    of a run is taken on its own, and only once what follows it is framed or it decodes
    (salvage, §2).

    A grown length swallows its successors: the framing breaks only after the
    document that lies, so that document must not be trusted for its length alone.
    Raises ``SuspectLength`` (the cursor at the document) for one that fails both.
    """

    def __init__(self, fr: Framer) -> None:
        self.fr = fr
        self._held = -1  # the offset of the last document of the run just returned ...
        self._held_size = 0  # ... and its size: framed already, not scanned again

    def __call__(self) -> tuple[int, int, int] | None:
        """The next run (start, end, count) in ``fr.buf``, or None after the block's terminator."""
        fr = self.fr
        if fr.base + fr.pos == self._held:
            size = self._held_size
        else:
            end, count, last = scan_last(fr.buf, fr.pos, fr.filled)
            if count == 0:
                size = fr.check_next("a document")
                if size < 0:
                    fr.pos += 4
                    return None
                end, count, last = scan_last(fr.buf, fr.pos, fr.filled)
            if count > 1:
                start = fr.pos
                fr.pos = last
                self._held = fr.base + last
                self._held_size = end - last
                return start, last, count - 1
            size = end - fr.pos
        self._held = -1
        if not _successor_framed(fr, size):
            with memoryview(fr.buf) as view, view[fr.pos : fr.pos + size] as doc:
                if not decodes(doc):
                    raise SuspectLength(
                        "a document's length is damaged (it does not decode)",
                        offset=fr.offset,
                        namespace=fr.namespace,
                    )
        start = fr.pos  # filling may have moved the window
        fr.pos = start + size
        return start, start + size, 1


def _successor_framed(fr: Framer, size: int) -> bool:
    """Whether the item after the ``size``-byte document at the cursor is framed (or the end)."""
    if not fr.fill(size + 4):
        return fr.filled - fr.pos == size  # the stream ends right after it
    after = int.from_bytes(fr.buf[fr.pos + size : fr.pos + size + 4], "little", signed=True)
    if after == -1:
        return True
    if after < 5 or after > MAX_BSON_SIZE or not fr.fill(size + after):
        return False
    return not fr.buf[fr.pos + size + after - 1]


class ReadPolicy:
    """The reader's policy: every broken rule raises where it is met (§6)."""

    #: The errors handed to ``recover`` instead of propagating (none: the reader raises).
    recoverable: tuple[type[MongoArchiveError], ...] = ()
    #: Whether ``run`` is called for every run of documents (check's ``--deep``).
    deep = False
    #: True: ``take`` keeps each run of documents; the walk neither checksums nor yields them.
    takes_runs = False
    #: True: runs are framed by ``HeldRuns`` (the last document of each held back, §2).
    hold_last = False
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

    def past_end(self, fr: Framer) -> bool:
        """True if the item at the cursor follows the end of the archive (every namespace ended)."""
        return self.demux.all_ended and self.prelude_complete

    def trailing(self, fr: Framer, start: int) -> None:
        """Bytes at ``start`` follow the end of the archive (``past_end``); the walk ends."""
        raise self.demux.trailing(start)

    def terminators(self, fr: Framer, start: int) -> Resume:
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

    def data_after_eof(self, at: int, ns: Namespace) -> Resume:
        """A document at ``at`` follows the EOF header of ``ns`` instead of a terminator.

        HEADER: the block is skipped; DOCUMENTS: ``take`` keeps its documents.
        """
        raise NamespaceError(
            "documents follow the namespace's EOF header",
            offset=at,
            namespace=str(ns),
            code="data-after-eof",
        )

    def end(self, summary: NamespaceSummary, stored_crc: int, start: int) -> None:
        """The EOF block of ``summary.ns`` (header at ``start``) is complete."""
        self.demux.end(summary, stored_crc, start)

    def recover(self, exc: MongoArchiveError, start: int, phase: int) -> Resume:
        """A ``recoverable`` error in the block at ``start`` (at ``phase``): where to go on."""
        raise exc

    def run(self, begin: int, end: int) -> None:
        """``deep`` only: the documents of ``fr.buf[begin:end]`` are about to be counted."""

    def take(self, begin: int, end: int, count: int) -> None:
        """``takes_runs`` only: ``count`` framed documents are ``fr.buf[begin:end]``."""

    def block_end(self) -> None:
        """``takes_runs`` only: the documents ``take`` kept end at the block's terminator."""


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
        recoverable = policy.recoverable
        take = policy.takes_runs
        next_run: Callable[[], tuple[int, int, int] | None] = (
            HeldRuns(fr) if policy.hold_last else fr.next_run
        )
        resume = Resume.HEADER
        while True:
            if resume is Resume.HEADER:
                fr.namespace = None
                if fr.at_end():
                    policy.stream_end(fr.offset)
                    self.finished = True
                    return
                phase = AT_HEADER
            else:  # documents found again after damage, in a block the policy opened
                phase = IN_DOCUMENTS
            start = fr.offset
            if phase == AT_HEADER and policy.past_end(fr):
                policy.trailing(fr, start)
                return
            try:
                if phase == IN_DOCUMENTS:
                    resume = Resume.HEADER
                    self.take_runs(next_run)
                    continue
                raw = fr.read_doc("a namespace header")
                if raw is None:
                    resume = policy.terminators(fr, start)
                    if resume is Resume.STOP:
                        return
                    continue
                header = policy.header(raw, start)
                if header is None:
                    self.skip_block()
                    continue
                ns, eof, stored_crc = header
                fr.namespace = str(ns)
                summary = policy.begin(ns, eof, start)
                if eof:
                    phase = AFTER_EOF
                    at = fr.offset
                    after = Resume.HEADER
                    if fr.check_next("the terminator after an EOF header") >= 0:
                        after = policy.data_after_eof(at, ns)
                        if after is Resume.HEADER:
                            self.skip_block()
                    else:
                        fr.pos += 4
                    if summary is not None:
                        policy.end(summary, stored_crc, start)
                        yield NamespaceEnd(ns, stored_crc, start)
                    if after is Resume.DOCUMENTS:
                        phase = IN_DOCUMENTS
                        self.take_runs(next_run)
                    continue
                if summary is None:
                    self.skip_block()
                    continue
                yield Segment(ns, start)
                phase = IN_DOCUMENTS
                if take:
                    self.take_runs(next_run)
                    continue
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
            except recoverable as exc:
                resume = policy.recover(exc, start, phase)
                if resume is Resume.STOP:
                    return

    def take_runs(self, next_run: Callable[[], tuple[int, int, int] | None]) -> None:
        """``takes_runs``: hand every run of the block to the policy, up to its terminator."""
        policy = self.policy
        while (run := next_run()) is not None:
            policy.take(*run)
        policy.block_end()

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

"""Salvage as a policy of the one walk: one pass over a damaged archive into a spool and a log.

The input is read once, front to back, with the reader's ``Framer`` (pipes
and gzip work, memory stays bounded, spec/archive.md §8); the prelude by
``_salvage_prelude``, the body by ``_walk.Walk`` under ``SalvagePolicy``: the
walk frames the documents (``HeldRuns`` holds back the last one of each run
until what follows it is framed, §2), the policy applies salvage's rules and,
after damage, resynchronises (``_skip_damage.Resync``).  Every usable byte
goes to a spool file in stream order: block headers as they were, then the
documents of the block; the log (``_Log``, another temporary file) says what
each stretch of the spool is.  Nothing is kept in memory per block, only per
namespace and per damaged spot.

A stretch of documents is a *segment*.  It is *definite* when it follows a
namespace header that decoded, with no damage between them; it is a
*candidate* otherwise: documents found again after damage inside a block
(labelled with that block's namespace), documents after a lost header (no
label), documents after their namespace's EOF block, or under a header of a
namespace the intact prelude does not declare (a name hit by damage).  Which
namespace a candidate belongs to is decided later by the stored CRCs (§4,
``_salvage_out``).

Where the framing breaks, the scan resumes at the next recognisable item
(``resync``): a namespace header (its first fields the strings ``db`` and
``collection``, §3.3), a collection entry while in the prelude (§3.2), or a
document that decodes and is followed by another item (then the walk goes on
with documents, ``Resume.DOCUMENTS``).  A document whose successor is not
framed is suspected of a grown length (it swallowed what follows): unless it
decodes, the scan resumes right after its first byte, not after its claimed
end (§2).  More than ``max_damage`` consecutive bytes without a recognisable
item end the scan: the rest is not archive data.
"""

from __future__ import annotations

import bisect
from typing import IO

from ._crc import crc64
from ._framing import Framer
from ._io import _GzipCorrupt, _GzipTrailing, _GzipTruncated
from ._rules import decode_namespace_header, timeseries_data_namespace
from ._salvage_model import CANDIDATE, DEFINITE, EOF_BLOCK, SEGMENT, Candidate, Damage, NsState, _Log
from ._salvage_prelude import entries_loop, item, read_prelude
from ._skip_damage import (
    _MAX_NS_HEADER_SIZE,
    CUT_HINT,
    Resync,
    _hint,
    bytes_hint,
    own_hint,
)
from ._text import plural
from ._walk import AFTER_EOF, AT_HEADER, ReadPolicy, Resume, SuspectLength, Walk
from .errors import ArchiveError, FramingError, MongoArchiveError, TruncatedError
from .model import ArchiveHeader, CollectionEntry, Namespace, NamespaceSummary
from .writer import uses_buckets

__all__ = ["DEFAULT_MAX_DAMAGE", "SalvagePolicy", "candidates_before"]

#: The default of ``max_damage``: four times the largest document (16 MiB, §2).  No lost
#: document or header explains a longer stretch without one recognisable item.
DEFAULT_MAX_DAMAGE = 64 << 20
#: What ``begin`` gives the walk for a block it reads: ``take`` keeps the documents, so the
#: walk's own summary is never filled in.
_TAKEN = NamespaceSummary(Namespace("", ""))


class _Unreadable(ArchiveError):
    """A namespace header that frames but does not decode (its decoder's message and code)."""


def _stream_damaged(exc: MongoArchiveError) -> bool:
    """True if ``exc`` comes from the compressed stream (nothing after it can be read), not the framing."""
    return isinstance(exc.__cause__, (_GzipCorrupt, _GzipTrailing, _GzipTruncated))


class SalvagePolicy(Resync, ReadPolicy):
    """Salvage's rules for the walk; see the module docstring."""

    recoverable = (MongoArchiveError,)
    takes_runs = True
    hold_last = True

    def __init__(
        self, framer: Framer, spool: IO[bytes], log: _Log, max_damage: int, damage: list[Damage]
    ) -> None:
        super().__init__(framer, max_damage)
        framer.hints = False  # skipped bytes are described by ``skip``, from a sample taken there
        self.spool = spool
        self.log = log
        self.damaged = damage
        self.archive_header: ArchiveHeader | None = None
        self.header_ok = True
        self.prelude_ok = True
        self.header_raw: bytes | None = None  # the archive header as read
        self.entries: list[CollectionEntry] = []
        self.entry_raw: list[bytes] = []  # each entry as read
        self.states: dict[Namespace, NsState] = {}
        self.aliases: dict[Namespace, Namespace] = {}
        self.candidates: list[Candidate] = []  # in stream order, so by epoch
        self.epoch = 0
        self.open_declared = 0  # declared namespaces still without their EOF block
        self.notes: list[str] = []
        self.stopped = False  # max_damage was reached
        self._spooled = 0  # bytes written to the spool
        self.last_header = b""  # the namespace header being read, as read
        self._stored = 0  # ... and its stored CRC
        #: The namespace whose block the cursor is in: documents found again after damage
        #: are labelled with it.  None between blocks and after an EOF header.
        self.current: NsState | None = None
        self._eof_of: NsState | None = None  # the namespace of the EOF header just read
        #: The open segment (``_open``): its namespace, candidate (None: definite), header in
        #: the spool (offset, length), and the namespace's definite documents when it opened.
        self._segment = False
        self._st: NsState | None = None
        self._cand: Candidate | None = None
        self._header_at = self._header_len = self._opened = 0

    def damage(
        self,
        start: int,
        end: int,
        reason: str,
        code: str,
        st: NsState | None = None,
        lost: int = 0,
        hint: str | None = None,
    ) -> None:
        ns = None if st is None else str(st.ns)
        # Hints from the reader (not_an_archive, gzip errors) may advise running salvage.
        self.damaged.append(Damage(start, end, reason, code, ns, lost, own_hint(hint)))
        if st is not None:
            st.damage_count += 1
            if st.first_damage is None:
                st.first_damage = (start, end)

    # -- namespaces -----------------------------------------------------------
    def state_for(self, ns: Namespace) -> NsState:
        key = self.aliases.get(ns, ns)
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = NsState(key, len(self.states), False, ns)
        elif not st.seen:
            st.data_ns = ns  # the name the archive itself uses for the data
        st.seen = True
        return st

    def declare(self, entry: CollectionEntry) -> None:
        """A prelude entry was read: its namespace is expected in the body (§5.4 for timeseries)."""
        data_ns = entry.namespace
        if entry.type == "timeseries":
            # Data under system.buckets.X before 8.3, under X since (§5.4): both are X's.
            buckets = timeseries_data_namespace(entry)
            self.aliases[buckets] = entry.namespace
            if uses_buckets(self.archive_header.server_version if self.archive_header else ""):
                data_ns = buckets
        self.states[entry.namespace] = NsState(entry.namespace, len(self.states), True, data_ns)
        self.open_declared += 1

    def new_candidate(self, label: NsState | None) -> Candidate:
        self.epoch += 1
        cand = Candidate(len(self.candidates), self.epoch, label, self.fr.offset)
        self.candidates.append(cand)
        if label is not None:
            label.labelled.append(cand.index)
        return cand

    # -- the spool --------------------------------------------------------------
    def _to_spool(self, data: bytes | bytearray | memoryview) -> int:
        at = self._spooled
        self.spool.write(data)
        self._spooled += len(data)
        return at

    def skip(
        self,
        start: int,
        reason: str,
        code: str,
        st: NsState | None,
        *,
        want_docs: bool = True,
        in_prelude: bool = False,
        hint: str | None = None,
    ) -> str:
        """Skip damaged bytes from ``start``; record the range; return where to go on.

        ``hint``: what the bytes are, when the caller knows better than a sample can say.
        """
        fr = self.fr
        fr.pos = start - fr.base  # the cursor is at most one item past start, still in the buffer
        sample = fr.peek(4096)
        where = self.resync(start, want_docs, in_prelude)
        end = self._damage_end(start, where)
        if where == "end" and code == "past-end":
            reason, code = "the stream ends before the archive does (truncated)", "truncated"
            hint = CUT_HINT
        elif code == "past-end":
            reason, code = f"{reason}: its length points past the end of the stream", "bad-length"
        if hint is None:
            hint = _hint(sample[: end - start], start)
        self.damage(start, end, reason, code, st, hint=hint)
        if where == "limit":
            self.stop(end)
        return where

    def stop(self, at: int) -> None:
        """``max_damage`` consecutive bytes held nothing usable: stop reading here."""
        self.stopped = True
        self.damage(
            at,
            at,
            f"more than {self.max_damage} consecutive bytes hold no recognisable item: "
            "salvage stopped reading here",
            "too-much-damage",
            hint="the rest is not archive data (or a longer stretch is wiped): "
            "raise --max-damage to scan further",
        )

    def cut(self, st: NsState | None) -> None:
        """The stream ends inside an item: the rest is lost."""
        fr = self.fr
        start = fr.offset
        fr.pos = fr.filled
        self.damage(
            start,
            fr.offset,
            "the stream ends before the archive does (truncated)",
            "truncated",
            st,
            hint=CUT_HINT,
        )

    # -- the archive ----------------------------------------------------------
    def scan(self) -> None:
        """Read the whole input: the prelude, then the body under the walk."""
        fr = self.fr
        try:
            # The prelude's resynchronisation looks for headers and entries, never documents.
            if self._resume(read_prelude(self)) is Resume.HEADER:
                for _ in Walk(fr, self).body(False):
                    pass
        except MongoArchiveError as exc:  # a damaged gzip stream: nothing after it can be read
            start = exc.offset if exc.offset is not None else fr.offset
            # No namespace: the compressed stream broke, whatever block the walk was in.
            self.damaged.append(Damage(start, start, str(exc.message), exc.code, None, 0, exc.hint))
            if exc.code != "trailing-data":  # bytes after the last gzip member damage nothing before them
                self.notes.append("the compressed stream is damaged: nothing after it could be read")

    def _resume(self, where: str) -> Resume:
        """Where the walk goes on after a resynchronisation that ended at ``where`` (``resync``)."""
        while where == "entry":  # collection entries found again after prelude damage
            where = entries_loop(self)
        if where in ("end", "limit"):
            return Resume.STOP
        if where == "doc":
            self._open(self.current, self.new_candidate(self.current))
            return Resume.DOCUMENTS
        return Resume.HEADER

    # -- the walk's hooks (_walk.ReadPolicy) -------------------------------------------
    def stream_end(self, offset: int) -> None:
        self.check_ended(offset)

    def past_end(self, fr: Framer) -> bool:
        if not (self.entries and self.open_declared == 0 and self.prelude_ok):
            return False
        kind, size = item(fr)
        return not self._known_header(kind, size)

    def trailing(self, fr: Framer, start: int) -> None:
        """Every declared namespace has ended (§6): the rest is not part of this archive."""
        offset = start
        hint = bytes_hint(fr.peek(64))
        while not fr.eof and fr.offset - offset <= self.max_damage:
            fr.pos = fr.filled
            fr.fill(fr.chunk)
        fr.pos = fr.filled
        end = min(fr.offset, offset + self.max_damage + 1)
        self.damage(offset, end, "bytes follow the end of the archive", "trailing-data", hint=hint)
        if not fr.eof:
            self.stop(end)

    def terminators(self, fr: Framer, start: int) -> Resume:
        self.current = None
        return self._resume(self.skip(start, "two terminators in a row", "consecutive-terminators", None))

    def header(self, raw: bytes, start: int) -> tuple[Namespace, bool, int] | None:
        try:
            ns, eof, stored, _ = decode_namespace_header(raw, start)
        except ArchiveError as exc:
            raise _Unreadable(exc.message, offset=start, code=exc.code) from exc
        self.last_header = raw
        self._stored = stored
        return ns, eof, stored

    def begin(self, ns: Namespace, eof: bool, start: int) -> NamespaceSummary | None:
        raw = self.last_header
        st = self.state_for(ns)
        if eof:
            self.current = None
            self.eof_block(st, self._stored, raw, start)
            return None
        self.current = st
        if st.ended or (not st.declared and self.prelude_ok):
            # After its EOF block, or a name the intact prelude does not declare
            # (damage may have changed it): the stored CRCs decide (§6).
            why = "after its EOF block" if st.ended else "without a prelude entry"
            if why not in " ".join(st.notes):
                st.notes.append(f"data {why} at byte {start}: kept only if a stored CRC covers it")
            self._open(st, self.new_candidate(st))
        else:
            self._open(st, None, self._to_spool(raw), len(raw))
        return _TAKEN

    def data_after_eof(self, at: int, ns: Namespace) -> Resume:
        # Documents right after an EOF header: a data header whose EOF flag was hit, or
        # a lost terminator; the stored CRCs decide (§4).
        st = self._eof_of
        self.damage(at, at, "the EOF header is not followed by a terminator", "data-after-eof", st)
        self._open(st, self.new_candidate(st))
        return Resume.DOCUMENTS

    def take(self, begin: int, end: int, count: int) -> None:
        """Copy buf[begin:end] (``count`` framed documents) to the spool, for the open segment."""
        st, cand = self._st, self._cand
        view = memoryview(self.fr.buf)[begin:end]
        try:
            self.spool.write(view)
            self._spooled += end - begin
            if cand is not None:
                cand.crc = crc64(view, cand.crc)
                cand.length += end - begin
                cand.documents += count
                cand.end = self.fr.base + end
            if st is not None:
                if cand is None:
                    if st.piece_epoch != self.epoch:
                        st.close_piece()
                        st.piece_epoch = self.epoch
                    st.piece_crc = crc64(view, st.piece_crc)
                    st.piece_len += end - begin
                    st.crc_def = crc64(view, st.crc_def)
                    st.docs_def += count
                st.crc_all = crc64(view, st.crc_all)
                st.bytes_all += end - begin
        finally:
            view.release()

    def block_end(self) -> None:
        self._close()

    def recover(self, exc: MongoArchiveError, start: int, phase: int) -> Resume:
        fr = self.fr
        st = self._st if self._segment else None
        self._close()
        if _stream_damaged(exc) or not isinstance(exc, (FramingError, TruncatedError, _Unreadable)):
            raise exc
        at = fr.offset
        if isinstance(exc, _Unreadable):
            self.current = None
            reason = f"a namespace header is unreadable: {exc.message}"
            return self._resume(self.skip(start, reason, exc.code, None))
        if isinstance(exc, SuspectLength):
            kind = "bad-document"
        elif isinstance(exc, TruncatedError):
            # Under 4 bytes left: cut inside a length; else a length past the end of the
            # stream, as likely damaged as cut short (§2): ``skip`` decides.
            kind = "cut" if fr.filled - fr.pos < 4 else "past-end"
        else:
            kind = exc.code  # bad-length, missing-nul
        if phase == AT_HEADER:
            self.current = None
            if kind == "cut":
                self.cut(None)
                return Resume.STOP
            return self._resume(self.skip(at, "a namespace header is damaged", kind, None))
        if phase == AFTER_EOF:
            eof_st = self._eof_of
            if kind == "cut":
                self.cut(eof_st)
                return Resume.STOP
            reason = "the EOF header is not followed by a terminator"
            return self._resume(self.skip(at, reason, "data-after-eof", eof_st))
        if kind == "cut":
            self.cut(st)
            return Resume.STOP
        if kind == "bad-document":
            reason = "a document's length is damaged (it does not decode)"
        else:
            # Documents found again open a candidate labelled with this namespace
            # (``_resume``): the damage may also have hidden a block boundary.
            reason = "a document's framing is damaged"
        return self._resume(self.skip(at, reason, kind, st))

    def _known_header(self, kind: str, size: int) -> bool:
        """The item at the cursor is a header of a declared namespace (not trailing data, §6)."""
        if kind != "doc" or size > _MAX_NS_HEADER_SIZE:
            return False
        fr = self.fr
        try:
            ns, _, _, _ = decode_namespace_header(bytes(fr.buf[fr.pos : fr.pos + size]), fr.offset)
        except ArchiveError:
            return False
        return self.aliases.get(ns, ns) in self.states

    def check_ended(self, offset: int) -> None:
        """The stream ended cleanly at a block boundary: report namespaces left open (§6)."""
        open_ns = [st for st in self.states.values() if not st.ended]
        if open_ns:
            self.damage(
                offset,
                offset,
                f"the stream ends before the EOF block of {plural(len(open_ns), 'namespace')} (truncated)",
                "truncated",
                open_ns[0] if len(open_ns) == 1 else None,
                hint="the archive was cut short at a block boundary",
            )

    def eof_block(self, st: NsState, stored: int, raw: bytes, offset: int) -> None:
        """The EOF header of ``st`` at ``offset`` was read; the walk looks at what follows it."""
        # Damage can turn a data header into an EOF header: every EOF block is a
        # candidate; attribution keeps the first whose CRC matches (§4, §6).
        eof = (stored, self.epoch, self.log.append(EOF_BLOCK, st.index, 0, 0, 0, 0, 0, 0))
        st.eofs.append((*eof, self._to_spool(raw), len(raw)))
        if st.ended:
            st.notes.append(f"another EOF block at byte {offset}")
        else:
            st.ended = True
            st.use_eof(0)
            if st.declared:
                self.open_declared -= 1
        self._eof_of = st

    def _open(
        self, st: NsState | None, cand: Candidate | None, header_at: int = 0, header_len: int = 0
    ) -> None:
        """Documents at the cursor form a segment of ``st`` (``cand``: a candidate one)."""
        self._segment = True
        self._st, self._cand = st, cand
        self._header_at, self._header_len = header_at, header_len
        self._opened = st.docs_def if st is not None else 0

    def _close(self) -> None:
        """Log the open segment, which ends at the spool's end."""
        if not self._segment:
            return
        self._segment = False
        st, cand = self._st, self._cand
        if cand is not None:
            if cand.documents:
                start = self._spooled - cand.length
                cand.record = self.log.append(
                    SEGMENT, cand.index, CANDIDATE, start, self._spooled, 0, 0, cand.documents
                )
        elif st is not None:
            header_at, header_len = self._header_at, self._header_len
            st.last_definite = self.log.append(
                SEGMENT,
                st.index,
                DEFINITE,
                header_at + header_len,
                self._spooled,
                header_at,
                header_len,
                st.docs_def - self._opened,
            )


def candidates_before(scan: SalvagePolicy, epoch: int, limit: int) -> list[Candidate]:
    """Up to ``limit`` candidates created at or before ``epoch``, the latest ones."""
    upto = bisect.bisect_right(scan.candidates, epoch, key=lambda c: c.epoch)
    return scan.candidates[max(0, upto - limit) : upto]

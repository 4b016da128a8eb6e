"""The scanning half of ``salvage``: one pass over a damaged archive into a spool and a log.

The input is read once, front to back, with the reader's ``Framer`` (pipes
and gzip work, memory stays bounded, spec/archive.md §8); the prelude by
``_salvage_prelude``, the body here.  Every usable byte
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
document that decodes and is followed by another item.  A document whose
successor is not framed is suspected of a grown length (it swallowed what
follows): unless it decodes, the scan resumes right after its first byte,
not after its claimed end (§2).  More than ``max_damage`` consecutive bytes
without a recognisable item end the scan: the rest is not archive data.
"""

from __future__ import annotations

import bisect
import struct
from typing import IO

from ._crc import crc64
from ._framing import Framer
from ._hotpath import scan_last as _scan
from ._rules import decode_namespace_header, timeseries_data_namespace
from ._salvage_model import CANDIDATE, DEFINITE, EOF_BLOCK, SEGMENT, Candidate, Damage, NsState, _Log
from ._salvage_prelude import entries_loop, read_prelude
from ._skip_damage import (
    _MAX_NS_HEADER_SIZE,
    CUT_HINT,
    Resync,
    _hint,
    bytes_hint,
    decodes,
    own_hint,
)
from ._text import plural
from .errors import ArchiveError, MongoArchiveError
from .model import MAX_BSON_SIZE, ArchiveHeader, CollectionEntry, Namespace
from .writer import uses_buckets

__all__ = ["DEFAULT_MAX_DAMAGE", "Scanner", "candidates_before", "decodes"]

_unpack_int32 = struct.Struct("<i").unpack_from
#: The default of ``max_damage``: four times the largest document (16 MiB, §2).  No lost
#: document or header explains a longer stretch without one recognisable item.
DEFAULT_MAX_DAMAGE = 64 << 20


class Scanner(Resync):
    """The scanning state machine; see the module docstring."""

    def __init__(
        self, framer: Framer, spool: IO[bytes], log: _Log, max_damage: int, damage: list[Damage]
    ) -> None:
        super().__init__(framer, max_damage)
        self.spool = spool
        self.log = log
        self.damaged = damage
        self.header: ArchiveHeader | None = None
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

    # -- low-level items ------------------------------------------------------
    def item(self) -> tuple[str, int]:
        """Classify the item at the cursor: end, cut, term, doc, bad-length, missing-nul, past-end."""
        fr = self.fr
        if not fr.fill(1):
            return "end", 0
        if not fr.fill(4):
            return "cut", 0
        size = _unpack_int32(fr.buf, fr.pos)[0]
        if size == -1:
            return "term", 4
        if size < 5 or size > MAX_BSON_SIZE:
            return "bad-length", size
        if not fr.fill(size):
            # A length past the end of the stream is as likely damaged as cut short (§2):
            # the scan resumes after its first byte, and only nothing found there is truncation.
            return "past-end", size
        if fr.buf[fr.pos + size - 1]:
            return "missing-nul", size
        return "doc", size

    def _next_is_framed(self, size: int) -> bool:
        """Whether the item after the ``size``-byte document at the cursor is framed (or the end)."""
        fr = self.fr
        if not fr.fill(size + 4):
            return fr.filled - fr.pos == size  # the stream ends right after it
        after = _unpack_int32(fr.buf, fr.pos + size)[0]
        if after == -1:
            return True
        if after < 5 or after > MAX_BSON_SIZE or not fr.fill(size + after):
            return False
        return not fr.buf[fr.pos + size + after - 1]

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
            if uses_buckets(self.header.server_version if self.header else ""):
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

    def commit(self, st: NsState | None, cand: Candidate | None, start: int, end: int, count: int) -> None:
        """Copy buf[start:end] (``count`` framed documents) to the spool for a segment."""
        view = memoryview(self.fr.buf)[start:end]
        try:
            self._to_spool(view)
            if cand is not None:
                cand.crc = crc64(view, cand.crc)
                cand.length += end - start
                cand.documents += count
                cand.end = self.fr.base + end
            if st is not None:
                if cand is None:
                    if st.piece_epoch != self.epoch:
                        st.close_piece()
                        st.piece_epoch = self.epoch
                    st.piece_crc = crc64(view, st.piece_crc)
                    st.piece_len += end - start
                    st.crc_def = crc64(view, st.crc_def)
                    st.docs_def += count
                st.crc_all = crc64(view, st.crc_all)
                st.bytes_all += end - start
        finally:
            view.release()

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
    def run(self) -> None:
        fr = self.fr
        try:
            state = read_prelude(self)
            self.body(state)
        except MongoArchiveError as exc:  # a damaged gzip stream: nothing after it can be read
            start = exc.offset if exc.offset is not None else fr.offset
            self.damaged.append(Damage(start, start, str(exc.message), exc.code, exc.namespace, 0, exc.hint))
            if exc.code != "trailing-data":  # bytes after the last gzip member damage nothing before them
                self.notes.append("the compressed stream is damaged: nothing after it could be read")

    def body(self, state: str) -> None:
        fr = self.fr
        current: NsState | None = None  # the namespace whose block the cursor is in
        while True:
            if state in ("end", "limit"):
                return
            if state == "entry":  # resync found collection entries after prelude damage
                state = entries_loop(self)
                continue
            if state == "doc":
                state = self.documents(current, self.new_candidate(current))
                continue
            # state == "block" or "header": a namespace header is expected at the cursor
            current = None
            offset = fr.offset
            kind, size = self.item()
            if kind == "end":
                self.check_ended(offset)
                return
            if (
                self.entries
                and self.open_declared == 0
                and self.prelude_ok
                and not self._known_header(kind, size)
            ):
                self.trailing(offset)
                return
            if kind == "cut":
                self.cut(None)
                return
            if kind == "term":
                state = self.skip(offset, "two terminators in a row", "consecutive-terminators", None)
                continue
            if kind != "doc":
                state = self.skip(offset, "a namespace header is damaged", kind, None)
                continue
            raw = bytes(fr.buf[fr.pos : fr.pos + size])
            try:
                ns, eof, stored, _ = decode_namespace_header(raw, offset)
            except ArchiveError as exc:
                state = self.skip(offset, f"a namespace header is unreadable: {exc.message}", exc.code, None)
                continue
            fr.pos += size
            st = self.state_for(ns)
            if eof:
                state = self.eof_block(st, stored, raw, offset)
                continue
            current = st
            if st.ended or (not st.declared and self.prelude_ok):
                # After its EOF block, or a name the intact prelude does not declare
                # (damage may have changed it): the stored CRCs decide (§6).
                why = "after its EOF block" if st.ended else "without a prelude entry"
                if why not in " ".join(st.notes):
                    st.notes.append(f"data {why} at byte {offset}: kept only if a stored CRC covers it")
                state = self.documents(st, self.new_candidate(st))
                continue
            header_at = self._to_spool(raw)
            state = self.documents(st, None, header_at, len(raw))

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

    def trailing(self, offset: int) -> None:
        """Every declared namespace has ended (§6): the rest is not part of this archive."""
        fr = self.fr
        hint = bytes_hint(fr.peek(64))
        while not fr.eof and fr.offset - offset <= self.max_damage:
            fr.pos = fr.filled
            fr.fill(fr.chunk)
        fr.pos = fr.filled
        end = min(fr.offset, offset + self.max_damage + 1)
        self.damage(offset, end, "bytes follow the end of the archive", "trailing-data", hint=hint)
        if not fr.eof:
            self.stop(end)

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

    def eof_block(self, st: NsState, stored: int, raw: bytes, offset: int) -> str:
        fr = self.fr
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
        at = fr.offset
        kind, _ = self.item()
        if kind == "term":
            fr.pos += 4
            return "block"
        if kind in ("end", "cut"):
            self.cut(st)
            return "end"
        if kind == "doc":
            # Documents right after an EOF header: a data header whose EOF flag was hit, or
            # a lost terminator; the stored CRCs decide (§4).
            self.damage(at, at, "the EOF header is not followed by a terminator", "data-after-eof", st)
            return self.documents(st, self.new_candidate(st))
        return self.skip(at, "the EOF header is not followed by a terminator", "data-after-eof", st)

    def _close(
        self, st: NsState | None, cand: Candidate | None, header_at: int, header_len: int, count: int
    ) -> None:
        """Log the segment that ends at the spool's end (``count`` definite documents)."""
        if cand is not None:
            if cand.documents:
                start = self._spooled - cand.length
                cand.record = self.log.append(
                    SEGMENT, cand.index, CANDIDATE, start, self._spooled, 0, 0, cand.documents
                )
        elif st is not None:
            body = header_at + header_len
            st.last_definite = self.log.append(
                SEGMENT, st.index, DEFINITE, body, self._spooled, header_at, header_len, count
            )

    def documents(
        self, st: NsState | None, cand: Candidate | None, header_at: int = 0, header_len: int = 0
    ) -> str:
        """Documents of a segment up to its block's terminator; returns the next state."""
        fr = self.fr
        opened = st.docs_def if st is not None else 0
        try:
            while True:
                end, count, last = _scan(fr.buf, fr.pos, fr.filled)
                if count:
                    if count > 1:
                        self.commit(st, cand, fr.pos, last, count - 1)
                        fr.pos = last
                    # The last document is held until what follows it is framed: a grown
                    # length that swallowed its successors breaks the framing there (§2).
                    size = end - last
                    if self._next_is_framed(size) or decodes(memoryview(fr.buf)[fr.pos : fr.pos + size]):
                        self.commit(st, cand, fr.pos, fr.pos + size, 1)
                        fr.pos += size
                        continue
                    return self.skip(
                        fr.offset, "a document's length is damaged (it does not decode)", "bad-document", st
                    )
                at = fr.offset
                kind, size = self.item()
                if kind == "term":
                    fr.pos += 4
                    return "block"
                if kind == "doc":
                    continue
                if kind in ("end", "cut"):
                    self.cut(st)
                    return "end"
                # Documents found again ("doc") open a candidate labelled with this
                # namespace in body(): the damage may also have hidden a block boundary.
                return self.skip(at, "a document's framing is damaged", kind, st)
        finally:
            self._close(st, cand, header_at, header_len, (st.docs_def if st else 0) - opened)


def candidates_before(scan: Scanner, epoch: int, limit: int) -> list[Candidate]:
    """Up to ``limit`` candidates created at or before ``epoch``, the latest ones."""
    upto = bisect.bisect_right(scan.candidates, epoch, key=lambda c: c.epoch)
    return scan.candidates[max(0, upto - limit) : upto]

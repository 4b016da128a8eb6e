"""The writing half of ``salvage``: what the stored CRCs verify, then the new archive.

A namespace is *verified* when the CRC-64 of documents found for it, in
stream order, equals the CRC its EOF block stores (§4): its definite
documents alone, or with candidate segments (``_salvage_policy``) that the
match attributes to it.  Everything else is *unverified*: documents of a
namespace whose stored CRC does not match, of a namespace cut short before
its EOF block (there is no stored CRC at all), and candidates no stored CRC
claims.  Unverified documents still decode but may be altered; they are
written only with ``keep_unverified`` (after a BSON check), never silently.

The new archive follows the input's block order: the prelude, then each
written segment as a block, with the header bytes as read for definite ones
(a header with a field besides §4's four, which mongorestore 100.14+ refuses,
is written again in canonical form), and each namespace's EOF block where the
input had it (or after its last written block).  An intact input whose headers
every release reads therefore comes out byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import IO

import bson

from . import schema
from ._crc import crc64, crc64_combine, to_int64
from ._framing import MAGIC, TERMINATOR, decodes
from ._salvage_model import DEFINITE, EOF_BLOCK, Candidate, NsState
from ._salvage_policy import SalvagePolicy, candidates_before
from ._sink import AtomicSink
from .model import ArchiveHeader, CollectionEntry, Namespace

#: At most this many candidate segments are tried against one stored CRC.
_MAX_TRIED = 12
#: ... and only when the namespace's definite documents form at most this many pieces.
_MAX_PIECES = 64
_COPY = 1 << 20


@dataclasses.dataclass(slots=True)
class Written:
    """What was written for one namespace."""

    kept: int = 0
    unverified: int = 0  # kept, but no stored CRC covers them
    dropped: int = 0  # left out: no stored CRC covers them (keep_unverified is off)
    lost: int = 0  # not valid BSON
    bytes: int = 0
    crc: int = 0
    attributed: int = 0  # candidate segments a stored CRC attributed to it


def _crc_with(st: NsState, chosen: list[Candidate]) -> int:
    """CRC-64 of ``st``'s definite documents with ``chosen`` inserted at their stream places."""
    parts = [(epoch, 1, crc, length) for epoch, crc, length in st.all_pieces()]
    parts += [(c.epoch, 0, c.crc, c.length) for c in chosen]
    crc = 0
    for _, _, part_crc, length in sorted(parts, key=lambda p: (p[0], p[1])):
        crc = crc64_combine(crc, part_crc, length)
    return crc


def attribute(scan: SalvagePolicy) -> tuple[set[int], dict[int, NsState]]:
    """Verify namespaces against their stored CRCs: (verified namespace indexes, attributed candidates)."""
    verified: set[int] = set()
    owner: dict[int, NsState] = {}
    ended = sorted((st for st in scan.states.values() if st.ended), key=lambda st: st.eof_record)
    for st in ended:
        # Of several EOF blocks (damage can make one of a data header), the one whose CRC
        # covers the most documents wins.
        best: tuple[int, int, list[Candidate]] | None = None
        for which in range(len(st.eofs)):
            st.use_eof(which)
            chosen = _verify(scan, st, owner)
            if chosen is not None:
                covered = sum(c.documents for c in chosen)
                if best is None or covered > best[0]:
                    best = (covered, which, chosen)
        st.use_eof(0 if best is None else best[1])
        if best is not None:
            verified.add(st.index)
            owner.update((c.index, st) for c in best[2])
    return verified, owner


def _verify(scan: SalvagePolicy, st: NsState, owner: dict[int, NsState]) -> list[Candidate] | None:
    """The candidates that make ``st``'s documents match its stored CRC, or None."""
    stored = st.stored_crc
    labelled = [scan.candidates[i] for i in st.labelled if i not in owner]
    if st.crc_def == stored:
        return []
    if labelled and len(labelled) == len(st.labelled) and st.crc_all == stored:
        return labelled
    pool = {c.index: c for c in labelled[-_MAX_TRIED:]}
    for c in candidates_before(scan, st.eof_epoch, _MAX_TRIED):
        if c.index not in owner and len(pool) < _MAX_TRIED:
            pool.setdefault(c.index, c)
    if not pool or len(st.all_pieces()) > _MAX_PIECES:
        return None
    tried = list(pool.values())
    own = [c for c in tried if c.label is st]
    tries = [[c] for c in tried]
    tries += [[*own, c] for c in tried if c.label is not st]
    tries.append(tried)
    for chosen in tries:
        if _crc_with(st, chosen) == stored:
            return chosen
    return None


def _documents(spool: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    """The framed documents of spool[start:end], read in bounded pieces."""
    spool.seek(start)
    pending = b""
    left = end - start
    while left or pending:
        if left:
            chunk = spool.read(min(_COPY, left))
            left -= len(chunk)
            data = pending + chunk if pending else chunk
        else:
            data = pending
        pos = 0
        while pos + 4 <= len(data):
            size = int.from_bytes(data[pos : pos + 4], "little")
            if pos + size > len(data):
                break
            yield data[pos : pos + size]
            pos += size
        pending = data[pos:]
        if not left:
            break


def _frames_to_end(raw: bytes, pos: int) -> list[tuple[int, int]] | None:
    """The documents framing raw[pos:] exactly, or None."""
    spans = []
    while pos < len(raw):
        if pos + 5 > len(raw):
            return None
        size = int.from_bytes(raw[pos : pos + 4], "little", signed=True)
        if size < 5 or pos + size > len(raw) or raw[pos + size - 1]:
            return None
        spans.append((pos, pos + size))
        pos += size
    return spans


def embedded(raw: bytes) -> list[bytes]:
    """Documents swallowed by ``raw``, a document whose grown length does not decode (§2).

    ``raw`` splits at p into a document whose length field was altered (with
    p written into it, it decodes) and documents that frame exactly to the end
    and decode.  That document itself is altered and not returned.
    """
    for p in range(5, len(raw) - 4):
        if raw[p - 1] or (spans := _frames_to_end(raw, p)) is None:
            continue
        if not decodes(p.to_bytes(4, "little") + raw[4:p]):
            continue
        docs = [raw[a:b] for a, b in spans]
        if all(decodes(d) for d in docs):
            return docs
    return []


#: The fields of a namespace header (§4); mongorestore 100.14+ refuses any other.
_HEADER_FIELDS = frozenset({"db", "collection", "EOF", "CRC"})


def _every_release_reads(raw: bytes) -> bool:
    """Whether a namespace header read from the input holds no field the strict releases refuse.

    Such a field comes from another writer or from damage (a flipped bit in a
    field name leaves a well-formed header): either way the output is meant to
    restore with every release, so the header is written again in canonical form.
    """
    try:
        return set(bson.decode(raw)) <= _HEADER_FIELDS
    except Exception:  # bson's errors for a header the lenient read took: write it canonically
        return False


def _header(ns: Namespace, eof: bool, crc: int) -> bytes:
    return bytes(
        schema.NamespaceHeader.build(
            {"db": ns.db, "collection": ns.collection, "EOF": eof, "CRC": to_int64(crc)}
        )
    )


def entry_bytes(entry: CollectionEntry) -> bytes | None:
    """A fresh collection entry (§3.2), or None if it cannot be encoded."""
    try:
        return bytes(
            schema.CollectionMetadata.build(
                {
                    "db": entry.db,
                    "collection": entry.collection,
                    "metadata": entry.metadata,
                    "size": entry.size,
                    "type": entry.type,
                }
            )
        )
    except Exception:  # construct raises its own errors for unencodable values
        return None


def header_bytes(header: ArchiveHeader) -> bytes:
    return bytes(
        schema.ArchiveHeader.build(
            {
                "concurrent_collections": header.concurrent_collections,
                "version": header.version,
                "server_version": header.server_version,
                "tool_version": header.tool_version,
            }
        )
    )


class Emitter:
    """Writes the new archive from the scan, in the input's block order."""

    def __init__(
        self,
        scan: SalvagePolicy,
        spool: IO[bytes],
        sink: AtomicSink,
        emit: set[int],
        verified: set[int],
        assigned: dict[int, NsState],
        keep_unverified: bool,
    ) -> None:
        self.scan = scan
        self.spool = spool
        self.sink = sink
        self.emit = emit  # indexes of the namespaces in the new prelude
        self.verified = verified
        self.assigned = assigned  # candidates a stored CRC attributes
        self.keep = keep_unverified
        self.owner = dict(assigned)
        if keep_unverified:
            for cand in scan.candidates:
                if cand.index not in self.owner and cand.label is not None:
                    self.owner[cand.index] = cand.label
        self.out = {st.index: Written() for st in scan.states.values()}
        self.by_index = {st.index: st for st in scan.states.values()}
        self.open: NsState | None = None
        self.eof_done: set[int] = set()

    def keeps_definite(self, st: NsState) -> bool:
        return st.index in self.emit and (st.index in self.verified or self.keep)

    def _last_written(self) -> dict[int, int]:
        """The log record of each namespace's last written segment."""
        last: dict[int, int] = {}
        for st in self.scan.states.values():
            if self.keeps_definite(st) and st.last_definite >= 0:
                last[st.index] = st.last_definite
        for cand in self.scan.candidates:
            owner = self.owner.get(cand.index)
            if owner is not None and owner.index in self.emit and cand.record >= 0:
                last[owner.index] = max(last.get(owner.index, -1), cand.record)
        return last

    def _close_block(self) -> None:
        if self.open is not None:
            self.sink.write(TERMINATOR)
            self.open = None

    def _eof(self, st: NsState) -> None:
        self._close_block()
        written = self.out[st.index]
        at, size = st.eof_raw
        if st.ended and written.crc == st.stored_crc and size:
            self.spool.seek(at)
            raw = self.spool.read(size)
            # The EOF header as read (its CRC matches), unless a release would refuse it.
            self.sink.write(raw if _every_release_reads(raw) else _header(st.data_ns, True, written.crc))
        else:
            self.sink.write(_header(st.data_ns, True, written.crc))
        self.sink.write(TERMINATOR)
        self.eof_done.add(st.index)

    def _copy(self, st: NsState, start: int, end: int, count: int, verified: bool) -> None:
        written = self.out[st.index]
        if verified:  # a stored CRC covers these bytes: copied as they are
            self.spool.seek(start)
            left = end - start
            while left:
                chunk = self.spool.read(min(_COPY, left))
                left -= len(chunk)
                written.crc = crc64(chunk, written.crc)
                self.sink.write(chunk)
            written.bytes += end - start
            written.kept += count
            return
        for raw in _documents(self.spool, start, end):
            docs = [raw] if decodes(raw) else embedded(raw)
            if not docs:
                written.lost += 1
            for doc in docs:
                written.crc = crc64(doc, written.crc)
                self.sink.write(doc)
                written.bytes += len(doc)
                written.unverified += 1
                written.kept += 1

    def write(self, header: bytes, entries: list[bytes]) -> None:
        scan = self.scan
        self.sink.write(MAGIC + header + b"".join(entries) + TERMINATOR)
        last = self._last_written()
        deferred: dict[int, list[NsState]] = {}
        for st in scan.states.values():
            if st.ended and last.get(st.index, -1) > st.eof_record:
                deferred.setdefault(last[st.index], []).append(st)
        for index, record in enumerate(scan.log):
            kind, ref, seg_kind, start, end, header_at, header_len, count = record
            if kind == EOF_BLOCK:
                st = self.by_index[ref]
                if st.index in self.emit and index == st.eof_record and last.get(st.index, -1) <= index:
                    self._eof(st)
                continue
            if seg_kind == DEFINITE:
                st = self.by_index[ref]
                if not self.keeps_definite(st):
                    self.out[st.index].dropped += count
                    continue
                self._close_block()
                self.spool.seek(header_at)
                raw = self.spool.read(header_len)
                # The block header as read, unless a release would refuse it.
                self.sink.write(raw if _every_release_reads(raw) else _header(st.data_ns, False, 0))
                self.open = st
                self._copy(st, start, end, count, st.index in self.verified)
            else:
                cand = scan.candidates[ref]
                owner = self.owner.get(cand.index)
                if owner is None or owner.index not in self.emit:
                    if cand.label is not None and cand.label.index in self.out:
                        self.out[cand.label.index].dropped += cand.documents
                    continue
                if self.open is not owner:
                    self._close_block()
                    self.sink.write(_header(owner.data_ns, False, 0))
                    self.open = owner
                self._copy(owner, start, end, cand.documents, cand.index in self.assigned)
                if cand.index in self.assigned and cand.label is not owner:
                    self.out[owner.index].attributed += 1
            for st in deferred.get(index, []):
                self._eof(st)
        self._close_block()
        for st in scan.states.values():
            if st.index in self.emit and st.index not in self.eof_done:
                self._eof(st)

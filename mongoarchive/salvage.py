"""Recover everything still intact from a damaged archive into a new, valid archive.

The input is read once, front to back, with the reader's ``Framer`` (so pipes
and gzip work and memory stays bounded, spec/archive.md §8).  While the
framing holds, documents are copied run by run, exactly as the reader frames
them (§2), into a temporary spool file and checksummed per namespace (§4).
Where the framing breaks, the damaged bytes are skipped: the scan resumes at
the next recognisable namespace header (a document whose first fields are the
strings ``db`` and ``collection`` and the bool ``EOF``, §3.3), at the next
collection entry while still in the prelude (§3.2), or, inside a block, at
the next well-formed document that is followed by another item.

At the end a new archive is written with ``ArchiveWriter`` (§9): every
prelude entry (entries the damage destroyed are rebuilt from the namespace
headers seen, with empty metadata), then each namespace's kept documents and
a fresh EOF block with a fresh CRC.  A namespace whose stored CRC matched is
copied whole; in every other namespace only documents that decode as BSON are
kept.  ``SalvageReport`` says what was kept, what was lost and why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
from typing import IO, Any, Literal

import bson

from ._crc import crc64
from ._framing import (
    MAGIC,
    TERMINATOR,
    Framer,
    describe_bytes,
    describe_document,
    not_an_archive,
    scan_run,
)
from ._io import open_source
from ._rules import (
    decode_archive_header,
    decode_collection_entry,
    decode_namespace_header,
    recognise,
    timeseries_data_namespace,
)
from ._sink import validate_target
from ._text import plural, printable
from .errors import ArchiveError, MongoArchiveError, UsageError
from .model import MAX_BSON_SIZE, ArchiveHeader, CollectionEntry, Namespace
from .writer import ArchiveWriter, NamespaceWriter

__all__ = ["DamagedRange", "NamespaceOutcome", "SalvageReport", "salvage"]

NamespaceStatus = Literal["intact", "crc-mismatch", "truncated", "missing", "dropped"]

_int32 = int.from_bytes
#: A string element named "db": the first field of namespace headers and collection entries (§3.2, §3.3).
_DB_MARK = b"\x02db\x00"
#: The archive header's first field, an int32 named concurrent_collections (§3.1).
_HEADER_MARK = b"\x10concurrent_collections\x00"
#: Namespace headers and collection entries are small; anything larger is not one (§3.2, §3.3).
_MAX_HEADER_SIZE = 1 << 20
#: Past damage, a document is recognised beyond the read window only up to this size.
_RESYNC_READ_AHEAD = 4 << 20
#: A spool run is cut at this size so that reading one back stays bounded.
_RUN_LIMIT = 8 << 20
#: Valid BSON element type bytes (bsonspec.org): 0x01..0x13, 0x7f (max key), 0xff (min key).
_ELEMENT_TYPES = frozenset(range(0x01, 0x14)) | {0x7F, 0xFF}


@dataclasses.dataclass(slots=True)
class DamagedRange:
    """Bytes [start, end) of the (uncompressed) input that could not be used."""

    start: int
    end: int
    reason: str
    code: str
    namespace: str | None = None
    documents_lost: int = 0  # documents known to be lost here (a lower bound)
    hint: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "bytes": self.end - self.start,
            "reason": self.reason,
            "code": self.code,
            "namespace": self.namespace,
            "documents_lost": self.documents_lost,
            "hint": self.hint,
        }


@dataclasses.dataclass(slots=True)
class NamespaceOutcome:
    """What came back for one namespace of the output."""

    namespace: str
    status: NamespaceStatus
    documents_kept: int = 0
    bytes_kept: int = 0
    documents_lost: int = 0  # framed documents dropped because they are not valid BSON
    crc_stored: int | None = None
    crc_read: int | None = None  # CRC-64 of the documents read (before BSON validation)
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "namespace": self.namespace,
            "status": self.status,
            "documents_kept": self.documents_kept,
            "bytes_kept": self.bytes_kept,
            "documents_lost": self.documents_lost,
            "crc_stored": None if self.crc_stored is None else f"{self.crc_stored:#018x}",
            "crc_read": None if self.crc_read is None else f"{self.crc_read:#018x}",
            "notes": list(self.notes),
        }


@dataclasses.dataclass(slots=True)
class SalvageReport:
    """The outcome of ``salvage``: the JSON shape of ``mongoarchive salvage --format json``."""

    input: str
    output: str
    gzip_in: bool = False
    gzip_out: bool = False
    size: int = 0  # bytes of the uncompressed input that were read
    header: str = "ok"  # "ok" or "rebuilt"
    prelude: str = "ok"  # "ok" or "damaged"
    namespaces: list[NamespaceOutcome] = dataclasses.field(default_factory=list)
    damaged: list[DamagedRange] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True if nothing was wrong with the input."""
        return (
            not self.damaged
            and self.header == "ok"
            and self.prelude == "ok"
            and all(n.status == "intact" for n in self.namespaces)
            and not self.notes
        )

    def totals(self) -> dict[str, int]:
        return {
            "namespaces": len(self.namespaces),
            "namespaces_intact": sum(n.status == "intact" for n in self.namespaces),
            "documents_kept": sum(n.documents_kept for n in self.namespaces),
            "bytes_kept": sum(n.bytes_kept for n in self.namespaces),
            "documents_lost": sum(n.documents_lost for n in self.namespaces)
            + sum(d.documents_lost for d in self.damaged),
            "bytes_skipped": sum(d.end - d.start for d in self.damaged),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "clean": self.clean,
            "gzip": {"input": self.gzip_in, "output": self.gzip_out},
            "bytes_read": self.size,
            "header": self.header,
            "prelude": self.prelude,
            "totals": self.totals(),
            "namespaces": [n.to_dict() for n in self.namespaces],
            "damaged": [d.to_dict() for d in self.damaged],
            "notes": list(self.notes),
        }

    def render_text(self) -> str:
        """A human-readable report (``mongoarchive salvage --format text``)."""
        t = self.totals()
        lines = [
            f"salvage {self.input} -> {self.output}: "
            + ("the input is intact" if self.clean else "the input is damaged"),
            f"kept {plural(t['documents_kept'], 'document')} ({plural(t['bytes_kept'], 'byte')}) in "
            f"{plural(t['namespaces'], 'namespace')}, {t['namespaces_intact']} intact; skipped "
            f"{plural(t['bytes_skipped'], 'byte')} in {plural(len(self.damaged), 'range')}; "
            f"{plural(t['documents_lost'], 'document')} known lost"
            + (" (skipped bytes may have held more)" if t["bytes_skipped"] else ""),
        ]
        if self.header != "ok":
            lines.append("the archive header was damaged: rebuilt with placeholder values")
        if self.prelude != "ok":
            lines.append(
                "the prelude was damaged: missing entries rebuilt from namespace headers, empty metadata"
            )
        for n in self.namespaces:
            lost = f", {n.documents_lost} lost" if n.documents_lost else ""
            lines.append(f"  {n.status:<12} {n.namespace}: {plural(n.documents_kept, 'document')} kept{lost}")
            for note in n.notes:
                lines.append(f"               {note}")
        for d in self.damaged:
            where = f" in {d.namespace}" if d.namespace else ""
            lost = f", {plural(d.documents_lost, 'document')} lost" if d.documents_lost else ""
            lines.append(
                f"  lost bytes {d.start}..{d.end} ({plural(d.end - d.start, 'byte')}){where}: "
                f"{d.reason}{lost}"
            )
            if d.hint:
                lines.append(f"               hint: {d.hint}")
        lines.extend(f"  note: {note}" for note in self.notes)
        # Names, file names and notes may hold newlines or escape sequences: each line is
        # printable(), so the only line breaks are the ones above.
        return "\n".join(printable(line) for line in lines)


@dataclasses.dataclass(slots=True)
class _Kept:
    """One namespace's documents in the spool, in stream order."""

    ns: Namespace
    runs: list[tuple[int, int, int]] = dataclasses.field(
        default_factory=list
    )  # spool start, end, input offset
    documents: int = 0
    crc: int = 0
    stored_crc: int | None = None
    ended: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)


class _Salvager:
    """The scanning state machine; see the module docstring."""

    def __init__(self, framer: Framer, spool: IO[bytes], report: SalvageReport) -> None:
        self.fr = framer
        self.spool = spool
        self.report = report
        self.header: ArchiveHeader | None = None
        self.entries: list[CollectionEntry] = []
        self.kept: dict[Namespace, _Kept] = {}
        self.aliases: dict[Namespace, Namespace] = {}

    # -- low-level items ------------------------------------------------------
    def _size_at(self, pos: int) -> int | None:
        """The int32 at buffer position ``pos`` if four bytes are available."""
        fr = self.fr
        if fr.filled - pos < 4:
            return None
        return _int32(fr.buf[pos : pos + 4], "little", signed=True)

    def item(self) -> tuple[str, int]:
        """Classify the item at the cursor: end, cut, term, doc (size) or bad (framing)."""
        fr = self.fr
        if not fr.fill(1):
            return "end", 0
        if not fr.fill(4):
            return "cut", 0
        size = _int32(fr.buf[fr.pos : fr.pos + 4], "little", signed=True)
        if size == -1:
            return "term", 4
        if size < 5 or size > MAX_BSON_SIZE:
            return "bad-length", size
        if not fr.fill(size):
            return "cut", size
        if fr.buf[fr.pos + size - 1]:
            return "missing-nul", size
        return "doc", size

    def take(self, size: int) -> bytes:
        fr = self.fr
        raw = bytes(fr.buf[fr.pos : fr.pos + size])
        fr.pos += size
        return raw

    def damage(
        self,
        start: int,
        end: int,
        reason: str,
        code: str,
        ns: Namespace | None = None,
        lost: int = 0,
        hint: str | None = None,
    ) -> None:
        self.report.damaged.append(
            DamagedRange(start, end, reason, code, None if ns is None else str(ns), lost, hint)
        )

    # -- resynchronisation ------------------------------------------------------
    def _well_formed_at(self, pos: int, size: int) -> bool:
        """buf[pos:pos+size] (available) is a BSON document that decodes."""
        buf = self.fr.buf
        if buf[pos + size - 1] or (size > 5 and buf[pos + 4] not in _ELEMENT_TYPES):
            return False
        try:
            bson.decode(bytes(buf[pos : pos + size]))
        except Exception:  # any undecodable candidate is simply not a document
            return False
        return True

    def _doc_candidate(self, pos: int) -> bool:
        """A document at buffer position ``pos`` that decodes and is followed by a terminator,
        the end of the stream, or another document that decodes (two in a row are rarely
        an accident; one alone may be a sub-document of a damaged document)."""
        fr = self.fr
        size = self._size_at(pos)
        if size is None or size < 5 or size > MAX_BSON_SIZE:
            return False
        if size > 5 and (fr.filled - pos < 5 or fr.buf[pos + 4] not in _ELEMENT_TYPES):
            return False
        rel = pos - fr.pos
        if fr.filled - pos < size + 4:
            if size > _RESYNC_READ_AHEAD:
                # Refilling the window for every large candidate length in random bytes
                # would cost a copy of the window each time: past damage, only documents
                # up to 4 MiB (or already in the window) are recognised.
                return False
            # Read ahead generously so that nearby candidates need no refill (linear time).
            fr.fill(rel + size + 4 + fr.chunk)
            pos = fr.pos + rel
            if fr.filled - pos < size:
                return False
        if not self._well_formed_at(pos, size):
            return False
        after = self._size_at(pos + size)
        if after is None:
            return fr.eof and fr.filled == pos + size
        if after == -1:
            return True
        if after < 5 or after > MAX_BSON_SIZE:
            return False
        if fr.filled - (pos + size) < after:
            fr.fill(rel + size + after + fr.chunk)
            pos = fr.pos + rel
            if fr.filled - (pos + size) < after:
                return False
        return self._well_formed_at(pos + size, after)

    def _header_candidate(self, pos: int, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The decoded document at ``pos`` if its first fields are ``keys`` (all strings but EOF)."""
        fr = self.fr
        size = self._size_at(pos)
        if size is None or size < 5 or size > _MAX_HEADER_SIZE:
            return None
        need = pos - fr.pos + size
        if fr.filled - fr.pos < need:
            fr.fill(need + fr.chunk)
            pos = fr.pos + (need - size)
            if fr.filled - pos < size:
                return None
        return recognise(bytes(fr.buf[pos : pos + size]), keys)

    def resync(self, start: int, want_docs: bool, in_prelude: bool) -> str:
        """Move the cursor past ``start`` to the next place to go on from.

        Returns "header" (a namespace header), "entry" (a collection entry, only
        ``in_prelude``), "doc" (a document, only ``want_docs``) or "end".
        """
        fr = self.fr
        fr.pos = max(start + 1 - fr.base, fr.pos)
        while True:
            if not fr.fill(5):
                return self._at_end(start)
            buf = fr.buf
            limit = fr.filled
            # Candidates: a document length has a zero high byte (<= 16 MiB), a
            # header has b"\x02db\x00" right after its length.
            pattern = _CANDIDATE if want_docs else _HEADER_CANDIDATE
            i = fr.pos
            while True:
                # The regular expression finds the next candidate in C: linear time (bench_linear).
                found = pattern.search(buf, i, limit)
                if found is None:
                    break
                p = found.start()
                fr.pos = p  # everything before p is skipped for good
                if buf[p + 4 : p + 8] == _DB_MARK:
                    doc = self._header_candidate(fr.pos, ("db", "collection"))
                    # A terminator right before it ends the prelude: then this is a block header.
                    after_term = fr.pos >= 4 and fr.buf[fr.pos - 4 : fr.pos] == TERMINATOR
                    kind = None if doc is None else _classify(doc, in_prelude and not after_term)
                    if kind is not None:
                        return kind
                if want_docs and self._doc_candidate(fr.pos):
                    return "doc"
                buf = fr.buf  # a read-ahead may have moved the window
                limit = fr.filled
                i = fr.pos + 1
            # Keep the last few bytes: a candidate may straddle the window's end.
            fr.pos = max(fr.pos, limit - 8)
            if fr.eof:
                return self._at_end(start)
            fr.fill(fr.filled - fr.pos + fr.chunk)

    def _at_end(self, start: int) -> str:
        """Resynchronisation reached the end: a final terminator still closes the block (§2)."""
        fr = self.fr
        end = fr.filled
        fr.pos = end
        if end >= 4 and fr.buf[end - 4 : end] == TERMINATOR and fr.base + end - 4 > start:
            return "block"
        return "end"

    # -- namespaces and documents -------------------------------------------
    def kept_for(self, ns: Namespace) -> _Kept:
        key = self.aliases.get(ns, ns)
        kept = self.kept.get(key)
        if kept is None:
            kept = self.kept[key] = _Kept(key)
        return kept

    def copy_run(self, kept: _Kept) -> int:
        """Copy the run of well-framed documents at the cursor to the spool; return how many."""
        fr = self.fr
        end, count = scan_run(fr.buf, fr.pos, fr.filled)
        if count == 0:
            return 0
        view = memoryview(fr.buf)[fr.pos : end]
        try:
            kept.crc = crc64(view, kept.crc)
            at = self.spool.tell()
            self.spool.write(view)
        finally:
            view.release()
        offset = fr.offset
        if kept.runs and kept.runs[-1][1] == at and at - kept.runs[-1][0] < _RUN_LIMIT:
            first = kept.runs[-1]
            kept.runs[-1] = (first[0], at + (end - fr.pos), first[2])
        else:
            kept.runs.append((at, at + (end - fr.pos), offset))
        kept.documents += count
        fr.pos = end
        return count

    # -- the archive ----------------------------------------------------------
    def run(self) -> None:
        fr = self.fr
        try:
            state = self.prelude()
            self.body(state)
        except MongoArchiveError as exc:  # a damaged gzip stream: nothing after it can be read
            start = exc.offset if exc.offset is not None else fr.offset
            self.report.damaged.append(
                DamagedRange(start, start, str(exc.message), exc.code, exc.namespace, 0, exc.hint)
            )
            if exc.code != "trailing-data":  # bytes after the last gzip member damage nothing before them
                self.report.notes.append("the compressed stream is damaged: nothing after it could be read")
        self.report.size = fr.base + fr.filled

    def prelude(self) -> str:
        """Read magic, header and entries; return how the body starts ("block" or a resync result)."""
        fr = self.fr
        head = fr.peek(4)
        if not head:
            exc = fr.empty()
            self.report.header = "rebuilt"
            self.report.prelude = "damaged"
            self.damage(0, 0, exc.message, exc.code, hint=exc.hint)
            return "end"
        if len(head) < 4 and MAGIC.startswith(head):
            self.report.header = "rebuilt"
            self.report.prelude = "damaged"
            self.cut(None)
            return "end"
        if head != MAGIC:
            start = fr.offset
            sample = fr.peek(64)
            found = self._find_magic()
            hint = describe_bytes(sample[: max(fr.offset - start, 4)])
            if found is None:
                self.report.header = "rebuilt"
                self.report.prelude = "damaged"
                where = self.resync(start - 1, False, True)
                # Say what the input is instead (text, a .bson file, gzip'd text), §2.
                bad = not_an_archive(sample, bool(fr.source.gzip))
                self.damage(start, fr.offset, bad.message, bad.code, hint=bad.hint)
                return where
            self.damage(
                start, fr.offset, "bytes before the archive magic number", "data-before-magic", hint=hint
            )
        fr.pos += 4
        offset = fr.offset
        kind, size = self.item()
        if kind == "doc":
            try:
                self.header, _ = decode_archive_header(bytes(fr.buf[fr.pos : fr.pos + size]), offset)
            except ArchiveError as exc:
                self.report.header = "rebuilt"
                self.damage(
                    offset, offset + size, f"the archive header is unreadable: {exc.message}", exc.code
                )
            fr.pos += size
        elif kind == "term":
            self.report.header = "rebuilt"
            self.damage(offset, offset, "the archive header is missing", "consecutive-terminators")
        elif kind in ("end", "cut"):
            self.report.header = "rebuilt"
            self.report.prelude = "damaged"
            self.cut(None)
            return "end"
        elif self._find_archive_header(offset):
            pass
        else:
            return self.prelude_damage(offset, kind, "the archive header")
        return self.entries_loop()

    def _find_archive_header(self, start: int) -> bool:
        """After damage at ``start``, find the archive header near it (§3.1) and read it."""
        fr = self.fr
        fr.pos = start - fr.base
        sample = fr.peek(4096)
        fr.fill(_MAX_HEADER_SIZE)
        idx = fr.buf.find(_HEADER_MARK, fr.pos + 4, fr.filled)
        while idx >= 0:
            pos = idx - 4
            size = self._size_at(pos)
            if size is not None and 5 <= size <= fr.filled - pos and not fr.buf[pos + size - 1]:
                try:
                    header, _ = decode_archive_header(bytes(fr.buf[pos : pos + size]), fr.base + pos)
                except ArchiveError:
                    header = None
                if header is not None:
                    self.header = header
                    fr.pos = pos
                    self.damage(
                        start,
                        fr.offset,
                        "damaged bytes before the archive header",
                        "bad-length",
                        hint=_hint(sample[: fr.offset - start], start),
                    )
                    fr.pos += size
                    return True
            idx = fr.buf.find(_HEADER_MARK, idx + 1, fr.filled)
        fr.pos = start - fr.base
        return False

    def _find_magic(self) -> int | None:
        """Move to the next magic number (text before the archive, §7); None if there is none."""
        fr = self.fr
        limit = 1 << 20  # only look near the start: later magic numbers are second archives
        while True:
            idx = fr.buf.find(MAGIC, fr.pos, fr.filled)
            if idx >= 0:
                fr.pos = idx
                return fr.offset
            if fr.eof or fr.offset > limit:
                fr.pos = 0 if fr.base == 0 else fr.pos
                return None
            keep = max(fr.pos, fr.filled - 3)
            fr.pos = keep
            fr.fill(fr.filled - fr.pos + fr.chunk)

    def prelude_damage(self, offset: int, kind: str, what: str) -> str:
        self.report.prelude = "damaged"
        if what == "the archive header":
            self.report.header = "rebuilt"
        sample = self.fr.peek(4096)
        where = self.resync(offset, False, True)
        end = self._damage_end(offset, where)
        self.damage(
            offset, end, f"{what} is damaged ({kind})", kind, hint=_hint(sample[: end - offset], offset)
        )
        return where

    def _damage_end(self, start: int, where: str) -> int:
        """Where the skipped bytes end: before a terminator that precedes a found header (§2)."""
        fr = self.fr
        if where == "block":  # the stream's final terminator closed the block
            return fr.offset - 4
        after_term = fr.pos >= 4 and fr.buf[fr.pos - 4 : fr.pos] == TERMINATOR
        if where == "header" and after_term and fr.offset - 4 > start:
            return fr.offset - 4
        return fr.offset

    def entries_loop(self) -> str:
        fr = self.fr
        seen: set[Namespace] = set()
        while True:
            offset = fr.offset
            kind, size = self.item()
            if kind == "term":
                fr.pos += 4
                return "block"
            if kind in ("end", "cut"):
                self.report.prelude = "damaged"
                self.cut(None)
                return "end"
            if kind != "doc":
                where = self.prelude_damage(offset, kind, "a collection entry")
                if where == "entry":
                    continue
                return where
            raw = self.take(size)
            try:
                entry, _ = decode_collection_entry(raw, offset)
            except ArchiveError as exc:
                self.report.prelude = "damaged"
                self.damage(
                    offset, offset + size, f"a collection entry is unreadable: {exc.message}", exc.code
                )
                continue
            if entry.namespace in seen:
                self.report.notes.append(
                    f"the prelude declares {entry.namespace} twice: the first entry is kept"
                )
                continue
            seen.add(entry.namespace)
            self.entries.append(entry)
            if entry.type == "timeseries":
                data_ns = timeseries_data_namespace(entry)
                self.aliases.setdefault(data_ns, entry.namespace)

    def cut(self, ns: Namespace | None) -> None:
        """The stream ends inside an item: the rest is lost."""
        fr = self.fr
        while not fr.eof:
            fr.fill(fr.filled - fr.pos + fr.chunk)
        start = fr.offset
        fr.pos = fr.filled
        self.damage(
            start,
            fr.offset,
            "the stream ends before the archive does (truncated)",
            "truncated",
            ns,
            hint="the archive was cut short; everything complete before the cut is kept",
        )

    def _all_ended(self) -> bool:
        if self.report.prelude != "ok" or not self.entries:
            return False
        return all(k in self.kept and self.kept[k].ended for k in (e.namespace for e in self.entries))

    def body(self, state: str) -> None:
        fr = self.fr
        current: _Kept | None = None  # the namespace whose block the cursor is in
        while True:
            if state == "end":
                return
            if state == "entry":  # resync found collection entries after prelude damage
                state = self.entries_loop()
                continue
            if state == "doc":
                state = self.block_documents(current)
                continue
            # state == "block" or "header": a namespace header is expected at the cursor
            current = None
            offset = fr.offset
            kind, size = self.item()
            if kind == "end":
                self.check_ended(offset)
                return
            if self._all_ended():
                # Every declared namespace has ended (§6): the rest is not part of this archive.
                hint = describe_bytes(fr.peek(64))
                while not fr.eof:
                    fr.pos = fr.filled
                    fr.fill(fr.chunk)
                fr.pos = fr.filled
                self.damage(
                    offset, fr.offset, "bytes follow the end of the archive", "trailing-data", hint=hint
                )
                return
            if kind == "cut":
                self.cut(None)
                return
            if kind == "term":
                state = self.skip(offset, "two terminators in a row", "consecutive-terminators", None, False)
                continue
            if kind != "doc":
                state = self.skip(offset, "a namespace header is damaged", kind, None, False)
                continue
            raw = self.take(size)
            try:
                ns, eof, stored, _ = decode_namespace_header(raw, offset)
            except ArchiveError as exc:
                state = self.skip(
                    offset, f"a namespace header is unreadable: {exc.message}", exc.code, None, False
                )
                continue
            kept = self.kept_for(ns)
            if kept.ended:
                state = self.skip(
                    offset, "the namespace appears again after its EOF block", "reopened-namespace", ns, False
                )
                continue
            if eof:
                state = self.eof_block(kept, stored, offset)
                continue
            current = kept
            state = self.block_documents(kept)

    def check_ended(self, offset: int) -> None:
        """The stream ended cleanly at a block boundary: report namespaces left open (§6)."""
        declared = [e.namespace for e in self.entries]
        open_ns = [k.ns for k in self.kept.values() if not k.ended]
        open_ns += [ns for ns in declared if ns not in self.kept]
        if open_ns:
            self.damage(
                offset,
                offset,
                f"the stream ends before the EOF block of {plural(len(open_ns), 'namespace')} (truncated)",
                "truncated",
                open_ns[0] if len(open_ns) == 1 else None,
                hint="the archive was cut short at a block boundary",
            )

    def eof_block(self, kept: _Kept, stored: int, offset: int) -> str:
        fr = self.fr
        at = fr.offset
        kind, _ = self.item()
        kept.ended = True
        kept.stored_crc = stored
        if kind == "term":
            fr.pos += 4
            return "block"
        if kind in ("end", "cut"):
            self.cut(kept.ns)
            return "end"
        return self.skip(
            at, "the EOF header is not followed by a terminator", "data-after-eof", kept.ns, False
        )

    def block_documents(self, kept: _Kept | None) -> str:
        """Documents of ``kept``'s block up to its terminator; returns the next state."""
        fr = self.fr
        while True:
            if kept is not None:
                self.copy_run(kept)
            at = fr.offset
            kind, size = self.item()
            if kind == "term":
                fr.pos += 4
                return "block"
            if kind == "doc":
                if kept is None:  # documents whose namespace header was lost
                    self.take(size)
                    self.damage(
                        at, fr.offset, "a document whose namespace header was lost", "orphan", None, 1
                    )
                continue
            ns = None if kept is None else kept.ns
            if kind in ("end", "cut"):
                self.cut(ns)
                return "end"
            return self.skip(at, "a document's framing is damaged", kind, ns, kept is not None)

    def skip(self, start: int, reason: str, code: str, ns: Namespace | None, in_block: bool) -> str:
        """Skip damaged bytes from ``start``; record the range; return where to go on."""
        fr = self.fr
        fr.pos = start - fr.base  # the cursor is at most one item past start, still in the buffer
        sample = fr.peek(4096)
        where = self.resync(start, in_block, False)
        end = self._damage_end(start, where)
        self.damage(start, end, reason, code, ns, hint=_hint(sample[: end - start], start))
        if ns is not None:
            kept = self.kept.get(self.aliases.get(ns, ns))
            if kept is not None and f"damaged bytes at {start}" not in kept.notes:
                kept.notes.append(f"damaged bytes at {start}..{fr.offset}")
        return where


def _classify(doc: dict[str, Any], in_prelude: bool) -> str | None:
    """ "header" or "entry" for a document starting with db and collection, by its other keys.

    Other writers leave out EOF and CRC or add fields (tolerated, §7): a header
    has a bool EOF, or no keys but EOF and CRC; in the prelude, a document with
    neither EOF nor CRC is a collection entry (§3.2).
    """
    keys = set(doc)
    if "EOF" in keys and not isinstance(doc["EOF"], bool):
        return None
    if in_prelude and not keys & {"EOF", "CRC"}:
        return "entry"
    if "EOF" in keys or keys <= {"db", "collection", "CRC"}:
        return "header"
    return None


#: Where a resynchronisation may resume: a header (length, then b"\x02db\x00"), or a
#: document (length <= 16 MiB so its high byte is 0, then a valid element type, or the
#: empty document).  Lookaheads, so overlapping candidates are all found.
_HEADER_CANDIDATE = re.compile(rb"(?=....\x02db\x00)", re.DOTALL)
_CANDIDATE = re.compile(rb"(?=....\x02db\x00|...\x00[\x01-\x13\x7f\xff]|\x05\x00\x00\x00\x00)", re.DOTALL)
_LOG_LINE = re.compile(rb"[\t\x20-\x7e]{16,}\r?\n")


def _hint(skipped: bytes, start: int) -> str:
    """describe_bytes for a skipped range, pointing at text lines spliced into it (§7)."""
    if not skipped:
        return describe_bytes(skipped)
    size = _int32(skipped[:4], "little", signed=True)
    if 5 <= size < len(skipped) and skipped[size - 1]:
        # A document that fails its NUL check: the reader's hint, which quotes a spliced
        # text only where it can prove the text starts (never the document's own strings).
        return describe_document(skipped, start, size)
    text = _LOG_LINE.search(skipped)
    if text is not None and text.start() > 0:
        return f"at byte {start + text.start()}: {describe_bytes(skipped[text.start() :])}"
    return describe_bytes(skipped[:64])


def _status(kept: _Kept | None) -> NamespaceStatus:
    if kept is None:
        return "missing"
    if not kept.ended:
        return "truncated"
    return "intact" if kept.stored_crc == kept.crc else "crc-mismatch"


def _valid_bson(raw: bytes) -> bool:
    try:
        bson.decode(raw)
    except Exception:  # a document that does not decode is dropped
        return False
    return True


def salvage(
    src: str | os.PathLike[str] | IO[bytes] | Any,
    dst: str | os.PathLike[str] | IO[bytes] | Any,
    *,
    gzip: bool | None = None,
    gzip_in: bool | None = None,
    temp_dir: str | None = None,
    keep_missing: bool = True,
) -> SalvageReport:
    """Copy everything intact from ``src`` into a new valid archive at ``dst``; return the report.

    ``gzip``: compress the output (None: as the input was); ``gzip_in``: None
    sniffs.  ``keep_missing``: declared namespaces with no data found are
    written as empty namespaces (their metadata survives).  Raises only
    MongoArchiveError: ArchiveIOError when a file cannot be read or written.
    """
    validate_target(dst)  # a bad output path fails before the input is read
    source = open_source(src, gzip=gzip_in)
    out_name = (
        os.fspath(dst) if isinstance(dst, (str, os.PathLike)) else str(getattr(dst, "name", "<stream>"))
    )
    report = SalvageReport(
        input=source.name, output="<stdout>" if out_name == "-" else out_name, gzip_in=source.gzip
    )
    try:
        with tempfile.TemporaryFile(prefix="mongoarchive-salvage-", dir=temp_dir) as spool:
            state = _Salvager(Framer(source), spool, report)
            state.run()
            report.gzip_out = source.gzip if gzip is None else gzip
            _write_output(state, spool, dst, report, keep_missing)
    except OSError as exc:
        from .errors import ArchiveIOError

        raise ArchiveIOError(f"cannot use a temporary spool file: {exc}") from exc
    finally:
        if isinstance(src, (str, os.PathLike)) or src == "-":
            with contextlib.suppress(MongoArchiveError):
                source.close()
    return report


def _write_output(
    state: _Salvager, spool: IO[bytes], dst: Any, report: SalvageReport, keep_missing: bool
) -> None:
    from . import open as open_archive

    # The header was lost: "0.0.0" is a server_version every mongorestore parses (§7),
    # where "unknown" is refused by 100.16+ and so by the writer.
    header = state.header or ArchiveHeader(4, "0.1", "0.0.0", "unknown")
    entries = list(state.entries)
    declared = {e.namespace for e in entries}
    for ns, extra in state.kept.items():
        if ns not in declared and (extra.documents or extra.ended):
            entries.append(CollectionEntry(ns.db, ns.collection, "", 0, None))
            why = (
                "its prelude entry was lost" if report.prelude != "ok" else "the prelude does not declare it"
            )
            extra.notes.append(f"{why}: written with empty metadata")
    writer: ArchiveWriter = open_archive(
        dst,
        "w:gz" if report.gzip_out else "w",
        server_version=header.server_version,
        tool_version=header.tool_version,
        concurrent_collections=header.concurrent_collections,
    )
    with writer:
        plan: list[tuple[NamespaceWriter, _Kept | None, NamespaceOutcome]] = []
        for entry in entries:
            found = state.kept.get(entry.namespace)
            outcome = NamespaceOutcome(str(entry.namespace), _status(found))
            report.namespaces.append(outcome)
            if found is not None:
                outcome.notes.extend(found.notes)
                outcome.crc_stored = found.stored_crc
                outcome.crc_read = found.crc
            if found is None and not keep_missing:
                outcome.status = "dropped"
                outcome.notes.append("no data found; left out (--drop-missing)")
                continue
            try:
                ns_writer = writer.add_collection(
                    entry.db, entry.collection, entry.metadata, type=entry.type, size=entry.size
                )
            except UsageError as exc:
                outcome.status = "dropped"
                outcome.notes.append(f"cannot be written: {exc.message}")
                if found is not None:
                    outcome.documents_lost += found.documents
                continue
            plan.append((ns_writer, found, outcome))
        for ns_writer, kept, outcome in plan:
            if kept is not None:
                validate = outcome.status != "intact"
                for raw in _spooled(spool, kept):
                    if validate and not _valid_bson(raw):
                        outcome.documents_lost += 1
                        continue
                    ns_writer.write(raw)
                    outcome.documents_kept += 1
                    outcome.bytes_kept += len(raw)
            if outcome.status == "missing":
                outcome.notes.append("no data for this namespace was found: written empty")
            ns_writer.close()


def _spooled(spool: IO[bytes], kept: _Kept) -> Any:
    """The documents of ``kept`` read back from the spool, one run at a time."""
    for start, end, _ in kept.runs:
        spool.seek(start)
        data = spool.read(end - start)
        pos = 0
        while pos < len(data):
            size = _int32(data[pos : pos + 4], "little")
            yield data[pos : pos + size]
            pos += size

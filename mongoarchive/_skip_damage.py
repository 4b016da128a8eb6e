"""Finding the next recognisable item after damage (spec/archive.md §2, §3): resynchronisation.

Shared by check and salvage, which both go on after damage; the reader stops.
``Resync.resync`` (salvage) scans forward from a damaged byte for a namespace header
(a document whose first fields are the strings ``db`` and ``collection``,
§3.3), a collection entry while in the prelude (§3.2), or a document that
decodes and is followed by a terminator or another such document.  Candidates
are found with regular expressions (in C) and checked without copying the
window, so garbage costs linear time (bench/bench_linear.py).  More than
``max_damage`` bytes without a recognisable item end the search.

Check wants less: only a namespace header proves where a block starts, so
``next_header`` looks for one (``db``, ``collection``, ``EOF`` first, §3.3) and
nothing else; ``skip_terminator_run`` and ``skip_rest`` pass a run of ``ff``
bytes and the rest of the stream.  Each stops at a ``limit`` offset (check's
``max_damage``) and slides over the framer's window, never holding more than it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Any

from ._framing import TERMINATOR, Framer, decodes, describe_bytes, describe_document
from ._rules import recognise
from .model import MAX_BSON_SIZE

_unpack_int32 = struct.Struct("<i").unpack_from
#: A string element named "db": the first field of namespace headers and collection entries (§3.2, §3.3).
_DB_MARK = b"\x02db\x00"
#: Collection entries carry metadata and may be large; anything larger is not one (§3.2).
_MAX_ENTRY_SIZE = 1 << 20
#: Namespace headers hold two names and two small values (§3.3): 64 KiB leaves room for extras.
_MAX_NS_HEADER_SIZE = 64 << 10
#: Past damage, a document is recognised beyond the read window only up to this size.
_RESYNC_READ_AHEAD = 4 << 20
#: A namespace header is four short fields (§3.3); names are at most a few hundred bytes.
#: Check recognises headers only up to this size (salvage takes up to _MAX_NS_HEADER_SIZE).
_MAX_HEADER_SIZE = 4096
#: The first fields of a namespace header, with header types (§3.3): what check resumes at.
_HEADER_KEYS = ("db", "collection", "EOF")
_TERMINATORS = re.compile(rb"(?:\xff\xff\xff\xff)+")
#: Valid BSON element type bytes (bsonspec.org): 0x01..0x13, 0x7f (max key), 0xff (min key).
_ELEMENT_TYPES = frozenset(range(0x01, 0x14)) | {0x7F, 0xFF}


def scan_for(
    fr: Framer, needle: bytes, back: int, valid: Callable[[], bool], limit: int | None = None
) -> int | None:
    """Move the cursor to the next candidate (``needle`` found ``back`` bytes in) that
    ``valid()`` accepts; return its offset, or None at the end of the stream or when the
    next candidate would start after ``limit`` (the cursor then stops at ``limit``)."""
    keep = len(needle) + back
    while True:
        idx = fr.buf.find(needle, fr.pos + back, fr.filled)
        if idx >= 0:
            candidate = fr.base + idx - back
            if limit is not None and candidate > limit:
                fr.pos = limit - fr.base
                return None
            fr.pos = idx - back
            if valid():
                return candidate
            fr.pos = candidate - fr.base + 1
            continue
        if limit is not None and fr.base + fr.filled - keep >= limit:
            fr.pos = max(fr.pos, limit - fr.base)
            return None
        if fr.eof:
            fr.pos = fr.filled
            return None
        fr.pos = max(fr.pos, fr.filled - keep)
        fr.fill(fr.filled - fr.pos + 1)


def header_at_cursor(fr: Framer) -> bool:
    """True if the bytes at the cursor parse as a namespace header (§3.3)."""
    if not fr.fill(4):
        return False
    size = int.from_bytes(fr.buf[fr.pos : fr.pos + 4], "little", signed=True)
    if size < 5 or size > _MAX_HEADER_SIZE or not fr.fill(size):
        return False
    raw = bytes(fr.buf[fr.pos : fr.pos + size])
    return recognise(raw, _HEADER_KEYS) is not None


def next_header(fr: Framer, start: int, limit: int | None) -> int | None:
    """Move the cursor past ``start`` to the next namespace header and return its offset.

    None: the stream ends first, or the next header would start after ``limit``
    (the cursor then stops at ``limit``).
    """
    first = max(start + 1, fr.base)
    fr.pos = min(first - fr.base, fr.filled)
    return scan_for(fr, _DB_MARK, 4, lambda: header_at_cursor(fr), limit)


def skip_terminator_run(fr: Framer, limit: int | None) -> bool:
    """Consume the terminators at the cursor in one sweep (a run of ``ff`` bytes, §2).

    False if the run goes past ``limit``: the cursor then stops at ``limit``.
    """
    while fr.fill(4):
        found = _TERMINATORS.match(fr.buf, fr.pos, fr.filled)
        if found is None:
            break
        if limit is not None and fr.base + found.end() > limit:
            fr.pos = limit - fr.base
            return False
        fr.pos = found.end()
        if fr.filled - fr.pos >= 4:
            break
    return True


def skip_rest(fr: Framer, limit: int | None) -> bool:
    """Read the rest of the stream (to learn its length), the cursor at its end.

    False if the stream goes on past ``limit``: the cursor then stops at ``limit``.
    """
    while not fr.eof:
        if limit is not None and fr.base + fr.filled >= limit:
            fr.pos = max(fr.pos, min(limit - fr.base, fr.filled))
            if fr.at_end():
                break
            return False
        fr.pos = fr.filled
        fr.fill(1)
    fr.pos = fr.filled
    return True


class Resync:
    """The search for a place to go on from; the scanner builds on it."""

    def __init__(self, framer: Framer, max_damage: int) -> None:
        self.fr = framer
        self.max_damage = max_damage

    def _size_at(self, pos: int) -> int | None:
        fr = self.fr
        if fr.filled - pos < 4:
            return None
        return int(_unpack_int32(fr.buf, pos)[0])

    def _well_formed_at(self, pos: int, size: int) -> bool:
        """buf[pos:pos+size] (available) is a BSON document that decodes."""
        buf = self.fr.buf
        if buf[pos + size - 1] or (size > 5 and buf[pos + 4] not in _ELEMENT_TYPES):
            return False
        with memoryview(buf) as view:
            return decodes(view[pos : pos + size])

    def _doc_candidate(self, pos: int) -> bool:
        """A document at buffer position ``pos`` that decodes and is followed by a terminator
        or another document that decodes (two in a row are rarely an accident; one alone
        may be a sub-document of a damaged document)."""
        fr = self.fr
        size = self._size_at(pos)
        if size is None or size < 5 or size > MAX_BSON_SIZE:
            return False
        if size > 5 and (fr.filled - pos < 5 or fr.buf[pos + 4] not in _ELEMENT_TYPES):
            return False
        if not _first_string_ok(fr.buf, pos, size, fr.filled):
            return False
        rel = pos - fr.pos
        if fr.filled - pos < size + 4:
            if size > _RESYNC_READ_AHEAD:
                # Refilling the window for every large candidate length in random bytes
                # would cost a copy of the window each time: past damage, only documents
                # up to 4 MiB (or already in the window) are recognised.
                return False
            # Read ahead generously so that nearby candidates need no refill (linear time).
            if not fr.eof:  # at the end a refill reads nothing and only moves the window
                fr.fill(rel + size + 4 + fr.chunk)
            pos = fr.pos + rel
            if fr.filled - pos < size:
                return False
        if fr.buf[pos + size - 1] or not self._well_formed_at(pos, size):
            return False
        after = self._size_at(pos + size)
        if after is None:
            # Not even at the end of the stream: a cut stream ends anywhere, often right
            # after a sub-document of the document it cut (§2).
            return False
        if after == -1:
            # The empty document before a terminator is mostly an int32 5 and a document's NUL.
            return size > 5
        if after < 5 or after > MAX_BSON_SIZE:
            return False
        if fr.filled - (pos + size) < after:
            if after > _RESYNC_READ_AHEAD:
                return False
            if not fr.eof:  # at the end a refill reads nothing and only moves the window
                fr.fill(rel + size + after + fr.chunk)
            pos = fr.pos + rel
            if fr.filled - (pos + size) < after:
                return False
        return self._well_formed_at(pos + size, after)

    def _header_candidate(self, pos: int, limit: int) -> dict[str, Any] | None:
        """The document at ``pos`` decoded if it starts with the strings db and collection."""
        fr = self.fr
        size = self._size_at(pos)
        if size is None or size < 5 or size > limit:
            return None
        # Cheap test first: the db string is followed by the collection string (§3.3).
        if fr.filled - pos >= 12:
            name = _unpack_int32(fr.buf, pos + 8)[0]
            if not 1 <= name <= size or (
                fr.filled - pos >= 12 + name + 12
                and fr.buf[pos + 12 + name : pos + 24 + name] != b"\x02collection\x00"
            ):
                return None
        need = pos - fr.pos + size
        if fr.filled - fr.pos < need:
            if not fr.eof:  # at the end a refill reads nothing and only moves the window
                fr.fill(need + fr.chunk)
            pos = fr.pos + (need - size)
            if fr.filled - pos < size:
                return None
        if fr.buf[pos + size - 1]:
            return None
        return recognise(bytes(fr.buf[pos : pos + size]), ("db", "collection"))

    def resync(self, start: int, want_docs: bool, in_prelude: bool) -> str:
        """Move the cursor past ``start`` to the next place to go on from.

        Returns "header" (a namespace header), "entry" (a collection entry, only
        ``in_prelude``), "doc" (a document, only ``want_docs``), "block" (the
        stream's last terminator), "end", or "limit" (``max_damage`` bytes passed).
        """
        fr = self.fr
        fr.pos = max(start + 1 - fr.base, fr.pos)
        pattern = _CANDIDATE if want_docs else _HEADER_CANDIDATE
        limit_size = _MAX_ENTRY_SIZE if in_prelude else _MAX_NS_HEADER_SIZE
        while True:
            if fr.offset - start > self.max_damage:
                return "limit"
            if not fr.fill(5):
                return self._at_end(start)
            buf = fr.buf
            limit = fr.filled
            i = fr.pos
            last = start + self.max_damage - fr.base  # the last buffer position to look at
            while True:
                # The regular expression finds the next candidate in C: linear time (bench_linear).
                found = pattern.search(buf, i, limit)
                if found is None:
                    break
                p = found.start()
                fr.pos = p  # everything before p is skipped for good
                if p > last:
                    return "limit"
                if buf[p + 4 : p + 8] == _DB_MARK:
                    if p + 12 <= limit and not 1 <= _unpack_int32(buf, p + 8)[0] <= _MAX_ENTRY_SIZE:
                        # The db string's length is impossible: neither a header nor a document.
                        i = p + 1
                        continue
                    doc = self._header_candidate(fr.pos, limit_size)
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

    def _damage_end(self, start: int, where: str) -> int:
        """Where the skipped bytes end: before a terminator that precedes a found header (§2)."""
        fr = self.fr
        if where == "block":  # the stream's final terminator closed the block
            return fr.offset - 4
        after_term = fr.pos >= 4 and fr.buf[fr.pos - 4 : fr.pos] == TERMINATOR
        if where == "header" and after_term and fr.offset - 4 > start:
            return fr.offset - 4
        return fr.offset


def _first_string_ok(buf: bytearray, pos: int, size: int, limit: int) -> bool:
    """False if the document at ``pos`` starts with a string element whose length is impossible.

    A cheap test before decoding: garbage that looks like a length and a type byte
    is rejected without a copy or a decode (bsonspec.org: a string holds >= 1 byte).
    """
    if size <= 5 or buf[pos + 4] != 0x02:
        return True
    name_end = buf.find(0, pos + 5, min(limit, pos + size))
    if name_end < 0 or name_end + 5 > limit:
        return True  # decided by the full test
    length: int = _unpack_int32(buf, name_end + 1)[0]
    return 1 <= length <= size - (name_end + 5 - pos)


def _classify(doc: dict[str, Any], in_prelude: bool) -> str | None:
    """ "header" or "entry" for a document starting with db and collection, by its other keys.

    Other writers leave out EOF and CRC or add fields (tolerated, §7): a header
    has a bool EOF, or no keys but EOF and CRC; in the prelude, a document with
    metadata and neither EOF nor CRC is a collection entry (§3.2).
    """
    keys = set(doc)
    if "EOF" in keys and not isinstance(doc["EOF"], bool):
        return None
    if in_prelude and "metadata" in keys and not keys & {"EOF", "CRC"}:
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


#: describe_bytes's last resort sends the reader to salvage, which is running: said instead.
_SALVAGE_HINT = "not archive data: skipped up to the next recognisable item"
#: A stream cut inside an item (§6).
CUT_HINT = "the archive was cut short; everything complete before the cut is kept"


#: ... which is this: describe_bytes of bytes it cannot name.
_GENERIC_HINT = describe_bytes(b"\x00\x00\x00\x00")


def own_hint(hint: str | None) -> str | None:
    """``hint`` for salvage's report: describe_bytes's advice to run salvage is replaced."""
    return _SALVAGE_HINT if hint == _GENERIC_HINT else hint


def bytes_hint(data: bytes) -> str:
    """describe_bytes, but never the advice to run salvage."""
    hint = describe_bytes(data)
    return _SALVAGE_HINT if hint == _GENERIC_HINT else hint


def _hint(skipped: bytes, start: int) -> str:
    """bytes_hint for a skipped range, pointing at text lines spliced into it (§7)."""
    if not skipped:
        return bytes_hint(skipped)
    size = int.from_bytes(skipped[:4], "little", signed=True)
    if 5 <= size < len(skipped) and skipped[size - 1]:
        # A document that fails its NUL check: the reader's hint, which quotes a spliced
        # text only where it can prove the text starts (never the document's own strings).
        return describe_document(skipped, start, size)
    text = _LOG_LINE.search(skipped)
    if text is not None and text.start() > 0:
        return f"at byte {start + text.start()}: {bytes_hint(skipped[text.start() :])}"
    return bytes_hint(skipped[:64])

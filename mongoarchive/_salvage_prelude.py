"""The prelude half of salvage's scan: magic number, archive header, collection entries.

Spec/archive.md §2, §3.1, §3.2.  Text or a second archive before the magic is
skipped up to the magic; a damaged magic before an intact archive header is
skipped alone; a damaged header is looked for again near where it should be;
an entry that does not decode is skipped up to the next recognisable item
(``_skip_damage``).  What is read is kept byte for byte (``header_raw``,
``entry_raw``) so that an intact prelude is written back unchanged.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ._framing import MAGIC, Framer, not_an_archive
from ._rules import decode_archive_header, decode_collection_entry
from ._skip_damage import _MAX_ENTRY_SIZE, _hint, bytes_hint
from .errors import ArchiveError
from .model import MAX_BSON_SIZE

if TYPE_CHECKING:
    from ._salvage_policy import SalvagePolicy

__all__ = ["entries_loop", "item", "read_prelude"]

_unpack_int32 = struct.Struct("<i").unpack_from

#: The archive header's first field, an int32 named concurrent_collections (§3.1).
_HEADER_MARK = b"\x10concurrent_collections\x00"
#: Text before the magic number is looked for only this far into the stream (§7).
_MAGIC_WINDOW = 1 << 20


def item(fr: Framer) -> tuple[str, int]:
    """Classify the item at the cursor: end, cut, term, doc, bad-length, missing-nul, past-end.

    The prelude's items (§3.1, §3.2); the body's are framed by the walk (``_walk``).
    """
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


def read_prelude(scan: SalvagePolicy) -> str:
    """Read magic, header and entries; return how the body starts ("block" or a resync result)."""
    fr = scan.fr
    head = fr.peek(4)
    if not head:
        empty = fr.empty()  # nothing at all: not a cut archive (§2)
        scan.header_ok = scan.prelude_ok = False
        scan.damage(0, 0, empty.message, empty.code, hint=empty.hint)
        return "end"
    if len(head) < 4:
        scan.header_ok = scan.prelude_ok = False
        if MAGIC.startswith(head):
            scan.cut(None)
        else:
            fr.pos = fr.filled
            scan.damage(0, fr.offset, "the stream is too short for an archive", "bad-magic")
        return "end"
    if head != MAGIC:
        fr.fill(_MAGIC_WINDOW)  # kept in the window: nothing read is thrown away
        sample = fr.peek(64)
        idx = fr.buf.find(MAGIC, fr.pos + 1, fr.filled)
        if fr.buf[fr.pos + 8 : fr.pos + 8 + len(_HEADER_MARK)] != _HEADER_MARK and idx < 0:
            # No archive header follows and no magic number anywhere: say what the
            # input is instead (text, a .bson file, gzip'd text), §2.
            bad = not_an_archive(sample, bool(fr.source.gzip))
            scan.header_ok = scan.prelude_ok = False
            return scan.skip(0, bad.message, bad.code, None, want_docs=False, in_prelude=True, hint=bad.hint)
        if idx < 0:
            # The archive header follows: only the magic number is damaged (§2).
            scan.damage(
                0,
                4,
                "the stream does not start with the archive magic number",
                "bad-magic",
                hint=bytes_hint(sample),
            )
        else:
            scan.damage(
                0,
                idx,
                "bytes before the archive magic number",
                "data-before-magic",
                hint=_hint(bytes(fr.buf[fr.pos : idx]), 0),
            )
            fr.pos = idx
    fr.pos += 4
    offset = fr.offset
    kind, size = item(scan.fr)
    if kind == "doc":
        raw = bytes(fr.buf[fr.pos : fr.pos + size])
        try:
            scan.archive_header, _ = decode_archive_header(raw, offset)
            scan.header_raw = raw
        except ArchiveError as exc:
            # Resume after its first byte: a grown length may cover the entries (§2).
            return _prelude_damage(scan, offset, exc.code, "the archive header")
        fr.pos += size
    elif kind == "term":
        scan.header_ok = False
        scan.damage(offset, offset, "the archive header is missing", "consecutive-terminators")
    elif kind in ("end", "cut"):
        scan.header_ok = scan.prelude_ok = False
        scan.cut(None)
        return "end"
    elif not _find_archive_header(scan, offset):
        return _prelude_damage(scan, offset, kind, "the archive header")
    return entries_loop(scan)


def _find_archive_header(scan: SalvagePolicy, start: int) -> bool:
    """After damage at ``start``, find the archive header near it (§3.1) and read it."""
    fr = scan.fr
    fr.pos = start - fr.base
    sample = fr.peek(4096)
    fr.fill(_MAX_ENTRY_SIZE)
    idx = fr.buf.find(_HEADER_MARK, fr.pos + 4, fr.filled)
    while idx >= 0:
        pos = idx - 4
        size = scan._size_at(pos)
        if size is not None and 5 <= size <= fr.filled - pos and not fr.buf[pos + size - 1]:
            try:
                header, _ = decode_archive_header(bytes(fr.buf[pos : pos + size]), fr.base + pos)
            except ArchiveError:
                header = None
            if header is not None:
                scan.archive_header = header
                scan.header_raw = bytes(fr.buf[pos : pos + size])
                fr.pos = pos
                scan.damage(
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


def _prelude_damage(scan: SalvagePolicy, offset: int, kind: str, what: str) -> str:
    scan.prelude_ok = False
    if what == "the archive header":
        scan.header_ok = False
    reason = what if "unreadable" in what else f"{what} is damaged ({kind})"
    return scan.skip(offset, reason, kind, None, want_docs=False, in_prelude=True)


def entries_loop(scan: SalvagePolicy) -> str:
    """Collection entries up to the prelude's terminator; return how the body starts."""
    fr = scan.fr
    while True:
        offset = fr.offset
        kind, size = item(scan.fr)
        if kind == "term":
            fr.pos += 4
            return "block"
        if kind in ("end", "cut"):
            scan.prelude_ok = False
            scan.cut(None)
            return "end"
        if kind != "doc":
            where = _prelude_damage(scan, offset, kind, "a collection entry")
            if where == "entry":
                continue
            return where
        raw = bytes(fr.buf[fr.pos : fr.pos + size])
        try:
            entry, _ = decode_collection_entry(raw, offset)
        except ArchiveError as exc:
            # Its length may have grown over what follows: resume after its first byte (§2).
            reason = f"a collection entry is unreadable: {exc.message}"
            where = _prelude_damage(scan, offset, exc.code, reason)
            if where == "entry":
                continue
            return where
        fr.pos += size
        if entry.namespace in scan.states:
            scan.notes.append(f"the prelude declares {entry.namespace} twice: the first entry is kept")
            continue
        scan.entry_raw.append(raw)
        scan.entries.append(entry)
        scan.declare(entry)

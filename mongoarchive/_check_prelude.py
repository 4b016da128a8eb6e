"""Check's reading of the magic number and the prelude (spec/archive.md §2, §3.1, §3.2).

Unlike the reader's ``_rules.read_prelude``, it goes on after a broken rule:
a damaged magic number followed by an archive header, text before the magic,
an undecodable header or entry, bad metadata and duplicate entries are each
recorded, and the check carries on; a framing error resynchronises at the next
namespace header (``_skip_damage.next_header``) and the body is then checked
with a prelude known to be incomplete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._check_report import Problem
from ._framing import MAGIC, describe_bytes, not_an_archive
from ._rules import decode_archive_header, decode_collection_entry
from ._skip_damage import scan_for
from ._text import plural
from .errors import (
    ArchiveError,
    FramingError,
    HeaderError,
    MetadataError,
    NotAnArchiveError,
    TruncatedError,
)
from .model import CollectionEntry, Namespace

if TYPE_CHECKING:
    from .checker import CheckPolicy

__all__ = ["Stop", "check_prelude"]

#: How far into the stream a magic number is looked for when the stream does not start with one.
_SCAN_MAGIC_LIMIT = 1 << 20
#: The archive header's first field, an int32 named concurrent_collections (§3.1).
_ARCHIVE_HEADER_MARK = b"\x10concurrent_collections\x00"


class Stop(Exception):
    """The stream cannot be read any further (end of data or damaged gzip)."""


def _looks_like_archive_header(data: bytes) -> bool:
    """True if ``data`` starts with a document whose first field is concurrent_collections (§3.1)."""
    mark = _ARCHIVE_HEADER_MARK
    return len(data) >= 4 + len(mark) and data[4 : 4 + len(mark)] == mark


def check_prelude(chk: CheckPolicy) -> None:
    """Check the magic number and the prelude; leave the cursor where the body starts."""
    fr = chk.fr
    head = fr.peek(64)
    if len(head) < 4:
        fr.read_magic()  # raises TruncatedError
    if head[:4] != MAGIC:
        if _looks_like_archive_header(head[4:]):
            # Only the magic is damaged: report it and check the rest (§2).
            chk.error(
                NotAnArchiveError(
                    "the archive magic number is damaged (the archive header follows it)",
                    offset=0,
                    hint="the first four bytes were overwritten; the rest can still be checked",
                )
            )
            fr.pos += 4
            _prelude_documents(chk)
            return
        bad_magic = not_an_archive(head, bool(fr.source.gzip))
        try:
            found = scan_for(fr, MAGIC, 0, lambda: True, limit=_SCAN_MAGIC_LIMIT)
        except ArchiveError:
            # The search for a later magic hit damage (a cut gzip stream, say):
            # the missing magic is still the first problem.
            chk.error(bad_magic)
            raise
        if found is None:
            chk.error(bad_magic)
            chk.skip_to_end(0)
            raise Stop
        chk.error(
            NotAnArchiveError(
                f"{plural(found, 'byte comes', 'bytes come')} before the archive magic number",
                offset=0,
                code="data-before-magic",
                hint=describe_bytes(head[: min(found, len(head))]),
            )
        )
        chk.add_unchecked(0, found)
    fr.pos += 4
    _prelude_documents(chk)


def _prelude_documents(chk: CheckPolicy) -> None:
    fr = chk.fr
    entries: list[CollectionEntry] = []
    try:
        offset = fr.offset
        raw = fr.read_doc("the archive header")
        if raw is None:
            raise FramingError(
                "a terminator stands where the archive header should be",
                offset=offset,
                code="consecutive-terminators",
            )
        try:
            header, warnings = decode_archive_header(raw, offset)
            chk.result.header = header
            chk.warn(warnings)
        except HeaderError as exc:
            chk.error(exc)
        seen: set[Namespace] = set()
        while True:
            offset = fr.offset
            raw = fr.read_doc("a collection entry")
            if raw is None:
                break
            try:
                entry, warnings = decode_collection_entry(raw, offset)
            except HeaderError as exc:
                chk.error(exc)
                continue
            chk.warn(warnings)
            entries.append(entry)
            _check_entry(chk, entry, offset, seen)
    except TruncatedError:
        chk.start_body(entries, complete=False)
        raise
    except FramingError as exc:
        chk.start_body(entries, complete=False)
        if exc.code == "bad-gzip":
            raise
        chk.error(exc)
        if not chk.resync(exc.offset if exc.offset is not None else fr.offset):
            raise Stop from exc
        return
    chk.start_body(entries, complete=True)


def _check_entry(chk: CheckPolicy, entry: CollectionEntry, offset: int, seen: set[Namespace]) -> None:
    ns = entry.namespace
    if ns in seen:
        chk.add(
            Problem(
                "warning",
                "duplicate-entry",
                "the prelude declares this namespace twice; the first entry counts",
                offset,
                str(ns),
            )
        )
    seen.add(ns)
    try:
        entry.parse_metadata()
    except MetadataError as exc:
        exc.offset = offset
        chk.error(exc)

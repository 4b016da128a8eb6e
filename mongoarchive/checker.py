"""Full validation of an archive that collects every problem instead of stopping.

The reader stops at the first broken rule; a CI job wants the whole list.  The
checker walks the stream with the reader's own pieces (``_framing.Framer`` for
framing and offsets, ``_rules`` for header decoding and the demultiplexer's
rules), so a problem it reports carries the same code and offset the reader
would raise.  After a framing error it resynchronises: it scans forward for the
next bytes that parse as a namespace header (spec/archive.md §3.3: a small
document whose fields start ``db``, ``collection``, ``EOF``) and goes on from
there, reporting the byte range it could not check.  Memory stays bounded: the
scan slides over the framer's window and never holds more than one document;
the lists that grow with damage (problems, unchecked ranges, namespaces the
prelude does not declare) keep their first entries and count the rest.  Time
stays bounded too: after ``max_damage`` bytes that could not be checked the
check stops with a ``damage-limit`` error instead of reading garbage forever.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import IO, Any, Literal

from ._bsoncheck import invalid_documents
from ._crc import crc64
from ._framing import MAGIC, Framer, describe_bytes, not_an_archive
from ._io import open_source
from ._releases import RELEASES, parse_target, refused_by
from ._rules import (
    Demux,
    decode_archive_header,
    decode_collection_entry,
    decode_namespace_header,
    recognise,
)
from ._text import plural
from .errors import (
    ArchiveError,
    ChecksumError,
    DocumentError,
    FramingError,
    HeaderError,
    MetadataError,
    MongoArchiveError,
    NamespaceError,
    NotAnArchiveError,
    TrailingDataError,
    TruncatedError,
    UsageError,
)
from .model import ArchiveHeader, ArchiveWarning, CollectionEntry, Namespace, NamespaceSummary

__all__ = ["CheckResult", "Problem", "check_archive"]

Severity = Literal["error", "warning"]

#: A namespace header is four short fields (§3.3); names are at most a few hundred bytes.
_MAX_HEADER_SIZE = 4096
#: b"\x02db\x00": a string element named "db", the first field of a namespace header.
_HEADER_MARK = b"\x02db\x00"
_HEADER_KEYS = ("db", "collection", "EOF")
_SCAN_MAGIC_LIMIT = 1 << 20
#: Default of ``max_damage``: four times the largest document (16 MiB, §2).  A damaged
#: stretch that long has swallowed several whole blocks, so little is learnt by reading
#: on, and an endless input (a device, a pipe of garbage) still ends in seconds.
DEFAULT_MAX_DAMAGE = 64 * 1024 * 1024
#: Undeclared namespaces (§6) followed with a summary; blocks of the others are counted.
MAX_UNDECLARED = 1000
_TERMINATORS = re.compile(rb"(?:\xff\xff\xff\xff)+")


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One finding: where it is, what is wrong, and how to proceed."""

    severity: Severity
    code: str
    message: str
    offset: int | None = None
    namespace: str | None = None
    hint: str | None = None
    #: The mongorestore releases that refuse an archive with this problem (spec §7).
    refused_by: tuple[str, ...] = ()

    @classmethod
    def from_error(cls, exc: MongoArchiveError, severity: Severity = "error") -> Problem:
        return cls(severity, exc.code, exc.message, exc.offset, exc.namespace, exc.hint)

    @classmethod
    def from_warning(cls, warning: ArchiveWarning) -> Problem:
        return cls("warning", warning.code, warning.message, warning.offset, warning.namespace, None)

    def to_dict(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["refused_by"] = list(self.refused_by)
        return out


@dataclasses.dataclass(slots=True)
class CheckResult:
    """Everything ``check_archive`` found in one archive."""

    file: str
    gzip: bool | None = None
    #: The releases whose verdict decides errors (``--target``), oldest first.
    target: tuple[str, ...] = RELEASES
    header: ArchiveHeader | None = None
    collections: list[CollectionEntry] = dataclasses.field(default_factory=list)
    namespaces: dict[Namespace, NamespaceSummary] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    #: Byte ranges [start, end) that could not be checked; end None: unknown (damaged
    #: gzip, or the check stopped at ``max_damage``).  Adjacent ranges are merged; only
    #: the first ``max_problems`` are listed, ``unchecked_omitted`` counts the others.
    unchecked: list[tuple[int, int | None]] = dataclasses.field(default_factory=list)
    #: Bytes in all unchecked ranges (listed or not) whose end is known.
    unchecked_bytes: int = 0
    #: Unchecked ranges found after the list was full.
    unchecked_omitted: int = 0
    #: Blocks of undeclared namespaces beyond the first ``MAX_UNDECLARED``: framing checked,
    #: no summary kept (so no CRC check).
    untracked_blocks: int = 0
    #: Bytes of the (uncompressed) stream that were read.
    size: int = 0
    #: True if more problems were found than ``max_problems`` allowed to keep.
    truncated_report: bool = False
    #: True if every document was decoded as BSON (``deep``), not only framed and checksummed.
    deep: bool = False
    #: Problems found, listed or not (the list stops at ``max_problems``).
    error_count: int = 0
    warning_count: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def ok(self, strict: bool = False) -> bool:
        """True if no error was found (and, when ``strict``, no warning)."""
        return self.error_count == 0 and not (strict and self.warning_count)

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        """The JSON shape of ``mongoarchive check --format json`` (one file)."""
        return {
            "file": self.file,
            "valid": self.ok(strict),
            "target": "all" if self.target == RELEASES else self.target[0],
            "deep": self.deep,
            "gzip": self.gzip,
            "bytes": self.size,
            "errors": self.error_count,
            "warnings": self.warning_count,
            "problems": [p.to_dict() for p in self.problems],
            "unchecked": [{"start": a, "end": b} for a, b in self.unchecked],
            "unchecked_bytes": self.unchecked_bytes,
            "unchecked_omitted": self.unchecked_omitted,
            "untracked_blocks": self.untracked_blocks,
            "namespaces": [s.to_dict() for s in self.namespaces.values()],
            "report_truncated": self.truncated_report,
            "listed": len(self.problems),
        }


def _looks_like_archive_header(data: bytes) -> bool:
    """True if ``data`` starts with a document whose first field is concurrent_collections (§3.1)."""
    mark = b"\x10concurrent_collections\x00"
    return len(data) >= 4 + len(mark) and data[4 : 4 + len(mark)] == mark


class _Stop(Exception):
    """The stream cannot be read any further (end of data or damaged gzip)."""


class _DamageLimit(_Stop):
    """More than ``max_damage`` bytes could not be checked."""


class _Checker:
    def __init__(
        self, framer: Framer, result: CheckResult, max_problems: int, max_damage: int | None
    ) -> None:
        self.target = set(result.target)
        self.fr = framer
        self.result = result
        self.max_problems = max_problems
        self.max_damage = max_damage
        self.demux = Demux([])
        self.prelude_complete = True
        self.extra: dict[Namespace, NamespaceSummary] = {}  # undeclared namespaces (§6)
        self.extra_ended: set[Namespace] = set()
        self.naming: list[ArchiveWarning] = []  # the demultiplexer's timeseries naming warnings
        # A CRC cannot be trusted when bytes were skipped while its namespace was open.
        # Declared namespaces are open from the start, so one count of resynchronisations
        # says it; an undeclared one remembers the count when it first appeared.  (A set
        # rebuilt at every resynchronisation made many namespaces times many resyncs.)
        self.resyncs = 0
        self.extra_opened: dict[Namespace, int] = {}

    # -- recording -------------------------------------------------------------
    def add(self, problem: Problem) -> None:
        """Record ``problem``: an error if a target release refuses it, else a warning (§7)."""
        refused = refused_by(problem.code)
        severity: Severity = "error" if self.target.intersection(refused) else "warning"
        problem = dataclasses.replace(problem, severity=severity, refused_by=refused)
        if severity == "error":
            self.result.error_count += 1
        else:
            self.result.warning_count += 1
        if len(self.result.problems) >= self.max_problems:
            self.result.truncated_report = True
            return
        self.result.problems.append(problem)

    def error(self, exc: MongoArchiveError) -> None:
        self.add(Problem.from_error(exc))

    def warn(self, warnings: list[ArchiveWarning]) -> None:
        for w in warnings:
            self.add(Problem.from_warning(w))

    def add_unchecked(self, start: int, end: int | None) -> None:
        """Record [start, end) as not checked: merged with the last range if adjacent, capped."""
        result = self.result
        if end is not None:
            result.unchecked_bytes += end - start
        ranges = result.unchecked
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        elif len(ranges) < self.max_problems:
            ranges.append((start, end))
        else:
            result.unchecked_omitted += 1

    def damage_room(self, start: int) -> int | None:
        """The offset up to which bytes from ``start`` may go unchecked (None: no limit)."""
        if self.max_damage is None:
            return None
        return start + max(self.max_damage - self.result.unchecked_bytes, 0)

    def damage_limit(self, start: int, at: int) -> _DamageLimit:
        """Record the stop at ``at`` (bytes from ``start`` skipped) and return the exception."""
        self.add_unchecked(start, None)
        # Appended even when the report is full: it says why the check ended.
        self.result.problems.append(
            Problem(
                "error",
                "damage-limit",
                f"more than {self.max_damage} bytes could not be checked (the max_damage limit, "
                "--max-damage); the check stops here",
                at,
                None,
                "raise --max-damage to check further, or run 'mongoarchive salvage' "
                "to recover the intact namespaces",
            )
        )
        return _DamageLimit()

    # -- scanning ----------------------------------------------------------------
    def _scan(self, needle: bytes, back: int, valid: Any, limit: int | None = None) -> int | None:
        """Move the cursor to the next candidate (``needle`` found ``back`` bytes in) that
        ``valid()`` accepts; return its offset, or None at the end of the stream or when the
        next candidate would start after ``limit`` (the cursor then stops at ``limit``)."""
        fr = self.fr
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

    def _header_here(self) -> bool:
        """True if the bytes at the cursor parse as a namespace header (§3.3)."""
        fr = self.fr
        if not fr.fill(4):
            return False
        size = int.from_bytes(fr.buf[fr.pos : fr.pos + 4], "little", signed=True)
        if size < 5 or size > _MAX_HEADER_SIZE or not fr.fill(size):
            return False
        raw = bytes(fr.buf[fr.pos : fr.pos + size])
        return recognise(raw, _HEADER_KEYS) is not None

    def resync(self, start: int) -> bool:
        """Skip from ``start`` to the next recognisable namespace header; False at the end."""
        fr = self.fr
        first = max(start + 1, fr.base)
        fr.pos = min(first - fr.base, fr.filled)
        # Every namespace not yet ended may have had data in the skipped bytes.
        self.resyncs += 1
        limit = self.damage_room(start)
        found = self._scan(_HEADER_MARK, 4, self._header_here, limit)
        if found is None:
            if limit is not None and fr.offset >= limit and not fr.at_end():
                raise self.damage_limit(start, fr.offset)
            self.add_unchecked(start, fr.offset)
            return False
        self.add_unchecked(start, found)
        return True

    def skip_to_end(self, start: int) -> None:
        """Read the rest of the stream (to learn its length) and mark it unchecked."""
        fr = self.fr
        limit = self.damage_room(start)
        while not fr.eof:
            if limit is not None and fr.base + fr.filled >= limit:
                fr.pos = max(fr.pos, min(limit - fr.base, fr.filled))
                if fr.at_end():
                    break
                raise self.damage_limit(start, fr.offset)
            fr.pos = fr.filled
            fr.fill(1)
        fr.pos = fr.filled
        self.add_unchecked(start, fr.offset)

    # -- prelude (§3.1, §3.2) ----------------------------------------------------------
    def prelude(self) -> None:
        fr = self.fr
        head = fr.peek(64)
        if len(head) < 4:
            fr.read_magic()  # raises TruncatedError
        if head[:4] != MAGIC:
            if _looks_like_archive_header(head[4:]):
                # Only the magic is damaged: report it and check the rest (§2).
                self.error(
                    NotAnArchiveError(
                        "the archive magic number is damaged (the archive header follows it)",
                        offset=0,
                        hint="the first four bytes were overwritten; the rest can still be checked",
                    )
                )
                fr.pos += 4
                self._prelude_documents()
                return
            bad_magic = not_an_archive(head, bool(fr.source.gzip))
            try:
                found = self._scan(MAGIC, 0, lambda: True, limit=_SCAN_MAGIC_LIMIT)
            except ArchiveError:
                # The search for a later magic hit damage (a cut gzip stream, say):
                # the missing magic is still the first problem.
                self.error(bad_magic)
                raise
            if found is None:
                self.error(bad_magic)
                self.skip_to_end(0)
                raise _Stop
            self.error(
                NotAnArchiveError(
                    f"{plural(found, 'byte comes', 'bytes come')} before the archive magic number",
                    offset=0,
                    code="data-before-magic",
                    hint=describe_bytes(head[: min(found, len(head))]),
                )
            )
            self.add_unchecked(0, found)
        fr.pos += 4
        self._prelude_documents()

    def _prelude_documents(self) -> None:
        fr = self.fr
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
                self.result.header = header
                self.warn(warnings)
            except HeaderError as exc:
                self.error(exc)
            seen: set[Namespace] = set()
            while True:
                offset = fr.offset
                raw = fr.read_doc("a collection entry")
                if raw is None:
                    break
                try:
                    entry, warnings = decode_collection_entry(raw, offset)
                except HeaderError as exc:
                    self.error(exc)
                    continue
                self.warn(warnings)
                entries.append(entry)
                self._check_entry(entry, offset, seen)
        except TruncatedError:
            self._start_body(entries, complete=False)
            raise
        except FramingError as exc:
            self._start_body(entries, complete=False)
            if exc.code == "bad-gzip":
                raise
            self.error(exc)
            if not self.resync(exc.offset if exc.offset is not None else fr.offset):
                raise _Stop from exc
            return
        self._start_body(entries, complete=True)

    def _check_entry(self, entry: CollectionEntry, offset: int, seen: set[Namespace]) -> None:
        ns = entry.namespace
        if ns in seen:
            self.add(
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
            self.error(exc)

    def _start_body(self, entries: list[CollectionEntry], complete: bool) -> None:
        self.result.collections = entries
        self.prelude_complete = complete
        version = self.result.header.server_version if self.result.header else ""
        self.demux = Demux(entries, version, self.naming)
        self.result.namespaces = self.demux.summaries

    # -- body (§2, §6) -----------------------------------------------------------------
    def body(self) -> None:
        fr = self.fr
        demux = self.demux
        while True:
            fr.namespace = None
            if fr.at_end():
                return
            start = fr.offset
            if demux.all_ended and self.prelude_complete:
                exc = demux.trailing(start)
                exc.hint = describe_bytes(fr.peek(64))
                self.error(exc)
                self.skip_to_end(start)
                return
            try:
                self.block(start)
            except FramingError as exc:
                self.error(exc)
                if exc.code == "bad-gzip" or not self.resync(exc.offset if exc.offset is not None else start):
                    return

    def block(self, start: int) -> None:
        fr = self.fr
        raw = fr.read_doc("a namespace header")
        if raw is None:
            after = fr.offset
            end = self.skip_terminators()
            more = (end - after) // 4
            message = "two terminators in a row (a block without a namespace header)"
            if more:
                message += f", then {more} more (a run of ff bytes)"
            self.error(
                FramingError(
                    message,
                    offset=start,
                    code="consecutive-terminators",
                    hint=describe_bytes(fr.peek(64)),
                )
            )
            if more:
                self.add_unchecked(after, end)
            return
        try:
            ns, eof, stored_crc, warnings = decode_namespace_header(raw, start)
        except (HeaderError, NamespaceError) as exc:
            self.error(exc)
            self.data(None)
            return
        self.warn(warnings)
        fr.namespace = str(ns)
        summary = self.begin(ns, eof, start)
        if eof:
            at = fr.offset
            if fr.check_next("the terminator after an EOF header") >= 0:
                self.error(
                    NamespaceError(
                        "documents follow the namespace's EOF header",
                        offset=at,
                        namespace=str(ns),
                        code="data-after-eof",
                    )
                )
                self.data(None)
            else:
                fr.pos += 4
            if summary is not None:
                self.end(summary, stored_crc, start)
            return
        self.data(summary)

    def skip_terminators(self) -> int:
        """Consume the terminators at the cursor in one sweep; return the offset after them.

        One error for a whole run of ``ff`` bytes, not one per four bytes (§2).
        """
        fr = self.fr
        start = fr.offset
        limit = self.damage_room(start)
        while fr.fill(4):
            found = _TERMINATORS.match(fr.buf, fr.pos, fr.filled)
            if found is None:
                break
            if limit is not None and fr.base + found.end() > limit:
                fr.pos = limit - fr.base
                raise self.damage_limit(start, fr.offset)
            fr.pos = found.end()
            if fr.filled - fr.pos >= 4:
                break
        return fr.offset

    def data(self, summary: NamespaceSummary | None) -> None:
        """Consume a block's documents up to its terminator, checksumming into ``summary``."""
        fr = self.fr
        while True:
            run = fr.next_run()
            if run is None:
                return
            begin, end, count = run
            if self.result.deep:
                self.deep(begin, end)
            if summary is not None:
                view = memoryview(fr.buf)
                summary.crc_value = crc64(view[begin:end], summary.crc_value)
                view.release()
                summary.documents += count
                summary.bytes += end - begin

    def deep(self, begin: int, end: int) -> None:
        """``--deep``: every document of ``buf[begin:end]`` must be valid BSON (§2)."""
        view = memoryview(self.fr.buf)
        try:
            bad = invalid_documents(view[begin:end])
        finally:
            view.release()
        for at, reason in bad:
            self.error(
                DocumentError(
                    f"the document is not valid BSON: {reason}",
                    offset=self.fr.base + begin + at,
                    namespace=self.fr.namespace,
                    code="bad-bson",
                    hint="its length and final NUL are intact, so the CRC may match; the server "
                    "refuses the document when mongorestore inserts it",
                )
            )

    def begin(self, ns: Namespace, eof: bool, start: int) -> NamespaceSummary | None:
        try:
            summary = self.demux.begin(ns, eof, start)
        except NamespaceError as exc:
            if exc.code != "undeclared-namespace":
                self.error(exc)
                return None
            undeclared = exc
        else:
            if self.naming:
                self.warn(self.naming)
                self.naming.clear()
            return summary
        # Undeclared: report once, then still check its framing and CRC (§6).
        if ns in self.extra_ended:
            self.error(
                NamespaceError(
                    "the namespace appears again after its EOF block",
                    offset=start,
                    namespace=str(ns),
                    code="reopened-namespace",
                    hint="two archives were concatenated, or the writer is faulty",
                )
            )
            return None
        extra = self.extra.get(ns)
        if extra is None:
            if len(self.extra) >= MAX_UNDECLARED:
                # Framing is still checked; a summary (and so a CRC check) is kept only
                # for the first ones, so that garbage full of names cannot fill memory.
                if not self.result.untracked_blocks:
                    self.error(
                        NamespaceError(
                            f"more than {MAX_UNDECLARED} namespaces that the prelude does not "
                            "declare: the others are counted, not followed",
                            offset=start,
                            namespace=str(ns),
                            code="undeclared-namespace",
                            hint="the archive was assembled from pieces or is damaged",
                        )
                    )
                self.result.untracked_blocks += 1
                return None
            if self.prelude_complete:
                self.error(undeclared)
            extra = self.extra[ns] = NamespaceSummary(ns, first_offset=start)
            self.extra_opened[ns] = self.resyncs
            self.demux.summaries[ns] = extra
        if not eof:
            extra.segments += 1
        return extra

    def end(self, summary: NamespaceSummary, stored_crc: int, start: int) -> None:
        ns = summary.ns
        opened = self.extra_opened.get(ns)
        tainted = self.resyncs > (0 if opened is None else opened)
        if ns in self.extra:
            self.extra_ended.add(ns)
            summary.crc_stored = stored_crc
            summary.crc = "ok" if stored_crc == summary.crc_value else "mismatch"
            if summary.crc == "ok":
                return
            exc = ChecksumError(
                f"CRC-64 mismatch: stored {stored_crc:#018x}, documents give {summary.crc_value:#018x}",
                offset=start,
                namespace=str(ns),
            )
        else:
            try:
                self.demux.end(summary, stored_crc, start)
                return
            except ChecksumError as err:
                exc = err
        if tainted:
            summary.crc = "unverifiable"
            self.add(
                Problem(
                    "warning",
                    "crc-unverifiable",
                    "the CRC-64 could not be verified: part of this namespace's data may lie "
                    "in a byte range that could not be checked",
                    start,
                    str(ns),
                    "see the unchecked ranges; the framing error before them is the real problem",
                )
            )
            return
        self.error(exc)

    def finish(self, offset: int) -> None:
        """Every namespace of the prelude must have ended (§6); report each one that did not."""
        skipped = bool(self.result.unchecked)
        for exc in self.demux.unended(offset):
            if skipped:
                exc.hint = "its blocks may lie in a byte range that could not be checked"
            self.error(exc)
        for ns, summary in self.extra.items():
            if ns not in self.extra_ended:
                self.error(
                    TruncatedError(
                        "the archive ends before this namespace's EOF block",
                        offset=offset,
                        namespace=str(summary.ns),
                        code="unfinished-namespace",
                    )
                )

    def run(self) -> None:
        fr = self.fr
        try:
            self.prelude()
            self.body()
        except _Stop:
            pass
        except (TruncatedError, TrailingDataError) as exc:
            # Trailing bytes after the last gzip member: every inflated byte was checked.
            self.error(exc)
        except ArchiveError as exc:  # a damaged gzip stream: nothing after it can be read
            self.error(exc)
            self.result.unchecked.append((fr.offset, None))
        self.result.size = fr.base + fr.filled
        self.finish(self.result.size)


def check_archive(
    src: str | os.PathLike[str] | IO[bytes] | Any,
    *,
    gzip: bool | None = None,
    name: str | None = None,
    max_problems: int = 1000,
    target: str = "all",
    deep: bool = False,
    max_damage: int | None = DEFAULT_MAX_DAMAGE,
) -> CheckResult:
    """Check a whole archive (path, binary file object or "-") and return every problem found.

    Only ArchiveIOError is raised (the input cannot be opened or read), or UsageError
    for an unknown ``target`` or a negative ``max_damage``; everything wrong with the
    bytes is a ``Problem`` in the result.  ``gzip``: None sniffs.  ``target``: a
    mongorestore release ("100.6", "100.14", "100.16", "100.18", or in full, "100.6.1")
    or "all": a problem is an error when a target release refuses the archive for it,
    else a warning (§7).  ``deep``: also decode every document as BSON (``bad-bson``),
    like ``bsondump --objcheck``.  ``max_damage``: after this many bytes that could not
    be checked (unchecked ranges, runs of stray terminators) the check stops with a
    ``damage-limit`` error; None reads to the end whatever it holds.
    """
    try:
        releases = parse_target(target)
    except ValueError as exc:
        raise UsageError(str(exc), hint="--target takes one of " + ", ".join((*RELEASES, "all"))) from exc
    if max_damage is not None and max_damage < 0:
        raise UsageError("max_damage must be 0 or more (or None for no limit)")
    source = open_source(src, gzip=gzip)
    result = CheckResult(file=name or source.name, gzip=source.gzip, target=releases, deep=deep)
    try:
        _Checker(Framer(source), result, max_problems, max_damage).run()
    finally:
        if isinstance(src, (str, os.PathLike)):
            source.close()
    return result

"""Full validation of an archive that collects every problem instead of stopping.

The reader stops at the first broken rule; a CI job wants the whole list.  The
check walks the body with the reader's own walk (``_walk.Walk``: ``_framing``
for framing and offsets, ``_rules`` for header decoding and the demultiplexer's
rules) under another policy, ``CheckPolicy``: a problem it reports carries the
same code and offset the reader would raise, and checking an intact archive
costs what reading it does.  The prelude is read by ``_check_prelude``.  After
a framing error it resynchronises (``_skip_damage.next_header``): it scans
forward for the next bytes that parse as a namespace header (spec/archive.md
§3.3: a small document whose fields start ``db``, ``collection``, ``EOF``) and
goes on from there, reporting the byte range it could not check.  Memory stays
bounded: the scan slides over the framer's window and never holds more than one
document; the lists that grow with damage (problems, unchecked ranges,
namespaces the prelude does not declare) keep their first entries and count the
rest.  Time stays bounded too: after ``max_damage`` bytes that could not be
checked the check stops with a ``damage-limit`` error instead of reading
garbage forever.
"""

from __future__ import annotations

import dataclasses
import os
from typing import IO, Any

from ._bsoncheck import invalid_documents
from ._check_prelude import Stop, check_prelude
from ._check_report import CheckResult, Problem, Severity
from ._framing import Framer, describe_bytes
from ._io import open_source
from ._releases import RELEASES, parse_target, refused_by
from ._rules import Demux, decode_namespace_header
from ._skip_damage import next_header, skip_rest, skip_terminator_run
from ._walk import ReadPolicy, Resume, Walk
from .errors import (
    ArchiveError,
    ChecksumError,
    DocumentError,
    FramingError,
    HeaderError,
    MongoArchiveError,
    NamespaceError,
    TrailingDataError,
    TruncatedError,
    UsageError,
)
from .model import ArchiveWarning, CollectionEntry, Namespace, NamespaceSummary

__all__ = ["CheckResult", "Problem", "check_archive"]

#: Default of ``max_damage``: four times the largest document (16 MiB, §2).  A damaged
#: stretch that long has swallowed several whole blocks, so little is learnt by reading
#: on, and an endless input (a device, a pipe of garbage) still ends in seconds.
DEFAULT_MAX_DAMAGE = 64 * 1024 * 1024
#: Undeclared namespaces (§6) followed with a summary; blocks of the others are counted.
MAX_UNDECLARED = 1000


class DamageLimit(Stop):
    """More than ``max_damage`` bytes could not be checked."""


class CheckPolicy(ReadPolicy):
    """The check's policy for the walk: record every problem, resynchronise, go on."""

    recoverable = (FramingError,)

    def __init__(
        self, framer: Framer, result: CheckResult, max_problems: int, max_damage: int | None
    ) -> None:
        self.target = set(result.target)
        self.fr = framer
        self.result = result
        self.deep = result.deep
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

    def damage_limit(self, start: int, at: int) -> DamageLimit:
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
        return DamageLimit()

    # -- skipping damage (_skip_damage) ----------------------------------------------
    def resync(self, start: int) -> bool:
        """Skip from ``start`` to the next recognisable namespace header; False at the end."""
        fr = self.fr
        # Every namespace not yet ended may have had data in the skipped bytes.
        self.resyncs += 1
        limit = self.damage_room(start)
        found = next_header(fr, start, limit)
        if found is None:
            if limit is not None and fr.offset >= limit and not fr.at_end():
                raise self.damage_limit(start, fr.offset)
            self.add_unchecked(start, fr.offset)
            return False
        self.add_unchecked(start, found)
        return True

    def skip_to_end(self, start: int) -> None:
        """Read the rest of the stream (to learn its length) and mark it unchecked."""
        if not skip_rest(self.fr, self.damage_room(start)):
            raise self.damage_limit(start, self.fr.offset)
        self.add_unchecked(start, self.fr.offset)

    def start_body(self, entries: list[CollectionEntry], complete: bool) -> None:
        """The prelude was read (``complete``: up to its terminator): the body's rules start."""
        self.result.collections = entries
        self.prelude_complete = complete
        version = self.result.header.server_version if self.result.header else ""
        self.demux = Demux(entries, version, self.naming)
        self.result.namespaces = self.demux.summaries

    # -- the walk's hooks (_walk.ReadPolicy; §2, §6) -------------------------------------
    def stream_end(self, offset: int) -> None:
        """Nothing yet: ``finish`` reports what the end leaves open, once the size is known."""

    def trailing(self, fr: Framer, start: int) -> None:
        exc = self.demux.trailing(start)
        exc.hint = describe_bytes(fr.peek(64))
        self.error(exc)
        self.skip_to_end(start)

    def terminators(self, fr: Framer, start: int) -> Resume:
        after = fr.offset
        if not skip_terminator_run(fr, self.damage_room(after)):
            raise self.damage_limit(after, fr.offset)
        end = fr.offset
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
        return Resume.HEADER

    def header(self, raw: bytes, start: int) -> tuple[Namespace, bool, int] | None:
        try:
            ns, eof, stored_crc, warnings = decode_namespace_header(raw, start)
        except (HeaderError, NamespaceError) as exc:
            self.error(exc)
            return None
        self.warn(warnings)
        return ns, eof, stored_crc

    def data_after_eof(self, at: int, ns: Namespace) -> Resume:
        self.error(
            NamespaceError(
                "documents follow the namespace's EOF header",
                offset=at,
                namespace=str(ns),
                code="data-after-eof",
            )
        )
        return Resume.HEADER

    def recover(self, exc: MongoArchiveError, start: int, phase: int) -> Resume:
        self.error(exc)
        if exc.code != "bad-gzip" and self.resync(exc.offset if exc.offset is not None else start):
            return Resume.HEADER
        return Resume.STOP

    def run(self, begin: int, end: int) -> None:
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

    def check(self) -> None:
        """Check the whole stream into ``result``."""
        fr = self.fr
        try:
            check_prelude(self)
            for _ in Walk(fr, self).body(False):
                pass
        except Stop:
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
        CheckPolicy(Framer(source), result, max_problems, max_damage).check()
    finally:
        if isinstance(src, (str, os.PathLike)):
            source.close()
    return result

"""Recover everything still intact from a damaged archive into a new, valid archive.

The input is read once, front to back (``_salvage_policy``: the one walk of
``_walk`` under salvage's policy): usable bytes go to a temporary spool in
stream order, damaged bytes are skipped up to the next recognisable item.
Then the stored CRCs decide what is verified and the new archive is written
in the input's block order (``_salvage_out``): an intact input comes out byte
for byte, so salvage never reorders what was sound.

Only documents covered by a matching stored CRC (§4) are *verified*.  The
others -- of a namespace whose CRC does not match, or that was cut short
before its EOF block (there is no stored CRC at all), or found after damage
and claimed by no CRC -- decode but may be altered: they are written only
with ``keep_unverified=True``, and the report counts them per namespace
either way.  ``SalvageReport`` says what was kept, dropped, lost and why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from typing import IO, Any, Literal

from ._framing import Framer
from ._io import open_source
from ._rules import timeseries_data_namespace
from ._salvage_model import NsState, _Log
from ._salvage_out import Emitter, Written, attribute, entry_bytes, header_bytes
from ._salvage_policy import DEFAULT_MAX_DAMAGE, SalvagePolicy
from ._sink import gzip_level as gzip_level_of
from ._sink import open_sink, validate_target
from ._text import plural, printable
from ._writer_checks import (
    COLLECTION_TYPES,
    check_int,
    check_namespace,
    check_type,
    parse_server_version,
)
from .errors import ArchiveIOError, MetadataError, MongoArchiveError, UsageError
from .model import ArchiveHeader, CollectionEntry, Namespace
from .writer import uses_buckets

__all__ = ["DEFAULT_MAX_DAMAGE", "DamagedRange", "NamespaceOutcome", "SalvageReport", "salvage"]

NamespaceStatus = Literal["intact", "crc-mismatch", "truncated", "missing", "dropped"]


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
    verified: bool = False  # its stored CRC matches the documents found for it
    documents_kept: int = 0
    bytes_kept: int = 0
    documents_unverified: int = 0  # of those kept, not covered by a matching stored CRC
    documents_dropped: int = 0  # left out because no stored CRC covers them (no --keep-unverified)
    documents_lost: int = 0  # framed documents dropped because they are not valid BSON
    crc_stored: int | None = None
    crc_read: int | None = None  # CRC-64 of the documents read (before BSON validation)
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "namespace": self.namespace,
            "status": self.status,
            "verified": self.verified,
            "documents_kept": self.documents_kept,
            "bytes_kept": self.bytes_kept,
            "documents_unverified": self.documents_unverified,
            "documents_dropped": self.documents_dropped,
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
    keep_unverified: bool = False
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
            and not any(n.documents_unverified or n.documents_dropped for n in self.namespaces)
            and not self.notes
        )

    def totals(self) -> dict[str, int]:
        return {
            "namespaces": len(self.namespaces),
            "namespaces_intact": sum(n.status == "intact" for n in self.namespaces),
            "documents_kept": sum(n.documents_kept for n in self.namespaces),
            "bytes_kept": sum(n.bytes_kept for n in self.namespaces),
            "documents_unverified": sum(n.documents_unverified for n in self.namespaces),
            "documents_dropped": sum(n.documents_dropped for n in self.namespaces),
            "documents_lost": sum(n.documents_lost for n in self.namespaces)
            + sum(d.documents_lost for d in self.damaged),
            "bytes_skipped": sum(d.end - d.start for d in self.damaged),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "clean": self.clean,
            "keep_unverified": self.keep_unverified,
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
        if t["documents_unverified"]:
            count = t["documents_unverified"]
            them, they = ("it", "it decodes") if count == 1 else ("them", "they decode")
            lines.append(
                f"{plural(count, 'document')} kept as unverified: no matching "
                f"stored CRC covers {them}, {they} but may be altered"
            )
        if t["documents_dropped"]:
            count = t["documents_dropped"]
            them = "it" if count == 1 else "them"
            lines.append(
                f"{plural(count, 'document')} dropped as unverified (no matching "
                f"stored CRC covers {them}): pass --keep-unverified to keep {them}"
            )
        if self.header != "ok":
            lines.append("the archive header was damaged: rebuilt with placeholder values")
        if self.prelude != "ok":
            lines.append(
                "the prelude was damaged: missing entries rebuilt from namespace headers, empty metadata"
            )
        for n in self.namespaces:
            extra = ""
            if n.documents_unverified:
                extra += f", {n.documents_unverified} of them unverified"
            if n.documents_dropped:
                extra += f", {n.documents_dropped} dropped as unverified"
            if n.documents_lost:
                extra += f", {n.documents_lost} lost"
            lines.append(
                f"  {n.status:<12} {n.namespace}: {plural(n.documents_kept, 'document')} kept{extra}"
            )
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


def salvage(
    src: str | os.PathLike[str] | IO[bytes] | Any,
    dst: str | os.PathLike[str] | IO[bytes] | Any,
    *,
    gzip: bool | None = None,
    gzip_level: int | None = None,
    gzip_in: bool | None = None,
    temp_dir: str | None = None,
    keep_missing: bool = True,
    keep_unverified: bool = False,
    max_damage: int = DEFAULT_MAX_DAMAGE,
) -> SalvageReport:
    """Copy everything intact from ``src`` into a new valid archive at ``dst``; return the report.

    ``gzip``: compress the output (None: as the input was); ``gzip_in``: None
    sniffs; ``gzip_level``: 0 (fastest) to 3 (smallest), None for 1.
    ``keep_missing``: declared namespaces with no data found are written as
    empty namespaces (their metadata survives).  ``keep_unverified``:
    also write documents no matching stored CRC covers (counted in the report).
    ``max_damage``: stop reading after this many consecutive bytes without a
    recognisable item (what was recovered is still written).  Raises only
    MongoArchiveError: ArchiveIOError when a file cannot be read or written.
    """
    if max_damage < 0:
        raise UsageError("max_damage must not be negative", hint="give a number of bytes")
    level = gzip_level_of(gzip_level)
    validate_target(dst)  # a bad output path fails before the input is read
    source = open_source(src, gzip=gzip_in)
    out_name = (
        os.fspath(dst) if isinstance(dst, (str, os.PathLike)) else str(getattr(dst, "name", "<stream>"))
    )
    report = SalvageReport(
        input=source.name,
        output="<stdout>" if out_name == "-" else out_name,
        gzip_in=source.gzip,
        keep_unverified=keep_unverified,
    )
    try:
        with contextlib.ExitStack() as stack:
            spool = stack.enter_context(tempfile.TemporaryFile(prefix="mongoarchive-salvage-", dir=temp_dir))
            log = _Log(temp_dir)
            stack.callback(log.close)
            framer = Framer(source)
            scan = SalvagePolicy(framer, spool, log, max_damage, [])
            scan.scan()
            report.size = framer.base + framer.filled
            report.gzip_out = source.gzip if gzip is None else gzip
            _write_output(scan, spool, dst, report, keep_missing, keep_unverified, level)
    except OSError as exc:
        raise ArchiveIOError(f"cannot use a temporary spool file: {exc}") from exc
    finally:
        if isinstance(src, (str, os.PathLike)) or src == "-":
            with contextlib.suppress(MongoArchiveError):
                source.close()
    return report


def _archive_header(scan: SalvagePolicy, report: SalvageReport) -> bytes:
    """The new archive's header: as read, or rebuilt when it was lost or no release could read it.

    A rebuilt header needs a server_version every mongorestore parses and that
    agrees with the timeseries naming found (§5.4, §7): "0.0.0" ("before 8.3":
    data under system.buckets.X), or "8.3.0" when data was found under X itself.
    "unknown" (mongodump's own placeholder) is refused by 100.16+ and the writer.
    A header read with a version 100.16+ cannot parse is kept as it is (100.6.1
    reads it) unless the data has the 8.3 naming, which 100.6.1 refuses.
    """
    series = [(e, scan.states[e.namespace]) for e in scan.entries if e.type == "timeseries"]
    viewless = any(st.seen and st.data_ns == st.ns for _, st in series)
    header = scan.archive_header
    raw = scan.header_raw if header is not None else b""
    if header is not None and raw and not _parses(header.server_version) and viewless:
        header = dataclasses.replace(header, server_version="8.3.0")
        raw = b""
        report.header = "rebuilt"
        report.notes.append(
            "the archive header's server_version cannot be parsed and timeseries data has the "
            "8.3 naming: written as '8.3.0'"
        )
    if not raw:
        header = header or ArchiveHeader(4, "0.1", "8.3.0" if viewless else "0.0.0", "unknown")
        raw = header_bytes(header)
    assert header is not None
    # A timeseries no block names gets its EOF block under the naming the version implies.
    buckets = uses_buckets(header.server_version) or not _parses(header.server_version)
    for entry, st in series:
        if not st.seen:
            st.data_ns = timeseries_data_namespace(entry) if buckets else st.ns
    return raw


def _parses(server_version: str) -> bool:
    try:
        parse_server_version(server_version)
    except UsageError:
        return False
    return True


def _repaired(entry: CollectionEntry) -> tuple[CollectionEntry, str | None]:
    """``entry`` with damage a restore would refuse undone, and a note saying what was changed.

    Damage inside the metadata string (§3.2) leaves empty metadata; an unknown
    ``type`` (a damaged byte in "collection") is left out, as archives before
    2021 have it, so the namespace's documents are still written.
    """
    notes = []
    try:
        entry.parse_metadata()
    except MetadataError as exc:
        entry = dataclasses.replace(entry, metadata="")
        notes.append(f"{exc.message}: written with empty metadata")
    if entry.type is not None and entry.type not in COLLECTION_TYPES:
        notes.append(f"unknown collection type {entry.type!r}: written without a type")
        entry = dataclasses.replace(entry, type=None)
    return entry, "; ".join(notes) if notes else None


def _unwritable(entry: CollectionEntry, st: NsState, claimed: set[Namespace]) -> str | None:
    """Why the writer would refuse ``entry`` (a name no restore can create, §5, §7), or None.

    Salvage copies entries as read, so it asks the writer's own checks: an
    archive it writes is one the writer could have written.
    """
    label = str(entry.namespace)
    try:
        kind = check_type(entry.type, label)
        check_namespace(entry.db, entry.collection, kind, st.data_ns.collection)
        check_int(entry.size, "size", 64, label)
    except UsageError as exc:
        return exc.message
    names = {entry.namespace, st.data_ns}
    if names & claimed:
        return "namespace declared twice"
    claimed.update(names)
    return None


def _status(st: NsState, verified: bool) -> NamespaceStatus:
    if verified:
        return "intact"
    if st.ended:
        return "crc-mismatch"
    return "truncated" if st.seen or st.labelled else "missing"


def _write_output(
    scan: SalvagePolicy,
    spool: IO[bytes],
    dst: Any,
    report: SalvageReport,
    keep_missing: bool,
    keep: bool,
    level: int,
) -> None:
    report.header = "ok" if scan.header_ok and scan.archive_header is not None else "rebuilt"
    report.prelude = "ok" if scan.prelude_ok else "damaged"
    report.notes.extend(scan.notes)
    verified, assigned = attribute(scan)
    header_raw = _archive_header(scan, report)
    # The prelude: entries as read, then entries rebuilt for namespaces found without one.
    plan: list[tuple[NsState, NamespaceOutcome]] = []
    entries: list[bytes] = []
    emit: set[int] = set()
    claimed: set[Namespace] = set()
    unwritable: set[int] = set()  # their documents are lost, whatever their CRC says
    for entry, raw in zip(scan.entries, scan.entry_raw, strict=True):
        st = scan.states[entry.namespace]
        outcome = NamespaceOutcome(
            str(entry.namespace), _status(st, st.index in verified), st.index in verified
        )
        plan.append((st, outcome))
        repaired, note = _repaired(entry)
        refused = _unwritable(repaired, st, claimed)
        if refused is not None:
            outcome.status = "dropped"
            outcome.notes.append(f"cannot be written: {refused}")
            unwritable.add(st.index)
            continue
        if outcome.status == "missing" and not keep_missing:
            outcome.status = "dropped"
            outcome.notes.append("no data found; left out (--drop-missing)")
            continue
        if note is not None:
            fresh = entry_bytes(repaired)
            if fresh is not None:
                outcome.notes.append(note)
                report.prelude = "damaged"
                raw = fresh
        entries.append(raw)
        emit.add(st.index)
    owners = {st.index for st in assigned.values()}
    for st in scan.states.values():
        if st.declared:
            continue
        outcome = NamespaceOutcome(str(st.ns), _status(st, st.index in verified), st.index in verified)
        plan.append((st, outcome))
        why = "its prelude entry was lost" if not scan.prelude_ok else "the prelude does not declare it"
        found = st.index in verified or st.index in owners or (keep and bool(st.docs_def or st.labelled))
        if not found:
            outcome.status = "dropped"
            outcome.notes.append(f"{why}: left out")
            continue
        fresh_entry = CollectionEntry(st.ns.db, st.ns.collection, "", 0, None)
        refused = _unwritable(fresh_entry, st, claimed)
        fresh = entry_bytes(fresh_entry) if refused is None else None
        if fresh is None:
            outcome.status = "dropped"
            outcome.notes.append(f"cannot be written: {refused or 'the collection entry cannot be encoded'}")
            unwritable.add(st.index)
            continue
        outcome.notes.append(f"{why}: written with empty metadata")
        entries.append(fresh)
        emit.add(st.index)
    sink = open_sink(dst, gzip=report.gzip_out, level=level)
    emitter = Emitter(scan, spool, sink, emit, verified, assigned, keep)
    try:
        emitter.write(header_raw, entries)
    except BaseException:
        sink.abort()
        raise
    sink.commit()
    for st, outcome in plan:
        written = emitter.out[st.index]
        if st.index in unwritable:
            written.lost += written.dropped
            written.dropped = 0
        _fill_outcome(outcome, st, written, keep)
        report.namespaces.append(outcome)
    report.damaged.extend(
        DamagedRange(d.start, d.end, d.reason, d.code, d.namespace, d.documents_lost, d.hint)
        for d in scan.damaged
    )
    report.damaged.extend(
        DamagedRange(
            c.start,
            c.end,
            "documents whose namespace header was lost, claimed by no stored CRC",
            "orphan",
            None,
            c.documents,
        )
        for c in scan.candidates
        if c.label is None and c.index not in emitter.owner
    )
    report.damaged.sort(key=lambda d: (d.start, d.end))


def _fill_outcome(outcome: NamespaceOutcome, st: NsState, written: Written, keep: bool) -> None:
    outcome.notes.extend(st.notes)
    if st.damage_count and st.first_damage is not None:
        first, last = st.first_damage
        more = f" ({st.damage_count} damaged ranges in all)" if st.damage_count > 1 else ""
        outcome.notes.append(f"damaged bytes at {first}..{last}{more}")
    outcome.crc_stored = st.stored_crc
    outcome.crc_read = st.crc_all if st.seen or st.labelled else None
    outcome.documents_kept = written.kept
    outcome.bytes_kept = written.bytes
    outcome.documents_unverified = written.unverified
    outcome.documents_dropped = written.dropped
    outcome.documents_lost = written.lost
    if written.attributed:
        outcome.notes.append(
            f"{plural(written.attributed, 'stretch', 'stretches')} of documents found after damage "
            "are attributed by its stored CRC"
        )
    if outcome.documents_dropped and not keep:
        outcome.notes.append(
            f"{plural(outcome.documents_dropped, 'document')} dropped as unverified: "
            "pass --keep-unverified to keep them"
        )
    if outcome.status == "missing":
        outcome.notes.append("no data for this namespace was found: written empty")

"""Pack a ``mongodump --out`` directory (``mongoarchive.layout``) into an archive.

With the pack record ``unpack --pack-record`` leaves (``_packrecord``), the
archive is the one that was unpacked, byte for byte: its header, its prelude
order and entry fields, and its blocks replayed in order.  A record that does
not match the directory's files (a namespace added or removed, a data file of
another size, a prelude.json that says otherwise) is ignored with a warning
(``PackResult.note``) and the directory is packed in sorted order: the
directory is the data, the record only its order.  Without one (a directory of
mongodump's own), it is the one ``mongodump -j 1 --archive`` writes for the
same data: one writer, namespaces in byte order of (database, collection)
with the oplog last, each namespace's documents in file order, handed over in
pieces of at most 16 MiB (spec/archive.md §9).  The prelude lists the
namespaces in that order too: mongodump's own prelude order comes from a Go
map and cannot be recovered from a directory.  Reading the directory is
``_outdir``'s.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from . import __version__, layout
from . import open as open_archive
from ._outdir import DirectoryEntry, Documents, data_bytes, read_all, read_runs, record_mismatch, scan
from ._packrecord import RECORD_FILE, PackRecord, load_record
from ._sink import gzip_level as gzip_level_of
from .errors import MetadataError, UsageError
from .model import Namespace

__all__ = ["MAX_OPEN_FILES", "DirectoryEntry", "PackResult", "pack", "scan"]

#: Data files open at once while a record is replayed; more interleaved namespaces reopen theirs.
MAX_OPEN_FILES = 32


@dataclasses.dataclass(slots=True)
class PackResult:
    """What ``pack`` wrote."""

    output: str
    server_version: str
    tool_version: str
    namespaces: list[tuple[Namespace, int, int]]  # (namespace, documents, bytes)
    ignored: list[str]
    #: "record" (the pack record's order and blocks) or "sorted"; why a record was not used.
    order: str = "sorted"
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "output": self.output,
            "server_version": self.server_version,
            "tool_version": self.tool_version,
            "order": self.order,
            "note": self.note,
            "namespaces": [
                {"db": ns.db, "collection": ns.collection, "documents": n, "bytes": b}
                for ns, n, b in self.namespaces
            ],
            "ignored": self.ignored,
        }


def _match_record(
    record: PackRecord, entries: list[DirectoryEntry], prelude: dict[str, str] | None
) -> list[DirectoryEntry] | str:
    """The directory's entries in the record's prelude order, or why the record does not match."""
    h = record.header
    if prelude is not None and (prelude.get("ServerVersion"), prelude.get("ToolVersion")) != (
        h.server_version,
        h.tool_version,
    ):
        return "prelude.json names another server or tool version"
    by_ns = {e.namespace: e for e in entries}
    by_stem = {(e.db, e.stem): e for e in entries}
    ordered: list[DirectoryEntry] = []
    taken: set[int] = set()
    for r in record.entries:
        found = by_ns.get(r.namespace) or by_stem.get((r.db, layout.escape_collection(r.collection)))
        if found is None or id(found) in taken:
            return f"it lists {str(r.namespace)!r}, which the directory does not hold"
        if (r.type == "timeseries") != (found.type == "timeseries"):
            return f"{str(r.namespace)!r} is a timeseries collection in one and not in the other"
        taken.add(id(found))
        ordered.append(found)
    extra = [e for e in entries if id(e) not in taken]
    if extra:
        return f"the directory holds {str(extra[0].namespace)!r}, which it does not list"
    counts = [0] * len(ordered)
    ended = [False] * len(ordered)
    for i, n in record.blocks:
        if ended[i]:
            return f"its blocks continue {str(record.entries[i].namespace)!r} after its EOF block"
        if n is None:
            ended[i] = True
        else:
            counts[i] += n
    for r, e, count, end in zip(record.entries, ordered, counts, ended, strict=True):
        if not end or count != r.documents:
            return f"its blocks for {str(r.namespace)!r} do not add up"
        if (e.data is None and count) or data_bytes(e.data) != r.bytes:
            return f"the data file of {str(r.namespace)!r} is not the size it records"
    return ordered


def _load(
    root: Path, entries: list[DirectoryEntry], prelude: dict[str, str] | None
) -> tuple[tuple[PackRecord, list[DirectoryEntry]] | None, str | None]:
    """The usable pack record of ``root`` with its entries in order, or None and why not."""
    path = root / RECORD_FILE
    if not path.is_file():
        return None, None
    try:
        record = load_record(read_all(path), str(path))
    except MetadataError as exc:
        return None, f"{RECORD_FILE} ignored, packed in sorted order: {exc.message}"
    ordered = _match_record(record, entries, prelude)
    if isinstance(ordered, str):
        return None, f"{RECORD_FILE} ignored, packed in sorted order: {ordered}"
    return (record, ordered), None


def pack(
    directory: str | os.PathLike[str],
    dst: Any,
    *,
    server_version: str | None = None,
    tool_version: str | None = None,
    concurrent_collections: int | None = None,
    gzip: bool = False,
    use_record: bool = True,
    gzip_level: int | None = None,
) -> PackResult:
    """Write the archive of --out directory ``directory`` to ``dst`` (path, file object or "-").

    With a pack record that matches the directory (and ``use_record``), the
    archive is the one unpacked, byte for byte; a record that does not match
    is ignored and said so in ``PackResult.note``.  ``server_version``,
    ``tool_version`` and ``concurrent_collections`` (mongodump's ``-j``)
    override the record's header; without a record they default to the
    directory's prelude.json (mongodump 100.18 writes one), and 4.
    ``gzip_level``: 0 (fastest) to 3 (smallest), None for 1.
    """
    gzip_level_of(gzip_level)  # a bad level fails before the directory is read
    entries, prelude, ignored = scan(directory)
    found, note = _load(Path(directory), entries, prelude) if use_record else (None, None)
    head = found[0].header if found is not None else None
    server = server_version or (head.server_version if head else (prelude or {}).get("ServerVersion"))
    if not server:
        raise UsageError(
            f"{directory} has no prelude.json to take the server version from",
            hint="pass --server-version X.Y.Z (the version of the dumped server)",
        )
    tool = (
        tool_version
        or (head.tool_version if head else (prelude or {}).get("ToolVersion"))
        or f"mongoarchive {__version__}"
    )
    jobs = (
        concurrent_collections
        if concurrent_collections is not None
        else (head.concurrent_collections if head else 4)
    )
    counts: list[tuple[Namespace, int, int]] = []
    with open_archive(
        dst,
        "w",
        server_version=server,
        tool_version=tool,
        concurrent_collections=jobs,
        gzip=gzip,
        gzip_level=gzip_level,
    ) as writer:
        if found is None:
            _write_sorted(writer, entries, counts)
        else:
            _replay(writer, *found, counts)
    name = dst if isinstance(dst, str) else str(getattr(dst, "name", "<stream>"))
    return PackResult(name, server, tool, counts, ignored, "sorted" if found is None else "record", note)


def _write_sorted(
    writer: Any, entries: list[DirectoryEntry], counts: list[tuple[Namespace, int, int]]
) -> None:
    """One namespace after another, in scan order (§9: one writer)."""
    ns_writers = [writer.add_collection(e.db, e.collection, e.metadata, type=e.type, size=0) for e in entries]
    writer.write_prelude()
    for entry, ns_writer in zip(entries, ns_writers, strict=True):
        docs = 0
        if entry.data is not None:
            for run in read_runs(entry.data, str(entry.namespace)):
                docs += ns_writer.write_batch(run)
        ns_writer.close()
        counts.append((entry.namespace, docs, ns_writer.bytes))


def _replay(
    writer: Any,
    record: PackRecord,
    entries: list[DirectoryEntry],
    counts: list[tuple[Namespace, int, int]],
) -> None:
    """The record's prelude entries and blocks, with the documents of the directory's files."""
    ns_writers = [
        writer.add_collection(e.db, e.collection, e.metadata, type=r.type, size=r.size)
        for r, e in zip(record.entries, entries, strict=True)
    ]
    writer.write_prelude()
    files = [Documents(e.data, str(e.namespace)) if e.data is not None else None for e in entries]
    live: OrderedDict[int, Documents] = OrderedDict()  # files read last, at most MAX_OPEN_FILES open
    try:
        for i, n in record.blocks:
            ns_writer, docs = ns_writers[i], files[i]
            if docs is not None:
                live[i] = docs
                live.move_to_end(i)
                if len(live) > MAX_OPEN_FILES:
                    _, oldest = live.popitem(last=False)
                    oldest.suspend()
            if n is None:
                if docs is not None and not docs.at_end():
                    raise record_mismatch(docs.path, docs.ns, "it holds more documents than the record says")
                ns_writer.close(empty_block=False)
                if docs is not None:
                    docs.close()
                    live.pop(i, None)
                continue
            if n and docs is not None:
                for run in docs.runs(n):
                    ns_writer.write_batch(run)
            ns_writer.flush()  # §9: a new block wherever the unpacked archive had one
    finally:
        for docs in files:
            if docs is not None:
                docs.close()
    counts.extend((e.namespace, w.documents, w.bytes) for e, w in zip(entries, ns_writers, strict=True))

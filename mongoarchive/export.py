"""Export an archive's documents to Parquet, Arrow IPC, JSON lines or CSV, one output per namespace.

The archive is read once, front to back (spec/archive.md §2); each selected
namespace's documents are buffered into row groups of bounded size and
written as they fill, so memory stays bounded however large the archive is
and however its blocks interleave.  Every output is written under a partial
name (``.NAME.mongoarchive-partial.PID.XXXXXXXX``, as ``_sink`` does) and
renamed to its final name only once the namespace's EOF block has been read
and its CRC matched (§4).  If the archive turns out damaged, the outputs of
namespaces already verified stay, every other partial output is removed, and
``_manifest.json`` says ``"complete": false`` and which namespaces are
missing; the error is raised after the manifest is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from . import __version__, layout
from . import open as open_archive
from ._export_out import LocalOutput, RemoteOutput, remote_exists, upload_text
from ._export_writers import SUFFIX, Format, _ArrowWriter, _JsonLinesWriter, _TextWriter, _Writer
from ._remote import is_url, join, redact, validate_url
from ._sink import partial_name
from .errors import ArchiveIOError, MongoArchiveError, NamespaceError, UsageError
from .model import Document, Namespace, NamespaceEnd, Segment
from .nsfilter import NamespaceFilter

__all__ = ["MANIFEST", "ExportResult", "NamespaceExport", "export"]

FORMATS: tuple[Format, ...] = ("parquet", "arrow", "jsonl", "csv")
_SUFFIX = SUFFIX
MANIFEST = "_manifest.json"

#: Default bound of one row group: BSON bytes buffered per namespace before it is written.
ROW_GROUP_BYTES = 16 * 1024 * 1024
#: Default bound of every namespace's buffers together; the largest is written first.
BUFFER_BYTES = 64 * 1024 * 1024


@dataclasses.dataclass(slots=True)
class NamespaceExport:
    """One namespace of the export, as the manifest lists it."""

    ns: Namespace
    type: str | None
    path: str | None  # relative to the output directory; None for a view
    documents: int = 0  # rows written (after --query)
    documents_read: int = 0
    bytes: int = 0
    crc: str = "unfinished"
    complete: bool = False
    extra_rows: int = 0  # rows with fields kept in _extra (Arrow formats)

    def to_dict(self) -> dict[str, object]:
        return {
            "db": self.ns.db,
            "collection": self.ns.collection,
            "type": self.type,
            "path": self.path,
            "documents": self.documents,
            "documents_read": self.documents_read,
            "bytes": self.bytes,
            "crc": self.crc,
            "complete": self.complete,
            "extra_rows": self.extra_rows,
        }


@dataclasses.dataclass(slots=True)
class ExportResult:
    """What ``export`` wrote; ``complete`` is False when the archive was damaged."""

    directory: str
    format: str
    source: str
    complete: bool
    namespaces: list[NamespaceExport]
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "tool": f"mongoarchive {__version__}",
            "directory": self.directory,
            "format": self.format,
            "source": self.source,
            "complete": self.complete,
            "error": self.error,
            "namespaces": [n.to_dict() for n in self.namespaces],
        }


def _relative_path(ns: Namespace, fmt: Format, folder: bool) -> str:
    """Where ``ns`` goes: ``DB/ESCAPED.EXT`` with unpack's escaping (mongoarchive.layout)."""
    suffix = _SUFFIX[fmt]
    if ns == layout.OPLOG:
        return "oplog" + suffix
    if ns.db == "" or ns.collection == "":
        raise NamespaceError(
            "an empty database or collection name has no file name",
            namespace=str(ns),
            code="unsafe-name",
            hint="rename it first (mongoarchive filter --nsFrom/--nsTo)",
        )
    layout._check_db(ns.db, str(ns), None)
    return f"{ns.db}/{layout.escape_collection(ns.collection)}{suffix}"


def _write_manifest(root: Path, result: ExportResult) -> None:
    target = root / MANIFEST
    tmp = Path(partial_name(str(target)))
    tmp.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def export(
    src: Any,
    directory: str | os.PathLike[str],
    *,
    format: Format = "parquet",  # noqa: A002 - the CLI's --format
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    query: Callable[[bytes], bool] | None = None,
    schema: Mapping[str, Mapping[str, Any]] | None = None,
    fields: list[str] | None = None,
    json_mode: Literal["relaxed", "canonical"] = "relaxed",
    row_group_bytes: int = ROW_GROUP_BYTES,
    buffer_bytes: int = BUFFER_BYTES,
    rows_per_file: int = 0,
    force: bool = False,
    jobs: int = 1,
) -> ExportResult:
    """Export archive ``src`` (path, binary file object or "-") into ``directory``.

    One output per selected namespace (a folder of parts for Parquet and Arrow
    when ``rows_per_file`` is set), and ``_manifest.json``.  ``query`` is a
    predicate on BSON bytes (``mongoarchive.query.compile_query``); ``schema``
    maps "db.collection" to its columns (docs/export.md); ``fields`` are the
    CSV columns (required for CSV, as mongoexport requires them).  Raises
    MongoArchiveError subclasses only; on a damaged archive the manifest is
    written first (``complete: false``), then the error is raised.  ``jobs``:
    processes converting Parquet and Arrow row groups (``_export_pool``; 1,
    the default, converts in this process: docs/export.md says why).
    """
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r}", hint=f"use one of {', '.join(FORMATS)}")
    if format == "csv" and not fields:
        raise UsageError(
            "CSV export needs --fields", hint="name the columns, e.g. --fields _id,name,address.city"
        )
    if rows_per_file < 0 or row_group_bytes <= 0:
        raise UsageError("row group and file sizes must be positive")
    if jobs <= 0:
        raise UsageError(f"--jobs must be positive, not {jobs}")
    columns: dict[str, Any] = {}
    if format in ("parquet", "arrow"):
        from ._arrow import import_arrow, parse_schema

        import_arrow()  # the extra's error now, before anything is read
        for ns, spec in (schema or {}).items():
            columns[ns] = parse_schema(spec)
    line = _line_function(format, fields)
    remote = is_url(str(directory))
    root: Any
    if remote:
        root = str(directory)
        if rows_per_file:
            raise UsageError(
                "--rows-per-file writes folders of parts: not to object storage",
                hint="export to a local directory, or leave --rows-per-file out",
            )
        manifest_url = join(root, MANIFEST)
        validate_url(manifest_url)  # the extra, the URL's form and the bucket, before reading
        if remote_exists(manifest_url) and not force:
            raise UsageError(
                f"{redact(root)} already holds an export ({MANIFEST})", hint="pass --force to replace it"
            )
    else:
        root = Path(directory)
        if root.exists() and not root.is_dir():
            raise ArchiveIOError(f"{root} exists and is not a directory")
        if (root / MANIFEST).exists() and not force:
            raise UsageError(
                f"{root} already holds an export ({MANIFEST})", hint="pass --force to replace it"
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveIOError(f"cannot create {root}: {exc.strerror or exc}") from exc
    selected = NamespaceFilter(include, exclude)
    folder = bool(rows_per_file) and format in ("parquet", "arrow")
    pool: Any = None
    with open_archive(src) as archive, contextlib.ExitStack() as stack:
        if format in ("parquet", "arrow") and jobs > 1:
            from ._export_pool import ConvertPool

            pool = ConvertPool(jobs, in_flight=jobs)
            stack.callback(pool.close)  # the workers exit before export returns or raises
        items: dict[Namespace, NamespaceExport] = {}
        writers: dict[Namespace, _Writer] = {}
        source = str(getattr(archive, "name", src))
        result = ExportResult(redact(root) if remote else str(root), format, source, False, [])
        paths: dict[str, Namespace] = {}

        def start(ns: Namespace) -> _Writer | None:
            entry = archive.entry_for(ns)
            if not (selected(ns) or selected(entry.namespace)):
                return None
            kind = layout._kind(entry)
            item = NamespaceExport(ns, kind, None)
            items[ns] = item
            result.namespaces.append(item)
            if kind == "view":
                return None  # §5.3: a view has no documents of its own
            rel = _relative_path(ns, format, folder)
            if rel in paths:
                raise NamespaceError(
                    f"the file {rel!r} would hold both {str(paths[rel])!r} and {str(ns)!r}",
                    namespace=str(ns),
                    code="name-collision",
                    hint="rename one of them first (mongoarchive filter --nsFrom/--nsTo)",
                )
            paths[rel] = ns
            item.path = rel
            out = RemoteOutput(root, rel) if remote else LocalOutput(root, rel, folder)
            writer: _Writer
            if format == "jsonl":
                writer = _JsonLinesWriter(out, item, "canonical" if json_mode == "canonical" else "relaxed")
            elif line is not None:
                writer = _TextWriter(out, item, line, _csv_head(fields or []))
            else:
                writer = _ArrowWriter(
                    out, item, format, columns.get(str(ns)), row_group_bytes, rows_per_file, pool
                )
            writers[ns] = writer
            return writer

        active: dict[Namespace, _Writer | None] = {}
        # Parquet, Arrow and JSON lines without --query take runs of documents, not one event a
        # document: their converters read them back to back, so no Python runs per document (§2).
        by_runs = format != "csv" and query is None
        events: Iterator[Any] = archive._body(True, runs=True) if by_runs else archive.events()
        next_offset = 0  # archive offset of the next run of the current block
        try:
            for event in events:
                kind = type(event)
                if kind is tuple:  # (namespace, memoryview, count): a run of documents
                    run_ns, piece, run_count = event  # type: tuple[Namespace, memoryview, int]
                    writer = active[run_ns]
                    if writer is not None:
                        writer.item.documents_read += run_count
                        writer.item.documents += run_count
                        writer.item.bytes += len(piece)
                        writer.add(piece, next_offset)
                        if sum(w.buffered for w in writers.values()) > buffer_bytes:
                            max(writers.values(), key=lambda w: w.buffered).flush()
                    next_offset += len(piece)
                elif kind is Document:
                    assert isinstance(event, Document)
                    writer = active[event.ns]
                    if writer is None:
                        continue
                    writer.item.documents_read += 1
                    writer.item.bytes += len(event.raw)
                    if query is not None and not query(event.raw):
                        continue
                    writer.item.documents += 1
                    writer.add(event.raw, event.offset)
                    if writer.buffered and sum(w.buffered for w in writers.values()) > buffer_bytes:
                        max(writers.values(), key=lambda w: w.buffered).flush()
                elif kind is Segment:
                    assert isinstance(event, Segment)
                    next_offset = event.offset + len(archive._last_header)
                    if event.ns not in active:
                        active[event.ns] = start(event.ns)
                elif kind is NamespaceEnd:
                    assert isinstance(event, NamespaceEnd)
                    if event.ns not in active:  # an EOF block alone (§5.5)
                        active[event.ns] = start(event.ns)
                    ns_item = items.get(event.ns)
                    if ns_item is not None:
                        ns_item.crc = "ok"  # the reader raised ChecksumError otherwise
                    done = writers.pop(event.ns, None)
                    if done is not None and ns_item is not None:
                        if pool is not None:  # published once its last row group is written
                            done.flush()
                            pool.finish_later(done, functools.partial(_finish, done, ns_item, force))
                        else:
                            _finish(done, ns_item, force)
                    elif ns_item is not None:
                        ns_item.complete = True
            if pool is not None:
                pool.settle()
        except BaseException as exc:
            if pool is not None:
                # Namespaces verified before the error are still published; Ctrl-C waits for none.
                for writer in pool.rescue(keep=not isinstance(exc, KeyboardInterrupt)):
                    writer.abort()
            for writer in writers.values():
                writer.abort()
            for name, item in items.items():
                summary = archive.namespaces.get(name)
                if summary is not None and not item.complete:
                    item.crc = summary.crc
            # In object storage a manifest means a complete export: none after an error.
            if isinstance(exc, MongoArchiveError) and not isinstance(exc, UsageError) and not remote:
                result.error = str(exc)
                _write_manifest(root, result)
            if isinstance(exc, OSError):
                shown_root = redact(root) if remote else root
                raise ArchiveIOError(f"cannot write into {shown_root}: {exc.strerror or exc}") from exc
            raise
        result.complete = True
        text = json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
        if remote:
            upload_text(join(root, MANIFEST), text)  # last: its presence says the export is whole
        else:
            _write_manifest(root, result)
        return result


def _finish(writer: _Writer, item: NamespaceExport, force: bool) -> None:
    """Close a verified namespace's output and move it into place (§4); remove it if that fails."""
    try:
        writer.close()  # its last row group may still hold a document that is not valid BSON
        writer.out.publish(force)
    except BaseException:
        writer.abort()  # it has left the writers the error path aborts
        raise
    item.complete = True


def _line_function(fmt: Format, fields: list[str] | None) -> Callable[[bytes], str] | None:
    """mongoexport's CSV row of one document, for ``--format csv``; None for the other formats."""
    if fmt == "csv":
        from ._csv import row_function

        return row_function(fields or [])
    return None


def _csv_head(fields: list[str]) -> str:
    from ._csv import header

    return header(fields)

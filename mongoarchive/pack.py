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
map and cannot be recovered from a directory.  Files are read
whole-document by whole-document, so memory stays bounded; gzip files are
recognised by their first bytes, whatever their name (mongodump gzips
``oplog.bson`` without ``.gz``).
"""

from __future__ import annotations

import dataclasses
import gzip as gzip_module
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bson import json_util

from . import __version__, layout
from . import open as open_archive
from ._packrecord import RECORD_FILE, PackRecord, load_record
from .errors import ArchiveIOError, DocumentError, MetadataError, NamespaceError, UsageError
from .model import MAX_BSON_SIZE, Namespace

__all__ = ["DirectoryEntry", "PackResult", "pack", "scan"]

_CHUNK = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_int32 = struct.Struct("<i").unpack_from


@dataclasses.dataclass(slots=True)
class DirectoryEntry:
    """One namespace found in the directory: its prelude fields and its data file (or None)."""

    db: str
    collection: str
    metadata: str
    type: str
    data: Path | None
    metadata_file: Path | None
    #: The file-name stem this namespace was found under (its metadata file's, else its data file's).
    stem: str = ""

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.db, self.collection)


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


def _open(path: Path) -> IO[bytes] | gzip_module.GzipFile:
    """``path`` for reading, inflated if it starts like gzip."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            return raw
        raw.close()
        return gzip_module.open(path, "rb")
    except OSError as exc:
        raise ArchiveIOError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_all(path: Path) -> bytes:
    handle = _open(path)
    try:
        return handle.read()
    except (OSError, EOFError, gzip_module.BadGzipFile) as exc:
        raise ArchiveIOError(f"cannot read {path}: {exc}") from exc
    finally:
        handle.close()


class _Documents:
    """The whole BSON documents of one ``.bson`` file, handed out in runs of at most about 1 MiB.

    DocumentError (with the byte offset in the file) for a length that is not a
    document's or a file that ends inside a document.  Opened at the first read.
    """

    def __init__(self, path: Path, ns: str) -> None:
        self.path = path
        self.ns = ns
        self._handle: IO[bytes] | gzip_module.GzipFile | None = None
        self._buf = b""
        self._pos = 0
        self._offset = 0  # file offset of _buf[0]
        self._eof = False

    def _fill(self) -> bool:
        """Read more; False at the end of the file (an error if it ends inside a document)."""
        if self._eof:
            return False
        if self._handle is None:
            self._handle = _open(self.path)
        try:
            chunk = self._handle.read(_CHUNK)
        except (OSError, EOFError, gzip_module.BadGzipFile) as exc:
            raise ArchiveIOError(f"cannot read {self.path}: {exc}", namespace=self.ns) from exc
        self._offset += self._pos
        self._buf = self._buf[self._pos :] + chunk if self._pos < len(self._buf) else chunk
        self._pos = 0
        if chunk:
            return True
        self._eof = True
        self.close()
        if self._buf:
            raise DocumentError(
                f"{self.path} ends inside a document ({len(self._buf)} bytes left over)",
                offset=self._offset,
                namespace=self.ns,
                code="bad-bson-file",
                hint="the file was cut short; the documents before this offset are intact",
            )
        return False

    def runs(self, limit: int | None = None) -> Iterator[bytes]:
        """Runs of whole documents, ``limit`` documents in all (None: to the end of the file).

        A file with fewer than ``limit`` documents left is a MetadataError
        (``bad-pack-record``): the record says more than the file holds.
        """
        left = -1 if limit is None else limit
        while left:
            buf, start = self._buf, self._pos
            pos, end = start, len(buf)
            while left and end - pos >= 4:
                size = _int32(buf, pos)[0]
                if size < 5 or size > MAX_BSON_SIZE:
                    raise DocumentError(
                        f"{self.path} holds a document length of {size} bytes",
                        offset=self._offset + pos,
                        namespace=self.ns,
                        code="bad-bson-file",
                        hint="a .bson file is BSON documents back to back; this one is damaged",
                    )
                if pos + size > end:
                    break
                if buf[pos + size - 1] != 0:
                    raise DocumentError(
                        f"{self.path} holds a document that does not end with NUL",
                        offset=self._offset + pos,
                        namespace=self.ns,
                        code="bad-bson-file",
                    )
                pos += size
                left -= 1
            if pos > start:
                self._pos = pos
                yield buf[start:pos] if (start, pos) != (0, end) else buf
            if left and not self._fill():
                if limit is None:
                    return
                raise _record_mismatch(
                    self.path,
                    self.ns,
                    f"a block of the record needs {limit} documents, the file had {limit - left}",
                )

    def at_end(self) -> bool:
        """True if no document is left (reads ahead as needed)."""
        return self._pos >= len(self._buf) and not self._fill()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _record_mismatch(path: Path, ns: str, what: str) -> MetadataError:
    return MetadataError(
        f"{path} does not match the pack record: {what}",
        namespace=ns,
        code="bad-pack-record",
        hint=f"the directory changed after unpack; remove {RECORD_FILE} to pack in sorted order",
    )


def read_runs(path: Path, ns: str) -> Iterator[bytes]:
    """Whole BSON documents of a ``.bson`` file, back to back, in pieces of about 1 MiB (``_Documents``)."""
    docs = _Documents(path, ns)
    try:
        yield from docs.runs()
    finally:
        docs.close()


def _strip(name: str, suffix: str) -> str | None:
    for gz in (".gz", ""):
        if name.endswith(suffix + gz):
            return name[: -len(suffix + gz)]
    return None


def _load_metadata(path: Path, ns: str) -> tuple[str, dict[str, Any]]:
    text = _read_all(path).decode("utf-8", "surrogateescape")
    try:
        value = json_util.loads(text)
    except Exception as exc:  # json_util raises ValueError, TypeError, bson errors...
        raise MetadataError(f"{path} is not valid Extended JSON: {exc}", namespace=ns) from exc
    if not isinstance(value, dict):
        raise MetadataError(f"{path} is not a JSON object", namespace=ns)
    return text, value


def _entry_type(meta: dict[str, Any]) -> str:
    kind = meta.get("type")
    if isinstance(kind, str):
        return kind
    options = meta.get("options") or {}
    if "viewOn" in options:
        return "view"
    if "timeseries" in options:
        return "timeseries"
    return "collection"


def scan(directory: str | os.PathLike[str]) -> tuple[list[DirectoryEntry], dict[str, str] | None, list[str]]:
    """The namespaces of a --out directory in pack order, its prelude.json (or None), ignored files."""
    root = Path(directory)
    if not root.is_dir():
        raise ArchiveIOError(f"{root} is not a directory")
    entries: list[DirectoryEntry] = []
    ignored: list[str] = []
    prelude: dict[str, str] | None = None
    oplog: DirectoryEntry | None = None
    for item in sorted(root.iterdir()):
        if item.is_dir():
            entries.extend(_scan_db(item, ignored))
        elif _strip(item.name, ".json") == "prelude":
            try:
                value = json.loads(_read_all(item))
            except ValueError as exc:
                raise MetadataError(f"{item} is not valid JSON: {exc}") from exc
            if not isinstance(value, dict):
                raise MetadataError(f"{item} is not a JSON object")
            prelude = {k: v for k, v in value.items() if isinstance(v, str)}
        elif _strip(item.name, ".bson") == "oplog":
            oplog = DirectoryEntry("", "oplog", "", "", item, None, "oplog")
        elif item.name == RECORD_FILE:
            continue  # read by pack itself
        else:
            ignored.append(item.name)
    entries.sort(
        key=lambda e: (
            e.db.encode("utf-8", "surrogateescape"),
            e.collection.encode("utf-8", "surrogateescape"),
        )
    )
    if oplog is not None:
        entries.append(oplog)  # mongodump dumps the oplog last (§5.1)
    return entries, prelude, ignored


def _scan_db(folder: Path, ignored: list[str]) -> list[DirectoryEntry]:
    db = folder.name
    data: dict[str, Path] = {}
    metas: dict[str, Path] = {}
    for item in sorted(folder.iterdir()):
        meta_stem = _strip(item.name, ".metadata.json")
        bson_stem = _strip(item.name, ".bson")
        if item.is_file() and meta_stem is not None:
            metas[meta_stem] = item
        elif item.is_file() and bson_stem is not None:
            data[bson_stem] = item
        else:
            ignored.append(f"{db}/{item.name}")
    found: dict[str, DirectoryEntry] = {}

    def add(entry: DirectoryEntry, where: Path) -> None:
        if entry.collection in found:
            raise NamespaceError(
                f"{where} and {found[entry.collection].data or found[entry.collection].metadata_file} "
                "both stand for this collection",
                namespace=str(entry.namespace),
                code="name-collision",
                hint="remove one of the two files",
            )
        found[entry.collection] = entry

    for stem, meta_path in metas.items():
        name = layout.unescape_collection(stem)
        text, meta = _load_metadata(meta_path, f"{db}.{name}")
        full = meta.get("collectionName")
        if isinstance(full, str) and full:
            name = full  # the only record of a name cut to 238 bytes
        kind = _entry_type(meta)
        data_stem = stem
        if kind == "timeseries":
            # §5.4: the data of X is in system.buckets.X, which is not a namespace of its own.
            data_stem = layout.escape_collection("system.buckets." + name)
        path = data.pop(data_stem, None)
        if kind == "view" and path is not None:
            kind = "collection"  # --viewsAsCollections dumps a view's documents as a collection
        add(DirectoryEntry(db, name, text, kind, path, meta_path, stem), meta_path)
    for stem, path in data.items():
        name = stem if stem in layout.USERS_ROLES else layout.unescape_collection(stem)
        kind = "" if name in layout.USERS_ROLES else "collection"
        add(DirectoryEntry(db, name, "", kind, path, None, stem), path)
    return list(found.values())


def _data_bytes(path: Path | None) -> int:
    """The documents' bytes in a data file (inflated for gzip)."""
    if path is None:
        return 0
    handle = _open(path)
    try:
        if isinstance(handle, gzip_module.GzipFile):
            total = 0
            while chunk := handle.read(_CHUNK):
                total += len(chunk)
            return total
        return os.fstat(handle.fileno()).st_size
    except (OSError, EOFError, gzip_module.BadGzipFile) as exc:
        raise ArchiveIOError(f"cannot read {path}: {exc}") from exc
    finally:
        handle.close()


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
        if (e.data is None and count) or _data_bytes(e.data) != r.bytes:
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
        record = load_record(_read_all(path), str(path))
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
) -> PackResult:
    """Write the archive of --out directory ``directory`` to ``dst`` (path, file object or "-").

    With a pack record that matches the directory (and ``use_record``), the
    archive is the one unpacked, byte for byte; a record that does not match
    is ignored and said so in ``PackResult.note``.  ``server_version``,
    ``tool_version`` and ``concurrent_collections`` (mongodump's ``-j``)
    override the record's header; without a record they default to the
    directory's prelude.json (mongodump 100.18 writes one), and 4.
    """
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
        dst, "w", server_version=server, tool_version=tool, concurrent_collections=jobs, gzip=gzip
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
    files = [_Documents(e.data, str(e.namespace)) if e.data is not None else None for e in entries]
    try:
        for i, n in record.blocks:
            ns_writer, docs = ns_writers[i], files[i]
            if n is None:
                if docs is not None and not docs.at_end():
                    raise _record_mismatch(docs.path, docs.ns, "it holds more documents than the record says")
                ns_writer.close(empty_block=False)
                if docs is not None:
                    docs.close()
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

"""Pack a ``mongodump --out`` directory (``mongoarchive.layout``) into an archive.

With the pack record ``unpack`` leaves (``_packrecord``), the archive is the
one that was unpacked, byte for byte: its header, its prelude order and
entry fields, and its blocks replayed in order.  Without one (a directory of
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
from ._packrecord import RECORD_FILE
from ._sink import gzip_level as gzip_level_of
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


def read_runs(path: Path, ns: str) -> Iterator[bytes]:
    """Whole BSON documents of a ``.bson`` file, back to back, in pieces of about 1 MiB.

    DocumentError (with the byte offset in the file) for a length that is not a
    document's or a file that ends inside a document.
    """
    handle = _open(path)
    try:
        pending = b""
        offset = 0  # file offset of pending[0]
        while True:
            try:
                chunk = handle.read(_CHUNK)
            except (OSError, EOFError, gzip_module.BadGzipFile) as exc:
                raise ArchiveIOError(f"cannot read {path}: {exc}", namespace=ns) from exc
            buf = pending + chunk if pending else chunk
            pos = 0
            while len(buf) - pos >= 4:
                size = _int32(buf, pos)[0]
                if size < 5 or size > MAX_BSON_SIZE:
                    raise DocumentError(
                        f"{path} holds a document length of {size} bytes",
                        offset=offset + pos,
                        namespace=ns,
                        code="bad-bson-file",
                        hint="a .bson file is BSON documents back to back; this one is damaged",
                    )
                if pos + size > len(buf):
                    break
                if buf[pos + size - 1] != 0:
                    raise DocumentError(
                        f"{path} holds a document that does not end with NUL",
                        offset=offset + pos,
                        namespace=ns,
                        code="bad-bson-file",
                    )
                pos += size
            if pos:
                yield buf[:pos]
            pending = buf[pos:]
            offset += pos
            if not chunk:
                if pending:
                    raise DocumentError(
                        f"{path} ends inside a document ({len(pending)} bytes left over)",
                        offset=offset,
                        namespace=ns,
                        code="bad-bson-file",
                        hint="the file was cut short; the documents before this offset are intact",
                    )
                return
    finally:
        handle.close()


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
            oplog = DirectoryEntry("", "oplog", "", "", item, None)
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
        add(DirectoryEntry(db, name, text, kind, path, meta_path), meta_path)
    for stem, path in data.items():
        name = stem if stem in layout.USERS_ROLES else layout.unescape_collection(stem)
        kind = "" if name in layout.USERS_ROLES else "collection"
        add(DirectoryEntry(db, name, "", kind, path, None), path)
    return list(found.values())


def pack(
    directory: str | os.PathLike[str],
    dst: Any,
    *,
    server_version: str | None = None,
    tool_version: str | None = None,
    concurrent_collections: int = 4,
    gzip: bool = False,
    gzip_level: int | None = None,
) -> PackResult:
    """Write the archive of --out directory ``directory`` to ``dst`` (path, file object or "-").

    ``server_version`` and ``tool_version`` default to the directory's
    prelude.json (mongodump 100.18 writes one); ``concurrent_collections`` is
    mongodump's ``-j`` (default 4), which a directory does not record.
    ``gzip_level``: 0 (fastest) to 3 (smallest), None for 1.
    """
    gzip_level_of(gzip_level)  # a bad level fails before the directory is read
    entries, prelude, ignored = scan(directory)
    server = server_version or (prelude or {}).get("ServerVersion")
    if not server:
        raise UsageError(
            f"{directory} has no prelude.json to take the server version from",
            hint="pass --server-version X.Y.Z (the version of the dumped server)",
        )
    tool = tool_version or (prelude or {}).get("ToolVersion") or f"mongoarchive {__version__}"
    counts: list[tuple[Namespace, int, int]] = []
    with open_archive(
        dst,
        "w",
        server_version=server,
        tool_version=tool,
        concurrent_collections=concurrent_collections,
        gzip=gzip,
        gzip_level=gzip_level,
    ) as writer:
        ns_writers = [
            writer.add_collection(e.db, e.collection, e.metadata, type=e.type, size=0) for e in entries
        ]
        writer.write_prelude()
        for entry, ns_writer in zip(entries, ns_writers, strict=True):
            docs = 0
            if entry.data is not None:
                for run in read_runs(entry.data, str(entry.namespace)):
                    docs += ns_writer.write_batch(run)
            ns_writer.close()
            counts.append((entry.namespace, docs, ns_writer.bytes))
    name = dst if isinstance(dst, str) else str(getattr(dst, "name", "<stream>"))
    return PackResult(name, server, tool, counts, ignored)

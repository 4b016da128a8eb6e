"""Reading a ``mongodump --out`` directory (``mongoarchive.layout``) for ``pack``.

``scan`` finds its namespaces, their metadata and data files; ``Documents``
hands out a data file's whole BSON documents in bounded runs.  Files are
read whole-document by whole-document, so memory stays bounded; gzip files
are recognised by their first bytes, whatever their name (mongodump gzips
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

from . import layout
from ._packrecord import RECORD_FILE
from .errors import ArchiveIOError, DocumentError, MetadataError, NamespaceError
from .model import MAX_BSON_SIZE, Namespace

__all__ = ["DirectoryEntry", "Documents", "data_bytes", "read_all", "read_runs", "record_mismatch", "scan"]

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


def read_all(path: Path) -> bytes:
    handle = _open(path)
    try:
        return handle.read()
    except (OSError, EOFError, gzip_module.BadGzipFile) as exc:
        raise ArchiveIOError(f"cannot read {path}: {exc}") from exc
    finally:
        handle.close()


class Documents:
    """The whole BSON documents of one ``.bson`` file, handed out in runs of at most about 1 MiB.

    DocumentError (with the byte offset in the file) for a length that is not a
    document's or a file that ends inside a document.  Opened at the first read;
    ``suspend`` closes it and drops its read-ahead, and the next read reopens it
    where it was (so that many interleaved namespaces need few open files).
    """

    def __init__(self, path: Path, ns: str) -> None:
        self.path = path
        self.ns = ns
        self._handle: IO[bytes] | gzip_module.GzipFile | None = None
        self._buf = b""
        self._pos = 0
        self._offset = 0  # file offset of _buf[0]
        self._eof = False

    @property
    def is_open(self) -> bool:
        return self._handle is not None

    def suspend(self) -> None:
        """Close the file and forget what was read ahead; reading goes on where it stopped."""
        self.close()
        self._offset += self._pos
        self._buf, self._pos = b"", 0

    def _fill(self) -> bool:
        """Read more; False at the end of the file (an error if it ends inside a document)."""
        if self._eof:
            return False
        try:
            if self._handle is None:
                self._handle = _open(self.path)
                if self._offset + len(self._buf):
                    self._handle.seek(self._offset + len(self._buf))  # reopened after suspend()
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
                raise record_mismatch(
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


def record_mismatch(path: Path, ns: str, what: str) -> MetadataError:
    return MetadataError(
        f"{path} does not match the pack record: {what}",
        namespace=ns,
        code="bad-pack-record",
        hint=f"the directory changed after unpack; remove {RECORD_FILE} to pack in sorted order",
    )


def read_runs(path: Path, ns: str) -> Iterator[bytes]:
    """Whole BSON documents of a ``.bson`` file, back to back, in pieces of about 1 MiB (``Documents``)."""
    docs = Documents(path, ns)
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
    text = read_all(path).decode("utf-8", "surrogateescape")
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
                value = json.loads(read_all(item))
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


def data_bytes(path: Path | None) -> int:
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

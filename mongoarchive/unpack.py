"""Unpack an archive into the ``mongodump --out`` directory layout (``mongoarchive.layout``).

The archive is read once, front to back; documents are appended to their
namespace's file as they come, so memory stays bounded however the blocks
interleave (spec/archive.md §2).  Everything is written under a staging
directory inside the target and moved into place only after the whole
archive was read and every CRC checked (§4): a damaged archive leaves the
target as it was.  Every path is planned from the prelude before the first
byte is written, and a name that could leave the directory is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

from isal import igzip

from . import layout
from . import open as open_archive
from ._packrecord import RECORD_FILE, PackRecord, RecordEntry
from ._remote import is_url
from ._sink import gzip_level as gzip_level_of
from .errors import ArchiveIOError, MongoArchiveError, NamespaceError, UsageError
from .model import Namespace, NamespaceEnd, NamespaceSummary, Segment

__all__ = ["UnpackResult", "unpack"]

#: Files kept open at once; more interleaved namespaces reopen theirs to append.
MAX_OPEN_FILES = 32
_STAGING_PREFIX = ".mongoarchive-unpack-"


@dataclasses.dataclass(slots=True)
class UnpackResult:
    """What ``unpack`` wrote: paths relative to ``directory``, and what each namespace held."""

    directory: str
    files: list[str]
    namespaces: dict[Namespace, NamespaceSummary]

    def to_dict(self) -> dict[str, object]:
        return {
            "directory": self.directory,
            "files": self.files,
            "namespaces": [s.to_dict() for s in self.namespaces.values()],
        }


class _Out(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


def _open_file(path: Path, level: int | None, append: bool) -> _Out:
    """``path`` opened for writing, gzipped at ``level`` (None: plain)."""
    # O_NOFOLLOW: the staging directory is ours, but never write through a link.
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_APPEND if append else os.O_EXCL)
    fd = os.open(path, flags, 0o644)
    raw = os.fdopen(fd, "wb")
    if level is None:
        return raw
    # No file name and mtime 0 in the gzip header, as Go's compress/gzip writes it.
    gz: Any = igzip.IGzipFile(filename="", fileobj=raw, mode="wb", compresslevel=level, mtime=0)  # type: ignore[no-untyped-call]
    return _Closing(gz, raw)


class _Closing:
    """A gzip writer that also closes the file under it."""

    def __init__(self, gz: Any, raw: _Out) -> None:
        self._gz = gz
        self._raw = raw

    def write(self, data: bytes) -> int:
        return int(self._gz.write(data))

    def close(self) -> None:
        try:
            self._gz.close()
        finally:
            self._raw.close()


def _refuse_links(target: Path, rel: str) -> None:
    """ArchiveIOError if an existing component of ``target/rel`` is a symbolic link."""
    here = target
    for part in Path(rel).parts:
        here = here / part
        if here.is_symlink():
            raise ArchiveIOError(
                f"{here} is a symbolic link; unpack never writes through links",
                hint="remove the link or unpack into another directory",
            )
        if not here.exists():
            return


class _Files:
    """Open data files, at most MAX_OPEN_FILES at once (least recently used closed first)."""

    def __init__(self, root: Path, level: int | None) -> None:
        self.root = root
        self.level = level
        self.open: OrderedDict[str, _Out] = OrderedDict()
        self.created: set[str] = set()

    def get(self, rel: str) -> _Out:
        handle = self.open.get(rel)
        if handle is not None:
            self.open.move_to_end(rel)
            return handle
        if len(self.open) >= MAX_OPEN_FILES:
            _, oldest = self.open.popitem(last=False)
            oldest.close()
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # Reopened gzip files get another member: still one valid gzip stream.
        handle = _open_file(path, self.level, append=rel in self.created)
        self.created.add(rel)
        self.open[rel] = handle
        return handle

    def close(self, rel: str) -> None:
        handle = self.open.pop(rel, None)
        if handle is not None:
            handle.close()

    def close_all(self) -> None:
        while self.open:
            _, handle = self.open.popitem()
            with contextlib.suppress(OSError):
                handle.close()


def _write_whole(root: Path, rel: str, data: bytes, level: int | None) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _open_file(path, level, append=False)
    try:
        handle.write(data)
    finally:
        handle.close()


def unpack(
    src: Any,
    directory: str | os.PathLike[str],
    *,
    gzip: bool = False,
    gzip_level: int | None = None,
    force: bool = False,
    prelude_json: bool = True,
    pack_record: bool = False,
) -> UnpackResult:
    """Unpack archive ``src`` (path or binary file object) into ``directory``.

    ``gzip`` compresses every file as ``mongodump --gzip`` does, at
    ``gzip_level`` 0 (fastest) to 3 (smallest), None for 1; ``force``
    replaces files that exist; ``prelude_json=False`` leaves out prelude.json,
    which releases before 100.18 do not write; ``pack_record=False`` leaves
    out the pack record (``.mongoarchive-pack.json``, what ``pack`` needs to
    write the archive back byte for byte) and removes one an earlier unpack
    left in ``directory``.  Raises MongoArchiveError
    subclasses only; on error the directory is left as it was.
    """
    checked = gzip_level_of(gzip_level)  # a bad level fails even without gzip
    level = checked if gzip else None
    if is_url(str(directory)):  # a bucket prefix: written locally, then uploaded (_dir_upload)
        from ._dir_upload import via_staging

        def local(folder: str) -> UnpackResult:
            return unpack(
                src,
                folder,
                gzip=gzip,
                gzip_level=gzip_level,
                prelude_json=prelude_json,
                pack_record=pack_record,
            )

        marks = ("prelude.json", "prelude.json.gz", RECORD_FILE)  # a finished directory's files: last
        return via_staging(str(directory), local, last=marks, force=force)
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise ArchiveIOError(f"{target} exists and is not a directory")
    with open_archive(src) as archive:
        files = layout.plan(
            archive.collections,
            gzip=gzip,
            with_prelude=prelude_json,
            record=RECORD_FILE if pack_record else None,
        )
        planned = files.paths()
        for rel in planned:
            _refuse_links(target, rel)
        existing = [rel for rel in planned if os.path.lexists(target / rel)]
        if existing and not force:
            raise UsageError(
                f"{target / existing[0]} exists ({len(existing)} of the files to write exist)",
                hint="pass --force to replace them, or unpack into an empty directory",
            )
        made_target = not target.exists()
        try:
            target.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=target))
        except OSError as exc:
            raise ArchiveIOError(f"cannot create {target}: {exc.strerror or exc}") from exc
        data = _Files(staging, level)
        try:
            _unpack_body(archive, files, staging, data, level)
            data.close_all()
            _move_into_place(staging, target, planned)
            if files.record is None:
                # A record of an earlier unpack no longer describes the directory.
                (target / RECORD_FILE).unlink(missing_ok=True)
        except BaseException as exc:
            data.close_all()
            shutil.rmtree(staging, ignore_errors=True)
            if made_target:
                with contextlib.suppress(OSError):
                    target.rmdir()
            if isinstance(exc, OSError):
                raise ArchiveIOError(f"cannot write into {target}: {exc}") from exc
            raise
        shutil.rmtree(staging, ignore_errors=True)
        return UnpackResult(str(target), planned, dict(archive.namespaces))


def _unpack_body(archive: Any, files: layout.FileSet, root: Path, data: _Files, level: int | None) -> None:
    header = archive.header
    if files.prelude is not None:
        text = layout.prelude_json(header.server_version, header.tool_version)
        _write_whole(root, files.prelude, text, level)
    for item in files.namespaces:
        if item.metadata is not None:
            _write_whole(root, item.metadata, item.entry.metadata.encode("utf-8", "surrogateescape"), level)
    current: str | None = None
    handle: _Out | None = None
    block_at = 0  # offset of the current block's namespace header
    index = {item.entry.namespace: i for i, item in enumerate(files.namespaces)}
    blocks: list[tuple[int, int | None]] = []  # for the pack record
    documents = 0  # of the current block
    # Runs of one block's documents, as the reader checked them: one write per run.
    for item in archive._body(True, runs=True):
        if type(item) is tuple:
            documents += item[2]
            if handle is None:
                raise NamespaceError(
                    "a block of documents for a view, which has no data file in the directory layout",
                    offset=block_at,
                    namespace=str(item[0]),
                    code="view-with-data",
                    hint="mongodump never writes them; read them with mongoarchive cat",
                )
            handle.write(item[1])
        elif isinstance(item, Segment):
            if blocks and blocks[-1][1] is not None:
                blocks[-1] = (blocks[-1][0], documents)
            block_at = item.offset
            entry = files.by_ns[item.ns]  # the reader refuses undeclared namespaces (§6)
            blocks.append((index[entry.entry.namespace], 0))
            documents = 0
            current = entry.data
            handle = data.get(current) if current is not None else None
        elif isinstance(item, NamespaceEnd):
            if blocks and blocks[-1][1] is not None:
                blocks[-1] = (blocks[-1][0], documents)
            documents = 0
            entry = files.by_ns[item.ns]
            blocks.append((index[entry.entry.namespace], None))
            if entry.data is not None:
                data.get(entry.data)  # an EOF block alone still makes an empty file (§5.5)
                data.close(entry.data)
            current, handle = None, None
    # A reopened file may have been closed above; the handle must not outlive this loop.
    del current, handle
    if files.record is not None:
        _write_whole(root, files.record, _record(archive, files, blocks).to_json(), False)


def _record(archive: Any, files: layout.FileSet, blocks: list[tuple[int, int | None]]) -> PackRecord:
    """What pack needs beyond the files to write ``archive`` again (``_packrecord``)."""
    entries = []
    for item in files.namespaces:
        e = item.entry
        summary = archive.namespaces.get(item.data_ns) or archive.namespaces.get(e.namespace)
        documents, size = (summary.documents, summary.bytes) if summary is not None else (0, 0)
        entries.append(RecordEntry(e.db, e.collection, e.type, e.size, documents, size))
    return PackRecord(archive.header, entries, blocks)


def _move_into_place(staging: Path, target: Path, planned: list[str]) -> None:
    for rel in planned:
        src = staging / rel
        if not src.exists():
            # Only data files are created lazily, and every namespace ends with its EOF (§6).
            raise MongoArchiveError(f"internal: {rel} was not written")
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        _refuse_links(target, rel)
        if dst.is_dir() and not dst.is_symlink():
            raise ArchiveIOError(f"{dst} is a directory", hint="remove it or unpack elsewhere")
        os.replace(src, dst)

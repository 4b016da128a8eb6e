"""Merge archives into one, and split one into several, through the rewrite pipeline.

``merge`` writes one prelude listing every input's namespaces (in input
order), then each input's body in turn, block for block (spec/archive.md
§2): documents and CRCs are copied, so every namespace keeps its CRC.
``split`` writes one archive per database or per namespace, each with the
input's header, its own prelude entries and its namespaces' blocks; blocks
that become neighbours are merged as mongodump's multiplexer would (§9).  It
also separates archives that were concatenated into one stream (``cat a b``):
after the first archive's last EOF block, another magic number starts the
next one.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ._remote import is_url
from ._rewrite_io import MAGIC, TERMINATOR, _Blocks, _Tap, open_input, prelude_bytes, read_ahead
from ._rewrite_plan import OPLOG, _entry_bytes, _Plan, _plans
from ._sink import AtomicSink, open_sink
from ._sink import gzip_level as gzip_level_of
from .errors import ArchiveIOError, NamespaceError, TrailingDataError, UsageError
from .layout import escape_collection
from .model import Namespace
from .nsfilter import NamespaceFilter
from .nsrename import Renamer
from .rewrite import _body

__all__ = ["MergeResult", "SplitResult", "merge", "split"]

SplitBy = Literal["archive", "database", "namespace"]
_MAX_STEM = 200


@dataclasses.dataclass(slots=True)
class MergeResult:
    """Per output namespace: (input number, input namespace, output namespace, documents, CRC)."""

    output: str
    namespaces: list[tuple[int, Namespace, Namespace, int, int]]

    def to_dict(self) -> dict[str, object]:
        return {
            "output": self.output,
            "namespaces": [
                {"input": i, "from": str(a), "to": str(b), "documents": n, "crc": crc}
                for i, a, b, n, crc in self.namespaces
            ],
        }


def _never(ns: Namespace) -> bool:
    return False


def merge(
    sources: Sequence[Any],
    dst: Any,
    *,
    renames: Mapping[int, Sequence[tuple[str, str]]] | None = None,
    gzip: bool | None = None,
    gzip_level: int | None = None,
) -> MergeResult:
    """Merge archives ``sources`` into ``dst``; ``renames`` maps an input's index (0-based) to its
    ``--nsFrom``/``--nsTo`` pairs.

    A namespace found in two inputs (after renaming) is a NamespaceError before
    anything is written; so are inputs of different server versions (the
    timeseries naming and mongorestore's checks depend on it, §5.4).  The
    header is the first input's, with ``concurrent_collections`` the largest.
    ``gzip``: None compresses as the first input is; ``gzip_level`` 0 to 3 (None: 1).
    """
    level = gzip_level_of(gzip_level)
    if not sources:
        raise UsageError("merge needs at least one input archive")
    if sum(1 for s in sources if s == "-") > 1:
        raise UsageError("standard input can be only one of the inputs")
    opened: list[tuple[_Tap, Any]] = []
    try:
        for src in sources:
            opened.append(open_input(src))
        first = opened[0][1].header
        for i, (_, archive) in enumerate(opened):
            if archive.header.server_version != first.server_version:
                raise NamespaceError(
                    f"input {i + 1} was dumped from server {archive.header.server_version!r}, "
                    f"input 1 from {first.server_version!r}",
                    offset=0,
                    code="server-version-mismatch",
                    hint="merge only archives of one server version (timeseries naming depends on it)",
                )
        outputs: dict[Namespace, str] = {}
        plans: list[tuple[dict[Namespace, _Plan | None], list[_Plan]]] = []
        for i, (tap, archive) in enumerate(opened):
            renamer = Renamer((renames or {}).get(i, ()))
            by_data, kept, _ = _plans(
                archive,
                tap,
                NamespaceFilter(),
                renamer,
                None,
                _never,
                True,
                outputs,
                origin=f"input {i + 1}: ",
            )
            plans.append((by_data, kept))
        sink = open_sink(dst, gzip=opened[0][1].gzip if gzip is None else gzip, level=level)
        try:
            blocks = _Blocks(sink)
            jobs = max(a.header.concurrent_collections for _, a in opened)
            header = _header_with_jobs(opened[0][0], jobs)
            every = [plan for _, kept in plans for plan in kept]
            for plan in every:
                plan.sink = blocks
            # Each entry is copied from its own input's bytes (§3.2).
            parts = [MAGIC, header]
            for (tap, _), (_, kept) in zip(opened, plans, strict=True):
                parts.extend(_entry_bytes(plan, tap) for plan in kept)
            parts.append(TERMINATOR)
            sink.write(b"".join(parts))
            for (_tap, archive), (by_data, _) in zip(opened, plans, strict=True):
                _body(archive, by_data, None, None, _never)
            sink.commit()
        except BaseException:
            sink.abort()
            raise
    finally:
        for _, archive in opened:
            with contextlib.suppress(Exception):
                archive.close()
    name = dst if isinstance(dst, str) else str(getattr(dst, "name", "<stream>"))
    rows = [
        (i, p.entry.namespace, p.out, p.documents, p.crc) for i, (_, kept) in enumerate(plans) for p in kept
    ]
    return MergeResult(name, rows)


def _header_with_jobs(tap: _Tap, jobs: int) -> bytes:
    import bson
    from bson.son import SON

    raw = tap.take(4)
    doc = bson.decode(raw, bson.CodecOptions(document_class=SON))
    if doc.get("concurrent_collections") == jobs:
        return raw  # keep the bytes as they were
    doc["concurrent_collections"] = jobs
    return bson.encode(doc)


# -- split -----------------------------------------------------------------------------
@dataclasses.dataclass(slots=True)
class SplitResult:
    """The archives written: file name (relative to the directory) -> namespaces in it."""

    directory: str
    archives: dict[str, list[Namespace]]
    inputs: int  # archives found in the input stream

    def to_dict(self) -> dict[str, object]:
        return {
            "directory": self.directory,
            "inputs": self.inputs,
            "archives": {k: [str(ns) for ns in v] for k, v in self.archives.items()},
        }


def _file_name(ns: Namespace, by: SplitBy, part: int) -> str:
    if by == "archive":
        return f"{part}.archive"
    prefix = f"{part}." if part > 1 else ""
    if ns == OPLOG:
        stem = "oplog"
    elif by == "database":
        stem = escape_collection(ns.db)
    else:
        stem = f"{escape_collection(ns.db)}.{escape_collection(ns.collection)}"
    if stem.startswith("."):
        stem = "%2E" + stem[1:]  # never a hidden file, never "." or ".."
    if len(stem) > _MAX_STEM:
        # Room for the writer's temporary name too; the hash keeps long names apart.
        digest = hashlib.sha1(f"{ns.db}\x00{ns.collection}".encode("utf-8", "surrogateescape")).digest()
        stem = stem[:160] + "%24" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return f"{prefix}{stem}.archive"


class _Outputs:
    """The archives being written, by file name; committed or aborted together."""

    def __init__(self, root: Path, force: bool, gzip: bool | None, level: int) -> None:
        self.root = root
        self.force = force
        self.gzip = gzip
        self.level = level
        self.sinks: dict[str, tuple[AtomicSink, _Blocks]] = {}
        self.names: dict[str, list[Namespace]] = {}

    def get(self, name: str, input_gzip: bool) -> _Blocks:
        if name in self.sinks:
            return self.sinks[name][1]
        path = self.root / name
        if (os.path.lexists(path) or name in self.names) and not self.force:
            raise UsageError(
                f"{path} exists", hint="use --force to overwrite it, or split into an empty directory"
            )
        sink = open_sink(path, gzip=input_gzip if self.gzip is None else self.gzip, level=self.level)
        blocks = _Blocks(sink)
        self.sinks[name] = (sink, blocks)
        return blocks

    def commit(self) -> None:
        for sink, _ in self.sinks.values():
            sink.commit()
        self.sinks.clear()

    def abort(self) -> None:
        for sink, _ in self.sinks.values():
            sink.abort()
        self.sinks.clear()


def split(
    src: Any,
    directory: str | os.PathLike[str],
    *,
    by: SplitBy = "database",
    force: bool = False,
    gzip: bool | None = None,
    gzip_level: int | None = None,
) -> SplitResult:
    """Split archive ``src`` into one archive per database, per namespace, or per archive found.

    Files are ``<db>.archive`` or ``<db>.<collection>.archive`` (names escaped
    as mongodump escapes collection names; the oplog is ``oplog.archive``), and
    ``N.archive`` with ``by="archive"``.  The second and later archives of a
    concatenated stream prefix their files with ``N.``.  Nothing is kept
    unless the whole input was read and checked.  ``gzip``: None compresses
    each output as its input; ``gzip_level`` 0 to 3 (None: 1).
    """
    level = gzip_level_of(gzip_level)
    if is_url(str(directory)):  # a bucket prefix: written locally, then uploaded (_dir_upload)
        from ._dir_upload import via_staging

        def local(folder: str) -> SplitResult:
            return split(src, folder, by=by, gzip=gzip, gzip_level=gzip_level)

        return via_staging(str(directory), local, force=force)
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveIOError(f"cannot create {root}: {exc.strerror or exc}") from exc
    outputs = _Outputs(root, force, gzip, level)
    part = 0
    stream: Any = src
    try:
        while stream is not None:
            part += 1
            stream, gzip = _split_one(stream, part, by, outputs, gzip)
        written = dict(outputs.names)
        outputs.commit()
    except BaseException:
        outputs.abort()
        raise
    return SplitResult(str(root), written, part)


def _split_one(src: Any, part: int, by: SplitBy, outputs: _Outputs, gzip: bool | None) -> tuple[Any, bool]:
    """Split one archive of the stream; returns (a stream of what follows it or None, its gzip)."""
    tap, archive = open_input(src)
    input_gzip = archive.gzip if gzip is None else gzip
    by_data, kept, _ = _plans(archive, tap, NamespaceFilter(), Renamer(()), None, _never, True, {})
    members: dict[str, list[_Plan]] = {}
    for plan in kept:
        members.setdefault(_file_name(plan.out, by, part), []).append(plan)
    if by == "archive" and not kept:
        members[_file_name(OPLOG, by, part)] = []
    for name, plans in members.items():
        owners = {p.out.db for p in plans} if by == "database" else {p.out for p in plans}
        if by != "archive" and len(owners) > 1:
            raise NamespaceError(
                f"{len(owners)} {'databases' if by == 'database' else 'namespaces'} would go to {name!r}",
                offset=plans[1].entry.offset,
                namespace=str(plans[1].out),
                code="name-collision",
                hint="split by namespace, or rename one of them first (mongoarchive filter --nsFrom/--nsTo)",
            )
        blocks = outputs.get(name, input_gzip)
        blocks.sink.write(prelude_bytes(tap, plans))
        for plan in plans:
            plan.sink = blocks
        outputs.names[name] = [p.out for p in plans]
    try:
        _body(archive, by_data, None, None, _never)
    except TrailingDataError as exc:
        at = exc.offset
        if at is None or read_ahead(archive, at)[:4] != MAGIC:
            raise
        # Another archive follows (``cat a b``): go on from its magic number.
        return _Rest(tap, read_ahead(archive, at)), input_gzip
    archive.close()
    return None, input_gzip


class _Rest:
    """The rest of a stream: the bytes read ahead past an archive's end, then its source."""

    def __init__(self, tap: _Tap, head: bytes) -> None:
        self._head = head
        self._tap = tap
        self.name = tap.name

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._tap.read_rest(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._tap.read_rest(n)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._tap.close()

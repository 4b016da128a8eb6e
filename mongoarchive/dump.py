"""Dump a live MongoDB deployment into an archive, as ``mongodump --archive`` does.

The steps are mongodump's (mongo-tools ``mongodump/mongodump.go`` Dump(),
spec/archive.md §1, §5, §9): connect and read the server version, refusing one
mongorestore cannot parse (§3.1); build the intents from listCollections
(``_dump_intents``); write the whole prelude before any data (§3.2); dump
users, roles and version; with ``oplog=True`` note the oplog's newest
timestamp; dump the collections with ``parallel`` worker threads, largest
first (``_dump_copy``); finally copy the oplog entries written meanwhile
(``_dump_oplog``, §5.1).

Every failure becomes a :class:`DumpError`; the archive is then aborted, so a
path target is not left behind looking complete (§9).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from bson import json_util
from bson.timestamp import Timestamp

from . import __version__
from . import open as open_archive
from ._connect import ConnectionOptions
from ._dump_copy import Copier, NamespaceStats, ProgressCallback
from ._dump_intents import Intent, plan_intents
from ._dump_metadata import metadata_json
from ._dump_oplog import check_oplog, oplog_collection, oplog_edge, oplog_start, validate_entry
from ._dump_server import Server, connect, parse_server_version
from ._sink import gzip_level as gzip_level_of
from ._sink import validate_target
from .errors import (
    AuthenticationError,
    DumpError,
    OplogOverflowError,
    ServerConnectionError,
    UsageError,
)
from .nsfilter import NamespaceFilter
from .writer import ArchiveWriter, uses_buckets

__all__ = [
    "AuthenticationError",
    "DumpError",
    "DumpOptions",
    "DumpResult",
    "Intent",
    "NamespaceStats",
    "OplogOverflowError",
    "ProgressCallback",
    "ServerConnectionError",
    "dump",
    "iter_stats",
    "metadata_json",
]


@dataclasses.dataclass
class DumpOptions(ConnectionOptions):
    """What to dump and how; the fields mirror mongodump's flags (the connection's: ConnectionOptions)."""

    read_preference: str | None = None
    db: str | None = None
    collection: str | None = None
    #: A filter: Extended JSON text or a mapping (needs ``collection``).
    query: str | Mapping[str, Any] | None = None
    query_file: str | None = None
    exclude_collections: Sequence[str] = ()
    exclude_collections_with_prefix: Sequence[str] = ()
    ns_include: Sequence[str] = ()
    ns_exclude: Sequence[str] = ()
    views_as_collections: bool = False
    dump_db_users_and_roles: bool = False
    oplog: bool = False
    parallel: int = 4
    gzip: bool = False
    #: 0 (fastest) to 3 (smallest); None is the default, 1 (docs/dump.md).
    gzip_level: int | None = None
    tool_version: str = f"mongoarchive {__version__}"


@dataclasses.dataclass
class DumpResult:
    """The outcome of :func:`dump`."""

    server_version: str
    namespaces: list[NamespaceStats]
    oplog_start: Timestamp | None = None
    oplog_end: Timestamp | None = None

    @property
    def documents(self) -> int:
        return sum(n.documents for n in self.namespaces)

    @property
    def bytes(self) -> int:
        return sum(n.bytes for n in self.namespaces)


def _parse_query(options: DumpOptions) -> dict[str, Any] | None:
    text: str | None
    if options.query is not None and options.query_file is not None:
        raise UsageError("either --query or --queryFile, not both")
    if options.query_file is not None:
        try:
            with open(options.query_file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read --queryFile {options.query_file}: {exc.strerror or exc}") from exc
    elif isinstance(options.query, Mapping):
        return dict(options.query)
    else:
        text = options.query
    if text is None:
        return None
    try:
        parsed = json_util.loads(text)
    except Exception as exc:
        raise UsageError(f"the query is not valid Extended JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise UsageError("the query must be a JSON object")
    return parsed


def _validate(options: DumpOptions) -> None:
    """mongodump's option checks (mongodump.go ValidateOptions)."""
    o = options
    checks = [
        (o.collection and not o.db, "cannot dump a collection without a specified database (--db)"),
        ((o.query is not None or o.query_file) and not o.collection, "--query/--queryFile need --collection"),
        (o.dump_db_users_and_roles and not o.db, "--dumpDbUsersAndRoles needs --db"),
        (
            o.dump_db_users_and_roles and o.collection,
            "--dumpDbUsersAndRoles cannot be used with --collection",
        ),
        (
            bool(o.collection and o.collection.startswith("system.buckets.")),
            "cannot specify a system.buckets collection in --collection; "
            "name the timeseries collection to dump its buckets",
        ),
        (o.oplog and o.db, "--oplog is only supported on full dumps (no --db)"),
        (
            (o.exclude_collections or o.exclude_collections_with_prefix) and o.collection,
            "--collection cannot be used with --excludeCollection/--excludeCollectionsWithPrefix",
        ),
        (
            (o.exclude_collections or o.exclude_collections_with_prefix) and not o.db,
            "--excludeCollection/--excludeCollectionsWithPrefix need --db",
        ),
        (o.parallel <= 0, "numParallelCollections must be positive"),
    ]
    for failed, message in checks:
        if failed:
            raise UsageError(message)
    gzip_level_of(o.gzip_level)  # UsageError for a level isal does not have


def _archive_target(
    archive: str | os.PathLike[str] | IO[bytes], gzip: bool
) -> str | os.PathLike[str] | IO[bytes]:
    """A directory as --archive means DIR/archive (.gz), as in mongodump."""
    if isinstance(archive, (str, os.PathLike)) and os.fspath(archive) != "-" and os.path.isdir(archive):
        return os.path.join(os.fspath(archive), "archive.gz" if gzip else "archive")
    return archive


def dump(
    archive: str | os.PathLike[str] | IO[bytes],
    options: DumpOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    **fields: Any,
) -> DumpResult:
    """Dump a deployment into ``archive`` (a path, a binary file, or "-" for stdout).

    ``options`` (or keyword fields of :class:`DumpOptions`) choose the server and
    the namespaces.  ``progress(namespace, documents, bytes, estimate, done)`` is
    called from the worker threads.  Raises :class:`DumpError` (or another
    MongoArchiveError) on failure; a path target is then not left behind.
    """
    if options is None:
        options = DumpOptions(**fields)
    elif fields:
        options = dataclasses.replace(options, **fields)
    _validate(options)
    query = _parse_query(options)
    # A bad output path fails here, before the server is contacted.
    validate_target(_archive_target(archive, options.gzip))
    server = Server(connect(options))
    try:
        return _run(server, options, query, progress, archive)
    finally:
        server.client.close()


def _run(
    server: Server,
    o: DumpOptions,
    query: dict[str, Any] | None,
    progress: ProgressCallback | None,
    archive: str | os.PathLike[str] | IO[bytes],
) -> DumpResult:
    server.ping()
    server_version = server.server_version()  # refused before anything is written (§3.1)
    version = parse_server_version(server_version)
    copier = Copier(server, progress, raw_data=version is not None and version >= (8, 3, 0))
    intents = plan_intents(
        server,
        o,
        query=query,
        server_version=server_version,
        buckets=uses_buckets(server_version),
        selected=NamespaceFilter(o.ns_include, o.ns_exclude),
    )
    oplog_coll = ""
    if o.oplog:
        oplog_coll = oplog_collection(server)
        intents.oplog = Intent("", "oplog", "", source=("local", oplog_coll), special="oplog")

    writer: ArchiveWriter = open_archive(
        _archive_target(archive, o.gzip),
        "w",
        server_version=server_version,
        tool_version=o.tool_version,
        concurrent_collections=o.parallel,
        gzip=o.gzip,
        gzip_level=o.gzip_level,
    )
    result = DumpResult(server_version, copier.stats)
    with writer:
        # The whole prelude first, in mongodump's order (§3.2, §5).
        outs = {
            id(i): writer.add_collection(i.db, i.collection, i.metadata, i.type) for i in intents.prelude()
        }
        writer.write_prelude()  # out before any data, even before a slow first read
        for intent in intents.auth:
            copier.copy(intent, outs[id(intent)])
        start: Timestamp | None = None
        if intents.oplog is not None:
            start = oplog_start(server, oplog_coll)
            result.oplog_start = start
        copier.run_workers([(i, outs[id(i)]) for i in intents.regular], o.parallel)
        if intents.oplog is not None and start is not None:
            end = oplog_edge(server, oplog_coll, -1)
            if end is None:
                raise OplogOverflowError("oplog overflow: the oplog is empty after the dump")
            result.oplog_end = end
            check_oplog(server, oplog_coll, start)
            intents.oplog.filter = {"ts": {"$gte": start, "$lte": end}}
            copier.copy(intents.oplog, outs[id(intents.oplog)], validate_entry)
            # Check again: the oldest entry may have rolled over while we copied.
            check_oplog(server, oplog_coll, start)
    return result


def iter_stats(result: DumpResult) -> Iterable[NamespaceStats]:
    """The per-namespace figures sorted by namespace."""
    return sorted(result.namespaces, key=lambda s: s.namespace)

"""Restore an archive into a live MongoDB, as ``mongorestore --archive`` does, never half a collection.

The steps (mongo-tools ``mongorestore/restore.go``; spec/archive.md §3, §6):
read the prelude and plan every entry (``_restore_plan``); connect and read
the target's version; then ``_restore_run`` creates each collection with its
options, streams the body once, sending each namespace's documents as raw
batches (``_restore_write``), and at each namespace's EOF block, whose CRC-64
the reader has just checked (§4), builds the indexes and commits; then it
creates the views, merges users and roles and replays the oplog.

With ``atomic`` (the default) documents go into a staging collection that
replaces the target only at its EOF (``_restore_stage``): a damaged or cut
archive, a failed insert or index build, or a lost connection leaves every
uncommitted target as it was.  Timeseries collections, whose buckets cannot be
renamed on mongod, are spooled to a temporary file until their EOF instead.
``dry_run`` reads and checks the whole body without a server.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from ._dump_server import parse_server_version
from ._restore_model import (
    Archive,
    NamespaceOutcome,
    ProgressCallback,
    RestoreOptions,
    RestoreResult,
    oplog_limit,
    validate,
    write_concern,
)
from ._restore_plan import Plan, build_plan, selection_patterns
from ._restore_run import Run, outcomes_of, result_of
from ._restore_server import command, connect, convert_error
from ._restore_stage import cleanup
from .errors import MongoArchiveError, RestoreError
from .nsfilter import NamespaceFilter
from .nsrename import Renamer
from .reader import ArchiveReader
from .writer import uses_buckets

__all__ = [
    "NamespaceOutcome",
    "RestoreError",
    "RestoreOptions",
    "RestoreResult",
    "cleanup_staging",
    "restore",
]


def restore(
    archive: Archive,
    options: RestoreOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    **fields: Any,
) -> RestoreResult:
    """Restore ``archive`` (a path, a binary file, or "-" for stdin) into the server of ``options``.

    Returns a RestoreResult that records every failure (``result.ok``);
    raises UsageError for bad options, and ArchiveError, MetadataError or
    RestoreError when nothing could start (bad prelude, unreachable server).
    """
    if options is None:
        options = RestoreOptions(**fields)
    elif fields:
        options = dataclasses.replace(options, **fields)
    o = validate(options)
    limit = oplog_limit(o.oplog_limit)
    concern = write_concern(o.write_concern, o.uri)
    select = NamespaceFilter(selection_patterns(o.db, o.collection, o.ns_include), o.ns_exclude)
    rename = Renamer(zip(o.ns_from, o.ns_to, strict=True))
    from ._io import open_source

    started = time.monotonic()
    reader = ArchiveReader(open_source(archive, gzip=o.gzip))
    with reader:
        if o.dry_run:
            plan = _plan(reader, o, select, rename, uses_buckets(reader.header.server_version))
            result = _dry_run(reader, plan)
        else:
            client = connect(o, concern)
            try:
                version = _server_version(client)
                plan = _plan(reader, o, select, rename, version < (8, 3, 0))
                result = Run(client, reader, plan, o, version, limit, progress).run()
            finally:
                client.close()
    result.seconds = time.monotonic() - started
    return result


def _server_version(client: MongoClient[RawBSONDocument]) -> tuple[int, int, int]:
    command(client, "admin", {"ping": 1}, "cannot connect")
    version = command(client, "admin", {"buildInfo": 1}, "cannot read the server version").get("version")
    parsed = parse_server_version(version) if isinstance(version, str) else None
    return parsed if parsed is not None else (0, 0, 0)


def _plan(
    reader: ArchiveReader, o: RestoreOptions, select: NamespaceFilter, rename: Renamer, buckets: bool
) -> Plan:
    return build_plan(
        reader.collections,
        select=select,
        rename=rename,
        target_buckets=buckets,
        oplog_replay=o.oplog_replay,
        restore_db_users=o.restore_db_users_and_roles,
        no_options=o.no_options_restore,
        no_indexes=o.no_index_restore,
    )


def _dry_run(reader: ArchiveReader, plan: Plan) -> RestoreResult:
    outcomes = outcomes_of(plan)
    result = result_of(reader, plan, outcomes, RestoreOptions(dry_run=True))
    try:
        reader.validate()
    except MongoArchiveError as exc:
        result.errors.append(exc)
    for ns, summary in reader.namespaces.items():
        target = plan.by_data.get(ns)
        if target is None:
            continue
        out = outcomes[id(target)]
        out.documents += summary.documents
        out.status = "checked" if summary.crc == "ok" else "damaged"
    for out in result.namespaces:
        if out.status == "not reached" and not result.errors:
            out.status = "checked"  # declared, no blocks of its own (a view, a timeseries' name)
    return result


def cleanup_staging(options: RestoreOptions | None = None, **fields: Any) -> list[str]:
    """Drop every staging collection a restore left on the server (one that died with it).

    Do not run it while another restore of the same server is running.
    """
    o = validate(options or RestoreOptions(**fields))
    client = connect(o, write_concern(o.write_concern, o.uri))
    try:
        _server_version(client)
        return cleanup(client)
    except MongoArchiveError:
        raise
    except Exception as exc:
        raise convert_error(exc, "cannot drop the staging collections") from exc
    finally:
        client.close()

"""Atomic restores: each namespace goes into a staging collection, renamed over its target at the end.

A staging collection lives in the target's database (``renameCollection``
within a database is a catalogue change on mongod; across databases it
copies), named ``mongoarchive.restore.<run>.<n>``: short, whatever the
target's name, and easy to find if a restore dies with its server
(``cleanup``).  The staging collection is committed only after the
namespace's EOF block checked its CRC-64 (spec/archive.md §4, §6) and every
insert and index build succeeded:

- target absent, or ``--drop``: the indexes are built on the staging
  collection, then ``renameCollection`` with ``dropTarget`` puts it in place;
- target present without ``--drop``: the staging collection's documents are
  copied into the target after its indexes are built (duplicate keys counted,
  as mongorestore counts them), then the staging collection is dropped;
- a server whose rename drops a collection's options (``rename_keeps_options``
  says so; SecantusDB 0.7.0b3): options that ``collMod`` can set (validator,
  validationLevel, validationAction) are set again right after the rename;
  for any other option the target is created with its options and filled from
  the staging collection.  A damaged archive still never reaches
  the target; a connection lost during that copy can leave it partial.

On any failure the staging collection is dropped and the target is untouched.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from ._restore_server import NAMESPACE_NOT_FOUND, command, convert_error, server_code
from ._restore_write import BATCH_DOCUMENTS, Lane
from .errors import MongoArchiveError, RestoreError
from .model import Namespace

__all__ = ["PREFIX", "cleanup", "commit", "drop_collection", "exists", "new_run", "staging_namespace"]

PREFIX = "mongoarchive.restore."


def new_run() -> str:
    """A run identifier: 8 hex digits, unique enough among concurrent restores."""
    return secrets.token_hex(4)


def staging_namespace(target: Namespace, run: str, number: int) -> Namespace:
    return Namespace(target.db, f"{PREFIX}{run}.{number}")


def exists(client: MongoClient[RawBSONDocument], ns: Namespace) -> bool:
    reply = command(
        client,
        ns.db,
        {"listCollections": 1, "filter": {"name": ns.collection}, "nameOnly": True},
        "cannot list collections",
        str(ns),
    )
    return bool(reply.get("cursor", {}).get("firstBatch"))


def drop_collection(client: MongoClient[RawBSONDocument], ns: Namespace) -> None:
    """Drop ``ns``; a namespace that does not exist is not an error."""
    try:
        command(client, ns.db, {"drop": ns.collection}, "cannot drop the collection", str(ns))
    except MongoArchiveError as exc:
        if server_code(exc) != NAMESPACE_NOT_FOUND:
            raise


def rename_keeps_options(client: MongoClient[RawBSONDocument], db: str, run: str) -> bool:
    """True if ``renameCollection`` keeps a collection's options on this server (mongod does).

    Tried once per restore on a throw-away capped collection: SecantusDB 0.7.0b3
    renames a collection with empty options (capped, validator, collation lost).
    """
    first, second = Namespace(db, f"{PREFIX}{run}.probe"), Namespace(db, f"{PREFIX}{run}.probed")
    try:
        command(client, db, {"create": first.collection, "capped": True, "size": 4096}, "cannot probe")
        command(client, "admin", {"renameCollection": str(first), "to": str(second)}, "cannot probe renames")
        reply = command(
            client, db, {"listCollections": 1, "filter": {"name": second.collection}}, "cannot probe"
        )
        batch = reply.get("cursor", {}).get("firstBatch", [])
        return bool(batch) and batch[0].get("options", {}).get("capped") is True
    finally:
        drop_collection(client, first)
        drop_collection(client, second)


def copy_documents(
    client: MongoClient[RawBSONDocument], staging: Namespace, lane: Lane, target: Namespace
) -> None:
    """Every document of ``staging`` into ``lane``, as raw BSON."""
    try:
        for doc in client[staging.db][staging.collection].find({}, batch_size=BATCH_DOCUMENTS):
            lane.add(bytes(doc.raw))
        lane.wait()
    except MongoArchiveError:
        raise
    except Exception as exc:
        raise convert_error(exc, "cannot copy the staging collection into the target", str(target)) from exc


def commit(
    client: MongoClient[RawBSONDocument],
    staging: Namespace,
    target: Namespace,
    *,
    drop: bool,
    rename: bool,
    after_rename: Callable[[Namespace], None] | None = None,
    create: Callable[[Namespace], bool],
    indexes: Callable[[Namespace], None],
    lane: Callable[[Namespace], Lane],
) -> str:
    """Put ``staging`` in place of ``target``: "renamed", "copied" or "appended" (module docs).

    ``after_rename(ns)``, if given, runs on the target after a rename (collMod of
    the options the server's rename lost).  ``create(ns)`` creates a collection
    with the target's options (False if it existed), ``indexes(ns)`` builds its
    indexes, ``lane(ns)`` makes the Lane that copies documents into ``ns``.
    ``rename`` False: the server's rename loses options, so a new target is
    created and filled from the staging collection (a failure then drops the
    target again if it was new).
    """
    if drop or not exists(client, target):
        if rename:
            indexes(staging)
            command(
                client,
                "admin",
                {"renameCollection": str(staging), "to": str(target), "dropTarget": drop},
                "cannot rename the staging collection over the target",
                str(target),
            )
            if after_rename is not None:
                try:
                    after_rename(target)
                except MongoArchiveError as exc:
                    raise RestoreError(
                        f"the collection is in place but its options could not be set again: {exc.message}",
                        namespace=str(target),
                        code="options-not-restored",
                        hint="set them with collMod, or restore again with --drop",
                    ) from exc
            return "renamed"
        if drop:
            drop_collection(client, target)
        created = create(target)
        try:
            copy_documents(client, staging, lane(target), target)
            indexes(target)
        except MongoArchiveError as exc:
            if created and exc.code not in ("connection-lost", "connection-failed"):
                drop_collection(client, target)
            raise
        drop_collection(client, staging)
        return "copied"
    # Indexes first: the target's unique indexes then refuse single documents (counted as
    # duplicates) instead of failing one index build after everything was appended.
    indexes(target)
    copy_documents(client, staging, lane(target), target)
    drop_collection(client, staging)
    return "appended"


def cleanup(client: MongoClient[RawBSONDocument], run: str | None = None) -> list[str]:
    """Drop every staging collection (of ``run`` only, if given) on the server; their names."""
    prefix = PREFIX + (f"{run}." if run else "")
    dropped = []
    try:
        names = {db: client[db].list_collection_names() for db in client.list_database_names()}
    except Exception as exc:
        raise convert_error(exc, "cannot list the collections") from exc
    for name, collections in names.items():
        for coll in collections:
            if coll.startswith(prefix):
                drop_collection(client, Namespace(name, coll))
                dropped.append(f"{name}.{coll}")
    return dropped

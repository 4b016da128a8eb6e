"""Collection options, indexes, views, users and roles, and the oplog, as mongorestore restores them.

mongo-tools ``mongorestore/metadata.go`` and ``restore.go``: a collection is
created with its options before its documents; its indexes are built after
them (``createIndexes``, without the ``_id`` index the server makes itself);
views are created once every collection is in place; users and roles are
inserted into ``admin.tempusers``/``admin.temproles`` and merged by the
server's ``_mergeAuthzCollections``; ``--oplogReplay`` applies the oplog
entries with ``applyOps`` (§5.1, §5.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp
from pymongo import MongoClient

from ._restore_server import COMMAND_NOT_FOUND, NAMESPACE_EXISTS, command, server_code
from .errors import MongoArchiveError, RestoreError
from .model import Namespace

__all__ = [
    "COLLMOD_OPTIONS",
    "TEMP_ROLES",
    "TEMP_USERS",
    "apply_oplog",
    "clean_indexes",
    "clean_options",
    "create_collection",
    "create_indexes",
    "create_view",
    "merge_auth",
    "modify_collection",
    "probe_apply_ops",
]

TEMP_USERS = Namespace("admin", "tempusers")
TEMP_ROLES = Namespace("admin", "temproles")
#: Oplog entries per applyOps command (mongorestore applies them in batches too).
_OPLOG_BATCH = 1000


def clean_options(options: dict[str, Any], server: tuple[int, int, int]) -> dict[str, Any]:
    """The options a create command takes: mongorestore removes ``autoIndexId`` from 8.2 on."""
    out = dict(options)
    if server >= (8, 2, 0):
        out.pop("autoIndexId", None)
    return out


def clean_indexes(indexes: Iterable[dict[str, Any]], keep_version: bool) -> list[dict[str, Any]]:
    """Index specs for createIndexes: no ``_id`` index, no ``ns``; ``v`` only with --keepIndexVersion.

    Without ``v`` the server builds each index at its current version, which
    is what mongorestore's update of old index versions amounts to.
    """
    out = []
    for index in indexes:
        spec = dict(index)
        if spec.get("name") == "_id_":
            continue
        spec.pop("ns", None)
        if not keep_version:
            spec.pop("v", None)
        out.append(spec)
    return out


def create_collection(
    client: MongoClient[RawBSONDocument], ns: Namespace, options: dict[str, Any], *, must_create: bool
) -> bool:
    """Create ``ns`` with ``options``; False if it existed (an error if ``must_create``)."""
    try:
        command(client, ns.db, {"create": ns.collection, **options}, "cannot create the collection", str(ns))
    except MongoArchiveError as exc:
        if server_code(exc) == NAMESPACE_EXISTS and not must_create:
            return False
        raise
    return True


#: Collection options that collMod sets on an existing collection (the rest only create can).
COLLMOD_OPTIONS = frozenset({"validator", "validationLevel", "validationAction"})


def modify_collection(client: MongoClient[RawBSONDocument], ns: Namespace, options: dict[str, Any]) -> None:
    """Set ``options`` (all in COLLMOD_OPTIONS) on the existing ``ns`` with collMod."""
    cmd = {"collMod": ns.collection, **options}
    command(client, ns.db, cmd, "cannot set the collection's options", str(ns))


def create_indexes(client: MongoClient[RawBSONDocument], ns: Namespace, indexes: list[dict[str, Any]]) -> int:
    """Build ``indexes`` on ``ns`` in one command; how many were asked for."""
    if indexes:
        command(
            client,
            ns.db,
            {"createIndexes": ns.collection, "indexes": indexes},
            "cannot build the indexes",
            str(ns),
        )
    return len(indexes)


def create_view(client: MongoClient[RawBSONDocument], ns: Namespace, options: dict[str, Any]) -> None:
    if "viewOn" not in options:
        raise RestoreError(
            "the view's metadata has no viewOn", namespace=str(ns), code="bad-view", hint="restore it by hand"
        )
    command(client, ns.db, {"create": ns.collection, **options}, "cannot create the view", str(ns))


def merge_auth(
    client: MongoClient[RawBSONDocument], db: str, *, users: bool, roles: bool, drop: bool
) -> None:
    """Merge the temporary users/roles collections into the server's (``_mergeAuthzCollections``)."""
    cmd: dict[str, Any] = {"_mergeAuthzCollections": 1}
    if users:
        cmd["tempUsersCollection"] = str(TEMP_USERS)
    if roles:
        cmd["tempRolesCollection"] = str(TEMP_ROLES)
    cmd["drop"] = drop
    cmd["db"] = db
    try:
        command(client, "admin", cmd, "cannot merge users and roles", f"{db or 'admin'}.system.users")
    except MongoArchiveError as exc:
        if server_code(exc) == COMMAND_NOT_FOUND:
            raise RestoreError(
                "the server has no _mergeAuthzCollections command: users and roles not restored",
                namespace=f"{db or 'admin'}.system.users",
                code="auth-merge-refused",
                hint="create the users with createUser by hand",
            ) from exc
        raise


def probe_apply_ops(client: MongoClient[RawBSONDocument]) -> None:
    """RestoreError now, before anything is written, if the server has no applyOps."""
    try:
        command(client, "admin", {"applyOps": []}, "cannot replay the oplog")
    except MongoArchiveError as exc:
        if server_code(exc) == COMMAND_NOT_FOUND:
            raise RestoreError(
                "the server has no applyOps command: --oplogReplay is impossible",
                namespace=".oplog",
                code="oplog-replay-refused",
                hint="restore without --oplogReplay (the data without the oplog's changes)",
            ) from exc
        raise


def apply_oplog(
    client: MongoClient[RawBSONDocument], entries: Iterable[bytes], limit: Timestamp | None
) -> int:
    """Apply oplog ``entries`` (raw BSON, in order) up to, not including, ``limit``; how many."""
    applied = 0
    batch: list[RawBSONDocument] = []
    for raw in entries:
        entry = RawBSONDocument(raw)
        ts = entry.get("ts")
        if limit is not None and isinstance(ts, Timestamp) and ts >= limit:
            break
        if entry.get("op") == "n":
            continue  # no-ops carry nothing to apply
        batch.append(entry)
        if len(batch) >= _OPLOG_BATCH:
            command(client, "admin", {"applyOps": batch}, "cannot replay the oplog", ".oplog")
            applied += len(batch)
            batch = []
    if batch:
        command(client, "admin", {"applyOps": batch}, "cannot replay the oplog", ".oplog")
        applied += len(batch)
    return applied

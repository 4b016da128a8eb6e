"""Point-in-time dumps (``--oplog``, §5.1): where the oplog is, its edges, and entries a restore refuses.

As mongodump's ``oplog_dump.go``: note the newest entry (or the oldest open
transaction's start) before the data, copy the entries from there to the
newest one after the data, and fail with an oplog overflow if the start is no
longer in the oplog, checked before and after the copy.
"""

from __future__ import annotations

from collections.abc import Mapping

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp
from pymongo.errors import OperationFailure

from ._dump_server import Server, convert_error
from .errors import DumpError, OplogOverflowError, UsageError

__all__ = ["check_oplog", "oplog_collection", "oplog_edge", "oplog_start", "validate_entry"]

#: Collections whose creation in config means a resharding runs (prepare.go isReshardingCollection).
_RESHARDING = frozenset(
    {"reshardingOperations", "localReshardingOperations.donor", "localReshardingOperations.recipient"}
)


def oplog_collection(server: Server) -> str:
    """The oplog's collection in ``local``; only replica set members have one."""
    hello = server.command("admin", {"hello": 1}, "cannot read the server's state")
    if hello.get("msg") == "isdbgrid":
        raise UsageError("--oplog cannot be used with a mongos")
    if not hello.get("hosts"):
        raise UsageError(
            "--oplog needs a replica set member: the server has no oplog.rs",
            hint="point-in-time dumps read local.oplog.rs",
        )
    return "oplog.rs"


def oplog_edge(server: Server, coll: str, direction: int) -> Timestamp | None:
    """The ``ts`` of the oldest (1) or newest (-1) oplog entry, None if the oplog is empty."""
    try:
        doc = server.client.local[coll].find_one({}, projection={"ts": 1}, sort=[("$natural", direction)])
    except Exception as exc:
        raise convert_error(exc, "cannot read the oplog", namespace=f"local.{coll}") from exc
    if doc is None:
        return None
    ts = doc.get("ts")
    return ts if isinstance(ts, Timestamp) else None


def oplog_start(server: Server, coll: str) -> Timestamp:
    """The newest oplog entry, or the oldest open transaction's start (getOplogCopyStartTime)."""
    newest = oplog_edge(server, coll, -1)
    if newest is None:
        raise DumpError("the oplog is empty", namespace=f"local.{coll}", code="oplog-empty")
    try:
        txn = server.client.config.transactions.find_one(
            {"state": {"$in": ["prepared", "inProgress"]}},
            projection={"startOpTime": 1},
            sort=[("startOpTime.ts", 1)],
        )
    except OperationFailure:
        txn = None
    except Exception as exc:
        raise convert_error(exc, "cannot read config.transactions") from exc
    if txn is not None:
        start = (txn.get("startOpTime") or {}).get("ts")
        if isinstance(start, Timestamp) and start < newest:
            return start
    return newest


def check_oplog(server: Server, coll: str, start: Timestamp) -> None:
    """Fail with an oplog overflow unless the oldest entry is at or before ``start``."""
    oldest = oplog_edge(server, coll, 1)
    if oldest is None or oldest > start:
        raise OplogOverflowError(
            "oplog overflow: the oplog rolled over during the dump, entries since "
            f"{start.time},{start.inc} are gone",
            namespace=f"local.{coll}",
            hint="use a larger oplog or a faster dump (more -j, fewer collections)",
        )


def validate_entry(raw: bytes) -> None:
    """Refuse entries a point-in-time restore cannot replay (oplogDocumentValidator)."""
    entry = RawBSONDocument(raw)
    ns = entry.get("ns")
    if ns == "admin.system.version":
        raise DumpError(
            "cannot dump with --oplog while the admin.system.version collection changes "
            "(an FCV or auth schema change happened during the dump)",
            code="oplog-unsupported",
        )
    cmd = entry.get("o")
    if not isinstance(cmd, Mapping):
        return
    for name, what in (
        ("renameCollection", "a renameCollection"),
        ("importCollection", "an importCollection"),
        ("upgradeDowngradeViewlessTimeseries", "a timeseries format conversion (FCV change)"),
    ):
        if name in cmd:
            raise DumpError(f"cannot dump with --oplog while {what} happens", code="oplog-unsupported")
    if isinstance(ns, str) and ns.split(".", 1)[0] == "config" and cmd.get("create") in _RESHARDING:
        raise DumpError("cannot dump with --oplog while resharding", code="oplog-unsupported")

"""The restore's options and results, and mongorestore's checks of the options."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from typing import IO, Any

from bson import json_util
from bson.timestamp import Timestamp
from pymongo.write_concern import WriteConcern

from ._connect import ConnectionOptions
from .errors import MongoArchiveError, UsageError

__all__ = [
    "Archive",
    "NamespaceOutcome",
    "ProgressCallback",
    "RestoreOptions",
    "RestoreResult",
    "oplog_limit",
    "validate",
    "write_concern",
]

#: progress(target namespace, documents so far, done)
ProgressCallback = Callable[[str, int, bool], None]
Archive = str | os.PathLike[str] | IO[bytes]


@dataclasses.dataclass
class RestoreOptions(ConnectionOptions):
    """What to restore and how; the fields mirror mongorestore's flags (connection: ConnectionOptions)."""

    db: str | None = None
    collection: str | None = None
    ns_include: Sequence[str] = ()
    ns_exclude: Sequence[str] = ()
    ns_from: Sequence[str] = ()
    ns_to: Sequence[str] = ()
    drop: bool = False
    dry_run: bool = False
    #: Staging collections renamed over their targets at each namespace's EOF (see the module docs).
    atomic: bool = True
    no_index_restore: bool = False
    no_options_restore: bool = False
    keep_index_version: bool = False
    maintain_insertion_order: bool = False
    stop_on_error: bool = False
    parallel: int = 4
    insertion_workers: int = 1
    #: ``--writeConcern`` text (see ``write_concern``); None: the URI's, else "majority".
    write_concern: str | None = None
    bypass_document_validation: bool = False
    preserve_uuid: bool = False
    restore_db_users_and_roles: bool = False
    oplog_replay: bool = False
    #: ``seconds[:ordinal]``: oplog entries from this timestamp on are not applied.
    oplog_limit: str | None = None
    #: None sniffs; True as mongorestore's --gzip.
    gzip: bool | None = None
    batch_size: int = 1000


@dataclasses.dataclass
class NamespaceOutcome:
    """One restored (or planned) namespace."""

    source: str
    target: str
    kind: str
    #: Documents in place at the end (committed ones only, in atomic mode).
    documents: int = 0
    #: Documents that failed (duplicate keys, refused writes) or were rolled back.
    failed: int = 0
    indexes: int = 0
    #: "restored", "failed", "rolled back", "partial", "checked", "damaged", "not reached".
    status: str = "not reached"
    message: str | None = None

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class RestoreResult:
    """The outcome of :func:`restore`; ``ok`` unless some document or namespace failed."""

    archive: str
    dry_run: bool
    atomic: bool
    namespaces: list[NamespaceOutcome]
    skipped: list[tuple[str, str]]
    errors: list[MongoArchiveError] = dataclasses.field(default_factory=list)
    #: Staging collections that could not be dropped (the server went away).
    staging_left: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return sum(n.documents for n in self.namespaces)

    @property
    def failed(self) -> int:
        return sum(n.failed for n in self.namespaces)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def to_dict(self) -> dict[str, object]:
        return {
            "archive": self.archive,
            "dry_run": self.dry_run,
            "atomic": self.atomic,
            "ok": self.ok,
            "documents": self.documents,
            "failed": self.failed,
            "namespaces": [n.to_dict() for n in self.namespaces],
            "skipped": [{"namespace": ns, "reason": why} for ns, why in self.skipped],
            "errors": [e.to_dict() for e in self.errors],
            "staging_left": self.staging_left,
            "seconds": round(self.seconds, 3),
        }


def validate(o: RestoreOptions) -> RestoreOptions:
    """mongorestore's option checks (mongorestore/options.go, ParseAndValidateOptions)."""
    if o.maintain_insertion_order:
        o = dataclasses.replace(o, stop_on_error=True, insertion_workers=1)
    checks = [
        (len(o.ns_from) != len(o.ns_to), "every --nsFrom needs one --nsTo"),
        (o.parallel <= 0, "--numParallelCollections must be positive"),
        (o.insertion_workers <= 0, "--numInsertionWorkersPerCollection must be positive"),
        (o.batch_size <= 0, "the batch size must be positive"),
        (o.oplog_limit is not None and not o.oplog_replay, "--oplogLimit needs --oplogReplay"),
        (o.preserve_uuid and not o.drop, "--preserveUUID needs --drop"),
        (o.restore_db_users_and_roles and not o.db, "cannot use --restoreDbUsersAndRoles without --db"),
    ]
    for failed, message in checks:
        if failed:
            raise UsageError(message)
    return o


def oplog_limit(text: str | None) -> Timestamp | None:
    if text is None:
        return None
    seconds, _, ordinal = text.partition(":")
    try:
        return Timestamp(int(seconds), int(ordinal or 0))
    except (ValueError, TypeError, OverflowError) as exc:
        raise UsageError(f"--oplogLimit {text!r} is not seconds[:ordinal]") from exc


def write_concern(text: str | None, uri: str | None = None) -> WriteConcern | None:
    """The write concern of ``--writeConcern``, parsed as mongorestore parses it.

    mongo-tools ``common/db/write_concern.go``: a JSON document
    (``{w: 1, j: true, wtimeout: 500}``, keys quoted or not; ``w`` defaults to
    "majority", ``j`` counts if truthy, ``wtimeout`` in milliseconds), else a
    plain ``w`` (a number of nodes or a tag such as "majority").  Without one,
    the URI's ``w``/``journal`` if it has them (None: the client takes them
    from the URI), else "majority", mongorestore's default.
    """
    if text is None or text == "":
        return None if _uri_has_concern(uri) else WriteConcern(w="majority")
    value = _json_object(text)
    try:
        if value is None:
            return WriteConcern(w=_w(text))
        options: dict[str, Any] = {"w": _w(value["w"]) if "w" in value else "majority"}
        if value.get("j"):
            options["j"] = True
        if "wtimeout" in value:
            options["wtimeout"] = _integer(value["wtimeout"], "wtimeout")
        return WriteConcern(**options)
    except UsageError:
        raise
    except Exception as exc:  # pymongo's own checks (w 0 with j true, ...)
        raise UsageError(f"--writeConcern {text!r}: {exc}") from exc


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object, keys bare or quoted, strings in '' or "" (mongo-tools' JSON); else None."""
    relaxed = re.sub(r"'([^'\"\\]*)'", r'"\1"', text)  # 'single-quoted' strings
    relaxed = re.sub(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:", r'\1"\2":', relaxed)  # bare keys
    for candidate in (text, relaxed):
        try:
            value = json_util.loads(candidate)
        except Exception:
            continue
        return value if isinstance(value, dict) else None
    return None


def _w(value: object) -> int | str:
    """A ``w``: a number of nodes (never negative) or a tag; "" is "majority"."""
    if isinstance(value, str):
        if value == "":
            return "majority"
        try:
            value = int(value)
        except ValueError:
            return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(
            f"--writeConcern: invalid 'w' argument type: {value!r}",
            hint="w is a number of nodes, 'majority', or a tag",
        )
    if value < 0 or int(value) != value:
        raise UsageError(f"--writeConcern: invalid 'w' argument: {value!r}", hint="w counts nodes: 0 or more")
    return int(value)


def _integer(value: object, name: str) -> int:
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError(value)
        return int(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"--writeConcern: invalid '{name}' argument: {value!r}", hint=f"{name} is in milliseconds"
        ) from exc


def _uri_has_concern(uri: str | None) -> bool:
    if not uri or "?" not in uri:
        return False
    query = uri.split("?", 1)[1]
    keys = {part.split("=", 1)[0].lower() for part in re.split(r"[&;]", query)}
    return bool(keys & {"w", "journal"})

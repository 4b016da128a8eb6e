"""What a restore does with each prelude entry: selected or skipped, its target name, its kind.

mongorestore's rules (mongo-tools ``mongorestore/mongorestore.go``, ``ns/``):
``--nsInclude``/``--nsExclude`` select by the archive's names, ``--db``/``--collection``
with an archive are a shorthand for one ``--nsInclude``, ``--nsFrom``/``--nsTo``
rename after selection; the oplog (§5.1) is never matched or renamed and is
kept only for ``--oplogReplay``; ``system.profile`` and ``system.views`` are
never restored (views come from their own metadata); users and roles
(``admin.system.users``/``roles``, and ``D.$admin.system.*`` with
``--restoreDbUsersAndRoles``) go through the server's authorisation merge (§5.3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from ._rules import timeseries_data_namespace
from .errors import UsageError
from .model import CollectionEntry, Namespace
from .nsfilter import NamespaceFilter
from .nsrename import Renamer, claim_name, escape_pattern, renamed_namespace

__all__ = ["OPLOG", "Plan", "Target", "build_plan", "selection_patterns"]

OPLOG = Namespace("", "oplog")
_AUTH = {"system.users": "users", "system.roles": "roles"}
_BUCKETS = "system.buckets."


@dataclasses.dataclass
class Target:
    """One prelude entry that is restored, and where to."""

    entry: CollectionEntry
    source: Namespace
    target: Namespace
    #: "collection", "timeseries", "view", "users", "roles" or "oplog".
    kind: str
    options: dict[str, Any]
    indexes: list[dict[str, Any]]
    #: Where the documents are inserted (system.buckets.X for a timeseries before 8.3, §5.4).
    insert_ns: Namespace
    #: For users/roles: the database whose users they are ("" for a full dump's admin.system.*).
    auth_db: str = ""


@dataclasses.dataclass
class Plan:
    """Every data namespace of the archive -> its Target (None: skipped), and the reasons."""

    by_data: dict[Namespace, Target | None]
    targets: list[Target]
    skipped: list[tuple[Namespace, str]]


def selection_patterns(db: str | None, collection: str | None, include: Iterable[str]) -> list[str]:
    """--nsInclude patterns, with --db/--collection as mongorestore reads them for an archive."""
    patterns = list(include)
    for pattern in patterns:
        if "$" in pattern and not pattern.split(".", 1)[-1].startswith("$admin"):
            raise UsageError(f"--nsInclude {pattern!r}: '$' is not allowed in include/exclude patterns")
    if collection is not None and db is None:
        raise UsageError("--collection needs --db", hint="or select with --nsInclude db.collection")
    if db is not None:
        if patterns:
            raise UsageError("--db/--collection cannot be combined with --nsInclude")
        name = escape_pattern(collection) if collection is not None else "*"
        patterns = [f"{escape_pattern(db)}.{name}"]
    return patterns


def _skip_reason(entry: CollectionEntry, restore_db_users: bool) -> str | None:
    coll = entry.collection
    if coll == "system.profile":
        return "system.profile is never restored"
    if coll == "system.views":
        return "views are created from their own metadata"
    if coll.startswith("$admin.system."):
        if coll[len("$admin.") :] in _AUTH:
            return None if restore_db_users else "users and roles need --restoreDbUsersAndRoles"
        return "the server keeps its own auth schema version"
    if entry.db == "admin" and coll == "system.version":
        return "the server keeps its own auth schema version"
    server_coll = coll.startswith("system.") and coll != "system.js" and not coll.startswith(_BUCKETS)
    if server_coll and not (entry.db == "admin" and coll in _AUTH):
        return f"{coll} is a server collection"
    return None


def _kind(entry: CollectionEntry, meta_type: str | None, options: dict[str, Any]) -> tuple[str, str]:
    coll = entry.collection
    if coll.startswith("$admin.") and coll[len("$admin.") :] in _AUTH:
        return _AUTH[coll[len("$admin.") :]], entry.db
    if entry.db == "admin" and coll in _AUTH:
        return _AUTH[coll], ""
    kind = entry.type or meta_type or "collection"
    if "timeseries" in options and kind != "view":
        # mongorestore goes by the options: an entry typed "collection" (a server that lists
        # timeseries as plain collections) still gets its data inserted as buckets (§5.4).
        kind = "timeseries"
    return (kind if kind in ("view", "timeseries") else "collection"), ""


def build_plan(
    entries: list[CollectionEntry],
    *,
    select: NamespaceFilter,
    rename: Renamer,
    target_buckets: bool,
    oplog_replay: bool,
    restore_db_users: bool,
    no_options: bool,
    no_indexes: bool,
) -> Plan:
    """The plan for ``entries``; NamespaceError when two sources would get one target name.

    ``target_buckets``: the target server stores timeseries buckets under
    system.buckets.X (before 8.3, §5.4).
    """
    by_data: dict[Namespace, Target | None] = {}
    targets: list[Target] = []
    skipped: list[tuple[Namespace, str]] = []
    claimed: dict[Namespace, str] = {}
    for entry in entries:
        ns = entry.namespace
        data_names = [ns]
        if entry.type == "timeseries":
            data_names.append(timeseries_data_namespace(entry))
        if ns == OPLOG:
            reason = None if oplog_replay else "the oplog is applied only with --oplogReplay"
        elif not select(ns):
            reason = "not selected"
        else:
            reason = _skip_reason(entry, restore_db_users)
        if reason is not None:
            skipped.append((ns, reason))
            for name in data_names:
                by_data.setdefault(name, None)
            continue
        meta = entry.parse_metadata()
        if ns == OPLOG:
            kind, auth_db, out = "oplog", "", ns
        else:
            kind, auth_db = _kind(entry, meta.type, meta.options)
            out = renamed_namespace(rename, entry) if kind not in ("users", "roles") else ns
        if kind not in ("users", "roles"):
            claim_name(claimed, out, entry, str(ns), "be restored as")
        options = dict(meta.options)
        if no_options and kind == "timeseries":
            raise UsageError(
                f"cannot use --noOptionsRestore when restoring timeseries collections ({ns})",
                hint="a timeseries collection needs its options; leave it out with --nsExclude",
            )
        if no_options and kind == "view":
            kind = "collection"  # as mongorestore: without its options a view is an empty collection
        if no_options and kind == "collection":
            options = {}
        indexes = [] if no_indexes or kind == "view" else meta.indexes
        insert_ns = out
        if kind == "timeseries" and target_buckets:
            insert_ns = Namespace(out.db, _BUCKETS + out.collection)
        target = Target(entry, ns, out, kind, options, indexes, insert_ns, auth_db)
        targets.append(target)
        for name in data_names:
            by_data[name] = target
    return Plan(by_data, targets, skipped)

"""What a dump holds: one intent per namespace, chosen as mongodump chooses them.

This follows mongo-tools' ``mongodump/prepare.go`` (CreateAllIntents,
CreateIntentsForDatabase, CreateCollectionIntent, NewIntentFromOptions,
shouldSkipSystemNamespace), ``mongodump/metadata_dump.go`` and the intent
manager of ``common/intents``:

- Collections come from listCollections only; a full dump walks the databases
  listDatabases names, except ``local`` and ``config``. Nothing is probed.
- ``admin.system.users``, ``admin.system.roles`` and ``admin.system.version``
  (and the ``$admin.system.*`` namespaces of ``--dumpDbUsersAndRoles``) are not
  regular intents: the manager keeps them aside, the prelude lists them after
  every regular namespace and after the oplog, in that order (§3.2, §5.2), and
  their data is dumped before any collection.
- Views have no data and no indexes (§5.3); with ``--viewsAsCollections`` only
  views are dumped, keeping type "view", without ``viewOn``/``pipeline``.
- A timeseries collection X is read from ``system.buckets.X`` for servers
  before 8.3 and from X itself from 8.3 on (§5.4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._dump_metadata import metadata_json, uuid_hex
from ._dump_server import Server, convert_error, parse_server_version
from .errors import DumpError, UsageError

if TYPE_CHECKING:
    from .dump import DumpOptions

__all__ = ["Intent", "IntentSet", "plan_intents", "skip_system_namespace"]

#: config collections mongodump never dumps (prepare.go shouldSkipSystemNamespace).
_CONFIG_SKIPPED = frozenset(
    {
        "transactions",
        "system.sessions",
        "transaction_coordinators",
        "system.indexBuilds",
        "image_collection",
        "mongos",
        "system.preimages",
    }
)


@dataclasses.dataclass
class Intent:
    """One namespace to dump: its prelude entry and where its data comes from."""

    db: str
    collection: str
    type: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    uuid: str = ""
    #: The metadata string of the prelude ("" for the oplog and ``$admin.system.*``).
    metadata: str = ""
    #: Estimated document count, only for ordering and progress.
    estimate: int = 0
    #: True until ``estimate`` was asked of the server (it is asked only when needed).
    countable: bool = False
    #: (db, collection) to read; None for a view dumped as a view (no data).
    source: tuple[str, str] | None = None
    filter: Mapping[str, Any] | None = None
    #: "users", "roles", "version", "oplog" or "" for a regular collection.
    special: str = ""

    @property
    def name(self) -> str:
        return f"{self.db}.{self.collection}"


def special_kind(db: str, coll: str) -> str:
    """ "users", "roles" or "version" for the namespaces the intent manager keeps aside, else ""."""
    for kind, name in (("users", "system.users"), ("roles", "system.roles"), ("version", "system.version")):
        if coll == "$admin." + name or (db == "admin" and coll == name):
            return kind
    return ""


@dataclasses.dataclass
class IntentSet:
    """mongodump's intent manager: regular intents, the oplog, users, roles and version."""

    regular: list[Intent] = dataclasses.field(default_factory=list)
    oplog: Intent | None = None
    users: Intent | None = None
    roles: Intent | None = None
    version: Intent | None = None

    def put(self, intent: Intent) -> None:
        """Add ``intent``; users/roles/version go to their own slot, as in common/intents."""
        kind = special_kind(intent.db, intent.collection)
        if not kind:
            self.regular.append(intent)
            return
        intent.special = kind
        setattr(self, kind, intent)

    @property
    def auth(self) -> list[Intent]:
        """Users, roles and version, in the order mongodump dumps them (DumpUsersAndRoles)."""
        return [i for i in (self.users, self.roles, self.version) if i is not None]

    def prelude(self) -> list[Intent]:
        """Every intent in the prelude's order: regular, oplog, users, roles, version (NewPrelude)."""
        return self.regular + ([self.oplog] if self.oplog is not None else []) + self.auth


def skip_system_namespace(db: str, coll: str) -> bool:
    """mongodump's reserved namespaces that are never dumped (shouldSkipSystemNamespace)."""
    if db == "admin":
        if coll == "system.keys":
            return True
    elif db == "config":
        if coll in _CONFIG_SKIPPED or coll.startswith("cache."):
            return True
    else:
        if coll == "system.js":
            return False
        if coll.startswith("system."):
            return True
    # Index namespaces of servers before 3.0 ("db.coll.$_id_"), but not "oplog.$main".
    return "$" in coll and ".oplog.$" not in coll


class _Planner:
    def __init__(
        self,
        server: Server,
        options: DumpOptions,
        query: dict[str, Any] | None,
        buckets: bool,
        selected: Callable[[str], bool],
    ) -> None:
        self.server = server
        self.o = options
        self.query = query
        self.buckets = buckets
        self.selected = selected

    def excluded(self, coll: str) -> bool:
        return coll in self.o.exclude_collections or any(
            coll.startswith(p) for p in self.o.exclude_collections_with_prefix
        )

    def intent(self, db: str, info: Mapping[str, Any]) -> Intent:
        """NewIntentFromOptions and dumpMetadata: options, indexes, uuid, type."""
        name = str(info["name"])
        ctype = str(info.get("type", "collection"))
        options = dict(info.get("options") or {})
        uuid = uuid_hex(info.get("info") or {})
        intent = Intent(db, name, ctype, options=options, uuid=uuid)
        is_view = ctype == "view"
        if is_view and self.o.views_as_collections:
            options.pop("viewOn", None)
            options.pop("pipeline", None)
        # No indexes for views, nor for anything under --viewsAsCollections.
        indexes = [] if is_view or self.o.views_as_collections else self.server.list_indexes(db, name)
        intent.metadata = metadata_json(options, indexes, uuid, name, ctype)
        if is_view:
            intent.source = (db, name) if self.o.views_as_collections else None
        elif ctype == "timeseries":
            intent.source = (db, "system.buckets." + name) if self.buckets else (db, name)
        else:
            intent.source = (db, name)
            intent.countable = True  # estimated only if ordering or progress needs it
        return intent

    def database(self, db: str, intents: IntentSet) -> None:
        """CreateIntentsForDatabase: every listed collection not skipped or excluded."""
        for info in self.server.list_collections(db):
            name = str(info.get("name", ""))
            if skip_system_namespace(db, name) or self.excluded(name):
                continue
            if self.o.views_as_collections and info.get("type") != "view":
                continue
            if not self.selected(f"{db}.{name}"):
                continue
            intents.put(self.intent(db, info))

    def collection(self, db: str, coll: str, intents: IntentSet) -> None:
        """CreateCollectionIntent; a collection that does not exist is an error here."""
        infos = self.server.list_collections(db, coll)
        if not infos:
            # mongodump logs this and exits 0 without an archive; an error says more.
            raise DumpError(
                f"collection {db}.{coll} does not exist", namespace=f"{db}.{coll}", code="not-found"
            )
        intent = self.intent(db, infos[0])
        if self.query is not None:
            intent.filter = self.timeseries_query(intent) if intent.type == "timeseries" else self.query
        if self.selected(f"{db}.{coll}"):
            intents.put(intent)

    def timeseries_query(self, intent: Intent) -> dict[str, Any]:
        """mongodump only filters timeseries on the metaField, renamed to ``meta`` in buckets."""
        assert self.query is not None
        meta = (intent.options.get("timeseries") or {}).get("metaField")
        if not isinstance(meta, str):
            raise UsageError(f"cannot determine the metaField of {intent.name}", namespace=intent.name)
        out: dict[str, Any] = {}
        for key, value in self.query.items():
            head, dot, rest = key.partition(".")
            if head != meta:
                raise UsageError(
                    f"only metaField queries are supported for the timeseries collection {intent.name}",
                    namespace=intent.name,
                )
            out["meta" + (dot + rest if dot else "")] = value
        return out

    def check_auth_version(self, server_version: str) -> None:
        """mongodump's auth schema checks before --dumpDbUsersAndRoles (common/auth)."""
        reply = self.server.command(
            "admin", {"getParameter": 1, "authSchemaVersion": 1}, "cannot read the auth schema version"
        )
        version = reply.get("authSchemaVersion")
        hint = "mongodump and mongorestore need auth schema version 3 or later for users and roles"
        if not isinstance(version, (int, float)) or isinstance(version, bool):
            raise DumpError(
                f"--dumpDbUsersAndRoles: the server gives no auth schema version ({version!r})",
                code="auth-schema",
                hint=hint,
            )
        if version < 3:
            raise DumpError(
                f"--dumpDbUsersAndRoles: auth schema version {version} is older than 3",
                code="auth-schema",
                hint=hint,
            )
        parsed = parse_server_version(server_version)
        admin = self.server.client.admin
        try:
            if parsed is not None and parsed >= (8, 1, 0):
                # 8.1+ keeps no authSchema document: users or roles must exist instead.
                found = admin["system.users"].find_one({}) is not None
                found = found or admin["system.roles"].find_one({}) is not None
                missing = "no users or roles exist"
            else:
                found = admin["system.version"].count_documents({"_id": "authSchema"}) > 0
                missing = "admin.system.version holds no authSchema document"
        except Exception as exc:
            raise convert_error(exc, "cannot check the auth schema") from exc
        if not found:
            raise DumpError(f"--dumpDbUsersAndRoles: {missing}", code="auth-schema", hint=hint)

    def db_users_intents(self, db: str, intents: IntentSet) -> None:
        """``$admin.system.*`` for ``--db D --dumpDbUsersAndRoles`` (§5.2): no metadata, no type."""
        for kind in ("users", "roles", "version"):
            source = ("admin", f"system.{kind}")
            flt = {"db": db} if kind != "version" else None
            intents.put(Intent(db, f"$admin.system.{kind}", "", source=source, filter=flt))


def plan_intents(
    server: Server,
    options: DumpOptions,
    *,
    query: dict[str, Any] | None,
    server_version: str,
    buckets: bool,
    selected: Callable[[str], bool],
) -> IntentSet:
    """Every intent of the dump but the oplog's, as mongodump's Dump() creates them."""
    o = options
    planner = _Planner(server, options, query, buckets, selected)
    if o.dump_db_users_and_roles:
        planner.check_auth_version(server_version)
    intents = IntentSet()
    if o.db is None:
        for db in server.database_names():
            if db not in ("local", "config"):  # GetValidDbs: only dumped when named
                planner.database(db, intents)
    elif o.collection is None:
        planner.database(o.db, intents)
        if not intents.prelude() and o.db != "admin" and o.db not in server.database_names():
            # mongodump writes an empty archive here; an error says more.
            raise DumpError(f"database {o.db!r} does not exist", namespace=o.db, code="not-found")
    else:
        planner.collection(o.db, o.collection, intents)
    if o.dump_db_users_and_roles and o.db is not None and o.db != "admin":
        planner.db_users_intents(o.db, intents)
    return intents

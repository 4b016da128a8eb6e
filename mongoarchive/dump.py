"""Dump a live MongoDB deployment into an archive, as ``mongodump --archive`` does.

The steps follow mongodump (spec/archive.md §1, §9): connect and read the
server version; build one *intent* per namespace to dump (collections, views,
timeseries, users/roles/version, the oplog); fetch every intent's metadata
(options from listCollections, indexes from listIndexes) and write the whole
prelude before any data (§3.2); dump users, roles and version; with
``oplog=True`` note the newest oplog timestamp; dump the collections with
``parallel`` worker threads, largest first; finally copy the oplog entries
written meanwhile (§5.1).

Documents travel as raw BSON (``find_raw_batches``): they are never decoded,
so each document's bytes in the archive are the server's.  Server counts are
estimates (wrong after an unclean shutdown) and only order the work and feed
progress; a collection is complete when its cursor is exhausted.

Every failure becomes a :class:`DumpError`; the archive is then aborted, so a
path target is not left behind looking complete (§9).
"""

from __future__ import annotations

import dataclasses
import math
import os
import queue
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

import bson
from bson import json_util
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp
from pymongo import MongoClient
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ConnectionFailure,
    CursorNotFound,
    InvalidURI,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from . import __version__
from . import open as open_archive
from ._text import article
from .errors import MongoArchiveError, UsageError
from .nsfilter import NamespaceFilter
from .writer import ArchiveWriter, NamespaceWriter, uses_buckets

__all__ = [
    "AuthenticationError",
    "DumpError",
    "DumpOptions",
    "DumpResult",
    "Intent",
    "NamespaceStats",
    "OplogOverflowError",
    "ServerConnectionError",
    "dump",
    "metadata_json",
]


# -- errors -----------------------------------------------------------------
class DumpError(MongoArchiveError):
    """Reading the server failed: the dump is incomplete and no archive is kept."""

    default_code = "dump-failed"


class ServerConnectionError(DumpError):
    """The server cannot be reached, or the connection was lost during the dump."""

    default_code = "connection-failed"


class AuthenticationError(DumpError):
    """The server refused the credentials."""

    default_code = "auth-failed"


class OplogOverflowError(DumpError):
    """The oplog rolled over during the dump: entries needed for point in time are gone (§5.1)."""

    default_code = "oplog-overflow"


#: Raw documents from the server, with every other value decodable without loss.
_RAW = CodecOptions(document_class=RawBSONDocument)
_DECODE: CodecOptions[dict[str, Any]] = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)
_AUTH_FAILED = 18
_UNAUTHORIZED = 13
_NS_NOT_FOUND = 26


@dataclasses.dataclass
class DumpOptions:
    """What to dump and how; the fields mirror mongodump's flags."""

    uri: str | None = None
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None
    authentication_database: str | None = None
    read_preference: str | None = None
    #: Server selection / connect timeout in seconds.
    timeout: float = 30.0
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
    tool_version: str = f"mongoarchive {__version__}"


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


@dataclasses.dataclass(frozen=True)
class NamespaceStats:
    """What was dumped for one namespace."""

    namespace: str
    documents: int
    bytes: int
    seconds: float


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


#: progress(namespace, documents, bytes, estimate, done)
ProgressCallback = Callable[[str, int, int, int, bool], None]


# -- metadata ---------------------------------------------------------------
def _go_double(value: float) -> str:
    """A double as Go's canonical Extended JSON writes it (strconv 'G', shortest)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    digits = mantissa.replace("-", "").replace(".", "").lstrip("0") or "0"
    digits = digits.rstrip("0") or "0"
    exponent = int(exp_text) if exp_text else _decimal_exponent(mantissa)
    if exponent < -4 or exponent >= 6:
        # strconv 'G' with the shortest precision decides on an exponent of 6.
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        sign = "-" if value < 0 else ""
        return f"{sign}{head}E{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    # Python's repr is positional for exponents -4..15, so ``mantissa`` is the text.
    return mantissa if "." in mantissa else mantissa + ".0"


def _decimal_exponent(mantissa: str) -> int:
    body = mantissa.lstrip("-")
    whole, _, frac = body.partition(".")
    if whole.strip("0"):
        return len(whole.lstrip("0")) - 1
    stripped = frac.lstrip("0")
    return -(len(frac) - len(stripped) + 1) if stripped else 0


def _prepare(value: Any) -> Any:
    """Turn floats into their Go text so json_util writes the same digits mongodump does."""
    if isinstance(value, float):
        return {"$numberDouble": _go_double(value)}
    if isinstance(value, Mapping):
        return {k: _prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    return value


def metadata_json(
    options: Mapping[str, Any] | None,
    indexes: Sequence[Mapping[str, Any]],
    uuid: str,
    collection_name: str,
    type: str,  # noqa: A002 - the field's name in the format
) -> str:
    """The metadata string exactly as mongodump writes it (§3.2).

    Canonical Extended JSON v2, no spaces, no HTML or non-ASCII escaping; keys
    ``options`` (omitted when empty), ``indexes`` (always), ``uuid`` (hex, omitted
    when unknown), ``collectionName``, ``type`` (omitted when empty).
    """
    doc: dict[str, Any] = {}
    if options:
        doc["options"] = options
    doc["indexes"] = list(indexes)
    if uuid:
        doc["uuid"] = uuid
    doc["collectionName"] = collection_name
    if type:
        doc["type"] = type
    return json_util.dumps(
        _prepare(doc),
        json_options=json_util.CANONICAL_JSON_OPTIONS,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _uuid_hex(info: Mapping[str, Any]) -> str:
    value = info.get("uuid")
    if isinstance(value, bson.Binary) and value.subtype in (3, 4) and len(value) == 16:
        return bytes(value).hex()
    if isinstance(value, uuid_module.UUID):
        return value.hex
    return ""


# -- namespace selection ----------------------------------------------------
def _skip_system(db: str, coll: str) -> bool:
    """mongodump's reserved namespaces that are never dumped (prepare.go)."""
    if db == "admin":
        if coll == "system.keys":
            return True
    elif db == "config":
        if coll in {
            "transactions",
            "system.sessions",
            "transaction_coordinators",
            "system.indexBuilds",
            "image_collection",
            "mongos",
            "system.preimages",
        } or coll.startswith("cache."):
            return True
    else:
        if coll == "system.js":
            return False
        if coll.startswith("system."):
            return True
    return "$" in coll and ".oplog.$" not in coll


# -- the dump ---------------------------------------------------------------
class _Stopped(Exception):
    """Another worker failed; this one stops quietly."""


def _convert(exc: BaseException, what: str, namespace: str | None = None) -> MongoArchiveError:
    """A pymongo error as a DumpError with a hint."""
    if isinstance(exc, MongoArchiveError):
        return exc
    if isinstance(exc, ServerSelectionTimeoutError):
        return ServerConnectionError(
            f"{what}: cannot reach the server ({exc})".split(", Timeout:")[0],
            namespace=namespace,
            hint="check --uri/--host/--port and that the server is running",
        )
    if isinstance(exc, CursorNotFound):
        return DumpError(
            f"{what}: the server killed the cursor ({exc})",
            namespace=namespace,
            code="cursor-killed",
            hint="the cursor timed out or was killed; run the dump again",
        )
    if isinstance(exc, (AutoReconnect, ConnectionFailure)):
        return ServerConnectionError(
            f"{what}: lost the connection to the server ({exc})",
            namespace=namespace,
            code="connection-lost",
        )
    if isinstance(exc, OperationFailure):
        if exc.code == _AUTH_FAILED:
            return AuthenticationError(
                f"{what}: authentication failed ({exc.details.get('errmsg') if exc.details else exc})",
                namespace=namespace,
                hint="check -u/-p and --authenticationDatabase",
            )
        if exc.code == _UNAUTHORIZED:
            return DumpError(
                f"{what}: not authorized ({exc})",
                namespace=namespace,
                code="not-authorized",
                hint="the user needs the backup role (or read access to every dumped namespace)",
            )
        return DumpError(f"{what}: server error {exc.code}: {exc}", namespace=namespace, code="server-error")
    if isinstance(exc, (ConfigurationError, InvalidURI)):
        return UsageError(f"{what}: {exc}")
    if isinstance(exc, PyMongoError):
        return DumpError(f"{what}: {exc}", namespace=namespace, code="server-error")
    return DumpError(f"{what}: {type(exc).__name__}: {exc}", namespace=namespace)


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


def _client(options: DumpOptions) -> MongoClient[RawBSONDocument]:
    kwargs: dict[str, Any] = {
        "serverSelectionTimeoutMS": int(options.timeout * 1000),
        "connectTimeoutMS": int(options.timeout * 1000),
        "appname": "mongoarchive-dump",
        "document_class": RawBSONDocument,
    }
    if options.username is not None:
        kwargs["username"] = options.username
    if options.password is not None:
        kwargs["password"] = options.password
    if options.authentication_database is not None:
        kwargs["authSource"] = options.authentication_database
    if options.read_preference is not None:
        kwargs["readPreference"] = options.read_preference
    try:
        if options.uri is not None:
            if options.host is not None or options.port is not None:
                raise UsageError("give either --uri or --host/--port, not both")
            return MongoClient(options.uri, **kwargs)
        host = options.host or "localhost"
        if "/" in host:  # mongodump's "setName/host1,host2"
            set_name, _, host = host.partition("/")
            kwargs["replicaSet"] = set_name
        return MongoClient(host=host.split(","), port=options.port or 27017, **kwargs)
    except MongoArchiveError:
        raise
    except Exception as exc:
        raise _convert(exc, "cannot connect") from exc


class _Dumper:
    def __init__(self, options: DumpOptions, progress: ProgressCallback | None) -> None:
        self.o = options
        self.progress = progress
        self.client = _client(options)
        self.stop = threading.Event()
        self.stats: list[NamespaceStats] = []
        self.stats_lock = threading.Lock()
        self.query = _parse_query(options)
        self.nsfilter = NamespaceFilter(options.ns_include, options.ns_exclude)

    # -- server facts --------------------------------------------------------
    def command(self, db: str, cmd: Mapping[str, Any], what: str) -> dict[str, Any]:
        try:
            raw = self.client[db].command(dict(cmd), codec_options=_RAW)
        except Exception as exc:
            raise _convert(exc, what) from exc
        return bson.decode(raw.raw, codec_options=_DECODE)

    def server_version(self) -> str:
        info = self.command("admin", {"buildInfo": 1}, "cannot read the server version")
        version = info.get("version")
        return version if isinstance(version, str) and version else "unknown"

    def ping(self) -> None:
        self.command("admin", {"ping": 1}, "cannot connect")

    def cursor_docs(self, db: str, cmd: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
        """Run a cursor command (listCollections, listIndexes) and decode every batch."""
        reply = self.command(db, cmd, what)
        cursor = reply.get("cursor", {})
        docs: list[dict[str, Any]] = list(cursor.get("firstBatch", []))
        cursor_id = cursor.get("id", 0)
        coll = str(cursor.get("ns", f"{db}.$cmd")).split(".", 1)[1]
        while cursor_id:
            more = self.command(db, {"getMore": cursor_id, "collection": coll}, what).get("cursor", {})
            docs.extend(more.get("nextBatch", []))
            cursor_id = more.get("id", 0)
        return docs

    def list_collections(self, db: str, name: str | None = None) -> list[dict[str, Any]]:
        cmd: dict[str, Any] = {"listCollections": 1}
        if name is not None:
            cmd["filter"] = {"name": name}
        return self.cursor_docs(db, cmd, f"cannot list the collections of {db!r}")

    def list_indexes(self, db: str, coll: str) -> list[dict[str, Any]]:
        try:
            return self.cursor_docs(db, {"listIndexes": coll}, f"cannot list the indexes of {db}.{coll}")
        except DumpError as exc:
            if isinstance(exc.__cause__, OperationFailure) and exc.__cause__.code == _NS_NOT_FOUND:
                return []  # dropped since it was listed: mongodump logs it and goes on
            raise

    def fill_estimate(self, intent: Intent) -> None:
        """Ask the server for the intent's estimated count once (ordering and progress only)."""
        if intent.countable and intent.source is not None:
            intent.countable = False
            intent.estimate = self.estimate(*intent.source)

    def estimate(self, db: str, coll: str) -> int:
        try:
            return int(self.client[db][coll].estimated_document_count())
        except Exception:
            return 0  # only used for ordering and progress

    # -- intents -------------------------------------------------------------
    def selected(self, db: str, coll: str) -> bool:
        return self.nsfilter(f"{db}.{coll}")

    def excluded(self, coll: str) -> bool:
        return coll in self.o.exclude_collections or any(
            coll.startswith(p) for p in self.o.exclude_collections_with_prefix
        )

    def intent_from_info(self, db: str, info: Mapping[str, Any], buckets: bool) -> Intent:
        name = str(info["name"])
        ctype = str(info.get("type", "collection"))
        options = dict(info.get("options") or {})
        uuid = _uuid_hex(info.get("info") or {})
        intent = Intent(db, name, ctype, options=options, uuid=uuid)
        if ctype == "view":
            if self.o.views_as_collections:
                # Dumped as a plain collection: no view definition, the view's documents.
                options.pop("viewOn", None)
                options.pop("pipeline", None)
                intent.type = "collection"
                intent.source = (db, name)
                intent.metadata = metadata_json(options, [], uuid, name, "collection")
            else:
                intent.metadata = metadata_json(options, [], uuid, name, "view")
            return intent
        indexes = self.list_indexes(db, name)
        intent.metadata = metadata_json(options, indexes, uuid, name, ctype)
        if ctype == "timeseries":
            intent.source = (db, "system.buckets." + name) if buckets else (db, name)
            intent.estimate = 0
        else:
            intent.source = (db, name)
            intent.countable = True  # estimated only if ordering or progress needs it
        return intent

    def special_admin(self, listed: Mapping[str, Mapping[str, Any]], buckets: bool) -> list[Intent]:
        """admin.system.users / roles / version for a full or admin dump (§5.2).

        Some servers do not list these collections; they are then probed with find.
        """
        out = []
        for coll, kind in (
            ("system.users", "users"),
            ("system.roles", "roles"),
            ("system.version", "version"),
        ):
            if not self.selected("admin", coll):
                continue
            info = listed.get(coll)
            if info is None:
                try:
                    found = self.client.admin[coll].find_one({}, projection={"_id": 1})
                except OperationFailure:
                    found = None
                except Exception as exc:
                    raise _convert(exc, f"cannot read admin.{coll}") from exc
                if found is None:
                    continue
                info = {"name": coll, "type": "collection", "options": {}}
            intent = self.intent_from_info("admin", info, buckets)
            intent.special = kind
            out.append(intent)
        return out

    def db_intents(self, db: str, buckets: bool) -> list[Intent]:
        intents: list[Intent] = []
        listed: dict[str, dict[str, Any]] = {}
        for info in self.list_collections(db):
            name = str(info.get("name", ""))
            if db == "admin" and name in ("system.users", "system.roles", "system.version"):
                listed[name] = info
                continue
            if _skip_system(db, name) or self.excluded(name) or not self.selected(db, name):
                continue
            if self.o.views_as_collections and info.get("type") != "view":
                continue  # mongodump: with --viewsAsCollections only the views are dumped
            intents.append(self.intent_from_info(db, info, buckets))
        if db == "admin" and not self.o.views_as_collections:
            intents.extend(self.special_admin(listed, buckets))
        return intents

    def build_intents(self, buckets: bool) -> list[Intent]:
        o = self.o
        if o.db is not None and o.collection is not None:
            infos = self.list_collections(o.db, o.collection)
            if not infos:
                raise DumpError(
                    f"collection {o.db}.{o.collection} does not exist",
                    namespace=f"{o.db}.{o.collection}",
                    code="not-found",
                )
            intent = self.intent_from_info(o.db, infos[0], buckets)
            if self.query is not None:
                intent.filter = self.timeseries_query(intent) if intent.type == "timeseries" else self.query
            return [intent] if self.selected(o.db, o.collection) else []
        if o.db is not None:
            intents = self.db_intents(o.db, buckets)
            if not intents and o.db not in self.database_names() and o.db != "admin":
                raise DumpError(f"database {o.db!r} does not exist", namespace=o.db, code="not-found")
            return intents
        intents = []
        dbs = [d for d in self.database_names() if d not in ("local", "config")]
        if "admin" not in dbs:
            dbs.insert(0, "admin")  # some servers leave admin out of listDatabases
        for db in dbs:
            intents.extend(self.db_intents(db, buckets))
        return intents

    def database_names(self) -> list[str]:
        reply = self.command("admin", {"listDatabases": 1, "nameOnly": True}, "cannot list the databases")
        return [str(d["name"]) for d in reply.get("databases", [])]

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

    def db_users_intents(self, db: str) -> list[Intent]:
        """``$admin.system.*`` for ``--db D --dumpDbUsersAndRoles`` (§5.2): no metadata, no type."""
        return [
            Intent(
                db,
                "$admin.system.users",
                "",
                source=("admin", "system.users"),
                filter={"db": db},
                special="users",
            ),
            Intent(
                db,
                "$admin.system.roles",
                "",
                source=("admin", "system.roles"),
                filter={"db": db},
                special="roles",
            ),
            Intent(db, "$admin.system.version", "", source=("admin", "system.version"), special="version"),
        ]

    # -- data ----------------------------------------------------------------
    def copy(
        self, intent: Intent, out: NamespaceWriter, validator: Callable[[bytes], None] | None = None
    ) -> None:
        """Copy one namespace's documents, raw, then close its namespace (§9)."""
        started = time.monotonic()
        docs = 0
        nbytes = 0
        ns = str(out.ns)
        if self.progress:
            self.fill_estimate(intent)
            self.progress(ns, 0, 0, intent.estimate, False)
        if intent.source is not None:
            db, coll = intent.source
            kwargs: dict[str, Any] = {}
            if intent.special == "oplog":
                kwargs["sort"] = [("$natural", 1)]
            try:
                cursor = self.client[db][coll].find_raw_batches(intent.filter or {}, **kwargs)
                try:
                    for batch in cursor:
                        if self.stop.is_set():
                            raise _Stopped
                        raw = bytes(batch)  # type: ignore[arg-type]  # raw batches are bytes
                        if validator is None:
                            # The whole batch in one call: same bytes as one write per document.
                            docs += out.write_batch(raw)
                        else:
                            pos = 0
                            while pos < len(raw):
                                size = int.from_bytes(raw[pos : pos + 4], "little")
                                doc = raw[pos : pos + size]
                                validator(doc)
                                out.write(doc)
                                pos += size
                                docs += 1
                        nbytes += len(raw)
                        if self.progress:
                            self.progress(ns, docs, nbytes, intent.estimate, False)
                finally:
                    cursor.close()
            except (_Stopped, MongoArchiveError):
                raise
            except Exception as exc:
                raise _convert(exc, f"error reading {db}.{coll}", namespace=intent.name) from exc
        out.close()
        seconds = time.monotonic() - started
        with self.stats_lock:
            self.stats.append(NamespaceStats(ns, docs, nbytes, seconds))
        if self.progress:
            self.progress(ns, docs, nbytes, intent.estimate, True)

    def run_workers(self, jobs: list[tuple[Intent, NamespaceWriter]]) -> None:
        """``parallel`` threads pop intents, views first, then largest first (LongestTaskFirst)."""
        if not jobs:
            return
        workers = min(self.o.parallel, len(jobs))
        if workers > 1:
            # Some servers count by scanning: ask only when the order depends on it.
            for intent, _ in jobs:
                self.fill_estimate(intent)
            jobs = sorted(jobs, key=lambda j: (j[0].type != "view", -j[0].estimate))
        work: queue.SimpleQueue[tuple[Intent, NamespaceWriter]] = queue.SimpleQueue()
        for job in jobs:
            work.put(job)
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                while not self.stop.is_set():
                    try:
                        intent, out = work.get_nowait()
                    except queue.Empty:
                        return
                    self.copy(intent, out)
            except _Stopped:
                return
            except BaseException as exc:
                errors.append(exc)
                self.stop.set()

        threads = [threading.Thread(target=worker, name=f"dump-{i}", daemon=True) for i in range(workers)]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)  # short joins keep Ctrl-C responsive in the main thread
        except BaseException:
            self.stop.set()
            for t in threads:
                t.join()
            raise
        if errors:
            raise errors[0]

    # -- oplog (§5.1) ----------------------------------------------------------
    def oplog_collection(self) -> str:
        hello = self.command("admin", {"hello": 1}, "cannot read the server's state")
        if hello.get("msg") == "isdbgrid":
            raise UsageError("--oplog cannot be used with a mongos")
        if not hello.get("hosts"):
            raise UsageError(
                "--oplog needs a replica set member: the server has no oplog.rs",
                hint="point-in-time dumps read local.oplog.rs",
            )
        return "oplog.rs"

    def oplog_edge(self, coll: str, direction: int) -> Timestamp | None:
        try:
            doc = self.client.local[coll].find_one({}, projection={"ts": 1}, sort=[("$natural", direction)])
        except Exception as exc:
            raise _convert(exc, "cannot read the oplog", namespace=f"local.{coll}") from exc
        if doc is None:
            return None
        ts = doc.get("ts")
        return ts if isinstance(ts, Timestamp) else None

    def oplog_start(self, coll: str) -> Timestamp:
        """The newest oplog entry, or the oldest open transaction's start (mongodump)."""
        newest = self.oplog_edge(coll, -1)
        if newest is None:
            raise DumpError("the oplog is empty", namespace=f"local.{coll}", code="oplog-empty")
        try:
            txn = self.client.config.transactions.find_one(
                {"state": {"$in": ["prepared", "inProgress"]}},
                projection={"startOpTime": 1},
                sort=[("startOpTime.ts", 1)],
            )
        except OperationFailure:
            txn = None
        except Exception as exc:
            raise _convert(exc, "cannot read config.transactions") from exc
        if txn is not None:
            start = (txn.get("startOpTime") or {}).get("ts")
            if isinstance(start, Timestamp) and start < newest:
                return start
        return newest

    def check_oplog(self, coll: str, start: Timestamp) -> None:
        oldest = self.oplog_edge(coll, 1)
        if oldest is None or oldest > start:
            raise OplogOverflowError(
                "oplog overflow: the oplog rolled over during the dump, entries since "
                f"{start.time},{start.inc} are gone",
                namespace=f"local.{coll}",
                hint="use a larger oplog or a faster dump (more -j, fewer collections)",
            )


def _oplog_validator(raw: bytes) -> None:
    """Refuse entries a point-in-time restore cannot replay (mongodump oplog_dump.go)."""
    entry = RawBSONDocument(raw)
    ns = entry.get("ns")
    if ns == "admin.system.version":
        raise DumpError(
            "cannot dump with --oplog while the admin.system.version collection changes "
            "(an FCV or auth schema change happened during the dump)",
            code="oplog-unsupported",
        )
    if entry.get("op") == "c":
        cmd = entry.get("o")
        if isinstance(cmd, Mapping):
            for name in ("renameCollection", "importCollection"):
                if name in cmd:
                    raise DumpError(
                        f"cannot dump with --oplog while {article(name)} happens during the dump",
                        code="oplog-unsupported",
                    )


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
    dumper = _Dumper(options, progress)
    try:
        return _run(dumper, archive)
    finally:
        dumper.client.close()


def _run(dumper: _Dumper, archive: str | os.PathLike[str] | IO[bytes]) -> DumpResult:
    o = dumper.o
    dumper.ping()
    server_version = dumper.server_version()
    buckets = uses_buckets(server_version)
    intents = dumper.build_intents(buckets)
    special = [i for i in intents if i.special]
    regular = [i for i in intents if not i.special]
    if o.dump_db_users_and_roles and o.db is not None and o.db != "admin":
        special.extend(dumper.db_users_intents(o.db))
    oplog_intent: Intent | None = None
    oplog_coll = ""
    if o.oplog:
        oplog_coll = dumper.oplog_collection()
        oplog_intent = Intent("", "oplog", "", source=("local", oplog_coll), special="oplog")

    target = _archive_target(archive, o.gzip)
    writer: ArchiveWriter = open_archive(
        target,
        "w",
        server_version=server_version,
        tool_version=o.tool_version,
        concurrent_collections=o.parallel,
        gzip=o.gzip,
    )
    result = DumpResult(server_version, dumper.stats)
    with writer:
        # The whole prelude first: collections, users/roles/version, the oplog last (§3.2, §5).
        outs = [(i, writer.add_collection(i.db, i.collection, i.metadata, i.type)) for i in regular]
        special_outs = [(i, writer.add_collection(i.db, i.collection, i.metadata, i.type)) for i in special]
        oplog_out = None
        if oplog_intent is not None:
            oplog_out = writer.add_collection("", "oplog", "", "")
        writer.write_prelude()  # out before any data, even before a slow first read
        for intent, out in special_outs:
            dumper.copy(intent, out)
        start: Timestamp | None = None
        if oplog_intent is not None:
            start = dumper.oplog_start(oplog_coll)
            result.oplog_start = start
        dumper.run_workers(outs)
        if oplog_intent is not None and oplog_out is not None and start is not None:
            end = dumper.oplog_edge(oplog_coll, -1)
            if end is None:
                raise OplogOverflowError("oplog overflow: the oplog is empty after the dump")
            result.oplog_end = end
            dumper.check_oplog(oplog_coll, start)
            oplog_intent.filter = {"ts": {"$gte": start, "$lte": end}}
            dumper.copy(oplog_intent, oplog_out, _oplog_validator)
            # Check again: the oldest entry may have rolled over while we copied.
            dumper.check_oplog(oplog_coll, start)
    return result


def iter_stats(result: DumpResult) -> Iterable[NamespaceStats]:
    """The per-namespace figures sorted by namespace."""
    return sorted(result.namespaces, key=lambda s: s.namespace)

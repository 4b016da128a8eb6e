"""The dump's side of the wire: connecting, commands, cursors, and pymongo errors as DumpErrors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument
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

from . import _writer_checks
from .errors import AuthenticationError, DumpError, MongoArchiveError, ServerConnectionError, UsageError

if TYPE_CHECKING:
    from .dump import DumpOptions

__all__ = ["Server", "convert_error", "parse_server_version"]

#: Raw documents from the server, with every other value decodable without loss.
_RAW = CodecOptions(document_class=RawBSONDocument)
_DECODE: CodecOptions[dict[str, Any]] = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)
_AUTH_FAILED = 18
_UNAUTHORIZED = 13
_NS_NOT_FOUND = 26
# mongorestore's db.StrToVersion: drop a build suffix after "-" or "+", then exactly
# three dot-separated decimal numbers (§3.1, §7).


def parse_server_version(version: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) as mongorestore 100.16+ parses ``server_version``, or None if it cannot.

    The writer's rule (``_writer_checks``) is the one rule; a dump asks it before writing anything.
    """
    try:
        return _writer_checks.parse_server_version(version)
    except UsageError:
        return None


def convert_error(exc: BaseException, what: str, namespace: str | None = None) -> MongoArchiveError:
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


def connect(options: DumpOptions) -> MongoClient[RawBSONDocument]:
    """A client for ``options`` (no I/O yet: pymongo connects lazily)."""
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
        raise convert_error(exc, "cannot connect") from exc


class Server:
    """Commands and cursors on one client, decoded, with errors converted."""

    def __init__(self, client: MongoClient[RawBSONDocument]) -> None:
        self.client = client

    def command(self, db: str, cmd: Mapping[str, Any], what: str) -> dict[str, Any]:
        try:
            raw = self.client[db].command(dict(cmd), codec_options=_RAW)
        except Exception as exc:
            raise convert_error(exc, what) from exc
        return bson.decode(raw.raw, codec_options=_DECODE)

    def ping(self) -> None:
        self.command("admin", {"ping": 1}, "cannot connect")

    def server_version(self) -> str:
        """buildInfo's ``version``, refused unless mongorestore 100.16+ can parse it (§3.1).

        mongodump writes "unknown" when it cannot get the version; every
        mongorestore since 100.16 refuses such an archive, so the dump stops
        here, before anything is written.
        """
        info = self.command("admin", {"buildInfo": 1}, "cannot read the server version")
        version = info.get("version")
        if isinstance(version, str) and parse_server_version(version) is not None:
            return version
        shown = repr(version) if version is not None else "no version"
        raise DumpError(
            f"the server's buildInfo gives {shown}, not a version X.Y.Z",
            code="bad-server-version",
            hint="mongorestore 100.16 and later refuse an archive whose server_version is not X.Y.Z; "
            "dump from a server that reports its version",
        )

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

    def database_names(self) -> list[str]:
        reply = self.command("admin", {"listDatabases": 1, "nameOnly": True}, "cannot list the databases")
        return [str(d["name"]) for d in reply.get("databases", [])]

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

    def estimate(self, db: str, coll: str) -> int:
        """The server's estimated count: only for ordering and progress, never for completeness."""
        try:
            return int(self.client[db][coll].estimated_document_count())
        except Exception:
            return 0

"""The dump's side of the wire: commands and cursors, and pymongo errors as DumpErrors (``_connect``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from . import _connect, _writer_checks
from ._connect import ErrorKinds
from .errors import AuthenticationError, DumpError, MongoArchiveError, ServerConnectionError, UsageError

if TYPE_CHECKING:
    from .dump import DumpOptions

__all__ = ["Server", "convert_error", "parse_server_version"]

#: Raw documents from the server, with every other value decodable without loss.
_RAW = CodecOptions(document_class=RawBSONDocument)
_DECODE: CodecOptions[dict[str, Any]] = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)
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


#: The dump's errors for the shared pymongo error mapping (``_connect.convert_error``).
ERRORS = ErrorKinds(
    base=DumpError,
    connection=ServerConnectionError,
    auth=AuthenticationError,
    unauthorized="the user needs the backup role (or read access to every dumped namespace)",
)


def convert_error(exc: BaseException, what: str, namespace: str | None = None) -> MongoArchiveError:
    """A pymongo error as a DumpError with a hint."""
    return _connect.convert_error(exc, what, namespace, errors=ERRORS)


def connect(options: DumpOptions) -> MongoClient[RawBSONDocument]:
    """A client for ``options`` (no I/O yet: pymongo connects lazily)."""
    return _connect.connect(
        options, appname="mongoarchive-dump", read_preference=options.read_preference, errors=ERRORS
    )


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

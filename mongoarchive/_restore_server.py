"""The restore's side of the wire: its client, commands with its write concern, errors as RestoreErrors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from pymongo.write_concern import WriteConcern

from . import _connect
from ._connect import ConnectionOptions, ErrorKinds, is_connection_error
from .errors import MongoArchiveError, RestoreError

__all__ = [
    "COMMAND_NOT_FOUND",
    "DUPLICATE_KEY",
    "NAMESPACE_EXISTS",
    "NAMESPACE_NOT_FOUND",
    "command",
    "connect",
    "convert_error",
    "is_connection_error",
]

COMMAND_NOT_FOUND = 59
DUPLICATE_KEY = 11000
NAMESPACE_EXISTS = 48
NAMESPACE_NOT_FOUND = 26
_RAW = CodecOptions(document_class=RawBSONDocument)


#: The restore's errors for the shared pymongo error mapping (``_connect.convert_error``).
ERRORS = ErrorKinds(
    base=RestoreError,
    connection=RestoreError,
    auth=RestoreError,
    unauthorized="the user needs the restore role",
    after_loss="nothing uncommitted is kept; once the server is back, "
    "'mongoarchive restore --cleanupStaging' drops staging collections left behind",
)

#: Commands that write, so carry the restore's write concern (the insert command gets it
#: from the collection); pymongo's Database.command never adds one by itself.
_WRITES = frozenset(
    {"create", "collMod", "createIndexes", "drop", "renameCollection", "applyOps", "_mergeAuthzCollections"}
)


def convert_error(exc: BaseException, what: str, namespace: str | None = None) -> MongoArchiveError:
    """A pymongo error as a RestoreError with a code and a hint."""
    return _connect.convert_error(exc, what, namespace, errors=ERRORS)


def connect(options: ConnectionOptions, write_concern: WriteConcern | None) -> MongoClient[RawBSONDocument]:
    """A client whose write concern is the restore's (``parse_write_concern``)."""
    return _connect.connect(
        options, appname="mongoarchive-restore", write_concern=write_concern, errors=ERRORS
    )


def command(
    client: MongoClient[RawBSONDocument],
    db: str,
    cmd: Mapping[str, Any],
    what: str,
    namespace: str | None = None,
) -> dict[str, Any]:
    """Run ``cmd`` on ``db``; the reply decoded; RestoreError on failure (the pymongo error chained).

    A write command gets the client's write concern unless it names one.
    """
    cmd = bson.SON(cmd)
    concern = client.write_concern.document
    if concern and next(iter(cmd)) in _WRITES and "writeConcern" not in cmd:
        cmd["writeConcern"] = concern
    try:
        raw = client[db].command(cmd, codec_options=_RAW)
    except Exception as exc:
        raise convert_error(exc, what, namespace) from exc
    return bson.decode(raw.raw)


def server_code(exc: BaseException) -> int | None:
    """The server's error code behind a RestoreError (or a pymongo error), if any."""
    cause = exc.__cause__ if isinstance(exc, MongoArchiveError) else exc
    return cause.code if isinstance(cause, OperationFailure) else None

"""The restore's side of the wire: pymongo errors as RestoreErrors, commands, the server's version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ConnectionFailure,
    InvalidURI,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from .errors import MongoArchiveError, RestoreError, UsageError

__all__ = [
    "COMMAND_NOT_FOUND",
    "DUPLICATE_KEY",
    "NAMESPACE_EXISTS",
    "NAMESPACE_NOT_FOUND",
    "command",
    "convert_error",
    "is_connection_error",
]

COMMAND_NOT_FOUND = 59
DUPLICATE_KEY = 11000
NAMESPACE_EXISTS = 48
NAMESPACE_NOT_FOUND = 26
_AUTH_FAILED = 18
_UNAUTHORIZED = 13
_RAW = CodecOptions(document_class=RawBSONDocument)


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, (AutoReconnect, ConnectionFailure))


def convert_error(exc: BaseException, what: str, namespace: str | None = None) -> MongoArchiveError:
    """A pymongo error as a RestoreError with a code and a hint."""
    if isinstance(exc, MongoArchiveError):
        return exc
    if isinstance(exc, ServerSelectionTimeoutError):
        return RestoreError(
            f"{what}: cannot reach the server ({exc})".split(", Timeout:")[0],
            namespace=namespace,
            code="connection-failed",
            hint="check --uri/--host/--port and that the server is running; "
            "once it is back, 'mongoarchive restore --cleanupStaging' drops what a restore left",
        )
    if is_connection_error(exc):
        return RestoreError(
            f"{what}: lost the connection to the server ({exc})",
            namespace=namespace,
            code="connection-lost",
            hint="nothing uncommitted is kept; once the server is back, "
            "'mongoarchive restore --cleanupStaging' drops staging collections left behind",
        )
    if isinstance(exc, OperationFailure):
        message = exc.details.get("errmsg") if exc.details else None
        if exc.code == _AUTH_FAILED:
            return RestoreError(
                f"{what}: authentication failed ({message or exc})",
                namespace=namespace,
                code="auth-failed",
                hint="check -u/-p and --authenticationDatabase",
            )
        if exc.code == _UNAUTHORIZED:
            return RestoreError(
                f"{what}: not authorized ({message or exc})",
                namespace=namespace,
                code="not-authorized",
                hint="the user needs the restore role",
            )
        return RestoreError(
            f"{what}: server error {exc.code}: {message or exc}", namespace=namespace, code="server-error"
        )
    if isinstance(exc, (ConfigurationError, InvalidURI)):
        return UsageError(f"{what}: {exc}")
    if isinstance(exc, PyMongoError):
        return RestoreError(f"{what}: {exc}", namespace=namespace, code="server-error")
    return RestoreError(f"{what}: {type(exc).__name__}: {exc}", namespace=namespace)


def command(
    client: MongoClient[RawBSONDocument],
    db: str,
    cmd: Mapping[str, Any],
    what: str,
    namespace: str | None = None,
) -> dict[str, Any]:
    """Run ``cmd`` on ``db``; the reply decoded; RestoreError on failure (the pymongo error chained)."""
    try:
        raw = client[db].command(bson.SON(cmd), codec_options=_RAW)
    except Exception as exc:
        raise convert_error(exc, what, namespace) from exc
    return bson.decode(raw.raw)


def server_code(exc: BaseException) -> int | None:
    """The server's error code behind a RestoreError (or a pymongo error), if any."""
    cause = exc.__cause__ if isinstance(exc, MongoArchiveError) else exc
    return cause.code if isinstance(cause, OperationFailure) else None

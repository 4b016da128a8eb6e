"""Connecting to a live server, for ``dump`` and ``restore``: the options, the client, pymongo's errors.

The connection options are mongo-tools' (``common/options``: ``--uri``,
``--host``/``--port``, ``-u``/``-p``, ``--authenticationDatabase``, the
``--tls*`` flags), handed to pymongo as they are.  pymongo's errors become
one-line errors of the calling verb (``ErrorKinds``) with a hint.
"""

from __future__ import annotations

import dataclasses
from typing import Any

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
from pymongo.write_concern import WriteConcern

from .errors import MongoArchiveError, UsageError

__all__ = ["ConnectionOptions", "ErrorKinds", "connect", "convert_error", "is_connection_error"]

AUTH_FAILED = 18
UNAUTHORIZED = 13


@dataclasses.dataclass
class ConnectionOptions:
    """Where the server is and how to log in; the fields mirror mongo-tools' connection flags."""

    uri: str | None = None
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None
    authentication_database: str | None = None
    authentication_mechanism: str | None = None
    #: Server selection / connect timeout in seconds.
    timeout: float = 30.0
    tls: bool = False
    tls_ca_file: str | None = None
    tls_certificate_key_file: str | None = None
    tls_certificate_key_file_password: str | None = None
    tls_allow_invalid_certificates: bool = False
    tls_allow_invalid_hostnames: bool = False


#: ConnectionOptions field -> pymongo keyword, for the fields passed only when set.
_KEYWORDS = {
    "username": "username",
    "password": "password",
    "authentication_database": "authSource",
    "authentication_mechanism": "authMechanism",
    "tls_ca_file": "tlsCAFile",
    "tls_certificate_key_file": "tlsCertificateKeyFile",
    "tls_certificate_key_file_password": "tlsCertificateKeyFilePassword",
}
_FLAGS = {
    "tls": "tls",
    "tls_allow_invalid_certificates": "tlsAllowInvalidCertificates",
    "tls_allow_invalid_hostnames": "tlsAllowInvalidHostnames",
}


def connect(
    options: ConnectionOptions,
    *,
    appname: str,
    read_preference: str | None = None,
    write_concern: WriteConcern | None = None,
    errors: ErrorKinds,
) -> MongoClient[RawBSONDocument]:
    """A client for ``options`` (no I/O yet: pymongo connects lazily).

    ``write_concern`` becomes the client's, so every collection and every
    command that carries the client's write concern uses it.
    """
    kwargs: dict[str, Any] = {
        "serverSelectionTimeoutMS": int(options.timeout * 1000),
        "connectTimeoutMS": int(options.timeout * 1000),
        "appname": appname,
        "document_class": RawBSONDocument,
    }
    for field, keyword in _KEYWORDS.items():
        value = getattr(options, field)
        if value is not None:
            kwargs[keyword] = value
    for field, keyword in _FLAGS.items():
        if getattr(options, field):
            kwargs[keyword] = True
    if read_preference is not None:
        kwargs["readPreference"] = read_preference
    if write_concern is not None:
        kwargs.update(_concern_keywords(write_concern))
    try:
        if options.uri is not None:
            if options.host is not None or options.port is not None:
                raise UsageError("give either --uri or --host/--port, not both")
            return MongoClient(options.uri, **kwargs)
        host = options.host or "localhost"
        if "/" in host:  # mongo-tools' "setName/host1,host2"
            set_name, _, host = host.partition("/")
            kwargs["replicaSet"] = set_name
        return MongoClient(host=host.split(","), port=options.port or 27017, **kwargs)
    except MongoArchiveError:
        raise
    except OSError as exc:  # pymongo reads the --tls* files when the client is built
        raise UsageError(
            f"cannot connect: cannot read {exc.filename or 'a TLS file'}: {exc.strerror or exc}",
            hint="check the --tlsCAFile and --tlsCertificateKeyFile paths",
        ) from exc
    except Exception as exc:
        raise convert_error(exc, "cannot connect", errors=errors) from exc


def _concern_keywords(wc: WriteConcern) -> dict[str, Any]:
    doc = wc.document
    out: dict[str, Any] = {}
    if "w" in doc:
        out["w"] = doc["w"]
    if "j" in doc:
        out["journal"] = doc["j"]
    if "wtimeout" in doc:
        out["wTimeoutMS"] = doc["wtimeout"]
    return out


@dataclasses.dataclass(frozen=True)
class ErrorKinds:
    """The error classes and hints of one verb, for ``convert_error``."""

    #: Any other failure (a server error, a killed cursor).
    base: type[MongoArchiveError]
    #: The server cannot be reached or the connection was lost.
    connection: type[MongoArchiveError]
    #: The server refused the credentials.
    auth: type[MongoArchiveError]
    #: The hint of a refused command: the role the user needs.
    unauthorized: str
    #: Appended to the hint of a lost or failed connection.
    after_loss: str = ""


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, (AutoReconnect, ConnectionFailure))


def convert_error(
    exc: BaseException, what: str, namespace: str | None = None, *, errors: ErrorKinds
) -> MongoArchiveError:
    """A pymongo error as the verb's error (``errors``), with a code and a hint."""
    if isinstance(exc, MongoArchiveError):
        return exc
    after = f"; {errors.after_loss}" if errors.after_loss else ""
    if isinstance(exc, ServerSelectionTimeoutError):
        return errors.connection(
            f"{what}: cannot reach the server ({exc})".split(", Timeout:")[0],
            namespace=namespace,
            code="connection-failed",
            hint="check --uri/--host/--port and that the server is running" + after,
        )
    if isinstance(exc, CursorNotFound):
        return errors.base(
            f"{what}: the server killed the cursor ({exc})",
            namespace=namespace,
            code="cursor-killed",
            hint="the cursor timed out or was killed; run it again",
        )
    if is_connection_error(exc):
        return errors.connection(
            f"{what}: lost the connection to the server ({exc})",
            namespace=namespace,
            code="connection-lost",
            hint=errors.after_loss or None,
        )
    if isinstance(exc, OperationFailure):
        message = (exc.details or {}).get("errmsg") or str(exc)
        if exc.code == AUTH_FAILED:
            return errors.auth(
                f"{what}: authentication failed ({message})",
                namespace=namespace,
                code="auth-failed",
                hint="check -u/-p and --authenticationDatabase",
            )
        if exc.code == UNAUTHORIZED:
            return errors.base(
                f"{what}: not authorized ({message})",
                namespace=namespace,
                code="not-authorized",
                hint=errors.unauthorized,
            )
        return errors.base(
            f"{what}: server error {exc.code}: {message}", namespace=namespace, code="server-error"
        )
    if isinstance(exc, (ConfigurationError, InvalidURI)):
        return UsageError(f"{what}: {exc}")
    if isinstance(exc, PyMongoError):
        return errors.base(f"{what}: {exc}", namespace=namespace, code="server-error")
    return errors.base(f"{what}: {type(exc).__name__}: {exc}", namespace=namespace)

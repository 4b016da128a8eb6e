"""The connection options both server verbs share (mongoarchive/_connect.py): what reaches pymongo.

pymongo's MongoClient is replaced by a recorder, so no server and no network
is needed; the flags go through the command line's parser (cli/_common.py).
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from mongoarchive import _connect
from mongoarchive._connect import ConnectionOptions, connect
from mongoarchive._restore_server import ERRORS
from mongoarchive.cli._common import add_connection_arguments, connection_fields
from mongoarchive.errors import RestoreError, UsageError


class Recorder:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


def parsed(*argv: str) -> ConnectionOptions:
    parser = argparse.ArgumentParser()
    add_connection_arguments(parser)
    return ConnectionOptions(**connection_fields(parser.parse_args(list(argv))))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_connect, "MongoClient", Recorder)


def test_tls_and_auth_flags_reach_pymongo(recorded: None) -> None:
    options = parsed(
        "--host", "db1:27018", "-u", "ann", "-p", "pw", "--authenticationDatabase", "admin",
        "--authenticationMechanism", "SCRAM-SHA-256", "--ssl", "--sslCAFile", "ca.pem",
        "--tlsCertificateKeyFile", "me.pem", "--sslPEMKeyPassword", "kp", "--tlsInsecure",
        "--tlsAllowInvalidHostnames", "--timeout", "2",
    )  # fmt: skip
    client: Any = connect(options, appname="t", errors=ERRORS)
    assert client.kwargs["host"] == ["db1:27018"]
    expected = {
        "username": "ann",
        "password": "pw",
        "authSource": "admin",
        "authMechanism": "SCRAM-SHA-256",
        "tls": True,
        "tlsCAFile": "ca.pem",
        "tlsCertificateKeyFile": "me.pem",
        "tlsCertificateKeyFilePassword": "kp",
        "tlsAllowInvalidCertificates": True,
        "tlsAllowInvalidHostnames": True,
        "serverSelectionTimeoutMS": 2000,
    }
    assert {k: client.kwargs.get(k) for k in expected} == expected


def test_unset_flags_are_left_to_pymongo_and_the_uri(recorded: None) -> None:
    client: Any = connect(parsed("--uri", "mongodb://h/?tls=true"), appname="t", errors=ERRORS)
    assert client.args == ("mongodb://h/?tls=true",)
    assert not {k for k in client.kwargs if k.startswith("tls") or k.startswith("auth")}


def test_uri_and_host_together_are_refused() -> None:
    with pytest.raises(UsageError, match="either --uri or --host"):
        connect(parsed("--uri", "mongodb://h", "--port", "1"), appname="t", errors=ERRORS)


def test_a_bad_tls_setting_is_a_usage_error() -> None:
    # pymongo refuses a CA file that does not exist when the client is built: one line, no traceback.
    with pytest.raises(UsageError, match="cannot connect") as info:
        connect(parsed("--tls", "--tlsCAFile", "/nonexistent/ca.pem"), appname="t", errors=ERRORS)
    assert "\n" not in str(info.value)


def test_each_verb_gets_its_own_error_class() -> None:
    from pymongo.errors import ServerSelectionTimeoutError

    from mongoarchive._dump_server import convert_error as dump_error
    from mongoarchive.errors import ServerConnectionError

    exc = ServerSelectionTimeoutError("h:1: refused, Timeout: 1s")
    restore_error = _connect.convert_error(exc, "cannot connect", errors=ERRORS)
    assert type(restore_error) is RestoreError and restore_error.code == "connection-failed"
    assert "--cleanupStaging" in str(restore_error)
    assert type(dump_error(exc, "cannot connect")) is ServerConnectionError

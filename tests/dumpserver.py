"""Start and stop a SecantusDB test server (a MongoDB wire-protocol server) for the dump tests,
and find the official mongo-tools to compare with.

SecantusDB is a test dependency only: it runs as ``secantusd-py`` in a child
process on 127.0.0.1 with a free port and a temporary storage directory, and
is stopped by its PID.  Known gaps against mongod (no text/hashed indexes,
timeseries listed as plain collections, empty admin.system.roles, no
credentials in admin.system.users, no admin database in listDatabases, no
authSchemaVersion parameter, always version 8.2.11) are covered with mockupdb
instead (tests/test_dump_mock.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument
from paths import REPO_ROOT
from pymongo import MongoClient

__all__ = ["RELEASES", "SecantusServer", "free_port", "oracle_tool", "secantusd_path"]

#: The official mongo-tools releases (../shared/oracle/README.md); absent on a user's machine.
ORACLE = REPO_ROOT.parent / "shared" / "oracle"
RELEASES = ("100.6.1", "100.18.0")


def oracle_tool(release: str, tool: str) -> Path:
    """The official ``tool`` (mongodump, mongorestore...) of ``release``; skips the test when absent."""
    path = ORACLE / release / tool
    if not path.is_file():
        pytest.skip(f"the official {tool} {release} is not at {path}")
    return path


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def secantusd_path() -> str | None:
    """The secantusd-py script next to this Python, or on PATH; None if not installed."""
    here = Path(sys.executable).parent / "secantusd-py"
    if here.exists():
        return str(here)
    return shutil.which("secantusd-py")


class SecantusServer:
    """One secantusd-py child process; ``uri`` once started."""

    def __init__(self, storage: Path, *, oplog_max_entries: int | None = None) -> None:
        self.storage = storage
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self.oplog_max_entries = oplog_max_entries
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> SecantusServer:
        exe = secantusd_path()
        if exe is None:
            raise RuntimeError("secantusd-py not found: pip install SecantusDB==0.7.0b3")
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.storage / "empty.toml"  # so no stray secantusd.toml is picked up
        config.write_text("", encoding="utf-8")
        cmd = [
            exe,
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage / "wt"),
            "--enable-test-commands",
            "--log-level",
            "WARNING",
        ]
        if self.oplog_max_entries is not None:
            cmd += ["--oplog-max-entries", str(self.oplog_max_entries)]
        log = open(self.storage / "server.log", "wb")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.storage)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"secantusd-py exited: {(self.storage / 'server.log').read_text()[-2000:]}"
                )
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=300) as c:
                    c.admin.command("ping")
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)

    def client(self) -> MongoClient[dict[str, object]]:
        return MongoClient(self.uri, serverSelectionTimeoutMS=5000)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


#: What a restore left on a server, per namespace (``catalogue``).
Catalogue = dict[str, dict[str, Any]]
_DECODE: CodecOptions[dict[str, Any]] = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)


def catalogue(client: MongoClient[RawBSONDocument], query: dict[str, Any] | None = None) -> Catalogue:
    """Every user namespace: type, options, indexes (without ``ns``) and sorted raw documents of
    ``find(query)``."""
    out: Catalogue = {}
    for db in client.list_database_names():
        if db in ("admin", "config", "local"):
            continue
        for raw_info in client[db].list_collections():
            info = bson.decode(bson.encode(raw_info), codec_options=_DECODE)
            name = info["name"]
            entry: dict[str, Any] = {"type": info["type"], "options": info["options"]}
            if info["type"] != "view":
                indexes = [
                    bson.decode(bson.encode(i), codec_options=_DECODE)
                    for i in client[db][name].list_indexes()
                ]
                for index in indexes:
                    index.pop("ns", None)
                    # mongod lists an index's inherited collation; SecantusDB does not, so
                    # mongorestore pins such an index to "simple" (intents HasSimpleCollation).
                    if index.get("collation") == {"locale": "simple"}:
                        del index["collation"]
                entry["indexes"] = sorted(indexes, key=lambda i: str(i["name"]))
            entry["documents"] = sorted(bytes(d.raw) for d in client[db][name].find(query or {}))
            out[f"{db}.{name}"] = entry
    return out

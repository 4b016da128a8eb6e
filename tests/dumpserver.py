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

import pytest
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

"""The server killed in the middle of a restore: a clear error, and no staging collection for good.

The restore's progress callback kills the SecantusDB server (SIGKILL, by its
PID) once some documents of the second namespace are on their way; the
restore must fail with a one-line connection error naming the namespace and
the cleanup command, the first namespace (committed before) must be in
place, and once the server is back on the same storage ``restore
--cleanupStaging`` must leave no staging collection behind.  A second case
kills the restore process instead of the server.  Skipped without SecantusDB.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import run
from dumpserver import SecantusServer, secantusd_path
from pymongo import MongoClient
from restore_helpers import staging_left

import mongoarchive

DOCS = 20000


def write_archive(path: Path) -> None:
    with mongoarchive.open(path, "w", server_version="8.2.11") as out:
        first = out.add_collection("kill", "first", {"indexes": []})
        second = out.add_collection("kill", "second", {"indexes": []})
        for i in range(10):
            first.write({"_id": i})
        first.close()
        for i in range(DOCS):
            second.write({"_id": i, "pad": "x" * 100})


def test_killed_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if secantusd_path() is None:
        pytest.skip("SecantusDB is not installed (pip install SecantusDB==0.7.0b3)")
    archive = tmp_path / "kill.archive"
    write_archive(archive)
    server = SecantusServer(tmp_path / "server").start()
    try:
        assert server.proc is not None
        pid = server.proc.pid

        def progress(ns: str, documents: int, done: bool) -> None:
            if ns == "kill.second" and documents >= 3000 and server.proc is not None:
                os.kill(pid, signal.SIGKILL)
                server.proc.wait()
                server.proc = None

        result = mongoarchive.restore(archive, uri=server.uri, timeout=3, progress=progress)
        assert not result.ok
        error = result.errors[0]
        assert error.code in ("connection-lost", "connection-failed"), error
        assert error.namespace == "kill.second"
        assert "--cleanupStaging" in str(error) and "\n" not in str(error)
        by_target = {n.target: n for n in result.namespaces}
        assert by_target["kill.first"].status == "restored"
        assert by_target["kill.second"].status == "rolled back" and by_target["kill.second"].documents == 0
        # The server is gone: the staging collection could not be dropped, and the report says so.
        assert [s.split(".", 1)[0] for s in result.staging_left] == ["kill"]

        # Back on the same storage and port.
        again = SecantusServer(tmp_path / "server")
        again.port, again.uri = server.port, server.uri
        server = again.start()
        left = staging_left(server.uri)
        assert left == result.staging_left
        status, out, _ = run(capsys, "restore", "--uri", server.uri, "--cleanupStaging")
        assert status == 0 and f"dropped {left[0]}" in out
        assert staging_left(server.uri) == []
        with MongoClient(server.uri) as client:
            assert client.kill.first.count_documents({}) == 10
            assert "second" not in client.kill.list_collection_names()
    finally:
        server.stop()


def test_killed_restore_leaves_the_target_and_a_staging_collection_to_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The restore process itself killed (SIGKILL) mid-namespace: the target keeps what it held
    (even with --drop), the staging collection stays behind until ``--cleanupStaging`` drops it.

    The archive goes through a pipe and only its first 60% is written, so the restore is
    certainly mid-body (blocked reading) when it is killed; no timing is involved."""
    if secantusd_path() is None:
        pytest.skip("SecantusDB is not installed (pip install SecantusDB==0.7.0b3)")
    archive = tmp_path / "kill.archive"
    write_archive(archive)
    data = archive.read_bytes()
    server = SecantusServer(tmp_path / "server").start()
    try:
        with MongoClient(server.uri) as client:
            client.kill.second.insert_many([{"_id": i, "before": True} for i in range(3)])
            child = subprocess.Popen(
                [sys.executable, "-m", "mongoarchive", "restore", "--uri", server.uri, "--drop", "-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert child.stdin is not None
            child.stdin.write(data[: len(data) * 6 // 10])
            child.stdin.flush()
            staged: list[str] = []
            for _ in range(1200):  # a bound on polls, not a timing: the child waits for input
                staged = [
                    c
                    for c in client.kill.list_collection_names()
                    if c.startswith("mongoarchive.restore.") and client.kill[c].estimated_document_count()
                ]
                if staged or child.poll() is not None:
                    break
                time.sleep(0.05)
            assert staged, "the restore never staged a document"
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            with contextlib.suppress(BrokenPipeError):
                child.stdin.close()
            assert sorted(d["_id"] for d in client.kill.second.find()) == [0, 1, 2]
            assert all(d.get("before") for d in client.kill.second.find())
            left = staging_left(server.uri)
            assert left and all(name.startswith("kill.mongoarchive.restore.") for name in left)
            status, out, _ = run(capsys, "restore", "--uri", server.uri, "--cleanupStaging")
            assert status == 0 and f"{len(left)} dropped" in out
            assert staging_left(server.uri) == []
            assert client.kill.second.count_documents({}) == 3
    finally:
        server.stop()

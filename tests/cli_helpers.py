"""Helpers for the CLI tests: run main() capturing output, and walk archives independently."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bson
import pytest

from mongoarchive.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """main(argv) -> (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def walk(data: bytes) -> list[tuple[str, bytes]]:
    """(namespace, raw) of every data document in stream order, without mongoarchive.

    A plain struct walk of spec/archive.md §2: magic, prelude block, then blocks
    of a namespace header, documents and a terminator.
    """
    assert data[:4] == b"\x6d\xe2\x99\x81"
    pos = 4
    while struct.unpack_from("<i", data, pos)[0] != -1:  # prelude
        pos += struct.unpack_from("<i", data, pos)[0]
    pos += 4
    out = []
    while pos < len(data):
        size = struct.unpack_from("<i", data, pos)[0]
        header = bson.decode(data[pos : pos + size])
        ns = f"{header['db']}.{header['collection']}"
        pos += size
        while (size := struct.unpack_from("<i", data, pos)[0]) != -1:
            out.append((ns, data[pos : pos + size]))
            pos += size
        pos += 4
    return out


def read(path: Path) -> bytes:
    import gzip

    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def interrupt_when(
    argv: list[str], env: dict[str, str], data: bytes, ready: Callable[[], object], sig: int
) -> tuple[int, str]:
    """Run ``mongoarchive ARGV`` reading a pipe, feed it half of ``data``, send ``sig`` once
    ``ready()`` is true (an upload is on its way, say); (exit status, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongoarchive", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    status = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    proc.stdin.close()
    proc.stderr.close()
    return status, err

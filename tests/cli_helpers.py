"""Helpers for the CLI tests: run main() capturing output, and walk archives independently."""

from __future__ import annotations

import struct
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

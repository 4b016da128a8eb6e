"""Fuzz ``unpack`` with hostile names: nothing may ever be written outside the target directory.

An input is either archive bytes (the seed corpus mutated) or, when it does
not start with the magic number, a list of names ("db\\tcollection\\ttype"
lines) that this harness frames into an archive itself (spec/archive.md
§2-§4, not through the writer, which refuses the hostile names: ``..``,
``/``, NUL, absolute paths, empty names, names that collide after escaping,
non-UTF-8 bytes all reach unpack as an untrusted archive holds them).
Either way unpack runs into ``sandbox/out`` beside ``sandbox/outside``, with
or without the pack record; afterwards the sandbox holds nothing else,
``outside`` only its canary, no staging directory is left, and every path
under ``out`` is a regular file or directory inside it (docs/unpack.md).
Only MongoArchiveError may leave unpack.

    python fuzz/fuzz_unpack.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import tempfile

import _harness

with _harness.instrumented():
    from mongoarchive._crc import crc64, to_int64
    from mongoarchive.errors import MongoArchiveError
    from mongoarchive.unpack import unpack

MAGIC = b"\x6d\xe2\x99\x81"
TERMINATOR = b"\xff\xff\xff\xff"
TYPES = ["collection", "view", "timeseries", "", None]


def _string(raw: bytes) -> bytes:
    return struct.pack("<i", len(raw) + 1) + raw + b"\x00"


def _doc(*fields: tuple[int, bytes, bytes]) -> bytes:
    """A BSON document from (type, key, encoded value); keys are plain ASCII here."""
    body = b"".join(bytes([kind]) + key + b"\x00" + value for kind, key, value in fields)
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def archive_of_names(data: bytes) -> bytes:
    """An archive with one namespace (and one document) per line of ``data``, framed by hand.

    Names are the line's bytes as they are (``\\0`` stands for NUL), so they
    need not be UTF-8 nor anything a writer or a server would accept.
    """
    header = _doc(
        (0x10, b"concurrent_collections", struct.pack("<i", 1)),
        (0x02, b"version", _string(b"0.1")),
        (0x02, b"server_version", _string(b"7.0.0")),
        (0x02, b"tool_version", _string(b"100.18.0")),
    )
    entries, body = [], []
    for line in data.replace(b"\\0", b"\x00").split(b"\n")[:8]:
        db, _, rest = line.partition(b"\t")
        coll, _, kind = rest.partition(b"\t")
        kind_value = TYPES[len(kind) % len(TYPES)]
        meta = b"" if kind_value in ("", None) else b'{"indexes":[]}'
        fields = [
            (0x02, b"db", _string(db)),
            (0x02, b"collection", _string(coll)),
            (0x02, b"metadata", _string(meta)),
        ]
        fields.append((0x10, b"size", struct.pack("<i", 0)))
        if kind_value is not None:
            fields.append((0x02, b"type", _string(kind_value.encode())))
        entries.append(_doc(*fields))
        docs = b"" if kind_value == "view" else _doc((0x10, b"_id", struct.pack("<i", 1)))
        ns = [(0x02, b"db", _string(db)), (0x02, b"collection", _string(coll))]
        body.append(
            _doc(*ns, (0x08, b"EOF", b"\x00"), (0x12, b"CRC", struct.pack("<q", 0))) + docs + TERMINATOR
        )
        crc = struct.pack("<q", to_int64(crc64(docs)))
        body.append(_doc(*ns, (0x08, b"EOF", b"\x01"), (0x12, b"CRC", crc)) + TERMINATOR)
    return b"".join([MAGIC, header, *entries, TERMINATOR, *body])


def check_sandbox(sandbox: str) -> None:
    assert sorted(os.listdir(sandbox)) in (["outside"], ["out", "outside"]), os.listdir(sandbox)
    assert os.listdir(os.path.join(sandbox, "outside")) == ["canary"]
    target = os.path.realpath(os.path.join(sandbox, "out"))
    for folder, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(folder, name)
            assert not name.startswith(".mongoarchive-unpack-"), path  # the staging directory is gone
            assert not os.path.islink(path), path
            assert os.path.realpath(path).startswith(target + os.sep), path


def test_one_input(data: bytes) -> None:
    """Raise AssertionError (or any non-library exception) on a finding."""
    archive = data if data.startswith(MAGIC) or data[:2] == b"\x1f\x8b" else archive_of_names(data)
    sandbox = tempfile.mkdtemp(prefix="fuzz-unpack-")
    try:
        os.mkdir(os.path.join(sandbox, "outside"))
        with open(os.path.join(sandbox, "outside", "canary"), "wb") as fh:
            fh.write(b"canary")
        with contextlib.suppress(MongoArchiveError):
            unpack(
                io.BytesIO(archive),
                os.path.join(sandbox, "out"),
                gzip=len(data) % 2 == 1,
                pack_record=len(data) % 3 == 0,
            )
        check_sandbox(sandbox)
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

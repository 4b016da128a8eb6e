"""Fuzz ``unpack`` with hostile names: nothing may ever be written outside the target directory.

An input is either archive bytes (the seed corpus mutated) or, when it does
not start with the magic number, a list of names ("db\\tcollection\\ttype"
lines) that this harness writes into an archive first.  Either way unpack
runs into ``sandbox/out`` beside ``sandbox/outside``; afterwards the sandbox
holds nothing else, ``outside`` only its canary, and every path under
``out`` is a regular file or directory inside it (spec/archive.md §5 names,
docs/unpack.md).  Only MongoArchiveError may leave unpack.

    python fuzz/fuzz_unpack.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile

import _harness

with _harness.instrumented():
    import mongoarchive
    from mongoarchive.errors import MongoArchiveError
    from mongoarchive.unpack import unpack

MAGIC = b"\x6d\xe2\x99\x81"
TYPES = ["collection", "view", "timeseries", "", None]


def archive_of_names(data: bytes) -> bytes | None:
    """An archive with one namespace per line of ``data``; None if the writer refuses the names."""
    out = io.BytesIO()
    text = data.decode("utf-8", "replace").replace("\x00", "\\0").replace("\\0", "\x00")
    try:
        with mongoarchive.open(out, "w", server_version="7.0.0") as writer:
            ns_writers = []
            for line in text.split("\n")[:8]:
                db, _, rest = line.partition("\t")
                coll, _, kind = rest.partition("\t")
                kind_value = TYPES[len(kind) % len(TYPES)]
                meta = "" if kind_value in ("", None) else '{"indexes":[]}'
                ns_writers.append(writer.add_collection(db, coll or "c", meta, type=kind_value))
            for ns_writer in ns_writers:
                ns_writer.write({"_id": 1})
    except MongoArchiveError:
        return None
    return out.getvalue()


def check_sandbox(sandbox: str) -> None:
    assert sorted(os.listdir(sandbox)) in (["outside"], ["out", "outside"]), os.listdir(sandbox)
    assert os.listdir(os.path.join(sandbox, "outside")) == ["canary"]
    target = os.path.realpath(os.path.join(sandbox, "out"))
    for folder, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(folder, name)
            assert not os.path.islink(path), path
            assert os.path.realpath(path).startswith(target + os.sep), path


def test_one_input(data: bytes) -> None:
    """Raise AssertionError (or any non-library exception) on a finding."""
    archive = data if data.startswith(MAGIC) or data[:2] == b"\x1f\x8b" else archive_of_names(data)
    if archive is None:
        return
    sandbox = tempfile.mkdtemp(prefix="fuzz-unpack-")
    try:
        os.mkdir(os.path.join(sandbox, "outside"))
        with open(os.path.join(sandbox, "outside", "canary"), "wb") as fh:
            fh.write(b"canary")
        with contextlib.suppress(MongoArchiveError):
            unpack(io.BytesIO(archive), os.path.join(sandbox, "out"), gzip=len(data) % 2 == 1)
        check_sandbox(sandbox)
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

"""Fuzz the Arrow conversion of ``export``: only MongoArchiveError may leave it, and nothing is lost.

The input is BSON documents back to back (a namespace's batch, as ``export``
buffers it), converted in memory by ``_arrow.Converter`` with the schema
inferred from the first documents; when every document decodes, each row
rebuilt from its columns plus ``_extra`` must equal its document
(tests/arrow_rows.py).  The compiled and the pure scans must agree on the
same bytes, and the compiled builder's tables must equal pymongoarrow's.
An input starting with the magic number is an archive instead, exported to
Parquet in memory namespace by namespace.

    python fuzz/fuzz_export.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import contextlib
import struct
import sys
from typing import Any

import _harness

sys.path.insert(0, str(_harness.REPO_ROOT / "tests"))

with _harness.instrumented():
    import bson

    import mongoarchive
    from mongoarchive import _arrow, _arrow_scan
    from mongoarchive._arrow import Converter
    from mongoarchive._arrow_schema import infer, program
    from mongoarchive.errors import MongoArchiveError
    from mongoarchive.model import Document

from arrow_rows import rebuild, same

MAGIC = b"\x6d\xe2\x99\x81"


def split(data: bytes) -> list[bytes]:
    """The leading documents of ``data`` that are framed (spec/archive.md §2)."""
    docs = []
    pos = 0
    while len(data) - pos >= 5:
        size = struct.unpack_from("<i", data, pos)[0]
        if size < 5 or size > len(data) - pos or data[pos + size - 1]:
            break
        docs.append(data[pos : pos + size])
        pos += size
    return docs


def convert(docs: list[bytes]) -> list[Any] | None:
    """The tables of ``docs`` in two batches (the second meets the schema inferred from the first)."""
    converter = Converter("fuzz.c")
    try:
        cut = max(1, len(docs) // 2)
        tables = [converter.convert(docs[:cut], list(range(cut)))]
        if docs[cut:]:
            tables.append(converter.convert(docs[cut:]))
    except MongoArchiveError:
        return None
    return tables


def convert_and_compare(docs: list[bytes]) -> None:
    buf = b"".join(docs)
    if _arrow_scan.IMPLEMENTATION == "c":
        with contextlib.suppress(Exception):  # unreadable documents: compared below through errors
            prog = program(infer(docs[:2]))
            if prog is not None:
                pure = c = None
                try:
                    pure = _arrow_scan.pure_check(buf, prog)
                except ValueError as exc:
                    pure = str(exc)
                try:
                    c = _arrow_scan.check(buf, prog)
                except ValueError as exc:
                    c = str(exc)
                assert pure == c, (pure, c)
                assert _arrow_scan.pure_shapes(buf) == _arrow_scan.shapes(buf)
    try:
        originals = [bson.decode(d) for d in docs]
    except Exception:
        originals = None
    tables = convert(docs)
    if _arrow.build is not None:  # the same batches through pymongoarrow
        builder, _arrow.build = _arrow.build, None
        try:
            reference = convert(docs)
        finally:
            _arrow.build = builder
        assert (tables is None) == (reference is None), (tables, reference)
        for mine, theirs in zip(tables or [], reference or [], strict=True):
            assert mine.equals(theirs) and mine.schema.equals(theirs.schema, check_metadata=True)
    if tables is None:
        return
    if originals is None:
        return
    rows = [r for t in tables for r in t.to_pylist()]
    assert len(rows) == len(originals)
    for original, row in zip(originals, rows, strict=True):
        back = rebuild(row, tables[0].schema)
        assert same(original, back), (original, back)


def test_one_input(data: bytes) -> None:
    """Raise AssertionError (or any non-library exception) on a finding."""
    if not data.startswith(MAGIC):
        docs = split(data)
        if docs:
            convert_and_compare(docs[:64])
        return
    by_ns: dict[object, list[bytes]] = {}
    with contextlib.suppress(MongoArchiveError), mongoarchive.open(_harness.stream(data)) as archive:
        for event in archive.events():
            if type(event) is Document:
                assert isinstance(event, Document)
                by_ns.setdefault(event.ns, []).append(event.raw)
    for docs in by_ns.values():
        convert_and_compare(docs[:64])


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

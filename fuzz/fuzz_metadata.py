"""Fuzz the header decoders and metadata parsing (spec/archive.md §3).

The first byte picks the target; the rest is its input: 0 a metadata string
(Extended JSON), 1 a collection entry document, 2 a namespace header, 3 the
archive header.

    python fuzz/fuzz_metadata.py fuzz/corpus/metadata -dict=fuzz/archive.dict
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from mongoarchive._rules import (
        decode_archive_header,
        decode_collection_entry,
        decode_namespace_header,
    )
    from mongoarchive.errors import MongoArchiveError
    from mongoarchive.model import CollectionEntry


def test_one_input(data: bytes) -> None:
    """Decode one header or metadata string; only MongoArchiveError may escape."""
    if not data:
        return
    target, body = data[0] % 4, data[1:]
    try:
        if target == 0:
            text = body.decode("utf-8", "replace")
            CollectionEntry("db", "coll", text).parse_metadata()
        elif target == 1:
            entry, _ = decode_collection_entry(body, 0)
            entry.parse_metadata()
        elif target == 2:
            decode_namespace_header(body, 0)
        else:
            decode_archive_header(body, 0)
    except MongoArchiveError:
        pass


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

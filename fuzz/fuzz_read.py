"""Fuzz the reader end to end: open, every event, every document as a dict.

python fuzz/fuzz_read.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import contextlib

import _harness

with _harness.instrumented():
    import mongoarchive
    from mongoarchive.errors import MongoArchiveError


def test_one_input(data: bytes) -> None:
    """Read every event; only MongoArchiveError may escape."""
    try:
        with mongoarchive.open(_harness.stream(data)) as archive:
            for _ in archive.events():
                pass
    except MongoArchiveError:
        pass
    # The same bytes through the dict path: each document is decoded by bson.
    try:
        with mongoarchive.open(_harness.stream(data)) as archive:
            for entry in archive.collections:
                with contextlib.suppress(MongoArchiveError):
                    entry.parse_metadata()
            for _ in archive.documents("dict"):
                pass
    except MongoArchiveError:
        pass


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

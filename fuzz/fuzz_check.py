"""Fuzz ``check_archive`` and cross-check it against the reader.

``check_archive`` may raise nothing but ArchiveIOError; whenever the reader
rejects the bytes, check must report at least one error, and the reader's
error (its code and offset) must be among the problems it lists
(spec/archive.md §7).  Every unchecked byte range must lie inside the input.

    python fuzz/fuzz_check.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    import mongoarchive
    from mongoarchive.checker import check_archive
    from mongoarchive.errors import ArchiveIOError, MongoArchiveError


def reader_error(data: bytes) -> MongoArchiveError | None:
    """The reader's error on ``data``, or None if it reads the whole archive."""
    try:
        with mongoarchive.open(_harness.stream(data)) as archive:
            archive.validate()
    except MongoArchiveError as exc:
        return exc
    return None


def test_one_input(data: bytes) -> None:
    """Raise AssertionError (or any non-library exception) on a finding."""
    try:
        result = check_archive(_harness.stream(data), max_problems=50)
    except ArchiveIOError:
        return
    result.to_dict()
    for start, end in result.unchecked:
        assert 0 <= start <= result.size, (start, result.size)
        assert end is None or start <= end <= result.size, (start, end, result.size)
    exc = reader_error(data)
    if exc is None:
        return
    assert result.errors, f"the reader fails ({exc}) but check reports no error"
    if not result.truncated_report:
        found = {(p.code, p.offset) for p in result.errors}
        # check looks for the magic further on and names that "data-before-magic".
        codes = {exc.code, "data-before-magic"} if exc.code == "bad-magic" else {exc.code}
        assert any((code, exc.offset) in found for code in codes), (
            f"check misses the reader's error {exc.code}@{exc.offset}: {found}"
        )


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

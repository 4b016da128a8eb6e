"""Differential fuzzing: the construct reference reader and the fast reader must agree.

Both read the same plain (uncompressed) bytes.  If one succeeds the other
must too, with the same header, collections, events, summaries and warnings;
if one fails the other must fail with the same error class, code, offset and
namespace (spec/archive.md §7).  A disagreement raises AssertionError.

    python fuzz/fuzz_differential.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

from typing import Any

import _harness

with _harness.instrumented():
    import mongoarchive
    from mongoarchive._reference import read_reference
    from mongoarchive.errors import MongoArchiveError


def _outcome_error(exc: MongoArchiveError) -> tuple[Any, ...]:
    return ("error", type(exc).__name__, exc.code, exc.offset, exc.namespace)


def fast(data: bytes) -> tuple[Any, ...]:
    """The fast path's outcome: the whole result, or the identity of its error."""
    try:
        with mongoarchive.open(_harness.stream(data), "r:") as archive:
            events = list(archive.events())
            summaries = {ns: s.to_dict() for ns, s in archive.namespaces.items()}
            return ("ok", archive.header, archive.collections, events, summaries, archive.warnings)
    except MongoArchiveError as exc:
        return _outcome_error(exc)


def reference(data: bytes) -> tuple[Any, ...]:
    """The construct reader's outcome, in the same shape as ``fast``."""
    try:
        header, collections, events, summaries, warnings = read_reference(data)
    except MongoArchiveError as exc:
        if exc.code.startswith("reference-"):
            raise AssertionError(f"the reference reader failed internally: {exc}") from exc
        return _outcome_error(exc)
    return ("ok", header, collections, events, {ns: s.to_dict() for ns, s in summaries.items()}, warnings)


def test_one_input(data: bytes) -> None:
    """Raise AssertionError when the two readers disagree on ``data``."""
    a, b = fast(data), reference(data)
    if a != b:
        raise AssertionError(f"readers disagree on {len(data)} bytes:\n fast:      {a!r}\n reference: {b!r}")


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

"""Fuzz the compiled per-document loops against the pure ones (mongoarchive/_hot.py).

On each input: ``scan_run``, ``scan_last`` and ``split_run`` of both at the
first 256 positions and at positions taken from the input, then reading,
checking and salvaging the input as an archive with each implementation.  A
finding is any difference (results, errors, offsets), an exception the pure
loops do not raise, or a crash.  Without the C extension only the pure loops
run (and must raise nothing but ValueError).

    python fuzz/fuzz_hot_twin.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import io
import struct
from typing import Any

import _harness

with _harness.instrumented():
    import mongoarchive
    from mongoarchive import _hot, _hotpath
    from mongoarchive.checker import check_archive
    from mongoarchive.errors import MongoArchiveError
    from mongoarchive.salvage import salvage

    try:
        from mongoarchive import _hot_c
    except ImportError:
        _hot_c = None  # type: ignore[assignment]

NAMES = ("scan_run", "scan_last", "split_run")


def call(module: Any, name: str, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", getattr(module, name)(*args)
    except ValueError as exc:  # a position outside the buffer, a run that is not framed
        return "ValueError", str(exc)


def loops(data: bytes) -> None:
    n = len(data)
    # Positions from the input itself reach far and negative values too.
    extra = [struct.unpack_from("<q", data, i)[0] for i in range(0, min(n, 32) - 7, 8)]
    spans = [(pos, n) for pos in range(min(n, 256) + 1)]
    spans += [(a, b) for a in extra for b in (n, *extra)]
    for buf in (data, bytearray(data)):
        for pos, limit in spans:
            for name in NAMES:
                pure = call(_hot, name, buf, pos, limit)
                if _hot_c is not None:
                    assert pure == call(_hot_c, name, buf, pos, limit), (name, pos, limit)


def whole(data: bytes) -> list[Any]:
    out: list[Any] = []
    try:
        with mongoarchive.open(_harness.stream(data)) as archive:
            out.append([(type(e).__name__, e.offset) for e in archive.events()])
    except MongoArchiveError as exc:
        out.append((type(exc).__name__, exc.code, exc.offset, exc.namespace, str(exc)))
    out.append(check_archive(_harness.stream(data), max_problems=50).to_dict())
    sink = io.BytesIO()
    try:
        out.append((salvage(_harness.stream(data), sink, gzip=False).to_dict(), sink.getvalue()))
    except MongoArchiveError as exc:
        out.append((type(exc).__name__, exc.code, exc.offset, str(exc)))
    return out


def test_one_input(data: bytes) -> None:
    """Raise AssertionError (or any non-library exception) on a finding."""
    loops(data)
    if _hot_c is None:
        return
    compiled = whole(data)
    with _hotpath.pure_loops():
        pure = whole(data)
    assert pure == compiled, "the pure and the compiled loops read, check or salvage differently"


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

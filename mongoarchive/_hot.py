"""The per-document loops, in pure Python: the reference for the compiled twin ``_hot_c``.

Spec/archive.md §2: a document starts with its int32 length (5 ..= 16 MiB) and
ends with a NUL byte.  These loops touch each document once and create no
object per document (``split_run`` excepted, whose result is one pair a
document).  ``mongoarchive/_hot_c.c`` does exactly the same, argument checks and
error texts included; ``_hotpath`` picks one at import and
``tests/test_hot_twin.py`` holds them equal.

``buf`` is bytes, a bytearray or a memoryview of bytes.  Positions are ints
(anything with ``__index__``): ``pos`` must lie in ``0..len(buf)`` (ValueError
otherwise), ``limit`` and ``end`` are cut to ``len(buf)``.
"""

from __future__ import annotations

import struct
from operator import index

__all__ = ["scan_last", "scan_run", "split_run"]

Buffer = bytes | bytearray | memoryview

_unpack_int32 = struct.Struct("<i").unpack_from
#: The range of a document's length, and the bound of a document (§2).
MIN_SIZE = 5
MAX_SIZE = 16777216


def _span(buf: Buffer, pos: int, limit: int) -> tuple[int, int]:
    """``pos`` checked against the buffer and ``limit`` cut to it."""
    pos = index(pos)
    limit = index(limit)
    size = len(buf)
    if pos < 0 or pos > size:
        raise ValueError("pos is outside the buffer")
    return pos, min(limit, size)


def scan_run(buf: Buffer, pos: int, limit: int) -> tuple[int, int]:
    """Skip complete, NUL-terminated documents in buf[pos:limit]; return (end, count)."""
    pos, limit = _span(buf, pos, limit)
    unpack_from = _unpack_int32
    count = 0
    while pos + 4 <= limit:
        size = unpack_from(buf, pos)[0]
        if size < 5 or size > 16777216:  # MIN_SIZE, MAX_SIZE (§2)
            break
        end = pos + size
        if end > limit or buf[end - 1]:
            break
        pos = end
        count += 1
    return pos, count


def scan_last(buf: Buffer, pos: int, limit: int) -> tuple[int, int, int]:
    """As ``scan_run``, and where the last document starts: (end, count, last).

    ``last`` is ``pos`` when there is no document.  Salvage holds the last
    document of a run back until what follows it is framed (§2).
    """
    pos, limit = _span(buf, pos, limit)
    unpack_from = _unpack_int32
    count = 0
    last = pos
    while pos + 4 <= limit:
        size = unpack_from(buf, pos)[0]
        if size < 5 or size > 16777216:  # MIN_SIZE, MAX_SIZE (§2)
            break
        end = pos + size
        if end > limit or buf[end - 1]:
            break
        last = pos
        pos = end
        count += 1
    return pos, count, last


def split_run(buf: Buffer, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each document of buf[start:end], a run ``scan_run`` already framed.

    A length that leaves the run or the 5 ..= 16 MiB range raises ValueError
    (the run was not framed): never a loop that does not advance.
    """
    start, end = _span(buf, start, end)
    unpack_from = _unpack_int32
    out = []
    while start < end:
        if end - start < 4:
            raise ValueError(f"the run is not framed at position {start}")
        size = unpack_from(buf, start)[0]
        if size < 5 or size > 16777216 or size > end - start:
            raise ValueError(f"the run is not framed at position {start}")
        out.append((start, start + size))
        start += size
    return out

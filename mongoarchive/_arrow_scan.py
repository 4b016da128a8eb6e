"""The fast scans of a batch of BSON documents before pymongoarrow, in pure Python.

``check`` names the documents that must take the careful path
(``_arrow_fit.misfits``) because some value might not come through
pymongoarrow intact; every other document goes to pymongoarrow as it is.
``shapes`` names the first document of each distinct shape (keys, types,
binary subtypes, nesting), the only documents schema inference needs.

Both are conservative: bytes they do not understand send the document to the
careful path (or to inference), where the precise error is raised.  The
compiled twin ``_arrow_c`` (mongoarchive/_arrow_c.c) gives the same results
(tests/test_arrow_scan.py); ``check`` and ``shapes`` below are the compiled
ones when the extension is built and ``MONGOARCHIVE_PURE`` is not set.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable

__all__ = ["IMPLEMENTATION", "check", "pure_check", "pure_shapes", "shapes"]

_MIN_SIZE = 5
_MAX_SIZE = 16777216  # spec/archive.md §2
_MAX_DEPTH = 200
_unpack_int = struct.Struct("<i").unpack_from
_unpack_double = struct.Struct("<d").unpack_from
_FIXED = {0x01: 8, 0x09: 8, 0x11: 8, 0x12: 8, 0x07: 12, 0x08: 1, 0x10: 4, 0x13: 16, 0x06: 0, 0x0A: 0}
_FIXED.update({0xFF: 0, 0x7F: 0})
# Kind numbers of _arrow_schema.program.
_INT32, _INT64, _DOUBLE, _STRING, _BOOL, _OBJECTID, _DATE, _DECIMAL = range(1, 9)
_BINARY, _CODE, _STRUCT, _LIST, _JSON, _NULL = range(9, 15)
_SIMPLE = {
    _INT32: (0x10,), _INT64: (0x10, 0x12), _STRING: (0x02,), _BOOL: (0x08,), _OBJECTID: (0x07,),
    _DATE: (0x09,), _DECIMAL: (0x13,), _CODE: (0x0D,),
}  # fmt: skip


class _Bad(Exception):
    """Bytes the scan does not understand."""


# A parsed program node: (kind, subtype, children {key: node} or None, item node or None).
_Node = tuple[int, int, "dict[bytes, _Node] | None", "_Node | None"]


def _parse(p: bytes, pos: int, depth: int) -> tuple[_Node, int]:
    if pos >= len(p) or depth > _MAX_DEPTH:
        raise ValueError("not a column program")
    kind = p[pos]
    pos += 1
    if not _INT32 <= kind <= _NULL:
        raise ValueError("not a column program")
    if kind == _BINARY:
        if pos >= len(p):
            raise ValueError("not a column program")
        return (kind, p[pos], None, None), pos + 1
    if kind == _STRUCT:
        if len(p) - pos < 2:
            raise ValueError("not a column program")
        (count,) = struct.unpack_from("<H", p, pos)
        pos += 2
        children: dict[bytes, _Node] = {}
        for _ in range(count):
            if len(p) - pos < 2:
                raise ValueError("not a column program")
            (size,) = struct.unpack_from("<H", p, pos)
            pos += 2
            if len(p) - pos < size:
                raise ValueError("not a column program")
            key = p[pos : pos + size]
            child, pos = _parse(p, pos + size, depth + 1)
            children.setdefault(key, child)  # a key twice: the first wins, as in C's search
        return (kind, 0, children, None), pos
    if kind == _LIST:
        item, pos = _parse(p, pos, depth + 1)
        return (kind, 0, None, item), pos
    return (kind, 0, None, None), pos


def _value_end(b: bytes, t: int, s: int, end: int) -> int:
    """Where the value of type ``t`` at ``s`` ends; _Bad unless it lies within [s, end]."""
    room = end - s
    n = _FIXED.get(t)
    if n is None:
        if t in (0x02, 0x0D, 0x0E, 0x03, 0x04, 0x0F, 0x05, 0x0C):
            if room < (5 if t == 0x05 else 4):
                raise _Bad
            n = _unpack_int(b, s)[0]
            if t in (0x02, 0x0D, 0x0E):
                if n < 1 or n > room - 4:
                    raise _Bad
                n += 4
            elif t == 0x05:
                if n < 0 or n > room - 5:
                    raise _Bad
                n += 5
            elif t == 0x0C:
                if n < 1 or n > room - 16:
                    raise _Bad
                n += 16
            elif n < _MIN_SIZE:
                raise _Bad
        elif t == 0x0B:
            a = b.find(b"\x00", s, end)
            c = b.find(b"\x00", a + 1, end) if a >= 0 else -1
            if c < 0:
                raise _Bad
            return c + 1
        else:
            raise _Bad
    if n > room:
        raise _Bad
    return s + n


def _element(b: bytes, pos: int, end: int) -> tuple[int, bytes, int, int]:
    t = b[pos]
    nul = b.find(b"\x00", pos + 1, end)
    if nul < 0:
        raise _Bad
    return t, b[pos + 1 : nul], nul + 1, _value_end(b, t, nul + 1, end)


def _fits(node: _Node, b: bytes, t: int, s: int, e: int) -> bool:
    if t == 0x0A:
        return True
    kind = node[0]
    simple = _SIMPLE.get(kind)
    if simple is not None:
        return t in simple
    if kind == _DOUBLE:
        return t == 0x10 or (t == 0x01 and not math.isnan(_unpack_double(b, s)[0]))
    if kind == _BINARY:
        return t == 0x05 and b[s + 4] == node[1]
    if kind == _STRUCT:
        return t == 0x03 and _fits_container(node, b, s, e)
    if kind == _LIST:
        return t == 0x04 and _fits_container(node, b, s, e)
    return False


def _fits_container(node: _Node, b: bytes, s: int, e: int) -> bool:
    if e - s < _MIN_SIZE or b[e - 1] != 0:
        return False
    end = e - 1
    pos = s + 4
    children = node[2]
    seen: set[bytes] = set()
    filled = False
    while pos < end:
        t, key, vs, ve = _element(b, pos, end)
        if children is not None:
            child = children.get(key)
            if child is None or key in seen:
                return False
            seen.add(key)
            if t != 0x0A:
                if not _fits(child, b, t, vs, ve):
                    return False
                filled = True
        elif t != 0x0A:
            assert node[3] is not None
            if not _fits(node[3], b, t, vs, ve):
                return False
        pos = ve
    return pos == end and (children is None or filled)


def _document_fits(top: dict[bytes, _Node], b: bytes, start: int, size: int) -> bool:
    end = start + size - 1
    pos = start + 4
    seen: set[bytes] = set()
    try:
        while pos < end:
            t, key, vs, ve = _element(b, pos, end)
            node = top.get(key)
            if node is None or key in seen:
                return False
            seen.add(key)
            kind = node[0]
            if kind == _JSON:
                return False  # its cell is Extended JSON text, written in Python
            if kind == _NULL:
                if t != 0x0A:
                    return False
            elif not _fits(node, b, t, vs, ve):
                return False
            pos = ve
    except _Bad:
        return False
    return pos == end


def _framed(b: bytes, pos: int) -> int:
    if len(b) - pos < 4:
        raise ValueError(f"no complete document at byte {pos} of the batch")
    size = int(_unpack_int(b, pos)[0])
    if size < _MIN_SIZE or size > _MAX_SIZE or size > len(b) - pos or b[pos + size - 1] != 0:
        raise ValueError(f"no complete document at byte {pos} of the batch")
    return size


def pure_check(buf: bytes, program: bytes) -> tuple[int, list[int], list[int]]:
    """(documents in ``buf``, their rows and byte offsets that need the careful path).

    ``buf`` is BSON documents back to back; ``program`` is
    ``_arrow_schema.program(columns)``.  ValueError if ``buf`` does not split
    into documents (spec/archive.md §2) or ``program`` is not one.
    """
    b = bytes(buf)
    top, end = _parse(bytes(program), 0, 1)
    if top[0] != _STRUCT or end != len(program):
        raise ValueError("not a column program")
    assert top[2] is not None
    rows: list[int] = []
    offsets: list[int] = []
    pos = count = 0
    while pos < len(b):
        size = _framed(b, pos)
        if not _document_fits(top[2], b, pos, size):
            rows.append(count)
            offsets.append(pos)
        pos += size
        count += 1
    return count, rows, offsets


def _shape(b: bytes, s: int, e: int, array: bool, out: bytearray, depth: int) -> None:
    if depth > _MAX_DEPTH or e - s < _MIN_SIZE or b[e - 1] != 0 or _unpack_int(b, s)[0] != e - s:
        raise _Bad
    end = e - 1
    pos = s + 4
    prev = -1
    while pos < end:
        t, key, vs, ve = _element(b, pos, end)
        here = len(out)
        out.append(t)
        if not array:
            out += key + b"\x00"
        if t == 0x05:
            out.append(b[vs + 4])
        elif t in (0x03, 0x04):
            _shape(b, vs, ve, t == 0x04, out, depth + 1)
            out.append(0xFE)
        if array:
            # Consecutive items of one shape are written once (inference takes a set of types).
            if prev >= 0 and out[prev:here] == out[here:]:
                del out[here:]
            else:
                prev = here
        pos = ve
    if pos != end:
        raise _Bad


def pure_shapes(buf: bytes) -> list[int]:
    """Byte offsets in ``buf`` of the first document of each distinct shape, in order.

    A document the scan cannot read is listed too (inference then raises the
    precise error).  ValueError if ``buf`` does not split into documents.
    """
    b = bytes(buf)
    seen: set[bytes] = set()
    firsts: list[int] = []
    pos = 0
    while pos < len(b):
        size = _framed(b, pos)
        out = bytearray()
        try:
            _shape(b, pos, pos + size, False, out, 0)
        except _Bad:
            firsts.append(pos)
        else:
            key = bytes(out)
            if key not in seen:
                seen.add(key)
                firsts.append(pos)
        pos += size
    return firsts


check: Callable[[bytes, bytes], tuple[int, list[int], list[int]]] = pure_check
shapes: Callable[[bytes], list[int]] = pure_shapes
#: "c" or "pure": which implementation ``check`` and ``shapes`` are.
IMPLEMENTATION = "pure"

if os.environ.get("MONGOARCHIVE_PURE", "") in ("", "0"):
    try:
        from . import _arrow_c
    except ImportError:  # built without a compiler: the pure scans stay
        pass
    else:
        check = _arrow_c.check
        shapes = _arrow_c.shapes
        IMPLEMENTATION = "c"

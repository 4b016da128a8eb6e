"""The careful path before pymongoarrow: which fields of a document would not come through intact.

pymongoarrow (MongoDB's own BSON-to-Arrow converter, in C) loses data on its
own in a few ways: a field not in the schema is skipped, a value of another
type becomes null, a double is truncated into an integer column, NaN becomes
null, and some BSON types have no builder.  ``misfits`` walks a document
against the namespace's columns (no decoding) and names every top-level field
that would not come through intact; the converter takes those out of the bytes
given to pymongoarrow and keeps them, as canonical Extended JSON, in the
``_extra`` column.  Only the documents ``_arrow_scan.check`` sends here take
this path (all of them in the pure-Python build).
"""

from __future__ import annotations

import math
import struct

import bson
from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS

from ._arrow_schema import TAKES, Node
from ._bsonwalk import FIXED_SIZES as _FIXED_SIZES
from ._bsonwalk import elements, value_end

__all__ = ["element_doc", "misfits", "to_json"]

_unpack_double = struct.Struct("<d").unpack_from
_unpack_int = struct.Struct("<i").unpack_from


def _fits(node: Node, buf: bytes, kind: int, vstart: int, vend: int) -> bool:
    """True if pymongoarrow turns this value into ``node``'s column exactly."""
    if kind == 0x0A or node.kind == "json":
        return True
    if kind not in TAKES[node.kind]:
        return False
    if kind == 0x01:
        return not math.isnan(_unpack_double(buf, vstart)[0])  # pymongoarrow writes NaN as null
    if kind == 0x05:
        return buf[vstart + 4] == node.subtype
    if kind == 0x03:
        children = node.children or {}
        seen: set[bytes] = set()
        filled = False  # an embedded document with no value would read back as a null struct
        end = vstart + _unpack_int(buf, vstart)[0] - 1
        pos = vstart + 4
        index = buf.index
        # The walk of _bsonwalk.elements, inlined: this runs for every embedded document.
        while pos < end:
            k = buf[pos]
            nul = index(b"\x00", pos + 1, end)
            key = buf[pos + 1 : nul]
            s = nul + 1
            size = _FIXED_SIZES.get(k)
            e = s + size if size is not None else value_end(buf, k, s)
            child = children.get(key)
            if e > end or e < s or child is None or key in seen:
                return False
            if k != 0x0A:
                takes = child.takes
                if takes is None:
                    if not _fits(child, buf, k, s, e):
                        return False
                elif k not in takes:
                    return False
                filled = True
            seen.add(key)
            pos = e
        return filled and bool(pos == end)
    if kind == 0x04:
        item = node.item
        assert item is not None
        end = vstart + _unpack_int(buf, vstart)[0] - 1
        pos = vstart + 4
        index = buf.index
        takes = item.takes
        while pos < end:
            k = buf[pos]
            s = index(b"\x00", pos + 1, end) + 1
            size = _FIXED_SIZES.get(k)
            e = s + size if size is not None else value_end(buf, k, s)
            if e > end or e < s:
                return False
            if k != 0x0A:
                if takes is None:
                    if not _fits(item, buf, k, s, e):
                        return False
                elif k not in takes:
                    return False
            pos = e
        return bool(pos == end)
    return True


def element_doc(parts: list[bytes]) -> bytes:
    body = b"".join(parts)
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def to_json(raw: bytes) -> str:
    return json_util.dumps(bson.decode(raw), json_options=CANONICAL_JSON_OPTIONS)



def misfits(
    raw: bytes,
    columns: dict[bytes, Node],
    native: dict[bytes, Node],
    quick: dict[bytes, frozenset[int]],
    json_cols: dict[bytes, list[str | None]],
    row: int,
) -> tuple[list[bytes], list[bytes]] | None:
    """None if ``raw`` goes to pymongoarrow as it is, else (elements kept, elements for _extra).

    The cells of ``json`` columns are written into ``json_cols[key][row]``.
    The walk is inlined (no generator, no call for scalar columns): in the
    pure-Python build it runs for every document.
    """
    end = _unpack_int(raw, 0)[0] - 1
    pos = 4
    index = raw.index
    seen: set[bytes] = set()
    odd: list[tuple[int, int]] = []
    hidden = False  # a field pymongoarrow must not see, though it has its column
    while pos < end:
        kind = raw[pos]
        nul = index(b"\x00", pos + 1, end)
        key = raw[pos + 1 : nul]
        s = nul + 1
        size = _FIXED_SIZES.get(kind)
        e = s + size if size is not None else value_end(raw, kind, s)
        if e > end:
            raise ValueError(f"the value of {key!r} runs past its document")
        takes = quick.get(key)
        if key in seen:
            odd.append((pos, e))
        elif takes is not None and (kind in takes or kind == 0x0A) and kind != 0x01:
            pass  # the common case: a scalar of its column's type
        else:
            node = columns.get(key)
            if node is None or not _fits(node, raw, kind, s, e):
                odd.append((pos, e))
            elif node.kind == "json":
                json_cols[key][row] = to_json(element_doc([bytes([kind]), b"v\x00", raw[s:e]]))[6:-1]
                # pymongoarrow reads a key "a.b" as the path a -> b: such a key must not reach it.
                hidden = hidden or b"." in key or b"[" in key
            elif node.kind == "null" and kind != 0x0A:
                odd.append((pos, e))
        seen.add(key)
        pos = e
    if pos != end:
        raise ValueError("elements overrun the document")
    if not odd and not hidden:
        return None
    bad = {a for a, _ in odd}
    kept: list[bytes] = []
    for _, key, s, e in elements(raw):
        at = s - len(key) - 2
        if at not in bad and key in native:
            kept.append(raw[at:e])
    return kept, [raw[a:b] for a, b in odd]


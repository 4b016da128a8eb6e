"""Strategies for BSON values and documents of every type (spec/archive.md §2)."""

from __future__ import annotations

import struct
from typing import Any

import bson
from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from hypothesis import strategies as st

__all__ = ["bson_documents", "bson_values", "documents", "values"]

# Any Unicode text except NUL (a C string terminator in BSON) and lone surrogates (not UTF-8).
TEXT_CHARS = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
_keys = st.text(TEXT_CHARS, max_size=6)

_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(TEXT_CHARS, max_size=10),
    st.binary(min_size=12, max_size=12).map(ObjectId),
    st.integers(-(10**20), 10**20).map(lambda n: Decimal128(str(n))),
    st.sampled_from(["NaN", "-Infinity", "1.5E+10", "-0.000001", "0E-6176"]).map(Decimal128),
    st.builds(Binary, st.binary(max_size=16), st.sampled_from([0, 1, 2, 3, 5, 6, 128])),
    st.binary(min_size=16, max_size=16).map(lambda b: Binary(b, 4)),  # a UUID
    st.builds(Regex, st.text(TEXT_CHARS, max_size=6), st.sampled_from(["", "i", "ms", "imsux"])),
    st.builds(Code, st.text(TEXT_CHARS, max_size=8)),
    st.builds(Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.just(MinKey()),
    st.just(MaxKey()),
    st.builds(DBRef, st.text(TEXT_CHARS, min_size=1, max_size=8), st.integers(0, 1000)),
    st.integers(-(2**63), 2**63 - 1).map(DatetimeMS),
)


def values(max_depth: int = 2, max_items: int = 3) -> st.SearchStrategy[Any]:
    """BSON values as pymongo decodes them, nested in documents and arrays at most ``max_depth`` deep."""
    if max_depth <= 0:
        return _scalars
    inner = values(max_depth - 1, max_items)
    return st.one_of(
        _scalars,
        st.lists(inner, max_size=max_items),
        st.dictionaries(_keys, inner, max_size=max_items),
        st.builds(Code, st.text(TEXT_CHARS, max_size=4), st.dictionaries(_keys, inner, max_size=2)),
    )


def _cstring(text: str) -> bytes:
    return text.encode("utf-8") + b"\x00"


def _legacy_element(kind: str, key: str, text: str, oid: bytes) -> bytes:
    """A deprecated element pymongo cannot encode: undefined, symbol or DBPointer (§2)."""
    body = text.encode("utf-8") + b"\x00"
    string = struct.pack("<i", len(body)) + body
    if kind == "undefined":
        return b"\x06" + _cstring(key)
    if kind == "symbol":
        return b"\x0e" + _cstring(key) + string
    return b"\x0c" + _cstring(key) + string + oid


@st.composite
def documents(
    draw: st.DrawFn,
    *,
    max_keys: int = 4,
    max_depth: int = 2,
    max_bytes: int | None = None,
    legacy: bool = True,
) -> bytes:
    """One BSON document as raw bytes: every type, ``max_depth`` levels, at most ``max_bytes`` long.

    ``legacy`` adds, now and then, the deprecated undefined, symbol and DBPointer
    elements old servers still hold, built by hand since pymongo never encodes them.
    """
    doc = draw(st.dictionaries(_keys, values(max_depth, 3), max_size=max_keys))
    limit = max(5, max_bytes) if max_bytes is not None else None
    raw = bson.encode(doc)
    while limit is not None and len(raw) > limit:
        doc.pop(next(reversed(doc)))  # drop the last field until it fits; {} is 5 bytes
        raw = bson.encode(doc)
    if legacy and draw(st.integers(0, 7)) == 0:
        kind = draw(st.sampled_from(["undefined", "symbol", "dbpointer"]))
        key = draw(_keys.filter(lambda k: k not in doc))
        text = draw(st.text(TEXT_CHARS, max_size=6))
        element = _legacy_element(kind, key, text, draw(st.binary(min_size=12, max_size=12)))
        body = raw[4:-1] + element
        if limit is None or len(body) + 5 <= limit:
            raw = struct.pack("<i", len(body) + 5) + body + b"\x00"
    return raw


#: Small BSON documents as raw bytes (the default bounds of ``documents()``).
bson_documents: st.SearchStrategy[bytes] = documents()
#: Every BSON value the tools meet (the default bounds of ``values()``).
bson_values: st.SearchStrategy[Any] = values()

"""The test suite's strategies and helpers: those of mongoarchive.testing (docs/testing.md)."""

from __future__ import annotations

import functools

from hypothesis import strategies as st

from mongoarchive.testing import (
    ArchiveModel,
    Op,
    bson_documents,
    bson_values,
    expected_documents,
    expected_events,
    names,
    read_all,
    strip_offsets,
    write_model,
)
from mongoarchive.testing import archive_models as _archive_models

# The suite's older properties predate timeseries and tolerated forms in the models, and
# build longer names from these short ones: they keep the narrower shapes.
archive_models = functools.partial(_archive_models, timeseries=False, tolerated=False, bare_eof=False)
_chars = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00$")
collection_names = st.text(_chars, min_size=1, max_size=8)
db_names = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters='\x00/\\. "$'), min_size=1, max_size=8
)

__all__ = [
    "ArchiveModel",
    "Op",
    "archive_models",
    "bson_documents",
    "bson_values",
    "collection_names",
    "db_names",
    "expected_documents",
    "expected_events",
    "mutations",
    "names",
    "read_all",
    "strip_offsets",
    "write_model",
]


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a random damage: byte flips, a truncation, an insertion or a deletion."""
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "length"]))
    n = len(data)
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, n - 1))
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    if kind == "truncate":
        return data[: draw(st.integers(0, n - 1))]
    if kind == "insert":
        i = draw(st.integers(0, n))
        return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]
    if kind == "delete":
        i = draw(st.integers(0, n - 1))
        return data[:i] + data[i + draw(st.integers(1, 8)) :]
    # Overwrite 4 bytes with an interesting int32 (a length field or a terminator).
    i = draw(st.integers(0, max(0, n - 4)))
    value = draw(st.sampled_from([-1, 0, 4, 5, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1, -2, 2**31 - 1]))
    return data[:i] + value.to_bytes(4, "little", signed=True) + data[i + 4 :]

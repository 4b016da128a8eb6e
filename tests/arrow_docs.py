"""Documents that stress the Arrow export: their fields change type from one document to the next.

int32, int64 at its extremes, doubles with NaN, -0.0 and infinities, nested
documents and arrays of mixed items, binary subtypes, Decimal128 specials,
types without an Arrow builder.  Shared by tests/test_export_roundtrip.py and
tests/test_arrow_scan.py.
"""

from __future__ import annotations

import datetime

from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from hypothesis import strategies as st

__all__ = ["KEYS", "documents", "values"]

KEYS = ["a", "b", "c", "_id", "a.b", "t"]

_scalars = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([-(2**63), 2**63 - 1, 0, -1, 2**31, -(2**31) - 1]).map(Int64),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, 0.0, float("nan"), 1e308, 5e-324]),
    st.text(max_size=4),
    st.booleans(),
    st.none(),
    st.builds(Binary, st.binary(max_size=4), st.sampled_from([0, 4, 5, 128])),
    st.sampled_from(["1.10", "NaN", "-0", "1E+300", "-Infinity"]).map(Decimal128),
    st.datetimes(datetime.datetime(1900, 1, 1), datetime.datetime(2200, 1, 1)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    ),
    st.binary(min_size=12, max_size=12).map(ObjectId),
    st.sampled_from([Code("f()"), Regex("^a", "i"), Timestamp(5, 1), MinKey(), MaxKey()]),
)

values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
        st.lists(inner, max_size=3),
    ),
    max_leaves=8,
)

documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)

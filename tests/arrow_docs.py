"""Documents that stress the Arrow export, and the check that a row gives its document back.

Shared by tests/test_export_roundtrip.py, tests/test_arrow_scan.py and
fuzz/fuzz_export.py: a strategy of BSON documents whose fields change type
from one document to the next (int32, int64 at its extremes, doubles with NaN
and -0.0, nested documents and arrays, binary subtypes...), the rebuilding of
a document from its row (columns turned back into BSON values, plus
``_extra``), and the comparison, which lets only the documented widenings
through (int32 in an int64 or double column, docs/export.md "Types").
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp, json_util
from hypothesis import strategies as st

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


def rebuild(row: dict[str, Any], schema: Any) -> dict[str, Any]:
    """The document a row stands for."""

    def back(value: Any, field: Any) -> Any:
        if value is None:
            return None
        kind = (field.metadata or {}).get(b"bson_kind", b"").decode()
        if kind == "objectId":
            return ObjectId(value)
        if kind == "decimal":
            return Decimal128(value)
        if kind == "binary":
            return Binary(value, int(field.metadata[b"bson_subtype"]))
        if kind == "json":
            return json_util.loads('{"v": ' + value + "}")["v"]
        if kind == "code":
            return Code(value)
        if kind == "int64":
            return Int64(value)
        if kind == "struct":
            return {f.name: back(value[f.name], f) for f in field.type if value[f.name] is not None}
        if kind == "list":
            return [back(v, field.type.value_field) for v in value]
        return value

    doc = {}
    for field in schema:
        if field.name == "_extra":
            continue
        value = back(row[field.name], field)
        if value is not None:
            doc[field.name] = value
    if row["_extra"] is not None:
        doc.update(json_util.loads(row["_extra"]))
    return doc


def _canonical(value: Any) -> str:
    return json_util.dumps({"v": value}, json_options=json_util.CANONICAL_JSON_OPTIONS)


def same(original: Any, rebuilt: Any) -> bool:
    """True if ``rebuilt`` is ``original``, but for nulls (Arrow has no missing) and int32 widened."""
    if isinstance(original, dict):
        if not isinstance(rebuilt, dict):
            return False
        a = {k: v for k, v in original.items() if v is not None}
        b = {k: v for k, v in rebuilt.items() if v is not None}
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(original, list):
        return (
            isinstance(rebuilt, list)
            and len(original) == len(rebuilt)
            and all(same(x, y) for x, y in zip(original, rebuilt, strict=True))
        )
    plain_int = type(original) is int
    if plain_int and type(rebuilt) is float:  # an int32 in a double column: exact
        return float(original) == rebuilt and not math.isnan(rebuilt)
    if plain_int and isinstance(rebuilt, Int64):  # an int32 in an int64 column
        return int(rebuilt) == original
    return _canonical(original) == _canonical(rebuilt)

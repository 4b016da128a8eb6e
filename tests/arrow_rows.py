"""A row of an Arrow export turned back into its document, and the comparison with the original.

Used by the export tests (tests/test_export_roundtrip.py) and by
fuzz/fuzz_export.py: the rebuilding of a document from its row (columns
turned back into BSON values, plus ``_extra``), and the comparison, which lets
only the documented widenings through (int32 in an int64 or double column,
docs/export.md "Types") and nulls (Arrow cannot tell a null from a missing field).
"""

from __future__ import annotations

import math
from typing import Any

from bson import Binary, Code, Decimal128, Int64, ObjectId, json_util

__all__ = ["rebuild", "same"]


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

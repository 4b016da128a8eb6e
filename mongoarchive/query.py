"""MongoDB query filters over BSON documents, for ``mongoarchive filter --query``.

The matching itself is montydb's ``QueryFilter`` (an embedded MongoDB
engine in pure Python that follows the server's BSON type rules), chosen
over writing the operators here; mongomock and mongita were weighed too (see
docs/filter.md).  It is an optional dependency: ``pip install
mongoarchive[query]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import bson
from bson import json_util

from .errors import DocumentError, UsageError

__all__ = ["compile_query"]


def compile_query(query: str | Mapping[str, Any]) -> Callable[[bytes], bool]:
    """A predicate on BSON bytes: True if the document matches ``query`` (Extended JSON or a mapping)."""
    try:
        from montydb.engine.queries import QueryFilter
    except ImportError as exc:
        raise UsageError(
            "--query needs montydb, which is not installed",
            hint="pip install 'mongoarchive[query]'",
        ) from exc
    if isinstance(query, str):
        try:
            value = json_util.loads(query)
        except Exception as exc:  # json_util raises ValueError, TypeError, bson errors...
            raise UsageError(f"--query is not valid Extended JSON: {exc}") from exc
    else:
        value = query
    if not isinstance(value, Mapping):
        raise UsageError("--query must be a JSON object", hint='e.g. --query \'{"status": "A"}\'')
    try:
        applies: Callable[[Any], Any] = QueryFilter(_null_ranges(dict(value)))  # unknown operators fail here
        applies({})
    except Exception as exc:
        raise UsageError(f"--query cannot be used: {exc}") from exc

    def matches(raw: bytes) -> bool:
        try:
            doc = bson.decode(raw)
        except Exception as exc:
            raise DocumentError(f"a document is not valid BSON: {exc}", code="bad-bson") from exc
        try:
            return bool(applies(doc))
        except Exception as exc:
            raise UsageError(f"--query cannot be applied to a document: {exc}") from exc

    return matches


def _null_ranges(spec: Any) -> Any:
    """The query with range operators against null spelled as the server reads them.

    MongoDB compares within a type only, and null is its type's only value:
    ``$gte``/``$lte`` null match what ``$eq`` null matches (null or missing),
    ``$gt``/``$lt`` null match nothing.  montydb treats a missing field
    differently, so these four are rewritten before it sees them.
    """
    if isinstance(spec, list):
        return [_null_ranges(item) for item in spec]
    if not isinstance(spec, Mapping):
        return spec
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("$gte", "$lte") and value is None:
            out["$eq"] = None
        elif key in ("$gt", "$lt") and value is None:
            out["$in"] = []
        else:
            out[key] = _null_ranges(value)
    return out

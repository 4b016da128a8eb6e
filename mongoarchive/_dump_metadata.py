"""The metadata string of a collection, byte for byte as mongodump writes it (spec/archive.md §3.2)."""

from __future__ import annotations

import math
import uuid as uuid_module
from collections.abc import Mapping, Sequence
from typing import Any

import bson
from bson import json_util

__all__ = ["metadata_json", "uuid_hex"]


def _go_double(value: float) -> str:
    """A double as Go's canonical Extended JSON writes it (strconv 'G', shortest)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    digits = mantissa.replace("-", "").replace(".", "").lstrip("0") or "0"
    digits = digits.rstrip("0") or "0"
    exponent = int(exp_text) if exp_text else _decimal_exponent(mantissa)
    if exponent < -4 or exponent >= 6:
        # strconv 'G' with the shortest precision decides on an exponent of 6.
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        sign = "-" if value < 0 else ""
        return f"{sign}{head}E{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    # Python's repr is positional for exponents -4..15, so ``mantissa`` is the text.
    return mantissa if "." in mantissa else mantissa + ".0"


def _decimal_exponent(mantissa: str) -> int:
    body = mantissa.lstrip("-")
    whole, _, frac = body.partition(".")
    if whole.strip("0"):
        return len(whole.lstrip("0")) - 1
    stripped = frac.lstrip("0")
    return -(len(frac) - len(stripped) + 1) if stripped else 0


def _prepare(value: Any) -> Any:
    """Turn floats into their Go text so json_util writes the same digits mongodump does."""
    if isinstance(value, float):
        return {"$numberDouble": _go_double(value)}
    if isinstance(value, Mapping):
        return {k: _prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    return value


def metadata_json(
    options: Mapping[str, Any] | None,
    indexes: Sequence[Mapping[str, Any]],
    uuid: str,
    collection_name: str,
    type: str,  # noqa: A002 - the field's name in the format
) -> str:
    """The metadata string exactly as mongodump writes it (§3.2).

    Canonical Extended JSON v2, no spaces, no HTML or non-ASCII escaping; keys
    ``options`` (omitted when empty), ``indexes`` (always), ``uuid`` (hex, omitted
    when unknown), ``collectionName``, ``type`` (omitted when empty).
    """
    doc: dict[str, Any] = {}
    if options:
        doc["options"] = options
    doc["indexes"] = list(indexes)
    if uuid:
        doc["uuid"] = uuid
    doc["collectionName"] = collection_name
    if type:
        doc["type"] = type
    return json_util.dumps(
        _prepare(doc),
        json_options=json_util.CANONICAL_JSON_OPTIONS,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def uuid_hex(info: Mapping[str, Any]) -> str:
    """The collection UUID of a listCollections ``info`` as 32 hex digits, or "" if it has none."""
    value = info.get("uuid")
    if isinstance(value, bson.Binary) and value.subtype in (3, 4) and len(value) == 16:
        return bytes(value).hex()
    if isinstance(value, uuid_module.UUID):
        return value.hex
    return ""

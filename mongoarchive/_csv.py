"""CSV rows as mongoexport writes them (mongo-tools, mongoexport/csv.go).

mongoexport turns each document into its legacy Extended JSON form, then
for each ``--fields`` path (dotted; a number indexes an array): a missing
field or null is an empty cell, a document or an array is its compact
legacy Extended JSON, anything else is Go's ``%v`` of the value.  Cells are
quoted as Go's encoding/csv quotes them: only when a cell holds a comma, a
double quote, CR or LF, starts with a space or tab, or is ``\\.``.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import re
from collections.abc import Callable
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.datetime_ms import DatetimeMS
from bson.int64 import Int64

from ._bsonwalk import bad_bson

__all__ = ["cell", "header", "quote", "row_function"]

_OPTS: CodecOptions[Any] = CodecOptions(tz_aware=True, datetime_conversion=DatetimeConversion.DATETIME_AUTO)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def quote(text: str) -> str:
    """``text`` as one CSV cell, quoted when Go's encoding/csv would quote it."""
    if text == "":
        return text
    if text == "\\." or any(c in text for c in ',"\r\n') or text[0].isspace():
        return '"' + text.replace('"', '""') + '"'
    return text


def header(fields: list[str]) -> str:
    return ",".join(quote(f) for f in fields) + "\n"


def go_float(value: float) -> str:
    """Go's ``%v`` of a float64 (strconv 'g', shortest digits): an exponent below 1e-4 and from 1e6 on."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    mant, _, e = repr(abs(value)).partition("e")
    intpart, _, frac = mant.partition(".")
    frac = "" if frac == "0" else frac
    exp10 = int(e) if e else 0
    # dp: where the decimal point goes after the significant digits
    dp = exp10 - (len(frac) - len(frac.lstrip("0"))) if intpart == "0" else len(intpart) + exp10
    digits = (intpart + frac).lstrip("0").rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    x = dp - 1
    if x < -4 or x >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'+' if x >= 0 else '-'}{abs(x):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _go_json_string(text: str) -> str:
    # Go's encoding/json escapes <, > and & (and U+2028/9) for embedding in HTML.
    out = json.dumps(text, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        out = out.replace(ch, esc)
    return out.replace("\u2029", "\\u2029")


def _iso(value: datetime.datetime | DatetimeMS) -> str | None:
    if isinstance(value, DatetimeMS):
        return None
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


def _ms(value: datetime.datetime | DatetimeMS) -> int:
    if isinstance(value, DatetimeMS):
        return int(value)
    return (value - _EPOCH) // datetime.timedelta(milliseconds=1)


def legacy_json(value: Any) -> str:
    """Compact legacy Extended JSON, as mongo-tools' common/json marshals a converted document."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Int64):
        return f'{{"$numberLong":"{int(value)}"}}'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_json_string(k)}:{legacy_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(legacy_json(v) for v in value) + "]"
    if isinstance(value, bson.ObjectId):
        return f'{{"$oid":"{value}"}}'
    if isinstance(value, (datetime.datetime, DatetimeMS)):
        iso = _iso(value)
        if iso is not None and 1970 <= int(iso[:4]) <= 9999:
            return f'{{"$date":"{iso}"}}'
        return f'{{"$date":{{"$numberLong":"{_ms(value)}"}}}}'
    if isinstance(value, bson.Decimal128):
        return f'{{"$numberDecimal":"{value}"}}'
    if isinstance(value, bytes | bson.Binary):
        subtype = value.subtype if isinstance(value, bson.Binary) else 0
        data = base64.b64encode(bytes(value)).decode()
        return f'{{"$binary":"{data}","$type":"{subtype:02x}"}}'
    if isinstance(value, bson.Regex):
        return f'{{"$regex":{_go_json_string(str(value.pattern))},"$options":"{_flags(value)}"}}'
    if isinstance(value, bson.Timestamp):
        return f'{{"$timestamp":{{"t":{value.time},"i":{value.inc}}}}}'
    if isinstance(value, bson.Code):
        if value.scope is not None:
            return f'{{"$code":{_go_json_string(str(value))},"$scope":{legacy_json(dict(value.scope))}}}'
        return f'{{"$code":{_go_json_string(str(value))}}}'
    if isinstance(value, bson.MinKey):
        return '{"$minKey":1}'
    if isinstance(value, bson.MaxKey):
        return '{"$maxKey":1}'
    if isinstance(value, bson.DBRef):
        return legacy_json(value.as_doc().to_dict())
    return _go_json_string(str(value))  # undefined and DBPointer decode to these in pymongo


def _flags(regex: bson.Regex[Any]) -> str:
    flags = regex.flags if isinstance(regex.flags, int) else 0
    return "".join(ch for ch, bit in zip("ilmsux", (2, 4, 8, 16, 32, 64), strict=True) if flags & bit)


def cell(value: Any) -> str:
    """The text of one CSV cell (before quoting), as mongoexport's ExportDocument writes it."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return legacy_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bson.ObjectId):
        return f"ObjectId({value})"
    if isinstance(value, (datetime.datetime, DatetimeMS)):
        iso = _iso(value)
        return iso if iso is not None else str(_ms(value))
    if isinstance(value, bson.Decimal128):
        return str(value)
    return legacy_json(value)


_MISSING = object()


def _extract(doc: Any, path: list[str]) -> Any:
    value = doc
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        # Go's strconv.Atoi (csv.go, extractFieldByName): an ASCII sign and digits, nothing else.
        elif isinstance(value, list) and re.fullmatch(r"[+-]?[0-9]+", part):
            i = int(part)
            value = value[i] if 0 <= i < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def row_function(fields: list[str]) -> Callable[[bytes], str]:
    """A function turning one BSON document into one CSV line (with its newline)."""
    paths = [f.split(".") for f in fields]

    def row(raw: bytes) -> str:
        try:
            doc = bson.decode(raw, _OPTS)
        except Exception as exc:  # InvalidBSON, UnicodeDecodeError...
            raise bad_bson(str(exc)) from exc
        cells = []
        for path in paths:
            value = _extract(doc, path)
            cells.append("" if value is _MISSING else quote(cell(value)))
        return ",".join(cells) + "\n"

    return row

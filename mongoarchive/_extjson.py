"""BSON documents as Extended JSON lines, fast where python-bsonjs is installed.

``bson.json_util`` decodes every document into Python objects and encodes
them again: 2-4 MB/s on 200-byte documents.  python-bsonjs (libbson, in C)
converts the bytes directly, but formats its text differently
(``{ "a" : 1 }``, doubles with 20 significant digits).  Its output is
therefore passed once through the C ``json`` module, which reformats it into
exactly the text ``json_util`` gives, so the two back ends are
interchangeable (tests/test_cli_cat.py compares them).

Known difference: the deprecated BSON types symbol, undefined and DBPointer
are written by libbson as ``$symbol``/``$undefined``/``$dbPointer`` and by
``json_util`` as a string, null and a ``$ref`` document.

Documents of ``LARGE_TEXT`` characters or more are not parsed into Python
objects (a document of many small values would take ten times its size):
libbson's text is rewritten token by token into the same layout instead, so
such a document needs about three times its size (its bytes, libbson's text,
the line).  Unlike the parsed route, this keeps a repeated key twice, as
libbson and bsondump do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any, Literal

import bson
from bson import json_util
from bson.codec_options import DatetimeConversion

from .errors import MongoArchiveError

__all__ = ["JsonMode", "backend", "converter", "has_bsonjs", "to_json"]

JsonMode = Literal["canonical", "relaxed"]

try:  # pragma: no cover - depends on the environment
    import bsonjs as _bsonjs
except ImportError:  # pragma: no cover
    _bsonjs = None

# DATETIME_AUTO: dates outside Python's datetime range still convert (as $numberLong).
_OPTIONS: dict[str, json_util.JSONOptions] = {
    "canonical": json_util.CANONICAL_JSON_OPTIONS.with_options(
        datetime_conversion=DatetimeConversion.DATETIME_AUTO
    ),
    "relaxed": json_util.RELAXED_JSON_OPTIONS.with_options(
        datetime_conversion=DatetimeConversion.DATETIME_AUTO
    ),
}

# libbson writes canonical doubles with "%.20g"; json_util writes repr(float).
_NUMBER_DOUBLE = re.compile(r'"\$numberDouble" : "([^"]*)"')
_SPECIAL_DOUBLES = {"NaN", "Infinity", "-Infinity"}
_LONG_YEAR = re.compile(r'"\$date" : "[0-9]{5,}-')


#: Texts this long are rewritten by ``_relayout`` instead of parsed (see the module doc).
LARGE_TEXT = 1 << 20
# A JSON string (unrolled: no per-character alternation), or a run of anything else.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^"]+')
# A number that json.loads turns into a float (libbson writes "%.20g" digits).
_FLOAT = re.compile(r"-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+)")
_PIECES_PER_CHUNK = 4096


def _float_repr(match: re.Match[str]) -> str:
    return repr(float(match.group()))


def _relayout(text: str) -> str:
    """libbson's JSON text in the layout ``json.dumps`` gives, without parsing it into objects.

    Outside strings libbson writes only single spaces around ``:`` and inside
    brackets; strings with an escape are decoded and encoded again the way
    ``json`` escapes them, and floats get Python's shortest repr.
    """
    chunks: list[str] = []
    pieces: list[str] = []
    append = pieces.append
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            append(encode_basestring(json.loads(token)) if "\\" in token else token)
        else:
            run = token.replace(" ", "").replace(":", ": ").replace(",", ", ")
            if "." in run or "e" in run or "E" in run:
                run = _FLOAT.sub(_float_repr, run)
            append(run)
        if len(pieces) >= _PIECES_PER_CHUNK:
            chunks.append("".join(pieces))
            pieces.clear()
    chunks.append("".join(pieces))
    return "".join(chunks)


def _double_repr(match: re.Match[str]) -> str:
    text = match.group(1)
    if text not in _SPECIAL_DOUBLES:
        text = repr(float(text))
    return f'"$numberDouble" : "{text}"'


def has_bsonjs() -> bool:
    """True if python-bsonjs (the C converter) is importable."""
    return _bsonjs is not None


def backend() -> str:
    """The converter in use: "bsonjs" or "json_util"."""
    return "bsonjs" if _bsonjs is not None else "json_util"


def _json_util_converter(mode: JsonMode) -> Callable[[bytes], str]:
    options = _OPTIONS[mode]
    decode = bson.decode
    dumps = json_util.dumps

    def convert(raw: bytes) -> str:
        return dumps(decode(raw, options), json_options=options, ensure_ascii=False)

    return convert


def _bsonjs_converter(mode: JsonMode, module: Any) -> Callable[[bytes], str]:
    libbson_dumps = module.dumps
    loads = json.loads
    encode = json.JSONEncoder(ensure_ascii=False).encode
    if mode == "relaxed":
        flag = module.RELAXED
        slow = _json_util_converter(mode)
        long_year = _LONG_YEAR.search

        def convert(raw: bytes) -> str:
            text = libbson_dumps(raw, mode=flag)
            # Relaxed dates after year 9999 must be $numberLong; some libbson versions
            # write a 5-digit ISO year instead: leave those rare documents to json_util.
            if '"$date" : "' in text and long_year(text):
                return slow(raw)
            if len(text) >= LARGE_TEXT:
                return _relayout(text)
            # Drop libbson's text before the line is built: one copy less at the peak.
            value = loads(text)
            del text
            return encode(value)

        return convert

    flag = module.CANONICAL
    fix_doubles = _NUMBER_DOUBLE.sub

    def convert_canonical(raw: bytes) -> str:
        text = libbson_dumps(raw, mode=flag)
        if "$numberDouble" in text:
            text = fix_doubles(_double_repr, text)
        if len(text) >= LARGE_TEXT:
            return _relayout(text)
        value = loads(text)
        del text
        return encode(value)

    return convert_canonical


def converter(mode: JsonMode = "relaxed", *, use_bsonjs: bool | None = None) -> Callable[[bytes], str]:
    """A function turning one BSON document (bytes) into one line of Extended JSON v2.

    ``use_bsonjs``: None picks python-bsonjs when importable; False forces
    ``json_util``; True requires python-bsonjs.  Invalid BSON raises
    MongoArchiveError (code "bad-bson") from the returned function.
    """
    if mode not in _OPTIONS:
        raise MongoArchiveError(
            f"unknown Extended JSON mode {mode!r}: use canonical or relaxed", code="usage"
        )
    if use_bsonjs is None:
        use_bsonjs = _bsonjs is not None
    if use_bsonjs and _bsonjs is None:
        raise MongoArchiveError("python-bsonjs is not installed", code="usage")
    inner = _bsonjs_converter(mode, _bsonjs) if use_bsonjs else _json_util_converter(mode)

    def safe(raw: bytes) -> str:
        try:
            return inner(raw)
        except Exception as exc:  # InvalidBSON, ValueError, UnicodeDecodeError...
            raise MongoArchiveError(
                f"a document cannot be converted to Extended JSON: {exc}",
                code="bad-bson",
                hint="its framing and CRC may be intact while its content is not valid BSON; "
                "use --bson to copy the bytes as they are",
            ) from exc

    return safe


def to_json(raw: bytes, mode: JsonMode = "relaxed") -> str:
    """One document as Extended JSON (convenience wrapper around ``converter``)."""
    return converter(mode)(raw)

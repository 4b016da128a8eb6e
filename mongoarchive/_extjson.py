"""BSON documents as Extended JSON v2 lines, fast where python-bsonjs is installed.

Two back ends.  ``bson.json_util`` decodes every document into Python objects
and encodes them again (``{"a": 1}``).  python-bsonjs (libbson, in C) converts
the bytes directly and its text is written as libbson makes it
(``{ "a" : 1 }``; doubles with 20 significant digits, which read back to the
same double).  The texts differ in layout only: ``bson.json_util.loads``
reads both back to the same values (tests/test_cli_cat.py checks it on every
BSON type and on generated documents), in relaxed and canonical mode.

Exceptions: libbson writes relaxed dates after year 9999 with a five-digit
year, where Extended JSON wants ``$numberLong``; such documents go to
json_util.  The deprecated BSON types symbol, undefined and DBPointer come out
as ``$symbol``/``$undefined``/``$dbPointer`` from libbson and as a string,
null and a ``$ref`` document from json_util, which reads both forms alike.

``lines`` converts a whole framed run of documents at once; it is what the
worker processes of ``_jsonpool`` run.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Any, Literal

import bson
from bson import json_util
from bson.codec_options import DatetimeConversion

from .errors import MongoArchiveError

__all__ = ["JsonMode", "backend", "converter", "has_bsonjs", "lines", "to_json"]

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

#: A relaxed date written by libbson with a year of five digits or more (after 9999).
_LONG_YEAR = re.compile(r'"\$date" : "[0-9]{5,}-')
_LENGTH = struct.Struct("<i").unpack_from
_HINT = (
    "its framing and CRC may be intact while its content is not valid BSON; "
    "use --bson to copy the bytes as they are"
)


def has_bsonjs() -> bool:
    """True if python-bsonjs (the C converter) is importable."""
    return _bsonjs is not None


def backend() -> str:
    """The converter in use: "bsonjs" or "json_util"."""
    return "bsonjs" if _bsonjs is not None else "json_util"


def _check_mode(mode: str) -> None:
    if mode not in _OPTIONS:
        raise MongoArchiveError(
            f"unknown Extended JSON mode {mode!r}: use canonical or relaxed", code="usage"
        )


def _use(use_bsonjs: bool | None) -> bool:
    if use_bsonjs is None:
        return _bsonjs is not None
    if use_bsonjs and _bsonjs is None:
        raise MongoArchiveError("python-bsonjs is not installed", code="usage")
    return use_bsonjs


def _json_util_converter(mode: str) -> Callable[[bytes], str]:
    options = _OPTIONS[mode]
    decode = bson.decode
    dumps = json_util.dumps

    def convert(raw: bytes) -> str:
        return dumps(decode(raw, options), json_options=options, ensure_ascii=False)

    return convert


def _bsonjs_converter(mode: str, module: Any) -> Callable[[bytes], str]:
    libbson_dumps = module.dumps
    if mode == "canonical":
        flag = module.CANONICAL
        return lambda raw: str(libbson_dumps(raw, mode=flag))
    flag = module.RELAXED
    slow = _json_util_converter(mode)
    long_year = _LONG_YEAR.search

    def convert(raw: bytes) -> str:
        text: str = libbson_dumps(raw, mode=flag)
        if '"$date" : "' in text and long_year(text):
            return slow(raw)
        return text

    return convert


def _message(exc: Exception) -> str:
    return f"a document cannot be converted to Extended JSON: {exc}"


def converter(mode: JsonMode = "relaxed", *, use_bsonjs: bool | None = None) -> Callable[[bytes], str]:
    """A function turning one BSON document (bytes) into one line of Extended JSON v2.

    ``use_bsonjs``: None picks python-bsonjs when importable; False forces
    ``json_util``; True requires python-bsonjs.  Invalid BSON raises
    MongoArchiveError (code "bad-bson") from the returned function.
    """
    _check_mode(mode)
    inner = _bsonjs_converter(mode, _bsonjs) if _use(use_bsonjs) else _json_util_converter(mode)

    def safe(raw: bytes) -> str:
        try:
            return inner(raw)
        except Exception as exc:  # InvalidBSON, ValueError, UnicodeDecodeError...
            raise failure(_message(exc)) from exc

    return safe


def to_json(raw: bytes, mode: JsonMode = "relaxed") -> str:
    """One document as Extended JSON (convenience wrapper around ``converter``)."""
    return converter(mode)(raw)


def lines(run: bytes, mode: str, use_bsonjs: bool) -> tuple[bytes, int, str | None]:
    """The documents of a framed ``run`` as UTF-8 lines, each ending in a newline.

    Returns (text, documents converted, None), or on a document that is not
    valid BSON the lines before it, their count and the error message: the
    caller writes what came before the damage, then reports it.  Picklable
    arguments and result: this runs in the worker processes of ``_jsonpool``.
    """
    _check_mode(mode)
    if _use(use_bsonjs):
        text, count, error = _bsonjs_lines(run, mode)
        # Relaxed dates after year 9999 (see the module doc): looked for once per run, not per document.
        if mode == "canonical" or '"$date" : "' not in text or not _LONG_YEAR.search(text):
            return text.encode("utf-8", "surrogateescape"), count, error
    convert = _bsonjs_converter(mode, _bsonjs) if _use(use_bsonjs) else _json_util_converter(mode)
    out: list[str] = []
    append = out.append
    pos, end = 0, len(run)
    error = None
    try:
        while pos < end:
            (size,) = _LENGTH(run, pos)
            append(convert(run[pos : pos + size]))
            pos += size
    except Exception as exc:  # InvalidBSON, ValueError, UnicodeDecodeError...
        error = _message(exc)
    count = len(out)
    out.append("")
    return "\n".join(out).encode("utf-8", "surrogateescape"), count, error


def _bsonjs_lines(run: bytes, mode: str) -> tuple[str, int, str | None]:
    """libbson's text of every document of ``run``, one line each: the hot loop of ``cat``."""
    assert _bsonjs is not None
    dumps = _bsonjs.dumps
    flag = _bsonjs.CANONICAL if mode == "canonical" else _bsonjs.RELAXED
    length = _LENGTH
    out: list[str] = []
    append = out.append
    pos, end = 0, len(run)
    error: str | None = None
    try:
        while pos < end:
            size = length(run, pos)[0]
            append(dumps(run[pos : pos + size], flag))
            pos += size
    except Exception as exc:  # ValueError: invalid BSON
        error = _message(exc)
    count = len(out)
    out.append("")
    return "\n".join(out), count, error


def failure(message: str) -> MongoArchiveError:
    """The error ``lines`` reported, raised again where its text is written."""
    return MongoArchiveError(message, code="bad-bson", hint=_HINT)

"""BSON documents as Extended JSON v2 lines: compiled, else python-bsonjs, else json_util.

``lines`` (the hot loop of ``cat``) first runs the compiled converter
(``_extjson_c``, chosen in ``_hotpath``): one call per run of documents, no
Python object per document, and json_util's own text for every document it
handles.  It stops before any document it does not handle exactly (decimal128
NaN and infinities, the deprecated types, code with scope, old binary, keys starting with ``$``,
invalid UTF-8, anything malformed...); that document alone goes to a reference
back end below, which gives it its text or its error, then the compiled
converter goes on.  So errors, their messages and the count of documents
before them are exactly those of the reference back ends.

Two reference back ends.  ``bson.json_util`` decodes every document into Python objects
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

from . import _hotpath
from .errors import MongoArchiveError

__all__ = ["JsonMode", "backend", "compiled_line", "converter", "has_bsonjs", "lines", "to_json"]

JsonMode = Literal["canonical", "relaxed"]

try:  # pragma: no cover - depends on the environment
    import bsonjs as _bsonjs
except ImportError:  # pragma: no cover
    _bsonjs = None

#: The compiled converter, or None (MONGOARCHIVE_PURE=1, or not built); _hotpath.pure_loops() swaps it.
_c_lines = _hotpath.json_lines()

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
    """The converter in use: "bsonjs" or "json_util", after "c+" when the compiled one runs first."""
    reference = "bsonjs" if _bsonjs is not None else "json_util"
    return reference if _c_lines is None else f"c+{reference}"


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
    if _c_lines is not None:
        return _compiled_lines(_c_lines, run, mode, _use(use_bsonjs))
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


def _compiled_lines(
    compiled: Callable[[bytes, int, bool], tuple[bytes, int, int]], run: bytes, mode: str, use_bsonjs: bool
) -> tuple[bytes, int, str | None]:
    """``lines`` by the compiled converter, each document it leaves converted by the reference one."""
    canonical = mode == "canonical"
    convert: Callable[[bytes], str] | None = None
    parts: list[bytes] = []
    count, pos, end = 0, 0, len(run)
    error = None
    while True:
        text, pos, converted = compiled(run, pos, canonical)
        parts.append(text)
        count += converted
        if pos >= end:
            break
        if convert is None:
            convert = _bsonjs_converter(mode, _bsonjs) if use_bsonjs else _json_util_converter(mode)
        try:  # the reference loop's steps and errors (lines, below)
            (size,) = _LENGTH(run, pos)
            line = convert(run[pos : pos + size])
        except Exception as exc:  # InvalidBSON, ValueError, UnicodeDecodeError...
            error = _message(exc)
            break
        parts.append(line.encode("utf-8", "surrogateescape") + b"\n")
        count += 1
        pos += size
        if pos >= end:
            break
    return (parts[0] if len(parts) == 1 else b"".join(parts)), count, error


def compiled_line(raw: bytes, mode: str) -> bytes | None:
    """One document's line (with its newline) from the compiled converter; None if it does not
    convert this document (or is not running): then ``converter`` must."""
    if _c_lines is None:
        return None
    _check_mode(mode)
    text, stop, converted = _c_lines(raw, 0, mode == "canonical")
    return text if converted == 1 and stop == len(raw) else None


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

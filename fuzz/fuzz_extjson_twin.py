"""Fuzz the compiled Extended JSON converter (mongoarchive/_extjson_c.c) against the reference ones.

On each input: the compiled ``lines`` at the first 256 positions (it must
return, count its lines right and stop on a document boundary), then
``_extjson.lines`` with and without it on the runs that start where the input
holds something shaped like a document (its length fits, its last byte is
NUL), in both modes and with each reference back end.  A finding is a crash,
an exception, a different document count or error message, a converted line
that is not json_util's text, or lines that read back to different values.
Without the C extension only the reference converters run.

    python fuzz/fuzz_extjson_twin.py fuzz/corpus/archive -dict=fuzz/archive.dict
"""

from __future__ import annotations

import struct

import _harness

with _harness.instrumented():
    import bson
    from bson import json_util
    from bson.codec_options import DatetimeConversion

    from mongoarchive import _extjson

    try:
        from mongoarchive import _extjson_c
    except ImportError:
        _extjson_c = None  # type: ignore[assignment]

MODES = ("relaxed", "canonical")
BACKENDS = (False, True) if _extjson.has_bsonjs() else (False,)
LOAD = json_util.JSONOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)
#: Runs compared per input, at most: each costs four conversions by each back end.
MAX_RUNS = 12


def value(line: str) -> bytes | None:
    try:
        return bson.encode(json_util.loads(line, json_options=LOAD))
    except Exception:  # python-bsonjs writes text that is not JSON for some invalid documents
        return None


def same_lines(compiled: bytes, pure: bytes) -> None:
    c_lines = compiled.decode("utf-8", "surrogateescape").split("\n")
    p_lines = pure.decode("utf-8", "surrogateescape").split("\n")
    assert len(c_lines) == len(p_lines), "a different number of lines"
    for c, p in zip(c_lines, p_lines, strict=True):
        expected = value(p)
        assert (c == p) if expected is None else (value(c) == expected), (c, p)


def direct(data: bytes) -> None:
    """The compiled converter alone: returns, and its lines are json_util's, one per document."""
    assert _extjson_c is not None
    for pos in range(min(len(data), 256) + 1):
        for mode in MODES:
            text, stop, count = _extjson_c.lines(data, pos, mode == "canonical")
            assert pos <= stop <= len(data) and text.count(b"\n") == count
            at = pos
            for line in text.split(b"\n")[:-1]:
                size = struct.unpack_from("<i", data, at)[0]
                text_ = line.decode()
                reference = _extjson._json_util_converter(mode)(data[at : at + size])
                # Equal text, or (a key twice in one document: json_util keeps the last) equal values.
                assert text_ == reference or value(text_) == value(reference) is not None
                at += size
            assert at == stop


def starts(data: bytes) -> list[int]:
    """Positions where something shaped like a document starts (length fits, last byte NUL)."""
    out = []
    for pos in range(len(data) - 4):
        size = struct.unpack_from("<i", data, pos)[0]
        if 5 <= size <= len(data) - pos and data[pos + size - 1] == 0:
            out.append(pos)
            if len(out) == MAX_RUNS:
                break
    return out


def test_one_input(data: bytes) -> None:
    """Raise AssertionError (or any other exception) on a finding."""
    if _extjson_c is not None:
        direct(data)
    for pos in starts(data):
        run = data[pos:]
        for mode in MODES:
            for use in BACKENDS:
                saved = _extjson._c_lines
                _extjson._c_lines = None
                try:
                    pure = _extjson.lines(run, mode, use)
                finally:
                    _extjson._c_lines = saved
                if saved is None:
                    continue
                compiled = _extjson.lines(run, mode, use)
                assert compiled[1:] == pure[1:], (pos, mode, use, compiled[1:], pure[1:])
                same_lines(compiled[0], pure[0])


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

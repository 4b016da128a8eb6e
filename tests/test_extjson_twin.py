"""The compiled Extended JSON converter (mongoarchive/_extjson_c.c) against the reference ones.

On every document it converts, its text is json_util's text byte for byte (so
``bson.json_util.loads`` reads back exactly json_util's values); on every run,
``_extjson.lines`` with it gives the same document count and the same error as
without it (python-bsonjs or json_util alone), and text that reads back to the
same values.  Generated documents of every BSON type and edge values, mutated
and hostile runs, every vector through ``cat`` both ways; the compiled
converter must never read outside its buffer (a guard page after the data).
"""

from __future__ import annotations

import decimal
import os
import struct
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import json_util
from bson.binary import Binary
from bson.code import Code
from bson.codec_options import DatetimeConversion
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from cli_helpers import run
from guard_page import run_beside_guard_page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS
from strategies import bson_documents

import mongoarchive
from mongoarchive import _extjson, _hotpath

try:
    from mongoarchive import _extjson_c
except ImportError:
    _extjson_c = None  # type: ignore[assignment]

needs_c = pytest.mark.skipif(
    _extjson._c_lines is None,
    reason="the compiled converter is not running (not built, or MONGOARCHIVE_PURE)",
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ("relaxed", "canonical")
BACKENDS = [False, True] if _extjson.has_bsonjs() else [False]
VECTORS = sorted(
    [*SPEC_VECTORS.rglob("*.archive"), *SHARED_VECTORS.glob("*.archive")]
    if SHARED_VECTORS.is_dir()
    else SPEC_VECTORS.rglob("*.archive")
)
LOAD = json_util.JSONOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)


def reference(raw: bytes, mode: str) -> str:
    """json_util's text of one document (the documented reference)."""
    return _extjson._json_util_converter(mode)(raw)


def values(text: bytes) -> list[bytes]:
    """Each line read back by json_util, as BSON: equal bytes are exactly equal values."""
    assert text == b"" or text.endswith(b"\n")
    return [bson.encode(json_util.loads(line, json_options=LOAD)) for line in text.decode().split("\n")[:-1]]


def _value(line: str) -> bytes | None:
    try:
        return bson.encode(json_util.loads(line, json_options=LOAD))
    except Exception:  # python-bsonjs writes text that is not JSON for some invalid documents
        return None


def assert_same_lines(compiled: bytes, pure: bytes) -> None:
    """Line by line: the same values, or the same text where the reference's line does not read back
    (the compiled converter left that document to the reference, which wrote that line again)."""
    c_lines = compiled.decode("utf-8", "surrogateescape").split("\n")
    p_lines = pure.decode("utf-8", "surrogateescape").split("\n")
    assert len(c_lines) == len(p_lines)
    for c, p in zip(c_lines, p_lines, strict=True):
        expected = _value(p)
        if expected is None:
            assert c == p
        else:
            assert _value(c) == expected


def pure_lines(run: bytes, mode: str, use_bsonjs: bool) -> tuple[bytes, int, str | None]:
    saved = _extjson._c_lines
    _extjson._c_lines = None
    try:
        return _extjson.lines(run, mode, use_bsonjs)
    finally:
        _extjson._c_lines = saved


def assert_twins(run: bytes) -> None:
    """The compiled converter alone, and ``lines`` with and without it, on the run ``run``."""
    assert _extjson_c is not None
    for mode in MODES:
        text, stop, count = _extjson_c.lines(run, 0, mode == "canonical")
        # What it converted is json_util's text, document by document, and stop is where the next starts.
        pos, got = 0, text.split(b"\n")[:-1]
        assert len(got) == count
        for line in got:
            size = struct.unpack_from("<i", run, pos)[0]
            expected = reference(run[pos : pos + size], mode)
            # Equal text, or (a key twice in one document: json_util keeps the last) equal values.
            assert line.decode() == expected or _value(line.decode()) == _value(expected) is not None
            pos += size
        assert stop == pos
        for use in BACKENDS:
            c_text, c_count, c_error = _extjson.lines(run, mode, use)
            p_text, p_count, p_error = pure_lines(run, mode, use)
            assert (c_count, c_error) == (p_count, p_error)
            assert_same_lines(c_text, p_text)


# -- generated documents of every type, and edge values ------------------------------------

_doubles = st.one_of(
    st.floats(),
    st.sampled_from(
        [0.0, -0.0, 1.0, -1.0, 1e16, 1e-7, 5e-324, -5e-324, 1.7976931348623157e308, 0.1, 1e22, 2.0**53]
    ),
)
_ms = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-1000, 1000),
    st.sampled_from([0, -1, 253402300799999, 253402300800000, -62135596800000, 951782400000, 4102444800000]),
)
_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12) | st.sampled_from(
    ["\u2028\u2029", '"\\/\b\f\n\r\t\x01\x1f\x7f', "\U0010ffff\U0001f600", "é" * 5]
)
# Keys starting with "$" are left to the reference (test_documents_left_to_the_reference); json_util's own
# text of {"$oid": []} does not read back, so they are not generated here.
_keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6).filter(
    lambda k: not k.startswith("$")
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    _doubles,
    _text,
    st.binary(max_size=40),
    st.tuples(st.binary(max_size=20), st.sampled_from([0, 1, 3, 4, 5, 6, 7, 8, 0x80, 0xFF])).map(
        lambda t: Binary(*t)
    ),
    st.just(Binary(uuid.UUID(int=5).bytes, 4)),
    _ms.map(bson.DatetimeMS),
    st.binary(min_size=12, max_size=12).map(ObjectId),
    st.tuples(_text, st.sampled_from(["", "i", "ms", "imsux", "ilmsux", "x", "g", "mi", "ii"])).map(
        lambda t: Regex(*t)
    ),
    st.builds(Code, _text),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)).map(lambda t: Timestamp(*t)),
    st.just(MinKey()),
    st.just(MaxKey()),
    st.tuples(st.booleans(), st.integers(0, 10**34 - 1), st.integers(-6176, 6111)).map(
        lambda t: bson.Decimal128(decimal.Decimal((int(t[0]), tuple(map(int, str(t[1]))), t[2])))
    ),
    st.sampled_from(
        ["0", "-0", "0E-6176", "1E+6144", "1.000", "-0.000001", "0.0000001", "123E+3", "1E-6"]
    ).map(bson.Decimal128),
    st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)).map(
        lambda t: bson.Decimal128.from_bid(struct.pack("<QQ", *t))
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=16,
)
documents = st.dictionaries(_keys, _values, max_size=8)


def _raw(doc: dict[str, Any]) -> bytes:
    # DatetimeMS and the rest encode as themselves; datetimes stay as generated.
    return bson.encode(doc)


@needs_c
@SETTINGS
@given(st.lists(documents, min_size=1, max_size=4))
def test_twins_on_documents_of_every_handled_type(docs: list[dict[str, Any]]) -> None:
    run = b"".join(_raw(d) for d in docs)
    assert_twins(run)


@needs_c
@SETTINGS
@given(st.lists(bson_documents, min_size=1, max_size=4))
def test_twins_on_strategy_documents(raws: list[bytes]) -> None:
    """mongoarchive.testing's documents: every BSON type, the deprecated ones and decimal128 too."""
    assert_twins(b"".join(raws))


@needs_c
def test_handled_types_are_converted_not_left() -> None:
    """The common types do go through the compiled converter (a converter that stops everywhere would pass
    the differential tests)."""
    assert _extjson_c is not None
    doc = {
        "_id": ObjectId("65a1b2c3d4e5f6a7b8c90001"),
        "s": 'h\u00e9 "q" \\ \n\t\x01 \u2603 \U0001f600',
        "i": -7,
        "l": Int64(-(2**63)),
        "f": [1.0, -0.0, 1e16, 5e-324, float("nan"), float("inf"), float("-inf"), 0.1],
        "dt": [bson.DatetimeMS(ms) for ms in (0, 1, -1, 1700000000123, 253402300799999, 253402300800000)],
        "b": [b"", b"x", b"xy", b"xyz", Binary(b"\x00" * 16, 4), Binary(b"q", 0x80)],
        "re": Regex('a.b/"', "imx"),
        "code": Code("f()"),
        "ts": Timestamp(2**32 - 1, 2**32 - 1),
        "dec": [
            bson.Decimal128(x) for x in ("1.5", "-0", "1E+10", "0.000001", "1E-7", "9" * 34, "-1.0E-6176")
        ],
        "k": [MinKey(), MaxKey(), None, True, False],
        "nested": {"a": {"b": [[], {}, [{"c": 1}]]}},
    }
    raw = bson.encode(doc)
    for mode in MODES:
        text, stop, count = _extjson_c.lines(raw * 3, 0, mode == "canonical")
        assert (stop, count) == (len(raw) * 3, 3)
        assert text == (reference(raw, mode) + "\n").encode() * 3


#: {"a": [1]} with the array key "\xb1", not UTF-8: pymongo reads it, libbson refuses it (fuzz_extjson_twin).
BAD_ARRAY_KEY = b"\x14\x00\x00\x00\x04a\x00\x0c\x00\x00\x00\x10\xb1\x00\x01\x00\x00\x00\x00\x00"


@pytest.mark.parametrize(
    "doc",
    [
        {"d": bson.Decimal128("NaN")},
        {"d": bson.Decimal128("-Infinity")},
        {"d": bson.Decimal128((0x0001FFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF))},  # a coefficient above 34 digits
        {"c": Code("x", {"a": 1})},
        {"ref": bson.DBRef("c", 1)},
        {"a": {"$x": 1}},
        {"a": {"$date": 1}},
        {"r": "g"},
        {"r": "mi"},
        {"r": "ii"},
        {"s": "a\x00b"},
        {"b": Binary(b"abc", 2)},
        {"raw": BAD_ARRAY_KEY},
    ],
    ids=repr,
)
@needs_c
def test_documents_left_to_the_reference(doc: dict[str, Any]) -> None:
    """What it does not handle exactly it leaves, and ``lines`` converts it all the same."""
    assert _extjson_c is not None
    good = bson.encode({"a": 1})
    raw = doc.get("raw") or bson.encode(doc)
    if "r" in doc:  # a regex with these options, by hand: bson's Regex drops and sorts letters
        body = b"\x0br\x00a\x00" + doc["r"].encode() + b"\x00\x00"
        raw = struct.pack("<i", 4 + len(body)) + body
    run = good + raw + good
    for mode in MODES:
        _, stop, count = _extjson_c.lines(run, 0, mode == "canonical")
        assert (stop, count) == (len(good), 1)
        assert _extjson_c.lines(run, stop, mode == "canonical")[1:] == (stop, 0)
        assert _extjson_c.lines(run, stop + len(raw), mode == "canonical")[1:] == (len(run), 1)
    assert_twins(run)


@needs_c
def test_a_key_twice_reads_back_as_json_util_reads_it() -> None:
    """Both occurrences are written, in order; json_util writes the last value at the first place and
    reads the compiled text back to that same value."""
    assert _extjson_c is not None
    raw = b"\x17\x00\x00\x00\x020\x00\x02\x00\x00\x00a\x00\x020\x00\x02\x00\x00\x00b\x00\x00"
    text, _, count = _extjson_c.lines(raw, 0, False)
    assert (text, count) == (b'{"0": "a", "0": "b"}\n', 1)
    assert reference(raw, "relaxed") == '{"0": "b"}'
    assert _value(text.decode()) == _value(reference(raw, "relaxed"))
    assert_twins(raw)


def _nested(depth: int) -> bytes:
    doc: dict[str, Any] = {"x": 1}
    for _ in range(depth):
        doc = {"a": doc}
    return bson.encode(doc)


@needs_c
@pytest.mark.parametrize("depth", [99, 100, 101, 150])
def test_deep_nesting_goes_to_the_reference(depth: int) -> None:
    assert _extjson_c is not None
    raw = _nested(depth)
    count = _extjson_c.lines(raw, 0, False)[2]
    assert count == (1 if depth <= 100 else 0)
    assert_twins(raw)


# -- damaged and hostile runs -----------------------------------------------------------------

_good_runs = st.lists(documents, min_size=1, max_size=4).map(lambda docs: b"".join(_raw(d) for d in docs))
_edge_ints = st.sampled_from([-1, 0, 1, 4, 5, 6, 0x7F, 0x80, 0xFF, 2**31 - 1, -(2**31), 16777217])


@st.composite
def damaged_runs(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(_good_runs))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "overwrite", "int32", "cut", "insert", "utf8"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "int32" and len(data) >= at + 4:
            data[at : at + 4] = struct.pack(
                "<i", draw(_edge_ints) if draw(st.booleans()) else draw(st.integers(-(2**31), 2**31 - 1))
            )
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
        elif data:  # bytes that are not UTF-8: a lone continuation, a surrogate, an overlong form, > U+10FFFF
            data[at:at] = draw(
                st.sampled_from([b"\x80", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82"])
            )
    return bytes(data)


@needs_c
@SETTINGS
@given(damaged_runs())
def test_twins_on_damaged_runs(run: bytes) -> None:
    """Same count and error (message included) with and without the compiled converter."""
    assert_twins(run)


@needs_c
@SETTINGS
@given(st.binary(max_size=80))
def test_twins_on_random_bytes(run: bytes) -> None:
    assert_twins(run)


@needs_c
def test_arguments_are_checked() -> None:
    assert _extjson_c is not None
    raw = bson.encode({"a": 1})
    for args in [
        (raw, 0),
        (raw, 0, True, 1),
        (raw, -1, True),
        (raw, len(raw) + 1, True),
        (42, 0, True),
        (raw, "0", True),
        (raw, 2**70, True),
    ]:
        with pytest.raises((TypeError, ValueError, OverflowError)):
            _extjson_c.lines(*args)
    assert _extjson_c.lines(raw, len(raw), True) == (b"", len(raw), 0)
    assert _extjson_c.lines(memoryview(raw * 2), True, False)[1:] == (1, 0)  # an int subclass as pos
    with pytest.raises(BufferError):
        _extjson_c.lines(memoryview(raw * 2)[::2], 0, True)

    buf = bytearray(raw * 4)

    class Shrinks:
        def __index__(self) -> int:
            del buf[4:]
            return 0

    with pytest.raises(BufferError):
        _extjson_c.lines(buf, Shrinks(), True)
    assert len(buf) == len(raw) * 4
    del buf[len(raw) :]  # given back: it can be resized again
    assert _extjson_c.lines(buf, 0, True)[2] == 1


@needs_c
def test_no_read_past_the_buffer() -> None:
    """The run ends at an inaccessible page: a single byte read beyond it kills the process."""
    run_beside_guard_page(
        """
        import bson
        from mongoarchive import _extjson_c
        doc = bson.encode({"s": "h\\u00e9", "d": 1.5, "o": bson.ObjectId(b"x" * 12), "b": b"abc",
                           "r": bson.Regex("a", "i"), "a": [1, {"x": None}], "t": True, "c": bson.Code("x"),
                           "l": bson.Int64(3), "dt": bson.DatetimeMS(5), "ts": bson.Timestamp(1, 2)})
        patterns = [doc, doc * 2, b"\\x05\\x00\\x00\\x00\\x00", struct.pack("<i", 2**31 - 1) + doc[4:]]
        for data in patterns:
            # Every prefix, ending at the guard page: the cut may fall inside any field.
            for n in range(len(data) + 1):
                view = at_guard(data[:n])
                for pos in range(0, n + 1, 7):
                    for canonical in (False, True):
                        _extjson_c.lines(view, pos, canonical)
        """
    )


# -- cat, both ways, on every vector -----------------------------------------------------------


@needs_c
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.name)
def test_cat_on_vectors_both_ways(capsys: pytest.CaptureFixture[str], path: Path, mode: str) -> None:
    argv = ["cat", str(path), "--json", mode]
    compiled = run(capsys, *argv)
    with _hotpath.pure_loops() as swapped:
        assert swapped >= 1 and _extjson._c_lines is None
        pure = run(capsys, *argv)
    assert _extjson._c_lines is _hotpath.json_lines()  # given back
    assert compiled[0] == pure[0] and compiled[2] == pure[2]  # status and error line
    assert_same_lines(compiled[1].encode(), pure[1].encode())


def _archive_with(tmp_path: Path, raws: list[bytes]) -> Path:
    """An archive whose framing and CRCs are intact around the documents ``raws`` (valid BSON or not)."""
    path = tmp_path / "docs.archive"
    with mongoarchive.open(path, "w", server_version="7.0.0") as out:
        one = out.add_collection("db", "one")
        two = out.add_collection("db", "two")
        one.write(bson.encode({"a": 1}))
        for raw in raws:
            two.write(raw)
    return path


def _framed(run: bytes) -> list[bytes]:
    """The bytes of ``run`` cut into pieces whose length field and last byte frame them (BSON or not)."""
    raws, pos = [], 0
    while len(run) - pos >= 5:
        size = max(5, min(struct.unpack_from("<i", run, pos)[0], len(run) - pos))
        chunk = bytearray(run[pos : pos + size])
        chunk[:4] = struct.pack("<i", len(chunk))
        chunk[-1] = 0
        raws.append(bytes(chunk))
        pos += size
    return raws


@needs_c
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(damaged_runs())
def test_cat_errors_alike_on_bad_documents(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, damaged: bytes
) -> None:
    """Framed documents that may not be valid BSON: the same lines before the first bad one and the
    same error line (message, namespace) with and without the compiled converter."""
    raws = _framed(damaged)
    if not raws:
        return
    path = _archive_with(tmp_path, raws)
    for mode in MODES:
        argv = ["cat", "--json", mode, str(path)]
        compiled = run(capsys, *argv)
        with _hotpath.pure_loops():
            pure = run(capsys, *argv)
        assert compiled[0] == pure[0] and compiled[2] == pure[2]
        assert_same_lines(
            compiled[1].encode("utf-8", "surrogateescape"), pure[1].encode("utf-8", "surrogateescape")
        )


@needs_c
def test_pure_flag_turns_the_converter_off(tmp_path: Path) -> None:
    """MONGOARCHIVE_PURE=1 in a fresh interpreter: no compiled converter, and cat's output and error
    line on an archive with a bad document read back alike."""
    good = [bson.encode({"n": i, "f": i / 3, "s": "é" * i}) for i in range(50)]
    bad = b"\x0c\x00\x00\x00\x02a\x00\xff\xff\xff\x7f\x00"  # a string claiming 2 GiB
    path = _archive_with(tmp_path, [*good, bad, *good])
    code = "import mongoarchive._hotpath as h, mongoarchive._extjson as e; "
    code += "print('c' if h.json_lines() else 'pure', e.backend())"
    results = []
    for pure in ("0", "1"):
        env = {**os.environ, "MONGOARCHIVE_PURE": pure}
        which = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        results.append(which.stdout.split())
        done = subprocess.run(
            [sys.executable, "-m", "mongoarchive", "cat", str(path)],
            capture_output=True,
            env=env,
            cwd=REPO_ROOT,
            check=False,
        )
        results.append((done.returncode, values(done.stdout), done.stderr))
    assert results[0][0] == "c" and results[0][1].startswith("c+")
    assert results[2][0] == "pure" and not results[2][1].startswith("c+")
    assert results[1] == results[3]
    assert results[1][0] == 1 and len(results[1][1]) == 51 and b"db.two" in results[1][2]

"""The compiled scans before pymongoarrow (mongoarchive/_arrow_c.c) equal the pure ones.

``check`` and ``shapes`` of ``_arrow_c`` and of ``_arrow_scan`` give the same
results on generated documents, on the same bytes mutated, and on programs
from inferred and hand-written schemas; both refuse a batch that does not split
into documents.  And inference over the first document of each shape equals
inference over every document.
"""

from __future__ import annotations

import struct
from typing import Any

import bson
import pytest
from arrow_docs import documents
from guard_page import run_beside_guard_page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mongoarchive import _arrow_scan
from mongoarchive._arrow_schema import infer, parse_schema, program

try:
    from mongoarchive import _arrow_c
except ImportError:  # built without a compiler
    _arrow_c = None  # type: ignore[assignment]

needs_c = pytest.mark.skipif(_arrow_c is None, reason="the C extension mongoarchive._arrow_c is not built")

_SCHEMAS = [
    {"a": "int64", "b": "double", "c": {"list": "string"}},
    {"a": {"struct": {"b": "int32", "c": {"list": {"struct": {"a": "double"}}}}}, "t": "json"},
    {"_id": "objectId", "a": {"binary": 4}, "b": "null", "c": "decimal"},
]


def _both(buf: bytes, prog: bytes) -> Any:
    assert _arrow_c is not None
    results = []
    for fn in (_arrow_c.check, _arrow_scan.pure_check):
        try:
            results.append(fn(buf, prog))
        except ValueError as exc:
            results.append(("ValueError", str(exc)))
    assert results[0] == results[1]
    shapes = []
    for fn2 in (_arrow_c.shapes, _arrow_scan.pure_shapes):
        try:
            shapes.append(fn2(buf))
        except ValueError as exc:
            shapes.append(("ValueError", str(exc)))
    assert shapes[0] == shapes[1]
    return results[0]


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=10), st.integers(1, 10), st.data())
def test_check_and_shapes_agree(docs: list[dict[str, Any]], k: int, data: st.DataObject) -> None:
    raws = [bson.encode(d) for d in docs]
    buf = b"".join(raws)
    programs = [program(infer(raws[:k]))] + [program(parse_schema(s)) for s in _SCHEMAS]
    for prog in programs:
        assert prog is not None
        _both(buf, prog)
    # The same bytes with a few flipped (the framing may break too: both must say so alike).
    mutated = bytearray(buf)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    for prog in programs:
        assert prog is not None
        _both(bytes(mutated), prog)


@settings(max_examples=200, deadline=None)
@given(st.lists(documents, min_size=1, max_size=12))
def test_inference_over_shapes_equals_inference_over_all(docs: list[dict[str, Any]]) -> None:
    raws = [bson.encode(d) for d in docs]
    buf = b"".join(raws)
    firsts = _arrow_scan.shapes(buf)
    picked = [buf[o : o + struct.unpack_from("<i", buf, o)[0]] for o in firsts]
    assert {k: v.to_json() for k, v in infer(picked).items()} == {
        k: v.to_json() for k, v in infer(raws).items()
    }
    assert list(infer(picked)) == list(infer(raws))  # the columns' order too


@needs_c
@pytest.mark.parametrize(
    "buf",
    [b"", b"\x05\x00\x00", b"\x05\x00\x00\x00\x01", b"\x04\x00\x00\x00", b"\xff\xff\xff\xff" + b"\x00" * 8],
)
def test_framing_is_checked_alike(buf: bytes) -> None:
    prog = program(parse_schema({"a": "int32"}))
    assert prog is not None
    _both(buf, prog)


@needs_c
def test_a_bad_program_is_refused_alike() -> None:
    for prog in (b"", b"\x0b", b"\x0b\x01\x00\x01\x00a", b"\x63", b"\x01"):
        _both(bson.encode({"a": 1}), prog)


def test_careful_rows_name_what_pymongoarrow_would_lose() -> None:
    prog = program(parse_schema({"a": "int64", "b": "double", "c": {"list": "int32"}}))
    assert prog is not None
    docs = [
        {"a": 1, "b": 2.0, "c": [1, None]},  # fits
        {"a": 1.0},  # a double where int64 is
        {"b": bson.Int64(3)},  # an int64 where double is (8 bytes both)
        {"b": float("nan")},  # NaN would become null
        {"c": [True]},  # a bool in an int32 list
        {"c": [bson.Int64(1)]},  # an int64 in an int32 list
        {"z": 1},  # a field without a column
        {"a": 1, "b": None},  # fits: null goes into every column
    ]
    buf = b"".join(bson.encode(d) for d in docs)
    for fn in (_arrow_scan.check, _arrow_scan.pure_check):
        count, rows, offsets = fn(buf, prog)
        assert count == len(docs)
        assert rows == [1, 2, 3, 4, 5, 6]
        assert offsets[0] == len(bson.encode(docs[0]))


@needs_c
def test_no_read_past_the_buffer() -> None:
    """The batch ends at an inaccessible page: a single byte read beyond it kills the process."""
    run_beside_guard_page(
        """
        import bson
        from mongoarchive import _arrow_c
        from mongoarchive._arrow_schema import infer, program
        doc = bson.encode({"a": 1.5, "b": {"c": [1, "x", {"d": b"\\x00\\x01"}]}, "s": "text",
                           "r": bson.Regex("^a", "i"), "t": [True, None]})
        prog = program(infer([doc]))
        for cut in range(5, len(doc) + 1):
            # A prefix of the document, framed as a whole one: every inner length may lie.
            view = at_guard(struct.pack("<i", cut) + doc[4 : cut - 1] + b"\\x00")
            _arrow_c.check(view, prog)
            _arrow_c.shapes(view)
        """
    )

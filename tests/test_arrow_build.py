"""The compiled builder of Arrow buffers (mongoarchive/_arrow_build_c.c) gives pymongoarrow's tables.

``Converter`` builds each batch's columns with the compiled builder, or with
pymongoarrow where the builder is not built or declines the batch.  Both
paths must give equal tables (schema, values, nulls, ``_extra``) or the same
error, on generated documents, on their bytes mutated, and with inferred and
given schemas; the builder declines what it has no builder for, never reads
past its buffer, and an export it builds alone never imports pymongoarrow.
"""

from __future__ import annotations

import contextlib
import datetime
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from arrow_docs import documents
from guard_page import run_beside_guard_page
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytest.importorskip("pymongoarrow")

import mongoarchive
from mongoarchive import _arrow
from mongoarchive._arrow_schema import Node, infer, parse_schema, program
from mongoarchive.errors import MongoArchiveError

needs_c = pytest.mark.skipif(
    _arrow.build is None, reason="the C extension mongoarchive._arrow_build_c is not built"
)

_SCHEMAS = [
    {"a": "int64", "b": "double", "c": {"list": "string"}},
    {"a": {"struct": {"b": "int32", "c": {"list": {"struct": {"a": "double"}}}}}, "t": "json"},
    {"_id": "objectId", "a": {"binary": 4}, "b": "null", "c": "decimal"},
    {"a": "bool", "b": "date", "c": "code", "t": {"list": {"list": "int64"}}},
]


@contextlib.contextmanager
def _builder(fn: Callable[..., Any] | None) -> Iterator[None]:
    saved = _arrow.build
    _arrow.build = fn
    try:
        yield
    finally:
        _arrow.build = saved


def _outcome(batches: list[bytes], columns: dict[bytes, Node] | None) -> Any:
    """The tables and _extra count of converting ``batches`` with one converter, or the error's text."""
    converter = _arrow.Converter("db.c", dict(columns) if columns is not None else None)
    try:
        tables = [converter.convert_buffer(b) for b in batches]
    except MongoArchiveError as exc:
        # The detail after the first colon may be pymongo's, whose wording varies between calls.
        return ("error", type(exc).__name__, str(exc).replace("the builder", "pymongoarrow").split(":")[0])
    return tables, converter.extra_rows


def _same_both_ways(batches: list[bytes], columns: dict[bytes, Node] | None = None) -> Any:
    built = _outcome(batches, columns)
    with _builder(None):
        reference = _outcome(batches, columns)
    if reference[0] == "error" or built[0] == "error":
        assert built == reference
        return built
    assert built[1] == reference[1]
    for mine, theirs in zip(built[0], reference[0], strict=True):
        assert mine.schema.equals(theirs.schema, check_metadata=True)
        assert mine.equals(theirs), (mine.to_pylist(), theirs.to_pylist())
        assert mine.to_pylist() == theirs.to_pylist()
    return built


@needs_c
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=12), st.integers(1, 12), st.sampled_from([None, *_SCHEMAS]))
@example([{"a": {"b": {"c": None}}}], 1, None)  # a struct with no value inside is a null struct
@example([{"a": [None, 1]}, {"a": None}, {}], 1, None)
def test_builder_equals_pymongoarrow(
    docs: list[dict[str, Any]], k: int, schema: dict[str, Any] | None
) -> None:
    raws = [bson.encode(d) for d in docs]
    columns = parse_schema(schema) if schema is not None else None
    # Two batches: the second meets the columns fixed by the first (inferred from its first k documents).
    cut = min(k, len(raws))
    _same_both_ways([b"".join(raws[:cut]), b"".join(raws[cut:])], columns)


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=8), st.data())
def test_mutated_bytes_give_the_same_outcome(docs: list[dict[str, Any]], data: st.DataObject) -> None:
    raws = [bson.encode(d) for d in docs]
    columns = infer(raws)
    buf = bytearray(b"".join(raws))
    for _ in range(data.draw(st.integers(1, 4))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    _same_both_ways([bytes(buf)], columns)


@needs_c
def test_every_kind_is_built_and_pymongoarrow_stays_unused(tmp_path: Path) -> None:
    docs = [
        {
            "_id": bson.ObjectId(), "i": 1, "l": bson.Int64(-(2**63)), "d": -0.0, "s": "é\x00x",
            "b": True, "t": datetime.datetime(2024, 5, 6, 7, 8, 9, 123000),
            "m": bson.Decimal128("-1.5E+300"), "bin": bson.Binary(b"\x00\xff", 4), "code": bson.Code("f()"),
            "st": {"x": 1, "y": [1.5, None]}, "li": [{"x": 2}, None, {"x": 3}], "n": None,
        },
        {"i": None, "b": False, "li": [], "st": None},
        {},
    ]  # fmt: skip
    raws = [bson.encode(d) for d in docs]
    assert _arrow.build is not None
    prog = program(infer(raws))
    assert prog is not None
    assert _arrow.build(b"".join(raws), prog) is not None
    tables, extra = _same_both_ways([b"".join(raws)])
    assert extra == 0 and tables[0].num_rows == 3
    assert tables[0].column("s").to_pylist() == ["é\x00x", None, None]
    archive = tmp_path / "a.archive"
    with mongoarchive.open(archive, "w", server_version="8.0.3", tool_version="t") as out:
        coll = out.add_collection("db", "c", metadata="{}")
        for raw in raws:
            coll.write(raw)
    code = (
        "import sys, mongoarchive\n"
        f"t = mongoarchive.to_arrow({str(archive)!r}, 'db.c')\n"
        "print(t.num_rows, 'pymongoarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3", "False"]


@needs_c
@pytest.mark.parametrize(
    ("schema", "doc"),
    [
        ({"a": {"binary": 2}}, {"a": bson.Binary(b"\x01\x00\x00\x00x", 2)}),  # the old binary: no builder
        ({"a": "bool"}, {"a": True}),  # then the byte is made 2, which no bool is
    ],
)
def test_what_the_builder_declines_goes_to_pymongoarrow(schema: dict[str, Any], doc: dict[str, Any]) -> None:
    raw = bytearray(bson.encode(doc))
    if schema["a"] == "bool":
        raw[-2] = 2
    columns = parse_schema(schema)
    prog = program(columns)
    assert _arrow.build is not None and prog is not None
    assert _arrow.build(bytes(raw), prog) is None
    calls: list[int] = []
    by_pma = _arrow.Converter._by_pymongoarrow

    def spy(self: _arrow.Converter, feed: bytes, count: int) -> Any:
        calls.append(count)
        return by_pma(self, feed, count)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_arrow.Converter, "_by_pymongoarrow", spy)
        _same_both_ways([bytes(raw)], columns)
    assert calls == [1, 1]  # the builder declined: both ways went through pymongoarrow


@needs_c
def test_a_bad_program_is_refused() -> None:
    assert _arrow.build is not None
    for prog in (b"", b"\x0b", b"\x0b\x01\x00\x01\x00a", b"\x63", b"\x01", b"\x0b\x01\x00\x01\x00a\x0c\x10"):
        with pytest.raises(ValueError, match="not a column program"):
            _arrow.build(bson.encode({"a": 1}), prog)
    # A well-formed program with a null below the top level (which _arrow_schema never makes):
    # declined, like the kinds without a builder.
    assert _arrow.build(bson.encode({"a": [None]}), b"\x0b\x01\x00\x01\x00a\x0c\x0e") is None


@needs_c
def test_no_read_past_the_buffer() -> None:
    """The batch ends at an inaccessible page: a single byte read beyond it kills the process."""
    run_beside_guard_page(
        """
        import bson, struct
        from mongoarchive._arrow_build_c import build
        from mongoarchive._arrow_schema import infer, program
        doc = bson.encode({"a": 1.5, "b": {"c": [1, "x", {"d": b"\\x00\\x01"}]}, "s": "text",
                           "o": bson.ObjectId(), "t": [True, None], "m": bson.Decimal128("1")})
        prog = program(infer([doc]))
        for cut in range(5, len(doc) + 1):
            # A prefix of the document, framed as a whole one: every inner length may lie.
            build(at_guard(struct.pack("<i", cut) + doc[4 : cut - 1] + b"\\x00"), prog)
            build(at_guard(doc[:cut]), prog)
        """
    )


def test_pure_build_has_no_builder() -> None:
    code = "from mongoarchive import _arrow; print(_arrow.build is None)"
    env = {"MONGOARCHIVE_PURE": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "True"


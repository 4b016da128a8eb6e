"""``mongoarchive cat`` and the Extended JSON back ends (python-bsonjs and json_util)."""

from __future__ import annotations

import datetime
import io
import re
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
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from cli_helpers import read, run, walk
from conftest import spec_vectors
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS
from strategies import bson_documents

import mongoarchive
from mongoarchive import _extjson, _jsonlines
from mongoarchive.model import Namespace

VALID = spec_vectors("valid")
needs_bsonjs = pytest.mark.skipif(not _extjson.has_bsonjs(), reason="python-bsonjs not installed")


#: How the tests read lines back: datetimes outside Python's range stay DatetimeMS.
LOAD = json_util.JSONOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)


def read_back(text: str) -> list[bytes]:
    """Each line of ``text`` read back by json_util, as BSON: equal bytes mean exactly the same values.

    Lines end in "\\n" only (a raw U+2028 inside a string is not a line break).
    """
    assert text == "" or text.endswith("\n")
    return [bson.encode(json_util.loads(line, json_options=LOAD)) for line in text.split("\n")[:-1]]


def reference_values(raws: list[bytes], mode: str = "relaxed") -> list[bytes]:
    """What json_util's own text of each document reads back as."""
    return read_back("".join(reference(raw, mode) + "\n" for raw in raws))


def _id(item: tuple[Path, dict[str, Any]]) -> str:
    return item[0].stem


def reference(raw: bytes, mode: str) -> str:
    """Extended JSON straight from json_util (the documented reference text)."""
    base = json_util.CANONICAL_JSON_OPTIONS if mode == "canonical" else json_util.RELAXED_JSON_OPTIONS
    opts = base.with_options(datetime_conversion=DatetimeConversion.DATETIME_AUTO)
    return json_util.dumps(bson.decode(raw, opts), json_options=opts, ensure_ascii=False)


@pytest.mark.parametrize("mode", ["relaxed", "canonical"])
@pytest.mark.parametrize("item", VALID, ids=_id)
def test_json_lines_on_vectors(
    capsys: pytest.CaptureFixture[str], item: tuple[Path, dict[str, Any]], mode: str
) -> None:
    path, _ = item
    docs = walk(read(path))
    argv = ["cat", str(path)] + (["--json", mode] if mode == "canonical" else [])
    status, out, err = run(capsys, *argv)
    assert status == 0 and err == ""
    assert read_back(out) == reference_values([raw for _, raw in docs], mode)


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason="real archives not present")
def test_real_archive_exact(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "cat", str(SHARED_VECTORS / "test.bar.archive"), "--ns", "test.bar")
    assert status == 0
    (raw,) = [r for ns, r in walk(read(SHARED_VECTORS / "test.bar.archive")) if ns == "test.bar"]
    assert read_back(out) == reference_values([raw])
    assert out.count("\n") == 1 and '"$oid"' in out


def test_bson_output_is_the_documents(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = SPEC_VECTORS / "valid" / "interleaved.archive"
    status = mongoarchive.cli.main(["cat", "--bson", str(path)])
    out = capsysbinary.readouterr().out
    assert status == 0
    assert out == b"".join(raw for _, raw in walk(read(path)))
    assert len(bson.decode_all(out)) == len(walk(read(path)))


def test_namespace_patterns_and_limit(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "valid" / "sample.archive"
    docs = walk(read(path))

    def expect(keep: Any, limit: int | None = None) -> list[bytes]:
        return reference_values([raw for ns, raw in docs if keep(ns)])[:limit]

    def got(*argv: str) -> list[bytes]:
        return read_back(run(capsys, "cat", str(path), *argv)[1])

    assert got("--ns", "shop.orders") == expect(lambda ns: ns == "shop.orders")
    assert got("--nsInclude", "*.customers", "--ns", "shop.orders") == expect(
        lambda ns: ns in ("shop.customers", "shop.orders")
    )
    assert got("--nsExclude", "shop.orders") == expect(lambda ns: ns != "shop.orders")
    assert got("--ns", "shop.*", "--limit", "2") == expect(lambda ns: True, 2)
    assert run(capsys, "cat", str(path), "--limit", "0") == (0, "", "")
    status, out, err = run(capsys, "cat", str(path), "--ns", "nomatch.*")
    assert (status, out) == (1, "") and "'nomatch.*'" in err  # tar: "Not found in archive"


def test_timeseries_pattern_selects_its_buckets(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "valid" / "timeseries-pre83.archive"
    buckets = [raw for ns, raw in walk(read(path)) if ns == "iot.system.buckets.weather"]
    assert buckets
    status, out, _ = run(capsys, "cat", str(path), "--ns", "iot.weather")
    assert status == 0
    assert read_back(out) == reference_values(buckets)


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(SPEC_VECTORS / "valid" / "sample.archive")
    assert run(capsys, "cat", path, "--ns", "nodot")[0] == 2
    assert run(capsys, "cat", path, "--limit", "-1")[0] == 2
    assert run(capsys, "cat", path, "--bson", "--json", "canonical")[0] == 2
    assert run(capsys, "cat", path, "--json", "legacy")[0] == 2


def test_damaged_archive_prints_documents_before_the_damage(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPEC_VECTORS / "invalid" / "crc-mismatch.archive"
    status, out, err = run(capsys, "cat", str(path))
    assert status == 1
    assert err.count("\n") == 1 and "crc" in err.lower() and "Traceback" not in err
    assert len(out.splitlines()) >= 1


def test_stdin_pipe_and_head(tmp_path: Path) -> None:
    big = tmp_path / "big.archive"
    with mongoarchive.open(big, "w", server_version="7.0.0") as w:
        c = w.add_collection("db", "c")
        for i in range(20000):
            c.write({"_id": i, "pad": "x" * 100})
        c.close()
    # A real pipe on both sides: stdin from a pipe, stdout closed early by "head".
    script = f"{sys.executable} -m mongoarchive cat - < {big} | head -n 2"
    proc = subprocess.run(["sh", "-c", script], capture_output=True, cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0
    assert [json_util.loads(line) for line in proc.stdout.decode().splitlines()] == [
        {"_id": 0, "pad": "x" * 100},
        {"_id": 1, "pad": "x" * 100},
    ]
    assert proc.stderr == b""
    with big.open("rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "mongoarchive", "cat", "-", "--bson", "--limit", "3"],
            stdin=stdin,
            capture_output=True,
            cwd=REPO_ROOT,
            check=False,
        )
    assert proc.returncode == 0
    assert [d["_id"] for d in bson.decode_all(proc.stdout)] == [0, 1, 2]


# -- the two Extended JSON back ends give text that reads back to the same values ----------

SAMPLE = {
    "_id": ObjectId("65a1b2c3d4e5f6a7b8c90001"),
    "s": 'h\u00e9 "quoted" : , { } [ ] \\ \n\t\x01 \u2603',
    "i": 1,
    "neg": -7,
    "l": Int64(5),
    "big": 2**40,
    "f": 3.14,
    "f2": 1.0,
    "f3": 1e300,
    "f4": -0.0,
    "f5": 1e16,
    "f6": 5e-324,
    "nan": float("nan"),
    "inf": float("inf"),
    "ninf": float("-inf"),
    "dt": datetime.datetime(2020, 1, 1, 1, 2, 3, 123000),
    "dt0": datetime.datetime(2020, 1, 1),
    "old": datetime.datetime(1960, 1, 1),
    "dec": Decimal128("1.5"),
    "ts": Timestamp(1, 2),
    "re": Regex("a.b", "i"),
    "bin": Binary(b"xyz", 0),
    "u": Binary(uuid.UUID(int=7).bytes, 4),
    "n": None,
    "t": True,
    "fa": False,
    "arr": [1, [], {}, [2.5]],
    "e": {},
    "mk": MinKey(),
    "xk": MaxKey(),
    "code": Code("x"),
    "nested": {"a": {"b": {"c": [Int64(1)]}}},
}


@needs_bsonjs
@pytest.mark.parametrize("mode", ["relaxed", "canonical"])
def test_backends_agree_on_every_type(mode: str) -> None:
    raw = bson.encode(SAMPLE)
    fast = _extjson.converter(mode, use_bsonjs=True)(raw)  # type: ignore[arg-type]
    slow = _extjson.converter(mode, use_bsonjs=False)(raw)  # type: ignore[arg-type]
    assert slow == reference(raw, mode)
    assert read_back(fast + "\n") == read_back(slow + "\n")
    if mode == "canonical":  # relaxed mode keeps numbers, not their BSON types (Int64(5) reads back as 5)
        assert read_back(fast + "\n") == [bson.encode(SAMPLE)]
    # The whole-run converter of cat gives the same lines as the per-document one; the compiled
    # converter, when it runs, handles every type here and writes json_util's text.
    text, count, error = _extjson.lines(raw * 3, mode, True)
    line = fast if _extjson._c_lines is None else slow
    assert (text.decode(), count, error) == ((line + "\n") * 3, 3, None)


@pytest.mark.parametrize("ms", [2**62, 253402300800000])
def test_dates_after_year_9999_are_number_long(ms: int) -> None:
    raw = bson.encode({"d": bson.DatetimeMS(ms)})
    for use in [False] + ([True] if _extjson.has_bsonjs() else []):
        text = _extjson.converter("relaxed", use_bsonjs=use)(raw)
        assert text == f'{{"d": {{"$date": {{"$numberLong": "{ms}"}}}}}}'


def test_invalid_bson_is_a_mongoarchive_error() -> None:
    with pytest.raises(mongoarchive.MongoArchiveError):
        _extjson.converter("relaxed", use_bsonjs=False)(b"\x05\x00\x00\x00\x01")


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20).map(lambda b: Binary(b, 0)),
    st.integers(-(2**62), 2**62).map(lambda ms: bson.DatetimeMS(ms)),
    st.builds(
        Decimal128, st.decimals(-(10**20), 10**20, allow_nan=False, allow_infinity=False, places=3).map(str)
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text("abcxyz_", min_size=1, max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6), values, max_size=6)


@needs_bsonjs
@settings(max_examples=150, deadline=None)
@given(documents, st.sampled_from(["relaxed", "canonical"]))
def test_backends_agree_on_random_documents(doc: dict[str, Any], mode: str) -> None:
    raw = bson.encode(doc)
    fast = _extjson.converter(mode, use_bsonjs=True)(raw)  # type: ignore[arg-type]
    slow = _extjson.converter(mode, use_bsonjs=False)(raw)  # type: ignore[arg-type]
    assert read_back(fast + "\n") == read_back(slow + "\n")


@needs_bsonjs
@settings(max_examples=300, deadline=None)
@given(bson_documents, st.sampled_from(["relaxed", "canonical"]))
@example(b"\x0b\x00\x00\x00\x06$oid\x00\x00", "relaxed")  # "$oid": undefined reads back as an ObjectId
@example(b"\r\x00\x00\x00\n\x00\x06$oid\x00\x00", "relaxed")  # json_util refuses its own text
def test_backends_read_back_alike_on_strategy_documents(raw: bytes, mode: str) -> None:
    """Every generated document (every BSON type, the deprecated ones too): both back ends' text,
    and the whole-run converter cat uses, read back with json_util to the values of json_util's text."""
    try:
        expected = read_back(reference(raw, mode) + "\n")
    except (TypeError, ValueError):
        # A key such as "$oid" makes json_util read its own text back as a type wrapper, or fail:
        # Extended JSON cannot carry such a document, whichever back end writes it.
        assume(False)
    for use in (True, False):
        assert read_back(_extjson.converter(mode, use_bsonjs=use)(raw) + "\n") == expected  # type: ignore[arg-type]
        text, count, error = _extjson.lines(raw * 2, mode, use)
        assert (count, error) == (2, None) and read_back(text.decode()) == expected * 2


@pytest.mark.parametrize("use", [False, True] if _extjson.has_bsonjs() else [False])
def test_lines_stop_at_a_bad_document_with_its_namespace(use: bool) -> None:
    good = bson.encode({"a": 1})
    bad = b"\x0c\x00\x00\x00\x02a\x00\xff\xff\xff\x7f\x00"  # a string claiming 2 GiB
    out = io.BytesIO()
    writer = _jsonlines.JsonLines(out, "relaxed", use)
    writer.add(Namespace("db", "one"), memoryview(good * 2), 2, 1000)
    writer.add(Namespace("db", "two"), memoryview(good + bad + good), 3, 5000)
    with pytest.raises(mongoarchive.MongoArchiveError) as caught:
        writer.flush()
    assert caught.value.code == "bad-bson" and caught.value.namespace == "db.two"
    assert caught.value.offset == 5000 + len(good)  # the bad document's, from its run's offset
    assert read_back(out.getvalue().decode()) == [good] * 3  # the documents before the bad one, no more
    writer.flush()  # nothing more after a failure
    assert len(read_back(out.getvalue().decode())) == 3


@pytest.mark.parametrize("compiled", [False, True] if _extjson._c_lines is not None else [False])
@pytest.mark.parametrize("use", [False, True] if _extjson.has_bsonjs() else [False])
def test_large_documents_leave_in_slices_in_order(
    use: bool, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large line leaves in one write from the compiled converter, else in slices of LARGE characters."""
    monkeypatch.setattr(_jsonlines, "LARGE", 64)
    if not compiled:
        monkeypatch.setattr(_extjson, "_c_lines", None)
    small = bson.encode({"i": 1})
    large = bson.encode({"s": "\u00e9" * 200})
    writes: list[bytes] = []

    class Sink(io.RawIOBase):
        def write(self, b: Any) -> int:
            writes.append(bytes(b))
            return len(b)

    writer = _jsonlines.JsonLines(Sink(), "canonical", use, chunk=10)  # type: ignore[arg-type]
    writer.add(Namespace("d", "c"), memoryview(small + large + small), 3)
    writer.flush()
    text = b"".join(writes).decode()
    assert read_back(text) == [bson.encode(bson.decode(d)) for d in (small, large, small)]
    if compiled:  # the large document's line in one write, newline included
        assert (reference(large, "canonical") + "\n").encode() in writes
    else:
        assert max(len(w) for w in writes) <= 64 * 2  # UTF-8 of 64 characters of which some are 2 bytes


def test_fallback_when_bsonjs_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_extjson, "_bsonjs", None)
    assert not _extjson.has_bsonjs()
    assert _extjson.backend() == ("json_util" if _extjson._c_lines is None else "c+json_util")
    path = SPEC_VECTORS / "valid" / "sample.archive"
    status, out, _ = run(capsys, "cat", str(path))
    assert status == 0
    assert out == "".join(reference(raw, "relaxed") + "\n" for _, raw in walk(read(path)))
    with pytest.raises(mongoarchive.MongoArchiveError):
        _extjson.converter("relaxed", use_bsonjs=True)
    assert re.match(r"^\{", out)
    assert io  # keep the import used by other tests' helpers

"""``mongoarchive export``: every output read back by a real engine and compared with the archive.

Parquet is read by DuckDB and Polars, Arrow IPC by pyarrow, JSON lines by
bson.json_util and CSV by the csv module; counts, sums of numeric fields and
whole documents (rebuilt from the columns and ``_extra``) are compared with
the documents the archive itself holds.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import bson
import pytest
from arrow_rows import rebuild
from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp, json_util
from cli_helpers import run
from paths import REPO_ROOT

import mongoarchive
from mongoarchive.export import MANIFEST, export

pa = pytest.importorskip("pyarrow")
pytest.importorskip("pymongoarrow")
duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")
import pyarrow.parquet as pq  # noqa: E402

VALID = REPO_ROOT / "spec" / "vectors" / "valid"
UTC = datetime.UTC


def _varied(i: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": ObjectId(bytes([i % 256]) * 12),
        "n": i,
        "big": Int64(2**40 + i),
        "x": i / 4,
        "name": f"doc-{i}",
        "ok": i % 2 == 0,
        "when": datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=i),
        "price": Decimal128(f"{i}.10"),
        "blob": Binary(bytes([i % 256, 1, 2]), 0),
        "sub": {"k": i % 7, "label": "L" + str(i)},
        "tags": ["a", str(i)],
        "mixed": i if i % 3 else f"s{i}",  # int32 and string: kept as Extended JSON text
        "ts": Timestamp(1000 + i, 1),  # no Arrow builder: Extended JSON text
    }
    if i % 5 == 0:
        doc["note"] = None
    if i % 11 == 0:
        doc["rare"] = Regex("^a", "i")
    return doc


def _odd_late() -> list[dict[str, Any]]:
    """Documents that do not fit the columns inferred from the first row group."""
    return [
        {"_id": ObjectId(b"z" * 12), "n": 2.5, "name": 7, "newfield": MinKey()},  # double in an int column
        {"_id": ObjectId(b"y" * 12), "x": float("nan"), "sub": {"k": 1, "zz": MaxKey()}},  # NaN, new child
        {"_id": ObjectId(b"w" * 12), "tags": "not a list", "blob": Binary(b"\x00" * 16, 4), "sub": {}},
        {"_id": ObjectId(b"v" * 12), "code": Code("f()"), "when": datetime.datetime(2025, 1, 1, tzinfo=UTC)},
    ]


DOCS = [_varied(i) for i in range(300)] + _odd_late()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("arch") / "varied.archive"
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        varied = out.add_collection("app", "varied", {"indexes": []})
        empty = out.add_collection("app", "empty", {"indexes": []})
        out.add_collection("app", "aview", {"options": {"viewOn": "varied", "pipeline": []}}, type="view")
        odd = out.add_collection("app", "we ird/name", {"indexes": []})
        for doc in DOCS:
            varied.write(doc)
        odd.write({"_id": 1})
        del empty
    return path


def _normal(doc: dict[str, Any]) -> Any:
    """A comparable form: nulls dropped (Arrow cannot tell null from missing), numbers as Python's."""
    text = json_util.dumps(
        {k: v for k, v in doc.items() if v is not None}, json_options=json_util.CANONICAL_JSON_OPTIONS
    )
    value = json.loads(text)

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in sorted(v.items()) if x is not None}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return strip(value)


def _archive_docs() -> list[dict[str, Any]]:
    return [bson.decode(bson.encode(d)) for d in DOCS]


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_every_document_comes_back_from_columns_and_extra(archive: Path, tmp_path: Path, fmt: str) -> None:
    # Small row groups: the odd documents come after the schema was fixed.
    result = export(archive, tmp_path, format=fmt, row_group_bytes=8192)  # type: ignore[arg-type]
    assert result.complete
    path = tmp_path / "app" / f"varied.{fmt}"
    if fmt == "parquet":
        table = pq.read_table(path)
        assert pq.ParquetFile(path).num_row_groups > 1
    else:
        table = pa.ipc.open_file(path).read_all()
    rows = table.to_pylist()
    assert len(rows) == len(DOCS)
    rebuilt = [_normal(rebuild(r, table.schema)) for r in rows]
    expected = [_normal(d) for d in _archive_docs()]
    assert rebuilt == expected
    kinds = {f.name: f.metadata[b"bson_kind"].decode() for f in table.schema}
    assert kinds["mixed"] == "json" and kinds["ts"] == "json" and kinds["n"] == "int32"
    assert kinds["sub"] == "struct" and kinds["tags"] == "list" and kinds["price"] == "decimal"
    assert table.schema.field("when").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("_id").type == pa.binary(12)
    extra = [r["_extra"] for r in rows if r["_extra"] is not None]
    assert len(extra) == 4 and any("NaN" in e for e in extra)
    entry = next(n for n in result.namespaces if n.ns.collection == "varied")
    assert entry.extra_rows == 4


def test_duckdb_and_polars_agree_with_the_archive(archive: Path, tmp_path: Path) -> None:
    export(archive, tmp_path, format="parquet", row_group_bytes=8192)
    path = str(tmp_path / "app" / "varied.parquet")
    docs = _archive_docs()
    ints = [d["n"] for d in docs if isinstance(d.get("n"), int)]
    bigs = [d["big"] for d in docs if "big" in d]
    xs = [d["x"] for d in docs if isinstance(d.get("x"), float) and d["x"] == d["x"]]
    con = duckdb.connect()
    count, sum_n, sum_big, sum_x = con.execute(
        "select count(*), sum(n), sum(big), sum(x) from read_parquet(?)", [path]
    ).fetchone()
    assert (count, sum_n, sum_big) == (len(docs), sum(ints), sum(bigs))
    assert sum_x == pytest.approx(sum(xs))
    k_sum = con.execute("select sum(sub.k) from read_parquet(?)", [path]).fetchone()[0]
    # A "sub" with a field outside the inferred struct is kept whole in _extra instead.
    fitting = [d["sub"] for d in docs if d.get("sub") and set(d["sub"]) <= {"k", "label"}]
    assert k_sum == sum(s["k"] for s in fitting)
    frame = pl.read_parquet(path)
    assert frame.height == len(docs)
    assert frame["n"].sum() == sum(ints)
    assert frame["big"].sum() == sum(bigs)
    sample = frame.filter(pl.col("name") == "doc-42").to_dicts()[0]
    assert sample["_id"] == bytes(docs[42]["_id"].binary)
    assert sample["tags"] == ["a", "42"] and sample["price"] == "42.10"
    assert sample["when"].replace(tzinfo=None) == docs[42]["when"].replace(tzinfo=None)


def test_manifest_views_empty_and_escaped_names(archive: Path, tmp_path: Path) -> None:
    status, _, err = run_cli(archive, tmp_path)
    assert status == 0, err
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["complete"] is True and manifest["source"] == str(archive)
    by_name = {n["collection"]: n for n in manifest["namespaces"]}
    assert by_name["varied"]["documents"] == len(DOCS) and by_name["varied"]["crc"] == "ok"
    assert by_name["aview"]["path"] is None and by_name["aview"]["type"] == "view"
    assert by_name["empty"]["documents"] == 0
    empty = pq.read_table(tmp_path / by_name["empty"]["path"])
    assert empty.num_rows == 0
    assert by_name["we ird/name"]["path"] == "app/we+ird%2Fname.parquet"
    assert pq.read_table(tmp_path / "app" / "we+ird%2Fname.parquet").column("_id").to_pylist() == [1]
    # Nothing but the outputs and the manifest: no partial files left.
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert names == [MANIFEST, "app/empty.parquet", "app/varied.parquet", "app/we+ird%2Fname.parquet"]


def run_cli(archive: Path, out: Path, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "mongoarchive", "export", str(archive), str(out), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_jsonl_parses_back_to_the_documents(archive: Path, tmp_path: Path) -> None:
    export(archive, tmp_path, format="jsonl", json_mode="canonical")
    lines = (tmp_path / "app" / "varied.jsonl").read_text(encoding="utf-8").splitlines()
    back = [json_util.loads(line) for line in lines]
    assert [_normal(d) for d in back] == [_normal(d) for d in _archive_docs()]


def test_csv_as_mongoexport_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "c.archive"
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        c = out.add_collection("db", "c")
        c.write(
            {
                "_id": ObjectId("5f0c6f4e8e7b0c1a2b3c4d5e"),
                "name": 'Ada, "the" first',
                "n": 1_000_000.0,
                "when": datetime.datetime(2020, 5, 1, 12, 0, 0, 123000),
                "a": {"b": [10, {"c": " x"}]},
                "big": Int64(5),
            }
        )
        c.write({"_id": 2, "name": None})
    out_dir = tmp_path / "out"
    fields = "_id,name,n,when,a,a.b.0,a.b.1.c,big,missing"
    status, _, err = run_cli(path, out_dir, "--format", "csv", "--fields", fields)
    assert status == 0, err
    text = (out_dir / "db" / "c.csv").read_text(encoding="utf-8")
    assert text.splitlines() == [
        "_id,name,n,when,a,a.b.0,a.b.1.c,big,missing",
        'ObjectId(5f0c6f4e8e7b0c1a2b3c4d5e),"Ada, ""the"" first",1e+06,2020-05-01T12:00:00.123Z,'
        '"{""b"":[10,{""c"":"" x""}]}",10," x",5,',
        "2,,,,,,,,",
    ]
    status, _, err = run_cli(path, tmp_path / "o2", "--format", "csv")
    assert status == 2 and "--fields" in err


def test_gzip_and_stdin_input(tmp_path: Path) -> None:
    gz = VALID / "sample-gzip.archive"
    proc = subprocess.run(
        [sys.executable, "-m", "mongoarchive", "export", "-", str(tmp_path / "o"), "--json"],
        stdin=gz.open("rb"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    with mongoarchive.open(gz) as reader:
        expected: dict[str, int] = {}
        for ns, _ in reader.documents():
            expected[str(ns)] = expected.get(str(ns), 0) + 1
    got = {f"{n['db']}.{n['collection']}": n["documents"] for n in report["namespaces"] if n["documents"]}
    assert got == expected
    for n in report["namespaces"]:
        if n["path"]:
            assert duckdb.execute(
                "select count(*) from read_parquet(?)", [str(tmp_path / "o" / n["path"])]
            ).fetchone()[0] == n["documents"]


def test_timeseries_data_is_exported_under_its_bucket_namespace(tmp_path: Path) -> None:
    result = export(VALID / "timeseries-pre83.archive", tmp_path)
    kinds = {str(n.ns): (n.type, n.path, n.documents) for n in result.namespaces}
    buckets = [v for k, v in kinds.items() if ".system.buckets." in k]
    assert buckets and all(t == "timeseries" and p and p.endswith(".parquet") for t, p, _ in buckets)
    for _, p, count in buckets:
        assert pq.read_table(tmp_path / p).num_rows == count


def _flip_crc_byte(src: Path, dst: Path) -> None:
    data = bytearray(src.read_bytes())
    at = data.rfind(b"doc-299")  # inside a document of app.varied
    data[at] ^= 0x01
    dst.write_bytes(bytes(data))


def test_a_damaged_archive_publishes_only_verified_namespaces(archive: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.archive"
    _flip_crc_byte(archive, bad)
    out = tmp_path / "out"
    status, _, err = run_cli(bad, out)
    assert status == 1 and "CRC-64 mismatch" in err and "app.varied" in err
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is False and "CRC" in manifest["error"]
    varied = next(n for n in manifest["namespaces"] if n["collection"] == "varied")
    assert varied["complete"] is False and varied["crc"] == "mismatch"
    assert not (out / "app" / "varied.parquet").exists()
    leftovers = [p.name for p in out.rglob("*") if "partial" in p.name]
    assert leftovers == []


def test_a_truncated_archive_leaves_no_complete_looking_file(archive: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.archive"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    out = tmp_path / "out"
    status, _, err = run_cli(cut, out)
    assert (status == 1 and "truncated" in err.lower()) or "ends" in err
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is False
    assert all(not n["complete"] for n in manifest["namespaces"] if n["collection"] == "varied")
    assert not (out / "app" / "varied.parquet").exists()


def test_refuses_to_overwrite_an_export_without_force(archive: Path, tmp_path: Path) -> None:
    export(archive, tmp_path, format="jsonl")
    status, _, err = run_cli(archive, tmp_path, "--format", "jsonl")
    assert status == 2 and "--force" in err
    status, _, err = run_cli(archive, tmp_path, "--format", "jsonl", "--force")
    assert status == 0, err


def test_ns_query_schema_and_folders(archive: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"app.varied": {"_id": "objectId", "n": "int64", "name": "string"}}))
    out = tmp_path / "out"
    status, _, err = run_cli(
        archive, out, "--ns", "app.varied", "--query", '{"n": {"$in": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}}',
        "--schema", str(schema), "--rows-per-file", "4",
    )  # fmt: skip
    assert status == 0, err
    folder = out / "app" / "varied.parquet"
    assert folder.is_dir() and len(list(folder.iterdir())) == 3
    frame = pl.read_parquet(str(folder / "*.parquet"))
    assert sorted(frame["n"].to_list()) == list(range(10))
    assert frame.schema["n"] == pl.Int64
    assert frame.columns == ["_id", "n", "name", "_extra"]
    rebuilt = json_util.loads(frame.filter(pl.col("n") == 3)["_extra"][0])
    assert rebuilt["tags"] == ["a", "3"]  # every field outside the schema is kept
    manifest = json.loads((out / MANIFEST).read_text())
    assert [n["collection"] for n in manifest["namespaces"]] == ["varied"]
    assert manifest["namespaces"][0]["documents"] == 10
    assert manifest["namespaces"][0]["documents_read"] == len(DOCS)


def test_to_arrow_and_record_batches(archive: Path) -> None:
    table = mongoarchive.to_arrow(archive, "app.varied")
    assert table.num_rows == len(DOCS)
    batches = list(mongoarchive.record_batches(archive, "app.varied", batch_bytes=4096))
    assert len(batches) > 1 and sum(b.num_rows for b in batches) == len(DOCS)
    assert all(b.schema == batches[0].schema for b in batches)
    assert mongoarchive.to_arrow(archive, "app.empty").num_rows == 0
    with pytest.raises(mongoarchive.UsageError):
        mongoarchive.to_arrow(archive, "app.nothere")


def test_missing_extra_names_it(archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymongoarrow", None)
    monkeypatch.setitem(sys.modules, "pymongoarrow.context", None)
    with pytest.raises(mongoarchive.UsageError, match=r"mongoarchive\[arrow\]"):
        export(archive, tmp_path, format="parquet")
    assert not (tmp_path / MANIFEST).exists()


def test_import_stays_light() -> None:
    code = "import sys, mongoarchive; mongoarchive.export; print('pyarrow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_cli_report(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "export", str(archive), str(tmp_path), "--format", "arrow")
    assert status == 0
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    extra = sum(n["extra_rows"] for n in manifest["namespaces"])
    assert extra >= 1  # one row group: the schema saw every document, yet some fit no column
    noun = "row" if extra == 1 else "rows"
    summary = f"exported 4 namespaces, {len(DOCS) + 1} documents ({extra} {noun} with fields kept in _extra)"
    assert summary in out


def _element_string(key: bytes, value: bytes) -> bytes:
    return b"\x02" + key + b"\x00" + (len(value) + 1).to_bytes(4, "little") + value + b"\x00"


def _raw_doc(body: bytes) -> bytes:
    return (len(body) + 5).to_bytes(4, "little") + body + b"\x00"


HOSTILE = {
    "invalid UTF-8 in a value": [
        _raw_doc(_element_string(b"a", b"ok")),
        _raw_doc(_element_string(b"a", b"\xff")),
    ],
    "invalid UTF-8 in a key": [_raw_doc(_element_string(b"\xff", b"x"))],
    "an embedded length past its document": [_raw_doc(b"\x03a\x00" + (100).to_bytes(4, "little") + b"\x00")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_broken_documents_are_bad_bson_errors(tmp_path: Path, case: str, fmt: str) -> None:
    path = tmp_path / "h.archive"
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        c = out.add_collection("d", "c")
        for raw in HOSTILE[case]:
            c.write(raw)  # framing and CRC are sound; the inside is not
    with pytest.raises(mongoarchive.ArchiveError) as caught:
        export(path, tmp_path / "o", format=fmt, fields=["a"])  # type: ignore[arg-type]
    assert caught.value.code == "bad-bson" and caught.value.namespace == "d.c"
    assert not (tmp_path / "o" / "d" / f"c.{fmt}").exists()


def test_repeated_and_dotted_names_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "d.archive"
    dup = _raw_doc(b"\x10a\x00" + (1).to_bytes(4, "little") + b"\x10a\x00" + (2).to_bytes(4, "little"))
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        c = out.add_collection("d", "c")
        c.write({"a": 5, "b": {"x.y": 1}, "c.d": 2})
        c.write(dup)
    table = mongoarchive.to_arrow(path, "d.c")
    rows = table.to_pylist()
    assert rows[0]["a"] == 5 and json_util.loads(rows[0]["b"]) == {"x.y": 1}
    assert json.loads(rows[0]["c.d"]) == {"$numberInt": "2"}  # a dotted name is a text column
    assert rows[1]["a"] == 1 and json_util.loads(rows[1]["_extra"]) == {"a": 2}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"app.varied": {"n": "integer"}}', "unknown kind 'integer'"),
        ('{"app.varied": {"sub": {"struct": {"k": "json"}}}}', "top-level fields only"),
        ('{"app.varied": {"a.b": "int32"}}', "cannot be in a column name"),
        ('{"app.varied": {"tags": {"list": "struct"}}}', "unknown kind 'struct'"),
        ("not json", "--schema"),
    ],
)
def test_a_bad_schema_file_is_a_usage_error(archive: Path, tmp_path: Path, text: str, words: str) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(text)
    status, _, err = run_cli(archive, tmp_path / "out", "--schema", str(schema))
    assert status == 2 and words in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_a_schema_file_fixes_the_columns(archive: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    spec = {"_id": "objectId", "n": "double", "sub": {"struct": {"k": "int64"}}, "tags": {"list": "string"}}
    schema.write_text(json.dumps({"app.varied": spec}))
    status, _, err = run_cli(archive, tmp_path / "out", "--schema", str(schema))
    assert status == 0, err
    table = pq.read_table(tmp_path / "out" / "app" / "varied.parquet")
    assert table.schema.names == ["_id", "n", "sub", "tags", "_extra"]
    assert table.schema.field("n").type == pa.float64()
    assert table.schema.field("sub").type == pa.struct([pa.field("k", pa.int64())])
    # Every other field is in _extra, and each document still comes back whole (int32 widened).
    from arrow_rows import same

    rows = table.to_pylist()
    assert all(same(d, rebuild(r, table.schema)) for d, r in zip(_archive_docs(), rows, strict=True))
    assert all(r["_extra"] is not None for r in rows)


def test_csv_array_indexes_follow_go_atoi(tmp_path: Path) -> None:
    """mongoexport's csv.go indexes an array with strconv.Atoi: a sign is allowed, other digits not."""
    path = tmp_path / "c.archive"
    with mongoarchive.open(path, "w", server_version="7.0.14") as out:
        out.add_collection("db", "c").write({"a": [10, {"x": 5}], "b": "str", "n": None})
    fields = "a.+1,a.01,a.-0,a. 1,a.-1,a.1.x,b.0,a.\uff11,n,a.1.x.y,a.99999999999999999999"
    status, _, err = run_cli(path, tmp_path / "out", "--format", "csv", "--fields", fields)
    assert status == 0, err
    lines = (tmp_path / "out" / "db" / "c.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1] == '"{""x"":5}","{""x"":5}",10,,,5,,,,,'

"""Directory outputs under a bucket prefix: ``export`` to s3://, against moto's S3 server.

Each output is its own multipart upload, completed only once its namespace was
verified; the manifest goes up last and only for a complete export.  The
uploaded files are downloaded and read back with pyarrow and DuckDB.
"""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import interrupt_when, run
from s3server import FAKE_SECRET, S3Server, keys, uploads
from test_object_storage import BUCKET, get, make_archive
from test_object_storage import locked_bucket as locked_bucket
from test_object_storage import s3 as s3
from test_object_storage import s3_server as s3_server

pytest.importorskip("obstore")
pa = pytest.importorskip("pyarrow")
pytest.importorskip("pymongoarrow")
duckdb = pytest.importorskip("duckdb")
import pyarrow.parquet as pq  # noqa: E402

pytest_plugins = ["conftest_dump"]


def _damaged(data: bytes) -> bytes:
    """``data`` with the last namespace's EOF CRC changed (the file's last 13 bytes hold it)."""
    out = bytearray(data)
    out[-6] ^= 0xFF
    return bytes(out)


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "jsonl"])
def test_export_to_s3(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive(docs=50))
    url = f"s3://{BUCKET}/exports/day1/"
    status, _, err = run(capsys, "export", str(src), url, "--format", fmt)
    assert status == 0, err
    assert sorted(keys(s3, BUCKET)) == [
        "exports/day1/_manifest.json",
        f"exports/day1/app/events.{fmt}",
        f"exports/day1/app/users.{fmt}",
    ]
    assert uploads(s3, BUCKET) == []
    manifest = json.loads(get(s3, "exports/day1/_manifest.json"))
    assert manifest["complete"] and {n["documents"] for n in manifest["namespaces"]} == {50}
    local = tmp_path / f"users.{fmt}"
    local.write_bytes(get(s3, f"exports/day1/app/users.{fmt}"))
    if fmt == "parquet":
        table = pq.read_table(local)
        count, total = duckdb.connect().execute(
            "select count(*), sum(_id) from read_parquet(?)", [str(local)]
        ).fetchone()
        assert (count, total) == (50, sum(range(50)))
    elif fmt == "arrow":
        table = pa.ipc.open_file(local).read_all()
    else:
        lines = local.read_text().splitlines()
        assert len(lines) == 50 and json.loads(lines[7])["name"] == "user 7"
        return
    assert table.num_rows == 50 and table.column("name").to_pylist()[7] == "user 7"
    # Again without --force: refused, the manifest is there.
    status, _, err = run(capsys, "export", str(src), url, "--format", fmt)
    assert status == 2 and "already holds an export" in err


def test_a_damaged_archive_leaves_no_manifest_and_no_pending_upload(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bad.archive"
    src.write_bytes(_damaged(make_archive(docs=50)))
    status, _, err = run(capsys, "export", str(src), f"s3://{BUCKET}/x/", "--format", "parquet")
    assert status == 1 and "error:" in err
    names = keys(s3, BUCKET)
    assert "x/_manifest.json" not in names
    # Only namespaces whose CRC matched appear; the damaged one's upload was aborted.
    assert all(n.endswith(".parquet") for n in names) and len(names) < 2
    assert uploads(s3, BUCKET) == []


def test_an_exception_mid_export_aborts_every_upload(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mongoarchive._export_out as out
    from mongoarchive.export import export

    real = out.Upload.complete
    calls = []

    def fail_second(self: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(self)

    monkeypatch.setattr(out.Upload, "complete", fail_second)
    with pytest.raises(KeyboardInterrupt):
        export(io.BytesIO(make_archive(docs=20)), f"s3://{BUCKET}/cut/", format="parquet")
    assert "cut/_manifest.json" not in keys(s3, BUCKET)
    assert len(keys(s3, BUCKET)) == 1  # the namespace finished before the interruption


def test_export_to_a_bucket_without_permission(
    locked_bucket: tuple[Any, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, secret = locked_bucket
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    status, out, err = run(capsys, "export", str(src), f"s3://{BUCKET}/exp/", "--format", "parquet")
    assert status == 2 and f"s3://{BUCKET}/exp/" in err and "permission denied" in err, err
    assert secret not in out + err and FAKE_SECRET not in out + err


def test_rows_per_file_to_s3_is_refused(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    status, _, err = run(capsys, "export", str(src), f"s3://{BUCKET}/p/", "--rows-per-file", "10")
    assert status == 2 and "--rows-per-file" in err
    assert keys(s3, BUCKET) == []


# --- unpack and split --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_unpack_to_s3(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], gz: bool) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive(docs=30))
    args = ["--gzip"] if gz else []
    status, out, err = run(capsys, "unpack", str(src), f"s3://{BUCKET}/dump/", *args)
    assert status == 0, err
    assert f"s3://{BUCKET}/dump/" in out
    ext = ".gz" if gz else ""
    names = keys(s3, BUCKET)
    assert f"dump/app/users.bson{ext}" in names and f"dump/app/events.metadata.json{ext}" in names
    assert f"dump/prelude.json{ext}" in names
    assert uploads(s3, BUCKET) == []
    # The same bytes as a local unpack.
    status, _, err = run(capsys, "unpack", str(src), str(tmp_path / "local"), *args)
    assert status == 0, err
    for name in names:
        rel = name.removeprefix("dump/")
        assert get(s3, name) == (tmp_path / "local" / rel).read_bytes(), rel
    status, _, err = run(capsys, "unpack", str(src), f"s3://{BUCKET}/dump/", *args)
    assert status == 2 and "exists" in err and "--force" in err


def test_split_to_s3(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive(docs=30))
    status, _, err = run(capsys, "split", str(src), f"s3://{BUCKET}/parts", "--by", "namespace")
    assert status == 0, err
    assert sorted(keys(s3, BUCKET)) == ["parts/app.events.archive", "parts/app.users.archive"]
    local = tmp_path / "users.archive"
    local.write_bytes(get(s3, "parts/app.users.archive"))
    status, _, err = run(capsys, "check", str(local))
    assert status == 0, err


def test_unpack_of_a_damaged_archive_uploads_nothing(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bad.archive"
    src.write_bytes(_damaged(make_archive(docs=30)))
    for verb in ("unpack", "split"):
        status, _, err = run(capsys, verb, str(src), f"s3://{BUCKET}/d/")
        assert status == 1 and "error:" in err, (verb, err)
    assert keys(s3, BUCKET) == [] and uploads(s3, BUCKET) == []


@pytest.mark.parametrize(
    ("fmt", "sig"),
    [("jsonl", signal.SIGINT), ("jsonl", signal.SIGTERM), ("parquet", signal.SIGINT)],
    ids=["jsonl-SIGINT", "jsonl-SIGTERM", "parquet-SIGINT"],
)
def test_interrupted_export_aborts_its_uploads(s3_server: S3Server, s3: Any, fmt: str, sig: int) -> None:
    """A signal in the middle of a streamed export: its uploads are aborted, and no manifest."""
    data = make_archive(docs=40, payload=1 << 20)  # about 40 MiB: several parts per file
    argv = ["export", "-", f"s3://{BUCKET}/cut/", "--format", fmt]
    # A part is on the server: the export is mid-way.
    status, err = interrupt_when(argv, s3_server.env(), data, lambda: uploads(s3, BUCKET), sig)
    assert status == 130 and "interrupted" in err, err
    assert "cut/_manifest.json" not in keys(s3, BUCKET)
    assert uploads(s3, BUCKET) == []


def test_interrupted_unpack_upload_leaves_no_prelude(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import mongoarchive._dir_upload as up
    from mongoarchive.unpack import unpack

    real = up._upload_file
    sent: list[str] = []

    def cut(path: Path, url: str) -> None:
        if len(sent) == 2:
            raise KeyboardInterrupt
        sent.append(url)
        real(path, url)

    monkeypatch.setattr(up, "_upload_file", cut)
    with pytest.raises(KeyboardInterrupt):
        unpack(io.BytesIO(make_archive(docs=10)), f"s3://{BUCKET}/cut/")
    assert len(keys(s3, BUCKET)) == 2 and "cut/prelude.json" not in keys(s3, BUCKET)
    assert uploads(s3, BUCKET) == []


def test_unpack_to_a_bucket_without_permission(
    locked_bucket: tuple[Any, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, secret = locked_bucket
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    for verb in ("unpack", "split"):
        status, out, err = run(capsys, verb, str(src), f"s3://{BUCKET}/u/")
        assert status == 2 and "permission denied" in err, (verb, err)
        assert secret not in out + err and FAKE_SECRET not in out + err

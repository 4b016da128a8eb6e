"""Archives in object storage, against moto's S3 server and a web server on 127.0.0.1.

Reading: check, inspect, cat and the library from s3:// and http://, plain and
gzip.  Writing: filter, salvage, the library and dump to s3://, and what an
interrupted upload leaves (an exception, SIGINT, SIGTERM, SIGKILL).  Errors:
a missing bucket or key, a bucket without permission, the missing extra, and
URLs with credentials redacted everywhere.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import io
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from cli_helpers import interrupt_when, run, walk
from s3server import FAKE_KEY, FAKE_SECRET, S3Server, keys, uploads

import mongoarchive
from mongoarchive import _remote
from mongoarchive.errors import ArchiveIOError, UsageError

BUCKET = "backups"

pytest_plugins = ["conftest_dump"]  # dump_server: SecantusDB on 127.0.0.1 (tests/dumpserver.py)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh bucket BUCKET; the fake credentials and endpoint are in this test's environment only."""
    s3_server.reset()
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    client = s3_server.client()
    client.create_bucket(Bucket=BUCKET)
    yield client


def make_archive(docs: int = 50, *, gz: bool = False, payload: int = 0) -> bytes:
    """An archive of two namespaces; ``payload`` random bytes per document make it incompressible."""
    out = io.BytesIO()
    with mongoarchive.open(out, "w:gz" if gz else "w", server_version="7.0.14") as writer:
        users = writer.add_collection("app", "users", {"indexes": []})
        events = writer.add_collection("app", "events", {"indexes": []})
        for i in range(docs):
            extra = {"blob": bson.Binary(os.urandom(payload))} if payload else {}
            users.write({"_id": i, "name": f"user {i}", **extra})
            events.write({"_id": i, "kind": "login"})
    return out.getvalue()


def plain(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def get(client: Any, key: str) -> bytes:
    return bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_check_inspect_cat_from_s3(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], gz: bool
) -> None:
    data = make_archive(gz=gz)
    s3.put_object(Bucket=BUCKET, Key="dir/a.archive", Body=data)
    local = tmp_path / "a.archive"
    local.write_bytes(data)
    url = f"s3://{BUCKET}/dir/a.archive"

    status, out, _ = run(capsys, "check", "--format", "json", url)
    assert status == 0
    report = json.loads(out)
    entry = report["files"][0] if "files" in report else report
    assert report["valid"] is True and entry["file"] == url

    status, remote_json, _ = run(capsys, "inspect", "--format", "json", url)
    assert status == 0
    status, local_json, _ = run(capsys, "inspect", "--format", "json", str(local))
    remote_summary, local_summary = json.loads(remote_json), json.loads(local_json)
    assert remote_summary.pop("name", url) == url
    local_summary.pop("name", None)
    assert remote_summary == local_summary

    status, remote_cat, _ = run(capsys, "cat", url)
    assert status == 0
    lines = remote_cat.splitlines()
    assert len(lines) == 100 and lines == run(capsys, "cat", str(local))[1].splitlines()


def test_library_reads_and_writes_s3(s3: Any) -> None:
    url = f"s3://{BUCKET}/lib.archive.gz"
    with mongoarchive.open(url, "w:gz", server_version="7.0.14") as out:
        out.add_collection("db", "c", {"indexes": []}).write({"_id": 1})
    assert keys(s3, BUCKET) == ["lib.archive.gz"] and get(s3, "lib.archive.gz")[:2] == b"\x1f\x8b"
    with mongoarchive.open(url) as archive:
        assert archive.gzip and [bson.decode(bytes(raw)) for _, raw in archive.documents()] == [{"_id": 1}]
    assert mongoarchive.check_archive(url).ok()


def test_reading_is_streamed_in_bounded_chunks(s3: Any) -> None:
    data = make_archive(docs=12, payload=1 << 20)  # about 12 MiB
    s3.put_object(Bucket=BUCKET, Key="big.archive", Body=data)
    reader = _remote.RemoteReader(f"s3://{BUCKET}/big.archive", chunk=1 << 20)
    assert reader.size == len(data)
    largest, got = 0, bytearray()
    while piece := reader.read(1 << 16):
        got += piece
        largest = max(largest, len(reader._buf) + len(piece))
    assert bytes(got) == data
    assert largest < 4 << 20  # never the whole object: about one chunk at a time


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_filter_to_s3(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], gz: bool) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive(gz=gz))
    local, url = tmp_path / "out.archive", f"s3://{BUCKET}/out.archive"
    assert run(capsys, "filter", str(src), str(local), "--nsInclude", "app.users")[0] == 0
    status, out, _ = run(capsys, "filter", str(src), url, "--nsInclude", "app.users")
    assert status == 0 and url in out
    assert get(s3, "out.archive") == local.read_bytes()
    assert [ns for ns, _ in walk(plain(local.read_bytes()))] == ["app.users"] * 50
    assert uploads(s3, BUCKET) == []


def test_salvage_to_s3(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_archive()
    src = tmp_path / "cut.archive"
    src.write_bytes(data[: len(data) - 700])  # cut: the last namespace loses its end
    local, url = tmp_path / "saved.archive", f"s3://{BUCKET}/saved.archive"
    status_local = run(capsys, "salvage", str(src), str(local))[0]
    status, out, _ = run(capsys, "salvage", "--format", "json", str(src), url)
    assert status == status_local == 1  # damage found, what was intact written
    assert get(s3, "saved.archive") == local.read_bytes()
    assert url in out
    assert mongoarchive.check_archive(url).ok()


def test_salvage_from_s3_to_s3(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_archive(gz=True)
    s3.put_object(Bucket=BUCKET, Key="in.archive.gz", Body=data)
    status, _, _ = run(capsys, "salvage", f"s3://{BUCKET}/in.archive.gz", f"s3://{BUCKET}/copy.archive")
    assert status == 0
    assert plain(get(s3, "copy.archive")) == gzip.decompress(data)  # intact: the same bytes


def test_merge_and_pack_to_s3(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "one.archive", f"s3://{BUCKET}/two.archive"
    first.write_bytes(make_archive())
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.14") as writer:
        writer.add_collection("other", "c", {"indexes": []}).write({"_id": "x"})
    s3.put_object(Bucket=BUCKET, Key="two.archive", Body=out.getvalue())
    local_merge = tmp_path / "merged.archive"
    assert run(capsys, "merge", str(first), second, str(local_merge))[0] == 0
    assert run(capsys, "merge", str(first), second, f"s3://{BUCKET}/merged.archive")[0] == 0
    assert get(s3, "merged.archive") == local_merge.read_bytes()

    folder = tmp_path / "dump"
    assert run(capsys, "unpack", str(first), str(folder))[0] == 0
    local_pack = tmp_path / "packed.archive"
    assert run(capsys, "pack", str(folder), str(local_pack))[0] == 0
    assert run(capsys, "pack", str(folder), f"s3://{BUCKET}/packed.archive")[0] == 0
    assert get(s3, "packed.archive") == local_pack.read_bytes()
    assert uploads(s3, BUCKET) == []


def archive_docs(source: str | Path) -> dict[str, list[dict[str, Any]]]:
    docs: dict[str, list[dict[str, Any]]] = {}
    with mongoarchive.open(source) as archive:
        for ns, raw in archive.documents():
            docs.setdefault(f"{ns.db}.{ns.collection}", []).append(bson.decode(bytes(raw)))
    return docs


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_dump_to_s3(
    dump_server: Any, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], gz: bool
) -> None:
    url = f"s3://{BUCKET}/beta.archive" + (".gz" if gz else "")
    local = tmp_path / "beta.archive"
    flags = ["--uri", dump_server.uri, "--db", "beta", *(["--gzip"] if gz else [])]
    assert run(capsys, "dump", *flags, "--archive", str(local))[0] == 0
    status, _, err = run(capsys, "dump", *flags, f"--archive={url}")
    assert status == 0, err
    assert keys(s3, BUCKET) == [url.rsplit("/", 1)[1]] and uploads(s3, BUCKET) == []
    assert (get(s3, url.rsplit("/", 1)[1])[:2] == b"\x1f\x8b") == gz
    assert archive_docs(url) == archive_docs(local) and len(archive_docs(url)) == 5
    assert run(capsys, "check", url)[0] == 0


def test_dump_to_a_missing_bucket_fails_before_reading(
    dump_server: Any, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "s3://no-such-bucket/beta.archive"
    status, _, err = run(capsys, "dump", "--uri", dump_server.uri, "--db", "beta", f"--archive={url}")
    assert status == 2 and f"{url}: no such bucket" in err
    assert "connect" not in err.lower()


def test_exception_mid_upload_leaves_nothing(s3: Any) -> None:
    url = f"s3://{BUCKET}/broken.archive"
    with pytest.raises(RuntimeError), mongoarchive.open(url, "w", server_version="7.0.14") as out:
        ns = out.add_collection("db", "c", {"indexes": []})
        for _ in range(3 * _remote.PART_SIZE // (1 << 20)):
            ns.write({"blob": bson.Binary(os.urandom(1 << 20))})
        assert uploads(s3, BUCKET) == ["broken.archive"]  # parts are on the server already
        raise RuntimeError("mid-way")
    assert keys(s3, BUCKET) == [] and uploads(s3, BUCKET) == []


def _filter_from_pipe(server: S3Server, url: str, data: bytes, sig: int, s3: Any) -> tuple[int, str]:
    """Run filter from stdin to ``url``, feed half of ``data``, send ``sig`` once a part is being sent."""
    return interrupt_when(["filter", "-", url], server.env(), data, lambda: uploads(s3, BUCKET), sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_filter_aborts_its_upload(s3_server: S3Server, s3: Any, sig: int) -> None:
    data = make_archive(docs=40, payload=1 << 20)  # about 40 MiB: several parts
    status, err = _filter_from_pipe(s3_server, f"s3://{BUCKET}/cut.archive", data, sig, s3)
    assert status == 130 and "interrupted" in err
    assert keys(s3, BUCKET) == [] and uploads(s3, BUCKET) == []


def test_killed_filter_leaves_no_object(s3_server: S3Server, s3: Any) -> None:
    data = make_archive(docs=40, payload=1 << 20)
    status, _ = _filter_from_pipe(s3_server, f"s3://{BUCKET}/killed.archive", data, signal.SIGKILL, s3)
    assert status == -signal.SIGKILL
    # No object under the name; the upload itself stays until a lifecycle rule removes it
    # (docs/object-storage.md): nothing is left to abort it.
    assert keys(s3, BUCKET) == []
    assert uploads(s3, BUCKET) == ["killed.archive"]


def test_small_archive_is_one_put_at_commit(s3: Any) -> None:
    url = f"s3://{BUCKET}/small.archive"
    writer = mongoarchive.open(url, "w", server_version="7.0.14")
    writer.add_collection("db", "c", {"indexes": []}).write({"_id": 1})
    assert keys(s3, BUCKET) == []  # nothing visible before the archive is complete
    writer.close()
    assert keys(s3, BUCKET) == ["small.archive"]


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [f"s3://{BUCKET}/missing.archive", "s3://no-such-bucket/a.archive"], ids=["key", "bucket"]
)
def test_missing_object_is_a_clear_error(s3: Any, capsys: pytest.CaptureFixture[str], url: str) -> None:
    for verb in ("check", "inspect", "cat"):
        status, _, err = run(capsys, verb, url)
        assert status == 2, verb
        line = [x for x in err.splitlines() if "error:" in x]
        assert len(line) == 1 and url in line[0] and "not found" in line[0]


def test_writing_to_a_missing_bucket_fails_first(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    status, _, err = run(capsys, "filter", str(src), "s3://no-such-bucket/out.archive")
    assert status == 2 and "s3://no-such-bucket/out.archive: no such bucket" in err


@pytest.fixture
def locked_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Server, str]]:
    """A server that checks IAM; an archive in BUCKET and a user with no permission at all."""
    # Free requests: CreateBucket, PutObject, CreateUser, CreateAccessKey (moto counts them).
    server = S3Server(auth=True, free_actions=4)
    try:
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="a.archive", Body=make_archive())
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=server.endpoint,
            aws_access_key_id=FAKE_KEY,
            aws_secret_access_key=FAKE_SECRET,
            region_name="us-east-1",
        )
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        for name, value in server.env(key["AccessKeyId"], key["SecretAccessKey"]).items():
            monkeypatch.setenv(name, value)
        yield server, key["SecretAccessKey"]
    finally:
        server.stop()


def test_bucket_without_permission(
    locked_bucket: tuple[S3Server, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, secret = locked_bucket
    url = f"s3://{BUCKET}/a.archive"
    status, out, err = run(capsys, "check", url)
    assert status == 2 and f"cannot open {url}: permission denied" in err
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    status, out2, err2 = run(capsys, "filter", str(src), f"s3://{BUCKET}/out.archive")
    assert status == 2 and f"s3://{BUCKET}/out.archive" in err2 and "permission denied" in err2
    for text in (out, err, out2, err2):
        assert secret not in text and FAKE_SECRET not in text


def test_missing_extra_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "obstore", None)  # import obstore now raises ImportError
    with pytest.raises(ArchiveIOError) as info:
        mongoarchive.open("s3://bucket/a.archive")
    assert "mongoarchive[cloud]" in str(info.value)
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    status, _, err = run(capsys, "filter", str(src), "gs://bucket/out.archive")
    assert status == 2 and "mongoarchive[cloud]" in err


def test_directories_and_web_destinations_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.archive"
    src.write_bytes(make_archive())
    for argv in (
        ["pack", "s3://bucket/dir", str(tmp_path / "o.archive")],
        ["filter", str(src), "https://example.invalid/out.archive"],
    ):
        status, _, err = run(capsys, *argv)
        assert status == 2 and "error:" in err, argv
    assert not any(p.name.startswith("s3:") for p in tmp_path.iterdir())
    assert not Path("s3:").exists()


# --- https and redaction -----------------------------------------------------------------------

USER, PASSWORD, SIGNATURE = "reader", "hunter2-secret", "deadbeefsignature"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A web server on 127.0.0.1 serving ``files`` (name -> bytes) to Basic auth USER:PASSWORD."""
    files: dict[str, bytes] = {}
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.split("?", 1)[0].lstrip("/")
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.end_headers()
                return
            if name not in files:
                self.send_response(404)
                self.end_headers()
                return
            body = files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{USER}:{PASSWORD}@127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_web_source_with_credentials_is_read_and_redacted(
    web: tuple[str, dict[str, bytes]], tmp_path: Path, capsys: pytest.CaptureFixture[str], gz: bool
) -> None:
    base, files = web
    files["a.archive"] = make_archive(gz=gz)
    url = f"{base}/a.archive?X-Amz-Signature={SIGNATURE}&X-Amz-Credential=AKIA%2Fx"
    shown = _remote.redact(url)
    assert PASSWORD not in shown and SIGNATURE not in shown and "X-Amz-Signature=REDACTED" in shown
    outputs = []
    for argv in (["check", url], ["check", "--format", "json", url], ["inspect", url]):
        status, out, err = run(capsys, *argv)
        assert status == 0, (argv, err)
        outputs += [out, err]
    status, out, err = run(capsys, "inspect", "--format", "json", url)
    local = tmp_path / "a.archive"
    local.write_bytes(files["a.archive"])
    expected = json.loads(run(capsys, "inspect", "--format", "json", str(local))[1])
    assert status == 0 and json.loads(out) == expected
    outputs += [out, err]
    status, out, err = run(capsys, "cat", url)
    assert status == 0 and len(out.splitlines()) == 100
    outputs.append(err)
    missing = f"{base}/gone.archive?sig={SIGNATURE}"
    status, out, err = run(capsys, "check", missing)
    assert status == 2 and _remote.redact(missing) in err
    outputs += [out, err]
    for text in outputs:
        assert PASSWORD not in text and SIGNATURE not in text
    assert any(shown in text for text in outputs)


def test_redact() -> None:
    assert _remote.redact("https://u:p@h.example/x.archive") == "https://***@h.example/x.archive"
    assert _remote.redact("s3://b/k.archive") == "s3://b/k.archive"
    assert _remote.redact("https://h/k?X-Amz-Signature=s&a=1") == "https://h/k?X-Amz-Signature=REDACTED&a=REDACTED"
    text = "cannot open https://u:secret@h/k?sig=abc: refused"
    assert "secret" not in _remote.redact_text(text) and "abc" not in _remote.redact_text(text)


def test_url_forms() -> None:
    assert _remote._split("s3://bucket/dir/a.archive") == ("s3://bucket", {}, "dir/a.archive")
    assert _remote._split("gs://bucket/a%20b.archive")[2] == "a b.archive"
    assert _remote._split("az://container/a.archive")[0] == "az://container"
    assert _remote._split("s3://bucket/a%3Fb%23c")[2] == "a?b#c"
    for bad in ("s3://bucket", "s3://bucket/", "s3://bucket/dir/", "s3://bucket/a?b", "s3://bucket/a#b"):
        with pytest.raises(UsageError):
            _remote._split(bad)
    assert _remote.join("s3://b/dir/", "x.parquet") == "s3://b/dir/x.parquet"
    assert _remote.join("out", "x.parquet") == os.path.join("out", "x.parquet")
    assert not _remote.is_url("s3:/b/x") and not _remote.is_url(Path("s3://b/x"))

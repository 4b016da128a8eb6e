"""The dump driver against a live SecantusDB server (tests/dumpserver.py, tests/conftest_dump.py).

The session's server holds: alpha.types (every BSON type, _ids of nine types),
alpha.big (> 16 MiB: three 1 MiB documents and one of ~16 MiB), alpha.many
(3000 small documents), alpha.empty, alpha.shaped (validator, collation, and
compound/unique/TTL/partial/sparse/2dsphere/wildcard/collation indexes),
the view alpha.small_view, the capped alpha.capped, gamma.weather (timeseries,
listed by SecantusDB as a plain collection), beta.{one,two,skip_a,skip_b,keep},
and users in admin, alpha and beta (SecantusDB lists no admin database).
Every archive is read back with our reader and compared with what the server
itself returns.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import json_util
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

import mongoarchive
from mongoarchive.cli import main
from mongoarchive.dump import (
    AuthenticationError,
    DumpError,
    OplogOverflowError,
    ServerConnectionError,
    dump,
)
from mongoarchive.errors import ArchiveIOError, MongoArchiveError, UsageError

pytest_plugins = ["conftest_dump"]

from dumpserver import SecantusServer, free_port  # noqa: E402

DECODE: CodecOptions[dict[str, Any]] = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)


def read_archive(path: Path | str) -> tuple[Any, list[Any], dict[tuple[str, str], list[bytes]]]:
    """Header, prelude entries and every namespace's documents (raw bytes) from our reader."""
    docs: dict[tuple[str, str], list[bytes]] = {}
    with mongoarchive.open(path) as archive:
        header = archive.header
        entries = list(archive.collections)
        for ns, raw in archive.documents():
            docs.setdefault((ns.db, ns.collection), []).append(bytes(raw))
        assert all(s.crc == "ok" for s in archive.namespaces.values())
        assert archive.finished
    return header, entries, docs


def server_docs(client: MongoClient[RawBSONDocument], db: str, coll: str, flt: Any = None) -> list[bytes]:
    return [bytes(d.raw) for d in client[db][coll].find(flt or {})]


def no_archive_left(path: Path) -> bool:
    """Neither the archive nor a partial temporary file is left in the directory."""
    return not path.exists() and not [p for p in path.parent.iterdir() if p.name.startswith("." + path.name)]


# -- full dump ---------------------------------------------------------------
@pytest.fixture(scope="module")
def full_dump(dump_server: SecantusServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("full") / "full.archive"
    dump(path, uri=dump_server.uri, parallel=3)
    return path


def test_full_dump_documents_are_the_servers_bytes(
    full_dump: Path, raw_client: MongoClient[RawBSONDocument]
) -> None:
    _, entries, docs = read_archive(full_dump)
    for db in ("alpha", "beta"):
        for info in raw_client[db].list_collections():
            name = info["name"]
            if info["type"] == "view":
                assert docs.get((db, name), []) == []
                continue
            expected = server_docs(raw_client, db, name)
            assert docs.get((db, name), []) == expected, f"{db}.{name}"
    # The >16 MiB collection is complete, including the ~16 MiB document.
    big = docs[("alpha", "big")]
    assert len(big) == 4 and sum(map(len, big)) > 16 * 1024 * 1024
    assert max(map(len, big)) > 15 * 1024 * 1024
    names = {(e.db, e.collection) for e in entries}
    assert not any(db in ("local", "config") for db, _ in names)
    assert ("alpha", "empty") in names and ("alpha", "empty") not in docs


def test_full_dump_lists_what_listcollections_lists(
    full_dump: Path, raw_client: MongoClient[RawBSONDocument]
) -> None:
    """The namespaces are the listed ones, nothing probed: SecantusDB lists no admin database,
    so, as with mongodump, no admin.system.* namespace is dumped."""
    _, entries, _ = read_archive(full_dump)
    listed = {
        (db, info["name"])
        for db in raw_client.list_database_names()
        if db not in ("local", "config")
        for info in raw_client[db].list_collections()
    }
    assert "admin" not in raw_client.list_database_names()
    assert [(e.db, e.collection) for e in entries if e.db == "admin"] == []
    assert {(e.db, e.collection) for e in entries} == listed


def test_full_dump_header_and_prelude(full_dump: Path, raw_client: MongoClient[RawBSONDocument]) -> None:
    header, entries, _ = read_archive(full_dump)
    assert header.server_version == raw_client.admin.command("buildInfo")["version"]
    assert header.concurrent_collections == 3
    assert header.tool_version.startswith("mongoarchive ")
    types = {(e.db, e.collection): e.type for e in entries}
    assert types[("alpha", "small_view")] == "view"
    assert types[("alpha", "types")] == "collection"
    assert all(e.size == 0 for e in entries)


def test_metadata_equals_listcollections_and_listindexes(
    full_dump: Path, dump_server: SecantusServer
) -> None:
    _, entries, _ = read_archive(full_dump)
    by_ns = {(e.db, e.collection): e for e in entries}
    with MongoClient(dump_server.uri) as client:
        for db in ("alpha", "beta"):
            for info in client[db].list_collections():
                info = bson.decode(bson.encode(info), codec_options=DECODE)
                meta = json_util.loads(by_ns[(db, info["name"])].metadata)
                assert meta.get("options", {}) == info["options"]
                assert (
                    meta["uuid"] == info["info"]["uuid"].hex()
                    if hasattr(info["info"]["uuid"], "hex")
                    else True
                )
                assert bytes.fromhex(meta["uuid"]) == bytes(info["info"]["uuid"])
                assert meta["collectionName"] == info["name"]
                assert meta["type"] == info["type"]
                if info["type"] == "view":
                    assert meta["indexes"] == []
                    continue
                indexes = [
                    bson.decode(bson.encode(i), codec_options=DECODE)
                    for i in client[db][info["name"]].list_indexes()
                ]
                assert meta["indexes"] == indexes
                # key order of every index document is the server's
                assert [list(i) for i in meta["indexes"]] == [list(i) for i in indexes]
    shaped = json_util.loads(by_ns[("alpha", "shaped")].metadata)
    names = {i["name"] for i in shaped["indexes"]}
    assert {"k_b", "b_unique", "t_1", "k_partial", "s_1", "loc_2dsphere", "wild", "b_fr"} <= names
    assert shaped["options"]["validator"] == {"$jsonSchema": {"bsonType": "object", "required": ["k"]}}
    assert shaped["options"]["collation"]["locale"] == "en"


def test_metadata_text_style(full_dump: Path) -> None:
    """Compact canonical Extended JSON, keys in mongodump's order."""
    _, entries, _ = read_archive(full_dump)
    for e in entries:
        if not e.metadata:
            continue
        assert ": " not in e.metadata and ", " not in e.metadata.replace('", "', "")
        keys = list(json_util.loads(e.metadata))
        order = ["options", "indexes", "uuid", "collectionName", "type"]
        assert keys == [k for k in order if k in keys]
        if json_util.loads(e.metadata)["indexes"]:
            assert '"v":{"$numberInt":"2"}' in e.metadata  # canonical, not relaxed


def test_gzip_to_path_and_directory(dump_server: SecantusServer, tmp_path: Path) -> None:
    dump(tmp_path, uri=dump_server.uri, db="beta", gzip=True)
    target = tmp_path / "archive.gz"
    assert target.read_bytes()[:2] == b"\x1f\x8b"
    with mongoarchive.open(target) as archive:
        assert archive.gzip
        assert {e.collection for e in archive.collections} == {"one", "two", "skip_a", "skip_b", "keep"}


def test_stdout_archive(
    dump_server: SecantusServer, tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    status = main(
        ["dump", "--uri", dump_server.uri, "--db", "beta", "--collection", "one", "--archive", "--quiet"]
    )
    out = capfdbinary.readouterr().out
    assert status == 0
    (tmp_path / "x").write_bytes(out)
    _, entries, docs = read_archive(tmp_path / "x")
    assert [(e.db, e.collection) for e in entries] == [("beta", "one")]
    assert len(docs[("beta", "one")]) == 20


# -- selection -----------------------------------------------------------------
def prelude_names(path: Path) -> set[str]:
    with mongoarchive.open(path) as archive:
        return {f"{e.db}.{e.collection}" for e in archive.collections}


def test_select_db(dump_server: SecantusServer, archive_path: Path) -> None:
    dump(archive_path, uri=dump_server.uri, db="beta")
    assert prelude_names(archive_path) == {f"beta.{c}" for c in ("one", "two", "skip_a", "skip_b", "keep")}


def test_select_collection_and_query(
    dump_server: SecantusServer, archive_path: Path, raw_client: MongoClient[RawBSONDocument]
) -> None:
    dump(archive_path, uri=dump_server.uri, db="alpha", collection="many", query='{"v": {"$numberInt": "3"}}')
    _, entries, docs = read_archive(archive_path)
    assert [(e.db, e.collection) for e in entries] == [("alpha", "many")]
    assert docs[("alpha", "many")] == server_docs(raw_client, "alpha", "many", {"v": 3})
    assert 0 < len(docs[("alpha", "many")]) < 3000


def test_select_query_file(
    dump_server: SecantusServer, tmp_path: Path, raw_client: MongoClient[RawBSONDocument]
) -> None:
    qf = tmp_path / "q.json"
    qf.write_text('{"_id": {"$gte": 2990}}', encoding="utf-8")
    out = tmp_path / "q.archive"
    dump(out, uri=dump_server.uri, db="alpha", collection="many", query_file=str(qf))
    _, _, docs = read_archive(out)
    assert docs[("alpha", "many")] == server_docs(raw_client, "alpha", "many", {"_id": {"$gte": 2990}})
    assert len(docs[("alpha", "many")]) == 10


def test_exclude_collection_and_prefix(dump_server: SecantusServer, archive_path: Path) -> None:
    dump(
        archive_path,
        uri=dump_server.uri,
        db="beta",
        exclude_collections=["keep"],
        exclude_collections_with_prefix=["skip_"],
    )
    assert prelude_names(archive_path) == {"beta.one", "beta.two"}


def test_ns_include_exclude(dump_server: SecantusServer, archive_path: Path) -> None:
    dump(archive_path, uri=dump_server.uri, ns_include=["beta.*", "*.types"], ns_exclude=["beta.skip*"])
    assert prelude_names(archive_path) == {"beta.one", "beta.two", "beta.keep", "alpha.types"}


def test_views_as_collections(
    dump_server: SecantusServer, archive_path: Path, raw_client: MongoClient[RawBSONDocument]
) -> None:
    dump(archive_path, uri=dump_server.uri, db="alpha", views_as_collections=True)
    _, entries, docs = read_archive(archive_path)
    # mongodump keeps the type "view" and drops viewOn/pipeline (prepare.go NewIntentFromOptions).
    assert [(e.db, e.collection, e.type) for e in entries] == [("alpha", "small_view", "view")]
    meta = json_util.loads(entries[0].metadata)
    assert "viewOn" not in meta.get("options", {}) and meta["indexes"] == [] and meta["type"] == "view"
    assert docs[("alpha", "small_view")] == server_docs(raw_client, "alpha", "small_view")
    assert len(docs[("alpha", "small_view")]) > 0


def test_dump_db_users_and_roles_needs_an_auth_schema_version(
    dump_server: SecantusServer, archive_path: Path
) -> None:
    """SecantusDB reports no authSchemaVersion: mongodump refuses, and so do we (common/auth)."""
    with pytest.raises(DumpError, match="auth schema version") as exc:
        dump(archive_path, uri=dump_server.uri, db="beta", dump_db_users_and_roles=True)
    assert exc.value.code == "auth-schema"
    assert no_archive_left(archive_path)


@pytest.mark.parametrize(
    "fields",
    [
        {"collection": "x"},
        {"query": "{}"},
        {"db": "beta", "collection": "system.buckets.x"},
        {"db": "beta", "oplog": True},
        {"db": "beta", "collection": "one", "exclude_collections": ["two"]},
        {"exclude_collections_with_prefix": ["a"]},
        {"parallel": 0},
        {"db": "beta", "collection": "one", "query": "{not json"},
        {"dump_db_users_and_roles": True},
    ],
)
def test_bad_option_combinations(
    dump_server: SecantusServer, archive_path: Path, fields: dict[str, Any]
) -> None:
    with pytest.raises(UsageError):
        dump(archive_path, uri=dump_server.uri, **fields)
    assert no_archive_left(archive_path)


# -- errors ------------------------------------------------------------------------
def test_unknown_database_and_collection(dump_server: SecantusServer, archive_path: Path) -> None:
    with pytest.raises(DumpError, match="does not exist") as exc:
        dump(archive_path, uri=dump_server.uri, db="nosuchdb")
    assert exc.value.code == "not-found"
    with pytest.raises(DumpError, match="does not exist"):
        dump(archive_path, uri=dump_server.uri, db="alpha", collection="nosuch")
    assert no_archive_left(archive_path)


def test_unreachable_server(archive_path: Path) -> None:
    with pytest.raises(ServerConnectionError, match="cannot reach"):
        dump(archive_path, host="127.0.0.1", port=free_port(), timeout=0.5)
    assert no_archive_left(archive_path)


def test_bad_credentials(dump_server: SecantusServer, archive_path: Path) -> None:
    with pytest.raises(AuthenticationError):
        dump(
            archive_path,
            host="127.0.0.1",
            port=dump_server.port,
            username="root_user",
            password="wrong",
            authentication_database="admin",
            db="beta",
        )
    assert no_archive_left(archive_path)


def test_good_credentials_host_port(dump_server: SecantusServer, archive_path: Path) -> None:
    dump(
        archive_path,
        host="127.0.0.1",
        port=dump_server.port,
        username="root_user",
        password="secret",
        authentication_database="admin",
        read_preference="primaryPreferred",
        db="beta",
        collection="one",
    )
    assert prelude_names(archive_path) == {"beta.one"}


class FailingSink:
    """A binary file that fails after ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > self.limit:
            raise OSError(28, "No space left on device")
        return len(data)

    def flush(self) -> None:
        return None


def test_write_error_is_archive_io_error(dump_server: SecantusServer) -> None:
    with pytest.raises(ArchiveIOError, match="No space left"):
        dump(FailingSink(100_000), uri=dump_server.uri, db="alpha")


def test_ctrl_c_leaves_no_archive(dump_server: SecantusServer, archive_path: Path) -> None:
    def progress(ns: str, docs: int, nbytes: int, estimate: int, done: bool) -> None:
        if docs > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dump(archive_path, uri=dump_server.uri, db="alpha", progress=progress)
    assert no_archive_left(archive_path)


def failpoint(client: MongoClient[Any], data: dict[str, Any] | None, mode: Any = "alwaysOn") -> None:
    if data is None:
        client.admin.command("configureFailPoint", "failCommand", mode="off")
    else:
        client.admin.command("configureFailPoint", "failCommand", mode=mode, data=data)


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        ({"failCommands": ["getMore"], "errorCode": 2}, DumpError, "server-error"),
        ({"failCommands": ["getMore"], "errorCode": 43}, DumpError, "cursor-killed"),
        ({"failCommands": ["getMore"], "closeConnection": True}, ServerConnectionError, "connection-lost"),
        ({"failCommands": ["find"], "errorCode": 13}, DumpError, "not-authorized"),
    ],
)
def test_injected_errors_leave_no_archive(
    dump_server: SecantusServer, archive_path: Path, data: dict[str, Any], error: type[Exception], code: str
) -> None:
    with dump_server.client() as admin:
        failpoint(admin, data)
        try:
            with pytest.raises(error) as exc:
                dump(archive_path, uri=dump_server.uri, db="alpha", collection="many")
        finally:
            failpoint(admin, None)
    assert isinstance(exc.value, MongoArchiveError)
    assert exc.value.code == code
    assert no_archive_left(archive_path)


def test_cli_error_is_one_line(
    dump_server: SecantusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "x.archive"
    status = main(["dump", "--uri", dump_server.uri, "--db", "nosuchdb", "--archive", str(target)])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and "does not exist" in err
    assert not target.exists()


def test_cli_summary(dump_server: SecantusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.archive"
    status = main(["dump", "--uri", dump_server.uri, "--db", "beta", "-j", "2", f"--archive={target}"])
    err = capsys.readouterr().err
    assert status == 0
    assert "beta.one" in err and "done: 5 namespaces, 100 documents" in err
    with mongoarchive.open(target) as archive:
        assert archive.header.concurrent_collections == 2


# -- oplog ---------------------------------------------------------------------------
def test_oplog_with_writes_during_the_dump(dump_server: SecantusServer, archive_path: Path) -> None:
    writer = dump_server.client()
    inserted: list[int] = []
    lock = threading.Lock()

    def progress(ns: str, docs: int, nbytes: int, estimate: int, done: bool) -> None:
        # Writes while the collections are being read: they must reach the archive's oplog.
        with lock:
            if ns.startswith("alpha.") and len(inserted) < 40:
                n = 10_000 + len(inserted)
                writer.live.events.insert_one({"_id": n})
                inserted.append(n)

    try:
        result = dump(archive_path, uri=dump_server.uri, oplog=True, progress=progress)
    finally:
        writer.close()
    assert inserted and result.oplog_start is not None and result.oplog_end is not None
    _, entries, docs = read_archive(archive_path)
    assert (entries[-1].db, entries[-1].collection, entries[-1].metadata) == ("", "oplog", "")
    oplog = [bson.decode(d) for d in docs[("", "oplog")]]
    assert all(result.oplog_start <= e["ts"] <= result.oplog_end for e in oplog)
    captured = {e["o"]["_id"] for e in oplog if e.get("ns") == "live.events" and e["op"] == "i"}
    dumped = {bson.decode(d)["_id"] for d in docs.get(("live", "events"), [])}
    # Point in time: every write is in the data or in the oplog copy.
    assert set(inserted) <= captured | dumped
    assert captured - dumped  # some writes happened after their collection was read, or before listing


def test_oplog_overflow(tmp_path: Path) -> None:
    server = SecantusServer(tmp_path / "small", oplog_max_entries=5).start()
    try:
        with server.client() as client:
            client.t.c.insert_many([{"_id": i} for i in range(20)])
            client.admin.command("secantusAdmin.pruneOplog")

            def progress(ns: str, docs: int, nbytes: int, estimate: int, done: bool) -> None:
                if done and ns == "t.c":
                    for i in range(20):
                        client.t.d.insert_one({"_id": i})
                    client.admin.command("secantusAdmin.pruneOplog")

            target = tmp_path / "o.archive"
            with pytest.raises(OplogOverflowError, match="oplog overflow") as exc:
                dump(target, uri=server.uri, oplog=True, parallel=1, progress=progress)
            assert exc.value.code == "oplog-overflow"
            assert no_archive_left(target)
    finally:
        server.stop()
    assert not os.path.exists(tmp_path / "o.archive")

"""The dump driver against mockupdb: shapes SecantusDB cannot produce.

SecantusDB refuses text and hashed indexes, lists timeseries collections as
plain collections, keeps no credentials in admin.system.users, reports no
auth schema version and always reports version 8.2.11.  Here a scripted
server (mockupdb) answers like mongod 7.0 does for those: a timeseries
collection X (prelude entry X with type "timeseries", data read from
system.buckets.X because the server is older than 8.3), a collection with
text and hashed indexes, a capped collection, and users with SCRAM
credentials; variants answer as a replica set member with an oplog, as a
server leaving admin out of listDatabases, with buildInfo versions
mongorestore cannot parse, and as 8.3 (viewless timeseries).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Binary, Timestamp, json_util

import mongoarchive
from mongoarchive._dump_server import parse_server_version
from mongoarchive.dump import DumpError, dump

mockupdb = pytest.importorskip("mockupdb")

UUID_TS = Binary(bytes(range(16)), 4)
UUID_TXT = Binary(bytes(range(16, 32)), 4)
TEXT_INDEXES = [
    {"v": 2, "key": {"_id": 1}, "name": "_id_"},
    {
        "v": 2,
        "key": {"_fts": "text", "_ftsx": 1},
        "name": "body_text",
        "weights": {"body": 1},
        "default_language": "english",
        "language_override": "language",
        "textIndexVersion": 3,
    },
    {"v": 2, "key": {"h": "hashed"}, "name": "h_hashed"},
]
TS_OPTIONS = {
    "timeseries": {"timeField": "t", "metaField": "m", "granularity": "seconds", "bucketMaxSpanSeconds": 3600}
}
BUCKETS = [{"_id": i, "control": {"version": 1}, "meta": {"dev": i}, "data": {"t": {}}} for i in range(3)]
USERS = [
    {
        "_id": "admin.root",
        "user": "root",
        "db": "admin",
        "credentials": {
            "SCRAM-SHA-256": {"iterationCount": 15000, "salt": "c2FsdA==", "storedKey": "a", "serverKey": "b"}
        },
        "roles": [{"role": "root", "db": "admin"}],
    }
]
COLLECTIONS: dict[str, list[dict[str, Any]]] = {
    "tsdb": [
        {
            "name": "weather",
            "type": "timeseries",
            "options": TS_OPTIONS,
            "info": {"readOnly": False, "uuid": UUID_TS},
        },
        {"name": "docs", "type": "collection", "options": {}, "info": {"readOnly": False, "uuid": UUID_TXT}},
        {
            "name": "capped",
            "type": "collection",
            "options": {"capped": True, "size": 4096, "max": 5},
            "info": {"readOnly": False},
        },
        {"name": "system.buckets.weather", "type": "collection", "options": {}, "info": {"readOnly": False}},
        {"name": "system.views", "type": "collection", "options": {}, "info": {"readOnly": False}},
    ],
    "admin": [
        {"name": "system.users", "type": "collection", "options": {}, "info": {"readOnly": False}},
        {"name": "system.version", "type": "collection", "options": {}, "info": {"readOnly": False}},
    ],
}
DATA: dict[str, list[dict[str, Any]]] = {
    "tsdb.system.buckets.weather": BUCKETS,
    "tsdb.docs": [{"_id": 1, "body": "hello", "h": 5}],
    "tsdb.capped": [{"_id": i} for i in range(5)],
    "admin.system.users": USERS,
    "admin.system.version": [{"_id": "authSchema", "currentVersion": 5}],
}
INDEXES = {"tsdb.docs": TEXT_INDEXES, "tsdb.weather": [{"v": 2, "key": {"m": 1, "t": 1}, "name": "m_1_t_1"}]}


def handler(request: Any) -> bool:
    doc = request.doc
    name = request.command_name
    db = request.namespace.split(".")[0] if request.namespace else doc.get("$db", "admin")
    db = doc.get("$db", db)
    if name in ("ismaster", "isMaster", "hello"):
        return bool(request.ok(ismaster=True, isWritablePrimary=True, maxWireVersion=21, minWireVersion=0))
    if name in ("ping", "endSessions", "killCursors"):
        return bool(request.ok())
    if name == "buildInfo" or name == "buildinfo":
        return bool(request.ok(version="7.0.14", versionArray=[7, 0, 14, 0]))
    if name == "listDatabases":
        return bool(request.ok(databases=[{"name": "admin"}, {"name": "tsdb"}, {"name": "local"}]))
    if name == "getParameter":
        return bool(request.ok(authSchemaVersion=5))
    if name == "listCollections":
        flt = doc.get("filter") or {}
        colls = [c for c in COLLECTIONS.get(db, []) if not flt or c["name"] == flt.get("name")]
        return bool(request.ok(cursor={"id": 0, "ns": f"{db}.$cmd.listCollections", "firstBatch": colls}))
    if name == "listIndexes":
        ns = f"{db}.{doc['listIndexes']}"
        batch = INDEXES.get(ns, [{"v": 2, "key": {"_id": 1}, "name": "_id_"}])
        return bool(request.ok(cursor={"id": 0, "ns": ns, "firstBatch": batch}))
    if name in ("count", "aggregate"):
        if name == "aggregate":
            return bool(request.ok(cursor={"id": 0, "ns": db, "firstBatch": [{"n": 1}]}))
        return bool(request.ok(n=len(DATA.get(f"{db}.{doc['count']}", []))))
    if name == "find":
        ns = f"{db}.{doc['find']}"
        return bool(request.ok(cursor={"id": 0, "ns": ns, "firstBatch": DATA.get(ns, [])}))
    return False


@pytest.fixture(scope="module")
def mock_server() -> Iterator[Any]:
    server = mockupdb.MockupDB(auto_ismaster=False)
    server.autoresponds(handler)
    server.run()
    try:
        yield server
    finally:
        server.stop()


def test_timeseries_text_hashed_capped_and_credentials(mock_server: Any, tmp_path: Path) -> None:
    target = tmp_path / "m.archive"
    result = dump(target, uri=mock_server.uri + "/?directConnection=true", timeout=5)
    assert result.server_version == "7.0.14"
    with mongoarchive.open(target) as archive:
        entries = {(e.db, e.collection): e for e in archive.collections}
        docs: dict[tuple[str, str], list[bytes]] = {}
        for ns, raw in archive.documents():
            docs.setdefault((ns.db, ns.collection), []).append(bytes(raw))
    # Timeseries: the prelude names X with type timeseries, the data block is system.buckets.X.
    ts = entries[("tsdb", "weather")]
    assert ts.type == "timeseries"
    meta = json_util.loads(ts.metadata)
    assert meta["options"] == TS_OPTIONS and meta["type"] == "timeseries"
    assert meta["uuid"] == bytes(UUID_TS).hex()
    assert ("tsdb", "system.buckets.weather") not in entries and ("tsdb", "system.views") not in entries
    assert docs[("tsdb", "system.buckets.weather")] == [bson.encode(b) for b in BUCKETS]
    # Text and hashed indexes are carried verbatim.
    assert json_util.loads(entries[("tsdb", "docs")].metadata)["indexes"] == TEXT_INDEXES
    # Capped options.
    assert json_util.loads(entries[("tsdb", "capped")].metadata)["options"] == {
        "capped": True,
        "size": 4096,
        "max": 5,
    }
    assert "uuid" not in json_util.loads(entries[("tsdb", "capped")].metadata)
    # Users with credentials, byte for byte.
    assert docs[("admin", "system.users")] == [bson.encode(u) for u in USERS]
    assert not any(db == "local" for db, _ in entries)


OPLOG = [{"ts": Timestamp(1700000000, 1), "op": "n", "ns": "", "o": {"msg": "periodic noop"}}]


def handler_with_oplog(request: Any) -> bool:
    """As ``handler``, for a replica set member with a one-entry oplog."""
    name = request.command_name
    if name in ("ismaster", "isMaster", "hello"):
        return bool(
            request.ok(
                ismaster=True,
                isWritablePrimary=True,
                setName="rs",
                hosts=[f"{request.server.address_string}"],
                maxWireVersion=21,
                minWireVersion=0,
            )
        )
    if name == "find" and request.doc.get("$db") == "local":
        ns = f"local.{request.doc['find']}"
        return bool(request.ok(cursor={"id": 0, "ns": ns, "firstBatch": OPLOG}))
    return handler(request)


def test_prelude_order_is_mongodumps(tmp_path: Path) -> None:
    """Regular namespaces in listing order, then the oplog, users, roles, version (NewPrelude)."""
    server = mockupdb.MockupDB(auto_ismaster=False)
    server.autoresponds(handler_with_oplog)
    server.run()
    try:
        target = tmp_path / "o.archive"
        dump(target, uri=server.uri + "/?directConnection=true", oplog=True, timeout=5)
    finally:
        server.stop()
    with mongoarchive.open(target) as archive:
        names = [f"{e.db}.{e.collection}" for e in archive.collections]
        data = [f"{ns.db}.{ns.collection}" for ns, _ in archive.documents()]
    assert names == [
        "tsdb.weather",
        "tsdb.docs",
        "tsdb.capped",
        ".oplog",
        "admin.system.users",
        "admin.system.version",
    ]
    # Data: users and version first, the oplog last (mongodump.go Dump).
    assert data[0] == "admin.system.users" and data[-1] == ".oplog"


def test_dump_db_users_and_roles(mock_server: Any, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def spy(request: Any) -> bool:
        if request.command_name in ("find", "getParameter", "aggregate"):
            seen.append(dict(request.doc))
        return False

    mock_server.autoresponds(spy)
    target = tmp_path / "u.archive"
    dump(
        target,
        uri=mock_server.uri + "/?directConnection=true",
        db="tsdb",
        dump_db_users_and_roles=True,
        timeout=5,
    )
    with mongoarchive.open(target) as archive:
        entries = [(e.collection, e.metadata, e.type) for e in archive.collections]
        docs: dict[str, list[bytes]] = {}
        for ns, raw in archive.documents():
            docs.setdefault(ns.collection, []).append(bytes(raw))
    assert [c for c, _, _ in entries] == [
        "weather",
        "docs",
        "capped",
        "$admin.system.users",
        "$admin.system.roles",
        "$admin.system.version",
    ]
    assert entries[3:] == [(c, "", "") for c, _, _ in entries[3:]]
    assert docs["$admin.system.users"] == [bson.encode(u) for u in USERS]
    assert any("getParameter" in d and d.get("authSchemaVersion") == 1 for d in seen)
    # Below 8.1 the authSchema document of admin.system.version is checked (common/auth).
    assert any(d.get("aggregate") == "system.version" for d in seen)
    finds = {d["find"]: d.get("filter") for d in seen if "find" in d}
    assert finds["system.users"] == {"db": "tsdb"} and finds["system.roles"] == {"db": "tsdb"}
    assert finds["system.version"] in (None, {})


def handler_without_admin(request: Any) -> bool:
    """As ``handler``, but listDatabases leaves admin out (as SecantusDB does)."""
    if request.command_name == "listDatabases":
        return bool(request.ok(databases=[{"name": "tsdb"}, {"name": "local"}]))
    return handler(request)


def test_unlisted_admin_is_not_probed(tmp_path: Path) -> None:
    """Collections come from listCollections only: no find on admin.system.* (prepare.go)."""
    server = mockupdb.MockupDB(auto_ismaster=False)
    seen: list[tuple[str, str]] = []

    def spy(request: Any) -> bool:
        seen.append((str(request.doc.get("$db", "")), request.command_name))
        return False

    server.autoresponds(handler_without_admin)
    server.autoresponds(spy)
    server.run()
    try:
        target = tmp_path / "a.archive"
        dump(target, uri=server.uri + "/?directConnection=true", timeout=5)
    finally:
        server.stop()
    with mongoarchive.open(target) as archive:
        assert {e.db for e in archive.collections} == {"tsdb"}
    assert [cmd for db, cmd in seen if db == "admin" and cmd in ("find", "listCollections", "count")] == []


def test_timeseries_query_is_rewritten_to_meta(mock_server: Any, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def spy(request: Any) -> bool:
        if request.command_name == "find":
            seen.append(dict(request.doc))
        return False

    mock_server.autoresponds(spy)  # newest responder runs first and passes on
    dump(
        tmp_path / "q.archive",
        uri=mock_server.uri + "/?directConnection=true",
        db="tsdb",
        collection="weather",
        query='{"m.dev": 1}',
        timeout=5,
    )
    finds = [d for d in seen if d["find"] == "system.buckets.weather"]
    assert finds and finds[0]["filter"] == {"meta.dev": 1}


def serve(responder: Any) -> Any:
    """A running mockupdb server answering with ``responder`` (stop it when done)."""
    server = mockupdb.MockupDB(auto_ismaster=False)
    server.autoresponds(responder)
    server.run()
    return server


def with_build_info(fields: dict[str, Any]) -> Any:
    """As ``handler``, with buildInfo answering ``fields``."""

    def respond(request: Any) -> bool:
        if request.command_name in ("buildInfo", "buildinfo"):
            return bool(request.ok(**fields))
        return handler(request)

    return respond


@pytest.mark.parametrize(
    "fields",
    [{"version": "unknown"}, {}, {"version": ""}, {"version": "3.4"}, {"version": 8}, {"version": "8.0.0.1"}],
)
def test_unparsable_server_version_fails_before_writing(tmp_path: Path, fields: dict[str, Any]) -> None:
    """mongorestore 100.16+ refuses such an archive, so none is written (§3.1)."""
    server = serve(with_build_info(fields))
    sink = io.BytesIO()
    target = tmp_path / "v.archive"
    try:
        for out in (target, sink):
            with pytest.raises(DumpError, match=r"not a version X\.Y\.Z") as exc:
                dump(out, uri=server.uri + "/?directConnection=true", timeout=5)
            assert exc.value.code == "bad-server-version" and exc.value.hint
    finally:
        server.stop()
    assert sink.getvalue() == b""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("8.2.11", (8, 2, 11)),
        ("8.0.0-rc1", (8, 0, 0)),
        ("7.0.14+enterprise", (7, 0, 14)),
        ("10.1.2-alpha+build.5", (10, 1, 2)),
        ("unknown", None),
        ("", None),
        ("3.4", None),
        ("8.0.0.1", None),
        ("v8.0.0", None),
        (" 8.0.0", None),
        ("8.x.0", None),
        ("\u0668.0.0", None),  # an Arabic-Indic digit: not what Go's strconv.Atoi reads
    ],
)
def test_parse_server_version_is_mongorestores(text: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_server_version(text) == parsed


def test_timeseries_from_8_3_is_read_from_x_with_raw_data(tmp_path: Path) -> None:
    """From 8.3 a timeseries X's data is X's (no system.buckets.X), read with rawData (§5.4)."""
    seen: list[dict[str, Any]] = []

    def respond(request: Any) -> bool:
        name = request.command_name
        if name in ("buildInfo", "buildinfo"):
            return bool(request.ok(version="8.3.0", versionArray=[8, 3, 0, 0]))
        if name == "find":
            seen.append(dict(request.doc))
            if request.doc["find"] == "weather":
                return bool(request.ok(cursor={"id": 0, "ns": "tsdb.weather", "firstBatch": BUCKETS}))
        return handler(request)

    server = serve(respond)
    target = tmp_path / "t.archive"
    try:
        result = dump(target, uri=server.uri + "/?directConnection=true", timeout=5)
    finally:
        server.stop()
    assert result.server_version == "8.3.0"
    with mongoarchive.open(target) as archive:
        assert archive.collections[0].collection == "weather" and archive.collections[0].type == "timeseries"
        docs: dict[str, list[bytes]] = {}
        for ns, raw in archive.documents():
            docs.setdefault(f"{ns.db}.{ns.collection}", []).append(bytes(raw))
    assert docs["tsdb.weather"] == [bson.encode(b) for b in BUCKETS]
    assert "tsdb.system.buckets.weather" not in docs
    finds = {(d["$db"], d["find"]): d.get("rawData") for d in seen}
    assert ("tsdb", "system.buckets.weather") not in finds
    assert finds[("tsdb", "weather")] is True and finds[("tsdb", "docs")] is True
    # Not in admin: the backup role lacks the rawData privilege there (mongo-tools).
    assert finds[("admin", "system.users")] is None

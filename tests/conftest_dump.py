"""Fixtures for the dump tests: one seeded SecantusDB server per session (tests/dumpserver.py)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Code, DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.raw_bson import RawBSONDocument
from dumpserver import SecantusServer, secantusd_path
from pymongo import MongoClient

MIB = 1024 * 1024


def every_type_documents() -> list[dict[str, Any]]:
    """Documents holding every BSON type, with _ids of several types."""
    oid = ObjectId("64b000000000000000000001")
    base: dict[str, Any] = {
        "double": 1.5,
        "nan": float("nan"),
        "neg_inf": float("-inf"),
        "string": "héllo\u2028",
        "doc": {"a": {"b": [1, 2, {"c": None}]}, "": "empty key", "$dollar": 1},
        "array": [1, "two", 3.0, [4]],
        "bin0": Binary(b"\x00\x01\xff", 0),
        "bin3": Binary(b"0123456789abcdef", 3),
        "bin4": Binary(b"0123456789abcdef", 4),
        "bin128": Binary(b"user", 128),
        "oid": oid,
        "bool": True,
        "date": datetime.datetime(2020, 1, 2, 3, 4, 5, 678000),
        "old_date": datetime.datetime(1901, 1, 1),
        "null": None,
        "regex": Regex("^a.*b$", "imsx"),
        "code": Code("function() { return 1; }"),
        "code_scope": Code("function() { return x; }", {"x": 1}),
        "int32": 2**31 - 1,
        "ts": Timestamp(1700000000, 7),
        "int64": Int64(2**40),
        "small_int64": Int64(5),
        "decimal": Decimal128("1234.5678901234567890123456789012"),
        "minkey": MinKey(),
        "maxkey": MaxKey(),
        "dbref": DBRef("other", oid, "db2"),
    }
    ids: list[Any] = [
        ObjectId("64b0000000000000000000aa"),
        7,
        Int64(8),
        "string-id",
        {"compound": 1, "id": "x"},
        Binary(b"binary-id", 0),
        2.5,
        Decimal128("9.75"),
        datetime.datetime(2001, 1, 1),
    ]
    return [{"_id": i, "n": n, **base} for n, i in enumerate(ids)]


def seed(client: MongoClient[Any]) -> None:
    """The session's data set (see the module docs of test_dump_server.py)."""
    a = client.alpha
    a.types.insert_many(every_type_documents())
    a.create_collection("empty")
    # > 16 MiB in one collection: a few 1 MiB documents and one of ~16 MiB.
    a.big.insert_many([{"_id": i, "blob": "x" * MIB} for i in range(3)])
    near_max = 16 * MIB - 64
    a.big.insert_one({"_id": 99, "blob": Binary(b"y" * (near_max - 40))})
    a.many.insert_many([{"_id": i, "v": i % 7, "s": f"doc {i}"} for i in range(3000)])
    a.create_collection(
        "shaped",
        validator={"$jsonSchema": {"bsonType": "object", "required": ["k"]}},
        validationLevel="moderate",
        collation={"locale": "en", "strength": 2},
    )
    s = a.shaped
    s.insert_many(
        [{"k": i, "b": i * 2, "t": datetime.datetime(2024, 1, 1), "loc": [0.5, 0.5]} for i in range(50)]
    )
    s.create_index([("k", 1), ("b", -1)], name="k_b")
    s.create_index("b", unique=True, name="b_unique")
    s.create_index("t", expireAfterSeconds=3600)
    s.create_index("k", name="k_partial", partialFilterExpression={"k": {"$gt": 5}})
    s.create_index("s", sparse=True)
    s.create_index([("loc", "2dsphere")])
    s.create_index([("$**", 1)], name="wild")
    s.create_index("b", name="b_fr", collation={"locale": "fr", "strength": 1})
    a.command("create", "small_view", viewOn="many", pipeline=[{"$match": {"v": 3}}, {"$project": {"s": 1}}])
    a.create_collection("capped", capped=True, size=4096, max=5)
    a.capped.insert_many([{"_id": i, "c": "capped"} for i in range(8)])
    # SecantusDB lists a timeseries collection as a plain collection holding its documents.
    client.gamma.create_collection("weather", timeseries={"timeField": "t", "metaField": "m"})
    client.gamma.weather.insert_many(
        [{"t": datetime.datetime(2024, 1, 1, 0, i), "m": {"dev": i % 2}, "v": i} for i in range(6)]
    )
    b = client.beta
    for name in ("one", "two", "skip_a", "skip_b", "keep"):
        b[name].insert_many([{"_id": i, "c": name} for i in range(20)])
    client.admin.command("createUser", "root_user", pwd="secret", roles=["root"])
    client.beta.command("createUser", "beta_user", pwd="secret", roles=["readWrite"])
    client.alpha.command("createUser", "alpha_user", pwd="secret", roles=["read"])


@pytest.fixture(scope="session")
def dump_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecantusServer]:
    """A seeded SecantusDB server shared by the whole session (read-only for tests)."""
    if secantusd_path() is None:
        pytest.skip("SecantusDB is not installed (pip install SecantusDB==0.7.0b3)")
    server = SecantusServer(tmp_path_factory.mktemp("secantus")).start()
    try:
        with server.client() as client:
            seed(client)
        yield server
    finally:
        server.stop()


@pytest.fixture
def raw_client(dump_server: SecantusServer) -> Iterator[MongoClient[RawBSONDocument]]:
    """A client on the shared server that returns raw documents."""
    with MongoClient(dump_server.uri, document_class=RawBSONDocument) as client:
        yield client


@pytest.fixture
def archive_path(tmp_path: Path) -> Path:
    return tmp_path / "dump.archive"

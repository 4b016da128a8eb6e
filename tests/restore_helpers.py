"""A source and a target SecantusDB server for the restore tests, and archives of the source.

The source is seeded once (``seed``, which tests/test_rewrite_restore.py shares:
collections with options and indexes, a view, an empty and a capped
collection, a timeseries collection, two databases) and
dumped by our ``dump`` (plain and gzip); its catalogue (tests/dumpserver.py)
is what a restore must reproduce.  Every test restores into the target after
``wipe``.  Skipped without SecantusDB.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson.raw_bson import RawBSONDocument
from dumpserver import Catalogue, SecantusServer, catalogue, secantusd_path
from pymongo import MongoClient

from mongoarchive.dump import dump

SYSTEM_DBS = ("admin", "config", "local")


def seed(client: MongoClient[Any], *, orders: int, customers: int, contacts: int, timeseries: bool) -> None:
    """The data set of the restore tests and of tests/test_rewrite_restore.py, at the sizes given:
    collections with a validator, a collation, unique, TTL, sparse and partial indexes, an empty and
    a capped collection, a view, two databases, and optionally a timeseries collection."""
    shop = client.shop
    shop.create_collection(
        "orders",
        validator={"$jsonSchema": {"bsonType": "object", "required": ["k"]}},
        validationLevel="moderate",
    )
    when = datetime.datetime(2024, 5, 1)
    shop.orders.insert_many(
        [{"_id": i, "k": i, "ref": f"r{i}", "status": "AB"[i % 2], "t": when} for i in range(orders)]
    )
    shop.orders.create_index([("k", 1), ("status", -1)], name="k_status")
    shop.orders.create_index("ref", unique=True)
    shop.orders.create_index("t", expireAfterSeconds=3600)
    shop.orders.create_index("status", name="status_partial", partialFilterExpression={"k": {"$gt": 5}})
    shop.create_collection("customers", collation={"locale": "en", "strength": 2})
    shop.customers.insert_many([{"_id": f"c{i}", "k": i, "name": f"Name {i}"} for i in range(customers)])
    shop.customers.create_index("name")
    shop.create_collection("empty")
    shop.empty.create_index("x", sparse=True)
    shop.create_collection("capped", capped=True, size=4096, max=5)
    shop.capped.insert_many([{"_id": i, "k": i} for i in range(8)])
    shop.command("create", "recent", viewOn="orders", pipeline=[{"$match": {"k": {"$lt": 20}}}])
    if timeseries:
        client.metrics.create_collection("weather", timeseries={"timeField": "t", "metaField": "m"})
        client.metrics.weather.insert_many(
            [{"t": datetime.datetime(2024, 1, 1, 0, i), "m": {"dev": i % 2}, "v": i} for i in range(6)]
        )
    crm = client.crm
    crm.contacts.insert_many([{"_id": i, "k": i, "email": f"{i}@example.org"} for i in range(contacts)])
    crm.contacts.create_index("email", unique=True, name="email_unique")


def drop_user_databases(client: MongoClient[Any]) -> None:
    """Drop every database of ``client``'s server but admin, config and local."""
    for db in client.list_database_names():
        if db not in SYSTEM_DBS:
            client.drop_database(db)


class Servers:
    """The seeded source, the target, and what the source held."""

    def __init__(self, root: Path, source: SecantusServer, target: SecantusServer) -> None:
        self.root = root
        self.source = source
        self.target = target
        self.archive = root / "ours.archive"
        self.gzip = root / "ours.archive.gz"
        self.full: Catalogue = {}

    def wipe(self) -> None:
        """Drop every user database of the target."""
        with MongoClient(self.target.uri) as client:
            drop_user_databases(client)

    def catalogue(self) -> Catalogue:
        with MongoClient(self.target.uri, document_class=RawBSONDocument) as client:
            return catalogue(client)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    if secantusd_path() is None:
        pytest.skip("SecantusDB is not installed (pip install SecantusDB==0.7.0b3)")
    root = tmp_path_factory.mktemp("restore")
    source = SecantusServer(root / "source").start()
    try:
        target = SecantusServer(root / "target").start()
    except BaseException:
        source.stop()
        raise
    try:
        s = Servers(root, source, target)
        with MongoClient(source.uri, document_class=RawBSONDocument) as client:
            seed(client, orders=2500, customers=40, contacts=300, timeseries=True)
            s.full = catalogue(client)
        dump(s.archive, uri=source.uri, parallel=1)
        dump(s.gzip, uri=source.uri, parallel=1, gzip=True)
        yield s
    finally:
        target.stop()
        source.stop()


def plain(cat: Catalogue) -> Catalogue:
    """``cat`` without the timeseries database: SecantusDB lists a timeseries collection as a plain
    one holding its documents, while a restore (ours and mongorestore's) inserts an archive's
    timeseries documents as buckets into system.buckets.X (§5.4), a collection of its own there."""
    return {ns: entry for ns, entry in cat.items() if not ns.startswith("metrics.")}


def staging_left(uri: str) -> list[str]:
    """Every staging collection on the server at ``uri``."""
    with MongoClient(uri) as client:
        return [
            f"{db}.{c}"
            for db in client.list_database_names()
            for c in client[db].list_collection_names()
            if c.startswith("mongoarchive.restore.")
        ]

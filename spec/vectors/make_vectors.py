#!/usr/bin/env python3
"""Generate the test vectors of spec/vectors (see spec/vectors/README.md).

Run from the repository root: ``python spec/vectors/make_vectors.py [--out DIR]``.
Valid vectors are written by mongoarchive's own writer; invalid ones are byte
edits of valid ones.  Each sidecar states the expected outcome as derived from
the construction (the plan of writes, the byte positions edited), never from
running the reader.  Output is deterministic: fixed ids, dates and gzip mtime.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gzip
import io
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bson
from bson import Decimal128, Int64, ObjectId

import mongoarchive

HERE = Path(__file__).resolve().parent
MAGIC = b"\x6d\xe2\x99\x81"
TERM = b"\xff\xff\xff\xff"
UTC = datetime.UTC

# -- an independent CRC-64/XZ (spec §4), so expected CRCs do not come from the code under test ------
_POLY = 0xC96C5795D7870F42
_TABLE = []
for _b in range(256):
    _v = _b
    for _ in range(8):
        _v = (_v >> 1) ^ _POLY if _v & 1 else _v >> 1
    _TABLE.append(_v)


def crc64_xz(data: bytes) -> int:
    """CRC-64/XZ: reflected, init and xorout all ones."""
    value = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        value = _TABLE[(value ^ byte) & 0xFF] ^ (value >> 8)
    return value ^ 0xFFFFFFFFFFFFFFFF


assert crc64_xz(b"123456789") == 0x995DC9BBDF1939FA  # the check value of spec §4


# -- metadata strings like current mongodump (canonical Extended JSON v2, §3.2) ----------------------
def _ni(n: int) -> dict[str, str]:
    return {"$numberInt": str(n)}


def index(key: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return {"v": _ni(2), "key": key, "name": name, **extra}


ID_INDEX = index({"_id": _ni(1)}, "_id_")


def metadata(
    name: str,
    uuid: str,
    kind: str = "collection",
    indexes: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> str:
    doc: dict[str, Any] = {}
    if options:
        doc["options"] = options
    doc["indexes"] = [ID_INDEX] if indexes is None else indexes
    doc["uuid"] = uuid
    doc["collectionName"] = name
    doc["type"] = kind
    return json.dumps(doc, separators=(",", ":"))


def oid(n: int) -> ObjectId:
    return ObjectId(f"65a1b2c3d4e5f6a7b8c9{n:04x}")


def when(day: int, hour: int = 12) -> datetime.datetime:
    return datetime.datetime(2024, 3, day, hour, 30, tzinfo=UTC)


def enc(doc: dict[str, Any]) -> bytes:
    return bson.encode(doc)


# -- a plan: what is declared and written, and the expected summary derived from it (§9) -------------
@dataclasses.dataclass
class Coll:
    db: str
    collection: str
    metadata: str = ""
    type: str | None = "collection"
    data_collection: str | None = None  # where the data goes, if not under collection (§5.4)

    @property
    def data_ns(self) -> str:
        return f"{self.db}.{self.data_collection or self.collection}"


@dataclasses.dataclass
class Plan:
    server_version: str = "8.0.4"
    tool_version: str = "100.10.0"
    concurrent_collections: int = 4
    gzip: bool = False
    colls: list[Coll] = dataclasses.field(default_factory=list)
    # steps: ("write", index, raw) | ("flush", index) | ("close", index)
    steps: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)

    def add(self, coll: Coll) -> int:
        self.colls.append(coll)
        return len(self.colls) - 1

    def write(self, i: int, *docs: dict[str, Any]) -> None:
        for d in docs:
            self.steps.append(("write", i, enc(d)))

    def flush(self, i: int) -> None:
        self.steps.append(("flush", i))

    def close(self, i: int) -> None:
        self.steps.append(("close", i))

    def build(self) -> bytes:
        """Write the plan with mongoarchive's writer from one thread."""
        buf = io.BytesIO()
        w = mongoarchive.open(
            buf,
            "w",
            server_version=self.server_version,
            tool_version=self.tool_version,
            concurrent_collections=self.concurrent_collections,
            gzip=self.gzip,
        )
        nws = [w.add_collection(c.db, c.collection, metadata=c.metadata, type=c.type) for c in self.colls]
        for step in self.steps:
            nw = nws[step[1]]
            if step[0] == "write":
                nw.write(step[2])
            elif step[0] == "flush":
                nw.flush()  # hand the buffer to the multiplexer now: a new segment (§9)
            else:
                nw.close()
        w.close()
        return buf.getvalue()

    def summary(self) -> dict[str, Any]:
        """The `inspect --format json` summary implied by the plan and the multiplexer rules of §9."""
        order: list[int] = []
        docs: dict[int, list[bytes]] = {}
        pending: dict[int, list[bytes]] = {}
        sent: set[int] = set()
        segments: dict[int, int] = {}
        current: int | None = None

        def hand_over(i: int) -> None:
            nonlocal current
            sent.add(i)
            pending[i] = []
            if current != i:  # a new block only when the namespace changes
                current = i
                segments[i] = segments.get(i, 0) + 1
                if i not in order:
                    order.append(i)

        closed: set[int] = set()
        for step in [*self.steps, *[("close", i) for i in range(len(self.colls))]]:
            i = step[1]
            if step[0] == "write":
                docs.setdefault(i, []).append(step[2])
                pending.setdefault(i, []).append(step[2])
            elif step[0] == "flush":
                hand_over(i)
            elif i not in closed:
                closed.add(i)
                if pending.get(i) or i not in sent:
                    hand_over(i)
                current = None  # the EOF block ends the current block
        namespaces = []
        for i in order:
            c = self.colls[i]
            db, _, coll = c.data_ns.partition(".")
            data = b"".join(docs.get(i, []))
            namespaces.append(
                {
                    "db": db,
                    "collection": coll,
                    "documents": len(docs.get(i, [])),
                    "bytes": len(data),
                    "segments": segments[i],
                    "crc": "ok",
                    "crc_value": crc64_xz(data),
                }
            )
        return {
            "header": {
                "concurrent_collections": self.concurrent_collections,
                "version": "0.1",
                "server_version": self.server_version,
                "tool_version": self.tool_version,
            },
            "collections": [
                {"db": c.db, "collection": c.collection, "type": c.type, "metadata": c.metadata}
                for c in self.colls
            ],
            "namespaces": namespaces,
            "gzip": self.gzip,
        }


# -- a tiny independent walker, to find the byte positions to edit (§2) ----------------------------
@dataclasses.dataclass
class Block:
    header: int  # offset of the namespace header
    header_end: int
    doc: dict[str, Any]
    docs: list[tuple[int, int]]  # (start, end) of each data document
    terminator: int  # offset of the terminator


@dataclasses.dataclass
class Layout:
    prelude_docs: list[tuple[int, int]]
    body: int  # first byte after the prelude's terminator
    blocks: list[Block]

    def blocks_of(self, ns: str, eof: bool | None = None) -> list[Block]:
        return [
            b
            for b in self.blocks
            if f"{b.doc['db']}.{b.doc['collection']}" == ns and (eof is None or b.doc["EOF"] == eof)
        ]


def _length(data: bytes, pos: int) -> int:
    return int(struct.unpack_from("<i", data, pos)[0])


def walk(data: bytes) -> Layout:
    assert data[:4] == MAGIC
    pos = 4
    prelude = []
    while _length(data, pos) != -1:
        n = _length(data, pos)
        prelude.append((pos, pos + n))
        pos += n
    pos += 4
    layout = Layout(prelude, pos, [])
    while pos < len(data):
        n = _length(data, pos)
        head = bson.decode(data[pos : pos + n])
        start, pos = pos, pos + n
        header_end = pos
        docs = []
        while _length(data, pos) != -1:
            n = _length(data, pos)
            docs.append((pos, pos + n))
            pos += n
        layout.blocks.append(Block(start, header_end, head, docs, pos))
        pos += 4
    return layout


def splice(data: bytes, start: int, end: int, new: bytes) -> bytes:
    return data[:start] + new + data[end:]


def ns_header(db: Any, coll: Any, eof: bool, crc: Any, **extra: Any) -> bytes:
    doc: dict[str, Any] = {"db": db, "collection": coll, "EOF": eof, "CRC": crc}
    doc.update(extra)
    return enc(doc)


# -- the vectors ----------------------------------------------------------------------------------
U = [f"{n:08x}1b2c4d5e8f90a1b2c3d4e5f6" for n in range(1, 20)]


def sample_plan(gz: bool = False) -> Plan:
    """The README's demo archive: a small shop with three collections, one of them empty."""
    p = Plan(gzip=gz)
    cust = p.add(
        Coll(
            "shop",
            "customers",
            metadata(
                "customers",
                U[0],
                indexes=[ID_INDEX, index({"email": _ni(1)}, "email_1", unique=True)],
            ),
        )
    )
    orders = p.add(
        Coll(
            "shop",
            "orders",
            metadata(
                "orders",
                U[1],
                indexes=[ID_INDEX, index({"customer": _ni(1), "placed": _ni(-1)}, "customer_1_placed_-1")],
            ),
        )
    )
    returns = p.add(
        Coll(
            "shop",
            "returns",
            metadata(
                "returns",
                U[2],
                options={"validator": {"reason": {"$exists": True}}, "validationLevel": "moderate"},
            ),
        )
    )
    customers = [
        {"_id": oid(1), "name": "Ada Lovelace", "email": "ada@example.com", "since": when(1), "vip": True},
        {"_id": oid(2), "name": "Grace Hopper", "email": "grace@example.com", "since": when(2), "vip": False},
        {
            "_id": oid(3),
            "name": "Edsger Dijkstra",
            "email": "ewd@example.com",
            "since": when(3),
            "tags": ["wholesale", "eu"],
        },
    ]
    order_docs = [
        {
            "_id": oid(101),
            "customer": oid(1),
            "placed": when(4, 9),
            "items": [{"sku": "BK-001", "qty": 2, "price": Decimal128("12.50")}],
            "total": Decimal128("25.00"),
            "status": "shipped",
        },
        {
            "_id": oid(102),
            "customer": oid(2),
            "placed": when(5, 15),
            "items": [
                {"sku": "PN-010", "qty": 10, "price": Decimal128("1.20")},
                {"sku": "NB-200", "qty": 1, "price": Decimal128("4.75")},
            ],
            "total": Decimal128("16.75"),
            "status": "paid",
        },
        {
            "_id": oid(103),
            "customer": oid(3),
            "placed": when(6, 11),
            "items": [],
            "total": Decimal128("0.00"),
            "status": "cancelled",
            "note": None,
            "attempts": Int64(3),
        },
        {
            "_id": oid(104),
            "customer": oid(1),
            "placed": when(7, 18),
            "items": [{"sku": "BK-002", "qty": 1, "price": Decimal128("30.00")}],
            "total": Decimal128("30.00"),
            "status": "paid",
            "weight_kg": 0.85,
        },
    ]
    # Two workers: the customers and orders of one small dump, each handed over once (§9).
    p.write(orders, *order_docs)
    p.flush(orders)
    p.write(cust, *customers)
    p.close(cust)
    p.close(orders)
    p.close(returns)
    return p


def two_ns_plan() -> Plan:
    """Base of the invalid vectors: prelude [app.users, app.events], body A data, A EOF, B data, B EOF."""
    p = Plan(server_version="7.0.14", tool_version="100.9.4")
    a = p.add(Coll("app", "users", metadata("users", U[3])))
    b = p.add(Coll("app", "events", metadata("events", U[4])))
    p.write(a, {"_id": 1, "login": "alice"}, {"_id": 2, "login": "bob"}, {"_id": 3, "login": "carol"})
    p.close(a)
    p.write(
        b,
        {"_id": oid(201), "kind": "login", "user": 1, "at": when(10)},
        {"_id": oid(202), "kind": "logout", "user": 1, "at": when(10, 13)},
    )
    p.close(b)
    return p


VALID: dict[str, Callable[[], tuple[Plan, str]]] = {}


def valid(name: str) -> Callable[[Callable[[], tuple[Plan, str]]], Callable[[], tuple[Plan, str]]]:
    def deco(fn: Callable[[], tuple[Plan, str]]) -> Callable[[], tuple[Plan, str]]:
        VALID[name] = fn
        return fn

    return deco


@valid("sample")
def v_sample() -> tuple[Plan, str]:
    return sample_plan(), "the README's demo: 3 collections of a shop, one empty, canonical metadata"


@valid("sample-gzip")
def v_sample_gzip() -> tuple[Plan, str]:
    return sample_plan(gz=True), "the sample, gzip-compressed as one member with mtime 0 (§8)"


@valid("empty-archive")
def v_empty() -> tuple[Plan, str]:
    return Plan(), "a prelude without collections and no blocks at all (§5.5)"


@valid("empty-collection")
def v_empty_coll() -> tuple[Plan, str]:
    p = Plan()
    p.add(Coll("shop", "wishlist", metadata("wishlist", U[5])))
    return p, "one collection without documents: an empty block, then the EOF block (§5.5)"


@valid("base-two-namespaces")
def v_base() -> tuple[Plan, str]:
    return two_ns_plan(), "two namespaces one after the other; the base of most invalid vectors"


@valid("view")
def v_view() -> tuple[Plan, str]:
    p = Plan()
    src = p.add(Coll("shop", "orders", metadata("orders", U[6])))
    view_md = metadata(
        "paid_orders",
        U[7],
        kind="view",
        indexes=[],
        options={"viewOn": "orders", "pipeline": [{"$match": {"status": "paid"}}]},
    )
    view = p.add(Coll("shop", "paid_orders", view_md, type="view"))
    views = p.add(Coll("shop", "system.views", metadata("system.views", U[8])))
    p.write(src, {"_id": 1, "status": "paid"}, {"_id": 2, "status": "open"})
    p.close(src)
    p.write(
        views, {"_id": "shop.paid_orders", "viewOn": "orders", "pipeline": [{"$match": {"status": "paid"}}]}
    )
    p.close(views)
    p.close(view)
    return p, "a view: type 'view', viewOn/pipeline in options, an empty namespace (§5.3)"


def _timeseries(server: str, buckets: bool) -> Plan:
    p = Plan(server_version=server)
    md = metadata(
        "weather",
        U[9],
        kind="timeseries",
        indexes=[index({"meta": _ni(1), "time": _ni(1)}, "meta_1_time_1")],
        options={
            "timeseries": {
                "timeField": "time",
                "metaField": "meta",
                "granularity": "hours",
                "bucketMaxSpanSeconds": _ni(2592000),
            }
        },
    )
    ts = p.add(
        Coll(
            "iot",
            "weather",
            md,
            type="timeseries",
            data_collection="system.buckets.weather" if buckets else None,
        )
    )
    bucket = {
        "_id": oid(301),
        "control": {
            "version": 1,
            "min": {"_id": oid(1), "time": when(1, 0), "temp": 11.5},
            "max": {"_id": oid(2), "time": when(1, 1), "temp": 12.0},
        },
        "meta": "station-7",
        "data": {
            "_id": {"0": oid(1), "1": oid(2)},
            "time": {"0": when(1, 0), "1": when(1, 1)},
            "temp": {"0": 11.5, "1": 12.0},
        },
    }
    p.write(ts, bucket)
    p.close(ts)
    if buckets:
        views = p.add(Coll("iot", "system.views", metadata("system.views", U[10])))
        p.write(
            views,
            {
                "_id": "iot.weather",
                "viewOn": "system.buckets.weather",
                "pipeline": [
                    {
                        "$_internalUnpackBucket": {
                            "timeField": "time",
                            "metaField": "meta",
                            "bucketMaxSpanSeconds": 2592000,
                        }
                    }
                ],
            },
        )
        p.close(views)
    return p


@valid("timeseries-pre83")
def v_ts_old() -> tuple[Plan, str]:
    return _timeseries(
        "7.0.14", buckets=True
    ), "timeseries from server 7.0: prelude entry X, data under system.buckets.X (§5.4)"


@valid("timeseries-83")
def v_ts_new() -> tuple[Plan, str]:
    return _timeseries("8.3.0", buckets=False), "timeseries from server 8.3: data under X itself (§5.4)"


@valid("oplog")
def v_oplog() -> tuple[Plan, str]:
    p = Plan()
    c = p.add(Coll("app", "users", metadata("users", U[11])))
    op = p.add(Coll("", "oplog", "", type=""))
    p.write(c, {"_id": 1, "login": "alice"})
    p.close(c)
    p.write(
        op,
        {
            "ts": bson.Timestamp(1710000000, 1),
            "t": Int64(3),
            "op": "i",
            "ns": "app.users",
            "o": {"_id": 2, "login": "bob"},
            "wall": when(9),
        },
    )
    p.close(op)
    return p, "--oplog: the oplog namespace has db '' and collection 'oplog', empty metadata, last (§5.1)"


@valid("users-roles")
def v_users() -> tuple[Plan, str]:
    p = Plan()
    c = p.add(Coll("shop", "orders", metadata("orders", U[12])))
    users = p.add(Coll("shop", "$admin.system.users", "", type=""))
    roles = p.add(Coll("shop", "$admin.system.roles", "", type=""))
    version = p.add(Coll("shop", "$admin.system.version", "", type=""))
    p.write(
        users,
        {
            "_id": "shop.clerk",
            "userId": bson.Binary(bytes(range(16)), 4),
            "user": "clerk",
            "db": "shop",
            "roles": [{"role": "readWrite", "db": "shop"}],
        },
    )
    p.close(users)
    p.write(
        roles,
        {
            "_id": "shop.auditor",
            "role": "auditor",
            "db": "shop",
            "privileges": [],
            "roles": [{"role": "read", "db": "shop"}],
        },
    )
    p.close(roles)
    p.write(version, {"_id": "authSchema", "currentVersion": 5})
    p.close(version)
    p.write(c, {"_id": 1, "status": "paid"})
    p.close(c)
    return p, "--dumpDbUsersAndRoles --db shop: users and roles as shop.$admin.system.* (§5.2)"


@valid("interleaved")
def v_interleaved() -> tuple[Plan, str]:
    p = Plan()
    a = p.add(Coll("logs", "app", metadata("app", U[13])))
    b = p.add(Coll("logs", "audit", metadata("audit", U[14])))
    n = 0
    for _ in range(3):
        for target in (a, b):
            for _ in range(2):
                n += 1
                p.write(target, {"_id": n, "msg": f"line {n}", "at": when(12, n % 24)})
            p.flush(target)
    p.write(a, {"_id": 99, "msg": "last line of app", "at": when(13)})
    p.close(b)
    p.close(a)
    return p, "two namespaces interleaved block by block (the writer's buffers handed over early, §9)"


@valid("no-type")
def v_no_type() -> tuple[Plan, str]:
    p = Plan(server_version="4.0.14", tool_version="r4.2.2")
    md = json.dumps(
        {
            "options": {},
            "indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_", "ns": "old.things"}],
            "uuid": U[15][:32],
        },
        separators=(",", ":"),
    )
    c = p.add(Coll("old", "things", md, type=None))
    p.write(c, {"_id": 1, "thing": "kettle"})
    p.close(c)
    return p, "metadata documents without 'type' (written before 2021), relaxed metadata JSON (§3.2)"


# -- byte edits of valid archives -----------------------------------------------------------------
@dataclasses.dataclass
class Vector:
    name: str
    kind: str  # "valid" | "invalid"
    data: bytes
    sidecar: dict[str, Any]


def edited_valid(name: str, base: Plan, data: bytes, warnings: list[str], how: str) -> Vector:
    return Vector(
        name,
        "valid",
        data,
        {
            "valid": True,
            "canonical": False,
            "description": how,
            "summary": base.summary(),
            "warnings": warnings,
            "metadata_errors": [],
        },
    )


def invalid(
    name: str,
    data: bytes,
    cls: str,
    code: str,
    offset: int | None,
    ns: str | None,
    how: str,
    stage: str = "read",
) -> Vector:
    return Vector(
        name,
        "invalid",
        data,
        {
            "valid": False,
            "description": how,
            "stage": stage,
            "error": {"class": cls, "code": code, "offset": offset, "namespace": ns},
        },
    )


def edited_vectors() -> list[Vector]:
    out: list[Vector] = []
    base = two_ns_plan()
    data = base.build()
    lay = walk(data)
    a_data, a_eof = lay.blocks_of("app.users", False)[0], lay.blocks_of("app.users", True)[0]
    b_data, b_eof = lay.blocks_of("app.events", False)[0], lay.blocks_of("app.events", True)[0]
    a_docs = a_data.docs

    # ---- tolerated oddities (§7) ------------------------------------------------------------
    e = Plan()
    e.add(Coll("shop", "wishlist", metadata("wishlist", U[5])))
    ed = e.build()
    el = walk(ed)
    eof_only = splice(ed, el.blocks[0].header, el.blocks[1].header, b"")
    v = edited_valid(
        "eof-block-only",
        e,
        eof_only,
        [],
        "empty-collection with its empty data block removed: an EOF block alone is accepted (§5.5)",
    )
    v.sidecar["summary"]["namespaces"][0]["segments"] = 0  # no data block, only the EOF block
    out.append(v)

    # int32 CRC in both headers of the empty namespace (its CRC, 0, fits in an int32).
    i32 = splice(ed, el.blocks[1].header, el.blocks[1].terminator, ns_header("shop", "wishlist", True, 0))
    i32 = splice(i32, el.blocks[0].header, el.blocks[0].terminator, ns_header("shop", "wishlist", False, 0))
    out.append(
        edited_valid(
            "tolerated-int32-crc",
            e,
            i32,
            ["crc-not-int64", "crc-not-int64"],
            "empty-collection with both namespace headers' CRC stored as int32 0 "
            "(mongorestore 100.14+ refuses)",
        )
    )

    # Extra fields: archive header, a collection entry, a namespace header.
    hdr = lay.prelude_docs[0]
    extra_h = enc(
        {
            "concurrent_collections": 4,
            "version": "0.1",
            "server_version": "7.0.14",
            "tool_version": "100.9.4",
            "compressed": False,
        }
    )
    entry = bson.decode(data[lay.prelude_docs[1][0] : lay.prelude_docs[1][1]])
    entry["note"] = "added by hand"
    d = splice(
        data, b_data.header, b_data.header_end, ns_header("app", "events", False, Int64(0), shard="rs0")
    )
    d = splice(d, lay.prelude_docs[1][0], lay.prelude_docs[1][1], enc(entry))
    d = splice(d, hdr[0], hdr[1], extra_h)
    out.append(
        edited_valid(
            "tolerated-extra-fields",
            base,
            d,
            ["ignored-field", "ignored-field", "unknown-field"],
            "base-two-namespaces with an unknown field added to the archive header, the first collection "
            "entry and app.events' data block header (mongorestore 100.14+ refuses the last one)",
        )
    )

    # Format version "0.2" (same length as "0.1").
    pos = data.index(b"0.1\x00", hdr[0])
    d = splice(data, pos, pos + 3, b"0.2")
    v = edited_valid(
        "tolerated-version",
        base,
        d,
        ["unknown-version"],
        "base-two-namespaces with the archive header's version changed to '0.2'",
    )
    v.sidecar["summary"]["header"]["version"] = "0.2"
    out.append(v)

    # Namespace header of a data block without EOF and CRC keys.
    d = splice(data, a_data.header, a_data.header_end, enc({"db": "app", "collection": "users"}))
    out.append(
        edited_valid(
            "tolerated-missing-keys",
            base,
            d,
            [],
            "base-two-namespaces whose first data block header has only db and collection "
            "(EOF false, CRC 0 implied)",
        )
    )

    # ---- invalid: one per error code (§7) -----------------------------------------------------
    out.append(
        invalid(
            "bad-magic",
            b"\x00\x00\x00\x00" + data[4:],
            "NotAnArchiveError",
            "bad-magic",
            0,
            None,
            "base-two-namespaces with the magic number zeroed",
        )
    )
    gz_text = gzip.compress(
        b"2024-03-10T12:00:00.000+0000\twriting app.users to archive on stdout\n", mtime=0
    )
    out.append(
        invalid(
            "gzip-text",
            gz_text,
            "NotAnArchiveError",
            "bad-magic",
            0,
            None,
            "gzip of a line of mongodump log text: sniffed as gzip, the inflated bytes have no magic",
        )
    )
    d = splice(data, a_docs[1][0], a_docs[1][0] + 4, struct.pack("<i", 4))
    out.append(
        invalid(
            "bad-length",
            d,
            "FramingError",
            "bad-length",
            a_docs[1][0],
            "app.users",
            "the second document of app.users has length 4 (below the BSON minimum of 5)",
        )
    )
    d = splice(data, a_docs[1][1] - 1, a_docs[1][1], b"\x01")
    out.append(
        invalid(
            "missing-nul",
            d,
            "FramingError",
            "missing-nul",
            a_docs[1][0],
            "app.users",
            "the last byte of app.users' second document changed from 00 to 01",
        )
    )
    d = splice(data, b_data.header, b_data.header, TERM)
    out.append(
        invalid(
            "consecutive-terminators",
            d,
            "FramingError",
            "consecutive-terminators",
            b_data.header,
            None,
            "an extra terminator inserted after app.users' EOF block",
        )
    )
    cut = a_docs[1][0] + 10
    out.append(
        invalid(
            "truncated-document",
            data[:cut],
            "TruncatedError",
            "truncated",
            cut,
            "app.users",
            "base-two-namespaces cut 10 bytes into app.users' second document",
        )
    )
    cut = lay.prelude_docs[1][0] + 2
    out.append(
        invalid(
            "truncated-prelude",
            data[:cut],
            "TruncatedError",
            "truncated",
            cut,
            None,
            "base-two-namespaces cut 2 bytes into the length of the first collection entry",
        )
    )
    cut = b_data.terminator + 4
    out.append(
        invalid(
            "unfinished-namespace",
            data[:cut],
            "TruncatedError",
            "unfinished-namespace",
            cut,
            "app.events",
            "cut right after app.events' data block: its EOF block is missing",
        )
    )
    cut = a_eof.terminator + 4
    out.append(
        invalid(
            "unseen-namespace",
            data[:cut],
            "TruncatedError",
            "unseen-namespace",
            cut,
            "app.events",
            "cut right after app.users' EOF block: app.events never appears",
        )
    )
    new_head = ns_header("app", "usesr", False, Int64(0))
    d = splice(data, a_data.header, a_data.header_end, new_head)
    out.append(
        invalid(
            "undeclared-namespace",
            d,
            "NamespaceError",
            "undeclared-namespace",
            a_data.header,
            "app.usesr",
            "app.users' data block header renamed to app.usesr (not in the prelude)",
        )
    )
    d = splice(data, a_eof.terminator + 4, a_eof.terminator + 4, data[a_data.header : a_data.terminator + 4])
    out.append(
        invalid(
            "reopened-namespace",
            d,
            "NamespaceError",
            "reopened-namespace",
            a_eof.terminator + 4,
            "app.users",
            "a copy of app.users' data block inserted after its EOF block",
        )
    )
    d = splice(data, a_eof.terminator, a_eof.terminator, data[a_docs[0][0] : a_docs[0][1]])
    out.append(
        invalid(
            "data-after-eof",
            d,
            "NamespaceError",
            "data-after-eof",
            a_eof.terminator,
            "app.users",
            "a copy of app.users' first document inserted between its EOF header and terminator",
        )
    )
    pos = data.index(b"bob", a_docs[1][0])
    d = splice(data, pos, pos + 3, b"Bob")
    out.append(
        invalid(
            "crc-mismatch",
            d,
            "ChecksumError",
            "crc-mismatch",
            a_eof.header,
            "app.users",
            "one byte of app.users' second document changed ('bob' -> 'Bob'): framing intact",
        )
    )
    stored = bson.decode(data[b_eof.header : b_eof.terminator])["CRC"]
    d = splice(data, b_eof.header, b_eof.terminator, ns_header("app", "events", True, Int64(stored ^ 1)))
    out.append(
        invalid(
            "crc-mismatch-stored",
            d,
            "ChecksumError",
            "crc-mismatch",
            b_eof.header,
            "app.events",
            "the CRC stored in app.events' EOF header has its lowest bit flipped",
        )
    )
    out.append(
        invalid(
            "trailing-data",
            data + b"\n",
            "TrailingDataError",
            "trailing-data",
            len(data),
            None,
            "a newline appended after the complete archive",
        )
    )
    out.append(
        invalid(
            "concatenated",
            data + data,
            "TrailingDataError",
            "trailing-data",
            len(data),
            None,
            "base-two-namespaces twice in a row",
        )
    )
    d = splice(
        data,
        a_data.header,
        a_data.header_end,
        enc({"db": "app", "collection": 7, "EOF": False, "CRC": Int64(0)}),
    )
    out.append(
        invalid(
            "bad-header",
            d,
            "HeaderError",
            "bad-header",
            a_data.header,
            None,
            "app.users' data block header has collection stored as int32 7",
        )
    )
    d = splice(
        data,
        hdr[0],
        hdr[1],
        enc(
            {
                "concurrent_collections": "4",
                "version": "0.1",
                "server_version": "7.0.14",
                "tool_version": "100.9.4",
            }
        ),
    )
    out.append(
        invalid(
            "bad-archive-header",
            d,
            "HeaderError",
            "bad-header",
            4,
            None,
            "the archive header's concurrent_collections is the string '4'",
        )
    )
    log = b"2024-03-10T12:00:01.123+0000\tdone dumping app.users (3 documents)\n"
    d = splice(data, a_docs[1][0], a_docs[1][0], log)
    out.append(
        invalid(
            "log-text-spliced",
            d,
            "FramingError",
            "bad-length",
            a_docs[1][0],
            "app.users",
            "a line of log text inserted between app.users' first and second documents",
        )
    )

    # bad-metadata: framing valid, one metadata string is not Extended JSON (like bad-format.archive).
    p = Plan()
    good = p.add(Coll("shop", "orders", metadata("orders", U[16])))
    # The writer refuses broken metadata, so it writes a valid string of the same
    # length and the stray object replaces a field of it afterwards.
    placeholder = metadata("legacy", U[17]).replace('"name":"_id_"', '"name":"_id_","oops":1')
    bad = p.add(Coll("shop", "legacy", placeholder))
    p.write(good, {"_id": 1})
    p.close(good)
    p.close(bad)
    built = p.build()
    assert built.count(b'"oops":1') == 1
    built = built.replace(b'"oops":1', b'{"oops"}')
    p.colls[bad].metadata = placeholder.replace('"oops":1', '{"oops"}')
    v = invalid(
        "bad-metadata",
        built,
        "MetadataError",
        "bad-metadata",
        walk(built).prelude_docs[2][0],  # the collection entry's start (prelude: header, orders, legacy)
        "shop.legacy",
        "framing and CRCs valid; the metadata of shop.legacy has a stray object inside an index",
        stage="metadata",
    )
    v.sidecar["summary"] = p.summary()
    out.append(v)
    return out


def all_vectors() -> list[Vector]:
    out = []
    for name, fn in VALID.items():
        plan, how = fn()
        out.append(
            Vector(
                name,
                "valid",
                plan.build(),
                {
                    "valid": True,
                    "canonical": True,
                    "description": how,
                    "summary": plan.summary(),
                    "warnings": [],
                    "metadata_errors": [],
                },
            )
        )
    out.extend(edited_vectors())
    return out


#: Valid vectors that some mongorestore releases refuse (spec §7), as seen with the official
#: readers of 100.6.1 and 100.18.0; every other valid vector is read by every release.
REFUSED_BY = {
    "timeseries-83": ["100.6", "100.14"],
    "tolerated-extra-fields": ["100.14", "100.16", "100.18"],
    "tolerated-int32-crc": ["100.14", "100.16", "100.18"],
}

#: The timeseries naming warning of §5.4: 8.3 stores data under X, which releases before 100.16 refuse.
NAMING_WARNINGS = {"timeseries-83": ["viewless-timeseries"]}


def write_vectors(root: Path) -> list[Path]:
    written = []
    for v in all_vectors():
        if v.kind == "valid":
            v.sidecar["refused_by"] = REFUSED_BY.get(v.name, [])
            v.sidecar["warnings"] += NAMING_WARNINGS.get(v.name, [])
        folder = root / v.kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{v.name}.archive"
        path.write_bytes(v.data)
        side = folder / f"{v.name}.json"
        side.write_text(json.dumps(v.sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written += [path, side]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: spec/vectors)")
    args = parser.parse_args(argv)
    files = write_vectors(args.out)
    print(f"wrote {len(files)} files under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

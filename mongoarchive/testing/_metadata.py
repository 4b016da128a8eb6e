"""Strategies for collection metadata as mongodump writes it (spec/archive.md §3.2)."""

from __future__ import annotations

from typing import Any

from bson.int64 import Int64
from hypothesis import strategies as st

from .._dump_metadata import metadata_json

__all__ = ["collection_metadata", "index_specs", "metadata_documents"]

_field = st.sampled_from(["a", "b", "x.y", "name", "créé", "t"])

#: One index from listIndexes: key pattern, name, and the options mongodump keeps.
index_specs: st.SearchStrategy[dict[str, Any]] = st.builds(
    lambda key, extra: {"v": 2, "key": key, "name": "_".join(f"{k}_{v}" for k, v in key.items()), **extra},
    st.dictionaries(_field, st.sampled_from([1, -1, "text", "2dsphere", "hashed"]), min_size=1, max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "unique": st.just(True),
            "sparse": st.booleans(),
            "expireAfterSeconds": st.integers(0, 2**31 - 1),
            "partialFilterExpression": st.fixed_dictionaries(
                {"a": st.fixed_dictionaries({"$gt": st.integers()})}
            ),
            "collation": st.just({"locale": "fr", "strength": 2}),
            "hidden": st.just(True),
        },
    ),
)
_id_index = {"v": 2, "key": {"_id": 1}, "name": "_id_"}

_validator = st.fixed_dictionaries(
    {
        "validator": st.just({"$jsonSchema": {"bsonType": "object", "required": ["a"]}}),
        "validationLevel": st.sampled_from(["strict", "moderate"]),
        "validationAction": st.sampled_from(["error", "warn"]),
    }
)
_capped = st.fixed_dictionaries(
    {"capped": st.just(True), "size": st.integers(4096, 2**40).map(Int64)},
    optional={"max": st.integers(1, 10**6).map(Int64)},
)
_timeseries = st.fixed_dictionaries(
    {
        "timeseries": st.fixed_dictionaries(
            {
                "timeField": st.just("t"),
                "granularity": st.sampled_from(["seconds", "minutes", "hours"]),
                "bucketMaxSpanSeconds": st.sampled_from([3600, 86400, 2592000]),
            },
            optional={"metaField": st.just("m")},
        )
    },
    optional={"expireAfterSeconds": st.integers(0, 10**6).map(Int64)},
)


def _view_options(source: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "viewOn": st.just(source),
            "pipeline": st.lists(
                st.one_of(
                    st.fixed_dictionaries({"$match": st.fixed_dictionaries({"a": st.integers(0, 9)})}),
                    st.just({"$project": {"_id": 0, "a": 1}}),
                ),
                max_size=2,
            ),
        }
    )


@st.composite
def metadata_documents(draw: st.DrawFn, kind: str | None, collection: str) -> dict[str, Any]:
    """The metadata of one prelude entry as a mapping (options, indexes, uuid, collectionName, type)."""
    if kind == "":
        return {}  # special namespaces: the oplog, users and roles carry empty metadata
    uuid = draw(st.one_of(st.just(""), st.binary(min_size=16, max_size=16).map(bytes.hex)))
    if kind == "view":
        options = draw(_view_options(draw(st.sampled_from(["a", "b", collection + "_src"]))))
        return {"options": options, "indexes": [], "uuid": "", "collectionName": collection, "type": "view"}
    if kind == "timeseries":
        options = draw(_timeseries)
        return {"options": options, "indexes": [], "uuid": uuid, "collectionName": collection, "type": kind}
    options = draw(st.one_of(st.just({}), _capped, _validator, st.just({"collation": {"locale": "en"}})))
    indexes = [_id_index, *draw(st.lists(index_specs, max_size=2, unique_by=lambda i: i["name"]))]
    if options.get("capped") and draw(st.booleans()):
        indexes = indexes[1:]  # old capped collections had no _id index
    return {
        "options": options,
        "indexes": indexes,
        "uuid": uuid,
        "collectionName": collection,
        "type": kind or "",
    }


@st.composite
def collection_metadata(draw: st.DrawFn, kind: str | None, collection: str) -> str:
    """The metadata string mongodump writes for a ``kind`` entry: canonical Extended JSON v2 (§3.2)."""
    doc = draw(metadata_documents(kind, collection))
    if not doc:
        return ""
    return metadata_json(doc["options"], doc["indexes"], doc["uuid"], doc["collectionName"], doc["type"])

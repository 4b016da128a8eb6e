"""Properties of write -> read (spec/archive.md §6, §9): what ArchiveWriter writes reads back exactly."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    ArchiveModel,
    Op,
    archive_models,
    bson_documents,
    expected_documents,
    expected_events,
    strip_offsets,
    write_model,
)

import mongoarchive
from mongoarchive._crc import crc64_pure
from mongoarchive.model import CollectionEntry, Document, NamespaceEnd, Segment

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(archive_models())
def test_model_write_read_roundtrip(model: ArchiveModel) -> None:
    data = write_model(model)
    with mongoarchive.open(io.BytesIO(data)) as reader:
        assert reader.header.server_version == model.server_version
        assert reader.header.tool_version == model.tool_version
        assert reader.header.concurrent_collections == model.concurrent_collections
        assert reader.header.version == "0.1"
        assert reader.collections == [
            CollectionEntry(db, coll, meta, 0, kind) for db, coll, meta, kind in model.collections
        ]
        events = list(reader.events())
        # Only the release rules of the model's server_version warn (spec §7, §5.4): "unknown" is
        # refused by mongorestore 100.16+, and the writer then stores timeseries data under X.
        codes = [w.code for w in reader.warnings]
        unknown = model.server_version == "unknown"
        assert codes[:1] == (["bad-server-version"] if unknown else codes[:1])
        assert set(codes[1 if unknown else 0 :]) <= {"viewless-timeseries", "viewless-timeseries-before-8.3"}
        assert ("viewless-timeseries-before-8.3" in codes) <= unknown
    # The exact block structure predicted by a model of mongodump's multiplexer.
    assert strip_offsets(events) == expected_events(model)
    got: dict[mongoarchive.Namespace, list[bytes]] = {ns: [] for ns in model.data_namespaces}
    for ev in events:
        if isinstance(ev, Document):
            got[ev.ns].append(ev.raw)
    assert got == expected_documents(model)
    for ns, summary in reader.namespaces.items():
        assert summary.crc == "ok"
        assert summary.crc_value == crc64_pure(b"".join(got[ns]))
        assert summary.documents == len(got[ns])
    # Every namespace, empty ones included, has exactly one EOF block.
    ends = [ev.ns for ev in events if isinstance(ev, NamespaceEnd)]
    assert sorted(ends) == sorted(model.data_namespaces)


def rewrite(data: bytes) -> bytes:
    """Read ``data`` and write its events again, cutting a block wherever the input did."""
    out = io.BytesIO()
    with mongoarchive.open(io.BytesIO(data), "r:") as reader:
        h = reader.header
        with mongoarchive.open(
            out,
            "w",
            server_version=h.server_version,
            tool_version=h.tool_version,
            concurrent_collections=h.concurrent_collections,
        ) as writer:
            ns_writers = {
                c.namespace: writer.add_collection(
                    c.db, c.collection, metadata=c.metadata, type=c.type, size=c.size
                )
                for c in reader.collections
            }
            current = None
            for ev in reader.events():
                if isinstance(ev, (Segment, NamespaceEnd)) and current is not None:
                    ns_writers[current].flush()
                    current = None
                if isinstance(ev, Segment):
                    current = ev.ns
                elif isinstance(ev, Document):
                    ns_writers[ev.ns].write(ev.raw)
                else:
                    ns_writers[ev.ns].close()
    return out.getvalue()


@SETTINGS
@given(archive_models())
def test_canonical_archive_read_write_is_identity(model: ArchiveModel) -> None:
    data = write_model(model)
    assert rewrite(data) == data


@settings(max_examples=30, deadline=None)
@given(st.lists(bson_documents, min_size=1, max_size=20))
def test_documents_roundtrip_every_form(docs: list[bytes]) -> None:
    model = ArchiveModel(
        "7.0.1", "t", 1, (("d", "c", "", "collection"),), tuple(Op("write", 0, d) for d in docs)
    )
    data = write_model(model)
    with mongoarchive.open(io.BytesIO(data)) as reader:
        raws = [raw for _, raw in reader.documents("raw")]
    assert [bytes(r.raw) for r in raws] == docs

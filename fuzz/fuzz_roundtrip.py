"""The round-trip property, driven by hypothesis and fuzzed through ``fuzz_one_input``.

Whatever the writer accepts, the reader gives back unchanged: the header, the
prelude, every namespace's documents in order, and a checked CRC per
namespace (spec/archive.md §4, §9).  The writer may refuse input only with a
MongoArchiveError; anything else, or a difference after the round trip, is a
finding.

    python fuzz/fuzz_roundtrip.py -dict=fuzz/archive.dict    # atheris feeds hypothesis
"""

from __future__ import annotations

import io
from typing import Any

import _harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with _harness.instrumented():
    import bson

    import mongoarchive
    from mongoarchive.errors import MongoArchiveError

_names = st.text(st.characters(codec="utf-8"), min_size=0, max_size=12)
_keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=10,
)
_documents = st.dictionaries(_keys, _values, max_size=5).map(bson.encode)
_kinds = st.sampled_from(["collection", "view", "timeseries", "", None])
_namespaces = st.lists(
    st.tuples(_names, _names, _kinds, st.lists(_documents, max_size=6)),
    max_size=4,
    unique_by=lambda t: (t[0], t[1]),
)


def _write(
    namespaces: list[tuple[str, str, str | None, list[bytes]]], server: str, gzip: bool, interleave: bool
) -> bytes | None:
    """The archive bytes, or None if the writer refused the input (with a MongoArchiveError)."""
    out = io.BytesIO()
    try:
        with mongoarchive.open(out, "w:gz" if gzip else "w", server_version=server, tool_version="rt") as w:
            writers = [
                (w.add_collection(db, coll, "", type=kind), docs) for db, coll, kind, docs in namespaces
            ]
            if interleave:  # close in reverse order: blocks end in a different order than declared
                writers.reverse()
            for ns_writer, docs in writers:
                for raw in docs:
                    ns_writer.write(raw)
                ns_writer.close()
    except MongoArchiveError:
        return None
    return out.getvalue()


@settings(database=None, deadline=None, suppress_health_check=list(HealthCheck), max_examples=50)
@given(
    namespaces=_namespaces,
    server=st.sampled_from(["7.0.0", "8.3.0", "4.4.1", "8.0.0-rc1"]),
    gzip=st.booleans(),
    interleave=st.booleans(),
)
def roundtrip(
    namespaces: list[tuple[str, str, str | None, list[bytes]]], server: str, gzip: bool, interleave: bool
) -> None:
    """Write ``namespaces``, read the archive back, compare everything."""
    data = _write(namespaces, server, gzip, interleave)
    if data is None:
        return
    got: dict[tuple[str, str], list[bytes]] = {}
    with mongoarchive.open(io.BytesIO(data)) as archive:
        assert archive.gzip == gzip
        assert archive.header.server_version == server
        assert [(c.db, c.collection, c.type) for c in archive.collections] == [
            (db, coll, kind) for db, coll, kind, _ in namespaces
        ]
        aliases: dict[tuple[str, str], tuple[str, str]] = {}
        for c in archive.collections:
            aliases[(c.db, "system.buckets." + c.collection)] = (c.db, c.collection)
        for ns, raw in archive.documents():
            key = (ns.db, ns.collection)
            if key not in {(d, c) for d, c, _, _ in namespaces}:
                key = aliases[key]
            got.setdefault(key, []).append(raw)
        assert all(s.crc == "ok" for s in archive.namespaces.values())
    expected: dict[tuple[str, str], list[bytes]] = {(d, c): docs for d, c, _, docs in namespaces if docs}
    assert got == expected


def test_one_input(data: bytes) -> None:
    """One hypothesis example chosen by ``data`` (the smoke test and atheris call this)."""
    fuzz: Any = roundtrip.hypothesis.fuzz_one_input  # type: ignore[attr-defined]
    fuzz(data)


if __name__ == "__main__":
    _harness.run_atheris(test_one_input)

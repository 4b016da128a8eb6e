"""Archives the writer makes, read by the official readers of mongo-tools 100.6.1 and 100.18.0.

``archref read`` runs mongorestore's own archive code (prelude, prelude
explorer, parser, demultiplexer, CRC check).  Every archive the writer can
make must be read by both releases with the same document counts, bytes and
CRCs as our reader, with one known split: a timeseries collection of a server
8.3 or later has its data under its own name, which 100.6.1 predates and
refuses, while 100.18.0 reads it (spec/archive.md §5.4).
"""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from paths import REPO_ROOT
from strategies import ArchiveModel, Op, bson_documents, collection_names, db_names, write_model

import mongoarchive
from mongoarchive import schema
from mongoarchive._framing import MAGIC, TERMINATOR
from mongoarchive.writer import uses_buckets

ORACLE = REPO_ROOT.parent / "shared" / "oracle"
RELEASES = ("100.6.1", "100.18.0")

pytestmark = pytest.mark.skipif(
    not all((ORACLE / r / "archref").is_file() for r in RELEASES),
    reason=f"the official tools (archref of {', '.join(RELEASES)}) are not at {ORACLE}",
)

VIEW_METADATA = (
    '{"options":{"viewOn":"base","pipeline":[{"$match":{"x":{"$numberInt":"1"}}}]},'
    '"indexes":[],"collectionName":%s,"type":"view"}'
)
SERVERS = ["4.4.29", "6.0.19", "7.0.14", "8.2.1", "8.2.1-rc0", "8.3.0", "8.3.0-rc1", "9.0.0+build"]


@st.composite
def shaped_models(draw: st.DrawFn) -> ArchiveModel:
    """Every shape the writer makes: collections, empty ones, views, the oplog, users and roles
    (full dump and --dumpDbUsersAndRoles), timeseries, all interleaved (§5)."""
    db = draw(db_names)
    entries: dict[tuple[str, str], tuple[str, str | None, bool]] = {}  # -> metadata, type, has data
    for coll in draw(st.lists(collection_names, max_size=3, unique=True)):
        entries[(db, coll)] = ('{"indexes":[]}', "collection", True)
    for coll in draw(st.lists(collection_names, max_size=2, unique=True)):
        key = (draw(db_names), coll)
        entries.setdefault(key, ("", draw(st.sampled_from(["collection", None])), False))
    if draw(st.booleans()):
        view = draw(collection_names)
        entries.setdefault((db, view), (VIEW_METADATA % json.dumps(view), "view", False))
    if draw(st.booleans()):
        ts = draw(collection_names.filter(lambda c: not c.startswith("system.")))
        if not any(k[0] == db and k[1] in (ts, "system.buckets." + ts) for k in entries):
            entries[(db, ts)] = ('{"indexes":[]}', "timeseries", True)
            entries.setdefault((db, "system.views"), ("", "collection", True))
    if draw(st.booleans()):
        for name in ("users", "roles", "version"):
            entries.setdefault(("admin", f"system.{name}"), ('{"indexes":[]}', "collection", True))
    if draw(st.booleans()) and db != "admin":
        for name in ("users", "roles", "version"):
            entries.setdefault((db, f"$admin.system.{name}"), ("", "", True))
    if draw(st.booleans()):
        entries[("", "oplog")] = ("", "", True)  # dumped last by mongodump; any order is valid
    keys = list(entries)
    collections = tuple((d, c, entries[(d, c)][0], entries[(d, c)][1]) for d, c in keys)
    per_ns: list[list[Op]] = []
    for index, key in enumerate(keys):
        ops: list[Op] = []
        if entries[key][2]:
            for doc in draw(st.lists(bson_documents, max_size=4)):
                if draw(st.integers(0, 2)) == 0:
                    ops.append(Op("flush", index))  # a new block where another namespace came between
                ops.append(Op("write", index, doc))
        if draw(st.booleans()):
            ops.append(Op("close", index))
        per_ns.append(ops)
    tokens = [i for i, ops in enumerate(per_ns) for _ in ops]
    order = draw(st.permutations(tokens)) if tokens else []
    cursors = [0] * len(per_ns)
    plan = []
    for i in order:
        plan.append(per_ns[i][cursors[i]])
        cursors[i] += 1
    return ArchiveModel(
        server_version=draw(st.sampled_from(SERVERS)),
        tool_version="100.18.0",
        concurrent_collections=draw(st.integers(1, 16)),
        collections=collections,
        plan=tuple(plan),
    )


def archref(release: str, path: Path) -> tuple[int, Any]:
    """(exit status, the JSON summary or the error text) of ``archref read`` of ``release``."""
    done = subprocess.run(
        [str(ORACLE / release / "archref"), "read", str(path)], capture_output=True, text=True, timeout=60
    )
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else done.stderr


def ours(data: bytes) -> tuple[list[tuple[str, str]], dict[str, tuple[int, int, int]]]:
    with mongoarchive.open(io.BytesIO(data)) as archive:
        summaries = archive.validate()
        entries = [(c.db, c.collection) for c in archive.collections]
    return entries, {str(ns): (s.documents, s.bytes, s.crc_value) for ns, s in summaries.items()}


def theirs(summary: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[str, tuple[int, int, int]]]:
    entries = [(c["db"], c["collection"]) for c in summary["prelude"]["collections"]]
    assert all(ns["crc_match"] for ns in summary["namespaces"])
    return entries, {ns["ns"]: (ns["docs"], ns["bytes"], ns["eof_crc"]) for ns in summary["namespaces"]}


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(model=shaped_models())
def test_both_official_readers_read_what_the_writer_writes(model: ArchiveModel) -> None:
    data = write_model(model)
    expected = ours(data)
    timeseries = any(kind == "timeseries" for *_, kind in model.collections)
    viewless = timeseries and not uses_buckets(model.server_version)
    for db, _, _, kind in model.collections:
        event(f"shape: {'oplog' if db == '' else kind if kind != '' else 'users and roles'}")
    event(f"timeseries: {'8.3 naming' if viewless else 'buckets' if timeseries else 'none'}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.archive"
        path.write_bytes(data)
        results = {release: archref(release, path) for release in RELEASES}
    for release, (status, out) in results.items():
        if viewless and release == "100.6.1":
            # The one known split (§5.4): 100.6.1 looks for system.buckets.X only.
            assert status == 1, f"100.6.1 read an 8.3-style timeseries archive: {out}"
            assert "no intent for namespace" in out
            continue
        assert status == 0, f"{release} refused an archive of the writer: {out}"
        assert out["stream_bytes"] == len(data)
        assert theirs(out) == expected, release


_VERSIONS = st.one_of(
    st.from_regex(r"[0-9]{1,20}(\.[0-9]{1,3}){0,4}([-+].{0,4})?", fullmatch=True),
    st.sampled_from(["unknown", "", "3.4", "7.0.1 ", " 7.0.1", "v7.0.1", "7.+0.1", "7.0.-1", "\uff18.0.0"]),
    st.text(max_size=8),
)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(server=_VERSIONS)
def test_the_writer_accepts_exactly_the_server_versions_100_18_reads(server: str) -> None:
    """server_version: the writer's UsageError and mongorestore 100.16+'s refusal agree (§7)."""
    try:
        with mongoarchive.open(io.BytesIO(), "w", server_version=server, tool_version="t"):
            pass
        accepted = True
    except mongoarchive.UsageError:
        accepted = False
    header = {"concurrent_collections": 4, "version": "0.1", "server_version": server, "tool_version": "t"}
    try:
        data = MAGIC + schema.ArchiveHeader.build(header) + TERMINATOR
    except Exception:  # a str UTF-8 cannot encode: no archive can hold it
        assert not accepted
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.archive"
        path.write_bytes(data)
        status, out = archref("100.18.0", path)
        assert archref("100.6.1", path)[0] == 0  # the old release reads any version
    assert accepted == (status == 0), out

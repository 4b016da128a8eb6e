"""pack: a --out directory as the archive mongodump writes; pack(unpack(a)) == a."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from cli_helpers import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from official_dumps import RELEASES, Dumps
from official_dumps import official_dumps as official_dumps  # the fixture
from paths import SHARED_VECTORS, SPEC_VECTORS

import mongoarchive
from mongoarchive._packrecord import RECORD_FILE
from mongoarchive.errors import DocumentError, MetadataError, MongoArchiveError, NamespaceError, UsageError
from mongoarchive.pack import pack, scan
from mongoarchive.testing import mongodump_like
from mongoarchive.unpack import unpack


def prelude_and_body(path: Path | bytes) -> tuple[mongoarchive.ArchiveHeader, list[tuple[str, ...]], bytes]:
    data = path if isinstance(path, bytes) else path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with mongoarchive.open(io.BytesIO(data)) as archive:
        entries = sorted(
            (c.db, c.collection, c.metadata, c.type or "", str(c.size)) for c in archive.collections
        )
        return archive.header, entries, data[archive.body_offset :]


# -- against the official mongodump ----------------------------------------------
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("gz", [False, True])
def test_pack_of_official_out_is_the_official_archive(
    official_dumps: dict[str, Dumps], release: str, gz: bool, tmp_path: Path
) -> None:
    d = official_dumps[release]
    their_header, their_entries, their_body = prelude_and_body(d.archive1)
    old = release == "100.6.1"
    # 100.6.1 writes no prelude.json: the server version must be given.
    result = pack(
        d.out_gz if gz else d.out,
        tmp_path / "p.archive",
        server_version=their_header.server_version if old else None,
        concurrent_collections=1,
    )
    header, entries, body = prelude_and_body(tmp_path / "p.archive")
    assert result.ignored == []
    assert header.server_version == their_header.server_version
    assert header.concurrent_collections == their_header.concurrent_collections == 1
    if not old:
        assert header == their_header  # tool_version from prelude.json
    # mongodump's prelude order comes from a Go map, and 100.6.1 writes collection options
    # from a Go map too: compare entries as sets, metadata parsed for 100.6.1.
    if old:
        assert [(e[:2], json.loads(e[2] or "{}"), e[3:]) for e in entries] == [
            (e[:2], json.loads(e[2] or "{}"), e[3:]) for e in their_entries
        ]
    else:
        assert entries == their_entries
    assert body == their_body  # every block, byte for byte
    assert any(ns == mongoarchive.Namespace("", "oplog") for ns, _, _ in result.namespaces)
    assert sum(n for _, n, _ in result.namespaces) > 300


@pytest.mark.parametrize("release", RELEASES)
def test_unpack_then_pack_of_an_official_single_writer_archive(
    official_dumps: dict[str, Dumps], release: str, tmp_path: Path
) -> None:
    d = official_dumps[release]
    unpack(d.archive1, tmp_path / "d")
    pack(tmp_path / "d", tmp_path / "p.archive", concurrent_collections=1)
    assert prelude_and_body(tmp_path / "p.archive") == prelude_and_body(d.archive1)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("jobs", ["archive1", "archive4"])
def test_pack_replays_the_record_of_an_official_archive(
    official_dumps: dict[str, Dumps], release: str, jobs: str, tmp_path: Path
) -> None:
    """With the pack record, even a mongodump -j 4 interleaving comes back byte for byte."""
    src = getattr(official_dumps[release], jobs)
    unpack(src, tmp_path / "d", pack_record=True)
    result = pack(tmp_path / "d", tmp_path / "p.archive")
    assert (result.order, result.note) == ("record", None)
    assert (tmp_path / "p.archive").read_bytes() == src.read_bytes()
    # Without the record, the Go map's prelude order and the -j 4 interleaving are lost.
    pack(tmp_path / "d", tmp_path / "s.archive", use_record=False, concurrent_collections=1)
    assert (tmp_path / "s.archive").read_bytes() != src.read_bytes()


# -- pack(unpack(a)) == a ----------------------------------------------------------
# Names the writer (and a server) accepts: no NUL, no "$" in a collection name, no "." in a database name.
NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00$"), min_size=1, max_size=12)
DOC = st.builds(lambda i, s: {"_id": i, "s": s}, st.integers(-(2**31), 2**31 - 1), st.text(max_size=30))


@st.composite
def single_writer_archives(draw: st.DrawFn) -> bytes:
    """Archives the way mongodump -j 1 writes them: namespaces sorted, oplog last, one at a time."""
    dbs = draw(st.lists(st.sampled_from(["a", "b", "shop", "x_y"]), min_size=1, max_size=3, unique=True))
    spaces = sorted(
        {(db, draw(NAMES)) for db in dbs for _ in range(draw(st.integers(1, 3)))},
        key=lambda ns: (ns[0].encode(), ns[1].encode()),
    )
    oplog = draw(st.booleans())
    out = io.BytesIO()
    server = draw(st.sampled_from(["8.2.11", "7.0.14", "4.4.0"]))
    jobs = draw(st.integers(1, 8))
    with mongoarchive.open(
        out, "w", server_version=server, tool_version="100.18.0", concurrent_collections=jobs
    ) as w:
        writers = []
        for db, coll in spaces:
            meta = {"indexes": [], "uuid": "0" * 32, "collectionName": coll, "type": "collection"}
            writers.append(w.add_collection(db, coll, json.dumps(meta, separators=(",", ":"))))
        if oplog:
            writers.append(w.add_collection("", "oplog", "", type=""))
        w.write_prelude()
        for ns_writer in writers:
            for doc in draw(st.lists(DOC, max_size=4)):
                ns_writer.write(doc)
            ns_writer.close()
    return out.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(single_writer_archives())
def test_pack_of_unpack_is_the_identity(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    root = tmp_path_factory.mktemp("rt")
    unpack(io.BytesIO(data), root / "d")
    with mongoarchive.open(io.BytesIO(data)) as archive:
        jobs = archive.header.concurrent_collections
    out = io.BytesIO()
    pack(root / "d", out, concurrent_collections=jobs)
    assert out.getvalue() == data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mongodump_like(max_collections=5))
def test_pack_of_unpack_with_the_record_is_the_identity(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[object, bytes]
) -> None:
    """Interleaved blocks, views, timeseries, users and roles, the oplog: all come back."""
    data = case[1]
    root = tmp_path_factory.mktemp("rec")
    unpack(io.BytesIO(data), root / "d", pack_record=True)
    out = io.BytesIO()
    result = pack(root / "d", out)
    assert result.note is None
    assert out.getvalue() == data


def _single_writer_vectors() -> list[Path]:
    """The vectors the official writer made, or ours that write what it writes (not tolerated-*)."""
    ours = [p for p in sorted((SPEC_VECTORS / "valid").glob("*.archive")) if "tolerated" not in p.name]
    theirs = [p for p in sorted(SHARED_VECTORS.glob("*.archive")) if p.name != "bad-format.archive"]
    return ours + theirs


@pytest.mark.parametrize("vector", _single_writer_vectors(), ids=lambda p: p.name)
def test_pack_of_unpack_of_every_vector(vector: Path, tmp_path: Path) -> None:
    data = vector.read_bytes()
    gz = data[:2] == b"\x1f\x8b"
    unpack(vector, tmp_path / "d", pack_record=True, gzip=gz)
    result = pack(tmp_path / "d", tmp_path / "p.archive", gzip=gz)
    assert result.order == "record"
    out = (tmp_path / "p.archive").read_bytes()
    assert (gzip.decompress(out) if gz else out) == (gzip.decompress(data) if gz else data)


def test_no_shared_vectors_is_a_reason_not_a_pass() -> None:
    if not SHARED_VECTORS.is_dir():
        pytest.skip(f"the real mongodump archives are not in {SHARED_VECTORS}")
    assert any(p.parent == SHARED_VECTORS for p in _single_writer_vectors())


# -- a record that does not match the directory ------------------------------------------
def _interleaved(tmp_path: Path) -> tuple[Path, bytes]:
    """An archive whose blocks interleave, unpacked with its record into tmp_path/d."""
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="8.0.4", tool_version="100.18.0") as w:
        a, b = (w.add_collection("db", name, '{"indexes":[]}') for name in ("b", "a"))
        for i in range(3):
            for ns_writer in (a, b):
                ns_writer.write({"_id": i, "pad": "x" * 10})
                ns_writer.flush()
    unpack(io.BytesIO(out.getvalue()), tmp_path / "d", pack_record=True)
    return tmp_path / "d", out.getvalue()


def _sorted_pack(d: Path) -> bytes:
    out = io.BytesIO()
    pack(d, out, use_record=False)
    return out.getvalue()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: (d / "db" / "new.bson").write_bytes(mongoarchive_bson({"_id": 1})), "does not list"),
        (
            lambda d: (d / "db" / "a.bson").unlink() or (d / "db" / "a.metadata.json").unlink(),
            "does not hold",
        ),
        (lambda d: (d / "db" / "a.bson").write_bytes(mongoarchive_bson({"_id": 9})), "not the size"),
        (lambda d: (d / RECORD_FILE).write_text("{}"), "mongoarchive_pack_record"),
        (lambda d: (d / RECORD_FILE).write_bytes(b"\xff"), "not JSON"),
        (lambda d: (d / "prelude.json").write_text('{"ServerVersion":"7.0.1","ToolVersion":"x"}'), "prelude"),
    ],
    ids=["added", "removed", "resized", "not-ours", "not-json", "prelude"],
)
def test_a_record_that_does_not_match_is_ignored_with_a_warning(
    tmp_path: Path, change: object, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    d, original = _interleaved(tmp_path)
    assert pack(d, io.BytesIO()).order == "record"
    change(d)  # type: ignore[operator]
    out = io.BytesIO()
    result = pack(d, out)
    assert result.order == "sorted" and result.note is not None and why in result.note
    assert out.getvalue() == _sorted_pack(d) != original
    status, _, err = run(capsys, "pack", str(d), str(tmp_path / "p.archive"))
    assert status == 0
    assert err.startswith("mongoarchive pack: warning: .mongoarchive-pack.json ignored") and why in err
    assert len(err.splitlines()) == 1


def test_a_same_size_file_with_other_documents_is_an_error_and_nothing_written(tmp_path: Path) -> None:
    d, _ = _interleaved(tmp_path)
    data = (d / "db" / "a.bson").read_bytes()
    one = mongoarchive_bson({"_id": 0, "pad": "x" * 10})
    merged = mongoarchive_bson({"_id": 0, "pad": "x" * (10 + 2 * len(one))})
    assert len(merged) == len(data)  # three documents become one of the same size
    (d / "db" / "a.bson").write_bytes(merged)
    with pytest.raises(MetadataError, match="does not match the pack record") as info:
        pack(d, tmp_path / "p.archive")
    assert info.value.code == "bad-pack-record" and info.value.namespace == "db.a"
    assert "remove .mongoarchive-pack.json" in str(info.value)
    assert not (tmp_path / "p.archive").exists()
    assert pack(d, tmp_path / "p.archive", use_record=False).order == "sorted"


@pytest.mark.parametrize("gz", [False, True])
def test_many_interleaved_namespaces_reopen_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    """With one file open at a time, every block still gets its documents, in order."""
    import importlib

    # importlib: the attribute mongoarchive.pack is the function, not the module.
    monkeypatch.setattr(importlib.import_module("mongoarchive.pack"), "MAX_OPEN_FILES", 1)
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="8.0.4", tool_version="100.18.0") as w:
        ns_writers = [w.add_collection("db", f"c{i}", '{"indexes":[]}') for i in range(3)]
        for round_ in range(400):  # about 2 MiB per namespace: more than one read-ahead chunk
            for ns_writer in ns_writers:
                ns_writer.write({"_id": round_, "pad": "x" * 2000})
                if round_ % 7 == 0:
                    ns_writer.flush()
    original = out.getvalue()
    unpack(io.BytesIO(original), tmp_path / "d", pack_record=True, gzip=gz)
    again = io.BytesIO()
    assert pack(tmp_path / "d", again).order == "record"
    assert again.getvalue() == original


def test_unpack_without_the_record_removes_a_stale_one(tmp_path: Path) -> None:
    d, _ = _interleaved(tmp_path)
    assert (d / RECORD_FILE).is_file()
    other = io.BytesIO()
    with mongoarchive.open(other, "w", server_version="8.0.4", tool_version="100.18.0") as w:
        w.add_collection("db", "a", '{"indexes":[]}').write({"_id": "new"})
    unpack(io.BytesIO(other.getvalue()), d, force=True)
    assert not (d / RECORD_FILE).exists()
    assert pack(d, io.BytesIO()).order == "sorted"


def test_explicit_header_fields_override_the_record(tmp_path: Path) -> None:
    d, original = _interleaved(tmp_path)
    with mongoarchive.open(io.BytesIO(original)) as archive:
        assert archive.header.concurrent_collections == 4
    out = io.BytesIO()
    pack(d, out, concurrent_collections=1, tool_version="t")
    with mongoarchive.open(io.BytesIO(out.getvalue())) as archive:
        assert (archive.header.concurrent_collections, archive.header.tool_version) == (1, "t")
        body = out.getvalue()[archive.body_offset :]
    assert body == original[len(original) - len(body) :]  # the blocks are still the record's


def test_unpack_writes_the_record_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, original = _interleaved(tmp_path)
    (tmp_path / "src.archive").write_bytes(original)
    status, _, err = run(capsys, "unpack", str(tmp_path / "src.archive"), str(tmp_path / "e"))
    assert status == 0 and not (tmp_path / "e" / RECORD_FILE).exists()
    status, _, err = run(
        capsys, "unpack", "--pack-record", str(tmp_path / "src.archive"), str(tmp_path / "f")
    )
    assert status == 0 and (tmp_path / "f" / RECORD_FILE).is_file()
    status, _, err = run(capsys, "pack", str(tmp_path / "f"), str(tmp_path / "p.archive"))
    assert status == 0 and err == ""
    assert (tmp_path / "p.archive").read_bytes() == original
    status, _, err = run(capsys, "pack", "--no-pack-record", str(tmp_path / "f"), str(tmp_path / "q.archive"))
    assert status == 0 and (tmp_path / "q.archive").read_bytes() != original


def test_pack_of_unpack_gzip(tmp_path: Path) -> None:
    src = tmp_path / "a.archive"
    with mongoarchive.open(src, "w", server_version="8.0.4", tool_version="100.18.0") as w:
        ns_writers = [w.add_collection("db", name, '{"indexes":[]}') for name in ("c", "with space")]
        for ns_writer in ns_writers:
            ns_writer.write({"_id": str(ns_writer.ns)})
    unpack(src, tmp_path / "d", gzip=True)
    assert (tmp_path / "d" / "db" / "with+space.bson.gz").is_file()
    pack(tmp_path / "d", tmp_path / "p.archive", gzip=True)
    assert gzip.decompress((tmp_path / "p.archive").read_bytes()) == src.read_bytes()


# -- what a directory may hold ------------------------------------------------------
def test_timeseries_views_and_users_from_the_layout(tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "iot").mkdir(parents=True)
    (d / "iot" / "weather.metadata.json").write_text(
        '{"options":{"timeseries":{"timeField":"t"}},"indexes":[]}'
    )
    (d / "iot" / "system.buckets.weather.bson").write_bytes(mongoarchive_bson({"_id": 1}))
    (d / "iot" / "v.metadata.json").write_text('{"options":{"viewOn":"x","pipeline":[]},"indexes":[]}')
    (d / "iot" / "$admin.system.users.bson").write_bytes(mongoarchive_bson({"_id": "u"}))
    (d / "iot" / "notes.txt").write_text("not ours")
    entries, prelude, ignored = scan(d)
    assert prelude is None and ignored == ["iot/notes.txt"]
    assert [(e.collection, e.type, e.data is not None) for e in entries] == [
        ("$admin.system.users", "", True),
        ("v", "view", False),
        ("weather", "timeseries", True),
    ]
    with pytest.raises(UsageError, match="server version"):
        pack(d, tmp_path / "p.archive")
    pack(d, tmp_path / "p.archive", server_version="7.0.14")
    with mongoarchive.open(tmp_path / "p.archive") as archive:
        got = {str(ns) for ns, _ in archive.documents()}
    assert got == {"iot.system.buckets.weather", "iot.$admin.system.users"}


def mongoarchive_bson(doc: dict[str, object]) -> bytes:
    import bson

    return bson.encode(doc)


def test_a_cut_bson_file_is_an_error_with_its_offset(tmp_path: Path) -> None:
    d = tmp_path / "d" / "db"
    d.mkdir(parents=True)
    data = mongoarchive_bson({"_id": 1}) + mongoarchive_bson({"_id": 2, "pad": "x" * 40})
    (d / "c.bson").write_bytes(data[:-3])
    with pytest.raises(DocumentError) as info:
        pack(tmp_path / "d", tmp_path / "p.archive", server_version="8.0.0")
    assert info.value.offset == len(mongoarchive_bson({"_id": 1}))
    assert info.value.namespace == "db.c"
    assert not (tmp_path / "p.archive").exists()  # the output is atomic
    (d / "c.bson").write_bytes(b"\x02\x00\x00\x00" + data)
    with pytest.raises(DocumentError, match="length of 2 bytes") as info:
        pack(tmp_path / "d", tmp_path / "p.archive", server_version="8.0.0")
    assert info.value.offset == 0


def test_hostile_collection_names_in_metadata_are_only_data(tmp_path: Path) -> None:
    d = tmp_path / "work" / "d" / "db"
    d.mkdir(parents=True)
    (d / "c.metadata.json").write_text('{"indexes":[],"collectionName":"../../etc/x"}')
    (d / "c.bson").write_bytes(mongoarchive_bson({"_id": 1}))
    pack(tmp_path / "work" / "d", tmp_path / "work" / "p.archive", server_version="8.0.0")
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "c.bson",
        "c.metadata.json",
        "d",
        "db",
        "p.archive",
        "work",
    ]
    with mongoarchive.open(tmp_path / "work" / "p.archive") as archive:
        assert [c.collection for c in archive.collections] == ["../../etc/x"]


def test_a_name_no_server_takes_is_refused_and_nothing_written(tmp_path: Path) -> None:
    d = tmp_path / "d" / "db"
    d.mkdir(parents=True)
    (d / "c.metadata.json").write_text('{"indexes":[],"collectionName":"x\\u0000"}')
    (d / "c.bson").write_bytes(mongoarchive_bson({"_id": 1}))
    with pytest.raises(MongoArchiveError, match="NUL"):
        pack(tmp_path / "d", tmp_path / "p.archive", server_version="8.0.0")
    assert not (tmp_path / "p.archive").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_two_files_for_one_collection_are_refused(tmp_path: Path) -> None:
    d = tmp_path / "d" / "db"
    d.mkdir(parents=True)
    (d / "a+b.bson").write_bytes(b"")
    (d / "a%20b.bson").write_bytes(b"")
    with pytest.raises(NamespaceError, match="both stand for"):
        pack(tmp_path / "d", tmp_path / "p.archive", server_version="8.0.0")


def test_large_collection_is_handed_over_in_16_mib_pieces(tmp_path: Path) -> None:
    d = tmp_path / "d" / "db"
    d.mkdir(parents=True)
    doc = mongoarchive_bson({"blob": "x" * (1024 * 1024)})
    (d / "big.bson").write_bytes(doc * 17)
    out = io.BytesIO()
    pack(tmp_path / "d", out, server_version="8.0.0")
    expected = io.BytesIO()
    with mongoarchive.open(expected, "w", server_version="8.0.0", tool_version=pack_tool()) as w:
        ns_writer = w.add_collection("db", "big", "", type="collection")
        for _ in range(17):
            ns_writer.write(doc)
    assert out.getvalue() == expected.getvalue()


def pack_tool() -> str:
    return f"mongoarchive {mongoarchive.__version__}"


# -- the verb --------------------------------------------------------------------------
def test_cli_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "d" / "db"
    d.mkdir(parents=True)
    (d / "c.bson").write_bytes(mongoarchive_bson({"_id": 1}))
    out = tmp_path / "p.archive"
    status, stdout, err = run(capsys, "pack", str(tmp_path / "d"), str(out), "--server-version", "8.0.0")
    assert status == 0 and "1 namespace, 1 document," in stdout and err == ""
    status, stdout, err = run(capsys, "pack", str(tmp_path / "d"), str(out), "--server-version", "8.0.0")
    assert status == 2 and "hint: use --force" in err
    status, stdout, err = run(
        capsys,
        "pack",
        str(tmp_path / "d"),
        str(out),
        "--force",
        "--format",
        "json",
        "--server-version",
        "8.0.0",
    )
    assert status == 0 and json.loads(stdout)["namespaces"][0]["documents"] == 1
    (d / "c.bson").write_bytes(b"\x00" * 7)
    status, stdout, err = run(
        capsys, "pack", str(tmp_path / "d"), str(out), "--force", "--server-version", "8.0.0"
    )
    assert status == 1 and "at byte 0" in err and "in namespace 'db.c'" in err
    assert len(err.strip().splitlines()) == 1


def test_pack_errors_are_mongoarchive_errors(tmp_path: Path) -> None:
    with pytest.raises(MongoArchiveError):
        pack(tmp_path / "missing", tmp_path / "p.archive", server_version="8.0.0")

"""unpack: the mongodump --out layout, checked against the official mongodump of both releases."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import bson
import pytest
from bson.int64 import Int64
from cli_helpers import run
from official_dumps import RELEASES, Dumps, tree
from official_dumps import official_dumps as official_dumps  # the fixture

import mongoarchive
from mongoarchive._crc import crc64, to_int64
from mongoarchive.errors import ArchiveIOError, MongoArchiveError, NamespaceError, UsageError
from mongoarchive.layout import escape_collection, prelude_json, unescape_collection
from mongoarchive.unpack import unpack

META = {"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]}
TERMINATOR = b"\xff\xff\xff\xff"


def make_archive(
    path: Path,
    entries: list[tuple[str, str, str | None]],
    *,
    server_version: str = "8.3.0",
    view_data: bool = False,
) -> Path:
    """An archive with one document per (db, collection, type) entry (none for views unless
    ``view_data``, which mongodump never writes).

    Framed by hand (spec/archive.md §2-§4), not with the writer: the writer refuses
    the hostile names these tests need, and an archive from elsewhere may hold them.
    """
    header = {"concurrent_collections": 4, "version": "0.1"}
    header |= {"server_version": server_version, "tool_version": "100.18.0"}
    parts = [b"\x6d\xe2\x99\x81", bson.encode(header)]
    body = []
    for db, coll, kind in entries:
        entry = {"db": db, "collection": coll, "metadata": json.dumps(META) if db else "", "size": 0}
        parts.append(bson.encode({**entry, "type": kind} if kind is not None else entry))
        docs = b"" if kind == "view" and not view_data else bson.encode({"_id": 1, "ns": f"{db}.{coll}"})
        for eof, crc in ((False, 0), (True, crc64(docs))):
            ns_header = {"db": db, "collection": coll, "EOF": eof, "CRC": Int64(to_int64(crc))}
            body += [bson.encode(ns_header), b"" if eof else docs, TERMINATOR]
    path.write_bytes(b"".join([*parts, TERMINATOR, *body]))
    return path


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- file names ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("plain", "plain"),
        ("with space", "with+space"),
        ("sl/ash", "sl%2Fash"),
        ("per%cent+plus", "per%25cent%2Bplus"),
        ("a.b-c_d~e", "a.b-c_d~e"),
        ("..", ".."),
        ("nul\x00", "nul%00"),
        ("é", "%C3%A9"),
    ],
)
def test_escape_is_go_query_escape(name: str, stem: str) -> None:
    assert escape_collection(name) == stem
    assert unescape_collection(stem) == name


def test_long_names_are_cut_at_208_bytes_plus_sha1() -> None:
    name = "n" * 239
    stem = escape_collection(name)
    assert len(stem) == 208 + 3 + 27
    assert stem.startswith("n" * 208 + "%24")
    assert escape_collection("n" * 238) == "n" * 238  # 238 bytes still fit


def test_prelude_json_is_go_json() -> None:
    assert prelude_json("8.2.11", "100.18.0") == b'{"ServerVersion":"8.2.11","ToolVersion":"100.18.0"}'
    assert prelude_json("<&>", "é") == b'{"ServerVersion":"\\u003c\\u0026\\u003e","ToolVersion":"\xc3\xa9"}'


# -- against the official mongodump ----------------------------------------------
def _metadata_as_json(files: dict[str, bytes]) -> dict[str, object]:
    """Metadata files parsed: mongodump 100.6.1 writes collection options from a Go map, in any order."""
    return {k: (json.loads(v) if ".metadata.json" in k else v) for k, v in files.items()}


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("jobs", ["archive1", "archive4"])
def test_unpack_equals_official_out(
    official_dumps: dict[str, Dumps], release: str, jobs: str, tmp_path: Path
) -> None:
    d = official_dumps[release]
    new = release != "100.6.1"
    result = unpack(getattr(d, jobs), tmp_path / "u", prelude_json=new)
    mine, theirs = tree(tmp_path / "u"), tree(d.out)
    assert sorted(mine) == sorted(theirs)
    assert sorted(result.files) == sorted(theirs)
    assert any(k.startswith("alpha/%C3%BC") for k in mine) and "oplog.bson" in mine
    # A collection with timeseries options that the server lists as a collection keeps its own
    # data file: the layout follows the entry's type, as mongodump's prepare.go does (§5.4).
    assert "alpha/ts.bson" in mine and "alpha/system.buckets.ts.bson" not in mine
    if new:
        assert mine == theirs  # byte for byte
    else:
        assert {k: v for k, v in mine.items() if ".metadata.json" not in k} == {
            k: v for k, v in theirs.items() if ".metadata.json" not in k
        }
        assert _metadata_as_json(mine) == _metadata_as_json(theirs)


@pytest.mark.parametrize("release", RELEASES)
def test_unpack_gzip_equals_official_out_gzip(
    official_dumps: dict[str, Dumps], release: str, tmp_path: Path
) -> None:
    d = official_dumps[release]
    new = release != "100.6.1"
    unpack(d.archive4, tmp_path / "u", gzip=True, prelude_json=new)
    mine, theirs = tree(tmp_path / "u", inflate=True), tree(d.out_gz, inflate=True)
    assert sorted(mine) == sorted(theirs)
    assert "oplog.bson" in mine and "alpha/plain.bson.gz" in mine
    assert (tmp_path / "u" / "oplog.bson").read_bytes()[:2] == b"\x1f\x8b"
    if new:
        assert mine == theirs
    else:
        assert _metadata_as_json(mine) == _metadata_as_json(theirs)


# -- special namespaces (spec §5) ------------------------------------------------
def test_layout_of_special_namespaces(tmp_path: Path) -> None:
    src = tmp_path / "a.archive"
    with mongoarchive.open(src, "w", server_version="7.0.14", tool_version="100.18.0") as w:
        ns_writers = [w.add_collection("shop", "orders", json.dumps(META))]
        for name in ("$admin.system.users", "$admin.system.roles", "$admin.system.version"):
            ns_writers.append(w.add_collection("shop", name, "", type=""))
        ts = w.add_collection(
            "iot", "weather", json.dumps({"options": {"timeseries": {}}}), type="timeseries"
        )
        w.add_collection("shop", "v", json.dumps({"options": {"viewOn": "orders"}}), type="view")
        ns_writers.append(w.add_collection("", "oplog", "", type=""))
        for ns_writer in [*ns_writers, ts]:
            ns_writer.write({"_id": str(ns_writer.ns)})
        assert ts.ns == mongoarchive.Namespace("iot", "system.buckets.weather")
    unpack(src, tmp_path / "d")
    assert listing(tmp_path / "d") == [
        "iot",
        "iot/system.buckets.weather.bson",
        "iot/weather.metadata.json",
        "oplog.bson",
        "prelude.json",
        "shop",
        "shop/$admin.system.roles.bson",
        "shop/$admin.system.users.bson",
        "shop/$admin.system.version.bson",
        "shop/orders.bson",
        "shop/orders.metadata.json",
        "shop/v.metadata.json",
    ]
    assert (tmp_path / "d/prelude.json").read_bytes() == prelude_json("7.0.14", "100.18.0")


def test_empty_namespace_gets_an_empty_file(tmp_path: Path) -> None:
    unpack(mongoarchive_path("eof-block-only"), tmp_path / "d")
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "d").rglob("*.bson")}
    assert sizes and 0 in sizes.values()


def mongoarchive_path(vector: str) -> Path:
    from paths import SPEC_VECTORS

    return SPEC_VECTORS / "valid" / f"{vector}.archive"


# -- hostile names: nothing outside DIR, nothing at all ----------------------------
@pytest.mark.parametrize(
    "entries",
    [
        [("..", "x", "collection")],
        [(".", "x", "collection")],
        [("a/b", "x", "collection")],
        [("../../etc", "x", "collection")],
        [("a\\b", "x", "collection")],
        [("nul\x00", "x", "collection")],
        [("d" * 256, "x", "collection")],
        [("", "notoplog", "")],
        [("oplog.bson", "x", "collection"), ("", "oplog", "")],
        [("prelude.json", "x", "collection")],
        [("db", "weather", "timeseries"), ("db", "system.buckets.weather", "collection")],
    ],
    ids=lambda e: repr([x[:2] for x in e]),
)
def test_unsafe_names_are_refused_before_writing(
    tmp_path: Path, entries: list[tuple[str, str, str | None]]
) -> None:
    src = make_archive(tmp_path / "a.archive", entries)
    before = listing(tmp_path)
    with pytest.raises(NamespaceError) as info:
        unpack(src, tmp_path / "out" / "d")
    assert info.value.code in ("unsafe-name", "name-collision")
    assert info.value.namespace is not None and info.value.offset is not None
    assert listing(tmp_path) == before  # not even DIR was created


def test_documents_for_a_view_are_refused_at_their_block(tmp_path: Path) -> None:
    src = make_archive(
        tmp_path / "a.archive", [("db", "c", "collection"), ("db", "v", "view")], view_data=True
    )
    data = src.read_bytes()
    block = data.index(bson.encode({"db": "db", "collection": "v", "EOF": False, "CRC": Int64(0)}))
    with pytest.raises(NamespaceError) as info:
        unpack(src, tmp_path / "d")
    assert info.value.code == "view-with-data" and info.value.namespace == "db.v"
    assert info.value.offset == block
    assert not (tmp_path / "d").exists()


def test_existing_files_need_force(tmp_path: Path) -> None:
    src = make_archive(tmp_path / "a.archive", [("db", "c", "collection")])
    (tmp_path / "d" / "db").mkdir(parents=True)
    (tmp_path / "d" / "db" / "c.bson").write_bytes(b"old")
    with pytest.raises(UsageError, match="exists"):
        unpack(src, tmp_path / "d")
    assert (tmp_path / "d" / "db" / "c.bson").read_bytes() == b"old"
    unpack(src, tmp_path / "d", force=True)
    assert (tmp_path / "d" / "db" / "c.bson").read_bytes() != b"old"
    assert listing(tmp_path / "d") == ["db", "db/c.bson", "db/c.metadata.json", "prelude.json"]


def test_a_link_inside_dir_is_never_followed(tmp_path: Path) -> None:
    src = make_archive(tmp_path / "a.archive", [("db", "c", "collection")])
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "d").mkdir()
    os.symlink(outside, tmp_path / "d" / "db")
    with pytest.raises(ArchiveIOError, match="symbolic link"):
        unpack(src, tmp_path / "d", force=True)
    assert list(outside.iterdir()) == []


def test_a_damaged_archive_leaves_nothing(tmp_path: Path) -> None:
    src = make_archive(tmp_path / "a.archive", [("db", "c", "collection"), ("db", "d", "collection")])
    data = src.read_bytes()
    with pytest.raises(MongoArchiveError):
        unpack(io.BytesIO(data[:-30]), tmp_path / "d")
    assert not (tmp_path / "d").exists()
    (tmp_path / "e").mkdir()
    with pytest.raises(MongoArchiveError):
        unpack(io.BytesIO(data[:-30]), tmp_path / "e")
    assert list((tmp_path / "e").iterdir()) == []


def test_many_interleaved_namespaces_reopen_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    # The package exports the function unpack under the module's name.
    unpack_module = importlib.import_module("mongoarchive.unpack")

    monkeypatch.setattr(unpack_module, "MAX_OPEN_FILES", 2)
    src = mongoarchive_path("interleaved")
    for gz in (False, True):
        out = tmp_path / f"d{gz}"
        unpack(src, out, gzip=gz)
        with mongoarchive.open(src) as archive:
            expected: dict[str, bytes] = {}
            for ns, raw in archive.documents():
                expected[ns.collection] = expected.get(ns.collection, b"") + raw
        got = tree(out, inflate=True)
        for coll, data in expected.items():
            assert got[f"{next(iter(archive.collections)).db}/{coll}.bson" + (".gz" if gz else "")] == data


# -- the verb --------------------------------------------------------------------
def test_cli_unpack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_archive(tmp_path / "a.archive", [("db", "c", "collection")])
    status, out, err = run(capsys, "unpack", str(src), str(tmp_path / "d"), "--format", "json")
    assert status == 0 and err == ""
    report = json.loads(out)
    assert sorted(report["files"]) == ["db/c.bson", "db/c.metadata.json", "prelude.json"]
    status, out, err = run(capsys, "unpack", str(src), str(tmp_path / "d"))
    assert status == 2 and err.startswith("mongoarchive: error: ") and "hint: pass --force" in err
    status, out, err = run(capsys, "unpack", str(src), str(tmp_path / "d"), "--force", "--no-prelude-json")
    assert status == 0 and "1 namespace, 1 document" in out
    bad = make_archive(tmp_path / "b.archive", [("..", "x", "collection")])
    status, out, err = run(capsys, "unpack", str(bad), str(tmp_path / "e"))
    assert status == 1 and "in namespace '...x'" in err and "at byte" in err
    assert len(err.strip().splitlines()) == 1


def test_archives_without_types_lay_views_out_by_their_options(tmp_path: Path) -> None:
    src = tmp_path / "a.archive"
    with mongoarchive.open(src, "w", server_version="4.2.0", tool_version="100.1.0") as w:
        w.add_collection("db", "v", '{"options":{"viewOn":"c","pipeline":[]},"indexes":[]}', type=None)
        w.add_collection("db", "c", '{"options":{},"indexes":[]}', type=None).write({"_id": 1})
    unpack(src, tmp_path / "d")
    assert listing(tmp_path / "d") == [
        "db",
        "db/c.bson",
        "db/c.metadata.json",
        "db/v.metadata.json",
        "prelude.json",
    ]


@pytest.mark.parametrize("release", RELEASES)
def test_users_and_roles_layout_against_the_official_mongodump(release: str, tmp_path: Path) -> None:
    """``--dumpDbUsersAndRoles``: unpack of the official archive is the official --out tree.

    Skips, saying why, where the server cannot give mongodump what it asks for
    (SecantusDB answers getParameter authSchemaVersion with nothing).
    """
    import subprocess

    from dumpserver import SecantusServer, oracle_tool, secantusd_path

    exe = oracle_tool(release, "mongodump")
    if secantusd_path() is None:
        pytest.skip("SecantusDB is not installed")
    server = SecantusServer(tmp_path / "server").start()
    try:
        with server.client() as client:
            client.shop.orders.insert_one({"_id": 1})
            client.shop.command("createUser", "bob", pwd="pw", roles=[{"role": "read", "db": "shop"}])
        common = [str(exe), f"--uri={server.uri}", "--db=shop", "--dumpDbUsersAndRoles"]
        runs = [
            subprocess.run([*common, f"--archive={tmp_path / 'a.archive'}"], capture_output=True, text=True),
            subprocess.run([*common, f"--out={tmp_path / 'out'}"], capture_output=True, text=True),
        ]
    finally:
        server.stop()
    failed = [r for r in runs if r.returncode != 0]
    if failed:
        last = failed[0].stderr.strip().splitlines()[-1:] or ["(no output)"]
        pytest.skip(f"mongodump {release} --dumpDbUsersAndRoles fails against SecantusDB: {last[0][-200:]}")
    unpack(tmp_path / "a.archive", tmp_path / "u", prelude_json=release != "100.6.1")
    mine, theirs = tree(tmp_path / "u"), tree(tmp_path / "out")
    assert "shop/$admin.system.users.bson" in theirs
    assert _metadata_as_json(mine) == _metadata_as_json(theirs)

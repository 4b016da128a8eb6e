"""The official mongorestore (100.6.1 and 100.18.0) restores what every rewrite verb writes.

One SecantusDB server per module: it is seeded (tests/restore_helpers.py's
data set without the timeseries collection), dumped
(our dump of both databases; the official mongodump of one database and our
dump of the other for merge), its expected contents are read with pymongo
(``find()`` with the filter's query gives the filter's expectation,
independently of our query engine), and then its databases are dropped: the
same server receives every restore. Each verb's output is restored with
``mongorestore --archive`` or ``--dir`` and the server's catalogue (types,
options, indexes, documents by content) must be exactly the one expected.
Skipped without ../shared/oracle or SecantusDB.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bson.raw_bson import RawBSONDocument
from cli_helpers import run
from dumpserver import ORACLE, RELEASES, Catalogue, SecantusServer, catalogue, secantusd_path
from pymongo import MongoClient
from restore_helpers import drop_user_databases, seed

from mongoarchive.dump import dump

#: The filter case: every verb option that changes what is restored.
QUERY = {"k": {"$gte": 5}}
FILTER_ARGS = ["--nsExclude", "shop.customers", "--nsFrom", "shop.*", "--nsTo", "store.*"]
FILTER_ARGS += ["--query", json.dumps(QUERY)]


class Source:
    """The module's server and what it held before its databases were dropped."""

    def __init__(self, server: SecantusServer, root: Path) -> None:
        self.server = server
        self.root = root
        self.archive = root / "both.archive"
        self.shop = root / "shop.archive"
        self.crm = root / "crm.archive"
        self.full: Catalogue = {}
        self.queried: Catalogue = {}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    if not ORACLE.is_dir():
        pytest.skip("the official mongo-tools are not in ../shared/oracle")
    if secantusd_path() is None:
        pytest.skip("SecantusDB is not installed (pip install SecantusDB==0.7.0b3)")
    root = tmp_path_factory.mktemp("rewrite-restore")
    server = SecantusServer(root / "server").start()
    try:
        src = Source(server, root)
        with MongoClient(server.uri, document_class=RawBSONDocument) as client:
            seed(client, orders=30, customers=10, contacts=15, timeseries=False)
            dump(src.archive, uri=server.uri, ns_include=["shop.*", "crm.*"], parallel=1)
            mongodump = ORACLE / "100.18.0" / "mongodump"
            done = subprocess.run(
                [str(mongodump), f"--uri={server.uri}", "--db=shop", f"--archive={src.shop}"],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr[-2000:]
            dump(src.crm, uri=server.uri, db="crm")
            src.full = catalogue(client)
            src.queried = catalogue(client, QUERY)
            client.drop_database("shop")
            client.drop_database("crm")
        yield src
    finally:
        server.stop()


def restore(source: Source, release: str, *args: str, fresh: bool = True) -> Catalogue:
    """Restore with the official mongorestore of ``release`` (after dropping every user
    database unless not ``fresh``) and return the server's catalogue."""
    exe = ORACLE / release / "mongorestore"
    if not exe.is_file():
        pytest.skip(f"the official mongorestore {release} is not at {exe}")
    with MongoClient(source.server.uri, document_class=RawBSONDocument) as client:
        if fresh:
            drop_user_databases(client)
        done = subprocess.run(
            [str(exe), "--host", "127.0.0.1", "--port", str(source.server.port), "--drop", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert " 0 document(s) failed to restore" in done.stderr, done.stderr[-3000:]
        return catalogue(client)


def verb(capsys: pytest.CaptureFixture[str], *argv: str) -> None:
    status, _, err = run(capsys, *argv)
    assert status == 0, err


def filtered(source: Source) -> Catalogue:
    """What the filter case must restore, computed from the server's own ``find(QUERY)``."""
    out = {}
    for ns, entry in source.queried.items():
        if ns == "shop.customers":
            continue
        db, coll = ns.split(".", 1)
        out[f"{'store' if db == 'shop' else db}.{coll}"] = entry
    return out


def test_the_data_set_holds_what_the_verbs_must_carry(source: Source) -> None:
    full = source.full
    assert full["shop.recent"]["type"] == "view" and full["shop.recent"]["options"]["viewOn"] == "orders"
    # SecantusDB keeps a capped collection's options but does not enforce ``max``.
    assert full["shop.capped"]["options"]["capped"] is True and full["shop.capped"]["options"]["max"] == 5
    assert full["shop.empty"]["documents"] == [] and len(full["shop.empty"]["indexes"]) == 2
    assert len(full["shop.orders"]["indexes"]) == 5 and "validator" in full["shop.orders"]["options"]
    assert full["shop.customers"]["options"]["collation"]["locale"] == "en"
    # The query keeps some documents and drops others, views included.
    for ns in ("shop.orders", "shop.recent", "crm.contacts"):
        assert 0 < len(source.queried[ns]["documents"]) < len(full[ns]["documents"]), ns


@pytest.mark.parametrize("release", RELEASES)
def test_the_input_archives_restore_as_the_source(source: Source, release: str) -> None:
    # The baseline: what the verbs start from restores as the server held it.
    assert restore(source, release, f"--archive={source.archive}") == source.full


@pytest.mark.parametrize("release", RELEASES)
def test_filter_with_rename_exclude_and_query(
    source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str], release: str
) -> None:
    out = tmp_path / "filtered.archive"
    verb(capsys, "filter", str(source.archive), str(out), *FILTER_ARGS)
    got = restore(source, release, f"--archive={out}")
    assert got == filtered(source)
    assert "store.orders" in got and "shop.orders" not in got and "store.customers" not in got


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("release", RELEASES)
def test_unpack_restores_with_dir(
    source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str], release: str, gzip: bool
) -> None:
    out = tmp_path / "dir"
    # The gzip case also carries the pack record: mongorestore --dir must skip that root file.
    verb(capsys, "unpack", str(source.archive), str(out), *(["--gzip", "--pack-record"] if gzip else []))
    assert (out / ".mongoarchive-pack.json").is_file() == gzip
    assert restore(source, release, f"--dir={out}", *(["--gzip"] if gzip else [])) == source.full


@pytest.mark.parametrize("release", RELEASES)
def test_pack_of_unpack(
    source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str], release: str
) -> None:
    out = tmp_path / "dir"
    verb(capsys, "unpack", str(source.archive), str(out), "--pack-record")
    packed = tmp_path / "packed.archive"
    verb(capsys, "pack", str(out), str(packed))
    assert packed.read_bytes() == source.archive.read_bytes()
    assert restore(source, release, f"--archive={packed}") == source.full


@pytest.mark.parametrize("release", RELEASES)
def test_merge_of_an_official_and_our_archive(
    source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str], release: str
) -> None:
    out = tmp_path / "merged.archive"
    verb(capsys, "merge", str(source.shop), str(source.crm), str(out))
    assert restore(source, release, f"--archive={out}") == source.full


@pytest.mark.parametrize("release", RELEASES)
def test_merge_with_a_rename_restores_both_copies(
    source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str], release: str
) -> None:
    out = tmp_path / "merged.archive"
    verb(
        capsys, "merge", str(source.archive), str(source.shop), str(out), "--rename", "2", "shop.*", "copy.*"
    )
    got = restore(source, release, f"--archive={out}")
    copies = {f"copy.{ns[5:]}": e for ns, e in source.full.items() if ns.startswith("shop.")}
    assert got == {**source.full, **copies}


@pytest.mark.parametrize("release", RELEASES)
def test_split_per_database(
    source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str], release: str
) -> None:
    out = tmp_path / "pieces"
    verb(capsys, "split", str(source.archive), str(out))
    assert sorted(p.name for p in out.iterdir()) == ["crm.archive", "shop.archive"]
    for db in ("crm", "shop"):
        got = restore(source, release, f"--archive={out / f'{db}.archive'}")
        assert got == {ns: e for ns, e in source.full.items() if ns.startswith(f"{db}.")}, db
    # Restored one after the other, the pieces give back the whole.
    restore(source, release, f"--archive={out / 'crm.archive'}")
    assert restore(source, release, f"--archive={out / 'shop.archive'}", fresh=False) == source.full

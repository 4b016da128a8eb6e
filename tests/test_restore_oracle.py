"""Our restore beside the official ``mongorestore --archive`` (100.6.1 and 100.18.0), same flags.

For a varied set of archives (our dump of the source, the official mongodump
of both releases of the same source, the real archive of
../shared/vectors/mongo-tools/), both tools restore into the wiped target in
turn and the target's catalogue (collections, types, options, indexes,
documents by content) must be the same.  Damaged archives (cut short; a CRC
mismatch in the last namespace): the official mongorestore leaves partial or
unverified data behind, ours leaves the target as it was.  Skipped without
../shared/oracle or SecantusDB.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import bson
import pytest
from dumpserver import ORACLE, RELEASES, Catalogue
from paths import SHARED_VECTORS
from pymongo import MongoClient
from restore_helpers import Servers, plain, staging_left

import mongoarchive
import mongoarchive.cli

pytest_plugins = ["restore_helpers"]

#: Flag sets compared on every archive of ours (the official tools' spelling is ours too).
FLAG_SETS = {
    "default": [],
    "rename": [
        "--nsInclude",
        "shop.*",
        "--nsExclude",
        "shop.customers",
        "--nsFrom",
        "shop.*",
        "--nsTo",
        "store.*",
    ],
    "db-collection": ["--db", "shop", "--collection", "orders"],
    "no-index": ["--noIndexRestore"],
    # mongorestore refuses --noOptionsRestore with a timeseries collection (so do we, test_restore.py).
    "no-options": ["--noOptionsRestore", "--nsExclude", "metrics.*"],
}


def official(servers: Servers, release: str, archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = ORACLE / release / "mongorestore"
    if not exe.is_file():
        pytest.skip(f"the official mongorestore {release} is not at {exe}")
    return subprocess.run(
        [str(exe), "--host", "127.0.0.1", "--port", str(servers.target.port), f"--archive={archive}", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def official_catalogue(servers: Servers, release: str, archive: Path, *args: str) -> Catalogue:
    servers.wipe()
    done = official(servers, release, archive, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    return servers.catalogue()


def our_catalogue(servers: Servers, archive: Path, *args: str) -> Catalogue:
    servers.wipe()
    status = mongoarchive.cli.main(["restore", "--uri", servers.target.uri, str(archive), *args])
    assert status == 0
    return servers.catalogue()


@pytest.fixture(scope="module")
def official_dumps(servers: Servers) -> dict[str, Path]:
    if not ORACLE.is_dir():
        pytest.skip("the official mongo-tools are not in ../shared/oracle")
    out = {}
    for release in RELEASES:
        path = servers.root / f"mongodump-{release}.archive"
        done = subprocess.run(
            [
                str(ORACLE / release / "mongodump"),
                f"--uri={servers.source.uri}",
                "-j",
                "1",
                f"--archive={path}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        out[release] = path
    return out


@pytest.mark.parametrize("flags", sorted(FLAG_SETS))
def test_our_dump_restores_like_mongorestore(servers: Servers, flags: str) -> None:
    args = FLAG_SETS[flags]
    theirs = official_catalogue(servers, "100.18.0", servers.archive, *args)
    ours = our_catalogue(servers, servers.archive, *args)
    assert ours == theirs
    if flags == "default":
        assert plain(ours) == plain(servers.full)


@pytest.mark.parametrize("dumped_by", RELEASES)
@pytest.mark.parametrize("restored_by", RELEASES)
def test_official_dumps_restore_like_mongorestore(
    servers: Servers, official_dumps: dict[str, Path], dumped_by: str, restored_by: str
) -> None:
    archive = official_dumps[dumped_by]
    theirs = official_catalogue(servers, restored_by, archive, "--drop")
    ours = our_catalogue(servers, archive, "--drop")
    assert ours == theirs
    assert plain(ours) == plain(servers.full)


@pytest.mark.parametrize("release", RELEASES)
def test_the_real_archive_restores_like_mongorestore(servers: Servers, release: str) -> None:
    archive = SHARED_VECTORS / "test.bar.archive"
    if not archive.is_file():
        pytest.skip(f"{archive} is absent")
    theirs = official_catalogue(servers, release, archive)
    ours = our_catalogue(servers, archive)
    assert ours == theirs and list(ours) == ["test.bar"]


# -- damaged archives ------------------------------------------------------------------------
LAST_DOCS = 5000


@pytest.fixture(scope="module")
def two_namespaces(servers: Servers) -> Path:
    """dmg.first (10 documents), then dmg.last (5000, many batches), written in that order."""
    path = servers.root / "two.archive"
    with mongoarchive.open(path, "w", server_version="8.2.11") as out:
        first = out.add_collection("dmg", "first", {"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]})
        last = out.add_collection("dmg", "last", {"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]})
        for i in range(10):
            first.write({"_id": i})
        first.close()
        for i in range(LAST_DOCS):
            last.write({"_id": i, "s": f"value {i:06d}"})
    return path


def damaged(servers: Servers, two: Path, how: str) -> Path:
    data = two.read_bytes()
    path = servers.root / f"two-{how}.archive"
    if how == "truncated":
        path.write_bytes(data[: len(data) * 3 // 4])  # inside dmg.last's documents
    else:
        # One document of dmg.last changed to another valid one of the same size: only the CRC tells.
        old = bson.encode({"_id": LAST_DOCS - 10, "s": f"value {LAST_DOCS - 10:06d}"})
        new = bson.encode({"_id": LAST_DOCS - 10, "s": "value XXXXXX"})
        assert data.count(old) == 1 and len(old) == len(new)
        path.write_bytes(data.replace(old, new))
    return path


def seed_target(servers: Servers) -> None:
    servers.wipe()
    with MongoClient(servers.target.uri) as client:
        client.dmg.last.insert_many([{"_id": i, "before": True} for i in range(3)])


@pytest.mark.parametrize("how", ["truncated", "crc-mismatch"])
@pytest.mark.parametrize("release", RELEASES)
def test_mongorestore_leaves_partial_data_ours_leaves_the_target(
    servers: Servers, two_namespaces: Path, how: str, release: str
) -> None:
    archive = damaged(servers, two_namespaces, how)
    seed_target(servers)
    done = official(servers, release, archive, "--drop")
    theirs = servers.catalogue()
    # The official tool: dmg.last dropped and refilled, then the damage found too late.
    assert "dmg.last" in theirs
    kept = len(theirs["dmg.last"]["documents"])
    if how == "truncated":
        assert done.returncode != 0
        assert 0 < kept < LAST_DOCS
    else:
        # 100.6.1 and 100.18.0 both insert every document before the EOF block's CRC is checked.
        assert kept == LAST_DOCS
    seed_target(servers)
    before = servers.catalogue()
    result = mongoarchive.restore(archive, uri=servers.target.uri, drop=True)
    assert not result.ok
    assert result.errors[0].namespace == "dmg.last"
    ours = servers.catalogue()
    assert ours["dmg.last"] == before["dmg.last"]  # untouched: the three documents from before
    assert len(ours["dmg.first"]["documents"]) == 10  # complete and checked before the damage
    assert staging_left(servers.target.uri) == []
    by_target = {n.target: n for n in result.namespaces}
    assert by_target["dmg.last"].status == "rolled back" and by_target["dmg.first"].status == "restored"


def test_no_atomic_is_as_partial_as_mongorestore(servers: Servers, two_namespaces: Path) -> None:
    archive = damaged(servers, two_namespaces, "truncated")
    seed_target(servers)
    result = mongoarchive.restore(archive, uri=servers.target.uri, drop=True, atomic=False)
    assert not result.ok and result.errors[0].code in ("truncated", "unfinished-namespace", "bad-framing")
    kept = len(servers.catalogue()["dmg.last"]["documents"])
    assert 0 < kept < LAST_DOCS
    assert {n.target: n.status for n in result.namespaces}["dmg.last"] == "partial"

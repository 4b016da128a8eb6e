"""``mongoarchive restore`` into a live SecantusDB: data, options, indexes, views, selection, reports.

Each test restores one of the source's archives (tests/restore_helpers.py)
into the wiped target and compares the target's catalogue (types, options,
indexes, documents by content) with what the source held.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bson.raw_bson import RawBSONDocument
from cli_helpers import run
from pymongo import MongoClient
from restore_helpers import Servers, plain, staging_left

import mongoarchive
from mongoarchive.restore import RestoreOptions

pytest_plugins = ["restore_helpers"]


def restore_cli(capsys: pytest.CaptureFixture[str], servers: Servers, *args: str) -> tuple[int, str, str]:
    return run(capsys, "restore", "--uri", servers.target.uri, *args)


def renamed(full: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in full.items()}


#: Documents already in crm.contacts: ten with the archive's _ids, one of the target's own.
MINE = [{"_id": i, "k": -i, "email": f"{i}@example.org"} for i in range(10)] + [{"_id": "m", "email": "m@x"}]


@pytest.fixture
def target(servers: Servers) -> Servers:
    servers.wipe()
    return servers


@pytest.mark.parametrize("which", ["plain", "gzip"])
def test_full_restore_gives_the_source(
    target: Servers, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    path = target.archive if which == "plain" else target.gzip
    status, out, err = restore_cli(capsys, target, str(path))
    assert status == 0, err
    assert plain(target.catalogue()) == plain(target.full)
    assert "2854 document(s) restored successfully. 0 document(s) failed to restore." in out
    assert staging_left(target.target.uri) == []


def test_restore_from_standard_input(target: Servers) -> None:
    with open(target.archive, "rb") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "mongoarchive", "restore", "--uri", target.target.uri, "--archive"],
            stdin=fh,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    assert plain(target.catalogue()) == plain(target.full)


def test_the_library_call(target: Servers) -> None:
    result = mongoarchive.restore(target.archive, uri=target.target.uri, ns_include=["crm.*"])
    assert result.ok and result.documents == 300
    assert [n.target for n in result.namespaces] == ["crm.contacts"]
    assert target.catalogue() == {"crm.contacts": target.full["crm.contacts"]}


def test_include_exclude_and_rename(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--nsInclude",
        "shop.*",
        "--nsExclude",
        "shop.customers",
        "--nsFrom",
        "shop.*",
        "--nsTo",
        "store.*",
    ]
    status, _, err = restore_cli(capsys, target, str(target.archive), *args)
    assert status == 0, err
    want = {k: v for k, v in renamed(target.full, "shop.", "store.").items() if k.startswith("store.")}
    del want["store.customers"]
    assert target.catalogue() == want


def test_db_and_collection_select_one_namespace(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = restore_cli(
        capsys, target, str(target.archive), "--db", "shop", "--collection", "orders"
    )
    assert status == 0, err
    assert target.catalogue() == {"shop.orders": target.full["shop.orders"]}


def test_no_index_and_no_options_restore(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = restore_cli(
        capsys,
        target,
        str(target.archive),
        "--nsInclude",
        "shop.orders",
        "--noIndexRestore",
        "--noOptionsRestore",
    )
    assert status == 0, err
    got = target.catalogue()["shop.orders"]
    assert got["options"] == {}
    assert [i["name"] for i in got["indexes"]] == ["_id_"]
    assert got["documents"] == target.full["shop.orders"]["documents"]


def test_without_drop_existing_documents_are_duplicates(
    target: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    with MongoClient(target.target.uri) as client:
        client.crm.contacts.insert_many(MINE)
    status, out, _ = restore_cli(capsys, target, str(target.archive), "--nsInclude", "crm.*")
    assert status == 1  # duplicate keys are failures, as for mongorestore
    assert "290 document(s) restored successfully. 10 document(s) failed to restore." in out
    with MongoClient(target.target.uri) as client:
        assert client.crm.contacts.count_documents({}) == 301
        assert client.crm.contacts.find_one({"_id": 3})["k"] == -3  # the existing document stays
    assert staging_left(target.target.uri) == []


def test_drop_replaces_the_target(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    with MongoClient(target.target.uri) as client:
        client.crm.contacts.insert_many(MINE)
    status, _, err = restore_cli(capsys, target, str(target.archive), "--nsInclude", "crm.*", "--drop")
    assert status == 0, err
    assert target.catalogue() == {"crm.contacts": target.full["crm.contacts"]}


def test_stop_on_error_stops_at_the_first_duplicate(target: Servers) -> None:
    with MongoClient(target.target.uri) as client:
        client.crm.contacts.insert_one({"_id": 0, "email": "0@example.org"})
    result = mongoarchive.restore(target.archive, uri=target.target.uri, stop_on_error=True)
    assert not result.ok and result.errors[0].code == "stop-on-error"
    assert result.errors[0].namespace == "crm.contacts"
    # The archive holds smaller collections after crm.contacts (the dump goes largest first):
    # none of them was restored, and nothing staged is left.
    later = [n for n in result.namespaces if n.kind == "collection" and n.documents < 300]
    assert later and {n.status for n in later} == {"rolled back"}
    assert "shop.customers" not in target.catalogue()
    assert staging_left(target.target.uri) == []


@pytest.mark.parametrize(
    "flags", [{"maintain_insertion_order": True}, {"parallel": 1, "insertion_workers": 3}]
)
def test_ordering_and_worker_flags_restore_the_same(target: Servers, flags: dict[str, Any]) -> None:
    result = mongoarchive.restore(target.archive, RestoreOptions(uri=target.target.uri, **flags))
    assert result.ok, result.errors
    assert plain(target.catalogue()) == plain(target.full)


def test_no_atomic_restores_the_same(target: Servers) -> None:
    result = mongoarchive.restore(target.archive, uri=target.target.uri, atomic=False, drop=True)
    assert result.ok, result.errors
    assert plain(target.catalogue()) == plain(target.full)


def test_write_concern_and_bypass_validation(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--writeConcern",
        '{"w": 1, "j": true}',
        "--bypassDocumentValidation",
        "--nsInclude",
        "shop.orders",
    ]
    status, _, err = restore_cli(capsys, target, str(target.archive), *args)
    assert status == 0, err
    assert target.catalogue() == {"shop.orders": target.full["shop.orders"]}


def test_json_report(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = restore_cli(
        capsys, target, str(target.archive), "--nsInclude", "shop.*", "--format", "json"
    )
    assert status == 0, err
    report = json.loads(out)
    assert report["ok"] is True and report["failed"] == 0
    by_target = {n["target"]: n for n in report["namespaces"]}
    assert by_target["shop.orders"]["documents"] == 2500 and by_target["shop.orders"]["status"] == "restored"
    assert by_target["shop.recent"]["kind"] == "view"
    assert {"namespace": "crm.contacts", "reason": "not selected"} in report["skipped"]


def test_dry_run_writes_nothing_and_counts(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "restore", "--dryRun", str(target.archive), "--format", "json")
    assert status == 0, err
    report = json.loads(out)
    assert report["dry_run"] and report["documents"] == 2854
    assert {n["status"] for n in report["namespaces"]} == {"checked"}
    assert target.catalogue() == {}


def test_dry_run_reads_the_whole_body(
    target: Servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.archive"
    cut.write_bytes(target.archive.read_bytes()[:-100])
    status, _, err = run(capsys, "restore", "--dryRun", str(cut))
    assert status == 1
    assert "error: the stream ends" in err and "cut short" in err
    assert target.catalogue() == {}


def test_usage_errors_exit_2(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    assert restore_cli(capsys, target, str(target.archive), "--collection", "x")[0] == 2
    assert restore_cli(capsys, target, str(target.archive), "--nsFrom", "a.*")[0] == 2
    assert restore_cli(capsys, target, str(target.archive), "--oplogLimit", "5")[0] == 2
    # As mongorestore: a timeseries collection cannot be restored without its options.
    assert restore_cli(capsys, target, str(target.archive), "--noOptionsRestore")[0] == 2
    assert run(capsys, "restore", "--uri", target.target.uri, "/nonexistent/archive")[0] == 2


def test_unreachable_server_is_one_clear_line(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(
        capsys, "restore", "--host", "127.0.0.1", "--port", "1", "--timeout", "0.5", str(target.archive)
    )
    assert status == 1
    assert err.count("\n") == 1 and "cannot reach the server" in err and "Traceback" not in err


def test_oplog_replay_is_refused_before_anything_is_written(
    target: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    # SecantusDB has no applyOps; mongorestore would need it too.
    status, _, err = restore_cli(capsys, target, str(target.archive), "--oplogReplay")
    assert status == 1 and "applyOps" in err
    assert target.catalogue() == {}


def test_preserve_uuid_is_refused_without_apply_ops(
    target: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = restore_cli(capsys, target, str(target.archive), "--preserveUUID", "--drop")
    assert status == 1 and "applyOps" in err
    assert target.catalogue() == {}


def test_cleanup_staging_drops_only_staging_collections(
    target: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    with MongoClient(target.target.uri, document_class=RawBSONDocument) as client:
        client.shop["mongoarchive.restore.deadbeef.0"].insert_one({"_id": 1})
        client.shop.keep.insert_one({"_id": 1})
    status, out, _ = restore_cli(capsys, target, "--cleanupStaging")
    assert status == 0 and "dropped shop.mongoarchive.restore.deadbeef.0" in out
    assert staging_left(target.target.uri) == []
    assert list(target.catalogue()) == ["shop.keep"]


def test_timeseries_documents_go_to_buckets(target: Servers, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = restore_cli(capsys, target, str(target.archive), "--nsInclude", "metrics.*")
    assert status == 0, err
    got = target.catalogue()
    assert got["metrics.weather"]["options"] == target.full["metrics.weather"]["options"]
    assert got["metrics.system.buckets.weather"]["documents"] == target.full["metrics.weather"]["documents"]


@pytest.mark.parametrize("where", ["admin", "db"])
def test_users_go_through_the_servers_merge(target: Servers, tmp_path: Path, where: str) -> None:
    # SecantusDB has no _mergeAuthzCollections (mongorestore's way, and ours): the users are
    # reported as not restored, nothing else is lost, and the temporary collection is dropped.
    path = tmp_path / "users.archive"
    db, coll = ("admin", "system.users") if where == "admin" else ("app", "$admin.system.users")
    with mongoarchive.open(path, "w", server_version="8.2.11") as out:
        users = out.add_collection(db, coll, {"indexes": []})
        data = out.add_collection("app", "data", {"indexes": []})
        users.write({"_id": "app.ada", "user": "ada", "db": "app", "roles": [], "credentials": {}})
        data.write({"_id": 1})
    flags = {} if where == "admin" else {"db": "app", "restore_db_users_and_roles": True}
    result = mongoarchive.restore(path, uri=target.target.uri, **flags)
    assert not result.ok
    assert [e.code for e in result.errors] == ["auth-merge-refused"]
    by_kind = {n.kind: n for n in result.namespaces}
    assert by_kind["users"].status == "rolled back" and by_kind["collection"].status == "restored"
    with MongoClient(target.target.uri) as client:
        assert "tempusers" not in client.admin.list_collection_names()
        assert client.app.data.count_documents({}) == 1


@pytest.mark.parametrize("server_version", ["8.2.11", "8.3.0"])
def test_timeseries_naming_follows_the_archives_server_version(
    target: Servers, tmp_path: Path, server_version: str
) -> None:
    """An archive from before 8.3 holds a timeseries' data under system.buckets.X, one from 8.3 on
    under X (§5.4); either way the documents reach the target server's bucket collection (SecantusDB
    reports 8.2.11, so system.buckets.X)."""
    path = tmp_path / f"ts-{server_version}.archive"
    options = {"timeseries": {"timeField": "t", "metaField": "m", "granularity": "seconds"}}
    docs = [{"_id": i, "t": datetime.datetime(2024, 1, 1, 0, 0, i), "m": i % 2} for i in range(5)]
    with mongoarchive.open(path, "w", server_version=server_version) as out:
        writer = out.add_collection("tsdb", "w", {"options": options, "indexes": []}, type="timeseries")
        for doc in docs:
            writer.write(doc)
    with mongoarchive.open(path) as reader:
        seen = {str(item.ns) for item in reader if hasattr(item, "ns")}
    assert ("tsdb.system.buckets.w" in seen) == (server_version == "8.2.11")
    result = mongoarchive.restore(path, uri=target.target.uri)
    assert result.ok, result.errors
    with MongoClient(target.target.uri) as client:
        assert client.tsdb.system.buckets.w.count_documents({}) == len(docs)
        (info,) = [c for c in client.tsdb.list_collections() if c["name"] == "w"]
        assert info["options"]["timeseries"]["timeField"] == "t"


def test_validation_options_lost_by_the_rename_are_set_again(target: Servers) -> None:
    """SecantusDB's rename drops options: shop.orders (a validator and validationLevel only) is
    still renamed into place, then collMod sets them again; shop.customers (a collation, which
    only create sets) is copied from staging."""
    result = mongoarchive.restore(target.archive, uri=target.target.uri, ns_include=["shop.*"])
    assert result.ok, result.errors
    messages = {n.target: n.message or "" for n in result.namespaces}
    assert "collMod" in messages["shop.orders"]
    assert "copied from staging" in messages["shop.customers"]
    got = target.catalogue()
    for ns in ("shop.orders", "shop.customers"):
        assert got[ns] == target.full[ns]


def test_a_rollback_waits_for_the_commit_still_running(
    target: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dmg.first's commit (a thread, so the reader goes on) is held until the reader has found the
    damage in dmg.last: the rollback must wait for it, then dmg.first is in place and nothing staged."""
    import threading

    from mongoarchive import _restore_run, _restore_stage

    path = tmp_path / "two.archive"
    index = {"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]}
    with mongoarchive.open(path, "w", server_version="8.2.11") as out:
        first, last = out.add_collection("dmg", "first", index), out.add_collection("dmg", "last", index)
        for i in range(10):
            first.write({"_id": i})
        first.close()
        for i in range(3000):
            last.write({"_id": i, "s": f"value {i:06d}"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])  # inside dmg.last's documents

    damage_found = threading.Event()
    running: list[str] = []
    seen_by_rollback: list[list[str]] = []
    real_commit, real_stream, real_abort = (
        _restore_stage.commit,
        _restore_run.Run._stream,
        _restore_run.Run._abort,
    )

    def held_commit(client: Any, staging: Any, ns: Any, **kw: Any) -> str:
        running.append(str(ns))
        try:
            damage_found.wait(60)  # a bound for a broken restore, not a timing
            return real_commit(client, staging, ns, **kw)
        finally:
            running.remove(str(ns))

    def stream(self: Any) -> None:
        try:
            real_stream(self)
        finally:
            damage_found.set()

    def abort(self: Any) -> None:
        seen_by_rollback.append(list(running))
        real_abort(self)

    monkeypatch.setattr(_restore_stage, "commit", held_commit)
    monkeypatch.setattr(_restore_run.Run, "_stream", stream)
    monkeypatch.setattr(_restore_run.Run, "_abort", abort)
    result = mongoarchive.restore(path, uri=target.target.uri, drop=True)
    assert not result.ok and result.errors[0].namespace == "dmg.last"
    assert seen_by_rollback == [[]]  # no commit was running when the rollback began
    assert {n.target: n.status for n in result.namespaces} == {
        "dmg.first": "restored",
        "dmg.last": "rolled back",
    }
    catalogue = target.catalogue()
    assert len(catalogue["dmg.first"]["documents"]) == 10 and "dmg.last" not in catalogue
    assert staging_left(target.target.uri) == []

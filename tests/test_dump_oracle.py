"""Our dump against the official mongodump (100.6.1 and 100.18.0) on the same SecantusDB server.

For each selection both tools dump the session's server (tests/conftest_dump.py);
the two archives must list the same namespaces with the same types, the same
order where mongodump's is fixed (its regular intents come from a Go map, so
only the oplog/users/roles/version tail is ordered), metadata that parses to
the same value, and the same documents. Skipped without ../shared/oracle.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from bson import json_util

import mongoarchive
from mongoarchive.dump import DumpError, dump

pytest_plugins = ["conftest_dump"]

from dumpserver import RELEASES, SecantusServer, oracle_tool  # noqa: E402

#: (mongodump arguments, the same selection as dump() fields)
CASES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "full": ([], {}),
    "db": (["--db", "alpha"], {"db": "alpha"}),
    "collection": (["--db", "alpha", "--collection", "shaped"], {"db": "alpha", "collection": "shaped"}),
    "empty-collection": (["--db", "alpha", "--collection", "empty"], {"db": "alpha", "collection": "empty"}),
    "capped-collection": (
        ["--db", "alpha", "--collection", "capped"],
        {"db": "alpha", "collection": "capped"},
    ),
    "view": (["--db", "alpha", "--collection", "small_view"], {"db": "alpha", "collection": "small_view"}),
    "exclude": (
        ["--db", "beta", "--excludeCollection", "keep", "--excludeCollectionsWithPrefix", "skip_"],
        {"db": "beta", "exclude_collections": ["keep"], "exclude_collections_with_prefix": ["skip_"]},
    ),
    "views-as-collections": (
        ["--db", "alpha", "--viewsAsCollections"],
        {"db": "alpha", "views_as_collections": True},
    ),
    "timeseries": (["--db", "gamma"], {"db": "gamma"}),
    "admin": (["--db", "admin"], {"db": "admin"}),
    "oplog": (["--oplog"], {"oplog": True}),
}
#: Namespaces mongodump's intent manager keeps aside and lists last, in this order.
TAIL = ("", "oplog"), ("admin", "system.users"), ("admin", "system.roles"), ("admin", "system.version")


def official_dump(release: str, server: SecantusServer, target: Path, args: list[str]) -> None:
    exe = oracle_tool(release, "mongodump")
    cmd = [str(exe), f"--archive={target}", "--host", "127.0.0.1", "--port", str(server.port), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def contents(path: Path) -> tuple[Any, list[Any], dict[str, list[bytes]]]:
    """Header, prelude entries and every namespace's documents (sorted raw bytes)."""
    docs: dict[str, list[bytes]] = {}
    with mongoarchive.open(path) as archive:
        header = archive.header
        entries = list(archive.collections)
        for ns, raw in archive.documents():
            docs.setdefault(f"{ns.db}.{ns.collection}", []).append(bytes(raw))
    return header, entries, {ns: sorted(d) for ns, d in docs.items()}


def parsed_metadata(text: str, keep_uuid: bool) -> Any:
    if not text:
        return None
    value = json_util.loads(text)
    if not keep_uuid:
        value.pop("uuid", None)
    return value


def assert_same_dump(ours: Path, theirs: Path) -> None:
    our_header, our_entries, our_docs = contents(ours)
    their_header, their_entries, their_docs = contents(theirs)
    assert our_header.server_version == their_header.server_version
    assert our_header.concurrent_collections == their_header.concurrent_collections
    # Same namespaces and types.
    assert sorted((e.db, e.collection, e.type) for e in our_entries) == sorted(
        (e.db, e.collection, e.type) for e in their_entries
    )
    # Same order where mongodump's is deterministic: the special tail.
    for entries in (our_entries, their_entries):
        names = [(e.db, e.collection) for e in entries]
        tail = [n for n in names if n in TAIL]
        assert names[len(names) - len(tail) :] == tail
    our_tail = [(e.db, e.collection) for e in our_entries if (e.db, e.collection) in TAIL]
    assert our_tail == [(e.db, e.collection) for e in their_entries if (e.db, e.collection) in TAIL]
    # Metadata that parses to the same value (the uuid only where both have one).
    theirs_by_ns = {(e.db, e.collection): e for e in their_entries}
    for e in our_entries:
        other = theirs_by_ns[(e.db, e.collection)]
        both_uuid = '"uuid"' in e.metadata and '"uuid"' in other.metadata
        assert parsed_metadata(e.metadata, both_uuid) == parsed_metadata(other.metadata, both_uuid), e
    # The same documents (the oplog's depend on when each tool ran).
    our_docs.pop(".oplog", None)
    their_docs.pop(".oplog", None)
    assert our_docs == their_docs


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_prelude_matches_mongodump(
    dump_server: SecantusServer, tmp_path: Path, release: str, case: str
) -> None:
    args, fields = CASES[case]
    theirs = tmp_path / "theirs.archive"
    official_dump(release, dump_server, theirs, args)
    ours = tmp_path / "ours.archive"
    dump(ours, uri=dump_server.uri, **fields)
    assert_same_dump(ours, theirs)


@pytest.mark.parametrize("release", RELEASES)
def test_dump_db_users_and_roles_refused_like_mongodump(
    dump_server: SecantusServer, tmp_path: Path, release: str
) -> None:
    """SecantusDB reports no authSchemaVersion: both tools refuse --dumpDbUsersAndRoles."""
    exe = oracle_tool(release, "mongodump")
    target = tmp_path / "theirs.archive"
    cmd = [str(exe), f"--archive={target}", "--port", str(dump_server.port), "--host", "127.0.0.1"]
    done = subprocess.run([*cmd, "--db", "beta", "--dumpDbUsersAndRoles"], capture_output=True, text=True)
    assert done.returncode != 0 and "auth schema version" in done.stderr
    with pytest.raises(DumpError, match="auth schema version"):
        dump(tmp_path / "ours.archive", uri=dump_server.uri, db="beta", dump_db_users_and_roles=True)
    assert not (tmp_path / "ours.archive").exists()

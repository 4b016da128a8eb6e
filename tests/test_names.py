"""Hostile namespace names through every verb: "/", "..", NUL, very long and non-UTF-8 names.

Names are data (spec/archive.md §3.2, §3.3): every verb must either handle
them or report them as an ArchiveError, never crash, and nothing that writes
files may write anywhere but its named target.  Each test runs in a sandbox
directory and compares the whole tree around it before and after.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import bson
import pytest

import mongoarchive
from mongoarchive import schema
from mongoarchive._crc import crc64, to_int64
from mongoarchive.checker import check_archive
from mongoarchive.cli import VERB_HELP, main
from mongoarchive.errors import HeaderError
from mongoarchive.salvage import salvage

HOSTILE = {
    "slash": ("a/b", "c/d"),
    "dotdot": ("..", "../../escape"),
    "absolute": ("/etc", "/tmp/x"),
    "nul": ("db\x00x", "c\x00../y"),
    "long": ("d" * 2000, "c" * 60000),
    "dot-segments": ("./.", "./../.."),
    "backslash": ("..\\..", "c:\\windows"),
    "newline": ("db\nINFO fake log", "c\r\n"),
}
#: Placeholder names of 8 bytes, replaced by 8 bytes that are not UTF-8 after writing.
PLACEHOLDER_DB, PLACEHOLDER_COLL = "DBDBDBDB", "COLLCOLL"
NOT_UTF8 = b"\xff\xfe../\xc0\x80"


def _archive(db: str, coll: str) -> bytes:
    """An archive with the hostile namespace, built field by field: the writer refuses such names."""
    terminator = b"\xff\xff\xff\xff"
    header = {"concurrent_collections": 4, "version": "0.1", "server_version": "7.0.0", "tool_version": "t"}
    out = [b"\x6d\xe2\x99\x81", schema.ArchiveHeader.build(header)]
    namespaces = {(db, coll): [bson.encode({"_id": i, "v": "x" * i}) for i in range(3)]}
    namespaces[("plain", "coll")] = [bson.encode({"_id": 1})]
    for d, c in namespaces:
        entry = {"db": d, "collection": c, "metadata": '{"indexes":[]}', "size": 0, "type": "collection"}
        out.append(schema.CollectionMetadata.build(entry))
    out.append(terminator)
    for (d, c), docs in namespaces.items():
        for eof, crc in ((False, 0), (True, to_int64(crc64(b"".join(docs))))):
            out.append(schema.NamespaceHeader.build({"db": d, "collection": c, "EOF": eof, "CRC": crc}))
            out.extend([] if eof else docs)
            out.append(terminator)
    return b"".join(out)


def _not_utf8_archive() -> bytes:
    data = _archive(PLACEHOLDER_DB, PLACEHOLDER_COLL)
    # Same length, so every length field stays right; headers are not checksummed (§4).
    return data.replace(PLACEHOLDER_DB.encode(), NOT_UTF8).replace(PLACEHOLDER_COLL.encode(), NOT_UTF8)


CASES = {name: _archive(db, coll) for name, (db, coll) in HOSTILE.items()}
CASES["not-utf8"] = _not_utf8_archive()
#: The first collection entry (the one with the bad name) follows the magic and the header (§2).
ENTRY_OFFSET = 4 + int.from_bytes(CASES["not-utf8"][4:8], "little")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/outer/work is the working directory; tmp/outer must not change outside it."""
    work = tmp_path / "outer" / "work"
    work.mkdir(parents=True)
    (tmp_path / "outer" / "sibling").mkdir()
    monkeypatch.chdir(work)
    return work


VERB_ARGS: dict[str, list[list[str]]] = {
    "inspect": [["inspect", "IN"], ["inspect", "IN", "--format", "json"]],
    "check": [["check", "IN"], ["check", "IN", "--format", "json"]],
    "cat": [["cat", "IN"], ["cat", "IN", "--bson"], ["cat", "IN", "--ns", "a/b.*"]],
    "salvage": [
        ["salvage", "IN", "out.archive", "--force"],
        ["salvage", "IN", "out.archive", "--force", "--format", "json"],
    ],
    "filter": [
        ["filter", "IN", "out.archive", "--force"],
        ["filter", "IN", "out.archive", "--force", "--nsFrom", "*.*", "--nsTo", "r*.*"],
    ],
    "merge": [["merge", "IN", "out.archive", "--force"]],
    "split": [["split", "IN", "out", "--force"], ["split", "IN", "out", "--force", "--by", "namespace"]],
    "unpack": [["unpack", "IN", "out", "--force"], ["unpack", "IN", "out", "--force", "--gzip"]],
    "export": [
        ["export", "IN", "out", "--force"],
        ["export", "IN", "out", "--force", "--format", "jsonl"],
        ["export", "IN", "out", "--force", "--format", "csv", "--fields", "_id"],
    ],
    "stats": [["stats", "IN"], ["stats", "IN", "--format", "json"]],
    # --dryRun reads and checks the whole archive and contacts no server.
    "restore": [["restore", "IN", "--dryRun"], ["restore", "IN", "--dryRun", "--format", "json"]],
}
#: Verbs whose outputs may be anything under work/out (a directory of their own).
INTO_DIRECTORY = {"split", "unpack", "export"}


def test_every_offline_verb_is_covered() -> None:
    # dump needs a server (tests/test_dump_*.py); pack reads a directory (its names: tests/test_pack.py).
    offline = set(VERB_HELP) - {"dump", "pack"}
    assert offline <= set(VERB_ARGS), offline - set(VERB_ARGS)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("verb", sorted(VERB_ARGS))
def test_verbs_handle_or_report_hostile_names(
    case: str, verb: str, sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = sandbox / "in.archive"
    source.write_bytes(CASES[case])
    outer = sandbox.parent
    before = _tree(outer)
    for argv in VERB_ARGS[verb]:
        status = main([str(source) if a == "IN" else a for a in argv])
        captured = capsys.readouterr()
        err = captured.err
        assert "internal error" not in err and "Traceback" not in err, err
        assert status in (0, 1), (argv, status, err)
        if case == "not-utf8" and verb in ("inspect", "check", "cat"):
            assert status == 1, err  # reported as damage, with its offset on stderr or in the JSON
            assert str(ENTRY_OFFSET) in captured.out + err, (captured.out, err)
    created = _tree(outer) - before
    if verb in INTO_DIRECTORY:
        assert all(p == "work/out" or p.startswith("work/out/") for p in created), created
        return
    # salvage always writes; filter and merge only when the names could be copied.
    wrote = verb == "salvage" or (verb in ("filter", "merge") and status == 0)
    assert created == ({"work/out.archive"} if wrote else set())


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_names_survive_a_round_trip_unchanged(case: str) -> None:
    db, coll = HOSTILE[case]
    with mongoarchive.open(io.BytesIO(CASES[case])) as archive:
        assert archive.collections[0].namespace == (db, coll)
        names = {ns for ns, _ in archive.documents()}
    assert mongoarchive.Namespace(db, coll) in names


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_salvage_drops_names_no_server_can_hold(case: str, tmp_path: Path) -> None:
    """The writer refuses these names (a restore could not create them): salvage says so, keeps the rest."""
    out = tmp_path / "out.archive"
    report = salvage(io.BytesIO(CASES[case]), out)
    assert not report.clean
    hostile = report.namespaces[0]
    assert hostile.status == "dropped"
    assert any(note.startswith("cannot be written") for note in hostile.notes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.archive"]
    assert check_archive(out).ok()
    with mongoarchive.open(out) as archive:
        assert [c.namespace for c in archive.collections] == [("plain", "coll")]


def test_inspect_json_escapes_nul_and_newlines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "nul.archive"
    path.write_bytes(CASES["nul"])
    assert main(["inspect", str(path), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "\x00" not in out
    summary = json.loads(out)
    assert summary["collections"][0]["db"] == HOSTILE["nul"][0]


def test_non_utf8_names_are_reported_where_they_are() -> None:
    data = CASES["not-utf8"]
    with pytest.raises(HeaderError) as info:
        mongoarchive.open(io.BytesIO(data))
    assert info.value.code == "bad-header"
    assert info.value.offset == ENTRY_OFFSET
    result = check_archive(io.BytesIO(data))
    assert any(p.code == "bad-header" for p in result.errors)


def test_salvage_of_non_utf8_names_keeps_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "out.archive"
    report = salvage(io.BytesIO(CASES["not-utf8"]), out)
    assert not report.clean
    assert check_archive(out).ok()
    with mongoarchive.open(out) as archive:
        docs = [bson.decode(raw) for ns, raw in archive.documents() if ns == ("plain", "coll")]
    assert docs == [{"_id": 1}]


def test_salvage_spool_is_removed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    salvage(
        io.BytesIO(CASES["dotdot"][: len(CASES["dotdot"]) // 2]), tmp_path / "o.archive", temp_dir=str(spool)
    )
    assert os.listdir(spool) == []

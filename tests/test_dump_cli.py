"""``mongoarchive dump`` on the command line: -q before the verb is quiet, -q after it is --query."""

from __future__ import annotations

from pathlib import Path

import bson
import pytest

import mongoarchive
from mongoarchive.cli import main

pytest_plugins = ["conftest_dump"]

from dumpserver import SecantusServer  # noqa: E402


def archive_docs(path: Path) -> dict[str, list[dict[str, object]]]:
    docs: dict[str, list[dict[str, object]]] = {}
    with mongoarchive.open(path) as archive:
        for entry in archive.collections:
            docs[f"{entry.db}.{entry.collection}"] = []
        for ns, raw in archive.documents():
            docs[f"{ns.db}.{ns.collection}"].append(bson.decode(bytes(raw)))
    return docs


@pytest.mark.parametrize(
    "flags",
    [["-q", "dump"], ["--quiet", "dump"], ["dump", "--quiet"], ["-qq", "dump"]],
    ids=["-q before", "--quiet before", "--quiet after", "-qq before"],
)
def test_quiet_dump_prints_nothing(
    dump_server: SecantusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    target = tmp_path / "q.archive"
    status = main([*flags, "--uri", dump_server.uri, "--db", "beta", "--archive", str(target)])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.err == "" and captured.out == ""
    assert len(archive_docs(target)) == 5


def test_dash_q_after_the_verb_is_the_query(
    dump_server: SecantusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "query.archive"
    argv = ["dump", "-q", '{"_id": 3}', "--db", "beta", "--collection", "one", "--archive", str(target)]
    status = main([*argv, "--uri", dump_server.uri])
    err = capsys.readouterr().err
    assert status == 0
    assert archive_docs(target) == {"beta.one": [{"_id": 3, "c": "one"}]}
    assert "done: 1 namespace, 1 document" in err  # not quiet: the summary is printed


def test_quiet_before_and_query_after(
    dump_server: SecantusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "both.archive"
    argv = ["-q", "dump", "-q", '{"_id": {"$lt": 2}}', "--db", "beta", "--collection", "two"]
    status = main([*argv, "--uri", dump_server.uri, "--archive", str(target)])
    assert status == 0 and capsys.readouterr().err == ""
    assert [d["_id"] for d in archive_docs(target)["beta.two"]] == [0, 1]
